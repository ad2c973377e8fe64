#!/usr/bin/env python3
"""The hostile-client fuzzer: random and mutated SQL, and malformed protocol messages,
sent to a real weir over raw sockets (nothing but the standard library).

    python3 scripts/fuzz.py [--cases N] [--seed S] [--weir PATH]

It starts its own weir on a fresh data directory, creates tables of every supported type
and materialized views over them, then runs N cases (default 10,000) of four kinds:

* random SQL from a small grammar: expressions over typed columns and literals, casts,
  functions, queries with joins, grouping, ordering and limits, DML and view DDL;
* mutated SQL: statements of the grammar and a seed corpus with characters, tokens and
  bytes deleted, repeated, swapped or replaced, cut short, nested deep, or huge numbers;
* malformed messages after login: every message type with random, truncated or
  oversized bodies, and extended-protocol sequences out of order;
* malformed start-up packets.

It counts what must never happen and prints each case that did it:

* crashes: the weir process exited (it is started again, and the fuzzing goes on);
* panics: "panicked at" in weir's log (even a caught panic is a bug);
* hangs: no answer within 10 s;
* dropped connections: a connection closed without an error message to say why;
* internal errors: an ErrorResponse with SQLSTATE XX000 (a user must never cause one).

The exit status is 0 only if every count is zero. The cases are deterministic for a seed.
"""

import argparse
import os
import random
import select
import socket
import struct
import subprocess
import sys
import tempfile
import time

ANSWER_TIMEOUT = 10.0
# How long a malformed message's connection is given to answer (see Fuzzer.run_raw).
RAW_TIMEOUT = 1.0
PROTOCOL_VERSION = 196608


def message(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("!I", len(body) + 4) + body


def startup_packet(user="weir", database="weir") -> bytes:
    parameters = b"user\0" + user.encode() + b"\0database\0" + database.encode() + b"\0\0"
    body = struct.pack("!I", PROTOCOL_VERSION) + parameters
    return struct.pack("!I", len(body) + 4) + body


def error_fields(body: bytes) -> dict:
    fields = {}
    for part in body.split(b"\0"):
        if part:
            fields[chr(part[0])] = part[1:].decode("utf-8", "replace")
    return fields


class Hang(Exception):
    pass


class Closed(Exception):
    pass


class Connection:
    """One client connection speaking the protocol by hand."""

    def __init__(self, port: int):
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=ANSWER_TIMEOUT)
        self.buffer = b""
        self.errors = []

    def send(self, data: bytes):
        self.socket.sendall(data)

    def read_message(self, timeout=ANSWER_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buffer) >= 5:
                length = struct.unpack("!I", self.buffer[1:5])[0]
                if len(self.buffer) >= 1 + length:
                    kind, body = self.buffer[:1], self.buffer[5 : 1 + length]
                    self.buffer = self.buffer[1 + length :]
                    if kind == b"E":
                        self.errors.append(error_fields(body))
                    return kind, body
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Hang()
            ready, _, _ = select.select([self.socket], [], [], remaining)
            if not ready:
                raise Hang()
            try:
                data = self.socket.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                data = b""
            if not data:
                raise Closed()
            self.buffer += data

    def until_ready(self) -> bytes:
        """Reads up to ReadyForQuery; returns its transaction status (I, T or E)."""
        while True:
            kind, body = self.read_message()
            if kind == b"Z":
                return body[:1]

    def login(self):
        self.send(startup_packet())
        self.until_ready()

    def close(self):
        try:
            self.send(message(b"X", b""))
        except OSError:
            pass
        self.socket.close()


