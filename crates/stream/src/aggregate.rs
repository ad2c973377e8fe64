//! Hash aggregation with retraction: `GROUP BY` groups, each with one accumulator per
//! aggregate (see `accumulator`), and the weighted number of rows in the group.
//!
//! For each chunk, every group it touches emits the retraction of its old output row and
//! the insertion of its new one (nothing when the row did not change). A group whose last
//! row is deleted disappears. Without `GROUP BY` there is one group that always exists,
//! so the view has its row even over no input (`count(*) = 0`), as SQL says.
//! `FILTER (WHERE …)` limits the rows an aggregate sees, not the group's existence.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, Int64Array, RecordBatch};
use datafusion::arrow::compute::SortOptions;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::logical_expr::{Expr, ExprSchemable};
use weir_common::comparable::groupable_all;
use weir_common::{Result, StreamChunk, WeirError};
use weir_storage::{EpochWrite, ReadSnapshot};

use crate::accumulator::{Accumulator, Function, Values, value_encoder};
use crate::expr::{Compiled, compile};
use crate::float_sum::{Dyadic, FloatSum};
use crate::operator::Operator;
use crate::ordered_values::Collection;
use crate::row_errors::{RowError, evaluate_or_skip};
use crate::state::{Decoder, Encoder, StateTable};
use crate::wide_sum::WideSum;

/// One aggregate of the select list.
struct Spec {
    function: Function,
    argument: Option<Compiled>,
    argument_type: Option<DataType>,
    /// The aggregate's own `ORDER BY` expressions (string_agg, array_agg).
    ordering: Vec<Compiled>,
    /// How string_agg and array_agg build their result.
    collection: Option<Collection>,
    distinct: bool,
    filter: Option<Compiled>,
    output_type: DataType,
    encoder: Option<Arc<RowConverter>>,
}

impl Spec {
    fn new(expr: &Expr, input: &DFSchema, output_type: DataType) -> Result<Spec> {
        let inner = match expr {
            Expr::Alias(alias) => alias.expr.as_ref(),
            other => other,
        };
        let Expr::AggregateFunction(aggregate) = inner else {
            return Err(WeirError::internal(format!("{inner} is not an aggregate")));
        };
        let params = &aggregate.params;
        let argument = params.args.first();
        let counts_rows =
            argument.is_none_or(|arg| matches!(arg, Expr::Literal(value, _) if !value.is_null()));
        let function = match aggregate.func.name() {
            "count" if params.distinct => Function::CountDistinct,
            "count" if counts_rows => Function::CountRows,
            "count" => Function::Count,
            "sum" => Function::Sum,
            "avg" => Function::Avg,
            "min" => Function::Min,
            "max" => Function::Max,
            "bool_and" => Function::BoolAnd,
            "bool_or" => Function::BoolOr,
            "var" => Function::VarSamp,
            "var_pop" => Function::VarPop,
            "stddev" => Function::StddevSamp,
            "stddev_pop" => Function::StddevPop,
            "string_agg" => Function::Collect { keeps_nulls: false },
            "array_agg" => Function::Collect { keeps_nulls: true },
            other => {
                return Err(WeirError::not_supported(format!(
                    "the aggregate function {other}() in a materialized view"
                )));
            }
        };
        let argument_type = match argument {
            Some(arg) if function != Function::CountRows => Some(arg.get_type(input)?),
            _ => None,
        };
        let collection = match aggregate.func.name() {
            "string_agg" => Some(Collection::String {
                delimiter: delimiter(params.args.get(1))?,
            }),
            "array_agg" => Some(Collection::Array),
            _ => None,
        };
        let encoder = match (&argument_type, function) {
            (Some(data_type), Function::Min | Function::Max | Function::CountDistinct) => {
                Some(value_encoder(data_type)?)
            }
            (Some(data_type), Function::Collect { .. }) => {
                let mut fields = params
                    .order_by
                    .iter()
                    .map(|sort| {
                        Ok(SortField::new_with_options(
                            sort.expr.get_type(input)?,
                            SortOptions {
                                descending: !sort.asc,
                                nulls_first: sort.nulls_first,
                            },
                        ))
                    })
                    .collect::<Result<Vec<_>>>()?;
                fields.push(SortField::new(data_type.clone()));
                Some(Arc::new(RowConverter::new(fields)?))
            }
            _ => None,
        };
        Ok(Spec {
            function,
            argument: match argument {
                Some(arg) if argument_type.is_some() => Some(compile(arg, input)?),
                _ => None,
            },
            argument_type,
            ordering: params
                .order_by
                .iter()
                .map(|sort| compile(&sort.expr, input))
                .collect::<Result<_>>()?,
            collection,
            distinct: params.distinct,
            filter: params
                .filter
                .as_deref()
                .map(|filter| compile(filter, input))
                .transpose()?,
            output_type,
            encoder,
        })
    }

