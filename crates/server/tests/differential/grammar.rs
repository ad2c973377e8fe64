//! The expressions of the differential test: typed templates over the columns of one
//! table, whose corner values every type has (the extreme integers, NaN, ±Infinity and
//! -0, the empty string, leap days, BC-free far dates, mixed-sign intervals, NULLs).
//!
//! An expression is a tree of templates, each with a result type and typed arguments,
//! down to leaves that are columns or literals of their type, so every generated
//! expression is well typed for PostgreSQL. A template weir is known to answer
//! differently carries the reason, and is left out of the test command's runs until the
//! difference is fixed (`WEIR_DIFFERENTIAL_KNOWN=1` includes them).

use crate::support::random::Random;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Ty {
    SmallInt,
    Integer,
    BigInt,
    Numeric,
    Double,
    Text,
    Boolean,
    Date,
    Timestamp,
    Timestamptz,
    Interval,
    Bytea,
    Jsonb,
}

use Ty::*;

pub const TYPES: [Ty; 13] = [
    SmallInt,
    Integer,
    BigInt,
    Numeric,
    Double,
    Text,
    Boolean,
    Date,
    Timestamp,
    Timestamptz,
    Interval,
    Bytea,
    Jsonb,
];

/// The columns of the tables both servers hold.
const COLUMNS: &str = "(id integer PRIMARY KEY, i2 smallint, i4 integer, i8 bigint,
  n numeric(12,3), f8 double precision, s text, v varchar(8), b boolean, d date,
  ts timestamp, tz timestamptz, iv interval, by bytea, j jsonb)";

/// Table `t` with its rows, and `u`, empty, with the same columns (weir's views read it).
pub fn setup() -> String {
    format!("CREATE TABLE t {COLUMNS}; CREATE TABLE u {COLUMNS}; {ROWS}")
}

