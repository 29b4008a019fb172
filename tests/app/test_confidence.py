"""The Honest confidence section (app_pages/confidence.py) through AppTest, on the shipped models."""

from streamlit.testing.v1 import AppTest

SCRIPT = """
from app_pages.confidence import honest_confidence_section
honest_confidence_section({chosen!r})
"""


def section(chosen: dict) -> AppTest:
    at = AppTest.from_string(SCRIPT.format(chosen=chosen), default_timeout=120).run()
    assert not at.exception, at.exception
    return at


def test_both_models_show_their_calibration_their_answers_to_non_digits_and_their_threshold():
    at = section({"ann": "ann", "cnn": "cnn"})
    assert [s.value for s in at.subheader] == ["Honest confidence"]
    assert len(at.caption) == 1  # one caption for the section
    for family in ("ANN", "CNN"):
        ece = [m for m in at.metric if m.label.startswith(family) and "ECE" in m.label]
        answered = [m for m in at.metric if m.label.startswith(family) and "sure, to" in m.label]
        assert len(ece) == 1 and ece[0].value.endswith("%") and "temperature T =" in ece[0].delta
        assert len(answered) == 1 and answered[0].value.endswith("of 60") and "flagged unsure" in answered[0].delta
    assert [t.label for t in at.tabs] == ["Letters", "Scribbles", "Noise"]
    summary = at.markdown[-1].value
    assert "**ANN · ann** is unsure below" in summary and "**CNN · cnn** is unsure below" in summary


def test_only_the_chosen_family_is_shown():
    at = section({"cnn": "cnn"})
    labels = [m.label for m in at.metric]
    assert labels and all(label.startswith("CNN") for label in labels)


def test_a_missing_model_shows_its_error_and_the_rest_still_renders(models_dir):
    import shutil
    from pathlib import Path

    shipped = Path(__file__).resolve().parents[2] / "trained_models"
    for suffix in (".keras", ".json"):
        shutil.copy(shipped / f"cnn{suffix}", models_dir / f"cnn{suffix}")
    at = section({"ann": "ann", "cnn": "cnn"})  # no ann in this models folder
    assert at.error and "ann" in at.error[0].value
    assert [m.label for m in at.metric if "ECE" in m.label] == ["CNN · cnn · calibration error (ECE)"]
