"""python -m mnist_core fetch | train | evaluate | list | experiment | record | map | canvas | crowd"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _fetch(args) -> int:
    from mnist_core.data.mnist import MnistUnavailableError, load_mnist_dataset

    try:
        ds = load_mnist_dataset(progress=lambda message: print(message, flush=True))
    except MnistUnavailableError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"MNIST ready in {ds.directory} (source: {ds.source}; SHA-256 verified): "
          f"{len(ds.x_train):,} training and {len(ds.x_test):,} test images.")
    return 0


def _progress_bar(progress) -> None:
    width = 30
    done = int(width * progress.batch / progress.batches)
    print(f"\r  epoch {progress.epoch} [{'#' * done}{'.' * (width - done)}] {progress.batch}/{progress.batches}"
          f"  {progress.samples_per_second:,.0f} samples/s  {progress.seconds_left:,.0f} s left ",
          end="", flush=True)


def _epoch_line(record) -> None:
    val = f"  val_loss {record.val_loss:.4f}  val_acc {record.val_accuracy:.4f}" if record.val_loss is not None else ""
    print(f"\r  epoch {record.epoch}: loss {record.loss:.4f}  acc {record.accuracy:.4f}{val}"
          f"  {record.seconds:.1f} s  {record.samples_per_second:,.0f} samples/s" + " " * 20, flush=True)


def _train(args) -> int:
    from mnist_core.data.mnist import MnistUnavailableError
    from mnist_core.models import registry
    from mnist_core.training import runs

    config = runs.TrainingConfig(
        preset=args.preset, epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
        optimizer=args.optimizer, validation_split=args.validation_split, train_size=args.train_size,
        augment=args.augment, seed=args.seed)
    try:
        name = registry.sanitize_name(args.name or args.preset)
        if registry.model_path(name).exists() and not args.overwrite:
            raise registry.ModelNameError(f"A model named '{name}' exists; pass --overwrite to replace it.")
        run = runs.TrainingRun(config, on_epoch=_epoch_line, on_batch=_progress_bar)
    except (runs.HyperparameterError, registry.ModelNameError, MnistUnavailableError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Training {args.preset} → {name}: {run.config}", flush=True)
    snap = run.run()
    if snap.state == "failed":
        print(f"\n{snap.message}", file=sys.stderr)
        return 1
    print(f"{snap.message} Test accuracy {snap.test_accuracy:.4f} in {snap.seconds:.0f} s.")
    path = registry.save_model_file(run.model_file, name, runs.model_card(run), overwrite=args.overwrite,
                                    allow_shipped=args.overwrite)
    print(f"Saved {path} and its card.")
    if args.record:  # the Train page's replay of this very run, so a shipped model and its replay agree
        from mnist_core.training import replays
        # Beside the model it records (a candidate trained into MNIST_MODELS_DIR keeps its replay
        # there too), unless MNIST_REPLAYS_DIR names the folder.
        folder = None if os.environ.get("MNIST_REPLAYS_DIR") else path.parent / "replays"
        if folder:
            folder.mkdir(exist_ok=True)
        replay = replays.save_recording(replays.from_run(name, run), replays.replay_path(name, folder))
        print(f"Wrote its replay {replay} ({replay.stat().st_size / 1024:,.0f} KB).")
    return 0


def _evaluate(args) -> int:
    from mnist_core.analysis import evaluation
    from mnist_core.data.mnist import load_mnist
    from mnist_core.models import registry

    (_, _), (x_test, y_test) = load_mnist()
    try:
        result = evaluation.evaluate_model(args.name, x_test, y_test)
    except registry.ModelLoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.name}: test accuracy {result.accuracy:.4f} ({result.errors} errors of {len(y_test):,})")
    return 0


def _list(args) -> int:
    from mnist_core.models import registry

    for name in registry.list_models():
        card = registry.read_card(name)
        acc = card.get("test_accuracy")
        print(f"{name:20s} {card.get('preset', '?'):12s} " + (f"{acc:.4f}" if acc else "-"))
    return 0


def _experiment(args) -> int:
    from mnist_core.data.mnist import MnistUnavailableError
    from mnist_core.training import experiment_runner, experiments

    width = 30

    def bar(p: experiments.ExperimentProgress) -> None:
        done = int(width * p.fraction)
        left = f"  about {p.seconds_left:,.0f} s left" if p.seconds_left is not None else ""
        print(f"\r  [{'#' * done}{'.' * (width - done)}] {p.fraction:4.0%}  {p.text}{left}" + " " * 10,
              end="", flush=True)

    setting = "quick" if args.quick else "full"
    path = experiments.result_path(args.name, args.quick, args.out)
    print(f"Experiment {args.name} ({setting} setting, seed {args.seed}) → {path}", flush=True)
    try:
        result = experiment_runner.run_experiment(args.name, quick=args.quick, seed=args.seed, progress=bar)
    except MnistUnavailableError as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopped; nothing written.", file=sys.stderr)
        return 130
    experiments.save_result(result, path)
    print(f"\nDone in {result.seconds:.0f} s; wrote {path}.")
    for line in experiments.summary(result):
        print(f"  {line}")
    return 0


def _record(args) -> int:
    from mnist_core.data.mnist import MnistUnavailableError
    from mnist_core.training import replays, runs

    names = list(replays.RECORDED) if args.all else args.names
    if not names:
        print(f"error: name what to record ({', '.join(replays.RECORDED)}) or pass --all", file=sys.stderr)
        return 2
    for name in names:
        try:
            config = replays.recipe(name)
        except KeyError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"Recording {name}: {config}", flush=True)
        try:
            recording, path = replays.record(name, on_epoch=_epoch_line, on_batch=_progress_bar, directory=args.out)
        except (RuntimeError, runs.HyperparameterError, MnistUnavailableError) as exc:
            print(f"\nerror: {exc}", file=sys.stderr)
            return 1
        cost = sum(s.seconds for s in recording.snapshots)
        print(f"Wrote {path} ({path.stat().st_size / 1024:,.0f} KB): test accuracy {recording.test_accuracy:.4f}, "
              f"{recording.seconds:.0f} s of training, snapshots {cost:.1f} s "
              f"({cost / recording.seconds:.1%} of it).", flush=True)
    return 0


def _map(args) -> int:
    from mnist_core.analysis import learned_space
    from mnist_core.data.mnist import MnistUnavailableError, load_mnist
    from mnist_core.models import registry
    from mnist_core.models.inference import load_classifier
    from mnist_core.training import projection

    try:
        _, (x_test, y_test) = load_mnist()
        for name in args.names or list(registry.SHIPPED):
            model_map = projection.draw_map(load_classifier(name), x_test, y_test, seed=args.seed)
            path = learned_space.write_map(model_map)
            print(f"{name}: {len(model_map.indices):,} test digits in {model_map.seconds:.1f} s; in 2-D, "
                  f"{model_map.neighbour_accuracy:.1%} share their 10 nearest neighbours' digit, silhouette "
                  f"{model_map.silhouette:.3f} → {path}", flush=True)
    except (registry.ModelLoadError, MnistUnavailableError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _canvas(args) -> int:
    from mnist_core.analysis import canvas_reading
    from mnist_core.data import MnistUnavailableError, load_mnist_dataset

    try:
        result = canvas_reading.measure(load_mnist_dataset(), digits=args.digits)
    except MnistUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    path = canvas_reading.save(result)
    for name, m in result["models"].items():
        print(f"{name}: clean {m['clean']:.2%}, faithful {m['faithful']:.2%}, naive resize {m['naive']:.2%}")
    print(f"{result['digits']:,} redrawn test digits in {result['seconds']:.0f} s → {path}")
    return 0


def _crowd_store(args):
    """The room's database, refusing to create an empty one where the user expected digits."""
    from pathlib import Path

    from mnist_core.talk import crowd, database

    location = args.db or crowd.default_location()
    if database.is_url(location):
        return crowd.CrowdStore(location)
    path = Path(location)
    if not path.is_file():
        raise crowd.CrowdStoreError(
            f"There is no room database at {path}; pass --db PATH or set MNIST_CROWD_DB to the file the talk used.")
    return crowd.CrowdStore(path)


