//! Encoding of table rows to RocksDB keys and values, a whole batch at a time.
//!
//! Both use Arrow's row format: a row is the concatenation of each column's encoding, and
//! comparing two encoded rows byte by byte gives the same answer as comparing the values
//! in SQL order. Keys therefore sort like the primary key, and the encoding of the
//! leading key column alone is a prefix of every key with that value, which is what
//! range scans seek to. Values hold every column of the row, so a scan decodes from the
//! value alone.

use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::row::{RowConverter, Rows, SortField};
use datafusion::common::ScalarValue;
use weir_common::Result;

#[derive(Debug)]
pub struct RowCodec {
    schema: SchemaRef,
    /// Indices of the primary-key columns, in key order; empty for tables keyed by a hidden
    /// row id.
    key_columns: Vec<usize>,
    keys: Option<RowConverter>,
    leading_key: Option<RowConverter>,
    values: RowConverter,
}

impl RowCodec {
    pub fn try_new(schema: SchemaRef, key_columns: Vec<usize>) -> Result<RowCodec> {
        let sort_field = |index: &usize| SortField::new(schema.field(*index).data_type().clone());
        let keys = if key_columns.is_empty() {
            None
        } else {
            Some(RowConverter::new(
                key_columns.iter().map(sort_field).collect(),
            )?)
        };
        let leading_key = match key_columns.first() {
            Some(first) => Some(RowConverter::new(vec![sort_field(first)])?),
            None => None,
        };
        let values = RowConverter::new(
            (0..schema.fields().len())
                .map(|index| sort_field(&index))
                .collect(),
        )?;
        Ok(RowCodec {
            schema,
            key_columns,
            keys,
            leading_key,
            values,
        })
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    pub fn key_columns(&self) -> &[usize] {
        &self.key_columns
    }

    /// The primary-key encodings of every row of `batch`, or `None` for a table keyed by a
    /// hidden row id.
    pub fn encode_keys(&self, batch: &RecordBatch) -> Result<Option<Rows>> {
        let Some(keys) = &self.keys else {
            return Ok(None);
        };
        let columns: Vec<ArrayRef> = self
            .key_columns
            .iter()
            .map(|index| batch.column(*index).clone())
            .collect();
        Ok(Some(keys.convert_columns(&columns)?))
    }

    /// The encoding of one value of the leading key column: the prefix shared by all keys
    /// whose leading column equals `value`. `None` if `value` does not fit the column type.
    pub fn encode_leading_key(&self, value: &ScalarValue) -> Option<Vec<u8>> {
        let converter = self.leading_key.as_ref()?;
        let data_type = self.schema.field(self.key_columns[0]).data_type();
        let value = value.cast_to(data_type).ok()?;
        if value.is_null() {
            return None;
        }
        let array = value.to_array().ok()?;
        let rows = converter.convert_columns(&[array]).ok()?;
        Some(rows.row(0).as_ref().to_vec())
    }

    pub fn encode_values(&self, batch: &RecordBatch) -> Result<Rows> {
        Ok(self.values.convert_columns(batch.columns())?)
    }

    /// Decodes stored values back into a batch of the table's schema.
    pub fn decode_values<'a>(
        &self,
        values: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<RecordBatch> {
        let parser = self.values.parser();
        let columns = self
            .values
            .convert_rows(values.into_iter().map(|v| parser.parse(v)))?;
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }

    /// Renders the key columns of row `row` as PostgreSQL does in a duplicate-key message:
    /// `(a, b)=(1, x)`.
    pub fn describe_key(&self, batch: &RecordBatch, row: usize) -> String {
        let names: Vec<&str> = self
            .key_columns
            .iter()
            .map(|index| self.schema.field(*index).name().as_str())
            .collect();
        let values: Vec<String> = self
            .key_columns
            .iter()
            .map(|index| {
                ScalarValue::try_from_array(batch.column(*index), row)
                    .map(|value| value.to_string())
                    .unwrap_or_default()
            })
            .collect();
        format!("({})=({})", names.join(", "), values.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![-5, 3, 10])),
                Arc::new(StringArray::from(vec![Some("a"), None, Some("c")])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn values_round_trip() {
        let batch = batch();
        let codec = RowCodec::try_new(batch.schema(), vec![0]).unwrap();
        let rows = codec.encode_values(&batch).unwrap();
        let decoded = codec.decode_values(rows.iter().map(|r| r.data())).unwrap();
        assert_eq!(decoded, batch);
    }

    #[test]
    fn keys_sort_in_sql_order_and_share_the_leading_prefix() {
        let batch = batch();
        let codec = RowCodec::try_new(batch.schema(), vec![0]).unwrap();
        let keys = codec.encode_keys(&batch).unwrap().unwrap();
        let bytes: Vec<&[u8]> = keys.iter().map(|r| r.data()).collect();
        assert!(bytes[0] < bytes[1] && bytes[1] < bytes[2]);
        let prefix = codec
            .encode_leading_key(&ScalarValue::Int32(Some(3)))
            .unwrap();
        assert_eq!(prefix.as_slice(), bytes[1]);
        assert_eq!(codec.describe_key(&batch, 1), "(id)=(3)");
    }
}
