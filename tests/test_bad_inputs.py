"""The catalogue of bad inputs: each one tried, and the one clear error it gives.

Every row of `CASES` is a bad input, the call that receives it, the exception type, and a
regex the message must match: it names what is wrong (the argument, layer, model or file)
and shows the value received. The cases, by id:

Shapes and ranks
    x_wrong_width            fit(x of shape (8, 5)) for Input (4,): ValueError "Input 0 of
                             model 'clf' ... expected shape=(None, 4), found shape=(None, 5)"
    x_wrong_rank             predict(x of shape (8, 4, 1)): ValueError, same form
    layer_wrong_rank         Conv2D called on a rank-3 array: ValueError "Input of layer
                             'conv' (Conv2D) ... expected rank 4 ... found rank 3 ... (None, 5, 5)"
    x_scalar                 fit(x=torch.tensor(1.0)): ValueError "`x` must be an array whose
                             first axis is the samples; received a scalar"
Dtypes
    x_strings                fit(x of str): ValueError "`x` must be a numeric array; received an
                             array of strings (dtype <U1) with shape (8, 4)"
    x_objects                predict(x of Python objects): ValueError, same form
    x_complex                evaluate(x complex64): ValueError "`x` must hold real numbers;
                             received dtype torch.complex64 with shape (8, 4)"
    x_ragged                 fit(x=ragged nested lists as an array): ValueError naming `x`
    y_strings                fit(y of str): ValueError "`y` must be a numeric array ..."
    sample_weight_strings    fit(sample_weight of str): ValueError "`sample_weight` ..."
NaN and inf (see `test_nan_and_inf_inputs`: not errors)
    NaN or inf in x trains and predicts without an error: the loss and predictions are NaN
    (as in Keras); `TerminateOnNaN` stops training at the first batch whose loss is NaN.
Empty arrays
    fit_empty / evaluate_empty / predict_empty   0 samples: ValueError "`x` holds no
                             samples: received (0, 4)"
Labels
    sparse_label_too_high    label 3 with 3 classes: ValueError "sparse_categorical_crossentropy:
                             expected integer class labels in [0, 2] ... received label 3"
    sparse_label_negative    label -1: same form, "received label -1"
    sparse_label_fraction    label 1.5: "received the non-integer label 1.5"
    categorical_wrong_width  one-hot of 4 classes for 3 outputs: ValueError
                             "categorical_crossentropy: expected ... same shape; received
                             y_true.shape=(8, 4), y_pred.shape=(8, 3)"
    categorical_int_labels   integer labels: same, with "y_true looks like integer class labels"
    binary_label_two         label 2 for binary_crossentropy: ValueError "expected targets in
                             [0, 1] ...; received 2 at y_true[...]"
    y_tuple_single_output    y=(array, array) for a single output: ValueError "received a
                             tuple of 2" (one array in a list or tuple is accepted, as in Keras)
Lengths
    x_y_mismatch             8 samples, 5 labels: ValueError "x and y must have the same number
                             of samples; received x with 8 samples and y with 5"
    sample_weight_short      3 weights for 8 samples: ValueError "sample_weight must have one
                             weight per sample (8); received shape (3,)"
    validation_split_large   validation_split=0.95 of 8 samples: ValueError "...leaves no
                             samples ... with 8 samples"
Arguments
    class_weight_and_sample_weight   both passed: ValueError naming both
    class_weight_string_key  class_weight={"a": 1.0}: ValueError "`class_weight` keys must be
                             class indices (integers >= 0); received key 'a'"
    batch_size_zero / batch_size_float / batch_size_string / batch_size_bool: ValueError
                             "`batch_size` must be a positive integer, received 0" (2.5,
                             '4', True)
    epochs_negative / epochs_float: ValueError "`epochs` must be a non-negative integer,
                             received epochs=-1" (1.5)
    validation_split_one / validation_split_negative: ValueError "`validation_split` must be
                             in [0, 1), received validation_split=1.0" (-0.1)
    steps_per_epoch_zero     ValueError "... must be a positive integer or None; received 0"
Missing files and folders
    load_model_missing / load_weights_missing: ModelFileNotFoundError (a FileNotFoundError
                             and a ValueError) "... in '.../missing.keras': no such file or
                             directory"
    load_model_directory     ModelFileError "... '<dir>': is a directory, not a model file"
    load_img_missing         BadImageError "Cannot load image file '.../missing.png': file not
                             found"
    load_img_not_an_image    BadImageError "... 'notes.png': not a recognised image"
    dataset_missing_dir      ValueError "`directory` does not exist: received directory=..."
    dataset_file_not_dir     ValueError "`directory` is not a directory: received ..."
    dataset_empty_dir        ValueError "No images found in directory <dir>. Allowed formats ..."
    dataset_no_images        the same, for a folder holding only text files
Read-only folder (a read-only tmpfs mount; root ignores chmod)
    readonly_save / readonly_save_weights / readonly_checkpoint: OSError "[Errno 30] Cannot
                             write the model file (... bytes): Read-only file system:
                             '<dir>/m.keras'"
    readonly_csv_logger / readonly_tensorboard: OSError "Read-only file system: '<path>'"
Full disk (a 256 KiB tmpfs; see `test_full_disk`)
    model.save, save_weights and ModelCheckpoint: OSError "[Errno 28] Cannot write the ... file
    (N bytes): No space left on device: '<path>'"; no temporary file is left and an earlier
    file at the path keeps its contents. CSVLogger: OSError "[Errno 28] CSVLogger cannot write
    epoch 0: No space left on device: '<path>'".
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from convolve import callbacks, layers, saving, utils
from convolve.data.decode import BadImageError
from convolve.models import Sequential
from convolve.saving import ModelFileError

N = 8


def _classifier(loss: str = "sparse_categorical_crossentropy", units: int = 3) -> Sequential:
    activation = "sigmoid" if units == 1 else "softmax"
    model = Sequential([layers.Input((4,)), layers.Dense(units, activation=activation)], name="clf")
    model.compile(optimizer="adam", loss=loss)
    return model


@dataclass
class Ctx:
    """What a case's call receives: data, a model factory and a scratch folder."""

    tmp: Path
    x: np.ndarray
    y: np.ndarray

    @property
    def model(self) -> Sequential:
        return _classifier()


