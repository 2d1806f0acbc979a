"""Operation nodes (`x + 3.0`, `x[:, 1:]`, `ops.mean(x)`) in model files, both ways with Keras.

Outputs are compared with rtol = atol = 1e-6 (float32, same inputs and weights); integer and
boolean outputs exactly.
"""

from __future__ import annotations

import importlib
import inspect
import json

import keras
import numpy as np
import pytest
import torch

import convolve
from convolve import layers, ops
from convolve.saving import ModelFileError, op_nodes, serialization

pytestmark = pytest.mark.parity

TOLERANCE = {"rtol": 1e-6, "atol": 1e-6}
SHAPE = (2, 4, 6, 4)


# ----------------------------------------------------------------- the table against Keras
def _keras_class(class_name):
    module, *_ = op_nodes.OPERATIONS[class_name]
    return getattr(importlib.import_module(f"keras.src.ops.{module}"), class_name)


@pytest.mark.parametrize("class_name", sorted(op_nodes.OPERATIONS))
def test_table_entry_matches_keras_class(class_name):
    module, fn_name, static, call = op_nodes.OPERATIONS[class_name]
    cls = _keras_class(class_name)
    assert cls.__module__ == f"keras.src.ops.{module}"
    init = inspect.signature(cls.__init__).parameters
    assert static == tuple(
        p for p, s in init.items()
        if p not in ("self", "name") and s.kind not in (s.VAR_POSITIONAL, s.VAR_KEYWORD)
    )  # fmt: skip
    keras_call = [
        ("*" + p if s.kind is s.VAR_POSITIONAL else p)
        for p, s in inspect.signature(cls.call).parameters.items()
        if p != "self" and s.kind is not s.VAR_KEYWORD
    ]
    assert list(call) == keras_call
    # convolve's function takes the same arguments, with Keras's defaults for the static ones.
    ours = inspect.signature(op_nodes._function(fn_name)).parameters
    for name in static:
        assert name in ours, name
        if init[name].default is not inspect.Parameter.empty:
            assert json.dumps(ours[name].default) == json.dumps(init[name].default), name
    for name in call:
        assert name.lstrip("*") in ours, name


# ----------------------------------------------------------------- one model of every op
def _generic(spec, K, p, q):
    """A call for the entries of a common shape: unary, binary, or a reduction."""
    _, fn_name, static, call = spec
    fn = getattr(K.ops, fn_name)
    if static == ("axis", "keepdims"):
        return fn(p, axis=1, keepdims=True)
    return fn(p) if call == ("x",) else fn(p, q)


