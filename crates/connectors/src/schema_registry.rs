//! A client of a Confluent-compatible schema registry's REST API (Confluent Schema
//! Registry, Karapace, Redpanda, Apicurio's compatibility API), for the Avro schemas of
//! `ENCODE AVRO (schema.registry = '…')`.
//!
//! Two calls are used: `GET /schemas/ids/{id}` for the writer schema a record names, and
//! `GET /subjects/{subject}/versions/latest` for the schema a source's columns are taken
//! from at CREATE. Several registry URLs may be given, comma-separated; each is tried in
//! turn. A registry that answers "not found" has answered; one that cannot be reached, or
//! fails, has not, and the caller tries again later.

use std::time::Duration;

use base64::Engine;
use serde::Deserialize;

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a registry is and how to log in to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaRegistry {
    pub urls: Vec<String>,
    /// `schema.registry.username` and `schema.registry.password`, for HTTP basic auth.
    pub credentials: Option<(String, String)>,
}

/// Why a registry gave no schema.
#[derive(Debug, PartialEq, Eq)]
pub enum RegistryError {
    /// The registry answered that it has no such schema (or not an Avro one).
    NotFound(String),
    /// No registry could be asked: worth trying again.
    Unreachable(String),
}

impl std::fmt::Display for RegistryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegistryError::NotFound(message) | RegistryError::Unreachable(message) => {
                f.write_str(message)
            }
        }
    }
}

/// A schema as the registry returns it.
#[derive(Debug, Deserialize)]
struct SchemaResponse {
    schema: String,
    /// Absent for Avro, by the registry's convention.
    #[serde(rename = "schemaType")]
    schema_type: Option<String>,
    id: Option<u32>,
}

impl SchemaRegistry {
    /// The Avro schema with the registry's `id`.
    pub fn schema_by_id(&self, id: u32) -> Result<String, RegistryError> {
        let found = self.get(&format!("schemas/ids/{id}"), &format!("schema id {id}"))?;
        Ok(found.schema)
    }

    /// The latest Avro schema of `subject`, with its id.
    pub fn latest(&self, subject: &str) -> Result<(u32, String), RegistryError> {
        let found = self.get(
            &format!("subjects/{subject}/versions/latest"),
            &format!("subject \"{subject}\""),
        )?;
        let id = found.id.ok_or_else(|| {
            RegistryError::NotFound(format!(
                "the registry's answer for subject \"{subject}\" has no schema id"
            ))
        })?;
        Ok((id, found.schema))
    }

    /// `path` from the first registry that answers.
    fn get(&self, path: &str, what: &str) -> Result<SchemaResponse, RegistryError> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(REQUEST_TIMEOUT))
            .http_status_as_error(false)
            .build()
            .into();
        let mut failures = Vec::new();
        for url in &self.urls {
            let address = format!("{}/{path}", url.trim_end_matches('/'));
            let mut request = agent
                .get(&address)
                .header("Accept", "application/vnd.schemaregistry.v1+json");
            if let Some((user, password)) = &self.credentials {
                let token =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                request = request.header("Authorization", format!("Basic {token}"));
            }
            let mut response = match request.call() {
                Ok(response) => response,
                Err(error) => {
                    failures.push(format!("{url}: {error}"));
                    continue;
                }
            };
            let status = response.status().as_u16();
            let body = response.body_mut().read_to_string().unwrap_or_default();
            match status {
                200 => {}
                404 => {
                    return Err(RegistryError::NotFound(format!(
                        "{what} is not in the schema registry at {url}"
                    )));
                }
                _ => {
                    failures.push(format!("{url}: HTTP {status} {}", body.trim()));
                    continue;
                }
            }
            let found: SchemaResponse = serde_json::from_str(&body).map_err(|e| {
                RegistryError::Unreachable(format!(
                    "{url} answered for {what} with something other than a schema: {e}"
                ))
            })?;
            return match found.schema_type.as_deref() {
                None | Some("AVRO") => Ok(found),
                Some(other) => Err(RegistryError::NotFound(format!(
                    "{what} is a {other} schema, not an Avro one"
                ))),
            };
        }
        Err(RegistryError::Unreachable(format!(
            "the schema registry could not be asked for {what}: {}",
            failures.join("; ")
        )))
    }
}