/// The rows of `t` (id 5 is NULL in every column).
const ROWS: &str = "\
INSERT INTO t VALUES
  (1, 0, 0, 0, 0, 'Infinity', '', '', false, '2000-01-01', '2000-01-01 00:00:00',
   '2000-01-01 00:00:00+00', '0 seconds', '\\x', '{}'),
  (2, 1, 7, 42, 1.5, 0.1, 'abc', 'Ab', true, '2024-02-29', '2024-02-29 12:34:56.789',
   '2024-03-10 07:30:00+00', '1 day 02:03:04', '\\x00ff', '{\"a\": 1, \"b\": [1, 2]}'),
  (3, -32768, -2147483648, -9223372036854775808, -999999999.999, -1e308, 'Hello, World',
   'x y', true, '1970-01-01', '1999-12-31 23:59:59.999999', '1969-12-31 23:59:59.5+00',
   '-1 mons +3 days', '\\xdeadbeef', '[1, \"x\", null]'),
  (4, 32767, 2147483647, 9223372036854775807, 123456789.125, 'NaN', 'ÄÖü ß', 'zzzzzzzz',
   false, '0001-01-01', '2038-01-19 03:14:07', '2024-11-03 06:30:00+00',
   '1 year 2 mons 3 days 04:05:06.5', '\\x41', '\"text\"'),
  (5, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (6, -1, -7, -42, -0.5, '-Infinity', '  pad  ', '', false, '2100-12-31',
   '2024-01-01 00:00:00', '2024-06-30 23:59:59.999999+00', '25 hours', '\\x', '3.5'),
  (7, 2, 100, 3000000000, 0.001, '-0', '12', '7', true, '1999-01-01', '1900-02-28 12:00:00',
   '2000-02-29 00:00:00+00', '-00:00:01', '\\x61', 'null');";

/// The ids of the rows of `SETUP`.
pub const IDS: [i32; 7] = [1, 2, 3, 4, 5, 6, 7];

impl Ty {
    fn columns(self) -> &'static [&'static str] {
        match self {
            SmallInt => &["i2"],
            Integer => &["i4", "id"],
            BigInt => &["i8"],
            Numeric => &["n"],
            Double => &["f8"],
            Text => &["s", "v"],
            Boolean => &["b"],
            Date => &["d"],
            Timestamp => &["ts"],
            Timestamptz => &["tz"],
            Interval => &["iv"],
            Bytea => &["by"],
            Jsonb => &["j"],
        }
    }

    fn literals(self) -> &'static [&'static str] {
        match self {
            SmallInt => &[
                "0::smallint",
                "1::smallint",
                "(-1)::smallint",
                "32767::smallint",
                "(-32768)::smallint",
                "NULL::smallint",
            ],
            Integer => &[
                "0",
                "1",
                "-1",
                "2",
                "7",
                "100",
                "2147483647",
                // Not the literal -2147483648: PostgreSQL folds `- -2147483648` into the
                // bigint 2147483648.
                "(-2147483647 - 1)",
                "NULL::integer",
            ],
            BigInt => &[
                "0::bigint",
                "3000000000",
                "-3000000000",
                "9223372036854775807",
                "'-9223372036854775808'::bigint",
                "NULL::bigint",
            ],
            Numeric => &[
                "0.1",
                "1.5",
                "-2.25",
                "1000000.001",
                "0::numeric",
                "'NaN'::numeric",
                "3.14159265358979",
                "9999999999999999999",
                "1e5",
                "2.5e-3",
                "NULL::numeric",
            ],
            Double => &[
                "'0.1'::float8",
                "'1e5'::float8",
                "'NaN'::float8",
                "'Infinity'::float8",
                "'-Infinity'::float8",
                "'-0'::float8",
                "'1e308'::float8",
                "'2.5e-3'::float8",
                "NULL::float8",
            ],
            Text => &[
                "''",
                "'abc'",
                "'ABC def'",
                "' x '",
                "'12'",
                "'-7'",
                "'1.5'",
                "'2024-01-01'",
                "'true'",
                "'ünï'",
                "NULL::text",
            ],
            Boolean => &["true", "false", "NULL::boolean"],
            Date => &[
                "date '2024-02-29'",
                "date '1970-01-01'",
                "date '0001-01-01'",
                "'2000-03-01'::date",
                "NULL::date",
            ],
            Timestamp => &[
                "timestamp '2024-03-10 02:30:00'",
                "timestamp '2000-01-01 00:00:00.5'",
                "timestamp '1999-12-31 23:59:59'",
                "NULL::timestamp",
            ],
            Timestamptz => &[
                "timestamptz '2024-03-10 02:30:00+00'",
                "timestamptz '2024-11-03 01:30:00-04'",
                "NULL::timestamptz",
            ],
            Interval => &[
                "interval '1 day'",
                "interval '24 hours'",
                "interval '1 mon'",
                "interval '30 days'",
                "interval '-1 day 02:00:00'",
                "interval '1 year 2 mons 3 days 04:05:06.5'",
                "interval '0'",
                "interval '00:00:01.25'",
                "NULL::interval",
            ],
            Bytea => &[
                "'\\x00ff'::bytea",
                "''::bytea",
                "'abc'::bytea",
                "NULL::bytea",
            ],
            Jsonb => &[
                "'{\"a\": 1}'::jsonb",
                "'[1, 2, 3]'::jsonb",
                "'null'::jsonb",
                "'\"s\"'::jsonb",
                "NULL::jsonb",
            ],
        }
    }

    /// The name of the type in a cast.
    pub fn sql(self) -> &'static str {
        match self {
            SmallInt => "smallint",
            Integer => "integer",
            BigInt => "bigint",
            Numeric => "numeric",
            Double => "double precision",
            Text => "text",
            Boolean => "boolean",
            Date => "date",
            Timestamp => "timestamp",
            Timestamptz => "timestamptz",
            Interval => "interval",
            Bytea => "bytea",
            Jsonb => "jsonb",
        }
    }
}

/// One operator, function or cast: `sql` with `{0}`, `{1}`, … for its arguments.
pub struct Template {
    pub ty: Ty,
    pub sql: String,
    pub args: Vec<Ty>,
    /// Why weir's answer differs from PostgreSQL's, while it does.
    pub known: Option<&'static str>,
}

fn template(ty: Ty, sql: &str, args: &[Ty]) -> Template {
    Template {
        ty,
        sql: sql.to_owned(),
        args: args.to_vec(),
        known: None,
    }
}

const INTEGERS: [Ty; 3] = [SmallInt, Integer, BigInt];
const ORDERED: [Ty; 12] = [
    SmallInt,
    Integer,
    BigInt,
    Numeric,
    Double,
    Text,
    Boolean,
    Date,
    Timestamp,
    Timestamptz,
    Interval,
    Bytea,
];