def _cases(K, p, q):
    """Each operation applied to symbolic tensors, by Keras class name (K is keras or
    convolve); `p` and `q` hold values in (0.1, 0.9)."""
    o, im = K.ops, K.ops.image
    r = p - 0.5
    w = np.array([1.0, 2.0, 3.0, 4.0], "float32")
    explicit = {
        "AdaptiveAveragePool": lambda: o.adaptive_average_pool(p, (2, 3)),
        "AdaptiveMaxPool": lambda: o.adaptive_max_pool(p, (3, 2)),
        "AffineTransform": lambda: im.affine_transform(
            p, np.array([[1.0, 0.1, 0.5, 0.0, 1.0, -0.5, 0.0, 0.0]] * 2, "float32")
        ),
        "Append": lambda: o.append(p, q, axis=-1),
        "Argsort": lambda: o.argsort(p, axis=-1),
        "ArraySplit": lambda: o.array_split(p, 3, axis=2),
        "Average": lambda: o.average(p, axis=-1, weights=w),
        "AveragePool": lambda: o.average_pool(p, 2, strides=2, padding="valid"),
        "BroadcastTo": lambda: o.broadcast_to(p[:, :1], SHAPE),
        "Cast": lambda: o.cast(p * 10.0, "int32"),
        "Celu": lambda: o.celu(r, alpha=0.5),
        "Clip": lambda: o.clip(p, 0.3, 0.6),
        "Concatenate": lambda: o.concatenate([p, q], axis=-1),
        # With an axis, Keras's torch backend returns its result transposed (Keras 3.15.1).
        "CountNonzero": lambda: o.count_nonzero(o.round(p)),
        "CropImages": lambda: im.crop_images(
            p, top_cropping=1, left_cropping=1, target_height=2, target_width=3
        ),
        "Cumprod": lambda: o.cumprod(p, axis=1),
        "Cumsum": lambda: o.cumsum(p, axis=2),
        "DepthToSpace": lambda: o.depth_to_space(p, 2),
        "Diff": lambda: o.diff(p, axis=2),
        "Dsplit": lambda: o.dsplit(p, 2),
        "Dstack": lambda: o.dstack([p, q]),
        "Einsum": lambda: o.einsum("bhwc,bhwc->bhw", p, q),
        "Elu": lambda: o.elu(r, alpha=0.7),
        "ExpandDims": lambda: o.expand_dims(p, 1),
        "ExtractPatches": lambda: im.extract_patches(p, 2),
        "Flip": lambda: o.flip(p, axis=2),
        "FullLike": lambda: o.full_like(p, 2.0),
        "GaussianBlur": lambda: im.gaussian_blur(p, kernel_size=(3, 3), sigma=(1.0, 1.0)),
        "Gelu": lambda: o.gelu(r, approximate=False),
        "GetItem": lambda: [p[:, 1:, ..., None, 0], p[..., ::2], p[:, -1], p[0]],
        "Glu": lambda: o.glu(p, axis=-1),
        "HardShrink": lambda: o.hard_shrink(r, threshold=0.2),
        "Hsplit": lambda: o.hsplit(p, 2),
        "Hstack": lambda: o.hstack([p, q]),
        "Isclose": lambda: o.isclose(p, o.round(p * 2.0) / 2.0, atol=0.1),
        "LeakyRelu": lambda: o.leaky_relu(r, negative_slope=0.1),
        "LogSoftmax": lambda: o.log_softmax(p, axis=1),
        "Max": lambda: o.max(p, axis=-1, keepdims=True),
        "MaxPool": lambda: o.max_pool(p, 2, padding="same"),
        "Min": lambda: o.min(p, axis=(1, 2)),
        "Moveaxis": lambda: o.moveaxis(p, 1, 3),
        "NanToNum": lambda: o.nan_to_num(o.log(r), nan=-1.0),
        "Nancumprod": lambda: o.nancumprod(p, axis=1),
        "Nancumsum": lambda: o.nancumsum(p, axis=1),
        "Normalize": lambda: o.normalize(p, axis=-1),
        "OneHot": lambda: o.one_hot(o.argmax(p, axis=-1), 4),
        "OnesLike": lambda: o.ones_like(p, dtype="int32"),
        "Pad": lambda: o.pad(p, [[0, 0], [1, 1], [0, 2], [0, 0]], constant_values=0.5),
        "PadImages": lambda: im.pad_images(
            p, top_padding=1, left_padding=2, bottom_padding=1, right_padding=0
        ),
        "Prod": lambda: o.prod(p, axis=1),
        "Repeat": lambda: o.repeat(p, 2, axis=1),
        "Reshape": lambda: o.reshape(p, (-1, 24, 4)),
        "Resize": lambda: [im.resize(p, (8, 12)), im.resize(p, (3, 5), interpolation="nearest")],
        "Roll": lambda: o.roll(p, 2, axis=2),
        "Rot90": lambda: o.rot90(p, k=1, axes=(1, 2)),
        "Round": lambda: o.round(p * 10.0, 1),
        "SobelEdges": lambda: im.sobel_edges(p),
        "SoftShrink": lambda: o.soft_shrink(r, threshold=0.2),
        "Softmax": lambda: o.softmax(p, axis=-1),
        "Sort": lambda: o.sort(p, axis=1),
        "SpaceToDepth": lambda: o.space_to_depth(p, 2),
        "Sparsemax": lambda: o.sparsemax(p, axis=-1),
        "Split": lambda: o.split(p, 2, axis=-1),
        "Squareplus": lambda: o.squareplus(r, b=2.0),
        "Squeeze": lambda: o.squeeze(p[:, :1], axis=1),
        "Stack": lambda: o.stack([p, q], axis=1),
        "StopGradient": lambda: o.stop_gradient(p),
        "Swapaxes": lambda: o.swapaxes(p, 1, 2),
        "Take": lambda: o.take(p, np.array([0, 2]), axis=-1),
        "TakeAlongAxis": lambda: o.take_along_axis(p, o.argsort(p, axis=-1), axis=-1),
        "Tensordot": lambda: o.tensordot(p, np.ones((4, 3), "float32"), axes=1),
        "Threshold": lambda: o.threshold(p, 0.5, -1.0),
        "Tile": lambda: o.tile(p, (1, 2, 1, 1)),
        "Transpose": lambda: o.transpose(p, (0, 3, 1, 2)),
        "Tril": lambda: o.tril(p, k=1),
        "Triu": lambda: o.triu(p, k=-1),
        "Vsplit": lambda: o.vsplit(p, 2),
        "Vstack": lambda: o.vstack([p, q]),
        "Where": lambda: o.where(p > 0.5, p, 0.0),
        "ZerosLike": lambda: o.zeros_like(p),
        "Arccosh": lambda: o.arccosh(p + 1.0),
        "Dot": lambda: o.dot(p, np.ones((4, 3), "float32")),
        "Matmul": lambda: [o.matmul(p, np.ones((4, 3), "float32")), p @ o.swapaxes(q, 2, 3)],
        "Inner": lambda: o.inner(p[:, 0], q[:, 0]),
        "Outer": lambda: o.outer(p[0, 0, 0], q[0, 0, 0]),
        "Vdot": lambda: o.vdot(p[0, 0, 0], q[0, 0, 0]),
    }
    out = {}
    for class_name, spec in op_nodes.OPERATIONS.items():
        if class_name in explicit:
            out[class_name] = explicit[class_name]()
        else:
            out[class_name] = _generic(spec, K, p, q)
    return out


