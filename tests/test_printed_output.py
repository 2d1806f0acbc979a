"""What Keras programs print, compared with what the same program prints with convolve.

The text is compared exactly, with only timings (`0s`, `12ms/step`) masked. Each test
builds the same model in both libraries with explicit names, so that the automatic
numbering of names plays no part.
"""

import os
import re
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from keras_compare import fresh_names  # noqa: F401  (the fixture the tests use)

import convolve

pytestmark = [pytest.mark.parity, pytest.mark.usefixtures("fresh_names")]

LIBS = (convolve, keras)
_TIMING = re.compile(r"\b\d+(?:ms|us|s)\b")


def _summary(model, **kwargs) -> str:
    lines = []
    model.summary(print_fn=lines.append, **kwargs)
    return "\n".join(lines)


def _both(build, render) -> tuple[str, str]:
    """`render(build(lib), lib)` for convolve and for Keras, in that order."""
    return tuple(render(build(lib), lib) for lib in LIBS)


# ------------------------------------------------------------------ symbolic tensors


@pytest.mark.parametrize(
    "make",
    [
        lambda lib: lib.Input((4,), name="x"),
        lambda lib: lib.Input((None, 3), name="seq"),
        lambda lib: lib.Input(batch_shape=(4, 3), name="fixed"),
        lambda lib: lib.Input((2,), dtype="int32", name="ids"),
    ],
)
def test_keras_tensor_repr_matches_keras(make):
    ours, theirs = (repr(make(lib)) for lib in LIBS)
    assert ours == theirs
    assert "sparse=False, ragged=False" in ours


def test_model_inputs_list_prints_like_keras():
    def build(lib):
        a, b = lib.Input((3,), name="a"), lib.Input((5,), name="b")
        merged = lib.layers.Concatenate(name="cat")([a, b])
        return lib.Model([a, b], lib.layers.Dense(1, name="d")(merged), name="m")

    ours, theirs = _both(build, lambda m, lib: f"{m.inputs} {m.input}")
    assert ours == theirs


# ------------------------------------------------------------------ variables


def test_weight_and_variable_reprs_match_keras():
    def build(lib):
        dense = lib.layers.Dense(3, name="d")
        dense.build((None, 2))
        norm = lib.layers.BatchNormalization(name="bn")
        norm.build((None, 3))
        free = lib.Variable(np.array([1.0, 2.0], "float32"), name="free")
        return [dense.bias, *norm.weights, free]

    ours, theirs = _both(build, lambda ws, lib: "\n".join(map(str, ws)) + repr(ws[:2]))
    assert ours == theirs


def test_conv_kernel_repr_shows_keras_layout():
    def build(lib):
        conv = lib.layers.Conv2D(2, 3, name="cv")
        conv.build((None, 5, 5, 1))
        conv.set_weights([np.arange(18, dtype="float32").reshape(3, 3, 1, 2), np.ones(2)])
        return conv

    ours, theirs = _both(build, lambda c, lib: str(c.kernel))
    assert ours == theirs


# ------------------------------------------------------------------ model.summary()


def _siamese(lib):
    enc_in = lib.Input((4,), name="enc_in")
    encoder = lib.Model(enc_in, lib.layers.Dense(2, name="code")(enc_in), name="enc")
    left, right = lib.Input((4,), name="left"), lib.Input((4,), name="right")
    diff = lib.layers.Subtract(name="diff")([encoder(left), encoder(right)])
    return lib.Model([left, right], lib.layers.Dense(1, name="score")(diff), name="siamese")


def _frozen_base(lib):
    base = lib.Sequential(
        [
            lib.Input((6,), name="base_in"),
            lib.layers.Dense(5, name="b1"),
            lib.layers.BatchNormalization(name="bn"),
            lib.layers.Dense(4, name="b2"),
        ],
        name="base",
    )
    base.trainable = False
    inputs = lib.Input((6,), name="top_in")
    outputs = lib.layers.Dense(2, activation="softmax", name="head")(base(inputs))
    return lib.Model(inputs, outputs, name="top")


@pytest.mark.parametrize("build", [_siamese, _frozen_base])
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"expand_nested": True},
        {"expand_nested": True, "show_trainable": True},
        {"line_length": 60},
        {"positions": [0.4, 0.6, 0.75, 1.0]},
        {"layer_range": ["diff|base", "score|head"]},
    ],
)
def test_functional_summary_matches_keras(build, kwargs):
    ours, theirs = _both(build, lambda m, lib: _summary(m, **kwargs))
    assert ours == theirs


def test_summary_counts_optimizer_variables_after_fit_as_keras():
    x = np.ones((4, 6), "float32")
    y = np.array([0, 1, 0, 1])

    def render(model, lib):
        model.compile(optimizer=lib.optimizers.Adam(), loss="sparse_categorical_crossentropy")
        before = _summary(model)
        model.fit(x, y, epochs=1, verbose=0)
        return before + "\n" + _summary(model, show_trainable=True)

    ours, theirs = _both(_frozen_base, render)
    assert ours == theirs
    assert "Optimizer params" in ours


