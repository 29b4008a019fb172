"""The talk room's store on both databases (a real SQLite file in tmp_path and a real PostgreSQL
database per test: every test taking `db` or `store` runs on each), real threads, processes and SIGKILL."""

import base64
import io
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mnist_core import data
from mnist_core.talk import crowd, export, inputs, schema, statistics

ROOT = Path(__file__).resolve().parents[2]
SHA = {"ann": "a" * 64, "cnn": "c" * 64}
FILES = {"ann": ("ann", SHA["ann"]), "cnn": ("cnn", SHA["cnn"])}


class Clock:
    """An injectable clock: tests move time instead of sleeping."""

    def __init__(self, now=1_700_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


def token(i, tag="person"):
    return f"{tag}-{i:06d}-token"


def probs(predicted, confidence=0.91):
    p = np.full(10, (1 - confidence) / 9)
    p[predicted] = confidence
    return p


def canvas_rgba(size=300, seed=0):
    """White strokes on an opaque black canvas, as the canvas component draws them."""
    rgba = np.zeros((size, size, 4), np.uint8)
    rgba[..., 3] = 255
    rng = np.random.default_rng(seed)
    top, left = rng.integers(40, 120, 2)
    rgba[top:top + 150, left:left + 30, :3] = 255
    return rgba


def png_bytes(rgba):
    buffer = io.BytesIO()
    Image.fromarray(rgba).save(buffer, format="PNG")
    return buffer.getvalue()


THUMB = inputs.canvas_thumbnail_png(canvas_rgba())


def add(store, talk, i, label=None, ann=None, cnn=None, person=None, image=None):
    label = i % 10 if label is None else label
    image = np.full((28, 28), i % 256, np.uint8) if image is None else image
    return store.add_digit(talk, person or token(i), label, image, THUMB,
                           {"ann": probs(label if ann is None else ann), "cnn": probs(label if cnn is None else cnn)},
                           FILES)


def raw_rows(db, sql):
    """Rows read past the store, with the database's own driver."""
    if str(db).startswith("postgresql://"):
        import psycopg

        with psycopg.connect(str(db)) as conn:
            return conn.execute(sql).fetchall()
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def raw_count(db, where="TRUE", table="digits"):
    return raw_rows(db, f"SELECT count(*) FROM {table} WHERE {where}")[0][0]


@pytest.fixture
def db(room_db):
    return room_db


@pytest.fixture
def sqlite_db(tmp_path):
    return tmp_path / "room" / "crowd.sqlite3"


@pytest.fixture
def store(db):
    with crowd.CrowdStore(db, clock=Clock()) as s:
        yield s


# ---------------------------------------------------------------- the file and its talks


def test_database_is_created_in_wal_mode_with_full_sync_and_a_schema_version(sqlite_db):
    store = crowd.CrowdStore(sqlite_db)
    assert sqlite_db.is_file()
    with sqlite3.connect(sqlite_db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
    assert store._connection().execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    crowd.CrowdStore(sqlite_db).close()  # opening again keeps the file as it is


def test_a_foreign_or_newer_file_is_refused_with_the_fix(tmp_path):
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(crowd.CrowdStoreError, match="MNIST_CROWD_DB"):
        crowd.CrowdStore(junk)
    newer = tmp_path / "newer.sqlite3"
    with sqlite3.connect(newer) as conn:
        conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 1}")
    with pytest.raises(crowd.CrowdStoreError, match="newer version"):
        crowd.CrowdStore(newer)


def test_default_location_is_the_environment_override_else_the_user_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("MNIST_CROWD_DB", str(tmp_path / "x.sqlite3"))
    assert crowd.default_location() == tmp_path / "x.sqlite3"
    monkeypatch.setenv("MNIST_CROWD_DB", "postgresql://room:secret@db.example.org/talks")
    assert crowd.default_location() == "postgresql://room:secret@db.example.org/talks"
    monkeypatch.delenv("MNIST_CROWD_DB")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    assert crowd.default_location() == tmp_path / "share" / "mnist-ann-vs-cnn" / "crowd.sqlite3"
    assert crowd.default_location().parent != data.default_data_dir()  # not in the cache a cleanup may empty


def test_new_talk_starts_an_empty_wall_and_keeps_the_old_talks(store):
    first = store.current_talk()
    assert store.current_talk() == first
    add(store, first, 1)
    second = store.new_talk("Evening talk")
    assert second != first and store.current_talk() == second
    assert store.count(second) == 0 and store.latest(second) == []
    assert store.count(first) == 1
    talks = store.talks()
    assert [t.id for t in talks] == [second, first]
    assert talks[0].title == "Evening talk" and (talks[1].digits, talks[1].hidden) == (1, 0)
    with pytest.raises(crowd.CrowdInputError, match="title"):
        store.new_talk("x" * 500)


# ---------------------------------------------------------------- digits


def test_a_digit_round_trips_with_every_field(db):
    clock = Clock(1_700_000_123.5)
    store = crowd.CrowdStore(db, clock=clock)
    talk = store.current_talk()
    image = np.linspace(0, 1, 784, dtype=np.float32).reshape(28, 28)
    ann = np.array([0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.55])
    cnn = probs(7, 0.8).astype(np.float32)
    digit_id = store.add_digit(talk, token(1), 7, image, THUMB, {"ann": ann, "cnn": cnn},
                               {"ann": ("ann", SHA["ann"]), "cnn": ("my-cnn", SHA["cnn"])})
    store.close()

    digit = crowd.CrowdStore(db).digit(digit_id)  # a fresh connection: it is on disk, not in memory
    assert (digit.id, digit.talk_id, digit.created, digit.person, digit.label, digit.hidden) == (
        digit_id, talk, 1_700_000_123.5, token(1), 7, False)
    assert digit.image.dtype == np.uint8 and digit.image.shape == (28, 28)
    np.testing.assert_array_equal(digit.image, np.rint(image * 255).astype(np.uint8))
    assert digit.canvas_png == THUMB
    np.testing.assert_array_equal(digit.probabilities["ann"], ann)  # exact, not approximately
    np.testing.assert_array_equal(digit.probabilities["cnn"], cnn.astype(np.float64))
    assert digit.model_files == {"ann": ("ann", SHA["ann"]), "cnn": ("my-cnn", SHA["cnn"])}
    assert digit.predictions == {"ann": 9, "cnn": 7} and digit.correct == {"ann": False, "cnn": True}


def test_hidden_digits_are_kept_but_never_shown_scored_or_exported(store, db, tmp_path):
    talk = store.current_talk()
    ids = [add(store, talk, i, ann=0) for i in range(1, 5)]  # the ANN says 0 to all: always wrong
    assert store.hide(ids[1]) is True
    assert store.hide(ids[1]) is False  # already hidden
    assert [d.id for d in store.latest(talk)] == [ids[3], ids[2], ids[0]]
    assert store.count(talk) == 3
    board = store.scoreboard(talk)
    assert board["cnn"].n == 3 and board["ann"].n == 3
    assert store.confusion(talk, "cnn").sum() == 3
    assert [d.id for d in store.fooled_both(talk, kinds=("ann",))] == [ids[3], ids[2], ids[0]]
    assert store.export_npz(talk, tmp_path / "x.npz") == 3
    assert list(np.load(tmp_path / "x.npz")["y"]) == [1, 3, 4]
    assert store.export_idx(talk, tmp_path / "idx") == 3
    assert store.talks()[0].hidden == 1
    assert raw_count(db) == 4 and raw_count(db, "hidden = 1") == 1  # kept in the table
    assert store.digit(ids[1]).hidden
    with pytest.raises(crowd.CrowdInputError, match="no digit"):
        store.hide(10_000)


def test_latest_is_newest_first_and_limited(store):
    talk = store.current_talk()
    ids = [add(store, talk, i) for i in range(6)]
    assert [d.id for d in store.latest(talk, limit=4)] == ids[::-1][:4]


# ---------------------------------------------------------------- many writers


def test_eight_threads_writing_at_once_lose_nothing(db):
    shared = crowd.CrowdStore(db)
    talk = shared.current_talk()
    start = threading.Barrier(8)
    written, failures = [], []

    def writer(t):
        # Half the threads share one store (as Streamlit sessions share a cached one), half open
        # their own connection to the same file (as another process would).
        store = shared if t % 2 else crowd.CrowdStore(db)
        try:
            start.wait()
            for i in range(10):
                written.append(add(store, talk, i, person=token(t * 100 + i, "thread")))
        except Exception as exc:  # reported below, with the thread's number
            failures.append((t, exc))

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert len(set(written)) == 80
    assert raw_count(db) == 80 and shared.count(talk) == 80


WRITER = r"""
import os, sys, time
import numpy as np
from mnist_core.talk import crowd, inputs
path, tag, count, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
store = crowd.CrowdStore(path)
talk = store.current_talk()
png = inputs.canvas_thumbnail_png(np.zeros((300, 300, 4), np.uint8))
p = np.full(10, 0.01); p[3] = 0.91
files = {"ann": ("ann", "a" * 64), "cnn": ("cnn", "c" * 64)}
while not os.path.exists(go):
    time.sleep(0.005)
for i in range(count):
    digit_id = store.add_digit(talk, f"{tag}-{i:08d}-token", 3, np.full((28, 28), i % 256, np.uint8), png,
                               {"ann": p, "cnn": p}, files)
    print(digit_id, flush=True)  # the acknowledgement: only after add_digit has returned
"""


def start_writer(db, tag, count, go):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", WRITER, str(db), tag, str(count), str(go)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def test_three_processes_writing_at_once_lose_nothing(db, tmp_path):
    talk = crowd.CrowdStore(db).current_talk()
    go = tmp_path / "go"
    writers = [start_writer(db, f"proc{n}", 20, go) for n in range(3)]
    time.sleep(0.5)  # let them all start, so they write at the same time
    go.touch()
    acknowledged = []
    for proc in writers:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        acknowledged += [int(line) for line in out.split()]
    assert len(acknowledged) == len(set(acknowledged)) == 60
    store = crowd.CrowdStore(db)
    assert store.count(talk) == 60
    assert {d.id for d in store.latest(talk, limit=100)} == set(acknowledged)


def test_a_writer_killed_mid_stream_keeps_every_acknowledged_digit(db, tmp_path):
    crowd.CrowdStore(db).current_talk()
    go = tmp_path / "go"
    go.touch()
    proc = start_writer(db, "killed", 100_000, go)
    acknowledged = []
    try:
        while len(acknowledged) < 40:
            line = proc.stdout.readline()
            assert line, f"the writer died early: {proc.stderr.read()}"
            acknowledged.append(int(line))
    finally:
        proc.send_signal(signal.SIGKILL)  # mid-stream: it is writing the next digit right now
        rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    acknowledged += [int(line) for line in rest.splitlines(keepends=True) if line.endswith("\n")]

    # The server restarted: it opens what the killed writer left.
    if not str(db).startswith("postgresql://"):
        assert raw_rows(db, "PRAGMA integrity_check")[0][0] == "ok"
    stored = {row[0] for row in raw_rows(db, "SELECT id FROM digits")}
    half_written = raw_count(db, "id NOT IN (SELECT digit_id FROM verdicts GROUP BY digit_id HAVING count(*) = 2)")
    assert set(acknowledged) <= stored
    assert len(stored) - len(set(acknowledged)) <= 1  # at most the digit committed as it was killed
    assert half_written == 0
    store = crowd.CrowdStore(db)  # and the store goes on
    add(store, store.current_talk(), 1)


# ---------------------------------------------------------------- rate limits


def test_one_digit_per_three_seconds_with_a_friendly_message(db):
    clock = Clock()
    store = crowd.CrowdStore(db, clock=clock)
    talk = store.current_talk()
    add(store, talk, 1, person=token(1))
    clock.now += 1.0
    with pytest.raises(crowd.RateLimited, match=r"^You can send another digit in 2 s\.$") as refused:
        add(store, talk, 2, person=token(1))
    assert refused.value.retry_after == pytest.approx(2.0)
    add(store, talk, 3, person=token(2))  # another person is not held up
    clock.now += 2.0
    add(store, talk, 4, person=token(1))
    assert store.count(talk) == 3


def test_thirty_digits_per_person_per_talk_and_a_new_talk_starts_again(db):
    clock = Clock()
    store = crowd.CrowdStore(db, clock=clock)
    talk = store.current_talk()
    for i in range(crowd.MAX_DIGITS_PER_PERSON):
        add(store, talk, i, person=token(1))
        clock.now += crowd.MIN_SECONDS_BETWEEN_DIGITS
    with pytest.raises(crowd.RateLimited, match="You have sent 30 digits, the most for one talk: thank you!") as refused:
        add(store, talk, 31, person=token(1))
    assert refused.value.retry_after is None
    add(store, talk, 32, person=token(2))
    assert store.count(talk) == 31
    new = store.new_talk()
    add(store, new, 33, person=token(1))
    assert store.count(new) == 1


def test_two_tabs_of_one_person_cannot_race_past_the_limit(db):
    clock = Clock()  # frozen: every pair sends within the same instant
    crowd.CrowdStore(db).current_talk()
    tabs = [crowd.CrowdStore(db, clock=clock) for _ in range(2)]  # separate connections, like two servers
    talk = tabs[0].current_talk()
    for round_ in range(15):
        start = threading.Barrier(2)
        outcomes = []

        def send(tab):
            start.wait()
            try:
                outcomes.append(add(tab, talk, round_, person=token(round_, "tabs")))
            except Exception as exc:  # collected: exactly one RateLimited expected
                outcomes.append(exc)

        threads = [threading.Thread(target=send, args=(tab,)) for tab in tabs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        refused = [o for o in outcomes if isinstance(o, Exception)]
        assert len(refused) == 1 and isinstance(refused[0], crowd.RateLimited), outcomes
    assert raw_count(db) == 15


# ---------------------------------------------------------------- hostile and broken input


def test_the_canvas_component_png_is_decoded_when_it_is_a_real_canvas():
    rgba = canvas_rgba()
    url = "data:image/png;base64," + base64.b64encode(png_bytes(rgba)).decode()
    np.testing.assert_array_equal(inputs.canvas_png_to_rgba(url), rgba)
    np.testing.assert_array_equal(inputs.canvas_png_to_rgba(png_bytes(rgba)), rgba)


@pytest.mark.parametrize("value, message", [
    (b"GIF89a" + bytes(200), "not a PNG"),
    (b"\x89PNG\r\n\x1a\n" + bytes(30_000_000), "more than the 1,000,000"),
    ("data:image/png;base64," + "A" * 40_000_000, "more than the 1,000,000"),
    ("data:image/jpeg;base64,/9j/4AAQ", "PNG data URL"),
    ("data:image/png;base64,@@not base64@@", "base64"),
    (png_bytes(canvas_rgba(200)), "200×200 px but the canvas is 300×300"),
    (png_bytes(canvas_rgba())[:400], "not a readable PNG"),
    (12345, "PNG bytes or a PNG data URL"),
])
def test_hostile_component_values_get_a_clear_message(value, message):
    with pytest.raises(crowd.CrowdInputError, match=message):
        inputs.canvas_png_to_rgba(value)


def test_a_png_header_claiming_a_huge_image_is_refused_before_decoding():
    raw = bytearray(png_bytes(canvas_rgba(64)))
    raw[16:24] = (100_000).to_bytes(4, "big") * 2  # a decompression bomb's claim
    with pytest.raises(crowd.CrowdInputError, match="100000×100000 px"):
        inputs.canvas_png_to_rgba(bytes(raw), expected_size=None)


def test_the_stored_canvas_picture_is_a_small_grayscale_png_even_for_noise():
    noise = np.random.default_rng(0).integers(0, 256, (1200, 1200, 4), dtype=np.uint8)
    for canvas in (canvas_rgba(), noise, png_bytes(canvas_rgba())):
        png = inputs.canvas_thumbnail_png(canvas)
        assert len(png) <= inputs.MAX_STORED_PNG_BYTES
        image = Image.open(io.BytesIO(png))
        assert image.size == (inputs.THUMBNAIL_SIDE,) * 2 and image.mode == "L"
    small = np.asarray(Image.open(io.BytesIO(inputs.canvas_thumbnail_png(canvas_rgba()))))
    assert small.max() > 200 and small[0, 0] == 0  # white ink on black, like the canvas


GOOD = dict(label=3, image28=np.zeros((28, 28), np.uint8), canvas_png=THUMB,
            probabilities={"ann": probs(3), "cnn": probs(3)}, model_files=FILES)


@pytest.mark.parametrize("change, message", [
    ({"canvas_png": b"GIF89a" + bytes(100)}, "not a PNG"),
    ({"canvas_png": b"\x89PNG\r\n\x1a\n" + bytes(30_000_000)}, "over the 20,480"),
    ({"canvas_png": b"\x89PNG\r\n\x1a\n" + bytes(100)}, "not a readable PNG"),
    ({"label": 12}, "0 to 9, got 12"),
    ({"label": "3"}, "whole number"),
    ({"image28": np.zeros((300, 300), np.uint8)}, r"28×28 image .* got shape \(300, 300\)"),
    ({"image28": np.full((28, 28), 2.0)}, r"\[0, 1\]"),
    ({"probabilities": {"ann": np.full(10, np.nan), "cnn": probs(3)}}, "ann probabilities contain NaN"),
    ({"probabilities": {"ann": np.full(10, 0.5), "cnn": probs(3)}}, "sum to 1"),
    ({"probabilities": {"ann": probs(3)[:9], "cnn": probs(3)}}, "ten numbers"),
    ({"model_files": {"ann": ("ann", "not-a-hash"), "cnn": FILES["cnn"]}}, "SHA-256"),
    ({"model_files": {"ann": FILES["ann"]}}, "model_files must name"),
    ({"person_token": "short"}, "person token"),
    ({"person_token": "x" * 10_000}, "person token"),
    ({"talk_id": 999}, "no talk 999"),
])
def test_bad_digits_are_refused_with_a_clear_message_and_nothing_is_stored(store, db, change, message):
    talk = store.current_talk()
    arguments = {"talk_id": talk, "person_token": token(1), **GOOD, **change}
    with pytest.raises(crowd.CrowdInputError, match=message):
        store.add_digit(**arguments)
    assert raw_count(db) == 0 and raw_count(db, table="verdicts") == 0
    store.add_digit(talk, token(1), **GOOD)  # the store goes on


# ---------------------------------------------------------------- export


def stored_room(store, n=12):
    talk = store.current_talk()
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n)
    for i in range(n):
        add(store, talk, i, label=int(labels[i]), image=images[i])
    return talk, images, labels


def test_npz_and_idx_exports_round_trip(store, tmp_path):
    talk, images, labels = stored_room(store)
    assert store.export_npz(talk, tmp_path / "room.npz") == 12
    with np.load(tmp_path / "room.npz") as npz:
        assert npz["x"].dtype == np.uint8 and npz["x"].shape == (12, 28, 28)
        np.testing.assert_array_equal(npz["x"], images)
        np.testing.assert_array_equal(npz["y"], labels)
    assert store.export_idx(talk, tmp_path / "idx") == 12
    image_path, label_path = export.idx_paths(talk, tmp_path / "idx")
    np.testing.assert_array_equal(data.parse_idx(image_path.read_bytes()), images)
    np.testing.assert_array_equal(data.parse_idx(label_path.read_bytes()), labels)
    assert sorted(p.name for p in (tmp_path / "idx").iterdir()) == sorted([image_path.name, label_path.name])



def test_in_memory_exports_for_the_talk_page_round_trip_and_leave_out_hidden_digits(store):
    import zipfile

    talk, images, labels = stored_room(store)
    store.hide(store.latest(talk, 1)[0].id)  # the newest: the 12th stored
    with np.load(io.BytesIO(store.npz_bytes(talk))) as npz:
        assert npz["x"].dtype == np.uint8 and npz["x"].shape == (11, 28, 28)
        np.testing.assert_array_equal(npz["x"], images[:11])
        np.testing.assert_array_equal(npz["y"], labels[:11])
    with zipfile.ZipFile(io.BytesIO(store.idx_zip_bytes(talk))) as archive:
        image_path, label_path = export.idx_paths(talk, ".")
        assert sorted(archive.namelist()) == sorted([image_path.name, label_path.name])
        np.testing.assert_array_equal(data.parse_idx(archive.read(image_path.name)), images[:11])
        np.testing.assert_array_equal(data.parse_idx(archive.read(label_path.name)), labels[:11])
    empty = store.new_talk()
    with np.load(io.BytesIO(store.npz_bytes(empty))) as npz:
        assert npz["x"].shape == (0, 28, 28) and npz["y"].shape == (0,)

def run_cli(*args, db):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MNIST_CROWD_DB": str(db)}
    return subprocess.run([sys.executable, "-m", "mnist_core", "crowd", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)


def test_the_cli_lists_talks_and_exports_them(db, tmp_path):
    store = crowd.CrowdStore(db, clock=Clock())
    old, images, labels = stored_room(store)
    store.new_talk("Second talk")
    store.close()

    listed = run_cli("talks", db=db)
    assert listed.returncode == 0, listed.stderr
    assert "Second talk" in listed.stdout and "12 digits" in listed.stdout

    done = run_cli("export", "--talk", str(old), "--out", str(tmp_path / "out" / "room.npz"), db=db)
    assert done.returncode == 0, done.stderr
    assert "Wrote 12 digits" in done.stdout
    with np.load(tmp_path / "out" / "room.npz") as npz:
        np.testing.assert_array_equal(npz["x"], images)
        np.testing.assert_array_equal(npz["y"], labels)

    done = run_cli("export", "--talk", str(old), "--format", "idx", "--out", str(tmp_path / "idx"), db=db)
    assert done.returncode == 0, done.stderr
    image_path, label_path = export.idx_paths(old, tmp_path / "idx")
    np.testing.assert_array_equal(data.parse_idx(image_path.read_bytes()), images)
    np.testing.assert_array_equal(data.parse_idx(label_path.read_bytes()), labels)


def test_the_cli_says_where_it_looked_when_there_is_no_database(tmp_path):
    missing = tmp_path / "nowhere.sqlite3"
    done = run_cli("export", "--out", str(tmp_path / "x.npz"), db=missing)
    assert done.returncode == 1
    assert str(missing) in done.stderr and "MNIST_CROWD_DB" in done.stderr
    assert not missing.exists()  # no empty database created where digits were expected


# ---------------------------------------------------------------- scores


def test_scoreboard_confusion_and_the_digits_that_fooled_both(store):
    talk = store.current_talk()
    # label, ANN's answer, CNN's answer: the ANN is right 8 of 10 times, the CNN 10 of 10, except
    # the last two digits, which fool both.
    rows = [(0, 0, 0), (1, 1, 1), (2, 2, 2), (3, 3, 3), (4, 4, 4), (5, 5, 5), (6, 6, 6), (7, 7, 7),
            (8, 3, 8), (9, 4, 9), (1, 7, 7), (4, 9, 9)]
    ids = [add(store, talk, i, label=label, ann=ann, cnn=cnn) for i, (label, ann, cnn) in enumerate(rows)]
    board = store.scoreboard(talk)
    assert (board["ann"].n, board["ann"].correct) == (12, 8)
    assert (board["cnn"].n, board["cnn"].correct) == (12, 10)
    assert board["ann"].accuracy == pytest.approx(8 / 12)
    assert board["ann"].models == ("ann",)
    # Wilson 95% for 8 of 12: 0.3906 – 0.8619 (as statsmodels' proportion_confint(method="wilson") gives).
    assert (board["ann"].low, board["ann"].high) == pytest.approx((0.3906, 0.8619), abs=1e-4)
    assert statistics.wilson_interval(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    assert statistics.wilson_interval(10, 10) == pytest.approx((0.7225, 1.0), abs=1e-4)
    assert statistics.wilson_interval(0, 0) == (0.0, 1.0)

    ann = store.confusion(talk, "ann")
    assert ann.shape == (10, 10) and ann.sum() == 12
    assert ann[8, 3] == 1 and ann[9, 4] == 1 and ann[1, 7] == 1 and ann[4, 9] == 1
    assert ann[1, 1] == 1 and ann[4, 4] == 1 and np.trace(ann) == 8
    cnn = store.confusion(talk, "cnn")
    assert np.trace(cnn) == 10 and cnn[1, 7] == 1 and cnn[4, 9] == 1

    assert [d.id for d in store.fooled_both(talk)] == [ids[11], ids[10]]
    room = store.labels_and_predictions(talk)
    np.testing.assert_array_equal(room.ids, ids)
    np.testing.assert_array_equal(room.labels, [r[0] for r in rows])
    np.testing.assert_array_equal(room.predictions["ann"], [r[1] for r in rows])


def test_an_empty_talk_has_an_empty_scoreboard(store):
    talk = store.current_talk()
    assert store.scoreboard(talk) == {}
    assert store.confusion(talk, "cnn").sum() == 0
    assert store.fooled_both(talk) == []


def test_a_database_of_schema_1_is_upgraded_in_place_and_keeps_its_digits(tmp_path):
    """A room database written before send ids and the room's secret existed (schema 1)."""
    import sqlite3

    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE talks (id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT NOT NULL, created REAL NOT NULL);
        CREATE TABLE digits (id INTEGER PRIMARY KEY AUTOINCREMENT, talk_id INTEGER NOT NULL REFERENCES talks(id),
            created REAL NOT NULL, person TEXT NOT NULL, label INTEGER NOT NULL CHECK (label BETWEEN 0 AND 9),
            image BLOB NOT NULL CHECK (length(image) = 784), canvas_png BLOB NOT NULL CHECK (length(canvas_png) <= 20480),
            hidden INTEGER NOT NULL DEFAULT 0 CHECK (hidden IN (0, 1)));
        CREATE INDEX digits_by_talk ON digits (talk_id, hidden, id);
        CREATE INDEX digits_by_person ON digits (person, talk_id, created);
        CREATE TABLE verdicts (digit_id INTEGER NOT NULL REFERENCES digits(id), kind TEXT NOT NULL,
            probabilities TEXT NOT NULL, predicted INTEGER NOT NULL CHECK (predicted BETWEEN 0 AND 9),
            model_name TEXT NOT NULL, model_sha256 TEXT NOT NULL, PRIMARY KEY (digit_id, kind)) WITHOUT ROWID;
        INSERT INTO talks (title, created) VALUES ('An old talk', 1.0);
        PRAGMA user_version = 1;""")
    conn.execute("INSERT INTO digits (talk_id, created, person, label, image, canvas_png) VALUES (1, 2.0, ?, 4, ?, ?)",
                 ("p" * 22, bytes(784), inputs.canvas_thumbnail_png(np.zeros((40, 40, 4), np.uint8))))
    conn.commit()
    conn.close()
    with crowd.CrowdStore(path) as store:
        assert store.talks()[0].digits == 1 and store.digit(1).label == 4
        assert len(store.room_secret()) == 32 and store.room_secret() == store.room_secret()
        person = inputs.new_person_token()
        first = store.add_digit(1, person, 3, np.zeros((28, 28), np.uint8), inputs.canvas_thumbnail_png(np.zeros((40, 40, 4), np.uint8)),
                                {"ann": [0.1] * 10}, {"ann": ("ann", "ab" * 32)}, send_id="upgraded-1")
        assert store.add_digit(1, person, 3, np.zeros((28, 28), np.uint8),
                               inputs.canvas_thumbnail_png(np.zeros((40, 40, 4), np.uint8)),
                               {"ann": [0.1] * 10}, {"ann": ("ann", "ab" * 32)}, send_id="upgraded-1") == first
        assert store.sent_digit(person, "upgraded-1").id == first and store.count(1) == 2
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION


def test_the_room_secret_is_the_same_for_every_process_on_one_database(db, tmp_path):
    with crowd.CrowdStore(db) as one, crowd.CrowdStore(db) as two:
        assert one.room_secret() == two.room_secret() and len(one.room_secret()) == 32
    with crowd.CrowdStore(tmp_path / "b.sqlite3") as other:
        assert other.room_secret() != crowd.CrowdStore(db).room_secret()


def test_scores_kept_up_to_date_match_a_count_from_scratch_as_digits_arrive_and_are_hidden(store, db):
    talk = store.current_talk()
    rng = np.random.default_rng(3)

    def fresh():  # another process's store: counts everything from the start
        with crowd.CrowdStore(db) as other:
            return other.scoreboard(talk), other.confusion(talk, "ann"), [d.id for d in other.fooled_both(talk)]

    for step in range(4):
        for i in range(step * 10, step * 10 + 10):
            store._clock.now += crowd.MIN_SECONDS_BETWEEN_DIGITS
            add(store, talk, i, ann=int(rng.integers(10)), cnn=int(rng.integers(10)))
        if step == 2:
            store.hide(store.latest(talk, 1)[0].id)
            store.hide(store.latest(talk, 30)[-1].id)
        board, matrix, fooled = fresh()
        assert store.scoreboard(talk) == board
        assert np.array_equal(store.confusion(talk, "ann"), matrix)
        assert [d.id for d in store.fooled_both(talk)] == fooled
    assert board["ann"].n == 38 and store.confusion(talk, "ann").sum() == 38