# Keras 3.15.1 cannot read these back from a file, its own files included (their
# `output_size` comes back as a list, which its call does not take).
KERAS_CANNOT_READ = ("AdaptiveAveragePool", "AdaptiveMaxPool")


def _every_op_model(K, skip=()):
    p = K.Input(batch_shape=SHAPE, name="p")
    q = K.Input(batch_shape=SHAPE, name="q")
    outs = []
    for name, value in sorted(_cases(K, p, q).items()):
        if name in skip:
            continue
        outs.extend(value if isinstance(value, list) else [value])
    return K.Model([p, q], outs)


def _data():
    rng = np.random.default_rng(0)
    return [rng.uniform(0.1, 0.9, SHAPE).astype("float32") for _ in range(2)]


def _run(model, data):
    with torch.no_grad():
        out = model([torch.from_numpy(d) for d in data])
    return [np.asarray(o.detach().cpu()) if hasattr(o, "detach") else np.asarray(o) for o in out]


def _assert_same(ours, reference):
    assert len(ours) == len(reference)
    for i, (a, b) in enumerate(zip(ours, reference, strict=True)):
        assert a.shape == b.shape, (i, a.shape, b.shape)
        if np.issubdtype(b.dtype, np.floating):
            np.testing.assert_allclose(a, b, equal_nan=True, err_msg=f"output {i}", **TOLERANCE)
        else:
            np.testing.assert_array_equal(a, b, err_msg=f"output {i}")


def test_every_operation_in_the_table_is_exercised():
    p = convolve.Input(batch_shape=SHAPE)
    assert set(_cases(convolve, p, p)) == set(op_nodes.OPERATIONS)


@pytest.mark.slow
def test_keras_file_of_every_operation_opens_in_convolve(tmp_path):
    model = _every_op_model(keras)
    model.save(tmp_path / "keras.keras")
    ours = convolve.models.load_model(tmp_path / "keras.keras")
    data = _data()
    _assert_same(_run(ours, data), _run(model, data))
    names = {layer.name for layer in model._operations}
    assert names == {layer.name for layer in ours._layer_list}


@pytest.mark.slow
def test_convolve_file_of_every_operation_opens_in_keras_and_back(tmp_path):
    data = _data()
    model = _every_op_model(convolve)
    reference = _run(_every_op_model(keras), data)
    _assert_same(_run(model, data), reference)
    model.save(tmp_path / "ours.keras")
    _assert_same(_run(convolve.models.load_model(tmp_path / "ours.keras"), data), reference)

    model = _every_op_model(convolve, skip=KERAS_CANNOT_READ)
    model.save(tmp_path / "for_keras.keras")
    reference = _run(_every_op_model(keras, skip=KERAS_CANNOT_READ), data)
    _assert_same(_run(keras.models.load_model(tmp_path / "for_keras.keras"), data), reference)


# ----------------------------------------------------------------- configs as Keras writes them
def _small(K, L):
    x = K.Input((4, 6, 3), name="x")
    y = L.Conv2D(4, 1, name="conv")(x)
    z = K.ops.mean(y + 3.0, axis=-1, keepdims=True)
    s = y[:, 1:, ..., None, 0] * np.float32(0.5)
    return K.Model(x, [z, s, K.ops.concatenate([y, y * z], axis=-1)])


def test_config_entries_match_keras():
    keras_entries = _small(keras, keras.layers).get_config()["layers"]
    ours = _small(convolve, layers).get_config()["layers"]
    keras_ops = [e for e in keras_entries if e["module"].startswith("keras.src.ops")]
    our_ops = [e for e in ours if e["module"].startswith("keras.src.ops")]
    assert len(our_ops) == len(keras_ops) == 6

    def comparable(entry):
        entry = json.loads(json.dumps(keras.saving.serialize_keras_object(entry)))

        def unname(value):  # node names depend on what was built before
            if isinstance(value, list):
                return [unname(v) for v in value]
            if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
                value["config"]["keras_history"][0] = "<name>"
            elif isinstance(value, dict):
                return {k: unname(v) for k, v in value.items()}
            return value

        entry["inbound_nodes"] = unname(entry["inbound_nodes"])
        entry.pop("name")
        entry["config"].pop("name")
        return entry

    for a, b in zip(our_ops, keras_ops, strict=True):
        assert comparable(a) == comparable(b)