/// Every template of the grammar, with the differences known today.
pub fn templates() -> Vec<Template> {
    let mut all = Vec::new();
    for ty in TYPES {
        all.push(template(ty, "coalesce({0}, {1})", &[ty, ty]));
        all.push(template(
            ty,
            "CASE WHEN {0} THEN {1} ELSE {2} END",
            &[Boolean, ty, ty],
        ));
        all.push(template(Boolean, "({0} IS NULL)", &[ty]));
        all.push(template(Text, "{0}::text", &[ty]));
    }
    for ty in ORDERED {
        for op in ["=", "<>", "<", ">="] {
            all.push(template(Boolean, &format!("({{0}} {op} {{1}})"), &[ty, ty]));
        }
        all.push(template(Boolean, "({0} IS DISTINCT FROM {1})", &[ty, ty]));
        all.push(template(ty, "nullif({0}, {1})", &[ty, ty]));
        all.push(template(ty, "greatest({0}, {1})", &[ty, ty]));
        all.push(template(ty, "least({0}, {1})", &[ty, ty]));
    }
    for ty in [SmallInt, Integer, BigInt, Numeric, Double] {
        for op in ["+", "-", "*", "/"] {
            all.push(template(ty, &format!("({{0}} {op} {{1}})"), &[ty, ty]));
        }
        all.push(template(ty, "(- {0})", &[ty]));
        all.push(template(ty, "abs({0})", &[ty]));
        all.push(template(ty, &format!("{{0}}::{}", ty.sql()), &[Text]));
        for from in [SmallInt, Integer, BigInt, Numeric, Double] {
            if from != ty {
                all.push(template(ty, &format!("{{0}}::{}", ty.sql()), &[from]));
            }
        }
    }
    for ty in INTEGERS {
        all.push(template(ty, "({0} % {1})", &[ty, ty]));
        all.push(template(ty, "({0} & {1})", &[ty, ty]));
        all.push(template(ty, "({0} | {1})", &[ty, ty]));
    }
    all.extend([
        template(Integer, "({0} + {1})", &[SmallInt, Integer]),
        template(BigInt, "({0} * {1})", &[Integer, BigInt]),
        template(Numeric, "({0} + {1})", &[Numeric, Integer]),
        template(Numeric, "({0} * {1})", &[BigInt, Numeric]),
        template(Double, "({0} + {1})", &[Double, Integer]),
        template(Double, "({0} * {1})", &[Numeric, Double]),
        template(Boolean, "({0} = {1})", &[Integer, BigInt]),
        template(Boolean, "({0} < {1})", &[Integer, Numeric]),
        template(Boolean, "({0} = {1})", &[Integer, Double]),
        template(Boolean, "({0} = {1})", &[Numeric, Double]),
        template(Boolean, "({0} < {1})", &[Date, Timestamp]),
        template(Boolean, "({0} = {1})", &[Timestamp, Timestamptz]),
        // Integers.
        template(Integer, "length({0})", &[Text]),
        template(Integer, "octet_length({0})", &[Text]),
        template(Integer, "length({0})", &[Bytea]),
        template(Integer, "strpos({0}, {1})", &[Text, Text]),
        template(Integer, "ascii({0})", &[Text]),
        template(Integer, "({0} - {1})", &[Date, Date]),
        template(Integer, "mod({0}, {1})", &[Integer, Integer]),
        template(Integer, "{0}::integer", &[Boolean]),
        // Numerics.
        template(Numeric, "({0} % {1})", &[Numeric, Numeric]),
        template(Numeric, "round({0})", &[Numeric]),
        template(Numeric, "round({0}, 2)", &[Numeric]),
        template(Numeric, "trunc({0}, 1)", &[Numeric]),
        template(Numeric, "floor({0})", &[Numeric]),
        template(Numeric, "ceil({0})", &[Numeric]),
        template(Numeric, "sign({0})", &[Numeric]),
        template(Numeric, "{0}::numeric(10,2)", &[Numeric]),
        template(Numeric, "extract(year from {0})", &[Date]),
        template(Numeric, "extract(epoch from {0})", &[Timestamp]),
        template(Numeric, "extract(hour from {0})", &[Timestamp]),
        template(Numeric, "extract(epoch from {0})", &[Interval]),
        template(Numeric, "extract(day from {0})", &[Interval]),
        template(Numeric, "extract(second from {0})", &[Timestamp]),
        template(Numeric, "extract(milliseconds from {0})", &[Interval]),
        template(Numeric, "extract(minute from {0})", &[Interval]),
        template(Numeric, "extract(century from {0})", &[Date]),
        template(Numeric, "extract(epoch from {0})", &[Date]),
        template(Numeric, "extract(dow from {0})", &[Timestamp]),
        template(Numeric, "extract(hour from {0})", &[Timestamptz]),
        template(Numeric, "mod({0}, {1})", &[Numeric, Numeric]),
        // Doubles.
        template(Double, "sqrt({0})", &[Double]),
        template(Double, "floor({0})", &[Double]),
        template(Double, "ceil({0})", &[Double]),
        template(Double, "round({0})", &[Double]),
        template(Double, "trunc({0})", &[Double]),
        template(Double, "sign({0})", &[Double]),
        template(Double, "exp({0})", &[Double]),
        template(Double, "ln({0})", &[Double]),
        template(Double, "power({0}, {1})", &[Double, Double]),
        template(Double, "cbrt({0})", &[Double]),
        template(Double, "date_part('day', {0})", &[Timestamp]),
        template(Double, "date_part('second', {0})", &[Timestamp]),
        template(Double, "date_part('epoch', {0})", &[Interval]),
        // Text.
        template(Text, "({0} || {1})", &[Text, Text]),
        template(Text, "({0} || {1})", &[Text, Integer]),
        template(Text, "upper({0})", &[Text]),
        template(Text, "lower({0})", &[Text]),
        template(Text, "initcap({0})", &[Text]),
        template(Text, "trim({0})", &[Text]),
        template(Text, "ltrim({0})", &[Text]),
        template(Text, "btrim({0}, {1})", &[Text, Text]),
        template(Text, "substr({0}, {1})", &[Text, Integer]),
        template(Text, "substr({0}, {1}, {2})", &[Text, Integer, Integer]),
        template(Text, "left({0}, {1})", &[Text, Integer]),
        template(Text, "right({0}, {1})", &[Text, Integer]),
        template(Text, "lpad({0}, 5, '*')", &[Text]),
        template(Text, "rpad({0}, 5)", &[Text]),
        template(Text, "repeat({0}, 3)", &[Text]),
        template(Text, "replace({0}, {1}, {2})", &[Text, Text, Text]),
        template(Text, "reverse({0})", &[Text]),
        template(Text, "split_part({0}, ' ', 2)", &[Text]),
        template(Text, "concat({0}, {1})", &[Text, Integer]),
        template(Text, "concat_ws('-', {0}, {1})", &[Text, Text]),
        template(Text, "md5({0})", &[Text]),
        template(Text, "to_hex({0})", &[Integer]),
        template(Text, "to_hex({0})", &[BigInt]),
        template(Text, "{0}::varchar(3)", &[Text]),
        template(Text, "to_char({0}, 'YYYY-MM-DD HH24:MI:SS')", &[Timestamp]),
        template(Text, "to_char({0}, '999.99')", &[Numeric]),
        template(Text, "encode({0}, 'hex')", &[Bytea]),
        template(Text, "encode({0}, 'base64')", &[Bytea]),
        template(Text, "({0} ->> 'a')", &[Jsonb]),
        template(Text, "({0} ->> 0)", &[Jsonb]),
        template(Text, "jsonb_typeof({0})", &[Jsonb]),
        template(Text, "({0} #>> '{b,1}')", &[Jsonb]),
        // Booleans.
        template(Boolean, "({0} AND {1})", &[Boolean, Boolean]),
        template(Boolean, "({0} OR {1})", &[Boolean, Boolean]),
        template(Boolean, "(NOT {0})", &[Boolean]),
        template(Boolean, "({0} IS TRUE)", &[Boolean]),
        template(Boolean, "({0} LIKE {1})", &[Text, Text]),
        template(Boolean, "({0} LIKE 'a%')", &[Text]),
        template(Boolean, "({0} ILIKE '%B%')", &[Text]),
        template(
            Boolean,
            "({0} BETWEEN {1} AND {2})",
            &[Integer, Integer, Integer],
        ),
        template(Boolean, "({0} IN ({1}, {2}))", &[Integer, Integer, Integer]),
        template(Boolean, "starts_with({0}, {1})", &[Text, Text]),
        template(Boolean, "{0}::boolean", &[Text]),
        template(Boolean, "({0} ? 'a')", &[Jsonb]),
        template(Boolean, "({0} @> {1})", &[Jsonb, Jsonb]),
        template(Boolean, "isfinite({0})", &[Timestamp]),
        // Dates.
        template(Date, "({0} + {1})", &[Date, Integer]),
        template(Date, "({0} - {1})", &[Date, Integer]),
        template(Date, "{0}::date", &[Timestamp]),
        template(Date, "{0}::date", &[Timestamptz]),
        template(Date, "{0}::date", &[Text]),
        template(Date, "make_date(2024, {0}, 1)", &[Integer]),
        // Timestamps.
        template(Timestamp, "({0} + {1})", &[Timestamp, Interval]),
        template(Timestamp, "({0} - {1})", &[Timestamp, Interval]),
        template(Timestamp, "({0} + {1})", &[Date, Interval]),
        template(Timestamp, "date_trunc('hour', {0})", &[Timestamp]),
        template(Timestamp, "date_trunc('month', {0})", &[Timestamp]),
        template(Timestamp, "date_trunc('week', {0})", &[Timestamp]),
        template(Timestamp, "{0}::timestamp", &[Date]),
        template(Timestamp, "{0}::timestamp", &[Text]),
        template(Timestamp, "{0}::timestamp", &[Timestamptz]),
        template(
            Timestamp,
            "date_bin('15 minutes', {0}, timestamp '2000-01-01')",
            &[Timestamp],
        ),
        template(
            Timestamp,
            "make_timestamp(2024, 1, 1, {0}, 0, 0)",
            &[Integer],
        ),
        // Timestamps with time zone.
        template(Timestamptz, "({0} + {1})", &[Timestamptz, Interval]),
        template(Timestamptz, "date_trunc('day', {0})", &[Timestamptz]),
        template(Timestamptz, "{0}::timestamptz", &[Timestamp]),
        template(Timestamptz, "{0}::timestamptz", &[Text]),
        template(Timestamptz, "to_timestamp({0})", &[Double]),
        // Intervals.
        template(Interval, "({0} - {1})", &[Timestamp, Timestamp]),
        template(Interval, "({0} - {1})", &[Timestamptz, Timestamptz]),
        template(Interval, "({0} + {1})", &[Interval, Interval]),
        template(Interval, "({0} - {1})", &[Interval, Interval]),
        template(Interval, "({0} * {1})", &[Interval, Integer]),
        template(Interval, "({0} * {1})", &[Interval, Double]),
        template(Interval, "({0} / {1})", &[Interval, Double]),
        template(Interval, "(- {0})", &[Interval]),
        template(Interval, "justify_days({0})", &[Interval]),
        template(Interval, "justify_hours({0})", &[Interval]),
        template(Interval, "justify_interval({0})", &[Interval]),
        template(Interval, "age({0}, {1})", &[Timestamp, Timestamp]),
        template(Interval, "make_interval(days => {0})", &[Integer]),
        template(Interval, "{0}::interval", &[Text]),
        // Bytea.
        template(Bytea, "({0} || {1})", &[Bytea, Bytea]),
        template(Bytea, "{0}::bytea", &[Text]),
        template(Bytea, "decode({0}, 'hex')", &[Text]),
        // Jsonb.
        template(Jsonb, "({0} -> 'a')", &[Jsonb]),
        template(Jsonb, "({0} -> 1)", &[Jsonb]),
        template(Jsonb, "({0} || {1})", &[Jsonb, Jsonb]),
        template(Jsonb, "{0}::jsonb", &[Text]),
        template(Jsonb, "jsonb_build_object('k', {0})", &[Integer]),
        template(Jsonb, "to_jsonb({0})", &[Text]),
        template(Jsonb, "({0} #> '{b}')", &[Jsonb]),
        template(Jsonb, "({0} - 'a')", &[Jsonb]),
    ]);
    for (sql, args, reason) in KNOWN {
        for template in all.iter_mut().filter(|t| t.sql == *sql && t.args == *args) {
            template.known = Some(reason);
        }
    }
    all
}