@dataclass(frozen=True)
class Case:
    id: str
    description: str
    call: Callable[[Ctx], Any]
    error: type[BaseException]
    match: str  # must name what is wrong and show the value received
    mount: str | None = None  # "readonly" for a read-only folder at ctx.tmp / "ro"


def _fit(ctx: Ctx, **kwargs: Any) -> Any:
    kwargs = {"x": ctx.x, "y": ctx.y, "verbose": 0, **kwargs}
    return ctx.model.fit(**kwargs)


def _labels(*values: float) -> np.ndarray:
    out = np.zeros(N)
    out[: len(values)] = values
    return out


def _make_dirs(ctx: Ctx, *files: str) -> Path:
    root = ctx.tmp / "images"
    root.mkdir()
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("not an image")
    return root


CASES: list[Case] = [
    # ---------------------------------------------------------------- shapes and ranks
    Case("x_wrong_width", "x of 5 features for Input((4,))",
         lambda c: _fit(c, x=np.zeros((N, 5), "float32")), ValueError,
         r"Input 0 of model 'clf'.*expected shape=\(None, 4\), found shape=\(None, 5\)"),
    Case("x_wrong_rank", "x of rank 3 to predict",
         lambda c: c.model.predict(np.zeros((N, 4, 1), "float32"), verbose=0), ValueError,
         r"model 'clf'.*expected shape=\(None, 4\), found shape=\(None, 4, 1\)"),
    Case("layer_wrong_rank", "Conv2D on a rank-3 array",
         lambda c: layers.Conv2D(2, 3, name="conv")(np.zeros((2, 5, 5), "float32")), ValueError,
         r"layer 'conv' \(Conv2D\).*expected rank 4.*found rank 3.*\(None, 5, 5\)"),
    Case("x_scalar", "a 0-d tensor as x", lambda c: _fit(c, x=torch.tensor(1.0)), ValueError,
         r"`x` must be an array whose first axis is the samples; received a scalar"),
    # ---------------------------------------------------------------- dtypes
    Case("x_strings", "x of strings", lambda c: _fit(c, x=np.full((N, 4), "a")), ValueError,
         r"`x` must be a numeric array; received an array of strings \(dtype <U1\) "
         r"with shape \(8, 4\)"),
    Case("x_objects", "x of Python objects",
         lambda c: c.model.predict(np.full((N, 4), None, dtype=object), verbose=0), ValueError,
         r"`x` must be a numeric array; received an array of Python objects.*shape \(8, 4\)"),
    Case("x_complex", "x of complex numbers",
         lambda c: c.model.evaluate(c.x.astype(np.complex64), c.y, verbose=0), ValueError,
         r"`x` must hold real numbers; received dtype torch\.complex64 with shape \(8, 4\)"),
    Case("x_ragged", "x as an object array of ragged rows",
         lambda c: _fit(c, x=np.array([[1.0, 2.0], [1.0]] * 4, dtype=object)), ValueError,
         r"`x` must be a numeric array; received an array of Python objects.*shape \(8,\)"),
    Case("y_strings", "y of strings", lambda c: _fit(c, y=np.full(N, "cat")), ValueError,
         r"`y` must be a numeric array; received an array of strings \(dtype <U3\)"),
    Case("sample_weight_strings", "sample_weight of strings",
         lambda c: _fit(c, sample_weight=np.full(N, "w")), ValueError,
         r"`sample_weight` must be a numeric array; received an array of strings"),
    # ---------------------------------------------------------------- empty arrays
    Case("fit_empty", "fit on 0 samples",
         lambda c: _fit(c, x=np.zeros((0, 4), "float32"), y=np.zeros(0)), ValueError,
         r"`x` holds no samples: received \(0, 4\)"),
    Case("evaluate_empty", "evaluate on 0 samples",
         lambda c: c.model.evaluate(np.zeros((0, 4), "float32"), np.zeros(0), verbose=0),
         ValueError, r"`x` holds no samples: received \(0, 4\)"),
    Case("predict_empty", "predict on 0 samples",
         lambda c: c.model.predict(np.zeros((0, 4), "float32"), verbose=0), ValueError,
         r"`x` holds no samples: received \(0, 4\)"),
    # ---------------------------------------------------------------- labels
    Case("sparse_label_too_high", "label 3 with 3 classes", lambda c: _fit(c, y=_labels(3)),
         ValueError, r"sparse_categorical_crossentropy: expected integer class labels in "
         r"\[0, 2\].*3 classes; received label 3 at y_true\[\d+\]"),
    Case("sparse_label_negative", "label -1", lambda c: _fit(c, y=_labels(-1)), ValueError,
         r"sparse_categorical_crossentropy: expected integer class labels in \[0, 2\].*"
         r"received label -1 at y_true\[\d+\]"),
    Case("sparse_label_fraction", "label 1.5", lambda c: _fit(c, y=_labels(1.5)), ValueError,
         r"sparse_categorical_crossentropy: expected integer class labels.*received the "
         r"non-integer label 1\.5"),
    Case("categorical_wrong_width", "one-hot labels of 4 classes for 3 outputs",
         lambda c: _classifier("categorical_crossentropy").fit(c.x, np.eye(4)[c.y], verbose=0),
         ValueError, r"categorical_crossentropy: expected y_true and y_pred of the same shape; "
         r"received y_true\.shape=\(8, 4\), y_pred\.shape=\(8, 3\)"),
    Case("categorical_int_labels", "integer labels for categorical_crossentropy",
         lambda c: _classifier("categorical_crossentropy").fit(c.x, c.y, verbose=0),
         ValueError, r"received y_true\.shape=\(8,\), y_pred\.shape=\(8, 3\)\. y_true looks "
         r"like integer class labels"),
    Case("binary_label_two", "label 2 for binary_crossentropy",
         lambda c: _classifier("binary_crossentropy", 1).fit(c.x, _labels(2)[:, None],
                                                             verbose=0),
         ValueError, r"binary_crossentropy: expected targets in \[0, 1\].*received 2 at "
         r"y_true\[\d+, 0\]"),
    Case("y_tuple_single_output", "y=(labels, labels) for a single-output model",
         lambda c: c.model.evaluate(c.x, (c.y, c.y), verbose=0), ValueError,
         r"sparse_categorical_crossentropy: expected one array of targets for this output; "
         r"received a tuple of 2 item"),
    # ---------------------------------------------------------------- lengths
    Case("x_y_mismatch", "8 samples, 5 labels", lambda c: _fit(c, y=c.y[:5]), ValueError,
         r"x and y must have the same number of samples; received x with 8 samples and y "
         r"with 5"),
    Case("sample_weight_short", "3 weights for 8 samples",
         lambda c: _fit(c, sample_weight=np.ones(3)), ValueError,
         r"sample_weight must have one weight per sample \(8\); received shape \(3,\)"),
    Case("validation_split_large", "validation_split=0.95 of 8 samples",
         lambda c: _fit(c, validation_split=0.95), ValueError,
         r"validation_split=0\.95 leaves no samples .* with 8 samples"),
    # ---------------------------------------------------------------- arguments
    Case("class_weight_and_sample_weight", "class_weight and sample_weight together",
         lambda c: _fit(c, class_weight={0: 1.0}, sample_weight=np.ones(N)), ValueError,
         r"both `class_weight` and `sample_weight`"),
    Case("class_weight_string_key", "class_weight={'a': 1.0}",
         lambda c: _fit(c, class_weight={"a": 1.0}), ValueError,
         r"class_weight.*'a'"),
    Case("batch_size_zero", "batch_size=0", lambda c: _fit(c, batch_size=0), ValueError,
         r"`batch_size` must be a positive integer, received 0"),
    Case("batch_size_float", "batch_size=2.5",
         lambda c: c.model.predict(c.x, batch_size=2.5, verbose=0), ValueError,
         r"`batch_size` must be a positive integer, received 2\.5"),
    Case("batch_size_string", "batch_size='4'",
         lambda c: c.model.evaluate(c.x, c.y, batch_size="4", verbose=0), ValueError,
         r"`batch_size` must be a positive integer, received '4'"),
    Case("batch_size_bool", "batch_size=True", lambda c: _fit(c, batch_size=True), ValueError,
         r"`batch_size` must be a positive integer, received True"),
    Case("epochs_negative", "epochs=-1", lambda c: _fit(c, epochs=-1), ValueError,
         r"`epochs` must be a non-negative integer, received epochs=-1"),
    Case("epochs_float", "epochs=1.5", lambda c: _fit(c, epochs=1.5), ValueError,
         r"`epochs` must be a non-negative integer, received epochs=1\.5"),
    Case("validation_split_one", "validation_split=1.0",
         lambda c: _fit(c, validation_split=1.0), ValueError,
         r"`validation_split` must be in \[0, 1\), received validation_split=1\.0"),
    Case("validation_split_negative", "validation_split=-0.1",
         lambda c: _fit(c, validation_split=-0.1), ValueError,
         r"`validation_split` must be in \[0, 1\), received validation_split=-0\.1"),
    Case("steps_per_epoch_zero", "steps_per_epoch=0",
         lambda c: _fit(c, steps_per_epoch=0), ValueError,
         r"`steps_per_epoch`.* must be a positive integer or None; received 0"),
    # ---------------------------------------------------------------- missing files
    Case("load_model_missing", "load_model on a missing file",
         lambda c: saving.load_model(c.tmp / "missing.keras"), FileNotFoundError,
         r"in '.*missing\.keras': no such file or directory"),
    Case("load_weights_missing", "load_weights on a missing file",
         lambda c: _classifier().load_weights(c.tmp / "missing.weights.h5"), FileNotFoundError,
         r"in '.*missing\.weights\.h5': no such file or directory"),
    Case("load_model_directory", "load_model on a folder",
         lambda c: saving.load_model(c.tmp), ModelFileError,
         r"ModelFileError in '.*': is a directory, not a model file"),
    Case("load_img_missing", "load_img on a missing file",
         lambda c: utils.load_img(c.tmp / "missing.png"), BadImageError,
         r"Cannot load image file '.*missing\.png': file not found"),
    Case("load_img_not_an_image", "load_img on a text file named .png",
         lambda c: utils.load_img(_make_dirs(c, "notes.png") / "notes.png"), BadImageError,
         r"Cannot load image file '.*notes\.png': not a recognised image"),
    Case("dataset_missing_dir", "image_dataset_from_directory on a missing folder",
         lambda c: utils.image_dataset_from_directory(c.tmp / "nowhere"), ValueError,
         r"`directory` does not exist: received directory='.*nowhere'"),
    Case("dataset_file_not_dir", "image_dataset_from_directory on a file",
         lambda c: utils.image_dataset_from_directory(_make_dirs(c, "a.txt") / "a.txt"),
         ValueError, r"`directory` is not a directory: received directory='.*a\.txt'"),
    Case("dataset_empty_dir", "image_dataset_from_directory on an empty folder",
         lambda c: utils.image_dataset_from_directory(_make_dirs(c), verbose=False), ValueError,
         r"No images found in directory .*images\. Allowed formats: .*\.jpg"),
    Case("dataset_no_images", "a folder holding only text files",
         lambda c: utils.image_dataset_from_directory(
             _make_dirs(c, "cats/notes.txt", "dogs/readme.md"), verbose=False),
         ValueError, r"No images found in directory .*images\. Allowed formats"),
    # ---------------------------------------------------------------- read-only folder
    Case("readonly_save", "model.save into a read-only folder",
         lambda c: c.model.save(c.tmp / "ro" / "m.keras"), OSError,
         r"Cannot write the model file \(\d+ bytes\): Read-only file system: '.*ro/m\.keras'",
         mount="readonly"),
    Case("readonly_save_weights", "save_weights into a read-only folder",
         lambda c: c.model.save_weights(c.tmp / "ro" / "m.weights.h5"), OSError,
         r"Cannot write the weights file \(\d+ bytes\): Read-only file system: "
         r"'.*ro/m\.weights\.h5'", mount="readonly"),
    Case("readonly_checkpoint", "ModelCheckpoint into a read-only folder",
         lambda c: _fit(c, callbacks=[callbacks.ModelCheckpoint(c.tmp / "ro" / "c.keras")]),
         OSError, r"Read-only file system: '.*ro/c\.keras'", mount="readonly"),
    Case("readonly_csv_logger", "CSVLogger into a read-only folder",
         lambda c: _fit(c, callbacks=[callbacks.CSVLogger(str(c.tmp / "ro" / "log.csv"))]),
         OSError, r"Read-only file system: '.*ro/log\.csv'", mount="readonly"),
    Case("readonly_tensorboard", "TensorBoard log_dir in a read-only folder",
         lambda c: _fit(c, callbacks=[callbacks.TensorBoard(str(c.tmp / "ro" / "logs"))]),
         OSError, r"Read-only file system: '.*ro/logs", mount="readonly"),
]  # fmt: skip