def _subclassed(lib):
    class Net(lib.Model):
        def __init__(self):
            super().__init__(name="net")
            self.conv = lib.layers.Conv2D(3, 3, name="conv")
            self.pool = lib.layers.GlobalAveragePooling2D(name="pool")
            self.out = lib.layers.Dense(2, name="out")

        def call(self, x):
            return self.out(self.pool(self.conv(x)))

    model = Net()
    model(np.ones((2, 6, 6, 1), "float32"))
    return model


def test_subclassed_summary_matches_keras_up_to_the_batch_size():
    """Keras shows the batch size of the first call, (2, ...), where convolve shows None;
    the rest, including "?" for the weightless pooling layer Keras marks built when
    constructed, is the same text."""
    ours, theirs = _both(_subclassed, lambda m, lib: _summary(m, show_trainable=True))
    assert "(2, " in theirs

    def same_batch(text: str) -> str:  # the cells' padding follows the shape's length
        return re.sub(r" +", " ", text.replace("(2, ", "(None, "))

    assert same_batch(ours) == same_batch(theirs)
    assert [row for row in ours.split("\n") if row.startswith("│ pool ")][0].count("│ ? ") == 1


# ------------------------------------------------------------------ fit on a pipe

_PROGRAM = """
import os, tempfile
import numpy as np
import {lib} as keras
from {lib} import layers

rng = np.random.default_rng(0)
x = rng.normal(size=(40, 4)).astype("float32")
y = np.arange(40) % 3
model = keras.Sequential([keras.Input((4,)), layers.Dense(8, activation="relu", name="h"),
                          layers.Dense(3, activation="softmax", name="p")], name="clf")
weights = np.random.default_rng(1)
model.set_weights([weights.normal(scale=0.5, size=w.shape).astype("float32")
                   for w in model.get_weights()])
model.compile(optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
print(model.get_compile_config()["metrics"], model.optimizer.get_config()["learning_rate"])
callbacks = [
    keras.callbacks.EarlyStopping(monitor="val_loss", patience=1, min_delta=0.5, verbose=1,
                                  restore_best_weights=True),
    keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=0.5,
                                      verbose=1),
    keras.callbacks.ModelCheckpoint(os.path.join(tempfile.mkdtemp(), "best.keras"),
                                    save_best_only=True, verbose=1),
]
history = model.fit(x, y, epochs=5, batch_size=16, validation_split=0.25, shuffle=False,
                    verbose=2, callbacks=callbacks)
print(history.params)
print(history.history)
print(model.evaluate(x, y, batch_size=16, verbose=2))
print("== verbose=1")
print(model.evaluate(x, y, batch_size=16, verbose=1))
"""


def _run_program(lib: str) -> str:
    env = dict(os.environ, KERAS_BACKEND="torch", COLUMNS="100")
    source = textwrap.dedent(_PROGRAM).format(lib=lib)
    done = subprocess.run(
        [sys.executable, "-c", source], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _last_draws(text: str) -> list[str]:
    """The non-empty lines as a reader of the log sees them: colour codes dropped, timings
    masked and,
    where a bar was redrawn in place, only its last draw. (Keras, seeing the `posix`
    module loaded, redraws even on a pipe; convolve writes only the final line.)"""
    lines = []
    for line in text.split("\n"):
        line = re.sub(r"\x1b\[[0-9;]*m", "", line)
        line = re.split(r"[\r\b]", line)[-1].rstrip()
        line = re.split(r"(?=\s*\d+/\d+ ━)", line)[-1].strip()
        if line:
            lines.append(_TIMING.sub("T", line))
    return lines


def test_fit_evaluate_and_callback_messages_on_a_pipe_match_keras():
    saved_to = re.compile(r"to /\S+best\.keras")
    ours, theirs = (
        _TIMING.sub("T", saved_to.sub("to FILE", _run_program(lib)))
        for lib in ("convolve", "keras")
    )
    # Up to evaluate(verbose=1) every line, blank ones included, is Keras's text.
    ours_plain, ours_bar = ours.split("== verbose=1\n")
    theirs_plain, theirs_bar = theirs.split("== verbose=1\n")
    assert ours_plain == theirs_plain
    assert _last_draws(ours_bar) == _last_draws(theirs_bar)
    assert "Epoch 2: early stopping" in ours
    assert "ReduceLROnPlateau reducing learning rate to 0.25." in ours


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop"])
def test_printed_learning_rate_and_iterations_match_keras(optimizer: str) -> None:
    def printed(lib) -> list[str]:
        lib.utils.clear_session()  # optimizer names count from "adam" again
        model = lib.Sequential([lib.Input((2,)), lib.layers.Dense(1)])
        model.compile(optimizer=optimizer, loss="mse")
        model.fit(np.ones((8, 2), "float32"), np.ones((8, 1), "float32"), batch_size=4, verbose=0)
        opt = model.optimizer
        return [str(opt.learning_rate), repr(opt.iterations), f"{opt.iterations}",
                str(float(opt.learning_rate)), str(int(opt.iterations.numpy()))]  # fmt: skip

    assert printed(convolve) == printed(keras)
