"""The store for a talk room's digits: every digit a phone sends, kept in SQLite.

One small module, so that a server database could replace it for a bigger event: the pages use
`CrowdStore`'s methods and never write SQL. A digit is committed (and, with `synchronous=FULL`,
on disk) before `add_digit` returns, so a phone is only told "it arrived" about a digit that a
killed and restarted server still has. Hidden digits are kept but never shown, scored or exported.

Rate limits (one digit per `MIN_SECONDS_BETWEEN_DIGITS` and `MAX_DIGITS_PER_PERSON` per person per
talk) are checked inside the writing transaction, so two tabs of one phone cannot race past them.
Component values from a browser are hostile until checked: `canvas_png_to_rgba` refuses anything
that is not a PNG of a sane size before Pillow decodes a pixel.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import datetime as _dt
import io
import json
import math
import os
import re
import secrets
import sqlite3
import threading
import time
from pathlib import Path
from typing import Callable, Iterable, Mapping

import numpy as np

# ---------------------------------------------------------------- limits and formats

MIN_SECONDS_BETWEEN_DIGITS = 3.0  # per person: a room sends drawings, not a stream of taps
MAX_DIGITS_PER_PERSON = 30  # per person per talk: enough to play, too few to flood the wall
MAX_STORED_PNG_BYTES = 20 * 1024  # the canvas picture kept with each digit (a wall tile, not an archive)
THUMBNAIL_SIDE = 96  # px, grayscale: 9,216 raw bytes at most, so always far under the limit above
MAX_CANVAS_PNG_BYTES = 1_000_000  # a drawn 300×300 canvas is 5–40 KB; a megabyte is not a drawing
MAX_CANVAS_SIDE = 2048  # px: a phone canvas at 3× device pixels is ~1,200 px
MIN_CANVAS_SIDE = 28
DEFAULT_CANVAS_SIZE = (300, 300)  # the canvas component's PNG for a 300 px canvas (width, height)
SCHEMA_VERSION = 2  # PRAGMA user_version; raise it with a migration (_MIGRATIONS) when the tables change
BUSY_TIMEOUT_SECONDS = 10.0  # a writer waits this long for another (thread, process) to commit
WILSON_Z = 1.959963984540054  # two-sided 95%

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_DATA_URL_PREFIX = "data:image/png;base64,"
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
SEND_ID_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")  # made on the phone, one per Send: a retry carries the same
_KIND_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_MAX_TITLE = 100


class CrowdStoreError(RuntimeError):
    """The room's database cannot be used; the message names the file and the fix."""


class CrowdInputError(ValueError):
    """A digit (or a component value) that is refused; the message says what to send instead."""


class RateLimited(Exception):
    """A person sends too fast or too much; the message is friendly and shown to them as is."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after  # seconds until the next digit is accepted; None = not in this talk


# ---------------------------------------------------------------- where the database lives


def default_db_path() -> Path:
    """MNIST_CROWD_DB if set, else `crowd.sqlite3` in the per-user *data* directory."""
    if os.environ.get("MNIST_CROWD_DB"):
        return Path(os.environ["MNIST_CROWD_DB"]).expanduser()
    # Not beside MNIST in ~/.cache/mnist-ann-vs-cnn (mnist_core.data.mnist.default_data_dir): everything
    # there can be fetched or computed again, and clearing ~/.cache is routine; a room's digits
    # cannot be redrawn. So the same folder name, under XDG's data home.
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "mnist-ann-vs-cnn" / "crowd.sqlite3"


def new_person_token() -> str:
    """A per-person token for the Join page's URL: 22 URL-safe characters, unguessable."""
    return secrets.token_urlsafe(16)


def is_person_token(value) -> bool:
    """Whether `value` (from a URL, so anything) has the form of a person token."""
    return isinstance(value, str) and _TOKEN_RE.fullmatch(value) is not None


# ---------------------------------------------------------------- records


@dataclasses.dataclass(frozen=True)
class Talk:
    id: int
    title: str
    created: float  # Unix time
    digits: int  # visible
    hidden: int


