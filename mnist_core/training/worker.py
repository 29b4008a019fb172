"""The Keras side of a training run, in a process of its own.

The Streamlit server never imports TensorFlow: with it loaded, every script run paid ~0.5 s of
garbage collection over its ~400,000 objects (docs/architecture.md, "Two processes"). So `training.TrainingRun` starts
`python -m mnist_core.training.worker REPORT_FD CONTROL_FD`, a fresh interpreter (not
multiprocessing's spawn, which re-runs the parent's main module: streamlit's CLI, or pytest).
On the control pipe the server sends the job, then possibly "stop"; on the report pipe the
worker sends, as pickled tuples:

    ("status", text)            what it is doing before the first batch (loading TensorFlow, …)
    ("batch", BatchProgress)    at most every PROGRESS_INTERVAL s, and the last batch of an epoch
    ("snapshot", EpochSnapshot) when an epoch ends: strip answers, confusion matrix, first layer,
                                the map of the learned space within the time budget
    ("epoch", EpochRecord)      right after its snapshot
    ("state", "evaluating")     scoring the test images
    ("progress", ExperimentProgress)  an experiment's progress, at most every PROGRESS_INTERVAL s
    ("done", Outcome)           how it ended; the model or result file is written before this is sent

The job is a `training.TrainingJob` or an `experiments.ExperimentJob`.

Stop sets an event that the Keras callback checks after every batch, so a run ends within one
batch of the request. The control pipe closing means the server is gone: the worker exits.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from mnist_core.analysis import learned_space
from mnist_core.data import augment
from mnist_core.models import networks, presets
from mnist_core.training import epoch_snapshots, projection
from mnist_core.training.experiments import ExperimentJob
from mnist_core.training.jobs import BatchProgress, EpochRecord, Outcome, TrainingJob

PROGRESS_INTERVAL = 0.2  # s; a message per batch (300/s for small ANNs) would keep the server's GIL busy
FORWARD_CHUNK = 2000  # images per forward pass when scoring: a CNN's first activations stay ~200 MB
NICENESS = 10  # the server's drawing sessions come first when both want the two cores


class _Reporter:
    """Sends messages to the server; exits quietly when the server is gone (nobody is listening)."""

    def __init__(self, connection):
        self.connection = connection
        self.last_progress = 0.0

    def send(self, *message) -> None:
        try:
            self.connection.send(message)
        except (BrokenPipeError, ConnectionResetError, EOFError, OSError):
            os._exit(0)

    def progress(self, progress, last: bool, kind: str = "batch") -> None:
        """A progress report, at most every PROGRESS_INTERVAL s unless it is the `last` of its stretch."""
        now = time.perf_counter()
        if last or now - self.last_progress >= PROGRESS_INTERVAL:
            self.last_progress = now
            self.send(kind, progress)


def main(report_fd: int, control_fd: int) -> None:
    """The worker process: read the job, train, report, write the model file, say how it ended."""
    # Ctrl-C on `streamlit run` reaches the whole process group: the server ends its workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        os.nice(NICENESS)
    except OSError:
        pass
    reporter = _Reporter(Connection(report_fd, readable=False))
    control = Connection(control_fd, writable=False)
    job = control.recv()
    stop = threading.Event()

    def listen():
        try:
            while control.recv() == "stop":
                stop.set()
        except (EOFError, OSError):  # the server is gone: nobody will read what we make
            os._exit(0)

    threading.Thread(target=listen, daemon=True).start()
    try:
        reporter.send("status", "Starting TensorFlow …")
        import keras  # noqa: F401  (the slow import, before the clock of the first epoch starts)

        if isinstance(job, ExperimentJob):
            outcome = run_experiment_job(job, reporter, stop.is_set)
        else:
            data = job.data
            if data is None:
                reporter.send("status", "Loading MNIST …")
                from mnist_core.data.mnist import load_mnist
                data = load_mnist()
            reporter.send("status", "Building the model …")
            outcome = KerasRun(job, data, reporter, stop.is_set).run()
    except Exception as exc:  # reported to the page instead of dying silently
        what = "The experiment" if isinstance(job, ExperimentJob) else "Training"
        outcome = Outcome("failed", f"{what} failed: {type(exc).__name__}: {exc}")
    reporter.send("done", outcome)


def run_experiment_job(job, reporter: _Reporter, should_stop) -> Outcome:
    from mnist_core.training import experiment_runner, experiments

    def progress(p: experiments.ExperimentProgress) -> None:
        reporter.progress(p, last=p.fraction >= 1, kind="progress")

    data = job.data
    if data is None:
        reporter.send("status", "Loading MNIST …")
        from mnist_core.data.mnist import load_mnist
        data = load_mnist()
    reporter.send("status", "Building the first model …")
    try:
        result = experiment_runner.run_experiment(job.name, job.quick, job.seed, job.setting, data, progress, should_stop)
    except experiments.ExperimentStopped:
        return Outcome("stopped", "Stopped by request; nothing was recorded, the shipped result is unchanged.")
    experiments.save_result(result, Path(job.result_path))
    return Outcome("finished", f"Finished in {result.seconds:.0f} s.", versions=result.versions)


def _augmented(fit, kinds: tuple[str, ...], seed: int):
    """The batches of `fit` changed by mnist_core.data.augment (NumPy, in tf.data's threads). Each batch
    draws from its own generator, seeded from a stream that is new each epoch but the same for the
    same seed, so a run's augmented images do not depend on thread timing."""
    import tensorflow as tf

    def change(images, batch_seed):
        return augment.augment(images, kinds, np.random.default_rng([seed, int(batch_seed) & 0x7FFFFFFF]))

    def mapped(xb, yb, batch_seed):
        xb2 = tf.numpy_function(change, [xb, batch_seed], tf.float32, stateful=False)
        return tf.ensure_shape(xb2, xb.shape), yb

    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    return tf.data.Dataset.zip(fit, seeds).map(lambda batch, s: mapped(*batch, s),
                                                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


class KerasRun:
    """One fit of one preset with Keras, reporting through `reporter`."""

    def __init__(self, job: TrainingJob, data, reporter: _Reporter, should_stop):
        (self.x_train, self.y_train), (self.x_test, self.y_test) = data
        self.config, self.preset = job.config, presets.get_preset(job.config.preset)
        self.reporter, self.should_stop = reporter, should_stop
        self.evaluate_test, self.model_path = job.evaluate_test, job.model_path
        self.test_images = self.x_test.astype("float32") / 255.0
        strip, _ = epoch_snapshots.strip_digits(self.x_test, self.y_test)
        strip = strip.astype("float32") / 255.0
        self.strip = strip if job.drawing is None else np.concatenate([strip, job.drawing[None].astype("float32")])
        self.records: list[EpochRecord] = []
        self.snapshot_seconds = 0.0
        # The learned space each epoch, on MNIST's full test set only (the sample is drawn from it).
        self.map_images = (self.test_images[learned_space.epoch_sample(self.y_test)]
                           if len(self.x_test) == epoch_snapshots.MNIST_TEST_IMAGES else None)
        self.epoch_maps = projection.EpochMaps(job.config.seed)
        self.failure: str | None = None
        self.model = None

    def run(self) -> Outcome:
        import keras
        import tensorflow

        self._fit()
        versions = {"tensorflow": tensorflow.__version__, "keras": keras.__version__}
        parameters = int(self.model.count_params())
        if self.failure:
            return Outcome("failed", self.failure, parameters=parameters, versions=versions)
        test_accuracy = None
        if self.evaluate_test:
            self.reporter.send("state", "evaluating")
            test_accuracy = self.test_accuracy()
        from mnist_core.models.networks import write_model_file
        write_model_file(self.model, Path(self.model_path))
        stopped, done = self.should_stop(), len(self.records)
        message = (f"Stopped by request after {done} epoch(s); the model keeps what it learned."
                   if stopped else f"Finished {done} epoch(s).")
        return Outcome("stopped" if stopped else "finished", message, test_accuracy, parameters, versions, True)

    def _datasets(self):
        import tensorflow as tf

        c = self.config
        rng = np.random.default_rng(c.seed)
        order = rng.permutation(len(self.x_train))[: c.train_size]
        x = self.x_train[order].astype("float32") / 255.0
        y = self.y_train[order].astype("int64")
        n_val = int(round(len(x) * c.validation_split))
        x_fit, y_fit, x_val, y_val = x[: len(x) - n_val], y[: len(y) - n_val], x[len(x) - n_val:], y[len(y) - n_val:]
        if self.preset.one_hot:
            y_fit, y_val = np.eye(10, dtype="float32")[y_fit], np.eye(10, dtype="float32")[y_val]
        # Shuffle indices, not images: refilling a 60,000-image shuffle buffer costs seconds per epoch.
        x_fit_t, y_fit_t = tf.constant(x_fit), tf.constant(y_fit)
        fit = tf.data.Dataset.range(len(x_fit)).shuffle(len(x_fit), seed=c.seed, reshuffle_each_iteration=True)
        fit = fit.batch(c.batch_size).map(lambda idx: (tf.gather(x_fit_t, idx), tf.gather(y_fit_t, idx)))
        if c.augment:
            fit = _augmented(fit, c.augment, c.seed)
        fit = fit.prefetch(tf.data.AUTOTUNE)
        val = tf.data.Dataset.from_tensor_slices((x_val, y_val)).batch(1000) if n_val else None
        return fit, val, len(x_fit)

    def _compile(self, steps_per_epoch: int) -> None:
        import keras

        c, p = self.config, self.preset
        lr = c.learning_rate
        if p.cosine_decay:
            lr = keras.optimizers.schedules.CosineDecay(lr, decay_steps=c.epochs * steps_per_epoch, alpha=0.01)
        if c.optimizer == "sgd":
            optimizer = keras.optimizers.SGD(lr, momentum=p.momentum, nesterov=p.nesterov)
        elif c.optimizer == "rmsprop":
            optimizer = keras.optimizers.RMSprop(lr)
        else:
            optimizer = keras.optimizers.Adam(lr)
        self.model.compile(optimizer=optimizer, loss=p.loss, metrics=["accuracy"])

    def _fit(self) -> None:
        import keras

        c = self.config
        keras.utils.set_random_seed(c.seed)
        fit_ds, val_ds, n_fit = self._datasets()
        self.scored = epoch_snapshots.scored_test_images(len(self.x_test), n_fit)
        self.scored_images = self.test_images[self.scored]
        steps = math.ceil(n_fit / c.batch_size)
        if c.start_from:  # fine-tuning: a copy of a saved model's weights (the file is left as it is)
            from mnist_core.models.networks import load_model
            self.model = load_model(c.start_from)
        else:
            self.model = networks.build_model(c.preset)
        self._compile(steps)
        self.model.fit(fit_ds, epochs=c.epochs, verbose=0, shuffle=False,  # tf.data shuffles
                       callbacks=[_recording_callback(self, steps, n_fit, val_ds)])

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """The model's answers in chunks of FORWARD_CHUNK: predict_on_batch skips predict()'s per-call
        dataset machinery, which cost a third of a quick run's per-epoch scoring (measured)."""
        return np.concatenate([np.asarray(self.model.predict_on_batch(images[i:i + FORWARD_CHUNK]))
                               for i in range(0, len(images), FORWARD_CHUNK)])

    def test_accuracy(self) -> float:
        """Accuracy on the 10,000 test images."""
        return float(np.mean(self.probabilities(self.test_images).argmax(axis=1) == self.y_test))

    def hidden_features(self, images: np.ndarray) -> np.ndarray:
        """The last hidden layer (the final dense layer's input), as learned_space reads it from a file."""
        layers = self.model.layers
        last = max(i for i, layer in enumerate(layers) if type(layer).__name__ == "Dense")
        parts = []
        for start in range(0, len(images), FORWARD_CHUNK):
            x = images[start:start + FORWARD_CHUNK]
            for layer in layers[:last]:
                x = layer(x, training=False)
            parts.append(np.asarray(x).reshape(len(x), -1))
        return np.concatenate(parts)

    def snapshot(self, epoch: int, epoch_seconds: float) -> epoch_snapshots.EpochSnapshot:
        """What the model knows now (epoch_snapshots), timed: its cost is part of the run's."""
        started = time.perf_counter()
        strip_probabilities = self.probabilities(self.strip)
        predictions = self.probabilities(self.scored_images).argmax(axis=1)
        kernel = next(layer.kernel for layer in self.model.layers if getattr(layer, "kernel", None) is not None)
        training_seconds = sum(r.seconds for r in self.records) + epoch_seconds
        map_points = None
        if self.map_images is not None and self.epoch_maps.affordable(
                training_seconds, self.snapshot_seconds + time.perf_counter() - started):
            map_points = self.epoch_maps.take(lambda: self.hidden_features(self.map_images))
        seconds = time.perf_counter() - started
        self.snapshot_seconds += seconds
        return epoch_snapshots.take_snapshot(epoch, strip_probabilities, predictions, self.y_test[self.scored],
                                             np.asarray(kernel), seconds, map_points)


def _recording_callback(run: KerasRun, steps: int, n_fit: int, val_ds):
    """A Keras callback that turns Keras events into records, and Stop/NaN into stop_training."""
    import keras

    class RecordingCallback(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epoch_start = 0.0
            self.batch_seen = 0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch_start = time.perf_counter()
            self.batch_seen = 0

        def on_train_batch_end(self, batch, logs=None):
            c = run.config
            self.batch_seen = batch + 1
            loss = float((logs or {}).get("loss", 0.0))
            if not math.isfinite(loss):
                self.model.stop_training = True
                run.failure = (
                    f"Training stopped: the loss became {loss} in epoch {len(run.records) + 1}, batch {batch + 1}. "
                    f"The learning rate ({c.learning_rate:g}) is probably too high for {c.optimizer}; "
                    f"lower it (try 0.001) and start again.")
                return
            elapsed = time.perf_counter() - self.epoch_start
            samples = min(self.batch_seen * c.batch_size, n_fit)
            speed = samples / elapsed if elapsed > 0 else 0.0
            epochs_left = c.epochs - len(run.records) - 1
            remaining = (n_fit - samples + epochs_left * n_fit) / speed if speed else 0.0
            stop = run.should_stop()
            run.reporter.progress(BatchProgress(len(run.records) + 1, self.batch_seen, steps, speed, remaining),
                                  last=self.batch_seen == steps or stop)
            if stop:  # Keras checks this right after the batch: Stop lands within one batch
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            if run.failure:
                return
            logs = logs or {}
            seconds = time.perf_counter() - self.epoch_start
            val_loss = val_accuracy = None
            stopping = run.should_stop()
            if val_ds is not None and not stopping:
                val = self.model.evaluate(val_ds, verbose=0, return_dict=True)
                val_loss, val_accuracy = float(val["loss"]), float(val["accuracy"])
            if not stopping:  # Stop should not wait for the test images to be scored
                run.reporter.send("snapshot", run.snapshot(epoch + 1, seconds))
            samples = min(self.batch_seen * run.config.batch_size, n_fit)
            record = EpochRecord(epoch + 1, float(logs.get("loss", math.nan)), float(logs.get("accuracy", math.nan)),
                                 val_loss, val_accuracy, seconds, samples / seconds if seconds > 0 else 0.0,
                                 partial=self.batch_seen < steps)
            run.records.append(record)
            run.reporter.send("epoch", record)

    return RecordingCallback()


if __name__ == "__main__":
    # Through the module's real name, so the Outcome it pickles is mnist_core.training.worker.Outcome.
    from mnist_core.training.worker import main as worker_main

    worker_main(int(sys.argv[1]), int(sys.argv[2]))