class Weir:
    """The weir process under test, with its log."""

    def __init__(self, binary: str, workdir: str):
        self.binary = binary
        self.workdir = workdir
        self.data_dir = os.path.join(workdir, "data")
        self.log_path = os.path.join(workdir, "weir.log")
        self.process = None
        self.port = None
        self.starts = 0

    def start(self):
        address_file = os.path.join(self.workdir, "address")
        if os.path.exists(address_file):
            os.remove(address_file)
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [self.binary, "--listen", "127.0.0.1:0", "--address-file", address_file,
             "--data-dir", self.data_dir],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL,
            env={**os.environ, "RUST_LOG": "warn", "RUST_BACKTRACE": "0"},
        )
        deadline = time.monotonic() + 120
        while not os.path.exists(address_file):
            if self.process.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"weir did not start; see {self.log_path}")
            time.sleep(0.05)
        self.port = int(open(address_file).read().strip().rsplit(":", 1)[1])
        self.starts += 1

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self):
        if self.process and self.alive():
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def panics(self) -> list:
        with open(self.log_path, "rb") as log:
            lines = log.read().decode("utf-8", "replace").splitlines()
        return [line for line in lines if "panicked at" in line]


SCHEMA = [
    "CREATE TABLE nums (id int PRIMARY KEY, i int, b bigint, s smallint, n numeric(10,2), "
    "f double precision, r real)",
    "CREATE TABLE texts (id int PRIMARY KEY, t text, v varchar(8), by bytea, bo boolean, j jsonb)",
    "CREATE TABLE times (id int PRIMARY KEY, d date, ts timestamp, tz timestamptz, "
    "iv interval, tm time)",
    "INSERT INTO nums VALUES (1, 1, 10, 1, 1.50, 0.5, 2.5), (2, -7, 9223372036854775807, "
    "32767, 99999999.99, -0.0, 'NaN'), (3, NULL, NULL, NULL, NULL, 'Infinity', NULL), "
    "(4, 2147483647, -9223372036854775808, -32768, -0.01, 1e300, 1e-30)",
    "INSERT INTO texts VALUES (1, 'a', 'abc', '\\x00ff', true, '{\"a\": [1, 2]}'), "
    "(2, '', 'x', '', false, '[]'), (3, NULL, NULL, NULL, NULL, NULL), "
    "(4, 'ünïcode ☃', 'bb', '\\xdeadbeef', true, '{\"k\": {\"n\": null}}')",
    "INSERT INTO times VALUES (1, '2024-02-29', '2024-05-01 10:00:00', "
    "'2024-03-31 01:30:00+00', '1 day 2 hours', '23:59:59'), (2, '1970-01-01', "
    "'1999-12-31 23:59:59.999999', '2000-01-01 00:00:00+05', '-3 hours', '00:00:00'), "
    "(3, NULL, NULL, NULL, NULL, NULL)",
    "CREATE MATERIALIZED VIEW num_totals AS SELECT i % 3 AS g, count(*) AS c, sum(b) AS s "
    "FROM nums GROUP BY i % 3",
    "CREATE MATERIALIZED VIEW joined AS SELECT n.id, n.i, t.t FROM nums n JOIN texts t "
    "ON n.id = t.id",
    "CREATE MATERIALIZED VIEW top_times AS SELECT id, ts FROM times ORDER BY ts DESC LIMIT 2",
]

COLUMNS = {
    "nums": ["id", "i", "b", "s", "n", "f", "r"],
    "texts": ["id", "t", "v", "by", "bo", "j"],
    "times": ["id", "d", "ts", "tz", "iv", "tm"],
    "num_totals": ["g", "c", "s"],
    "joined": ["id", "i", "t"],
    "top_times": ["id", "ts"],
}
TABLES = ["nums", "texts", "times"]

