"""Learn from the room: the split, the mix, and a real fine-tune in the training worker."""

import numpy as np
import pytest

from mnist_core import training
from mnist_core.models import registry
from mnist_core.talk import room_learning
from mnist_core.talk.room_learning import NotEnoughDigits, RoomLesson, split_room


def room_of(labels, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.array(labels, np.uint8)
    return rng.integers(0, 256, (len(labels), 28, 28), dtype=np.uint8), labels


def test_split_puts_half_of_every_label_aside_and_loses_nothing():
    x, y = room_of([3] * 7 + [5] * 4 + [8] * 1)
    split = split_room(x, y, seed=1)
    assert len(split.y_learn) + len(split.y_held) == 12
    assert sorted(split.y_learn.tolist()) == [3, 3, 3, 3, 5, 5, 8]  # the odd one is learned
    assert sorted(split.y_held.tolist()) == [3, 3, 3, 5, 5]
    together = np.concatenate([split.x_learn, split.x_held]).reshape(12, -1)
    assert len({row.tobytes() for row in together}) == 12  # no digit in both halves, none lost
    assert split_room(x, y, seed=1).x_held.tobytes() == split.x_held.tobytes()  # same seed, same split


def test_the_mix_repeats_the_learned_half_to_about_a_quarter(mnist):
    (x_train, y_train), _ = mnist
    split = split_room(*room_of(list(range(10)) * 6))  # 30 to learn
    x, y = room_learning.training_mix(split, x_train, y_train)
    repeats = room_learning.room_repeats(30)
    assert repeats == room_learning.MAX_REPEATS  # 2,000 / 30 capped: a few digits are not copied endlessly
    assert len(x) == room_learning.MNIST_MIXED + 30 * repeats and x.dtype == np.uint8 and y.dtype == np.uint8
    learned = {row.tobytes() for row in split.x_learn}
    assert sum(row.tobytes() in learned for row in x) == 30 * repeats
    assert room_learning.room_repeats(4000) == 1
    assert room_learning.room_repeats(200) == 10  # 2,000 room images beside 6,000 MNIST ones


def test_too_few_digits_say_how_many_are_needed(mnist):
    with pytest.raises(NotEnoughDigits, match=r"at least 20 digits .* this talk has 7 visible"):
        RoomLesson(1, room_of([1] * 7), {"ann": "ann"}, mnist)


def test_a_fine_tune_must_start_from_a_saved_model_of_its_own_preset():
    with pytest.raises(training.HyperparameterError, match="no saved model 'nope'"):
        training.validate(training.TrainingConfig("ann", start_from="nope"), 60_000)
    with pytest.raises(training.HyperparameterError, match="no saved model"):
        training.validate(training.TrainingConfig("ann", start_from="../cnn"), 60_000)
    with pytest.raises(training.HyperparameterError, match="trained from preset 'cnn', not 'ann'"):
        training.validate(training.TrainingConfig("ann", start_from="cnn"), 60_000)


def shifted(images):
    return np.roll(images, 6, axis=2)  # every digit drawn 6 px right of centre: a plain network reads these badly


def test_the_room_is_learned_by_a_copy_in_the_worker_and_the_original_is_untouched(mnist, models_dir, monkeypatch):
    (x_train, y_train), (x_test, y_test) = mnist
    small = ((x_train[:3000], y_train[:3000]), (x_test[:1000], y_test[:1000]))
    base = training.TrainingRun(training.TrainingConfig("seed000-ann", epochs=2, train_size=3000),
                                data=small)
    assert base.run().state == "finished"
    registry.save_model_file(base.model_file, "base", training.model_card(base))
    original = registry.file_hash("base")

    monkeypatch.setattr(room_learning, "MNIST_MIXED", 1500)
    monkeypatch.setattr(room_learning, "EPOCHS", 2)
    room = (shifted(x_test[5000:5240]), y_test[5000:5240])  # the room draws off-centre
    lesson = RoomLesson(7, room, {"ann": "base"}, small).start()
    assert room_learning.latest_lesson(7) is lesson
    assert lesson.runs["ann"].config.start_from == "base"
    assert lesson.runs["ann"].config.learning_rate == pytest.approx(0.001 * room_learning.LEARNING_RATE_FACTOR)
    lesson.runs["ann"].wait(300)
    assert not lesson.is_active

    result = lesson.result("ann")
    assert result.before.n == result.after.n == len(lesson.split.y_held) == 117  # the half it never saw
    assert result.before.accuracy < 0.5 and result.after.accuracy > result.before.accuracy + 0.25, result
    fixed = [i for i, b, a in result.changed if a == lesson.split.y_held[i] != b]
    assert len(fixed) >= 25 and all(b != a for _, b, a in result.changed)  # the digits it now reads right
    assert 0.5 < result.mnist_after <= 1 and result.mnist_before == registry.read_card("base")["test_accuracy"]
    assert registry.file_hash("base") == original  # a copy learned; the shown model did not change

    card = lesson.card("ann")
    assert card["fine_tuned_from"] == "base" and card["hyperparameters"]["start_from"] == "base"
    assert card["room"]["digits_learned"] == 123 and card["room"]["held_out_accuracy_after"] == result.after.accuracy
    path = registry.save_model_file(lesson.runs["ann"].model_file, "base-room", card)
    assert path.is_file() and registry.read_card("base-room")["fine_tuned_from"] == "base"
