"""The `convolve` command: train, predict, evaluate, summary and the demo.

Every error a user can cause (a missing file, a bad argument, a folder without classes)
ends the command with one line naming what is at fault and exit status 1; `--debug` shows
the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from convolve.visualize._model import COLOR_MODES

METADATA = "class_names.json"  # written next to the model: what the label indices mean

# --model choice -> (convolve.applications class, input preprocessing), None for small-cnn.
ARCHITECTURES: dict[str, tuple[str, str] | None] = {
    "small-cnn": None,
    "resnet50": ("ResNet50", "caffe"),
    "vgg16": ("VGG16", "caffe"),
    "mobilenetv2": ("MobileNetV2", "tf"),
    "efficientnetb0": ("EfficientNetB0", "raw"),
}
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


class CommandError(Exception):
    """A user error: printed as one line, exit status 1."""


# ----------------------------------------------------------------------------- arguments
def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer, received {text!r}"
        ) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, received {text!r}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number in (0, 1), received {text!r}"
        ) from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), received {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0.0:
        raise argparse.ArgumentTypeError(f"expected a positive number, received {text!r}")
    return value


def _image_size(text: str) -> tuple[int, int]:
    """`180` or `180x240` (height x width)."""
    parts = text.lower().split("x")
    try:
        sizes = [int(p) for p in parts]
    except ValueError:
        sizes = []
    if len(sizes) not in (1, 2) or min(sizes) <= 0:
        raise argparse.ArgumentTypeError(
            f"expected SIZE or HEIGHTxWIDTH in pixels (e.g. 180 or 180x240), received {text!r}"
        )
    return (sizes[0], sizes[-1])


class _Parser(argparse.ArgumentParser):
    """Reports a bad argument in one line (the usage is one `--help` away)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="convolve", description="Keras for images, running natively on PyTorch.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo", help="train the tutorials' MNIST convnet on real digits, offline"
    )
    demo.add_argument("--epochs", type=int, default=12, help="maximum epochs (default 12)")
    demo.add_argument(
        "--output-dir", default="demo-output", help="folder for the training-curve plot"
    )

    train = commands.add_parser(
        "train",
        help="train an image classifier on a folder of class sub-folders",
        description="Trains a classifier on DIR, which holds one sub-folder of images per "
        "class. Writes OUTDIR/model.keras (the best epoch), OUTDIR/class_names.json, "
        "OUTDIR/history.csv and OUTDIR/report.html (curves, confusion matrix, top losses, "
        "Grad-CAM).",
    )
    train.add_argument("directory", metavar="DIR", help="folder with one sub-folder per class")
    train.add_argument(
        "--model",
        choices=sorted(ARCHITECTURES),
        default="small-cnn",
        help="architecture (default small-cnn: the tutorials' three conv blocks)",
    )
    train.add_argument(
        "--weights",
        choices=["imagenet", "none"],
        default="imagenet",
        help="for the pretrained architectures: start from ImageNet weights with the base "
        "frozen (default), or train from scratch",
    )
    train.add_argument(
        "--image-size",
        type=_image_size,
        default=(180, 180),
        metavar="SIZE",
        help="images are resized to SIZE or HEIGHTxWIDTH pixels (default 180)",
    )
    train.add_argument(
        "--color-mode", choices=["rgb", "grayscale"], default="rgb", help="(default rgb)"
    )
    train.add_argument(
        "--epochs", type=_positive_int, default=10, help="maximum epochs (default 10)"
    )
    train.add_argument("--batch-size", type=_positive_int, default=32, help="(default 32)")
    train.add_argument(
        "--augment", action="store_true", help="random flips, rotations and zooms in training"
    )
    train.add_argument(
        "--validation-split",
        type=_fraction,
        default=0.2,
        metavar="FRACTION",
        help="fraction of the images held out for validation (default 0.2)",
    )
    train.add_argument(
        "--learning-rate", type=_positive_float, default=1e-3, help="Adam's (default 1e-3)"
    )
    train.add_argument(
        "--patience",
        type=_positive_int,
        default=3,
        help="stop after this many epochs without a lower validation loss (default 3)",
    )
    train.add_argument(
        "--seed",
        type=int,
        default=1337,
        help="seed of the split and the initial weights (default 1337)",
    )
    train.add_argument(
        "--output", default="convolve-output", metavar="OUTDIR", help="(default convolve-output)"
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")

    predict = commands.add_parser("predict", help="classify image files with a trained model")
    predict.add_argument("model", metavar="MODEL", help="a .keras model file")
    predict.add_argument("images", metavar="IMAGE", nargs="+", help="image files")
    predict.add_argument(
        "--class-names", metavar="FILE", help=f"class names (default: {METADATA} beside MODEL)"
    )
    predict.add_argument("--top", type=_positive_int, default=1, help="classes shown per image")

    evaluate = commands.add_parser(
        "evaluate", help="loss and accuracy of a trained model on a folder of class sub-folders"
    )
    evaluate.add_argument("model", metavar="MODEL", help="a .keras model file")
    evaluate.add_argument("directory", metavar="DIR", help="folder with one sub-folder per class")
    evaluate.add_argument("--batch-size", type=_positive_int, default=32, help="(default 32)")
    evaluate.add_argument(
        "--class-names", metavar="FILE", help=f"class names (default: {METADATA} beside MODEL)"
    )
    evaluate.add_argument("--report", metavar="HTML", help="also write an HTML report here")

    summary = commands.add_parser("summary", help="print a model file's layers and parameters")
    summary.add_argument("model", metavar="MODEL", help="a .keras model file")
    return parser


# ----------------------------------------------------------------------------- helpers
def _existing_dir(path: str, what: str) -> Path:
    folder = Path(path)
    if not folder.exists():
        raise CommandError(f"{what} '{path}' does not exist")
    if not folder.is_dir():
        raise CommandError(f"{what} '{path}' is not a folder")
    return folder


def _load_model(path: str) -> Any:
    file = Path(path)
    if not file.is_file():
        raise CommandError(
            f"model file '{path}' " + ("is not a file" if file.exists() else "does not exist")
        )
    try:
        from convolve.saving import load_model
    except ImportError:
        raise CommandError("loading model files needs convolve.saving.load_model") from None
    try:
        return load_model(file)
    except Exception as error:  # any failure to read the file is about the file
        raise CommandError(f"cannot load model file '{path}': {_one_line(error)}") from error


def _read_class_names(model_path: str, explicit: str | None, count: int) -> list[str] | None:
    file = Path(explicit) if explicit else Path(model_path).parent / METADATA
    if not file.is_file():
        if explicit:
            raise CommandError(f"class-names file '{explicit}' does not exist")
        return None
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CommandError(f"cannot read class-names file '{file}': {_one_line(error)}") from None
    names = data.get("class_names") if isinstance(data, dict) else data
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise CommandError(
            f"class-names file '{file}' must hold a list of names (or {{\"class_names\": [...]}})"
        )
    if len(names) != count:
        raise CommandError(
            f"class-names file '{file}' names {len(names)} classes but the model predicts {count}"
        )
    return names


def _image_input(model: Any) -> tuple[int, int, str]:
    shape = model.input_shape
    if not isinstance(shape, tuple) or len(shape) != 4:
        raise CommandError(f"model '{model.name}' does not take images: its input is {shape}")
    _, height, width, channels = shape
    if height is None or width is None or channels not in COLOR_MODES:
        raise CommandError(f"model '{model.name}' takes images of unknown size {shape[1:]}")
    return height, width, COLOR_MODES[channels]


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


# ----------------------------------------------------------------------------- train
def _preprocessing(mode: str, x: Any) -> Any:
    """The input scaling an architecture's ImageNet weights expect, as layers of the model."""
    from convolve import layers

    if mode == "tf":
        return layers.Rescaling(1 / 127.5, offset=-1.0, name="preprocessing")(x)
    if mode == "caffe":
        # RGB to BGR and minus the ImageNet mean: a frozen 1x1 convolution does both exactly.
        conv = layers.Conv2D(3, 1, trainable=False, name="preprocessing")
        y = conv(x)
        conv.set_weights(
            [np.flip(np.eye(3), 0).reshape(1, 1, 3, 3).copy(), -np.array(_CAFFE_MEAN_BGR)]
        )
        return y
    return x


def build_classifier(
    architecture: str,
    image_size: tuple[int, int],
    channels: int,
    num_classes: int,
    augment: bool = False,
    weights: str | None = None,
) -> Any:
    """The model `convolve train` trains: input pixels 0-255, softmax over the classes.

    Args:
        architecture: a key of `ARCHITECTURES`.
        image_size: `(height, width)`.
        channels: 3 for RGB, 1 for grayscale.
        num_classes: the number of classes.
        augment: start with random flips, rotations and zooms (active in training only).
        weights: "imagenet" or None, for the pretrained architectures.
    """
    import convolve
    from convolve import layers

    inputs = convolve.Input((*image_size, channels), name="image")
    x = inputs
    if augment:
        from convolve.layers.augmentation import RandomFlip, RandomRotation, RandomZoom

        x = RandomFlip("horizontal", name="random_flip")(x)
        x = RandomRotation(0.1, name="random_rotation")(x)
        x = RandomZoom(0.1, name="random_zoom")(x)
    spec = ARCHITECTURES[architecture]
    if spec is None:
        x = layers.Rescaling(1.0 / 255, name="rescaling")(x)
        for filters in (16, 32, 64):
            x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
            x = layers.MaxPooling2D()(x)
        x = layers.Dropout(0.2)(x)
        x = layers.Flatten()(x)
        x = layers.Dense(128, activation="relu")(x)
    else:
        class_name, mode = spec
        try:
            from convolve import applications
        except ImportError:
            raise CommandError(f"--model {architecture} needs convolve.applications") from None
        if weights is not None and channels != 3:
            raise CommandError("--weights imagenet needs --color-mode rgb")
        x = _preprocessing(mode if weights is not None else "tf", x)
        # Built on `x` (Keras's `input_tensor`), the base's layers join this model's graph,
        # so that feature maps and Grad-CAM reach its convolutions.
        base = getattr(applications, class_name)(
            include_top=False, weights=weights, input_tensor=x, pooling="avg"
        )
        base.trainable = weights is None
        x = base.output
        x = layers.Dropout(0.2)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return convolve.Model(inputs, outputs, name=architecture.replace("-", "_"))


def _train(args: argparse.Namespace) -> int:
    from convolve import callbacks, optimizers, utils
    from convolve.visualize import training_report

    directory = _existing_dir(args.directory, "DIR")
    output = Path(args.output)
    if output.exists() and not output.is_dir():
        raise CommandError(f"--output '{args.output}' exists and is not a folder")
    utils.set_random_seed(args.seed)
    train_ds, val_ds = utils.image_dataset_from_directory(
        directory,
        validation_split=args.validation_split,
        subset="both",
        seed=args.seed,
        image_size=args.image_size,
        batch_size=args.batch_size,
        color_mode=args.color_mode,
    )
    class_names = list(train_ds.class_names)
    if len(class_names) < 2:
        raise CommandError(
            f"DIR '{args.directory}' must hold at least two class sub-folders; found "
            f"{class_names or 'none'}"
        )
    if len(val_ds) == 0:
        raise CommandError(
            f"--validation-split {args.validation_split} leaves no validation images"
        )
    weights = "imagenet" if args.weights == "imagenet" else None
    model = build_classifier(
        args.model,
        args.image_size,
        1 if args.color_mode == "grayscale" else 3,
        len(class_names),
        args.augment,
        weights,
    )
    model.compile(
        optimizer=optimizers.Adam(args.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    if not args.quiet:
        model.summary()
    output.mkdir(parents=True, exist_ok=True)
    model_path = output / "model.keras"
    steps = [
        callbacks.EarlyStopping(
            monitor="val_loss", patience=args.patience, restore_best_weights=True
        ),
        callbacks.CSVLogger(str(output / "history.csv")),
    ]
    if hasattr(model, "save"):  # checkpoints survive an interrupted run
        steps.append(callbacks.ModelCheckpoint(model_path, monitor="val_loss", save_best_only=True))
    history = model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=args.epochs,
        verbose=0 if args.quiet else "auto",
        callbacks=steps,
    )
    # The best epoch's weights are in the model (restored by early stopping); keep them.
    from convolve.saving import save_model

    save_model(model, model_path, overwrite=True)
    (output / METADATA).write_text(
        json.dumps(
            {
                "class_names": class_names,
                "image_size": list(args.image_size),
                "color_mode": args.color_mode,
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    results = model.evaluate(val_ds, verbose=0, return_dict=True)
    report = training_report(
        output / "report.html",
        model,
        history=history,
        data=val_ds,
        class_names=class_names,
        title=f"convolve train: {args.model} on {directory.name}",
        notes=[
            ("data", f"{directory} ({len(class_names)} classes: {', '.join(class_names)})"),
            ("model", f"{args.model} ({'pretrained' if weights else 'from scratch'})"),
            ("image size", "x".join(str(s) for s in args.image_size)),
            ("epochs run", str(len(history.history.get("loss", [])))),
            ("validation loss", f"{results['loss']:.4f}"),
            ("validation accuracy", f"{results['accuracy']:.4f}"),
        ],
    )
    print(f"validation accuracy: {results['accuracy']:.4f} (loss {results['loss']:.4f})")
    print(f"model saved to {model_path}")
    print(f"report written to {report}")
    return 0


# ----------------------------------------------------------------------------- use a model
def _predict(args: argparse.Namespace) -> int:
    from convolve.visualize._model import load_image_files, probabilities

    model = _load_model(args.model)
    _image_input(model)  # a clear error for models that do not take images
    x = load_image_files(model, args.images, "convolve predict")
    probs = probabilities(model, x)
    names = _read_class_names(args.model, args.class_names, probs.shape[1])
    for path, p in zip(args.images, probs, strict=True):
        ranked = np.argsort(-p, kind="stable")[: args.top]
        shown = "\t".join(f"{names[i] if names else i}\t{p[i]:.4f}" for i in ranked)
        print(f"{path}\t{shown}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from convolve import utils
    from convolve.visualize import training_report
    from convolve.visualize._model import collect, probabilities
    from convolve.visualize.evaluation import confusion_matrix, sample_losses

    model = _load_model(args.model)
    directory = _existing_dir(args.directory, "DIR")
    height, width, mode = _image_input(model)
    outputs = model.output_shape[-1]
    names = _read_class_names(args.model, args.class_names, 2 if outputs == 1 else outputs)
    dataset = utils.image_dataset_from_directory(
        directory,
        image_size=(height, width),
        color_mode=mode,
        batch_size=args.batch_size,
        shuffle=False,
        class_names=names,
    )
    x, y, found = collect(dataset, "evaluate")
    names = names or found
    probs = probabilities(model, x)
    if len(found) != probs.shape[1]:
        raise CommandError(
            f"DIR '{args.directory}' has {len(found)} classes but the model predicts "
            f"{probs.shape[1]}"
        )
    predicted = probs.argmax(axis=1)
    loss = float(sample_losses(probs, y).mean())
    print(f"{len(y)} images - loss: {loss:.4f} - accuracy: {float((predicted == y).mean()):.4f}")
    matrix = confusion_matrix(y, predicted, probs.shape[1])
    for i, name in enumerate(names):
        total = int(matrix[i].sum())
        right = int(matrix[i, i])
        print(f"  {name}: {right}/{total} correct" + (f" ({right / total:.1%})" if total else ""))
    if args.report:
        path = training_report(args.report, model, data=(x, y), class_names=names)
        print(f"report written to {path}")
    return 0


def _summary(args: argparse.Namespace) -> int:
    _load_model(args.model).summary()
    return 0


def _demo(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from convolve.demo import run

    if args.epochs <= 0:
        parser.error(f"--epochs must be positive, received {args.epochs}")
    run(epochs=args.epochs, output_dir=args.output_dir)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Runs the `convolve` command with `argv` (the process's arguments by default)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        return _demo(args, parser)
    run = {"train": _train, "predict": _predict, "evaluate": _evaluate, "summary": _summary}
    try:
        return run[args.command](args)
    except KeyboardInterrupt:
        print(f"convolve {args.command}: interrupted", file=sys.stderr)
        return 130
    except (CommandError, ValueError, OSError, ImportError, RuntimeError, MemoryError) as error:
        if args.debug:
            raise
        print(f"convolve {args.command}: error: {_one_line(error)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
