//! `string_agg` and `array_agg`: a group's values in their `ORDER BY` order.
//!
//! Each value is kept in the group's multiset under the ordered encoding of its
//! `ORDER BY` values followed by the value itself, so the multiset's order is the
//! aggregate's order (ties, and an aggregate without `ORDER BY`, ordered by the value).
//! A deletion lowers a value's multiplicity; the result is rebuilt from the multiset
//! when the group changes, in time linear in the group's distinct values. `string_agg`
//! skips NULL values and `array_agg` keeps them, as in PostgreSQL; with `DISTINCT` each
//! value counts once.

use std::collections::BTreeMap;

use datafusion::arrow::array::{ArrayRef, AsArray, UInt32Array};
use datafusion::arrow::compute::{cast, take};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::row::RowConverter;
use datafusion::common::ScalarValue;
use datafusion::common::utils::SingleRowListArrayBuilder;
use weir_common::Result;

/// Which collection, and its options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Collection {
    /// `string_agg(value, delimiter)`.
    String { delimiter: String },
    /// `array_agg(value)`.
    Array,
}

impl Collection {
    /// The aggregate of `multiset`, whose keys `decoder` reads as the `ORDER BY` columns
    /// then the value; NULL for an empty multiset, as for a group without values.
    pub fn value(
        &self,
        multiset: &BTreeMap<Vec<u8>, i64>,
        distinct: bool,
        decoder: &RowConverter,
        output: &DataType,
    ) -> Result<ScalarValue> {
        if multiset.is_empty() {
            return Ok(ScalarValue::try_from(output)?);
        }
        let values = ordered(multiset, distinct, decoder)?;
        let value = match self {
            Collection::String { delimiter } => {
                let text = cast(&values, &DataType::Utf8)?;
                let parts: Vec<&str> = text.as_string::<i32>().iter().flatten().collect();
                ScalarValue::Utf8(Some(parts.join(delimiter)))
            }
            Collection::Array => SingleRowListArrayBuilder::new(values)
                .with_nullable(true)
                .build_list_scalar(),
        };
        Ok(match value.data_type() == *output {
            true => value,
            false => value.cast_to(output)?,
        })
    }
}

/// The values of `multiset` in key order, each repeated by its multiplicity (once if
/// `distinct`).
fn ordered(
    multiset: &BTreeMap<Vec<u8>, i64>,
    distinct: bool,
    decoder: &RowConverter,
) -> Result<ArrayRef> {
    let parser = decoder.parser();
    let columns = decoder.convert_rows(multiset.keys().map(|key| parser.parse(key)))?;
    let values = columns
        .last()
        .expect("the value is the last column")
        .clone();
    let repeats: UInt32Array = multiset
        .values()
        .enumerate()
        .flat_map(|(index, &multiplicity)| {
            let times = if distinct {
                1
            } else {
                multiplicity.max(0) as usize
            };
            std::iter::repeat_n(index as u32, times)
        })
        .collect();
    Ok(take(&values, &repeats, None)?)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::StringArray;
    use datafusion::arrow::row::SortField;

    use super::*;

    #[test]
    fn values_come_out_in_order_with_their_multiplicity() {
        let encoder = RowConverter::new(vec![SortField::new(DataType::Utf8)]).unwrap();
        let column: ArrayRef = Arc::new(StringArray::from(vec!["b", "a", "b"]));
        let rows = encoder.convert_columns(&[column]).unwrap();
        let mut multiset = BTreeMap::new();
        for row in rows.iter() {
            *multiset.entry(row.as_ref().to_vec()).or_insert(0) += 1;
        }
        let text = Collection::String {
            delimiter: ", ".into(),
        };
        let value = |multiset: &BTreeMap<Vec<u8>, i64>, distinct| {
            text.value(multiset, distinct, &encoder, &DataType::Utf8)
                .unwrap()
        };
        assert_eq!(
            value(&multiset, false),
            ScalarValue::Utf8(Some("a, b, b".into()))
        );
        assert_eq!(
            value(&multiset, true),
            ScalarValue::Utf8(Some("a, b".into()))
        );
        multiset.clear();
        assert_eq!(value(&multiset, false), ScalarValue::Utf8(None));
    }
}
