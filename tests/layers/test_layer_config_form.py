"""Layers' `get_config()` in Keras's exact form: a dtype policy entry, and initializers,
regularizers and constraints as full Keras entries (module, class name, config, registered
name), with the config keys in Keras's order."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
import pytest

import convolve

pytestmark = pytest.mark.parity

# (class name, constructor arguments, input shape to build with)
LAYERS = [
    ("Dense", {"units": 3}, (None, 4)),
    ("Dense", {"units": 3, "kernel_regularizer": "l2", "bias_regularizer": "l1",
               "kernel_constraint": "max_norm", "activity_regularizer": "l2"}, (None, 4)),
    ("Dense", {"units": 2, "kernel_initializer": "he_normal", "bias_initializer": "ones"},
     (None, 4)),
    ("Conv2D", {"filters": 4, "kernel_size": 3, "activation": "relu"}, (None, 8, 8, 3)),
    ("Conv2D", {"filters": 4, "kernel_size": 3, "kernel_regularizer": "l1"}, (None, 8, 8, 3)),
    ("Conv1D", {"filters": 2, "kernel_size": 3, "padding": "causal"}, (None, 10, 3)),
    ("SeparableConv2D", {"filters": 4, "kernel_size": 3}, (None, 8, 8, 3)),
    ("DepthwiseConv2D", {"kernel_size": 3}, (None, 8, 8, 3)),
    ("Conv2DTranspose", {"filters": 2, "kernel_size": 3, "strides": 2}, (None, 8, 8, 3)),
    ("BatchNormalization", {}, (None, 8, 8, 3)),
    ("LayerNormalization", {}, (None, 5)),
    ("Embedding", {"input_dim": 10, "output_dim": 4}, (None, 5)),
    ("Dropout", {"rate": 0.3}, (None, 5)),
    ("MaxPooling2D", {}, (None, 8, 8, 3)),
    ("GlobalAveragePooling2D", {}, (None, 8, 8, 3)),
    ("Flatten", {}, (None, 4, 4, 3)),
    ("Rescaling", {"scale": 1 / 255}, (None, 8, 8, 3)),
    ("RandomFlip", {"mode": "horizontal"}, (None, 8, 8, 3)),
    ("RandomRotation", {"factor": 0.1}, (None, 8, 8, 3)),
    ("LSTM", {"units": 3}, (None, 4, 2)),
    ("PReLU", {}, (None, 5)),
    ("Activation", {"activation": "softmax"}, (None, 5)),
]  # fmt: skip


def _both(class_name: str, kwargs: dict, shape: tuple) -> tuple[dict, dict]:
    ours = getattr(convolve.layers, class_name)(name="probe", **kwargs)
    theirs = getattr(keras.layers, class_name)(name="probe", **kwargs)
    ours.build(shape)
    theirs.build(shape)
    return ours.get_config(), theirs.get_config()


@pytest.mark.parametrize(("class_name", "kwargs", "shape"), LAYERS, ids=lambda v: str(v)[:30])
def test_layer_config_is_keras_config(class_name: str, kwargs: dict, shape: tuple) -> None:
    ours, theirs = _both(class_name, kwargs, shape)
    assert ours == theirs
    assert list(ours) == list(theirs)


@pytest.mark.parametrize(("class_name", "kwargs", "shape"), LAYERS[:6], ids=lambda v: str(v)[:30])
def test_keras_form_configs_rebuild_the_layer(class_name: str, kwargs: dict, shape: tuple) -> None:
    ours, theirs = _both(class_name, kwargs, shape)
    cls = getattr(convolve.layers, class_name)
    assert cls.from_config(theirs).get_config() == ours
    assert cls.from_config(ours).get_config() == ours


def test_policy_entry_names_the_layer_dtype() -> None:
    for dtype in ("float64", "int32", "bfloat16"):
        ours = convolve.layers.Dense(2, dtype=dtype).get_config()["dtype"]
        theirs = keras.layers.Dense(2, dtype=dtype).get_config()["dtype"]
        assert ours == theirs


def _public_classes(module) -> list[str]:
    return sorted(
        name for name, value in vars(module).items()
        if isinstance(value, type) and not name.startswith("_") and name[0].isupper()
    )  # fmt: skip


# Keras's Identity writes no config at all, losing its gain; convolve keeps `gain`.
# STFT initializers are for audio; the base classes have no config of their own.
_NOT_COMPARED = {"Identity", "IdentityInitializer", "Initializer", "Regularizer", "Constraint",
                 "STFT", "STFTInitializer"}  # fmt: skip


@pytest.mark.parametrize("family", ["initializers", "regularizers", "constraints"])
def test_serialized_objects_are_keras_entries(family: str) -> None:
    ours_module, theirs_module = getattr(convolve, family), getattr(keras, family)
    compared = 0
    for name in _public_classes(theirs_module):
        if name in _NOT_COMPARED:
            continue
        ours = ours_module.serialize(getattr(ours_module, name)())
        theirs = theirs_module.serialize(getattr(theirs_module, name)())
        assert ours == theirs, name
        assert list(ours["config"]) == list(theirs["config"]), name
        compared += 1
    assert compared >= {"initializers": 15, "regularizers": 4, "constraints": 4}[family]


@pytest.fixture
def mixed_float16():
    keras.mixed_precision.set_global_policy("mixed_float16")
    convolve.mixed_precision.set_global_policy("mixed_float16")
    yield
    keras.mixed_precision.set_global_policy("float32")
    convolve.mixed_precision.set_global_policy("float32")


def _policy_report(layer) -> tuple:
    return (repr(layer.dtype_policy), layer.dtype, layer.compute_dtype, layer.variable_dtype,
            layer.get_config()["dtype"])  # fmt: skip


def test_layers_made_under_a_mixed_global_policy_report_it(mixed_float16) -> None:
    for make in (lambda lib: lib.layers.Dense(2), lambda lib: lib.layers.Conv2D(2, 3),
                 lambda lib: lib.layers.Activation("softmax", dtype="float32")):  # fmt: skip
        assert _policy_report(make(convolve)) == _policy_report(make(keras))


@pytest.mark.parametrize("dtype", ["mixed_bfloat16", "float64", "int64"])
def test_a_layer_given_a_policy_reports_it(dtype: str) -> None:
    ours = convolve.layers.Dense(
        2, dtype=convolve.DTypePolicy(dtype) if "mixed" in dtype else dtype
    )
    theirs = keras.layers.Dense(2, dtype=keras.DTypePolicy(dtype) if "mixed" in dtype else dtype)
    assert _policy_report(ours) == _policy_report(theirs)
    rebuilt = convolve.layers.Dense.from_config(theirs.get_config())
    assert _policy_report(rebuilt) == _policy_report(theirs)


def test_a_model_file_trained_under_mixed_precision_loads(tmp_path, mixed_float16) -> None:
    theirs = keras.Sequential([
        keras.Input((6,)), keras.layers.Dense(4, activation="relu"),
        keras.layers.Dense(3), keras.layers.Activation("softmax", dtype="float32"),
    ])  # fmt: skip
    path = tmp_path / "mixed.keras"
    theirs.save(path)
    keras.mixed_precision.set_global_policy("float32")
    convolve.mixed_precision.set_global_policy("float32")
    ours = convolve.models.load_model(path)
    assert [_policy_report(a) for a in ours.layers] == [_policy_report(b) for b in theirs.layers]
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        assert a.dtype == b.dtype and (a == b).all()
    x = np.random.default_rng(0).random((5, 6)).astype("float32")
    # The loaded model computes in float32 (its global policy); Keras's layers in float16.
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=2e-3)


def _error_of(make, lib) -> tuple[type, str]:
    with pytest.raises(Exception) as info:
        make(lib)
    return info.type, str(info.value)


def test_unknown_arguments_and_configs_fail_as_in_keras() -> None:
    def scale_class(lib):
        class Scale(lib.layers.Layer):
            def __init__(self, factor=1.0, **kwargs):
                super().__init__(**kwargs)
                self.factor = factor

        return Scale

    for make in (
        lambda lib: lib.layers.Dense(2, bogus=1),
        lambda lib: lib.layers.Layer(bogus=1, other="x"),
        lambda lib: scale_class(lib).from_config({"factor": 2.0, "zzz": 1}),
        lambda lib: lib.layers.Dense(2).add_metric(1.0),
    ):
        assert _error_of(make, convolve) == _error_of(make, keras)


def test_a_model_file_names_the_reason_a_layer_cannot_be_rebuilt(tmp_path) -> None:
    import json
    import zipfile

    from convolve.saving.errors import ModelFileError

    model = convolve.Sequential([convolve.Input((3,)), convolve.layers.Dense(2, name="d")])
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(files["config.json"])
    config["config"]["layers"][1]["config"]["dtype"] = "no_such_dtype"
    files["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(tmp_path / "bad.keras", "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    with pytest.raises(ModelFileError) as info:
        convolve.models.load_model(tmp_path / "bad.keras")
    message = str(info.value)
    assert "cannot rebuild Dense: Unsupported dtype 'no_such_dtype'" in message
    assert "Error when deserializing" not in message  # the reason, not a copy of the config


def _conv_classifier(lib):
    inputs = lib.Input((8, 8, 3), name="img")
    x = lib.layers.Conv2D(2, 3, name="c")(inputs)
    x = lib.layers.MaxPooling2D(name="p")(x)
    return lib.Model(inputs, lib.layers.Dense(2, name="d")(lib.layers.Flatten(name="f")(x)))


def _two_inputs_dict_outputs(lib):
    a, b = lib.Input((4,), name="a"), lib.Input((4,), name="b")
    d = lib.layers.Dense(2, name="d")(lib.layers.Concatenate(name="cat")([a, b]))
    return lib.Model([a, b], {"out": lib.layers.Add(name="add")([d, d]), "d": d}, name="m")


def _with_operations(lib):
    inputs = lib.Input((4,), name="i")
    return lib.Model(inputs, lib.ops.mean(inputs + 1.0, axis=-1, keepdims=True), name="ops")


def _nested_models(lib):
    image = lib.Input((8, 8, 3))
    base = lib.Model(image, lib.layers.Conv2D(2, 3, name="bc")(image), name="base")
    head = lib.Sequential([lib.Input((4,)), lib.layers.Dense(3, name="in_d")], name="head")
    inputs = lib.Input((8, 8, 3), name="img")
    x = lib.layers.GlobalAveragePooling2D(name="gap")(base(inputs, training=False))
    return lib.Model(inputs, head(lib.layers.Dense(4, name="d4")(x)), name="outer")


def _sequential(lib):
    return lib.Sequential([lib.Input((4,)), lib.layers.Dense(2, name="dd")], name="s")


@pytest.mark.parametrize(
    "build",
    [_conv_classifier, _two_inputs_dict_outputs, _with_operations, _nested_models, _sequential],
)
def test_model_configs_are_keras_configs_tuples_included(build) -> None:
    convolve.utils.clear_session()
    keras.utils.clear_session()
    model = build(convolve)
    ours, theirs = model.get_config(), build(keras).get_config()
    assert ours == theirs
    assert repr(ours) == repr(theirs)  # tuples where Keras has tuples, key order alike
    assert type(model).from_config(ours).get_config() == ours