class Judged:
    """What each model said about a labelled digit; for records with `label` and `probabilities`
    (kind → ten probabilities)."""

    @property
    def predictions(self) -> dict[str, int]:
        return {kind: int(np.argmax(p)) for kind, p in self.probabilities.items()}

    @property
    def confidences(self) -> dict[str, float]:
        return {kind: float(np.max(p)) for kind, p in self.probabilities.items()}

    @property
    def correct(self) -> dict[str, bool]:
        return {kind: pred == self.label for kind, pred in self.predictions.items()}


@dataclasses.dataclass(frozen=True, eq=False)
class Digit(Judged):
    """One stored digit with everything a wall tile needs."""

    id: int
    talk_id: int
    created: float  # Unix time
    person: str
    label: int  # the digit the person was asked to draw (or chose)
    image: np.ndarray  # (28, 28) uint8, the model input
    canvas_png: bytes  # ≤ MAX_STORED_PNG_BYTES
    probabilities: dict[str, np.ndarray]  # kind → (10,) float64
    model_files: dict[str, tuple[str, str]]  # kind → (model name, file SHA-256)
    hidden: bool



@dataclasses.dataclass(frozen=True)
class Score:
    """One model kind's accuracy on a room's visible digits, with a 95% Wilson interval."""

    kind: str
    n: int
    correct: int
    accuracy: float
    low: float
    high: float
    models: tuple[str, ...]  # the model files' names that judged these digits (more than one if switched)


@dataclasses.dataclass(frozen=True, eq=False)
class RoomPredictions:
    """Visible digits of a talk, oldest first; a kind's prediction is -1 where it did not judge."""

    ids: np.ndarray  # (n,) int64
    labels: np.ndarray  # (n,) int64
    predictions: dict[str, np.ndarray]  # kind → (n,) int64


def wilson_interval(correct: int, n: int, z: float = WILSON_Z) -> tuple[float, float]:
    """The Wilson score interval: unlike p ± z·se it stays inside [0, 1] and is honest for the
    small counts of a room (10 of 10 right is not 'certainly 100%')."""
    if n <= 0:
        return 0.0, 1.0
    p = correct / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


# ---------------------------------------------------------------- component values and pictures