const NUMERIC_SCALE: &str = "unconstrained numeric is numeric(38,10): its values show ten \
    decimals, where PostgreSQL keeps each value's own scale";
const RESULT_SCALE: &str = "numeric functions keep the argument's scale (PostgreSQL: the \
    result's own, floor(-2.25) is -3)";
const NANOSECONDS: &str = "timestamps are held in nanoseconds, from 1677-09-21 to \
    2262-04-11 (PostgreSQL: 4713 BC to 294276 AD), and hold no infinity";
const FLOAT_ERRORS: &str = "float functions give ±Infinity or NaN where PostgreSQL raises \
    22003 (overflow, underflow), 2201E or 2201F";
const UNWRAPPED_CAST: &str = "a narrowing cast compared with a constant can lose its range \
    check (DataFusion unwraps casts in comparisons)";

/// Templates whose answers differ from PostgreSQL's today, each with its reason.
const KNOWN: &[(&str, &[Ty], &str)] = &[
    (
        "upper({0})",
        &[Text],
        "upper() and initcap() map ß to SS (PostgreSQL keeps ß)",
    ),
    (
        "initcap({0})",
        &[Text],
        "upper() and initcap() map ß to SS (PostgreSQL keeps ß)",
    ),
    ("trunc({0})", &[Double], "trunc(-0) is 0 (PostgreSQL: -0)"),
    (
        "({0} + {1})",
        &[Numeric, Numeric],
        "numeric results of more than 38 digits lose scale or overflow",
    ),
    (
        "({0} - {1})",
        &[Numeric, Numeric],
        "numeric results of more than 38 digits lose scale or overflow",
    ),
    (
        "({0} * {1})",
        &[Numeric, Numeric],
        "numeric results of more than 38 digits lose scale or overflow",
    ),
    (
        "{0}::date",
        &[Text],
        "text to date: PostgreSQL reads more forms ('121212' as YYMMDD)",
    ),
    (
        "{0}::timestamp",
        &[Text],
        "text to date: PostgreSQL reads more forms ('121212' as YYMMDD)",
    ),
    (
        "{0}::interval",
        &[Text],
        "text to interval: PostgreSQL reads more forms ('[1, \"' as a second)",
    ),
    ("{0}::smallint", &[Numeric], UNWRAPPED_CAST),
    ("{0}::numeric(10,2)", &[Numeric], UNWRAPPED_CAST),
    ("coalesce({0}, {1})", &[Numeric, Numeric], NUMERIC_SCALE),
    ("nullif({0}, {1})", &[Numeric, Numeric], NUMERIC_SCALE),
    ("greatest({0}, {1})", &[Numeric, Numeric], NUMERIC_SCALE),
    ("least({0}, {1})", &[Numeric, Numeric], NUMERIC_SCALE),
    (
        "CASE WHEN {0} THEN {1} ELSE {2} END",
        &[Boolean, Numeric, Numeric],
        NUMERIC_SCALE,
    ),
    (
        "({0} / {1})",
        &[Numeric, Numeric],
        "numeric division keeps six decimals (PostgreSQL: at least 16 significant digits)",
    ),
    (
        "round({0})",
        &[Double],
        "round(double precision) rounds half away from zero (PostgreSQL: half to even)",
    ),
    ("{0}::smallint", &[Integer], UNWRAPPED_CAST),
    ("{0}::smallint", &[BigInt], UNWRAPPED_CAST),
    ("{0}::integer", &[BigInt], UNWRAPPED_CAST),
    (
        "decode({0}, 'hex')",
        &[Text],
        "decode(hex) reads text PostgreSQL refuses, and is not computed ahead as PostgreSQL computes a constant argument",
    ),
    (
        "length({0})",
        &[Bytea],
        "length() of bytea reads the bytes as UTF-8 text",
    ),
    ("{0}::numeric", &[SmallInt], NUMERIC_SCALE),
    ("{0}::numeric", &[Integer], NUMERIC_SCALE),
    ("{0}::numeric", &[BigInt], NUMERIC_SCALE),
    ("{0}::numeric", &[Double], NUMERIC_SCALE),
    ("{0}::numeric", &[Text], NUMERIC_SCALE),
    ("{0}::text", &[Numeric], NUMERIC_SCALE),
    (
        "({0} * {1})",
        &[BigInt, Numeric],
        "numeric results beyond 38 digits overflow",
    ),
    ("floor({0})", &[Numeric], RESULT_SCALE),
    ("ceil({0})", &[Numeric], RESULT_SCALE),
    ("round({0}, 2)", &[Numeric], RESULT_SCALE),
    ("trunc({0}, 1)", &[Numeric], RESULT_SCALE),
    (
        "({0} + {1})",
        &[Date, Integer],
        "date ± integer fails beyond ±2^31 days",
    ),
    (
        "({0} - {1})",
        &[Date, Integer],
        "date ± integer fails beyond ±2^31 days",
    ),
    ("{0}::timestamp", &[Date], NANOSECONDS),
    ("({0} + {1})", &[Date, Interval], NANOSECONDS),
    ("({0} * {1})", &[Interval, Double], NANOSECONDS),
    (
        "({0} * {1})",
        &[Interval, Integer],
        "an interval's time is held in nanoseconds, to ±292 years (PostgreSQL: microseconds)",
    ),
    (
        "{0}::double precision",
        &[BigInt],
        "a double that a shorter decimal reaches only by a tie (-6442450941000000000) \
         is written in that shorter form, where PostgreSQL writes 16 digits",
    ),
    ("({0} < {1})", &[Date, Timestamp], NANOSECONDS),
    ("to_timestamp({0})", &[Double], NANOSECONDS),
    (
        "({0} || {1})",
        &[Jsonb, Jsonb],
        "jsonb || jsonb concatenates the texts",
    ),
    (
        "({0} - 'a')",
        &[Jsonb],
        "jsonb - text is refused with 42804",
    ),
    (
        "({0} ->> 0)",
        &[Jsonb],
        "->> with an index of a jsonb scalar is NULL",
    ),
    (
        "CASE WHEN {0} THEN {1} ELSE {2} END",
        &[Boolean, Jsonb, Jsonb],
        "jsonb through CASE or coalesce is described as text",
    ),
    (
        "coalesce({0}, {1})",
        &[Jsonb, Jsonb],
        "jsonb through CASE or coalesce is described as text",
    ),
    (
        "{0}::jsonb",
        &[Text],
        "in a view, text that is not JSON cast to jsonb fails the write",
    ),
    (
        "{0}::varchar(3)",
        &[Text],
        "varchar(n) casts do not truncate and are described as text",
    ),
    (
        "to_char({0}, 'YYYY-MM-DD HH24:MI:SS')",
        &[Timestamp],
        "to_char takes chrono's patterns, not PostgreSQL's",
    ),
    (
        "to_hex({0})",
        &[Integer],
        "to_hex of a negative integer shows 64 bits",
    ),
    (
        "right({0}, {1})",
        &[Text, Integer],
        "right() with a count of -2^31 is empty",
    ),
    (
        "encode({0}, 'base64')",
        &[Bytea],
        "base64 is written without padding",
    ),
    (
        "{0}::timestamptz",
        &[Text],
        "text to timestamptz: PostgreSQL reads more forms",
    ),
    (
        "nullif({0}, {1})",
        &[Bytea, Bytea],
        "nullif(NULL, e) still evaluates e",
    ),
    (
        "nullif({0}, {1})",
        &[Date, Date],
        "nullif(NULL, e) still evaluates e",
    ),
    (
        "cbrt({0})",
        &[Double],
        "cbrt's last digit differs from the C library's",
    ),
    ("exp({0})", &[Double], FLOAT_ERRORS),
    ("ln({0})", &[Double], FLOAT_ERRORS),
    ("sqrt({0})", &[Double], FLOAT_ERRORS),
    ("power({0}, {1})", &[Double, Double], FLOAT_ERRORS),
];

