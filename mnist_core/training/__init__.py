"""The training stage: a run's settings and messages (`jobs`), the run as the server sees it
(`runs`: a worker process, its records, Stop), the worker that trains with Keras (`worker`, the
only place TensorFlow runs, with `experiment_runner`), the per-epoch snapshots, replays of
recorded runs, and the Experiments page's experiments.

`from mnist_core import training` gives a page what it starts and watches; the worker's modules
are never imported from here, so the server never loads TensorFlow."""

from mnist_core.training.jobs import (
                                      MAX_EPOCHS,
                                      MAX_LEARNING_RATE,
                                      MAX_VALIDATION_SPLIT,
                                      MIN_TRAIN_SIZE,
                                      MNIST_TRAIN_IMAGES,
                                      BatchProgress,
                                      EpochRecord,
                                      HyperparameterError,
                                      Outcome,
                                      TrainingConfig,
                                      TrainingJob,
                                      validate,
)
from mnist_core.training.runs import ExperimentRun, ExperimentSnapshot, RunSnapshot, TrainingRun, model_card, start_race
from mnist_core.training.worker_process import (
                                      KEEP_RUNS,
                                      MAX_CONCURRENT_RUNS,
                                      TrainingBusyError,
                                      WorkerRun,
                                      active_runs,
                                      find_run,
)

__all__ = ["MAX_EPOCHS", "MAX_LEARNING_RATE", "MAX_VALIDATION_SPLIT", "MIN_TRAIN_SIZE", "MNIST_TRAIN_IMAGES",
           "BatchProgress", "EpochRecord", "HyperparameterError", "Outcome", "TrainingConfig", "TrainingJob", "validate",
           "KEEP_RUNS", "MAX_CONCURRENT_RUNS", "ExperimentRun", "ExperimentSnapshot", "RunSnapshot", "TrainingBusyError",
           "TrainingRun", "WorkerRun", "active_runs", "find_run", "model_card", "start_race"]
