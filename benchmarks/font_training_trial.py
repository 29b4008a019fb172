"""Does training on digits set in handwriting fonts help the models read new writers?

A trial, not a recipe: the shipped model is trained on for a few more epochs twice, from the same
start, with the same seed and learning rate: once on MNIST's training digits alone (its card's
augmentation: the control), and once with digits set in 8 handwriting fonts added, drawn with the
Draw page's pen at random sizes, places and slants (`TRAINING_FONTS`, none of them among the 17
fonts of the held-out measure). The font digits reach training as the app's preprocessing gives
them, as the pen's digits do. Both are written as model files, so the held-out measure compares
them: `benchmarks/handwriting_accuracy.py --models OUT/control OUT/fonts`.

Usage: python benchmarks/font_training_trial.py --model cnn [--epochs 3] [--per-digit 150] [--out DIR]
The fonts are Debian packages; a missing one is named with the command that installs it
(handwriting.check_fonts).
"""

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from mnist_core.data import augment, handwriting, load_mnist  # noqa: E402
from mnist_core.data.handwriting import Font  # noqa: E402
from mnist_core.models import presets, registry  # noqa: E402

_OT, _TT = "/usr/share/fonts/opentype", "/usr/share/fonts/truetype"
# Looked at: Joscelyn's swashes and Typo Script (no digits) are left out.
TRAINING_FONTS = (
    Font("Kristi", f"{_TT}/kristi/Kristi.ttf", "fonts-kristi"),
    Font("Klee One", f"{_TT}/klee/KleeOne-Regular.ttf", "fonts-klee"),
    Font("Kaushan Script", f"{_OT}/kaushanscript/KaushanScript-Regular.otf", "fonts-kaushanscript"),
    Font("Havana", f"{_OT}/havana/Havana-Regular.otf", "fonts-havana"),
    Font("Leckerli One", f"{_TT}/leckerli-one/LeckerliOne-Regular.ttf", "fonts-leckerli-one"),
    Font("Lobster", f"{_OT}/lobster/lobster.otf", "fonts-lobster"),
    Font("Seto", f"{_TT}/seto/setofont.ttf", "fonts-seto"),
    Font("Kiloji", f"{_TT}/kiloji/kiloji.ttf", "fonts-kiloji"),
)
assert not {f.name for f in TRAINING_FONTS} & {f.name for f in handwriting.FONTS}, "a held-out font in training"
BATCH = 128


def font_training_digits(per_digit: int) -> handwriting.DigitSet:
    """Every training font's digits, `per_digit` times each at random pens, sizes, places and slants,
    each font with a seed of its own (none of them the held-out measure's)."""
    sets = [handwriting.font_digits(seed=100 + i, per_digit=per_digit, fonts=(font,))
            for i, font in enumerate(TRAINING_FONTS)]
    return handwriting.DigitSet(*(np.concatenate([getattr(s, f) for s in sets])
                                  for f in ("images", "labels", "source", "pen")))


def train_on(model, x, y, drawn, kinds, epochs: int, learning_rate: float, seed: int, loss: str):
    """Fine-tunes `model` on (x, y); the digits marked `drawn` (already as preprocessed) are left
    as they are, the rest get `kinds` of augmentation, as in the training worker."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    x_t, y_t, drawn_t = tf.constant(x), tf.constant(y), tf.constant(drawn)

    def change(xb, drawn_b, batch_seed):
        out = xb.copy()
        own = ~drawn_b
        if own.any():
            out[own] = augment.augment(xb[own], kinds, np.random.default_rng([seed, int(batch_seed) & 0x7FFFFFFF]))
        return out

    def mapped(idx, batch_seed):
        xb, yb, db = tf.gather(x_t, idx), tf.gather(y_t, idx), tf.gather(drawn_t, idx)
        xb2 = tf.numpy_function(change, [xb, db, batch_seed], tf.float32, stateful=False)
        return tf.ensure_shape(xb2, xb.shape), yb

    order = tf.data.Dataset.range(len(x)).shuffle(len(x), seed=seed, reshuffle_each_iteration=True).batch(BATCH)
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    data = tf.data.Dataset.zip(order, seeds).map(mapped, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    steps = math.ceil(len(x) / BATCH)
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=epochs * steps, alpha=0.01)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=loss, metrics=["accuracy"])
    model.fit(data.prefetch(tf.data.AUTOTUNE), epochs=epochs, verbose=2, shuffle=False)  # tf.data shuffles
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="cnn", help="a shipped model's name (its card gives the augmentation)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--per-digit", type=int, default=150, help="canvases per digit and font")
    parser.add_argument("--learning-rate", type=float, default=3e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-size", type=int, default=60000, help="MNIST training digits (a smoke test: fewer)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="font-trial-"))
    out.mkdir(parents=True, exist_ok=True)

    from mnist_core.models.networks import load_model, write_model_file

    card = registry.read_card(args.model)
    kinds = tuple(card["hyperparameters"]["augment"])
    loss = presets.get_preset(card["preset"]).loss
    (x_train, y_train), (x_test, y_test) = load_mnist()
    x_train = x_train[: args.train_size].astype(np.float32) / 255
    y_train = y_train[: args.train_size].astype(np.int64)

    started = time.perf_counter()
    try:
        fonts = font_training_digits(args.per_digit)
    except handwriting.FontMissingError as exc:
        sys.exit(str(exc))
    print(f"{len(fonts.labels):,} font digits ({len(TRAINING_FONTS)} fonts × 10 × {args.per_digit}) drawn "
          f"in {time.perf_counter() - started:.0f} s", flush=True)

    arms = {
        "control": (x_train, y_train, np.zeros(len(x_train), bool)),
        "fonts": (np.concatenate([x_train, fonts.images.astype(np.float32)]),
                  np.concatenate([y_train, fonts.labels.astype(np.int64)]),
                  np.concatenate([np.zeros(len(x_train), bool), np.ones(len(fonts.labels), bool)])),
    }
    for name, (x, y, drawn) in arms.items():
        started = time.perf_counter()
        model = train_on(load_model(args.model), x, y, drawn, kinds, args.epochs, args.learning_rate, args.seed, loss)
        accuracy = float(np.mean(model.predict(x_test.astype(np.float32) / 255, verbose=0).argmax(1) == y_test))
        write_model_file(model, out / f"{name}.keras")
        print(f"{name}: {len(x):,} training digits, {args.epochs} epochs in {time.perf_counter() - started:.0f} s; "
              f"MNIST test {accuracy:.2%}; {out / name}.keras", flush=True)
    print(f"Compare: python benchmarks/handwriting_accuracy.py --models {args.model} {out}/control {out}/fonts")


if __name__ == "__main__":
    main()
