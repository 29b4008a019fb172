"""The store for a talk room's digits: every digit a phone sends, kept in SQLite or PostgreSQL.

One interface whatever the database (`database` holds what differs): the pages use `CrowdStore`'s
methods and never write SQL. A digit is committed (and on disk) before `add_digit` returns, so a
phone is only told "it arrived" about a digit that a killed and restarted server still has.
Hidden digits are kept but never shown, scored or exported.

Rate limits (one digit per `MIN_SECONDS_BETWEEN_DIGITS` and `MAX_DIGITS_PER_PERSON` per person per
talk) are checked inside the writing transaction, so two tabs of one phone (or two replicas)
cannot race past them. What a browser sends is checked first (`inputs`); the scores and exports
a store reads are in `statistics` and `export`, the tables in `schema`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Callable, Iterable, Mapping

import numpy as np

from mnist_core.talk import database
from mnist_core.talk.database import CrowdStoreError
from mnist_core.talk.export import RoomExport
from mnist_core.talk.inputs import (
    CrowdInputError,
    check_image,
    check_label,
    check_png,
    check_send_id,
    check_title,
    check_token,
    check_verdicts,
)
from mnist_core.talk.records import Digit, Talk
from mnist_core.talk.statistics import RoomStatistics, Tally

__all__ = ["CrowdStore", "CrowdStoreError", "CrowdInputError", "RateLimited", "default_location"]

MIN_SECONDS_BETWEEN_DIGITS = 3.0  # per person: a room sends drawings, not a stream of taps
MAX_DIGITS_PER_PERSON = 30  # per person per talk: enough to play, too few to flood the wall


class RateLimited(Exception):
    """A person sends too fast or too much; the message is friendly and shown to them as is."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after  # seconds until the next digit is accepted; None = not in this talk


def default_location() -> "str | Path":
    """MNIST_CROWD_DB if set (a file path, or a postgresql:// URL), else `crowd.sqlite3` in the
    per-user *data* directory."""
    configured = os.environ.get("MNIST_CROWD_DB", "").strip()
    if database.is_url(configured):
        return configured
    if configured:
        return Path(configured).expanduser()
    # Not beside MNIST in ~/.cache/mnist-ann-vs-cnn (mnist_core.data.mnist.default_data_dir): everything
    # there can be fetched or computed again, and clearing ~/.cache is routine; a room's digits
    # cannot be redrawn. So the same folder name, under XDG's data home.
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "mnist-ann-vs-cnn" / "crowd.sqlite3"