LITERALS = [
    "0", "1", "-1", "2147483647", "-2147483648", "9223372036854775807",
    "-9223372036854775808", "99999999999999999999999", "0.1", "1e308", "-1e-308",
    "'NaN'", "'Infinity'", "NULL", "true", "false", "''", "'a'", "'abc'", "'2024-01-01'",
    "'2024-01-01 10:00'", "'1 day'", "'{}'", "'[1,2]'", "'\\x00'", "E'\\\\'", "'ü'",
    "DATE '2024-02-29'", "TIMESTAMP '2022-08-10 12:31:22.07'", "INTERVAL '7 days'",
    "ARRAY[1, 2, 3]", "'{\"a\": 1}'::jsonb",
]
TYPES = [
    "int", "bigint", "smallint", "numeric", "numeric(5,2)", "real", "double precision",
    "text", "varchar(3)", "bytea", "boolean", "date", "time", "timestamp", "timestamptz",
    "interval", "jsonb", "int[]", "text[]",
]
BINARY = ["+", "-", "*", "/", "%", "||", "=", "<>", "<", ">=", "AND", "OR", "->", "->>",
          "#>>", "LIKE", "IS DISTINCT FROM"]
FUNCTIONS = [
    "abs", "length", "lower", "upper", "coalesce", "nullif", "greatest", "least", "round",
    "floor", "ceil", "sqrt", "ln", "exp", "power", "mod", "substr", "replace", "repeat",
    "lpad", "md5", "to_char", "date_trunc", "extract", "age", "now", "jsonb_typeof",
    "array_length", "unnest", "generate_series", "sum", "count", "avg", "min", "max",
    "string_agg", "row_number", "pg_typeof", "version", "current_setting",
]


class Grammar:
    def __init__(self, rng: random.Random):
        self.rng = rng

    def pick(self, items):
        return self.rng.choice(items)

    def expression(self, columns, depth=0) -> str:
        roll = self.rng.random()
        if depth > 3 or roll < 0.3:
            return self.pick(columns + LITERALS) if columns else self.pick(LITERALS)
        if roll < 0.5:
            left = self.expression(columns, depth + 1)
            right = self.expression(columns, depth + 1)
            return f"({left} {self.pick(BINARY)} {right})"
        if roll < 0.65:
            return f"CAST({self.expression(columns, depth + 1)} AS {self.pick(TYPES)})"
        if roll < 0.75:
            return f"{self.expression(columns, depth + 1)}::{self.pick(TYPES)}"
        if roll < 0.85:
            condition = self.expression(columns, depth + 1)
            return (f"CASE WHEN {condition} THEN {self.expression(columns, depth + 1)} "
                    f"ELSE {self.expression(columns, depth + 1)} END")
        arguments = ", ".join(
            self.expression(columns, depth + 1) for _ in range(self.rng.randint(0, 3))
        )
        return f"{self.pick(FUNCTIONS)}({arguments})"

    def query(self) -> str:
        table = self.pick(list(COLUMNS))
        columns = COLUMNS[table]
        items = ", ".join(self.expression(columns) for _ in range(self.rng.randint(1, 3)))
        sql = f"SELECT {items} FROM {table}"
        roll = self.rng.random()
        if roll < 0.25:
            other = self.pick(TABLES)
            sql = (f"SELECT {items} FROM {table} JOIN {other} o ON "
                   f"{self.pick(columns)} = o.{self.pick(COLUMNS[other])}")
        if self.rng.random() < 0.4:
            sql += f" WHERE {self.expression(columns)}"
        if self.rng.random() < 0.3:
            sql += f" GROUP BY {self.pick(columns)}"
        if self.rng.random() < 0.3:
            sql += f" ORDER BY {self.rng.randint(1, 2)} {self.pick(['ASC', 'DESC', ''])}"
        if self.rng.random() < 0.3:
            sql += f" LIMIT {self.pick(['0', '1', '3', '-1', 'ALL', '9223372036854775807'])}"
        if self.rng.random() < 0.1:
            sql = f"WITH w AS ({sql}) SELECT * FROM w"
        if self.rng.random() < 0.1:
            sql = f"{sql} UNION ALL {sql}"
        return sql

    def statement(self) -> str:
        roll = self.rng.random()
        if roll < 0.6:
            return self.query()
        if roll < 0.7:
            return "SELECT " + self.expression([])
        table = self.pick(TABLES)
        columns = COLUMNS[table]
        values = ", ".join(self.expression([]) for _ in columns)
        if roll < 0.8:
            return f"INSERT INTO {table} VALUES ({values})"
        if roll < 0.87:
            return (f"UPDATE {table} SET {self.pick(columns[1:])} = {self.expression(columns)} "
                    f"WHERE {self.expression(columns)}")
        if roll < 0.92:
            return f"DELETE FROM {table} WHERE {self.expression(columns)}"
        if roll < 0.97:
            name = f"fv{self.rng.randint(0, 4)}"
            return self.pick([
                f"CREATE MATERIALIZED VIEW {name} AS {self.query()}",
                f"CREATE VIEW {name} AS {self.query()}",
                f"DROP MATERIALIZED VIEW IF EXISTS {name} CASCADE",
                f"DROP VIEW IF EXISTS {name}",
            ])
        return self.pick([
            "BEGIN", "COMMIT", "ROLLBACK", "FLUSH", "SHOW ALL", "SET implicit_flush = off",
            "SET implicit_flush = on", "SET TimeZone = 'America/New_York'", "RESET ALL",
            "SHOW MATERIALIZED VIEWS", "SELECT * FROM weir_catalog.view_errors",
            "EXPLAIN " + self.query(), "DISCARD ALL",
        ])