/// Columns and literals whose answers differ from PostgreSQL's today, with the reason.
const KNOWN_LEAVES: &[(&str, &str)] = &[
    ("0::numeric", NUMERIC_SCALE),
    (
        "'NaN'::numeric",
        "numeric NaN is refused (0A000), and inside a view the rows are left out",
    ),
    ("v", "varchar(n) columns are described as text"),
];

/// A generated expression: a template applied to arguments, or a column or literal.
#[derive(Clone, Debug)]
pub enum Expr {
    Leaf(Ty, &'static str),
    Apply(usize, Vec<Expr>),
}

/// The templates one run draws from, indexed by result type.
pub struct Grammar {
    pub templates: Vec<Template>,
    by_type: Vec<(Ty, Vec<usize>)>,
    with_known: bool,
}

impl Grammar {
    /// The grammar of every template, or of those not known to differ.
    pub fn new(with_known: bool) -> Grammar {
        let templates = templates();
        let by_type = TYPES
            .iter()
            .map(|&ty| {
                let indexes = (0..templates.len())
                    .filter(|&i| templates[i].ty == ty)
                    .filter(|&i| with_known || templates[i].known.is_none())
                    .collect();
                (ty, indexes)
            })
            .collect();
        Grammar {
            templates,
            by_type,
            with_known,
        }
    }