def _short(value, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def canvas_png_to_rgba(value, expected_size: tuple[int, int] | None = DEFAULT_CANVAS_SIZE) -> np.ndarray:
    """A canvas component's PNG (a `data:image/png;base64,…` URL or bytes) → (H, W, 4) uint8.

    The value comes from a browser, so nothing about it is trusted: its length is checked before
    base64 decoding, the PNG signature and the size in its header before Pillow decodes a pixel
    (so no decompression bomb), and decoding errors become CrowdInputError.
    `expected_size` is (width, height); None accepts any size from 28 to 2048 px a side.
    """
    if isinstance(value, str):
        if not value.startswith(_DATA_URL_PREFIX):
            raise CrowdInputError(
                f"The drawing must be a PNG data URL starting with {_DATA_URL_PREFIX!r}; "
                f"got {_short(value[:40])}. Clear the canvas and draw again.")
        encoded = value[len(_DATA_URL_PREFIX):]
        if len(encoded) > (MAX_CANVAS_PNG_BYTES * 4) // 3 + 4:
            raise CrowdInputError(
                f"The drawing is {len(encoded) * 3 // 4:,} bytes, more than the {MAX_CANVAS_PNG_BYTES:,} "
                "a canvas can be; it was not stored. Clear the canvas and draw again.")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise CrowdInputError("The drawing's data URL is not valid base64; clear the canvas and draw again.") from None
    elif isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
    else:
        raise CrowdInputError(f"The drawing must be PNG bytes or a PNG data URL, not {type(value).__name__}.")

    if len(raw) > MAX_CANVAS_PNG_BYTES:
        raise CrowdInputError(
            f"The drawing is {len(raw):,} bytes, more than the {MAX_CANVAS_PNG_BYTES:,} a canvas can be; "
            "it was not stored. Clear the canvas and draw again.")
    if not raw.startswith(PNG_MAGIC) or len(raw) < 33 or raw[12:16] != b"IHDR":
        raise CrowdInputError("The drawing is not a PNG image (bad signature); clear the canvas and draw again.")
    width, height = int.from_bytes(raw[16:20], "big"), int.from_bytes(raw[20:24], "big")
    _check_canvas_size(width, height, expected_size)

    from PIL import Image  # Pillow is only needed here and for thumbnails

    try:
        with Image.open(io.BytesIO(raw), formats=["PNG"]) as image:
            if image.size != (width, height):  # the header we read is the one Pillow read
                raise CrowdInputError("The drawing's PNG header is inconsistent; clear the canvas and draw again.")
            rgba = np.asarray(image.convert("RGBA"), dtype=np.uint8)
    except CrowdInputError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        raise CrowdInputError(f"The drawing is not a readable PNG ({exc}); clear the canvas and draw again.") from None
    return rgba


def _check_canvas_size(width: int, height: int, expected_size: tuple[int, int] | None) -> None:
    if expected_size is not None:
        if (width, height) != tuple(expected_size):
            raise CrowdInputError(
                f"The drawing is {width}×{height} px but the canvas is {expected_size[0]}×{expected_size[1]} px; "
                "reload the page and draw again.")
    elif not (MIN_CANVAS_SIDE <= width <= MAX_CANVAS_SIDE and MIN_CANVAS_SIDE <= height <= MAX_CANVAS_SIDE):
        raise CrowdInputError(
            f"The drawing is {width}×{height} px; a canvas is {MIN_CANVAS_SIDE}–{MAX_CANVAS_SIDE} px a side. "
            "Reload the page and draw again.")


def canvas_thumbnail_png(canvas, side: int = THUMBNAIL_SIDE) -> bytes:
    """The small PNG stored with a digit: the canvas (PNG bytes, data URL or an (H, W, 4|3) uint8
    array) composited on black, grayscale, `side`×`side`. Verified ≤ MAX_STORED_PNG_BYTES."""
    from PIL import Image

    if isinstance(canvas, np.ndarray):
        array = canvas
        if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] not in (3, 4):
            raise CrowdInputError(f"The canvas must be an (H, W, 4) uint8 RGBA array, got {array.dtype} {array.shape}.")
        _check_canvas_size(array.shape[1], array.shape[0], None)
    else:
        array = canvas_png_to_rgba(canvas, expected_size=None)
    if array.shape[2] == 3:
        array = np.concatenate([array, np.full(array.shape[:2] + (1,), 255, np.uint8)], axis=2)
    image = Image.fromarray(np.ascontiguousarray(array), "RGBA")
    on_black = Image.alpha_composite(Image.new("RGBA", image.size, (0, 0, 0, 255)), image).convert("L")
    small = on_black.resize((side, side), Image.Resampling.BOX)  # area average: faithful, 1.4 ms vs Lanczos' 2.4
    buffer = io.BytesIO()
    small.save(buffer, format="PNG", optimize=True)
    png = buffer.getvalue()
    if len(png) > MAX_STORED_PNG_BYTES:
        raise CrowdInputError(f"The canvas picture is {len(png):,} bytes at {side} px; use a smaller side.")
    return png


# ---------------------------------------------------------------- validation of a digit


def _check_token(token) -> str:
    if not isinstance(token, str) or not _TOKEN_RE.match(token):
        raise CrowdInputError(
            f"The person token must be 16–64 letters, digits, '-' or '_' (make one with "
            f"crowd.new_person_token()); got {_short(token)}.")
    return token


def _check_send_id(send_id) -> str | None:
    if send_id is None:
        return None
    if not isinstance(send_id, str) or not SEND_ID_RE.match(send_id):
        raise CrowdInputError(f"A send id is 8–64 letters, digits, '-' or '_', got {_short(send_id)}.")
    return send_id


def _check_label(label) -> int:
    if isinstance(label, (bool, np.bool_)) or not isinstance(label, (int, np.integer)):
        raise CrowdInputError(f"The label must be a whole number from 0 to 9, not {_short(label)}.")
    if not 0 <= int(label) <= 9:
        raise CrowdInputError(f"The label must be a digit from 0 to 9, got {int(label)}.")
    return int(label)