# --------------------------------------------------------------------- mounts
def _mount(target: Path, options: str) -> None:
    target.mkdir(exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {result.stderr.strip()}")


@contextlib.contextmanager
def tmpfs(target: Path, options: str) -> Iterator[Path]:
    """A tmpfs mounted at `target` for the duration (skips where mounting is refused)."""
    _mount(target, options)
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)


@pytest.fixture
def ctx(tmp_path: Path) -> Ctx:
    rng = np.random.default_rng(0)
    x = rng.random((N, 4)).astype("float32")
    return Ctx(tmp_path, x, np.arange(N) % 3)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input(case: Case, ctx: Ctx) -> None:
    with contextlib.ExitStack() as stack:
        if case.mount == "readonly":
            stack.enter_context(tmpfs(ctx.tmp / "ro", "size=1m,ro"))
        with pytest.raises(case.error) as caught:
            case.call(ctx)
    assert re.search(case.match, str(caught.value)), str(caught.value)


def test_docstring_lists_every_case() -> None:
    listed = set(re.findall(r"[a-z_]+", __doc__ or ""))
    missing = [c.id for c in CASES if c.id not in listed]
    assert not missing, f"cases missing from the module docstring: {missing}"


# --------------------------------------------------------------------- NaN and inf
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_nan_and_inf_inputs(value: float, ctx: Ctx) -> None:
    """Not an error: NaN/inf in x gives NaN losses and predictions, as in Keras."""
    model = ctx.model
    x = np.full((N, 4), value, "float32")
    history = model.fit(x, ctx.y, batch_size=4, epochs=1, verbose=0)
    assert np.isnan(history.history["loss"][0])
    assert np.isnan(model.predict(x, verbose=0)).all()