def test_small_files_move_both_ways(tmp_path):
    data = np.random.default_rng(3).uniform(-1, 1, (2, 4, 6, 3)).astype("float32")
    theirs, ours = _small(keras, keras.layers), _small(convolve, layers)
    ours.set_weights(theirs.get_weights())
    reference = _run(theirs, [data])
    theirs.save(tmp_path / "keras.keras")
    ours.save(tmp_path / "ours.keras")
    _assert_same(_run(convolve.models.load_model(tmp_path / "keras.keras"), [data]), reference)
    _assert_same(_run(keras.models.load_model(tmp_path / "ours.keras"), [data]), reference)


def test_round_trip_in_convolve_json_and_clone(tmp_path):
    model = _small(convolve, layers)
    data = np.random.default_rng(1).uniform(-1, 1, (2, 4, 6, 3)).astype("float32")
    expected = [np.asarray(o) for o in model.predict(data, verbose=0)]
    model.save(tmp_path / "m.keras")
    for other in (
        convolve.models.load_model(tmp_path / "m.keras"),
        convolve.models.model_from_json(model.to_json()),
        convolve.models.clone_model(model),
    ):
        other.set_weights(model.get_weights())
        got = [np.asarray(o) for o in other.predict(data, verbose=0)]
        _assert_same(got, expected)
        assert [lay.name for lay in other._layer_list] == [lay.name for lay in model._layer_list]


def test_op_node_get_config_is_keras_s():
    x = convolve.Input((4, 6, 3))
    node = ops.mean(x, axis=(1, 2))._keras_history.layer
    assert node.get_config() == {"name": node.name, "axis": [1, 2], "keepdims": False}


# ----------------------------------------------------------------- refusals
def test_operation_without_an_entry_is_not_saved(tmp_path):
    x = convolve.Input((4,), dtype="int32")
    model = convolve.Model(x, ops.bitwise_and(x, x))
    with pytest.raises(NotImplementedError, match="bitwise_and"):
        model.save(tmp_path / "m.keras")


def _keras_config():
    x = keras.Input((3,))
    return json.loads(keras.Model(x, keras.ops.mean(x + 1.0, axis=-1)).to_json())


@pytest.mark.parametrize(
    ("module", "class_name"),
    [
        ("keras.src.ops.core", "Cond"),  # a Keras operation convolve does not read
        ("keras.src.ops.numpy", "Dense"),  # a layer's name under an operations module
        ("keras.src.ops.nn", "Mean"),  # an operation under another module than its own
        ("keras.src.ops.numpy", "__init__"),
    ],
)
def test_unknown_operation_class_is_refused_by_name(module, class_name):
    config = _keras_config()
    entry = next(e for e in config["config"]["layers"] if e["class_name"] == "Mean")
    entry["module"], entry["class_name"] = module, class_name
    with pytest.raises(ModelFileError, match=f"{module}.{class_name}".replace(".", r"\.")):
        convolve.models.model_from_json(json.dumps(config))


def test_unknown_operation_argument_is_refused():
    config = _keras_config()
    entry = next(e for e in config["config"]["layers"] if e["class_name"] == "Mean")
    entry["config"]["where"] = [1]
    with pytest.raises(ModelFileError, match="where"):
        convolve.models.model_from_json(json.dumps(config))


def test_operation_entry_is_not_a_layer():
    config = _keras_config()
    entry = next(e for e in config["config"]["layers"] if e["class_name"] == "Mean")
    with pytest.raises(ModelFileError, match="not a layer"):
        serialization.deserialize_layer(entry)


# ----------------------------------------------------------------- applications
@pytest.mark.slow
@pytest.mark.parametrize("name", ["MobileNetV3Small", "ConvNeXtTiny"])
def test_application_with_operations_saves_and_reloads(name, tmp_path):
    from convolve import applications

    model = getattr(applications, name)(weights=None, input_shape=(32, 32, 3), classes=10)
    assert any(getattr(layer, "is_operation", False) for layer in model._layer_list)
    data = np.random.default_rng(2).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    expected = model.predict(data, verbose=0)
    model.save(tmp_path / "app.keras")
    again = convolve.models.load_model(tmp_path / "app.keras")
    np.testing.assert_allclose(again.predict(data, verbose=0), expected, **TOLERANCE)