class CrowdStore(RoomStatistics, RoomExport):
    """A room's digits in one database, safe for many threads and processes (and, on PostgreSQL,
    hosts). `location`: a file path (SQLite) or a postgresql:// URL; default `default_location()`.

    Durability: SQLite with `synchronous=FULL`, so a committed digit is in the WAL file and
    fsynced before `add_digit` returns (a killed *process* loses nothing in WAL mode even with
    NORMAL; FULL also keeps the last digits through a power cut, which a laptop on stage can
    have; measured here it costs 0.3–0.5 ms a digit). PostgreSQL with its defaults (fsync,
    synchronous_commit on) does the same.

    Threads: one connection per store and process, used under a lock. Streamlit starts a new
    script thread for every full rerun, so a connection per thread would be opened and closed on
    nearly every run. Writers are serialised by the database anyway and a read of a wall's tiles
    takes about a millisecond, so the lock costs little. A connection that breaks (PostgreSQL
    restarted) is dropped, its transaction fails with CrowdStoreError, and the next call connects
    again.
    """

    def __init__(self, location: "str | os.PathLike | None" = None, clock: Callable[[], float] = time.time):
        self.database = database.open_database(location if location is not None else default_location())
        self.location = self.database.location  # safe to print: no password
        self._clock = clock  # injectable: tests move time instead of sleeping
        self._lock = threading.RLock()
        self._tallies: dict[int, Tally] = {}  # talk id → its scores so far (see _tally)
        self._conn = None
        self._pid = None
        with self._lock:
            self._connection()

    @property
    def url(self) -> str:
        """Where other processes (the judging workers) open the same database."""
        return getattr(self.database, "url", self.location)

    # -- connection

    def _connection(self):
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        self._conn = None  # a connection inherited through fork() must not be used in the child
        self._conn, self._pid = self.database.connect(), os.getpid()
        return self._conn

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and self._pid == os.getpid():
            with contextlib.suppress(Exception):
                conn.close()

    @contextlib.contextmanager
    def _transaction(self, immediate: bool = False):
        """One transaction under the store's lock. `immediate`: a writer, which holds the
        database's write lock from BEGIN, so what it reads (rate limits, the newest talk) is still
        true when it commits. A database that stops answering ends in CrowdStoreError."""
        unavailable = self.database.unavailable
        with self._lock:
            try:
                conn = self._connection()
                self.database.begin(conn, write=immediate)
            except unavailable as exc:
                self._drop_connection()
                raise CrowdStoreError(self.database.unavailable_message(exc)) from None
            try:
                yield conn
            except unavailable as exc:
                self._drop_connection()
                raise CrowdStoreError(self.database.unavailable_message(exc)) from None
            except BaseException:
                try:
                    conn.execute("ROLLBACK")
                except unavailable:
                    self._drop_connection()
                raise
            try:
                conn.execute("COMMIT")
            except unavailable as exc:  # committed or not: a retry with the same send id finds out
                self._drop_connection()
                raise CrowdStoreError(self.database.unavailable_message(exc)) from None

    def close(self) -> None:
        with self._lock:
            self._drop_connection()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- talks

    def current_talk(self) -> int:
        """The newest talk's id; the first talk is created on first use."""
        with self._transaction() as conn:  # the usual case: a read, which never waits for writers
            row = conn.execute("SELECT max(id) FROM talks").fetchone()
        if row[0] is not None:
            return int(row[0])
        with self._transaction(immediate=True) as conn:  # two sessions at once create one talk
            row = conn.execute("SELECT max(id) FROM talks").fetchone()
            if row[0] is not None:
                return int(row[0])
            return self._insert_talk(conn, None)

    def new_talk(self, title: str | None = None) -> int:
        """Start an empty wall; earlier talks and their digits are kept."""
        title = check_title(title)
        with self._transaction(immediate=True) as conn:
            return self._insert_talk(conn, title)

    def _insert_talk(self, conn: object, title: str | None) -> int:
        now = self._clock()
        if title is None:
            title = "Talk of " + _dt.datetime.fromtimestamp(now).strftime("%Y-%m-%d %H:%M")
        return int(conn.execute("INSERT INTO talks (title, created) VALUES (?, ?) RETURNING id", (title, now)).fetchone()[0])

    def talks(self) -> list[Talk]:
        """Every talk, newest first, with its visible and hidden digit counts."""
        with self._transaction() as conn:
            rows = conn.execute(
                "SELECT t.id, t.title, t.created,"
                " (SELECT count(*) FROM digits d WHERE d.talk_id = t.id AND d.hidden = 0),"
                " (SELECT count(*) FROM digits d WHERE d.talk_id = t.id AND d.hidden = 1)"
                " FROM talks t ORDER BY t.id DESC").fetchall()
        return [Talk(int(i), title, float(created), int(n), int(h)) for i, title, created, n, h in rows]

    def talk(self, talk_id: int) -> Talk:
        for talk in self.talks():
            if talk.id == talk_id:
                return talk
        raise CrowdInputError(f"There is no talk {talk_id!r} in {self.location}; `python -m mnist_core crowd talks` lists them.")

    # -- writing digits

    def add_digit(self, talk_id: int, person_token: str, label: int, image28, canvas_png: bytes,
                  probabilities: Mapping[str, Iterable[float]],
                  model_files: Mapping[str, tuple[str, str]], send_id: str | None = None) -> int:
        """Store one digit and return its id once it is committed and on disk: only then may the
        phone be told it arrived. Raises CrowdInputError (nothing stored) or RateLimited.

        `send_id` (made on the phone, one per Send): a second call with the same person and
        send_id stores nothing and returns the first digit's id, before any limit is checked, so
        a retry after a dropped connection is answered, never counted twice."""
        person = check_token(person_token)
        send_id = check_send_id(send_id)
        label = check_label(label)
        image = check_image(image28)
        png = check_png(canvas_png)
        verdicts = check_verdicts(probabilities, model_files)
        try:
            with self._transaction(immediate=True) as conn:
                if send_id is not None:
                    first = self._sent(conn, person, send_id)
                    if first is not None:
                        return first
                if conn.execute("SELECT 1 FROM talks WHERE id = ?", (int(talk_id),)).fetchone() is None:
                    raise CrowdInputError(f"There is no talk {talk_id!r}; reload the page to join the current talk.")
                now = self._clock()
                self._check_limits(conn, int(talk_id), person, now)
                digit_id = int(conn.execute(
                    "INSERT INTO digits (talk_id, created, person, label, image, canvas_png, send_id)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    (int(talk_id), now, person, label, image, png, send_id)).fetchone()[0])
                conn.executemany(
                    "INSERT INTO verdicts (digit_id, kind, probabilities, predicted, model_name, model_sha256)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    [(digit_id, kind, probs, int(np.argmax(json.loads(probs))), name, sha)
                     for kind, probs, name, sha in verdicts])
        except CrowdStoreError as exc:  # locked past the busy timeout, disk full, PostgreSQL restarting …
            raise CrowdStoreError(f"The digit was not stored ({exc}); try Send again.") from None
        return digit_id

    @staticmethod
    def _sent(conn: object, person: str, send_id: str) -> int | None:
        row = conn.execute("SELECT id FROM digits WHERE person = ? AND send_id = ?", (person, send_id)).fetchone()
        return None if row is None else int(row[0])

    def _check_limits(self, conn: object, talk_id: int, person: str, now: float) -> None:
        sent, last = conn.execute(
            "SELECT count(*), max(created) FROM digits WHERE person = ? AND talk_id = ?", (person, talk_id)).fetchone()
        if sent >= MAX_DIGITS_PER_PERSON:
            raise RateLimited(f"You have sent {sent} digits, the most for one talk: thank you!")
        if last is not None and now - last < MIN_SECONDS_BETWEEN_DIGITS:
            wait = min(MIN_SECONDS_BETWEEN_DIGITS, last + MIN_SECONDS_BETWEEN_DIGITS - now)
            raise RateLimited(f"You can send another digit in {max(1, math.ceil(wait))} s.", retry_after=wait)

    def sent_digit(self, person_token: str, send_id: str) -> Digit | None:
        """The digit this person stored with this send_id, if any (a retry is answered with it)."""
        person, send_id = check_token(person_token), check_send_id(send_id)
        with self._transaction() as conn:
            digit_id = self._sent(conn, person, send_id)
            return None if digit_id is None else self._digits(conn, "id = ?", (digit_id,))[0]

    def check_limits(self, talk_id: int, person_token: str) -> None:
        """Raise RateLimited now if this person may not send: a read, so a refused digit is not
        judged first. add_digit checks again in its transaction, which decides."""
        with self._transaction() as conn:
            self._check_limits(conn, int(talk_id), check_token(person_token), self._clock())

    def room_secret(self) -> bytes:
        """This database's random 32-byte secret (made on first use), from which each talk's
        signing key is derived: every server process on the same database signs alike."""
        with self._transaction() as conn:
            row = conn.execute("SELECT secret FROM room_secret WHERE id = 1").fetchone()
        if row is not None:
            return bytes(row[0])
        with self._transaction(immediate=True) as conn:
            conn.execute("INSERT INTO room_secret (id, secret) VALUES (1, ?) ON CONFLICT (id) DO NOTHING",
                         (secrets.token_bytes(32),))
            return bytes(conn.execute("SELECT secret FROM room_secret WHERE id = 1").fetchone()[0])

    def hide(self, digit_id: int) -> bool:
        """Moderation: the digit is never shown, scored or exported again, but kept. True if it was visible."""
        with self._transaction(immediate=True) as conn:
            row = conn.execute("SELECT hidden FROM digits WHERE id = ?", (int(digit_id),)).fetchone()
            if row is None:
                raise CrowdInputError(f"There is no digit {digit_id!r} to hide.")
            conn.execute("UPDATE digits SET hidden = 1 WHERE id = ?", (int(digit_id),))
            return not row[0]

    # -- reading digits

    _DIGIT_COLUMNS = "id, talk_id, created, person, label, image, canvas_png, hidden"

    def _digits(self, conn: object, where: str, params: tuple, order: str = "id DESC",
                limit: int | None = None, offset: int = 0) -> list[Digit]:
        sql = f"SELECT {self._DIGIT_COLUMNS} FROM digits WHERE {where} ORDER BY {order}"
        if limit is not None:
            sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
        rows = conn.execute(sql, params).fetchall()
        verdicts: dict[int, list] = {}
        for start in range(0, len(rows), 500):  # SQLite caps the number of ? in one statement
            ids = [row[0] for row in rows[start:start + 500]]
            marks = ",".join("?" * len(ids))
            for digit_id, kind, probs, name, sha in conn.execute(
                    f"SELECT digit_id, kind, probabilities, model_name, model_sha256 FROM verdicts"
                    f" WHERE digit_id IN ({marks}) ORDER BY kind", ids):
                verdicts.setdefault(digit_id, []).append((kind, probs, name, sha))
        return [Digit(id=int(i), talk_id=int(t), created=float(c), person=p, label=int(lab),
                      image=np.frombuffer(img, np.uint8).reshape(28, 28).copy(), canvas_png=bytes(png),
                      probabilities={k: np.array(json.loads(pr), np.float64) for k, pr, _, _ in verdicts.get(i, [])},
                      model_files={k: (name, sha) for k, _, name, sha in verdicts.get(i, [])},
                      hidden=bool(h))
                for i, t, c, p, lab, img, png, h in rows]

    def digit(self, digit_id: int) -> Digit:
        """One digit by id, hidden or not (for moderation and tests)."""
        with self._transaction() as conn:
            found = self._digits(conn, "id = ?", (int(digit_id),))
        if not found:
            raise CrowdInputError(f"There is no digit {digit_id!r}.")
        return found[0]

    def latest(self, talk_id: int, limit: int = 24, offset: int = 0) -> list[Digit]:
        """The talk's newest visible digits, newest first, skipping the `offset` newest (pages of them)."""
        with self._transaction() as conn:
            return self._digits(conn, "talk_id = ? AND hidden = 0", (int(talk_id),), limit=max(0, int(limit)),
                                offset=max(0, int(offset)))

    def newer_ids(self, talk_id: int, after_id: int, limit: int = 1000) -> list[int]:
        """Ids of the talk's visible digits newer than `after_id`, newest first (what reached the
        wall since it last looked; ids only: cheap however many arrived)."""
        with self._transaction() as conn:
            return [int(r[0]) for r in conn.execute(
                "SELECT id FROM digits WHERE talk_id = ? AND hidden = 0 AND id > ? ORDER BY id DESC LIMIT ?",
                (int(talk_id), int(after_id), max(0, int(limit))))]

    def visible(self, ids: Iterable[int]) -> list[Digit]:
        """The digits of `ids` that are still visible, in the order given (a wall's tiles)."""
        ids = [int(i) for i in ids][:500]
        if not ids:
            return []
        with self._transaction() as conn:
            found = {d.id: d for d in self._digits(conn, f"hidden = 0 AND id IN ({','.join('?' * len(ids))})", tuple(ids))}
        return [found[i] for i in ids if i in found]

    def count(self, talk_id: int) -> int:
        """Visible digits of a talk ("Digits received")."""
        with self._transaction() as conn:
            return int(conn.execute("SELECT count(*) FROM digits WHERE talk_id = ? AND hidden = 0",
                                    (int(talk_id),)).fetchone()[0])

    # -- export