SEED_CORPUS = [
    "SELECT 1", "SELECT * FROM nums WHERE i > 0 ORDER BY id", "INSERT INTO nums VALUES (9, 1)",
    "CREATE TABLE z (a int)", "SELECT count(*) FROM nums n, texts t WHERE n.id = t.id",
    "SELECT generate_series(1, 3)", "SELECT repeat('x', 10)", "COPY nums TO STDOUT",
    "SELECT $1", "PREPARE p AS SELECT 1", "SELECT 'a' || 'b' FROM texts",
    "SELECT timestamp '2022-08-10 12:31:22.07' - timestamp '2022-07-19 12:31:23.07'",
]


def mutate(rng: random.Random, sql: str) -> str:
    text = list(sql)
    for _ in range(rng.randint(1, 4)):
        roll = rng.random()
        position = rng.randint(0, max(len(text) - 1, 0))
        if roll < 0.2 and text:
            del text[position]
        elif roll < 0.35:
            text.insert(position, rng.choice("()',;:$\\\"*%[]{}-+/\0\x7f\u00e9\u2603\ud7ff"))
        elif roll < 0.45 and text:
            text[position] = chr(rng.randint(1, 0x2FFF))
        elif roll < 0.55:
            text = text[:position]
        elif roll < 0.65:
            piece = text[position : position + rng.randint(1, 20)]
            text[position:position] = piece * rng.randint(2, 50)
        elif roll < 0.72:
            text[position:position] = list(" " + rng.choice(
                ["(" * 300, "NOT " * 200, "- " * 300, "9" * 400, "'" + "x" * 5000 + "'",
                 "abs(" * 40, "CAST(" * 40, "coalesce(1, " * 40]))
        elif roll < 0.8:
            text[position:position] = list(" " + rng.choice(LITERALS) + " ")
        elif roll < 0.9:
            text[position:position] = list(rng.choice(
                [" UNION ", " JOIN nums ", " WHERE ", " GROUP BY 1 ", " ORDER BY ", " ; ",
                 " LIMIT ", " OVER () ", " FILTER (WHERE true) ", " ::int "]))
        elif len(text) > 1:
            other = rng.randint(0, len(text) - 1)
            text[position], text[other] = text[other], text[position]
    return "".join(text)


MESSAGE_TYPES = b"BCDEFHPQSXcdfpH"