    fn of_type(&self, ty: Ty) -> &[usize] {
        &self
            .by_type
            .iter()
            .find(|(t, _)| *t == ty)
            .expect("a type")
            .1
    }

    /// A random expression of type `ty`, at most `depth` templates deep.
    pub fn generate(&self, random: &mut Random, ty: Ty, depth: u32) -> Expr {
        let choices = self.of_type(ty);
        if depth == 0 || choices.is_empty() || random.chance(25) {
            return self.leaf(random, ty);
        }
        let index = *random.pick(choices);
        let args = self.templates[index]
            .args
            .iter()
            .map(|&arg| self.generate(random, arg, depth - 1))
            .collect();
        Expr::Apply(index, args)
    }

    /// A column or literal of type `ty`.
    fn leaf(&self, random: &mut Random, ty: Ty) -> Expr {
        let usable = |sql: &&&str| self.usable_leaf(sql);
        let columns: Vec<&&str> = ty.columns().iter().filter(usable).collect();
        let literals: Vec<&&str> = ty.literals().iter().filter(usable).collect();
        let sql = match random.chance(50) && !columns.is_empty() {
            true => random.pick(&columns),
            false => random.pick(&literals),
        };
        Expr::Leaf(ty, sql)
    }

    fn usable_leaf(&self, sql: &str) -> bool {
        self.with_known || !KNOWN_LEAVES.iter().any(|(known, _)| *known == sql)
    }

