"""The two databases a room's store runs on, behind one small interface: SQLite (one file in WAL
mode: a laptop, or replicas on one machine) and PostgreSQL (a server: replicas on several hosts).

`open_database(location)` picks by the location's form: a `postgresql://` URL, else a file path.
The store (`crowd.CrowdStore`) writes its SQL once, with `?` placeholders and `RETURNING id`,
which both understand; what differs (connecting, the write lock, the schema's bookkeeping and
which errors mean "not answering") is here.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from pathlib import Path

from mnist_core.talk import schema

BUSY_TIMEOUT_SECONDS = 10.0  # a writer waits this long for another (thread, process) to commit
CONNECT_TIMEOUT_SECONDS = 3  # a PostgreSQL that does not answer: the phone retries, it does not hang
URL_PREFIXES = ("postgresql://", "postgres://")


class CrowdStoreError(RuntimeError):
    """The room's database cannot be used; the message names the place and the fix."""


def is_url(location: object) -> bool:
    return isinstance(location, str) and location.startswith(URL_PREFIXES)


def open_database(location: "str | Path") -> Database:
    return PostgresDatabase(str(location)) if is_url(location) else SqliteDatabase(Path(location))


class Database:
    """What the store needs of a database: `connect()` (schema checked and made), `begin(conn,
    write)`, `unavailable` (the driver's errors that mean "not answering now"), and names to print."""

    name = "database"
    location = ""
    unavailable: tuple[type[BaseException], ...] = ()

    def _refuse_newer(self, version: int) -> None:
        if version > schema.SCHEMA_VERSION:
            raise CrowdStoreError(
                f"{self.location} was written by a newer version of this app (schema {version}, this one "
                f"reads {schema.SCHEMA_VERSION}); update the app or set MNIST_CROWD_DB to another database.")

    def unavailable_message(self, exc: BaseException) -> str:
        return f"the room's database ({self.name}, {self.location}) is not answering: {_first_line(exc)}"


class SqliteDatabase(Database):
    """One SQLite file. Writers take SQLite's write lock at BEGIN (IMMEDIATE), so what a writing
    transaction reads (the limits, the newest talk) is still true when it commits."""

    name = "SQLite"
    unavailable = (sqlite3.OperationalError,)  # locked past the busy timeout, disk full, I/O error

    def __init__(self, path: Path):
        self.path = Path(path).expanduser()
        self.location = str(self.path)

    def connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CrowdStoreError(f"Cannot create the folder for the room's database {self.path} ({exc}); "
                                "set MNIST_CROWD_DB to a writable file path.") from None
        try:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None,
                                   check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise CrowdStoreError(f"{self.path} cannot use WAL mode (journal mode {mode}); "
                                    "put MNIST_CROWD_DB on a local disk.")
            # FULL: a committed digit is fsynced before the phone is told (see CrowdStore).
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            self._ensure_schema(conn)
        except sqlite3.DatabaseError as exc:
            raise CrowdStoreError(
                f"{self.path} is not a usable room database ({exc}). Move it aside (it is kept, not "
                "deleted) or set MNIST_CROWD_DB to another file.") from None
        return conn

    @staticmethod
    def begin(conn: sqlite3.Connection, write: bool) -> None:
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")

    def _ensure_schema(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == schema.SCHEMA_VERSION:
            return
        self._refuse_newer(version)
        conn.execute("BEGIN IMMEDIATE")  # two processes opening a new file: one creates, one waits
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                    raise CrowdStoreError(f"{self.path} is an SQLite file of something else (it has tables but "
                                        "no schema version); set MNIST_CROWD_DB to another file.")
                schema.run_script(conn, schema.SQLITE_SCHEMA)
            else:
                while version < schema.SCHEMA_VERSION:
                    schema.run_script(conn, schema.SQLITE_MIGRATIONS[version])
                    version += 1
            conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


class PostgresConnection:
    """A psycopg connection that takes the store's SQL as written for SQLite (`?` placeholders)."""

    def __init__(self, raw):
        self.raw = raw

    def execute(self, sql: str, params=()):
        return self.raw.execute(sql.replace("?", "%s"), params)

    def executemany(self, sql: str, rows) -> None:
        with self.raw.cursor() as cursor:
            cursor.executemany(sql.replace("?", "%s"), rows)

    def close(self) -> None:
        self.raw.close()


class PostgresDatabase(Database):
    """A PostgreSQL database, through psycopg 3 (imported only here: a laptop's SQLite never loads it).

    Writers take one transaction-scoped advisory lock, so writes commit one at a time, as in
    SQLite: the ids of the digits then become visible in the order they were given, which the
    wall and the running scores rely on (they read "digits newer than the last id I saw"; a
    digit committed late with a smaller id would be missed). A write is a few short statements
    and one fsync, so at a hall's ~100 digits a second the lock is free most of the time."""

    name = "PostgreSQL"
    WRITE_LOCK = 0x6D6E6973  # the advisory lock the store's writers share ("mnis")
    SCHEMA_LOCK = 0x6D6E6974  # held while the tables are created or migrated

    def __init__(self, url: str):
        import psycopg

        self.url = url
        self.location = re.sub(r"://([^:@/]+):[^@/]*@", r"://\1:***@", url)  # never print a password
        self.unavailable = (psycopg.OperationalError, psycopg.InterfaceError)

    def connect(self) -> PostgresConnection:
        import psycopg

        try:
            raw = psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS,
                                  application_name="mnist-room")
        except psycopg.Error as exc:
            raise CrowdStoreError(f"The room's database {self.location} is not answering ({_first_line(exc)}); "
                                "check that PostgreSQL runs and MNIST_CROWD_DB names it.") from None
        conn = PostgresConnection(raw)
        try:
            self._ensure_schema(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def begin(self, conn: PostgresConnection, write: bool) -> None:
        conn.execute("BEGIN")
        if write:
            conn.execute("SELECT pg_advisory_xact_lock(?)", (self.WRITE_LOCK,))

    @staticmethod
    def _has_table(conn: PostgresConnection, name: str) -> bool:
        # pg_tables, not to_regclass: after waiting for the schema lock, a fresh snapshot of the
        # catalog sees what another replica just created (to_regclass may answer from a stale cache).
        return conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = ?",
                            (name,)).fetchone()[0] > 0

    def _version(self, conn: PostgresConnection) -> int | None:
        if not self._has_table(conn, "room_schema"):
            if self._has_table(conn, "talks"):
                raise CrowdStoreError(f"{self.location} holds tables of something else (a `talks` table but no "
                                    "room_schema); set MNIST_CROWD_DB to a database of its own.")
            return None
        return int(conn.execute("SELECT version FROM room_schema").fetchone()[0])

    def _ensure_schema(self, conn: PostgresConnection) -> None:
        if self._version(conn) == schema.SCHEMA_VERSION:
            return
        conn.execute("BEGIN")  # replicas starting together: one creates, the others wait and see it
        try:
            conn.execute("SELECT pg_advisory_xact_lock(?)", (self.SCHEMA_LOCK,))
            version = self._version(conn)
            self._refuse_newer(version or 0)
            if version is None:
                schema.run_script(conn, schema.POSTGRES_SCHEMA)
                conn.execute("INSERT INTO room_schema (version) VALUES (?)", (schema.SCHEMA_VERSION,))
            else:
                while version < schema.SCHEMA_VERSION:
                    schema.run_script(conn, schema.POSTGRES_MIGRATIONS[version])
                    version += 1
                conn.execute("UPDATE room_schema SET version = ?", (schema.SCHEMA_VERSION,))
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(Exception):
                conn.execute("ROLLBACK")
            raise


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
