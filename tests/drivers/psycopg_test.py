"""psycopg 3 against the real weir binary: what Python applications do.

psycopg sends parameterized statements through the extended query protocol, prepares
statements it runs often, reads typed values in binary or text, and wraps work in
transactions. Run with WEIR_BIN pointing at the weir binary; prints one line per check
and a closing "N passed, N failed" line.
"""

import datetime
import decimal
import psycopg.types.json
import os
import socket
import subprocess
import sys
import tempfile
import time
import traceback

import psycopg


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Weir:
    def __init__(self, env=None):
        self.dir = tempfile.TemporaryDirectory()
        self.port = free_port()
        self.process = subprocess.Popen(
            [os.environ["WEIR_BIN"], "--listen", f"127.0.0.1:{self.port}", "--data-dir", self.dir.name],
            env={**os.environ, "RUST_LOG": "warn", **(env or {})},
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("weir did not start")

    def connect(self, **kwargs):
        return psycopg.connect(f"host=127.0.0.1 port={self.port} user=weir dbname=weir", **kwargs)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)
        self.dir.cleanup()


def check_parameters_and_types(weir):
    with weir.connect(autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE t (id bigint PRIMARY KEY, name text, price numeric(10,2), day date, at timestamp, ok boolean)"
        )
        rows = [
            (i, f"n{i}", decimal.Decimal(f"{i}.25"), datetime.date(2024, 1, i), datetime.datetime(2024, 1, i, 12, 30), i % 2 == 0)
            for i in range(1, 6)
        ]
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO t VALUES (%s, %s, %s, %s, %s, %s)", rows)
            cur.execute("SELECT * FROM t WHERE id >= %s ORDER BY id", (4,))
            got = cur.fetchall()
        assert got == rows[3:], got


def check_binary_results(weir):
    with weir.connect(autocommit=True) as conn:
        conn.execute("CREATE TABLE b (id int PRIMARY KEY, score double precision, tag text)")
        conn.execute("INSERT INTO b VALUES (1, 1.5, 'x'), (2, 2.5, NULL)")
        with conn.cursor(binary=True) as cur:
            cur.execute("SELECT id, score, tag FROM b ORDER BY id")
            assert cur.fetchall() == [(1, 1.5, "x"), (2, 2.5, None)]


def check_jsonb_and_column_names(weir):
    with weir.connect(autocommit=True) as conn:
        conn.execute("CREATE TABLE j (id int PRIMARY KEY, doc jsonb)")
        doc = {"b": [1, "x"], "a": None, "n": 1.5}
        conn.execute("INSERT INTO j VALUES (%s, %s)", (1, psycopg.types.json.Jsonb(doc)))
        for binary in (False, True):
            with conn.cursor(binary=binary) as cur:
                cur.execute("SELECT doc, doc -> 'b', doc ->> 'n', count(*) FROM j GROUP BY doc")
                assert cur.fetchall() == [(doc, [1, "x"], "1.5", 1)], binary
                assert cur.description[0].type_code == 3802, cur.description[0]
                assert cur.description[3].name == "count", cur.description[3]


def check_bytea(weir):
    with weir.connect(autocommit=True) as conn:
        conn.execute("CREATE TABLE blobs (id int PRIMARY KEY, data bytea)")
        payload = bytes(range(256))
        conn.execute("INSERT INTO blobs VALUES (%s, %s)", (1, payload))
        with conn.cursor() as cur:
            with cur.copy("COPY blobs FROM STDIN") as copy:
                copy.write_row((2, b"\x00\\x"))
        for binary in (False, True):
            with conn.cursor(binary=binary) as cur:
                cur.execute("SELECT id, data FROM blobs ORDER BY id")
                assert cur.fetchall() == [(1, payload), (2, b"\x00\\x")], binary


def check_prepared_statements(weir):
    with weir.connect(autocommit=True, prepare_threshold=0) as conn:
        conn.execute("CREATE TABLE p (id int PRIMARY KEY, v int)")
        for i in range(20):
            conn.execute("INSERT INTO p VALUES (%s, %s)", (i, i * i))
        for i in range(20):
            assert conn.execute("SELECT v FROM p WHERE id = %s", (i,)).fetchone() == (i * i,)


def check_transactions_and_errors(weir):
    with weir.connect() as conn:
        conn.execute("CREATE TABLE x (id int PRIMARY KEY)")
        conn.commit()
        with conn.transaction():
            conn.execute("INSERT INTO x VALUES (1)")
        try:
            with conn.transaction():
                conn.execute("INSERT INTO x VALUES (1)")
            raise AssertionError("duplicate key accepted")
        except psycopg.errors.UniqueViolation:
            pass
        assert conn.execute("SELECT count(*) FROM x").fetchone() == (1,)
        try:
            conn.execute("SELECT * FROM nowhere")
            raise AssertionError("missing table accepted")
        except psycopg.errors.UndefinedTable:
            conn.rollback()
        assert conn.execute("SELECT 1").fetchone() == (1,)


def check_password_logins(_weir):
    """100 SCRAM logins on a server of its own, with a wrong password before every tenth."""
    weir = Weir(env={"WEIR_PASSWORD": "py-s3cret"})
    try:
        for attempt in range(100):
            if attempt % 10 == 0:
                try:
                    weir.connect(password="wrong").close()
                    raise AssertionError("a wrong password was accepted")
                except psycopg.OperationalError as error:
                    assert "password authentication failed" in str(error).lower(), error
            with weir.connect(password="py-s3cret") as conn:
                assert conn.execute("SELECT 2 + 2").fetchone() == (4,)
    finally:
        weir.stop()


def main():
    weir = Weir()
    passed = failed = 0
    try:
        for name, check in sorted((n, f) for n, f in globals().items() if n.startswith("check_")):
            try:
                check(weir)
                print(f"test {name} ... ok")
                passed += 1
            except Exception:
                print(f"test {name} ... FAILED")
                traceback.print_exc()
                failed += 1
    finally:
        weir.stop()
    print(f"psycopg: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