def _check_image(image28) -> bytes:
    array = np.asarray(image28)
    if array.shape != (28, 28):
        raise CrowdInputError(
            f"The model input must be a 28×28 image (preprocess.canvas_to_mnist's output), got shape {array.shape}.")
    if array.dtype == np.uint8:
        return array.tobytes()
    if not np.issubdtype(array.dtype, np.floating):
        raise CrowdInputError(f"The model input must be uint8 or float in [0, 1], got {array.dtype}.")
    if not np.all(np.isfinite(array)) or array.min() < -1e-6 or array.max() > 1 + 1e-6:
        raise CrowdInputError("The model input must be finite floats in [0, 1] (or uint8 0–255).")
    return np.rint(np.clip(array, 0, 1) * 255).astype(np.uint8).tobytes()


def _check_png(canvas_png) -> bytes:
    if not isinstance(canvas_png, (bytes, bytearray, memoryview)):
        raise CrowdInputError(
            f"The canvas picture must be PNG bytes (make it with crowd.canvas_thumbnail_png), not {type(canvas_png).__name__}.")
    png = bytes(canvas_png)
    if len(png) > MAX_STORED_PNG_BYTES:
        raise CrowdInputError(
            f"The canvas picture is {len(png):,} bytes, over the {MAX_STORED_PNG_BYTES:,} kept per digit; "
            "make it with crowd.canvas_thumbnail_png.")
    if not png.startswith(PNG_MAGIC):
        raise CrowdInputError("The canvas picture is not a PNG (bad signature); make it with crowd.canvas_thumbnail_png.")
    from PIL import Image

    try:
        with Image.open(io.BytesIO(png), formats=["PNG"]) as image:
            image.verify()
    except Exception as exc:  # Pillow raises many kinds for a broken file; each means "not a PNG"
        raise CrowdInputError(f"The canvas picture is not a readable PNG ({exc}).") from None
    return png


def _check_verdicts(probabilities, model_files) -> list[tuple[str, str, str, str]]:
    if not isinstance(probabilities, Mapping) or not probabilities:
        raise CrowdInputError("Give at least one model's probabilities, as {'ann': ten floats, 'cnn': ten floats}.")
    if not isinstance(model_files, Mapping) or set(model_files) != set(probabilities):
        raise CrowdInputError(
            f"model_files must name the file of each model that judged the digit: keys {sorted(probabilities)}, "
            f"got {sorted(model_files) if isinstance(model_files, Mapping) else _short(model_files)}.")
    rows = []
    for kind, probs in probabilities.items():
        if not isinstance(kind, str) or not _KIND_RE.match(kind):
            raise CrowdInputError(f"A model kind is a short lowercase name such as 'ann' or 'cnn', got {_short(kind)}.")
        try:
            p = np.asarray(probs, dtype=np.float64)
        except (TypeError, ValueError):
            raise CrowdInputError(f"The {kind} probabilities must be ten numbers.") from None
        if p.shape != (10,):
            raise CrowdInputError(f"The {kind} probabilities must be ten numbers (one per digit), got shape {p.shape}.")
        if not np.all(np.isfinite(p)):
            raise CrowdInputError(f"The {kind} probabilities contain NaN or infinity; the model's output is broken.")
        if p.min() < -1e-6 or p.max() > 1 + 1e-6 or abs(p.sum() - 1) > 1e-3:
            raise CrowdInputError(
                f"The {kind} probabilities must lie in [0, 1] and sum to 1 (a softmax output); they sum to {p.sum():.4f}.")
        file = model_files[kind]
        if (not isinstance(file, (tuple, list)) or len(file) != 2 or not isinstance(file[0], str)
                or not 0 < len(file[0]) <= 100 or not isinstance(file[1], str) or not _SHA256_RE.match(file[1])):
            raise CrowdInputError(
                f"model_files[{kind!r}] must be (model name, SHA-256 hex of its file), "
                f"as registry.file_hash(name) gives; got {_short(file)}.")
        rows.append((kind, json.dumps([float(x) for x in p]), file[0], file[1]))
    return rows


