//! Aggregates with PostgreSQL's result types, where DataFusion's differ.
//!
//! * `sum(bigint)` is `numeric` in PostgreSQL, so it never overflows; DataFusion's is
//!   `bigint` and wraps. A function rewrite, which the analyzer applies before type
//!   coercion, casts a `bigint` argument of `sum` (as an aggregate or a window function)
//!   to `numeric(38, 0)`, under the call's own name. Batch queries and materialized views
//!   plan through it alike. `sum` of the smaller integers stays `bigint`, of floats
//!   `double precision`, of `numeric` `numeric`, as in PostgreSQL and DataFusion.
//! * `min` and `max` of floats order them as PostgreSQL does: NaN above every other
//!   value. DataFusion's grouped `min`/`max` of floats start from the largest and
//!   smallest finite floats rather than the infinities, so a group holding only
//!   `Infinity` had the minimum `1.7976931348623157e+308`, and it let a NaN win a
//!   minimum. A second rewrite gives float arguments weir's [`FloatMinMax`] instead, with
//!   the same name. It keeps one value per group (no grouped fast path), and cannot
//!   retract, so a sliding window frame of it is refused.

use std::cmp::Ordering;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::execution::FunctionRegistry;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::expr::{Cast, WindowFunctionDefinition};
use datafusion::logical_expr::expr_rewriter::FunctionRewrite;
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Expr, ExprSchemable, Signature, Volatility,
};

/// `numeric` wide enough for any sum of `bigint` values weir can hold.
const BIGINT_SUM: DataType = DataType::Decimal128(38, 0);

pub(crate) fn register(context: &mut SessionContext) -> Result<()> {
    context.register_function_rewrite(Arc::new(SumOfBigintIsNumeric))?;
    context.register_function_rewrite(Arc::new(FloatMinMaxAsPostgres))
}

#[derive(Debug)]
struct SumOfBigintIsNumeric;

impl SumOfBigintIsNumeric {
    /// `arguments` of a `sum` with a `bigint` one cast to `numeric`, if there is one.
    fn cast_arguments(arguments: &mut [Expr], schema: &DFSchema) -> bool {
        let mut changed = false;
        for argument in arguments {
            if matches!(
                argument.get_type(schema),
                Ok(DataType::Int64 | DataType::UInt64)
            ) {
                *argument = Expr::Cast(Cast::new(Box::new(argument.clone()), BIGINT_SUM));
                changed = true;
            }
        }
        changed
    }
}

impl FunctionRewrite for SumOfBigintIsNumeric {
    fn name(&self) -> &str {
        "sum_of_bigint_is_numeric"
    }

    fn rewrite(
        &self,
        expr: Expr,
        schema: &DFSchema,
        _config: &ConfigOptions,
    ) -> Result<Transformed<Expr>> {
        Ok(match expr {
            Expr::AggregateFunction(mut call) if call.func.name() == "sum" => {
                let changed = Self::cast_arguments(&mut call.params.args, schema);
                Transformed::new_transformed(Expr::AggregateFunction(call), changed)
            }
            Expr::WindowFunction(mut call) if matches!(&call.fun, WindowFunctionDefinition::AggregateUDF(f) if f.name() == "sum") =>
            {
                let changed = Self::cast_arguments(&mut call.params.args, schema);
                Transformed::new_transformed(Expr::WindowFunction(call), changed)
            }
            other => Transformed::no(other),
        })
    }
}

/// Gives `min` and `max` of a float argument [`FloatMinMax`].
#[derive(Debug)]
struct FloatMinMaxAsPostgres;

impl FunctionRewrite for FloatMinMaxAsPostgres {
    fn name(&self) -> &str {
        "float_min_max_as_postgres"
    }

    fn rewrite(
        &self,
        expr: Expr,
        schema: &DFSchema,
        _config: &ConfigOptions,
    ) -> Result<Transformed<Expr>> {
        let Expr::AggregateFunction(mut call) = expr else {
            return Ok(Transformed::no(expr));
        };
        let largest = match call.func.name() {
            "min" => false,
            "max" => true,
            _ => return Ok(Transformed::no(Expr::AggregateFunction(call))),
        };
        let float = match call.params.args.as_slice() {
            [argument] => argument.get_type(schema).ok().filter(|t| t.is_floating()),
            _ => None,
        };
        // Applied again to a plan analyzed before, it swaps a FloatMinMax for an equal one.
        let Some(float) = float else {
            return Ok(Transformed::no(Expr::AggregateFunction(call)));
        };
        call.func = Arc::new(AggregateUDF::new_from_impl(FloatMinMax::new(
            largest, float,
        )));
        Ok(Transformed::yes(Expr::AggregateFunction(call)))
    }
}

/// `min` or `max` (`largest`) of floats of type `float`, in PostgreSQL's order.
#[derive(Debug, PartialEq, Eq, Hash)]
struct FloatMinMax {
    largest: bool,
    float: DataType,
    signature: Signature,
}

impl FloatMinMax {
    fn new(largest: bool, float: DataType) -> Self {
        FloatMinMax {
            signature: Signature::exact(vec![float.clone()], Volatility::Immutable),
            largest,
            float,
        }
    }
}

impl AggregateUDFImpl for FloatMinMax {
    fn name(&self) -> &str {
        match self.largest {
            true => "max",
            false => "min",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.float.clone())
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(FloatExtreme {
            largest: self.largest,
            float: self.float.clone(),
            value: None,
        }))
    }
}

/// PostgreSQL's order of floats: NaN above all, `-0` equal to `0`.
fn float_order(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.partial_cmp(&b).expect("neither is NaN"),
    }
}

#[derive(Debug)]
struct FloatExtreme {
    largest: bool,
    float: DataType,
    value: Option<f64>,
}

impl Accumulator for FloatExtreme {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let values = cast(&values[0], &DataType::Float64)?;
        let wanted = match self.largest {
            true => Ordering::Greater,
            false => Ordering::Less,
        };
        for value in values.as_primitive::<Float64Type>().iter().flatten() {
            match self.value {
                Some(current) if float_order(value, current) != wanted => {}
                _ => self.value = Some(value),
            }
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        ScalarValue::Float64(self.value).cast_to(&self.float)
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.evaluate()?])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.update_batch(states)
    }
}
