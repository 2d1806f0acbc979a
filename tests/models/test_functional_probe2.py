"""Functional API programs run in both libraries: multi-input and multi-output training,
model surgery (`clone_model`, configs, feature extractors) and the errors for targets that
do not match the outputs. Seeded runs agree to 1e-5: convolve draws Keras's streams."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest
from keras_compare import assert_same

import convolve

pytestmark = [
    pytest.mark.parity,
    # Keras 3.15.1 converts its tensors with a NumPy 1 idiom that NumPy 2 warns about.
    pytest.mark.filterwarnings(
        "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
    ),
]

LIBS = pytest.mark.parametrize("lib", [keras, convolve], ids=["keras", "convolve"])
RTOL, ATOL = 1e-5, 1e-6


def _branchy(lib: Any) -> Any:
    """Two inputs, a concatenation, and three outputs at two depths: Keras's clone builds
    (and draws initial weights for) `o2` first, then `o3`, then `o1`."""
    a = lib.Input((3,), name="a")
    b = lib.Input((4,), name="b")
    x = lib.layers.Dense(2, name="x")(a)
    y = lib.layers.Dense(2, name="y")(b)
    h = lib.layers.Concatenate(name="cat")([x, y])
    o1 = lib.layers.Dense(2, name="o1")(h)
    o2 = lib.layers.Dense(2, name="o2")(h)
    o3 = lib.layers.Dense(2, name="o3")(o2)
    return lib.Model([a, b], [o1, o3, o2], name="branchy")


def _seeded_copies(lib: Any) -> dict[str, list[np.ndarray]]:
    lib.utils.set_random_seed(1)
    model = _branchy(lib)
    copies = {
        "clone": lambda: lib.models.clone_model(model),
        "from_config": lambda: lib.Model.from_config(model.get_config()),
        "from_json": lambda: lib.models.model_from_json(model.to_json()),
    }
    weights = {}
    for how, make in copies.items():
        lib.utils.set_random_seed(2)
        weights[how] = make().get_weights()
    return weights


def test_seeded_clone_and_config_copies_draw_keras_weights() -> None:
    assert_same(_seeded_copies(convolve), _seeded_copies(keras), RTOL, ATOL)


def _nested(lib: Any) -> Any:
    lib.utils.set_random_seed(8)
    inner = lib.Sequential([lib.Input((4,)), lib.layers.Dense(3, name="in_d")], name="inner")
    a = lib.Input((4,), name="a")
    return lib.Model(a, lib.layers.Dense(2, name="head")(inner(a)), name="outer")


def _surgery(lib: Any) -> list[Any]:
    """Names and sizes of clones made with `clone_function`, `recursive` and
    `call_function`."""
    model = _nested(lib)

    def rename_dense(layer: Any) -> Any:
        config = layer.get_config()
        if isinstance(layer, lib.layers.Dense):
            config["name"] = "new_" + config["name"]
        return type(layer).from_config(config)

    def add_relu_after_head(layer: Any, *args: Any, **kwargs: Any) -> Any:
        out = layer(*args, **kwargs)
        if layer.name == "head":
            out = lib.layers.Activation("relu", name="extra_relu")(out)
        return out

    shallow = lib.models.clone_model(model, clone_function=rename_dense)
    deep = lib.models.clone_model(model, clone_function=rename_dense, recursive=True)
    called = lib.models.clone_model(model, call_function=add_relu_after_head)
    return [
        [layer.name for layer in shallow.layers],
        [layer.name for layer in shallow.get_layer("inner").layers],
        [layer.name for layer in deep.get_layer("inner").layers],
        [layer.name for layer in called.layers],
        called.count_params(),
        called.output_shape,
    ]


def test_clone_model_recursive_and_call_function_as_keras() -> None:
    assert _surgery(convolve) == _surgery(keras)


@LIBS
def test_clone_model_refuses_unknown_keywords_and_call_function_on_sequential(lib) -> None:
    model = _nested(lib)
    with pytest.raises(ValueError, match="Unexpected keyword argument"):
        lib.models.clone_model(model, foo=1)
    with pytest.raises(ValueError, match="call_function"):
        lib.models.clone_model(model.get_layer("inner"), call_function=lambda l, x: l(x))


def _output_names(lib: Any) -> list[list[str]]:
    """`output_names` of list, tuple and dict outputs, and the logs after renaming."""
    i = lib.Input((3,), name="i")
    d = lib.layers.Dense(2, name="q")(i)
    e = lib.layers.Dense(1, name="p")(i)
    names = [lib.Model(i, outs).output_names for outs in (d, [d, e], (e, d), {"z": d, "b": e})]
    model = lib.Model(i, [d, e])
    # A plain attribute, as in Keras, that compile reads to name the logs.
    model.output_names = ["first", "second"]
    model.compile(optimizer="sgd", loss=["mse", "mse"], metrics=[["mae"], []])
    x, y = np.ones((4, 3), "float32"), [np.ones((4, 2)), np.ones((4, 1))]
    return [*names, model.output_names, sorted(model.fit(x, y, verbose=0).history)]


def test_output_names_match_keras() -> None:
    assert _output_names(convolve) == _output_names(keras)


def _two_heads(lib: Any, loss: Any, metrics: Any = None, loss_weights: Any = None) -> Any:
    """An image and a metadata input; a classifier head and a regression head."""
    lib.utils.set_random_seed(7)
    image = lib.Input((8, 8, 3), name="image")
    meta = lib.Input((4,), name="meta")
    x = lib.layers.Conv2D(4, 3, activation="relu")(image)
    x = lib.layers.MaxPooling2D(2)(x)
    x = lib.layers.Flatten()(x)
    h = lib.layers.concatenate([x, lib.layers.Dense(8, activation="relu")(meta)])
    cls = lib.layers.Dense(3, activation="softmax", name="cls")(h)
    reg = lib.layers.Dense(1, name="reg")(h)
    model = lib.Model(inputs=[image, meta], outputs=[cls, reg])
    model.compile(optimizer="adam", loss=loss, metrics=metrics, loss_weights=loss_weights)
    return model


def _data() -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(0)
    x = [rng.normal(size=(24, 8, 8, 3)).astype("float32"), rng.normal(size=(24, 4))]
    y = [rng.integers(0, 3, size=(24,)), rng.normal(size=(24, 1)).astype("float32")]
    return [x[0], x[1].astype("float32")], y


COMPILES = {
    "lists": {
        "loss": ["sparse_categorical_crossentropy", "mse"],
        "metrics": [["accuracy"], ["mae"]],
        "loss_weights": [1.0, 0.5],
    },
    "dicts": {
        "loss": {"cls": "sparse_categorical_crossentropy", "reg": "mse"},
        "metrics": {"cls": "accuracy", "reg": ["mae", "mse"]},
        "loss_weights": {"cls": 2.0, "reg": 1.0},
    },
}


def _fit_two_heads(lib: Any, how: str) -> list[Any]:
    model = _two_heads(lib, **COMPILES[how])
    x, y = _data()
    if how == "dicts":  # inputs and targets by name
        x = dict(zip(["image", "meta"], x, strict=True))
        y = dict(zip(["cls", "reg"], y, strict=True))
    history = model.fit(x, y, epochs=2, batch_size=8, validation_split=0.25, verbose=0)
    return [
        dict(sorted(history.history.items())),
        model.evaluate(x, y, verbose=0, return_dict=True),
        model.evaluate(x, y, verbose=0),
        model.predict(x, verbose=0),
        model.metrics_names,
    ]


@pytest.mark.parametrize("how", list(COMPILES))
def test_two_head_training_matches_keras(how: str) -> None:
    ours, theirs = _fit_two_heads(convolve, how), _fit_two_heads(keras, how)
    assert ours[-1] == theirs[-1]  # metrics_names
    assert_same(ours[:-1], theirs[:-1], RTOL, 1e-5)


def test_targets_only_for_outputs_with_a_loss_match_keras() -> None:
    def run(lib: Any) -> list[Any]:
        model = _two_heads(lib, ["sparse_categorical_crossentropy", None])
        x, y = _data()
        history = model.fit(x, [y[0]], epochs=2, batch_size=8, verbose=0).history
        return [history, model.evaluate(x, [y[0]], verbose=0, return_dict=True)]

    assert_same(run(convolve), run(keras), RTOL, 1e-5)


def test_sample_weights_per_output_match_keras() -> None:
    def run(lib: Any) -> list[Any]:
        model = _two_heads(lib, **COMPILES["lists"])
        x, y = _data()
        rng = np.random.default_rng(1)
        weights = [rng.random(24).astype("float32"), rng.random(24).astype("float32")]
        history = model.fit(x, y, sample_weight=weights, epochs=2, batch_size=8, verbose=0)
        return [history.history, model.evaluate(x, y, sample_weight=weights, verbose=0)]

    assert_same(run(convolve), run(keras), RTOL, 1e-5)


MISMATCHED_TARGETS = {
    "one array": lambda y: y[0],
    "a list of one": lambda y: [y[0]],
    "an unknown key": lambda y: {"cls": y[0], "reg": y[1], "zzz": y[0]},
}


@LIBS
@pytest.mark.parametrize("targets", list(MISMATCHED_TARGETS))
def test_targets_that_do_not_match_the_outputs_are_refused(lib, targets: str) -> None:
    model = _two_heads(lib, ["sparse_categorical_crossentropy", "mse"])
    x, y = _data()
    with pytest.raises(ValueError) as info:
        model.fit(x, MISMATCHED_TARGETS[targets](y), epochs=1, verbose=0)
    if lib is convolve:  # one clear message naming the outputs
        assert "['cls', 'reg']" in str(info.value)


def _feature_extractors(lib: Any) -> list[Any]:
    """The guide's toy ResNet, cut at a named layer and at every layer."""
    lib.utils.set_random_seed(4)
    inputs = lib.Input(shape=(16, 16, 3), name="img")
    x = lib.layers.Conv2D(8, 3, activation="relu", name="c1")(inputs)
    block_1 = lib.layers.MaxPooling2D(2, name="pool")(x)
    x = lib.layers.Conv2D(8, 3, activation="relu", padding="same", name="c2")(block_1)
    x = lib.layers.Conv2D(8, 3, activation="relu", padding="same", name="c3")(x)
    block_2 = lib.layers.add([x, block_1], name="add")
    gate = lib.layers.Dense(8, activation="sigmoid", name="gate")(
        lib.layers.GlobalAveragePooling2D(name="gap_a")(block_1)
    )
    pooled = lib.layers.GlobalAveragePooling2D(name="gap")(block_2)
    mixed = [
        lib.layers.Multiply(name="mul")([pooled, gate]),
        lib.layers.Average(name="avg")([pooled, gate]),
        lib.layers.Subtract(name="sub")([pooled, gate]),
    ]
    outputs = lib.layers.Dense(4, name="head")(lib.layers.Concatenate(axis=-1, name="cat")(mixed))
    model = lib.Model(inputs, outputs, name="toy_resnet")
    lines: list[str] = []
    model.summary(print_fn=lines.append)
    every = lib.Model(inputs=model.inputs, outputs=[layer.output for layer in model.layers])
    at_add = lib.Model(inputs=model.input, outputs=model.get_layer("add").output)
    layer = model.get_layer(index=3)
    image = np.random.default_rng(0).random((2, 16, 16, 3)).astype("float32")
    return [
        "\n".join(lines),
        model.count_params(),
        [layer.name for layer in model.layers],
        [layer.name, tuple(layer.input.shape), tuple(layer.output.shape)],
        [tuple(t.shape) for t in every.outputs],
        [layer.name for layer in at_add.layers],
        every.predict(image, verbose=0),
        at_add.predict(image, verbose=0),
    ]


def test_feature_extractors_of_a_residual_model_match_keras() -> None:
    ours, theirs = _feature_extractors(convolve), _feature_extractors(keras)
    assert ours[:6] == theirs[:6]
    assert_same(ours[6:], theirs[6:], RTOL, ATOL)


def test_predict_keeps_nested_output_structures_as_keras() -> None:
    def run(lib: Any) -> Any:
        lib.utils.set_random_seed(3)
        inputs = lib.Input((4,))
        d = lib.layers.Dense(2, name="d")(inputs)
        e = lib.layers.Dense(3, name="e")(inputs)
        model = lib.Model(inputs, [[d], {"e": e, "d": d}])
        x = np.random.default_rng(0).normal(size=(10, 4)).astype("float32")
        return model.predict(x, batch_size=4, verbose=0)

    ours, theirs = run(convolve), run(keras)
    assert isinstance(ours[0], list) and list(ours[1]) == list(theirs[1])
    assert_same(ours, theirs, RTOL, 1e-6)