def _check_title(title) -> str | None:
    if title is None:
        return None
    if not isinstance(title, str) or not title.strip() or len(title.strip()) > _MAX_TITLE:
        raise CrowdInputError(f"A talk title is 1–{_MAX_TITLE} characters of text, got {_short(title)}.")
    return title.strip()


# ---------------------------------------------------------------- the store

_SCHEMA = """
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
_MIGRATIONS = {
    1: """
ALTER TABLE digits ADD COLUMN send_id TEXT;
CREATE UNIQUE INDEX digits_by_send ON digits (person, send_id) WHERE send_id IS NOT NULL;
CREATE TABLE room_secret (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    secret BLOB NOT NULL CHECK (length(secret) = 32)
);
""",
}


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    for statement in script.split(";"):  # not executescript: it would COMMIT midway
        if statement.strip():
            conn.execute(statement)


class CrowdStore:
    """A room's digits in one SQLite file (WAL mode), safe for many threads and processes.

    Durability: `synchronous=FULL`, so a committed digit is in the WAL file and fsynced before
    `add_digit` returns. (A killed *process* loses nothing in WAL mode even with NORMAL; FULL
    also keeps the last digits through a power cut or an OS crash, which a laptop on stage can
    have.) Measured on this 2-core machine (a virtual disk, other tests running), one `add_digit`
    with two models' verdicts, validation included: 0.60–0.99 ms median with FULL vs 0.28–0.52 ms
    with NORMAL, about 2× for a fraction of a millisecond. A disk with slow fsync pays more; at a
    room's ~6 digits a second even 10 ms a write would be 6% of one core, so FULL it is.

    Threads: one connection per store and process, used under a lock. Streamlit starts a new
    script thread for every full rerun, so a connection per thread would be opened and closed on
    nearly every run, and closing the last connection checkpoints the WAL each time. Writers are
    serialised by SQLite anyway and a read of a wall's tiles takes about a millisecond, so the
    lock costs little. Other processes (a second server, the CLI) are kept apart by SQLite's own
    locks; `busy_timeout` makes them wait for each other instead of failing.
    """

    def __init__(self, path: str | os.PathLike | None = None, clock: Callable[[], float] = time.time):
        self.path = Path(path) if path is not None else default_db_path()
        self._clock = clock  # injectable: tests move time instead of sleeping
        self._lock = threading.RLock()
        self._tallies: dict[int, _Tally] = {}  # talk id → its scores so far (see _tally)
        self._conn: sqlite3.Connection | None = None
        self._pid = None
        with self._lock:
            self._connection()

    # -- connection and schema

    def _connection(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        self._conn = None  # a connection inherited through fork() must not be used in the child
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CrowdStoreError(
                f"Cannot create the folder for the room's database {self.path} ({exc}); "
                "set MNIST_CROWD_DB to a writable file path.") from None
        try:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None,
                                   check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise CrowdStoreError(f"{self.path} cannot use WAL mode (journal mode {mode}); "
                                      "put MNIST_CROWD_DB on a local disk.")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            self._ensure_schema(conn)
        except sqlite3.DatabaseError as exc:
            raise CrowdStoreError(
                f"{self.path} is not a usable room database ({exc}). Move it aside (it is kept, not "
                "deleted) or set MNIST_CROWD_DB to another file.") from None
        self._conn, self._pid = conn, os.getpid()
        return conn

    def _ensure_schema(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise CrowdStoreError(
                f"{self.path} was written by a newer version of this app (schema {version}, this one "
                f"reads {SCHEMA_VERSION}); update the app or set MNIST_CROWD_DB to another file.")
        conn.execute("BEGIN IMMEDIATE")  # two processes opening a new file: one creates, one waits
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
                if tables:
                    raise CrowdStoreError(
                        f"{self.path} is an SQLite file of something else (it has tables but no schema "
                        "version); set MNIST_CROWD_DB to another file.")
                _run_script(conn, _SCHEMA)
            else:
                while version < SCHEMA_VERSION:
                    _run_script(conn, _MIGRATIONS[version])
                    version += 1
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @contextlib.contextmanager
    def _transaction(self, immediate: bool = False):
        """One transaction under the store's lock. IMMEDIATE takes SQLite's write lock at BEGIN, so
        what is read inside (rate limits, the newest talk) is still true when it commits."""
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

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
        title = _check_title(title)
        with self._transaction(immediate=True) as conn:
            return self._insert_talk(conn, title)

    def _insert_talk(self, conn: sqlite3.Connection, title: str | None) -> int:
        now = self._clock()
        if title is None:
            title = "Talk of " + _dt.datetime.fromtimestamp(now).strftime("%Y-%m-%d %H:%M")
        return int(conn.execute("INSERT INTO talks (title, created) VALUES (?, ?)", (title, now)).lastrowid)

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
        raise CrowdInputError(f"There is no talk {talk_id!r} in {self.path}; `python -m mnist_core crowd talks` lists them.")

    # -- writing digits

    def add_digit(self, talk_id: int, person_token: str, label: int, image28, canvas_png: bytes,
                  probabilities: Mapping[str, Iterable[float]],
                  model_files: Mapping[str, tuple[str, str]], send_id: str | None = None) -> int:
        """Store one digit and return its id once it is committed and on disk: only then may the
        phone be told it arrived. Raises CrowdInputError (nothing stored) or RateLimited.

        `send_id` (made on the phone, one per Send): a second call with the same person and
        send_id stores nothing and returns the first digit's id, before any limit is checked, so
        a retry after a dropped connection is answered, never counted twice."""
        person = _check_token(person_token)
        send_id = _check_send_id(send_id)
        label = _check_label(label)
        image = _check_image(image28)
        png = _check_png(canvas_png)
        verdicts = _check_verdicts(probabilities, model_files)
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
                    " VALUES (?, ?, ?, ?, ?, ?, ?)", (int(talk_id), now, person, label, image, png, send_id)).lastrowid)
                conn.executemany(
                    "INSERT INTO verdicts (digit_id, kind, probabilities, predicted, model_name, model_sha256)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    [(digit_id, kind, probs, int(np.argmax(json.loads(probs))), name, sha)
                     for kind, probs, name, sha in verdicts])
        except sqlite3.OperationalError as exc:  # still locked after BUSY_TIMEOUT_SECONDS, disk full …
            raise CrowdStoreError(f"The digit was not stored ({exc}); try Send again.") from None
        return digit_id

    @staticmethod
    def _sent(conn: sqlite3.Connection, person: str, send_id: str) -> int | None:
        row = conn.execute("SELECT id FROM digits WHERE person = ? AND send_id = ?", (person, send_id)).fetchone()
        return None if row is None else int(row[0])

    def _check_limits(self, conn: sqlite3.Connection, talk_id: int, person: str, now: float) -> None:
        sent, last = conn.execute(
            "SELECT count(*), max(created) FROM digits WHERE person = ? AND talk_id = ?", (person, talk_id)).fetchone()
        if sent >= MAX_DIGITS_PER_PERSON:
            raise RateLimited(f"You have sent {sent} digits, the most for one talk: thank you!")
        if last is not None and now - last < MIN_SECONDS_BETWEEN_DIGITS:
            wait = min(MIN_SECONDS_BETWEEN_DIGITS, last + MIN_SECONDS_BETWEEN_DIGITS - now)
            raise RateLimited(f"You can send another digit in {max(1, math.ceil(wait))} s.", retry_after=wait)

    def sent_digit(self, person_token: str, send_id: str) -> Digit | None:
        """The digit this person stored with this send_id, if any (a retry is answered with it)."""
        person, send_id = _check_token(person_token), _check_send_id(send_id)
        with self._transaction() as conn:
            digit_id = self._sent(conn, person, send_id)
            return None if digit_id is None else self._digits(conn, "id = ?", (digit_id,))[0]

    def check_limits(self, talk_id: int, person_token: str) -> None:
        """Raise RateLimited now if this person may not send: a read, so a refused digit is not
        judged first. add_digit checks again in its transaction, which decides."""
        with self._transaction() as conn:
            self._check_limits(conn, int(talk_id), _check_token(person_token), self._clock())

    def room_secret(self) -> bytes:
        """This database's random 32-byte secret (made on first use), from which each talk's
        signing key is derived: every server process on the same database signs alike."""
        with self._transaction() as conn:
            row = conn.execute("SELECT secret FROM room_secret WHERE id = 1").fetchone()
        if row is not None:
            return bytes(row[0])
        with self._transaction(immediate=True) as conn:
            conn.execute("INSERT OR IGNORE INTO room_secret (id, secret) VALUES (1, ?)", (secrets.token_bytes(32),))
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

    def _digits(self, conn: sqlite3.Connection, where: str, params: tuple, order: str = "id DESC",
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

    def labels_and_predictions(self, talk_id: int) -> RoomPredictions:
        """Labels and each kind's predicted digit for the talk's visible digits, oldest first."""
        with self._transaction() as conn:
            rows = conn.execute("SELECT id, label FROM digits WHERE talk_id = ? AND hidden = 0 ORDER BY id",
                                (int(talk_id),)).fetchall()
            judged = conn.execute(
                "SELECT v.digit_id, v.kind, v.predicted FROM verdicts v JOIN digits d ON d.id = v.digit_id"
                " WHERE d.talk_id = ? AND d.hidden = 0", (int(talk_id),)).fetchall()
        ids = np.array([r[0] for r in rows], np.int64)
        position = {int(i): n for n, i in enumerate(ids)}
        predictions: dict[str, np.ndarray] = {}
        for digit_id, kind, predicted in judged:
            predictions.setdefault(kind, np.full(len(ids), -1, np.int64))[position[digit_id]] = predicted
        return RoomPredictions(ids, np.array([r[1] for r in rows], np.int64), dict(sorted(predictions.items())))

    def _tally(self, talk_id: int) -> "_Tally":
        """The talk's scores so far, brought up to date with only the digits that arrived since the
        last call: the Talk page asks every few seconds, and a hall sends tens of thousands of
        digits (a full count of 23,000 took 40 ms a question, 150 ms a refresh). Counted again
        from the start when a digit was hidden since (the hidden count changed)."""
        talk_id = int(talk_id)
        with self._transaction() as conn:
            hidden = conn.execute("SELECT count(*) FROM digits WHERE talk_id = ? AND hidden = 1", (talk_id,)).fetchone()[0]
            tally = self._tallies.get(talk_id)
            if tally is None or tally.hidden != hidden:
                tally = _Tally(hidden)
            rows = conn.execute(
                "SELECT d.id, d.label, v.kind, v.predicted, v.model_name FROM digits d JOIN verdicts v ON v.digit_id = d.id"
                " WHERE d.talk_id = ? AND d.hidden = 0 AND d.id > ? ORDER BY d.id", (talk_id, tally.last_id)).fetchall()
        tally.add(rows)
        self._tallies[talk_id] = tally
        return tally

    def scoreboard(self, talk_id: int) -> dict[str, Score]:
        """Per model kind: how many visible digits it judged, how many right, accuracy, 95% interval."""
        tally = self._tally(talk_id)
        scores = {}
        for kind in sorted(tally.matrices):
            matrix = tally.matrices[kind]
            n, correct = int(matrix.sum()), int(np.trace(matrix))
            low, high = wilson_interval(correct, n)
            scores[kind] = Score(kind, n, correct, correct / n if n else float("nan"), low, high,
                                 tuple(sorted(tally.names[kind])))
        return scores

    def confusion(self, talk_id: int, kind: str) -> np.ndarray:
        """counts[actual, predicted] of one model kind on the talk's visible digits."""
        matrix = self._tally(talk_id).matrices.get(kind)
        return np.zeros((10, 10), np.int64) if matrix is None else matrix.copy()

    def fooled_both(self, talk_id: int, kinds: tuple[str, ...] = ("ann", "cnn"), limit: int | None = None) -> list[Digit]:
        """Visible digits that every one of `kinds` judged and got wrong, newest first."""
        wanted = set(kinds)
        ids = [i for i, wrong in reversed(self._tally(talk_id).wrong.items()) if wanted <= wrong]
        return self.visible(ids[:limit] if limit is not None else ids)

    # -- export

    def arrays(self, talk_id: int) -> tuple[np.ndarray, np.ndarray]:
        """The talk's visible digits as MNIST-like arrays, oldest first: x (n, 28, 28) uint8, y (n,) uint8."""
        with self._transaction() as conn:
            rows = conn.execute("SELECT image, label FROM digits WHERE talk_id = ? AND hidden = 0 ORDER BY id",
                                (int(talk_id),)).fetchall()
        x = np.frombuffer(b"".join(r[0] for r in rows), np.uint8).reshape(len(rows), 28, 28).copy()
        y = np.array([r[1] for r in rows], np.uint8)
        return x, y

    def npz_bytes(self, talk_id: int) -> bytes:
        """The talk's visible digits as the bytes of an .npz with `x` and `y` (for a download)."""
        return _npz_bytes(*self.arrays(talk_id))

    def idx_zip_bytes(self, talk_id: int) -> bytes:
        """The talk's visible digits as the bytes of a zip holding the two IDX files that
        export_idx writes (same names), for a download."""
        import zipfile

        from mnist_core.data.mnist import encode_idx

        x, y = self.arrays(talk_id)
        images, labels = idx_paths(talk_id, ".")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(images.name, encode_idx(x))
            archive.writestr(labels.name, encode_idx(y))
        return buffer.getvalue()

    def export_npz(self, talk_id: int, path: str | os.PathLike) -> int:
        """Write `x` and `y` (as keras.datasets.mnist gives them) to an .npz, atomically; returns the count."""
        from mnist_core.data.mnist import write_atomic

        x, y = self.arrays(talk_id)
        write_atomic(Path(path), _npz_bytes(x, y))
        return len(y)

    def export_idx(self, talk_id: int, directory: str | os.PathLike) -> int:
        """Write `talk-ID-images-idx3-ubyte` and `talk-ID-labels-idx1-ubyte` (MNIST's own format,
        readable by any MNIST loader) into `directory`, each atomically; returns the count."""
        from mnist_core.data.mnist import write_atomic, encode_idx

        x, y = self.arrays(talk_id)
        paths = idx_paths(talk_id, directory)
        write_atomic(paths[0], encode_idx(x))
        write_atomic(paths[1], encode_idx(y))
        return len(y)


