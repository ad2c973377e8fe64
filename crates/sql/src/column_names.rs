//! Result column names as PostgreSQL chooses them.
//!
//! PostgreSQL names an unaliased select-list expression after what it is: a column by
//! its name, a function call by the function (`count`), a cast by its operand or else its
//! type (`int4`), `CASE` as `case`, and anything else `?column?`. DataFusion names it by
//! the expression's text (`count(*)`). So that psql and drivers see PostgreSQL's names,
//! the outermost select list of a query or view gets those names as explicit aliases.
//!
//! An item keeps DataFusion's name when PostgreSQL's would collide with another item's,
//! since DataFusion requires distinct names (PostgreSQL allows duplicates in a query's
//! result), and a select list with `*` is left alone, as the names it expands to are not
//! known before planning.

use datafusion::sql::sqlparser::ast::{
    DataType, Expr, Ident, Query, SelectItem, SetExpr, Statement, TimezoneInfo,
};

/// Gives the outermost select list of a query or view definition PostgreSQL's names.
pub(crate) fn name_columns(statement: &mut Statement) {
    match statement {
        Statement::Query(query) => name_query_columns(query),
        Statement::CreateView(create) => name_query_columns(&mut create.query),
        _ => {}
    }
}

fn name_query_columns(query: &mut Query) {
    let SetExpr::Select(select) = leftmost(&mut query.body) else {
        return;
    };
    let items = &mut select.projection;
    let wildcard = items.iter().any(|item| {
        matches!(
            item,
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
        )
    });
    if wildcard {
        return;
    }
    let names: Vec<String> = items.iter().map(item_name).collect();
    for (index, item) in items.iter_mut().enumerate() {
        let SelectItem::UnnamedExpr(expr) = item else {
            continue;
        };
        if matches!(expr, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) {
            continue;
        }
        let name = &names[index];
        if names.iter().filter(|other| *other == name).count() == 1 {
            *item = SelectItem::ExprWithAlias {
                expr: expr.clone(),
                alias: Ident::with_quote('"', name),
            };
        }
    }
}

/// The select whose names a set operation's result takes: its leftmost branch.
fn leftmost(body: &mut SetExpr) -> &mut SetExpr {
    match body {
        SetExpr::SetOperation { left, .. } => leftmost(left),
        SetExpr::Query(query) => leftmost(&mut query.body),
        other => other,
    }
}

fn item_name(item: &SelectItem) -> String {
    match item {
        SelectItem::UnnamedExpr(expr) => expr_name(expr).unwrap_or_else(|| "?column?".into()),
        SelectItem::ExprWithAlias { alias, .. } => identifier(alias),
        _ => "?column?".into(),
    }
}

fn identifier(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

/// PostgreSQL's name for an expression, `None` where it would say `?column?`.
fn expr_name(expr: &Expr) -> Option<String> {
    Some(match expr {
        Expr::Identifier(ident) => identifier(ident),
        Expr::CompoundIdentifier(parts) => identifier(parts.last()?),
        Expr::Function(function) => {
            let last = function.name.0.last()?.as_ident()?;
            identifier(last)
        }
        Expr::Cast {
            expr, data_type, ..
        } => expr_name(expr).unwrap_or_else(|| type_name(data_type)),
        Expr::Nested(inner) => return expr_name(inner),
        Expr::Case { .. } => "case".into(),
        Expr::Exists { .. } => "exists".into(),
        Expr::Array(_) => "array".into(),
        Expr::Extract { .. } => "extract".into(),
        Expr::Substring { .. } => "substring".into(),
        Expr::Position { .. } => "position".into(),
        Expr::Trim { .. } => "btrim".into(),
        Expr::Ceil { .. } => "ceil".into(),
        Expr::Floor { .. } => "floor".into(),
        Expr::Interval(_) => "interval".into(),
        Expr::TypedString(typed) => type_name(&typed.data_type),
        Expr::Subquery(query) => match query.body.as_ref() {
            SetExpr::Select(select) => {
                let first = select.projection.first()?;
                match first {
                    SelectItem::UnnamedExpr(expr) => return expr_name(expr),
                    SelectItem::ExprWithAlias { alias, .. } => identifier(alias),
                    _ => return None,
                }
            }
            _ => return None,
        },
        _ => return None,
    })
}

/// The name PostgreSQL's catalog gives a type (`pg_type.typname`).
fn type_name(data_type: &DataType) -> String {
    match data_type {
        DataType::SmallInt(_) | DataType::Int2(_) => "int2",
        DataType::Int(_) | DataType::Integer(_) | DataType::Int4(_) => "int4",
        DataType::BigInt(_) | DataType::Int8(_) => "int8",
        DataType::Real | DataType::Float4 => "float4",
        DataType::DoublePrecision | DataType::Double(_) | DataType::Float8 => "float8",
        DataType::Numeric(_) | DataType::Decimal(_) => "numeric",
        DataType::Bool | DataType::Boolean => "bool",
        DataType::Varchar(_) | DataType::CharacterVarying(_) => "varchar",
        DataType::Text => "text",
        DataType::Bytea => "bytea",
        DataType::Date => "date",
        DataType::Time(_, _) => "time",
        DataType::Timestamp(_, TimezoneInfo::WithTimeZone | TimezoneInfo::Tz) => "timestamptz",
        DataType::Timestamp(_, _) => "timestamp",
        DataType::Interval { .. } => "interval",
        DataType::JSONB => "jsonb",
        DataType::JSON => "json",
        other => return other.to_string().to_lowercase(),
    }
    .into()
}

#[cfg(test)]
mod tests {
    use crate::parse;

    fn named(sql: &str) -> String {
        parse(sql).unwrap().remove(0).to_string()
    }

    #[test]
    fn function_calls_casts_and_case_get_postgres_names() {
        assert_eq!(
            named("SELECT count(*), x::text, '1'::int, CASE WHEN x THEN 1 END FROM t"),
            "SELECT count(*) AS \"count\", x::TEXT AS \"x\", '1'::INT AS \"int4\", \
             CASE WHEN x THEN 1 END AS \"case\" FROM t"
        );
    }

    #[test]
    fn plain_columns_aliases_and_wildcards_are_kept() {
        for sql in [
            "SELECT a, t.b, c AS d FROM t",
            "SELECT *, count(*) FROM t",
            "INSERT INTO t SELECT count(*) FROM u",
        ] {
            assert_eq!(named(sql), sql);
        }
    }

    #[test]
    fn colliding_names_keep_datafusion_names() {
        assert_eq!(
            named("SELECT count(*), count(a), sum(a) FROM t"),
            "SELECT count(*), count(a), sum(a) AS \"sum\" FROM t"
        );
        assert_eq!(named("SELECT 1, 2"), "SELECT 1, 2");
    }

    #[test]
    fn set_operations_take_the_leftmost_names() {
        assert_eq!(
            named("SELECT max(a) FROM t UNION SELECT min(a) FROM u"),
            "SELECT max(a) AS \"max\" FROM t UNION SELECT min(a) FROM u"
        );
    }
}