    /// The aggregate's value from its accumulator.
    fn value(&self, accumulator: &Accumulator) -> Result<ScalarValue> {
        match (&self.collection, &self.encoder) {
            (Some(collection), Some(encoder)) => collection.value(
                &accumulator.multiset,
                self.distinct,
                encoder,
                &self.output_type,
            ),
            _ => accumulator.value(
                self.function,
                self.argument_type.as_ref(),
                &self.output_type,
                self.encoder.as_deref(),
            ),
        }
    }
}

/// string_agg's delimiter, which must be a constant; NULL joins without one.
fn delimiter(argument: Option<&Expr>) -> Result<String> {
    match argument {
        Some(Expr::Literal(value, _)) if value.is_null() => Ok(String::new()),
        Some(Expr::Literal(value, _)) => Ok(value.to_string()),
        _ => Err(WeirError::not_supported(
            "string_agg with a delimiter that is not a constant in a materialized view",
        )),
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Group {
    rows: i64,
    accumulators: Vec<Accumulator>,
}

impl Group {
    /// A group without rows, for `aggregates` aggregates.
    fn empty(aggregates: usize) -> Group {
        Group {
            rows: 0,
            accumulators: vec![Accumulator::default(); aggregates],
        }
    }
}

pub(crate) struct Aggregate {
    /// How many of `expressions` are group keys.
    group_exprs: usize,
    /// Every expression evaluated per row: the group keys, then each aggregate's argument,
    /// `ORDER BY` expressions and filter (where it has them).
    expressions: Vec<Compiled>,
    specs: Vec<Spec>,
    /// Encodes group values into keys; `None` without `GROUP BY`.
    group_encoder: Option<RowConverter>,
    groups: HashMap<Vec<u8>, Group>,
    dirty: HashSet<Vec<u8>>,
    schema: SchemaRef,
    state: StateTable,
}

impl Aggregate {
    pub fn new(
        group: &[Expr],
        aggregates: &[Expr],
        input: &DFSchema,
        output: &DFSchema,
        state: StateTable,
        snapshot: &ReadSnapshot,
    ) -> Result<Aggregate> {
        let group_exprs = group
            .iter()
            .map(|expr| compile(expr, input))
            .collect::<Result<Vec<_>>>()?;
        let group_encoder = match group.is_empty() {
            true => None,
            false => Some(RowConverter::new(
                group
                    .iter()
                    .map(|expr| Ok(SortField::new(expr.get_type(input)?)))
                    .collect::<Result<Vec<_>>>()?,
            )?),
        };
        let specs = aggregates
            .iter()
            .enumerate()
            .map(|(index, expr)| {
                let output_type = output.field(group.len() + index).data_type().clone();
                Spec::new(expr, input, output_type)
            })
            .collect::<Result<Vec<_>>>()?;
        let mut expressions = group_exprs;
        for spec in &specs {
            expressions.extend(spec.argument.iter().cloned());
            expressions.extend(spec.ordering.iter().cloned());
            expressions.extend(spec.filter.iter().cloned());
        }
        let mut aggregate = Aggregate {
            group_exprs: group.len(),
            expressions,
            specs,
            group_encoder,
            groups: HashMap::new(),
            dirty: HashSet::new(),
            schema: Arc::new(output.as_arrow().clone()),
            state,
        };
        aggregate.load(snapshot)?;
        Ok(aggregate)
    }

    fn load(&mut self, snapshot: &ReadSnapshot) -> Result<()> {
        let specs = self.specs.len();
        let mut groups = HashMap::new();
        self.state.load(snapshot, |key, value| {
            groups.insert(key.to_vec(), decode_group(value, specs)?);
            Ok(())
        })?;
        self.groups = groups;
        Ok(())
    }

    fn is_global(&self) -> bool {
        self.group_encoder.is_none()
    }

    /// The group's output values, or `None` when the group has no output row.
    fn output(&self, key: &[u8]) -> Result<Option<Vec<ScalarValue>>> {
        let empty;
        let group = match self.groups.get(key) {
            Some(group) if group.rows != 0 || self.is_global() => group,
            None if self.is_global() => {
                empty = Group::empty(self.specs.len());
                &empty
            }
            _ => return Ok(None),
        };
        self.specs
            .iter()
            .zip(&group.accumulators)
            .map(|(spec, accumulator)| spec.value(accumulator))
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// Output rows for `(group key, values, weight)` triples.
    fn emit(&self, rows: Vec<(Vec<u8>, Vec<ScalarValue>, i64)>) -> Result<StreamChunk> {
        if rows.is_empty() {
            return Ok(StreamChunk::empty(self.schema.clone()));
        }
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
        if let Some(encoder) = &self.group_encoder {
            let parser = encoder.parser();
            columns.extend(encoder.convert_rows(rows.iter().map(|(key, _, _)| parser.parse(key)))?);
        }
        for index in 0..self.specs.len() {
            let values = rows.iter().map(|(_, values, _)| values[index].clone());
            columns.push(ScalarValue::iter_to_array(values)?);
        }
        let batch = RecordBatch::try_new(self.schema.clone(), columns)?;
        let weights = Int64Array::from_iter_values(rows.iter().map(|(_, _, weight)| *weight));
        Ok(StreamChunk::new(batch, weights))
    }
}

impl Operator for Aggregate {
    fn initial(&mut self) -> Result<Option<StreamChunk>> {
        // Without GROUP BY the one group has its row from the start.
        match self.is_global() && !self.groups.contains_key(&[][..]) {
            true => {
                self.groups.insert(vec![], Group::empty(self.specs.len()));
                self.dirty.insert(vec![]);
                let values = self.output(&[])?.expect("the global group has a row");
                self.emit(vec![(vec![], values, 1)]).map(Some)
            }
            false => Ok(None),
        }
    }

    fn apply(
        &mut self,
        _input: usize,
        chunk: &StreamChunk,
        errors: &mut Vec<RowError>,
    ) -> Result<StreamChunk> {
        let (chunk, columns) = evaluate_or_skip(&self.expressions, chunk, errors)?;
        let mut columns = columns.into_iter();
        let group_columns: Vec<ArrayRef> = columns.by_ref().take(self.group_exprs).collect();
        let keys: Vec<Vec<u8>> = match &self.group_encoder {
            Some(encoder) => {
                let encoded = encoder.convert_columns(&groupable_all(&group_columns))?;
                encoded.iter().map(|row| row.as_ref().to_vec()).collect()
            }
            None => vec![vec![]; chunk.len()],
        };
        let mut inputs = Vec::with_capacity(self.specs.len());
        for spec in &self.specs {
            let argument = spec.argument.as_ref().and_then(|_| columns.next());
            let ordering: Vec<ArrayRef> = columns.by_ref().take(spec.ordering.len()).collect();
            let values = Values::read(
                spec.function,
                argument.as_ref(),
                &ordering,
                spec.encoder.as_deref(),
            )?;
            let mask = spec.filter.as_ref().and_then(|_| columns.next());
            inputs.push((values, mask));
        }

        // Old outputs of the touched groups, in the order they are first touched.
        let mut touched: Vec<(Vec<u8>, Option<Vec<ScalarValue>>)> = Vec::new();
        let mut seen: HashSet<&[u8]> = HashSet::new();
        for key in &keys {
            if seen.insert(key) {
                touched.push((key.clone(), self.output(key)?));
            }
        }
        let specs = self.specs.len();
        for (row, (key, weight)) in keys.iter().zip(chunk.weights().values()).enumerate() {
            let group = self
                .groups
                .entry(key.clone())
                .or_insert_with(|| Group::empty(specs));
            group.rows += weight;
            for ((spec, (values, mask)), accumulator) in
                self.specs.iter().zip(&inputs).zip(&mut group.accumulators)
            {
                let selected = mask
                    .as_ref()
                    .is_none_or(|mask| mask.as_boolean().value(row) && mask.is_valid(row));
                if selected {
                    accumulator.update(spec.function, values, row, *weight);
                }
            }
        }

        let mut out = Vec::new();
        for (key, old) in touched {
            if self.groups.get(&key).is_some_and(|g| g.rows == 0) && !self.is_global() {
                self.groups.remove(&key);
            }
            let new = self.output(&key)?;
            self.dirty.insert(key.clone());
            if old == new {
                continue;
            }
            if let Some(old) = old {
                out.push((key.clone(), old, -1));
            }
            if let Some(new) = new {
                out.push((key, new, 1));
            }
        }
        self.emit(out)
    }

    fn persist(&mut self, write: &mut EpochWrite) -> Result<()> {
        for key in self.dirty.drain() {
            match self.groups.get(&key) {
                Some(group) => self.state.put(write, &key, &encode_group(group)),
                None => self.state.delete(write, &key),
            }
        }
        Ok(())
    }
}

fn encode_group(group: &Group) -> Vec<u8> {
    let mut encoder = Encoder::default();
    encoder.i64(group.rows);
    for accumulator in &group.accumulators {
        encoder.i64(accumulator.count);
        encoder.i128(accumulator.integer_sum.low);
        encoder.i128(accumulator.integer_sum.high);
        encode_float_sum(&mut encoder, &accumulator.floats);
        encoder.i64(accumulator.multiset.len() as i64);
        for (value, multiplicity) in &accumulator.multiset {
            encoder.bytes(value);
            encoder.i64(*multiplicity);
        }
    }
    encoder.0
}

fn encode_float_sum(encoder: &mut Encoder, sum: &FloatSum) {
    encoder.i64(sum.nan);
    encoder.i64(sum.infinity);
    encoder.i64(sum.negative_infinity);
    for dyadic in [&sum.finite, &sum.finite_squares] {
        let (mantissa, exponent) = dyadic.to_parts();
        encoder.bytes(&mantissa);
        encoder.i64(i64::from(exponent));
    }
}

fn decode_float_sum(decoder: &mut Decoder) -> Result<FloatSum> {
    let (nan, infinity, negative_infinity) = (decoder.i64()?, decoder.i64()?, decoder.i64()?);
    let mut dyadic = || -> Result<Dyadic> {
        let mantissa = decoder.bytes()?;
        let exponent = i32::try_from(decoder.i64()?)
            .map_err(|_| WeirError::internal("operator state holds a bad float sum"))?;
        Ok(Dyadic::from_parts(&mantissa, exponent))
    };
    Ok(FloatSum {
        nan,
        infinity,
        negative_infinity,
        finite: dyadic()?,
        finite_squares: dyadic()?,
    })
}

fn decode_group(bytes: &[u8], accumulators: usize) -> Result<Group> {
    let mut decoder = Decoder(bytes);
    let rows = decoder.i64()?;
    let mut group = Group {
        rows,
        accumulators: Vec::with_capacity(accumulators),
    };
    for _ in 0..accumulators {
        let mut accumulator = Accumulator {
            count: decoder.i64()?,
            integer_sum: WideSum {
                low: decoder.i128()?,
                high: decoder.i128()?,
            },
            floats: decode_float_sum(&mut decoder)?,
            ..Accumulator::default()
        };
        for _ in 0..decoder.i64()? {
            let value = decoder.bytes()?;
            accumulator.multiset.insert(value, decoder.i64()?);
        }
        group.accumulators.push(accumulator);
    }
    Ok(group)
}