def test_terminate_on_nan_stops_at_the_first_nan_batch(ctx: Ctx) -> None:
    model = ctx.model
    seen = []
    counter = callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(batch))
    history = model.fit(
        np.full((N, 4), np.nan, "float32"), ctx.y, batch_size=2, epochs=3, verbose=0,
        callbacks=[counter, callbacks.TerminateOnNaN()],
    )  # fmt: skip
    assert seen == [0] and history.epoch == [0] and model.stop_training


# --------------------------------------------------------------------- full disk
def _big_model() -> Sequential:
    """About 400 KB of weights: more than the 256 KiB disk holds."""
    model = Sequential([layers.Input((100,)), layers.Dense(1000)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def _fit_with(callback: Any) -> Callable[[Sequential], Any]:
    def run(model: Sequential) -> Any:
        x, y = np.zeros((2, 100), "float32"), np.zeros((2, 1000), "float32")
        return model.fit(x, y, epochs=2, verbose=0, callbacks=[callback])

    return run


_FULL_DISK = [
    ("save", "m.keras", lambda path: lambda m: m.save(path), "model file"),
    ("save_weights", "m.weights.h5", lambda path: lambda m: m.save_weights(path), "weights file"),
    ("checkpoint", "c.keras", lambda path: _fit_with(callbacks.ModelCheckpoint(path)),
     "model file"),
    ("checkpoint_weights", "c.weights.h5",
     lambda path: _fit_with(callbacks.ModelCheckpoint(path, save_weights_only=True)),
     "weights file"),
]  # fmt: skip


@pytest.mark.parametrize("name, filename, make, what", _FULL_DISK, ids=[c[0] for c in _FULL_DISK])
def test_full_disk(name: str, filename: str, make: Callable, what: str, tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "size=256k") as disk:
        path = disk / filename
        path.write_bytes(b"earlier file")
        with pytest.raises(OSError) as caught:
            make(str(path))(_big_model())
        message = str(caught.value)
        assert re.search(
            rf"\[Errno 28\] Cannot write the {what} \(\d+ bytes\): No space left on device: "
            rf"'{re.escape(str(path))}'",
            message,
        ), message
        assert sorted(os.listdir(disk)) == [filename]  # no temporary file left behind
        assert path.read_bytes() == b"earlier file"


def test_full_disk_csv_logger(ctx: Ctx) -> None:
    with tmpfs(ctx.tmp / "disk", "size=256k") as disk:
        with contextlib.suppress(OSError), open(disk / "filler", "wb") as f:
            f.write(b"\0" * (300 << 10))  # fill the disk
        log = disk / "log.csv"
        with pytest.raises(OSError, match=rf"No space left on device.*{re.escape(str(log))}"):
            _fit(ctx, epochs=3, callbacks=[callbacks.CSVLogger(str(log))])


def test_read_only_image_folder_still_loads(tmp_path: Path) -> None:
    """Reading needs no write access: a dataset on a read-only mount loads."""
    source = tmp_path / "src"
    (source / "cls").mkdir(parents=True)
    Image.new("RGB", (5, 4), (10, 20, 30)).save(source / "cls" / "a.png")
    with tmpfs(tmp_path / "ro", "size=1m") as mount:
        (mount / "cls").mkdir()
        (mount / "cls" / "a.png").write_bytes((source / "cls" / "a.png").read_bytes())
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        ds = utils.image_dataset_from_directory(
            mount, image_size=(4, 5), batch_size=1, num_workers=0, verbose=False
        )
        images, labels = next(iter(ds))
        assert images.shape == (1, 4, 5, 3) and float(images[0, 0, 0, 0]) == 10.0
