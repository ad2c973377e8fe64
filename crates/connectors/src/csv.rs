//! `FORMAT PLAIN ENCODE CSV`: each record's value holds one or more CSV lines, decoded
//! straight into Arrow arrays by arrow-csv's decoder, one row per line.
//!
//! With a header (the default; `without_header = 'true'` turns it off), each value's
//! first line names its fields and columns are matched by name: fields not among the
//! columns are ignored and columns without a field are NULL. Without a header, fields
//! are the declared columns in order. An empty field is NULL; a `jsonb` column takes
//! its field's text as JSON.

use std::sync::Arc;

use arrow_csv::ReaderBuilder;
use datafusion::arrow::array::{ArrayRef, RecordBatch, new_null_array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use weir_common::json::{canonical_json_column, is_json};

use crate::decoder::{FormatDecoder, RecordRef, Rows, record_values};
use crate::json::assemble;
use crate::source_format::CsvOptions;

#[derive(Debug)]
pub(crate) struct CsvRows {
    schema: SchemaRef,
    options: CsvOptions,
}

impl CsvRows {
    pub fn new(schema: SchemaRef, options: CsvOptions) -> CsvRows {
        CsvRows { schema, options }
    }

    /// For each field of `header`, the declared column it fills, if any.
    fn header_columns(&self, header: &[u8]) -> Result<Vec<Option<usize>>, String> {
        let header =
            std::str::from_utf8(header).map_err(|e| format!("the CSV header is not UTF-8: {e}"))?;
        let header = header.strip_suffix('\r').unwrap_or(header);
        let mut taken = vec![false; self.schema.fields().len()];
        Ok(header
            .split(self.options.delimiter as char)
            .map(|name| {
                let name = name.trim().trim_matches('"');
                let column = self.schema.index_of(name).ok().filter(|&c| !taken[c]);
                if let Some(column) = column {
                    taken[column] = true;
                }
                column
            })
            .collect())
    }

    /// Decodes `lines` (each value's data lines) with fields filling `columns`; returns
    /// the rows in the declared schema and, for each value, how many rows it gave.
    fn decode_lines(
        &self,
        lines: &[&[u8]],
        columns: &[Option<usize>],
    ) -> Result<(RecordBatch, Vec<usize>), String> {
        let fields: Vec<Field> = columns
            .iter()
            .enumerate()
            .map(|(position, column)| match column {
                Some(column) => {
                    let field = self.schema.field(*column);
                    let data_type = match is_json(field) {
                        true => DataType::Utf8,
                        false => field.data_type().clone(),
                    };
                    Field::new(field.name(), data_type, true)
                }
                None => Field::new(format!("ignored_{position}"), DataType::Utf8, true),
            })
            .collect();
        let capacity = lines
            .iter()
            .map(|value| value.iter().filter(|&&byte| byte == b'\n').count() + 1)
            .sum::<usize>()
            + 1;
        let mut decoder = ReaderBuilder::new(Arc::new(Schema::new(fields)))
            .with_header(false)
            .with_delimiter(self.options.delimiter)
            .with_batch_size(capacity)
            .build_decoder();
        let mut counts = Vec::with_capacity(lines.len());
        let mut buffered = 0;
        for value in lines {
            feed(&mut decoder, value)?;
            if !value.ends_with(b"\n") {
                feed(&mut decoder, b"\n")?;
            }
            let now = capacity - decoder.capacity();
            counts.push(now - buffered);
            buffered = now;
        }
        let Some(decoded) = decoder.flush().map_err(|e| e.to_string())? else {
            return Ok((RecordBatch::new_empty(self.schema.clone()), counts));
        };
        let column_of = |field: usize| columns.iter().position(|&c| c == Some(field));
        let rows = decoded.num_rows();
        let mut texts = Vec::new();
        for (index, field) in self.schema.fields().iter().enumerate() {
            let column: ArrayRef = match column_of(index) {
                Some(position) => decoded.column(position).clone(),
                None => new_null_array(field.data_type(), rows),
            };
            texts.push((field.name().clone(), column));
        }
        let decoded_columns = texts
            .iter()
            .zip(self.schema.fields())
            .filter(|(_, field)| !is_json(field))
            .map(|((_, column), _)| column.clone())
            .collect();
        let batch = assemble(&self.schema, decoded_columns, |name| {
            let (_, text) = texts
                .iter()
                .find(|(column, _)| column == name)
                .expect("every column has its text");
            canonical_json_column(text).map_err(|e| e.message)
        })?;
        Ok((batch, counts))
    }
}

/// Gives all of `bytes` to `decoder`.
fn feed(decoder: &mut arrow_csv::reader::Decoder, mut bytes: &[u8]) -> Result<(), String> {
    while !bytes.is_empty() {
        let read = decoder.decode(bytes).map_err(|e| e.to_string())?;
        if read == 0 {
            return Err("too many CSV lines in one batch".to_owned());
        }
        bytes = &bytes[read..];
    }
    Ok(())
}

impl FormatDecoder for CsvRows {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn decode_records(&self, records: &[RecordRef<'_>]) -> Result<Rows, String> {
        let values = record_values(records)?;
        let (columns, lines): (Vec<Option<usize>>, Vec<&[u8]>) = match self.options.header {
            false => ((0..self.schema.fields().len()).map(Some).collect(), values),
            true => {
                let split = |value: &'_ [u8]| -> (usize, usize) {
                    match value.iter().position(|&byte| byte == b'\n') {
                        Some(end) => (end, end + 1),
                        None => (value.len(), value.len()),
                    }
                };
                let Some(first) = values.first() else {
                    return Ok(Rows {
                        batch: RecordBatch::new_empty(self.schema.clone()),
                        weights: vec![],
                        records: vec![],
                    });
                };
                let header = &first[..split(first).0];
                if values
                    .iter()
                    .any(|value| &value[..split(value).0] != header)
                {
                    return Err("the records' CSV headers differ".to_owned());
                }
                let lines = values
                    .iter()
                    .map(|value| &value[split(value).1..])
                    .collect();
                (self.header_columns(header)?, lines)
            }
        };
        let (batch, counts) = self.decode_lines(&lines, &columns)?;
        let records: Vec<usize> = records
            .iter()
            .zip(counts)
            .flat_map(|(record, count)| std::iter::repeat_n(record.index, count))
            .collect();
        Ok(Rows {
            batch,
            weights: vec![1; records.len()],
            records,
        })
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::datatypes::DataType;
    use datafusion::arrow::util::pretty::pretty_format_batches;

    use super::*;
    use crate::decoder::Decoder;
    use crate::records::Records;
    use crate::source_format::{Encode, SourceFormat};

    fn decoder(header: bool) -> Decoder {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("price", DataType::Float64, true),
        ]);
        let options = CsvOptions {
            delimiter: b';',
            header,
        };
        Decoder::new(
            &SourceFormat::Plain(Encode::Csv(options)),
            Arc::new(schema),
            100,
        )
    }

    fn records(values: &[&str]) -> Records {
        let mut records = Records::default();
        for (offset, value) in values.iter().enumerate() {
            records.push(0, offset as i64, None, None, Some(value.as_bytes()));
        }
        records
    }

    #[test]
    fn lines_become_rows_and_bad_records_are_set_aside() {
        let decoded = decoder(false).decode(&records(&[
            "1;a;1.5",
            "2;b;2\n3;;\n",
            "x;c;1",
            "4;d",
            "5;\"e;f\";0.25\r\n",
        ]));
        assert_eq!(decoded.accepted, vec![0, 1, 1, 4]);
        let reasons: Vec<usize> = decoded.rejected.iter().map(|(index, _)| *index).collect();
        assert_eq!(reasons, vec![2, 3], "{:?}", decoded.rejected);
        let shown = pretty_format_batches(&[decoded.rows]).unwrap().to_string();
        assert!(shown.contains("| 3  |      |       |"), "{shown}");
        assert!(shown.contains("| 5  | e;f  | 0.25  |"), "{shown}");
    }

    #[test]
    fn a_header_matches_fields_to_columns_by_name() {
        let decoded = decoder(true).decode(&records(&[
            "price;extra;id\n2.5;zz;1\n3.5;yy;2",
            "id;name\n3;c",
            "name\nno id",
        ]));
        assert_eq!(decoded.accepted, vec![0, 0, 1]);
        assert_eq!(decoded.rejected.len(), 1);
        assert!(
            decoded.rejected[0].1.contains("not-null"),
            "{:?}",
            decoded.rejected
        );
        let shown = pretty_format_batches(&[decoded.rows]).unwrap().to_string();
        assert!(shown.contains("| 2  |      | 3.5   |"), "{shown}");
        assert!(shown.contains("| 3  | c    |       |"), "{shown}");
    }
}
