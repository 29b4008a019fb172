"""The room's SQLite tables, and the migrations that upgrade an older file in place."""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 2  # PRAGMA user_version; raise it with a migration (MIGRATIONS) when the tables change



SCHEMA = """
CREATE TABLE talks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE digits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    talk_id INTEGER NOT NULL REFERENCES talks(id),
    created REAL NOT NULL,
    person TEXT NOT NULL,
    label INTEGER NOT NULL CHECK (label BETWEEN 0 AND 9),
    image BLOB NOT NULL CHECK (length(image) = 784),
    canvas_png BLOB NOT NULL CHECK (length(canvas_png) <= 20480),
    hidden INTEGER NOT NULL DEFAULT 0 CHECK (hidden IN (0, 1)),
    send_id TEXT
);
CREATE INDEX digits_by_talk ON digits (talk_id, hidden, id);
CREATE INDEX digits_by_person ON digits (person, talk_id, created);
CREATE TABLE verdicts (
    digit_id INTEGER NOT NULL REFERENCES digits(id),
    kind TEXT NOT NULL,
    probabilities TEXT NOT NULL,  -- JSON list of ten floats, exact (repr round-trips)
    predicted INTEGER NOT NULL CHECK (predicted BETWEEN 0 AND 9),
    model_name TEXT NOT NULL,
    model_sha256 TEXT NOT NULL,
    PRIMARY KEY (digit_id, kind)
) WITHOUT ROWID;
CREATE UNIQUE INDEX digits_by_send ON digits (person, send_id) WHERE send_id IS NOT NULL;
CREATE TABLE room_secret (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    secret BLOB NOT NULL CHECK (length(secret) = 32)
);
"""



# Version n → n + 1, run in the transaction that sets the new user_version. A file of an older
# version is upgraded in place, its digits kept.
MIGRATIONS = {
    1: """
ALTER TABLE digits ADD COLUMN send_id TEXT;
CREATE UNIQUE INDEX digits_by_send ON digits (person, send_id) WHERE send_id IS NOT NULL;
CREATE TABLE room_secret (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    secret BLOB NOT NULL CHECK (length(secret) = 32)
);
""",
}



def run_script(conn: sqlite3.Connection, script: str) -> None:
    for statement in script.split(";"):  # not executescript: it would COMMIT midway
        if statement.strip():
            conn.execute(statement)
