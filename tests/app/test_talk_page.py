"""The Talk page (the presenter's projector) through AppTest: the key gate, the live wall, Hide,
the scoreboard, New talk and the exports. The room is real: MNIST test digits judged by the
shipped models, stored in a CrowdStore of the test's own."""

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from mnist_core import charts, data
from mnist_core.models import registry
from mnist_core.models.inference import load_classifier
from mnist_core.talk import crowd, export, inputs, statistics

from .test_pages import metric

APP = str(Path(__file__).resolve().parents[2] / "streamlit_app.py")
PAGE = "app_pages/talk.py"
TIMEOUT = 120
KEY = "talk-test-key-1234"
KINDS = ("ann", "cnn")
THUMB = inputs.canvas_thumbnail_png(np.dstack([np.zeros((300, 300, 3), np.uint8), np.full((300, 300), 255, np.uint8)]))


def talk_mode_store(location, monkeypatch):
    """Talk mode on, the room's database at `location`; the app's cached store is dropped before
    and after, so the page opens this very database."""
    monkeypatch.setenv("MNIST_TALK_KEY", KEY)
    monkeypatch.setenv("MNIST_CROWD_DB", str(location))
    st.cache_resource.clear()
    with crowd.CrowdStore(location) as s:
        yield s
    st.cache_resource.clear()


@pytest.fixture
def store(room_db, monkeypatch):
    """The wall, scores, moderation, exports and learning run on SQLite and on PostgreSQL."""
    yield from talk_mode_store(room_db, monkeypatch)


@pytest.fixture
def sqlite_store(tmp_path, monkeypatch):
    """The key gate does not touch the database's kind: SQLite only."""
    yield from talk_mode_store(tmp_path / "crowd.sqlite3", monkeypatch)


def fill(store, mnist, indices, wrong_labels=()):
    """Store MNIST test digits with the shipped models' real probabilities. Labels are the true ones,
    except at the positions in `wrong_labels` (a person who drew something else than asked).
    Returns the labels used and each kind's predictions."""
    (_, _), (x_test, y_test) = mnist
    models = {kind: load_classifier(kind) for kind in KINDS}
    files = {kind: (kind, registry.file_hash(kind)) for kind in KINDS}
    images = x_test[list(indices)]
    probabilities = {kind: model.predict_proba(images.astype(np.float32) / 255) for kind, model in models.items()}
    talk = store.current_talk()
    labels = []
    for n, index in enumerate(indices):
        label = int(y_test[index]) if n not in wrong_labels else (int(y_test[index]) + 3) % 10
        labels.append(label)
        store.add_digit(talk, f"person-{talk}-{n:04d}-token", label, images[n], THUMB,
                        {kind: probabilities[kind][n] for kind in KINDS}, files)
    return np.array(labels), {kind: probabilities[kind].argmax(axis=1) for kind in KINDS}


def open_talk(key_in_url: bool = True) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if key_in_url:
        at.query_params["key"] = KEY
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def hide_buttons(at: AppTest) -> list[str]:
    return [b.key for b in at.button if b.key and b.key.startswith("hide-") and not b.key.startswith("hide-every-")]


