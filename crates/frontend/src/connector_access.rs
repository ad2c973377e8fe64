//! Who may write connector DDL (`CREATE SOURCE`, `CREATE TABLE … WITH (connector = …)`,
//! `CREATE SINK`), and what it may reach.
//!
//! A connector makes weir itself connect to other machines and read certificate files,
//! with weir's network position and weir's file permissions; so, as with PostgreSQL's
//! `COPY … FROM PROGRAM` and foreign servers, only superusers may create one. weir has no
//! roles: the superusers are the user names the operator lists (`--superusers`, by
//! default `weir`), taken from the login, which `SET SESSION AUTHORIZATION` does not
//! change. A user name is only as strong as the login that claims it: weir checks one
//! password for every user name, so the privilege separates the users of a trusted
//! deployment (say, an application's login from an operator's) rather than
//! authenticating them.

use weir_common::{Result, SqlState, WeirError};
use weir_connectors::ConnectPolicy;
use weir_sql::ConnectorOption;

/// The operator's rules for connector DDL.
#[derive(Clone, Debug)]
pub struct ConnectorAccess {
    /// The login user names that may create connectors.
    pub superusers: Vec<String>,
    /// Which hosts and files connectors may reach.
    pub policy: ConnectPolicy,
}

impl Default for ConnectorAccess {
    fn default() -> Self {
        ConnectorAccess {
            superusers: vec!["weir".to_owned()],
            policy: ConnectPolicy::default(),
        }
    }
}

impl ConnectorAccess {
    /// Checks that `user` may create the connector `what` ("a Kafka source") with
    /// `options` and the `format` options.
    pub(crate) fn check(
        &self,
        user: &str,
        what: &str,
        options: &[ConnectorOption],
        format: &[ConnectorOption],
    ) -> Result<()> {
        if !self.superusers.iter().any(|superuser| superuser == user) {
            return Err(WeirError::new(
                SqlState::INSUFFICIENT_PRIVILEGE,
                format!("permission denied to create {what}"),
            )
            .with_detail(format!(
                "Only superusers may create sources, connector-fed tables and sinks; \"{user}\" is not one."
            ))
            .with_hint(format!(
                "Log in as one of this server's --superusers ({}).",
                self.superusers.join(", ")
            )));
        }
        self.policy.check(options, format)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_superusers_may_create_connectors() {
        let access = ConnectorAccess::default();
        assert!(access.check("weir", "a sink", &[], &[]).is_ok());
        let error = access.check("app", "a sink", &[], &[]).unwrap_err();
        assert_eq!(error.state, SqlState::INSUFFICIENT_PRIVILEGE);
        assert!(error.hint.unwrap().contains("weir"));
    }
}