def _crowd_talks(args) -> int:
    import datetime as dt

    from mnist_core.talk import crowd

    try:
        store = _crowd_store(args)
    except crowd.CrowdStoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    with store:
        talks = store.talks()
    if not talks:
        print(f"No talks in {store.location}.")
    for n, talk in enumerate(talks):
        created = dt.datetime.fromtimestamp(talk.created).strftime("%Y-%m-%d %H:%M")
        current = "  (current)" if n == 0 else ""
        print(f"{talk.id:4d}  {created}  {talk.digits:5d} digits  {talk.hidden:3d} hidden  {talk.title}{current}")
    return 0


def _crowd_export(args) -> int:
    from mnist_core.talk import crowd, export

    try:
        store = _crowd_store(args)
        with store:
            talks = store.talks()
            if not talks:
                raise crowd.CrowdInputError(f"{store.location} holds no talks yet: nothing to export.")
            talk = store.talk(args.talk) if args.talk is not None else talks[0]
            if args.format == "npz":
                count = store.export_npz(talk.id, args.out)
                where = args.out
            else:
                count = store.export_idx(talk.id, args.out)
                where = ", ".join(str(p) for p in export.idx_paths(talk.id, args.out))
    except (crowd.CrowdStoreError, crowd.CrowdInputError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    hidden = f" ({talk.hidden} hidden left out)" if talk.hidden else ""
    print(f"Wrote {count} digits of talk {talk.id} ({talk.title}){hidden} to {where}.")
    return 0


def main(argv=None) -> int:
    from mnist_core.training.experiments import NAMES as EXPERIMENTS

    parser = argparse.ArgumentParser(prog="python -m mnist_core", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch", help="download and verify MNIST into the cache").set_defaults(func=_fetch)
    train = sub.add_parser("train", help="train a preset and save it into trained_models/")
    train.add_argument("--preset", required=True)
    train.add_argument("--name", help="model name (default: the preset's)")
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--learning-rate", type=float)
    train.add_argument("--optimizer")
    train.add_argument("--validation-split", type=float)
    train.add_argument("--train-size", type=int)
    train.add_argument("--augment", metavar="KINDS",
                       help="augmentation kinds, comma-separated, from: shift, rotate, zoom, shear, elastic, "
                            "stroke, pen; or all, or none (default: the preset's)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--overwrite", action="store_true", help="replace an existing model of that name")
    train.add_argument("--record", action="store_true",
                       help="also write this run's replay for the Train page (trained_models/replays/NAME.npz)")
    train.set_defaults(func=_train)
    evaluate = sub.add_parser("evaluate", help="test accuracy of a saved model")
    evaluate.add_argument("name")
    evaluate.set_defaults(func=_evaluate)
    sub.add_parser("list", help="saved models").set_defaults(func=_list)
    experiment = sub.add_parser("experiment", help="run one of the Experiments page's experiments, write its result")
    experiment.add_argument("name", choices=EXPERIMENTS)
    experiment.add_argument("--quick", action="store_true", help="the quick setting (≤ 60 s), as the page runs live")
    experiment.add_argument("--seed", type=int, default=0)
    experiment.add_argument("--out", type=Path, help="folder for the result (default: MNIST_EXPERIMENTS_DIR, "
                                                      "else trained_models/experiments)")
    experiment.set_defaults(func=_experiment)
    record = sub.add_parser("record", help="record a full recipe's run for the Train page's replays")
    record.add_argument("names", nargs="*", help="shipped models (their card's recipe) or presets (the write-up's)")
    record.add_argument("--all", action="store_true", help="every shipped model and seed preset")
    record.add_argument("--out", type=Path, help="folder (default: MNIST_REPLAYS_DIR, else trained_models/replays)")
    record.set_defaults(func=_record)
    space = sub.add_parser("map", help="draw saved models' maps of the learned space (the Learned space page)")
    space.add_argument("names", nargs="*", help="saved models (default: the shipped ann and cnn)")
    space.add_argument("--seed", type=int, default=0)
    space.set_defaults(func=_map)
    canvas = sub.add_parser("canvas", help="measure the shipped models on canvas-redrawn test digits (the Draw page's figures)")
    canvas.add_argument("--digits", type=int, default=2000)
    canvas.set_defaults(func=_canvas)
    crowd = sub.add_parser("crowd", help="a talk room's digits: list talks, export them")
    crowd_sub = crowd.add_subparsers(dest="crowd_command", required=True)
    talks = crowd_sub.add_parser("talks", help="every talk with its digit counts, newest first")
    talks.set_defaults(func=_crowd_talks)
    export = crowd_sub.add_parser("export", help="a talk's visible digits as .npz (x, y) or MNIST IDX files")
    export.add_argument("--talk", type=int, help="talk id (default: the current, newest talk)")
    export.add_argument("--format", choices=("npz", "idx"), default="npz")
    export.add_argument("--out", required=True, help="the .npz file, or the folder for the two IDX files")
    export.set_defaults(func=_crowd_export)
    for command in (talks, export):
        command.add_argument("--db", help="the room's database (default: MNIST_CROWD_DB, else the per-user data folder)")
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