    /// The parts of `expr` without a column, largest first: PostgreSQL's planner
    /// computes them once, ahead of the rows.
    pub fn constant_parts<'a>(&self, expr: &'a Expr, parts: &mut Vec<&'a Expr>) {
        if let Expr::Apply(_, args) = expr {
            match self.is_constant(expr) {
                true => parts.push(expr),
                false => args.iter().for_each(|arg| self.constant_parts(arg, parts)),
            }
        }
    }

    /// Whether `expr` has a NULL literal, which PostgreSQL's planner folds with the
    /// strict operator around it (`e + NULL` is NULL without computing `e`).
    pub fn has_null(&self, expr: &Expr) -> bool {
        match expr {
            Expr::Leaf(_, sql) => sql.starts_with("NULL"),
            Expr::Apply(_, args) => args.iter().any(|arg| self.has_null(arg)),
        }
    }

    fn is_constant(&self, expr: &Expr) -> bool {
        match expr {
            Expr::Leaf(ty, sql) => !ty.columns().contains(sql),
            Expr::Apply(_, args) => args.iter().all(|arg| self.is_constant(arg)),
        }
    }

    pub fn ty(&self, expr: &Expr) -> Ty {
        match expr {
            Expr::Leaf(ty, _) => *ty,
            Expr::Apply(index, _) => self.templates[*index].ty,
        }
    }