def random_message(rng: random.Random) -> bytes:
    kind = bytes([rng.choice(MESSAGE_TYPES + bytes([rng.randint(0, 255)]))])
    roll = rng.random()
    body = bytes(rng.randint(0, 255) for _ in range(rng.randint(0, 40)))
    if roll < 0.3:
        return message(kind, body)
    if roll < 0.5:
        # A length that does not match the body: too short, too long, negative, huge.
        length = rng.choice([0, 1, 3, len(body) + 2, len(body) + 100, 0x7FFFFFFF, 0xFFFFFFFF])
        return kind + struct.pack("!I", length) + body
    if roll < 0.7:
        # Well-formed bodies of the extended protocol, cut short or with bad counts.
        name = b"s" + bytes([rng.randint(48, 57)]) + b"\0"
        parse = name + b"SELECT $1::int\0" + struct.pack("!h", rng.choice([0, 1, -1, 300]))
        bind = (b"\0" + name + struct.pack("!h", rng.choice([0, 1, 2, -5]))
                + struct.pack("!h", 1) + struct.pack("!i", rng.choice([-1, 3, 4, 1000]))
                + b"\0\0\0\x01")
        whole = rng.choice([message(b"P", parse), message(b"B", bind),
                            message(b"E", b"\0" + struct.pack("!i", rng.choice([0, -1]))),
                            message(b"D", b"S" + name), message(b"C", b"P\0")])
        return whole[: rng.randint(1, len(whole))] if rng.random() < 0.5 else whole
    if roll < 0.85:
        sequence = [message(b"P", b"\0SELECT 1\0\0\0"), message(b"B", b"\0\0\0\0\0\0\0\0"),
                    message(b"E", b"\0\0\0\0\0"), message(b"S", b""), message(b"H", b""),
                    message(b"d", b"1\t2\n"), message(b"c", b""), message(b"f", b"no\0")]
        rng.shuffle(sequence)
        return b"".join(sequence[: rng.randint(1, len(sequence))])
    # A simple query whose text is not valid UTF-8 or lacks its terminator.
    return message(b"Q", rng.choice([b"SELECT 1", b"SELECT '\xff\xfe'\0", b"\0", b"SEL\x00ECT 1\0"]))


def random_startup(rng: random.Random) -> bytes:
    packet = bytearray(startup_packet())
    roll = rng.random()
    if roll < 0.3:
        packet[rng.randint(0, len(packet) - 1)] = rng.randint(0, 255)
    elif roll < 0.5:
        packet = packet[: rng.randint(0, len(packet))]
    elif roll < 0.7:
        packet[0:4] = struct.pack("!I", rng.choice([0, 4, 7, 8, 10001, 0xFFFFFFFF]))
    elif roll < 0.85:
        version = rng.choice([80877103, 80877104, 80877102, 131072, 196609, 0])
        packet[4:8] = struct.pack("!I", version)
    else:
        packet = bytearray(bytes(rng.randint(0, 255) for _ in range(rng.randint(1, 64))))
    return bytes(packet)