class _Tally:
    """A talk's confusion matrix per model kind, the model files that judged, and the digits each
    kind got wrong, over its visible digits up to `last_id`."""

    def __init__(self, hidden: int):
        self.hidden = hidden  # the talk's hidden digits when this was begun
        self.last_id = 0
        self.matrices: dict[str, np.ndarray] = {}
        self.names: dict[str, set[str]] = {}
        self.wrong: dict[int, set[str]] = {}  # digit id → kinds that misread it, oldest first

    def add(self, rows) -> None:
        for digit_id, label, kind, predicted, name in rows:
            if kind not in self.matrices:
                self.matrices[kind] = np.zeros((10, 10), np.int64)
                self.names[kind] = set()
            self.matrices[kind][label, predicted] += 1
            self.names[kind].add(name)
            if predicted != label:
                self.wrong.setdefault(digit_id, set()).add(kind)
            self.last_id = max(self.last_id, digit_id)


def _npz_bytes(x: np.ndarray, y: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, x=x, y=y)
    return buffer.getvalue()  # a room's export is a few MB at most


def idx_paths(talk_id: int, directory: str | os.PathLike) -> tuple[Path, Path]:
    """Where export_idx writes a talk's images and labels."""
    directory = Path(directory)
    return (directory / f"talk-{int(talk_id)}-images-idx3-ubyte",
            directory / f"talk-{int(talk_id)}-labels-idx1-ubyte")