    pub fn render(&self, expr: &Expr) -> String {
        match expr {
            Expr::Leaf(_, sql) => (*sql).to_owned(),
            Expr::Apply(index, args) => {
                // One pass, so that an argument's text is never read as a placeholder.
                let template = &self.templates[*index].sql;
                let mut sql = String::new();
                let mut rest = template.as_str();
                while let Some(start) = rest.find('{') {
                    let placeholder = rest[start + 1..]
                        .split_once('}')
                        .and_then(|(digits, _)| digits.parse::<usize>().ok());
                    match placeholder {
                        Some(i) => {
                            sql.push_str(&rest[..start]);
                            sql.push_str(&self.render(&args[i]));
                            rest = &rest[start + 3..];
                        }
                        None => {
                            sql.push_str(&rest[..=start]);
                            rest = &rest[start + 1..];
                        }
                    }
                }
                sql.push_str(rest);
                sql
            }
        }
    }

    /// Expressions one step simpler than `expr`: an argument of the same type in its
    /// place, or one argument simplified; the shrinker keeps the first that still fails.
    pub fn smaller(&self, expr: &Expr) -> Vec<Expr> {
        let Expr::Apply(index, args) = expr else {
            return Vec::new();
        };
        let ty = self.templates[*index].ty;
        let mut smaller: Vec<Expr> = args
            .iter()
            .filter(|arg| self.ty(arg) == ty)
            .cloned()
            .collect();
        for (i, arg) in args.iter().enumerate() {
            let arg_ty = self.ty(arg);
            let simpler = self.smaller(arg).into_iter().chain(
                arg_ty
                    .columns()
                    .iter()
                    .chain(arg_ty.literals())
                    .filter(|sql| self.usable_leaf(sql))
                    .map(|sql| Expr::Leaf(arg_ty, sql))
                    .filter(|leaf| {
                        !matches!(arg, Expr::Leaf(_, _)) || self.render(leaf) < self.render(arg)
                    }),
            );
            for replacement in simpler {
                let mut args = args.clone();
                args[i] = replacement;
                smaller.push(Expr::Apply(*index, args));
            }
        }
        smaller
    }
}