def markdown_text(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


# ------------------------------------------------------------------ the key gate


def test_without_the_key_the_page_shows_only_a_password_field(sqlite_store, mnist):
    fill(sqlite_store, mnist, range(3))
    at = open_talk(key_in_url=False)
    assert [t.label for t in at.text_input] == ["Presenter's key"]
    assert at.text_input[0].proto.type == at.text_input[0].proto.PASSWORD  # dots, not the key
    assert not at.metric and not at.get("image") and not at.download_button
    assert not hide_buttons(at) and not at.get("plotly_chart")
    assert "Draw a digit on your phone" not in markdown_text(at)  # no join code, no wall


def test_a_wrong_key_says_so_and_unlocks_nothing(sqlite_store):
    at = open_talk(key_in_url=False)
    at.text_input[0].input("not-the-key")
    at.button[0].click().run()
    assert not at.exception
    assert "not the presenter's key" in at.error[0].value
    assert not at.metric and not at.download_button and not at.get("image")
    assert [t.label for t in at.text_input] == ["Presenter's key"]


def test_repeated_wrong_keys_are_slowed_down(sqlite_store, monkeypatch):
    from mnist_core.talk import presenter

    now = [0.0]
    monkeypatch.setattr(presenter, "KEY_GUARD", presenter.KeyGuard(clock=lambda: now[0]))
    at = open_talk(key_in_url=False)
    for wait in (1, 2, 4):
        at.text_input[0].input("not-the-key")
        at.button[0].click().run()
        assert f"Wait {wait} s before the next try" in at.error[0].value
        at.text_input[0].input(KEY)  # the right key, but too soon after a wrong one: not even compared
        at.button[0].click().run()
        assert "Too many wrong keys: wait" in at.error[0].value and not at.metric
        now[0] += wait
    at.text_input[0].input(KEY)
    at.button[0].click().run()
    assert not at.error and metric(at, "Digits received")


def test_the_right_key_in_the_field_unlocks_the_page(sqlite_store, mnist):
    fill(sqlite_store, mnist, range(3))
    at = open_talk(key_in_url=False)
    at.text_input[0].input(KEY)
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert not at.error
    assert metric(at, "Digits received").value == "3"
    assert at.session_state["talk_role"] == "presenter"


def test_the_key_in_the_url_unlocks_the_page_and_leaves_the_address_bar(sqlite_store):
    at = open_talk()
    assert not at.text_input  # no password field
    assert "key" not in at.query_params
    assert metric(at, "Digits received").value == "0"
    text = markdown_text(at)
    assert "Draw a digit on your phone" in text and "/join" in text
    assert len(at.get("image")) == 1  # the QR code; an empty talk has no tiles


# ------------------------------------------------------------------ wall, moderation, scores


def test_the_wall_counts_and_shows_the_rooms_digits_and_an_empty_talk_says_what_to_do(store, mnist):
    at = open_talk()
    assert any("No digits yet: scan the code and draw one" in i.value for i in at.info)
    assert not at.get("plotly_chart")  # no empty charts
    fill(store, mnist, range(30))
    at.run()
    assert metric(at, "Digits received").value == "30"
    assert len(hide_buttons(at)) == 6  # new tiles join at a pace a room can read, every digit counted
    assert any("Digits arrive faster than the wall shows them" in c.value for c in at.caption)
    at.run()
    at.run()
    assert len(hide_buttons(at)) == 18  # the newest 18 tiles
    assert not any("Digits arrive faster" in c.value for c in at.caption)
    newest = store.latest(store.current_talk(), 1)[0]
    assert hide_buttons(at)[0] == f"hide-{newest.id}"
    charts = [chart.key for chart in at.get("plotly_chart")]  # a room confusion matrix per model, the room's map
    assert charts == ["room-confusion-ann", "room-confusion-cnn", "talk-room-map"]


def test_the_rooms_digits_land_in_the_cnns_map_and_the_fooled_ones_are_marked(sqlite_store, mnist):
    labels, predictions = fill(sqlite_store, mnist, range(20), wrong_labels={2, 5, 11})
    at = open_talk()
    spec = json.loads(next(c for c in at.get("plotly_chart") if c.key == "talk-room-map").proto.spec)
    traces = {trace.get("name"): trace for trace in spec["data"]}
    assert len(traces["placed"]["text"]) == 20
    fooled = int((predictions["cnn"] != labels).sum())
    assert fooled >= 3 and len(traces["fooled"]["x"]) == fooled
    assert any(f"the {fooled} that fooled the CNN" in c.value for c in at.caption)


def test_the_scoreboard_shows_each_models_accuracy_count_and_interval(store, mnist):
    labels, predictions = fill(store, mnist, range(20), wrong_labels={2, 5, 11})
    at = open_talk()
    for kind, name in (("ann", "ANN"), ("cnn", "CNN")):
        right = int((predictions[kind] == labels).sum())
        assert right <= 17  # the three wrong labels can only lower it
        low, high = statistics.wilson_interval(right, 20)
        shown = metric(at, f"{name} · accuracy")
        assert shown.value == f"{right / 20:.1%}"
        assert shown.delta == f"{right} of 20 right · 95% interval {low:.0%}–{high:.0%}"
    fooled = [i for i in range(20) if all(predictions[k][i] != labels[i] for k in KINDS)]
    assert len(fooled) >= 3
    gallery = [img for img in at.get("image") if len(img.captions) > 1 or
               (img.captions and img.captions[0].startswith("asked"))]
    captions = [c for img in gallery for c in img.captions]
    assert len(captions) == len(fooled)
    assert all(c.startswith("asked ") for c in captions)


def test_hide_removes_the_tile_and_lowers_the_count_and_the_scores(store, mnist):
    labels, predictions = fill(store, mnist, range(10))
    at = open_talk()
    assert metric(at, "Digits received").value == "10"
    assert metric(at, "ANN · accuracy").delta.split(" right")[0].endswith("of 10")
    victim = hide_buttons(at)[3]
    at.button(key=victim).click().run()
    assert not at.exception, at.exception
    assert victim not in hide_buttons(at) and len(hide_buttons(at)) == 9
    assert metric(at, "Digits received").value == "9"
    for name in ("ANN", "CNN"):
        assert " of 9 right" in metric(at, f"{name} · accuracy").delta
    digit_id = int(victim.removeprefix("hide-"))
    assert store.digit(digit_id).hidden  # kept, not deleted
    assert store.count(store.current_talk()) == 9


def test_new_talk_needs_a_confirmation_empties_the_wall_and_keeps_the_old_talk(store, mnist):
    fill(store, mnist, range(5))
    old = store.current_talk()
    at = open_talk()
    assert at.button(key="new_talk").disabled  # a misclick cannot empty the wall
    at.checkbox(key="confirm_new_talk").check().run()
    at.button(key="new_talk").click().run()
    assert not at.exception, at.exception
    assert store.current_talk() != old
    assert metric(at, "Digits received").value == "0"
    assert not hide_buttons(at)
    assert any("No digits yet" in i.value for i in at.info)
    assert not at.checkbox(key="confirm_new_talk").value  # unticked again
    talks = {t.id: t for t in store.talks()}
    assert old in talks and talks[old].digits == 5
    # The earlier talk's results can still be shown, read-only (no Hide buttons).
    at.selectbox(key="talk_shown").select(old).run()
    assert metric(at, "Digits received").value == "5"
    assert not hide_buttons(at) and len([img for img in at.get("image")]) > 5
    assert "earlier talk" in at.warning[0].value


# ------------------------------------------------------------------ export


@pytest.fixture
def media_managers(monkeypatch):
    """Every MediaFileManager AppTest creates, so a test can run a download button's deferred
    callable after the run, as the browser's click would."""
    from streamlit.runtime.media_file_manager import MediaFileManager
    from streamlit.testing.v1 import app_test

    made = []

    class Recording(MediaFileManager):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(app_test, "MediaFileManager", Recording)
    return made


def downloaded(managers, button) -> bytes:
    file_id = button.proto.deferred_file_id
    assert file_id, "the export is built on click (deferred), so it holds every digit received by then"
    manager = next(m for m in reversed(managers) if file_id in m._deferred_callables)
    url = manager.execute_deferred(file_id)
    return manager._storage.get_file(url.rsplit("/", 1)[-1].split(".")[0]).content


def test_the_download_buttons_give_the_visible_digits_as_npz_and_idx(store, mnist, media_managers):
    labels, _ = fill(store, mnist, range(8))
    (_, _), (x_test, _) = mnist
    store.hide(store.latest(store.current_talk(), 1)[0].id)  # the 8th: never exported
    at = open_talk()
    buttons = {b.label: b for b in at.download_button}
    assert set(buttons) == {"Digits as .npz (x, y)", "Digits as MNIST IDX files (zip)"}
    with np.load(io.BytesIO(downloaded(media_managers, buttons["Digits as .npz (x, y)"]))) as npz:
        assert npz["x"].dtype == np.uint8 and npz["x"].shape == (7, 28, 28)
        np.testing.assert_array_equal(npz["x"], x_test[:7])
        np.testing.assert_array_equal(npz["y"], labels[:7])
    with zipfile.ZipFile(io.BytesIO(downloaded(media_managers, buttons["Digits as MNIST IDX files (zip)"]))) as zf:
        images, labels_file = export.idx_paths(store.current_talk(), ".")
        np.testing.assert_array_equal(data.parse_idx(zf.read(images.name)), x_test[:7])
        np.testing.assert_array_equal(data.parse_idx(zf.read(labels_file.name)), labels[:7])


def test_tiles_show_each_models_answer_marked_right_or_wrong_in_its_colour(store, mnist):
    labels, predictions = fill(store, mnist, range(4), wrong_labels={0})
    at = open_talk()
    tiles = [m.value for m in at.markdown if "tile-verdict" in m.value]
    assert len(tiles) == 4
    oldest = tiles[-1]  # newest first: the wrongly labelled digit is last
    assert f"asked <b>{labels[0]}</b>" in oldest
    for kind in KINDS:
        assert charts.kind_color(kind, projector=True) in oldest  # the Talk page turns the preset on
    assert oldest.count("✗") == 2 and "✓" not in oldest
    assert all(t.count("✓") == 2 for t in tiles[:-1])


# ------------------------------------------------------------------ learn from the room


def lesson_button(at: AppTest):
    return at.button(key="lesson_start")


def test_learning_from_the_room_waits_for_enough_digits(store, mnist):
    fill(store, mnist, range(5))
    at = open_talk()
    assert lesson_button(at).disabled and "the room has sent 5" in lesson_button(at).help
    assert any("From 20 digits on" in c.value and "5 so far" in c.value for c in at.caption)


def test_the_room_teaches_a_copy_that_is_judged_on_digits_it_never_saw_and_can_be_saved(store, mnist, models_dir):
    import shutil
    import time

    from mnist_core.talk import room_learning

    for name in ("ann.keras", "ann.json", "cnn.keras", "cnn.json"):  # the shipped models, in a folder of the test's own
        shutil.copy(registry.MODELS_DIR / name, models_dir / name)
    fill(store, mnist, range(30))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["key"] = KEY
    at.session_state["model_toggle"] = "ANN"  # the copy of the shown model only: the CNN's is slower
    at.switch_page(PAGE).run()
    lesson_button(at).click().run()
    assert not at.exception, at.exception
    lesson = room_learning.latest_lesson(store.current_talk())
    assert lesson is not None and set(lesson.runs) == {"ann"} and lesson.digits == 30
    assert any("ANN:" in p.proto.text for p in at.get("progress"))  # the copy's progress is shown
    deadline = time.monotonic() + 240
    while lesson.is_active and time.monotonic() < deadline:
        time.sleep(1)
    at.run()
    assert not at.exception, at.exception
    shown = metric(at, "ANN · the room's digits it never saw")
    result = lesson.result("ann")
    assert shown.value == f"{result.after.accuracy:.1%}" and "points (before:" in shown.delta
    assert result.after.n == len(lesson.split.y_held) == 30 - len(lesson.split.y_learn) >= 10
    at.text_input(key="lesson-name-ann").input("ann-from-the-room")
    next(b for b in at.button if b.label == "Save model").click().run()
    assert not at.exception, at.exception
    assert registry.read_card("ann-from-the-room")["fine_tuned_from"] == "ann"
    assert registry.read_card("ann")["preset"] == "ann" and "fine_tuned_from" not in registry.read_card("ann")


def test_every_digit_can_be_moderated_beyond_the_wall(store, mnist):
    fill(store, mnist, range(40))
    at = open_talk()
    assert not [b for b in at.button if b.key and b.key.startswith("hide-every-")]  # off until asked: 40 tiles
    at.toggle(key="talk_every_digit").set_value(True).run()
    every = [b.key for b in at.button if b.key and b.key.startswith("hide-every-")]
    assert len(every) == 30  # the newest page
    at.number_input(key="talk_every_page").set_value(2).run()
    every = [b.key for b in at.button if b.key and b.key.startswith("hide-every-")]
    assert len(every) == 10
    oldest = min(int(k.removeprefix("hide-every-")) for k in every)
    at.button(key=f"hide-every-{oldest}").click().run()
    assert not at.exception, at.exception
    assert store.digit(oldest).hidden and metric(at, "Digits received").value == "39"


def test_a_tile_says_when_a_model_was_unsure(store, mnist):
    (_, _), (x_test, _) = mnist
    files = {kind: (kind, registry.file_hash(kind)) for kind in KINDS}
    flat = {kind: [0.1] * 10 for kind in KINDS}  # a model that has no idea: under any unsure threshold
    store.add_digit(store.current_talk(), "person-unsure-0001-token", 4, x_test[0], THUMB, flat, files)
    at = open_talk()
    tiles = [m.value for m in at.markdown if "tile-verdict" in m.value]
    assert any("that model was unsure" in c.value for c in at.caption)
    assert len(tiles) == 1 and tiles[0].count("title='unsure'>?<") == 2, tiles


# ------------------------------------------------------------------ PostgreSQL restarting


def test_the_wall_says_when_postgresql_does_not_answer_and_goes_on_when_it_is_back(monkeypatch, mnist):
    from deploy import local_postgres

    server = local_postgres.start_temporary()
    try:
        for store in talk_mode_store(server.url, monkeypatch):
            fill(store, mnist, range(4))
            at = open_talk()
            assert metric(at, "Digits received").value == "4"
            server.stop()
            at.run()
            assert not at.exception, at.exception
            warnings = " ".join(w.value for w in at.warning)
            assert "not answering" in warnings and "goes on by itself" in warnings
            assert not at.metric  # no stale count shown as if it were live
            server.start()
            at.run()
            assert not at.exception and metric(at, "Digits received").value == "4"
    finally:
        server.remove()