class Fuzzer:
    def __init__(self, weir: Weir, rng: random.Random):
        self.weir = weir
        self.rng = rng
        self.grammar = Grammar(rng)
        self.counts = {"crashes": 0, "panics": 0, "hangs": 0, "dropped connections": 0,
                       "internal errors": 0}
        self.session = None
        self.error_codes = {}

    def report(self, what: str, case: str):
        self.counts[what] += 1
        shown = case if len(case) < 300 else case[:300] + f"... ({len(case)} characters)"
        print(f"{what}: {shown!r}", flush=True)

    def sql_session(self) -> Connection:
        if self.session is None:
            self.session = Connection(self.weir.port)
            self.session.login()
            self.session.send(message(b"Q", b"SET statement_timeout = '5s'\0"))
            self.session.until_ready()
        return self.session

    def check_errors(self, connection: Connection, case: str):
        for error in connection.errors:
            code = error.get("C", "")
            self.error_codes[code] = self.error_codes.get(code, 0) + 1
            if code == "XX000":
                self.report("internal errors", f"{case} -> {error.get('M')}")
        connection.errors.clear()

    def run_sql(self, sql: str):
        connection = self.sql_session()
        try:
            connection.send(message(b"Q", sql.encode("utf-8", "surrogatepass") + b"\0"))
            if connection.until_ready() == b"E":
                # A failed transaction block would refuse every later case.
                connection.send(message(b"Q", b"ROLLBACK\0"))
                connection.until_ready()
        except Hang:
            self.report("hangs", sql)
            self.session = None
        except Closed:
            # A FATAL error before the close says why; a close without one is a drop.
            fatal = any(error.get("S") == "FATAL" for error in connection.errors)
            if not fatal:
                self.report("dropped connections", sql)
            self.session = None
        self.check_errors(connection, sql)
        if self.session is None:
            connection.socket.close()

    def run_raw(self, data: bytes, login: bool):
        """Sends `data` (after logging in, or as the start-up packet), then a Sync and a
        query. The server must answer the query, or close the connection after a FATAL
        error saying why (a Terminate may close it without one). It may also wait for the
        rest of a message whose length promises more bytes, as PostgreSQL does: that is
        not a hang of the server, which the next SQL case checks is still serving."""
        case = f"{'after login' if login else 'at start-up'}: {data[:120]!r}"
        connection = Connection(self.weir.port)
        connection.socket.settimeout(RAW_TIMEOUT)
        try:
            if login:
                connection.login()
            connection.send(data)
            if login:
                connection.send(message(b"S", b"") + message(b"Q", b"SELECT 1\0"))
            kinds = []
            while not (b"D" in kinds and kinds[-1] == b"Z"):
                kind, _ = connection.read_message(RAW_TIMEOUT)
                kinds.append(kind)
        except (Hang, OSError):
            pass
        except Closed:
            said_why = any(error.get("S") == "FATAL" for error in connection.errors)
            if login and not said_why and not data.startswith(b"X"):
                self.report("dropped connections", case)
        self.check_errors(connection, case)
        connection.socket.close()

    def case(self, index: int):
        roll = self.rng.random()
        if roll < 0.45:
            self.run_sql(self.grammar.statement())
        elif roll < 0.8:
            seed = self.rng.choice(SEED_CORPUS + [self.grammar.statement()])
            self.run_sql(mutate(self.rng, seed))
        elif roll < 0.95:
            self.run_raw(random_message(self.rng), login=True)
        else:
            self.run_raw(random_startup(self.rng), login=False)
        if not self.weir.alive():
            self.report("crashes", f"case {index}")
            self.session = None
            self.weir.start()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/weir/target"))
    parser.add_argument("--weir", default=os.path.join(target, "release", "weir"))
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="weir-fuzz-")
    weir = Weir(args.weir, workdir)
    weir.start()
    setup = Connection(weir.port)
    setup.login()
    for statement in SCHEMA:
        setup.send(message(b"Q", statement.encode() + b"\0"))
        setup.until_ready()
        if setup.errors:
            sys.exit(f"setting up failed: {statement}: {setup.errors}")
    setup.close()

    fuzzer = Fuzzer(weir, random.Random(args.seed))
    started = time.monotonic()
    for index in range(args.cases):
        fuzzer.case(index)
        if (index + 1) % 1000 == 0:
            print(f"{index + 1} cases in {time.monotonic() - started:.0f} s", flush=True)
    weir.stop()
    for line in weir.panics():
        fuzzer.report("panics", line)
    print(f"\n{args.cases} cases (seed {args.seed}) in {time.monotonic() - started:.0f} s; "
          f"weir started {weir.starts} time(s); log: {weir.log_path}")
    print("errors answered, by SQLSTATE:", dict(sorted(fuzzer.error_codes.items())))
    for what, count in fuzzer.counts.items():
        print(f"{what}: {count}")
    sys.exit(1 if any(fuzzer.counts.values()) else 0)


if __name__ == "__main__":
    main()
