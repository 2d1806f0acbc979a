"""Layers called on several positional tensors in a functional model (`layer(a, b)`, as in
keras.io's OCR example), against Keras on its torch backend: shapes, outputs, masks, nested
models, summaries, clone_model, model files both ways (.keras and legacy .h5) and `fit`
with `add_loss`. Float32 outputs: atol 1e-6; histories: rtol 1e-5."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import torch

import convolve

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning",
    "ignore:The structure of `inputs` doesn't match:UserWarning",
)

RNG = np.random.default_rng(0)
IMAGES = RNG.random((4, 5, 5, 2)).astype("float32")
LABELS = RNG.random((4, 5, 5, 3)).astype("float32")
VECTORS = RNG.random((4, 3)).astype("float32")


# --------------------------------------------------------------------- user layers
def _endpoint(lib):
    """The OCR example's CTC layer: a loss from two tensors, the predictions handed on."""

    class Endpoint(lib.layers.Layer):
        def call(self, y_true, y_pred):
            self.add_loss(lib.ops.mean(lib.ops.square(y_true - y_pred)))
            return y_pred

    return Endpoint


def _gate(lib):
    """Two image tensors: channels-last axes must reach `call` for both."""

    class Gate(lib.layers.Layer):
        def call(self, features, gate):
            weights = lib.ops.sigmoid(lib.ops.mean(gate, axis=-1, keepdims=True))
            return features * weights + lib.ops.max(gate, axis=(1, 2), keepdims=True)

    return Gate


def _three(lib):
    class Three(lib.layers.Layer):
        def call(self, a, b, c, scale=1.0):
            return a * scale + b - c

    return Three


def _joined(lib, one_shape_argument=False):
    """`build` and `compute_output_shape` taking each argument's shape by name (or one)."""

    class Joined(lib.layers.Layer):
        def call(self, a, b):
            return lib.ops.concatenate([a @ self.w, b], axis=-1)

        if one_shape_argument:

            def build(self, input_shape):
                self.w = self.add_weight(shape=(input_shape[-1], 2), name="w")

            def compute_output_shape(self, input_shape):
                return (input_shape[0], 7)

        else:

            def build(self, a_shape, b_shape):
                self.w = self.add_weight(shape=(a_shape[-1], b_shape[-1]), name="w")

            def compute_output_shape(self, a_shape, b_shape):
                return (a_shape[0], 2 * b_shape[-1])

    return Joined


def _gate_model(lib):
    L = lib.layers
    images = lib.Input((5, 5, 2), name="images")
    labels = lib.Input((5, 5, 3), name="labels")
    x = L.Conv2D(3, 3, padding="same", name="conv")(images)
    y = _gate(lib)(name="gate")(x, labels)
    y = _endpoint(lib)(name="endpoint")(labels, y)
    return lib.Model([images, labels], y, name="gated")


def _copy_weights(source, target):
    target.set_weights(source.get_weights())


def _numpy(x):
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _json(value):
    return json.loads(json.dumps(value))  # tuples become lists, as in a file


def _close(ours, theirs, atol=1e-6):
    np.testing.assert_allclose(_numpy(ours), _numpy(theirs), atol=atol, rtol=0)


# --------------------------------------------------------------------- graph and run
def test_two_positional_image_tensors_match_keras():
    theirs, ours = _gate_model(keras), _gate_model(convolve)
    _copy_weights(theirs, ours)
    assert ours.output_shape == theirs.output_shape == (None, 5, 5, 3)
    for name in ("gate", "endpoint"):
        assert ours.get_layer(name).output.shape == theirs.get_layer(name).output.shape
        ours_in, theirs_in = ours.get_layer(name).input, theirs.get_layer(name).input
        assert isinstance(ours_in, list) and len(ours_in) == len(theirs_in) == 2
        assert [t.shape for t in ours_in] == [tuple(t.shape) for t in theirs_in]
    _close(ours([IMAGES, LABELS]), theirs([IMAGES, LABELS]))
    _close(ours.predict([IMAGES, LABELS], verbose=0), theirs.predict([IMAGES, LABELS], verbose=0))
    # The loss the layer adds on the way, as Keras's `model.losses` after a call.
    ours([IMAGES, LABELS]), theirs([IMAGES, LABELS])
    assert len(ours.losses) == len(theirs.losses) == 1
    _close(ours.losses[0], theirs.losses[0])


def test_three_positional_tensors_with_keyword_options_match_keras():
    def build(lib):
        a, b, c = (lib.Input((3,), name=n) for n in "abc")
        d = lib.layers.Dense(3, name="dense")(a)
        out = _three(lib)(name="three")(d, b, c, scale=2.0)
        return lib.Model([a, b, c], lib.layers.Dense(2, name="head")(out))

    theirs, ours = build(keras), build(convolve)
    _copy_weights(theirs, ours)
    data = [VECTORS, VECTORS * 2.0, VECTORS - 1.0]
    _close(ours(data), theirs(data))
    node = ours.get_config()["layers"][4]
    assert node["name"] == "three"
    assert node["inbound_nodes"] == theirs.get_config()["layers"][4]["inbound_nodes"]


def test_a_non_tensor_positional_argument_is_refused_as_in_keras():
    for lib, value in ((keras, 3), (convolve, 3), (keras, 2.0), (convolve, 2.0)):
        a, b = lib.Input((3,)), lib.Input((3,))
        with pytest.raises(ValueError, match=r"(?i)only input tensors may be passed as positional"):
            _three(lib)()(a, b, value)


def test_a_none_positional_argument_is_recorded_as_in_keras():
    def build(lib):
        class Optional(lib.layers.Layer):
            def call(self, a, b=None, c=None):
                out = a * 2.0
                if b is not None:
                    out = out + b
                return out if c is None else out - c

        a, c = lib.Input((3,), name="a"), lib.Input((3,), name="c")
        out = Optional(name="optional")(a, None, c)
        return lib.Model([a, c], out)

    theirs, ours = build(keras), build(convolve)
    _close(ours([VECTORS, VECTORS + 1.0]), theirs([VECTORS, VECTORS + 1.0]))
    ours_node = ours.get_config()["layers"][-1]["inbound_nodes"]
    assert ours_node == theirs.get_config()["layers"][-1]["inbound_nodes"]
    assert ours_node[0]["args"][1] is None


def test_build_and_compute_output_shape_receive_shapes_by_name_as_in_keras():
    for one in (False, True):
        models = []
        for lib in (keras, convolve):
            a, b = lib.Input((4,), name="a"), lib.Input((5,), name="b")
            layer = _joined(lib, one)(name="joined")
            out = layer(a, b)
            models.append(lib.Model([a, b], out))
            assert tuple(out.shape) == ((None, 7) if one else (None, 10))
        theirs, ours = models
        assert [w.shape for w in ours.get_layer("joined").get_weights()] == [
            w.shape for w in theirs.get_layer("joined").get_weights()
        ]
        ours_build = ours.get_layer("joined").get_build_config()
        theirs_build = theirs.get_layer("joined").get_build_config()
        assert _json(ours_build) == _json(theirs_build)
        _copy_weights(theirs, ours)
        data = [VECTORS.repeat(2, axis=1)[:, :4], RNG.random((4, 5)).astype("float32")]
        _close(ours(data), theirs(data))


def test_a_build_of_several_shapes_must_name_call_arguments_as_in_keras():
    for lib in (keras, convolve):

        class Misnamed(lib.layers.Layer):
            def build(self, first, second):
                pass

            def call(self, a, b):
                return a + b

        with pytest.raises(ValueError, match=r"`first`, which does not end in `_shape`"):
            Misnamed()(lib.Input((3,)), lib.Input((3,)))


# --------------------------------------------------------------------- masks
def _masked_model(lib):
    class Mixed(lib.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.supports_masking = True

        def call(self, a, b, a_mask=None, b_mask=None, mask=None):
            assert mask is None  # Keras fills `<argument>_mask`, not `mask`, for two tensors
            weight = lib.ops.expand_dims(lib.ops.cast(b_mask, a.dtype), -1)
            return a * 2.0 + b * weight + lib.ops.expand_dims(lib.ops.cast(a_mask, a.dtype), -1)

    L = lib.layers
    x, y = lib.Input((6,), name="x"), lib.Input((6,), name="y")
    a = L.Embedding(10, 3, mask_zero=True, name="ea")(x)
    b = L.Embedding(10, 3, mask_zero=True, name="eb")(y)
    out = Mixed(name="mixed")(a, b)
    pooled = L.GlobalAveragePooling1D(name="pool")(out)  # averages over `a`'s mask
    return lib.Model([x, y], [out, pooled])


def test_masks_of_several_positional_tensors_follow_keras():
    theirs, ours = _masked_model(keras), _masked_model(convolve)
    _copy_weights(theirs, ours)
    x = np.array([[1, 2, 0, 0, 3, 0], [4, 0, 5, 6, 0, 0]] * 2, dtype="int32")
    y = np.array([[0, 2, 2, 0, 3, 1], [1, 1, 0, 6, 0, 7]] * 2, dtype="int32")
    for a, b in zip(ours([x, y]), theirs([x, y]), strict=True):
        _close(a, b)


# --------------------------------------------------------------------- nested models
def test_nested_models_with_positional_calls_match_keras():
    def build(lib):
        inner = _gate_model(lib)
        images = lib.Input((5, 5, 2), name="outer_images")
        labels = lib.Input((5, 5, 3), name="outer_labels")
        y = inner([images, labels])
        z = _gate(lib)(name="outer_gate")(y, labels)
        return lib.Model([images, labels], lib.layers.Conv2D(2, 1, name="head")(z))

    theirs, ours = build(keras), build(convolve)
    _copy_weights(theirs, ours)
    _close(ours([IMAGES, LABELS]), theirs([IMAGES, LABELS]))


# --------------------------------------------------------------------- summary, clone, plot
def test_summary_connects_every_positional_input_as_keras_does():
    def text(model):
        lines = []
        model.summary(print_fn=lines.append)
        return "\n".join(lines)

    ours, theirs = text(_gate_model(convolve)), text(_gate_model(keras))
    rows = [line for line in ours.splitlines() if "gate (Gate)" in line or "endpoint" in line]
    following = [ours.splitlines()[ours.splitlines().index(row) + 1] for row in rows]
    assert "conv[0][0]," in rows[0] and "labels[0][0]" in following[0]
    assert "labels[0][0]," in rows[1] and "gate[0][0]" in following[1]
    assert ours == theirs


def test_clone_model_replays_positional_calls():
    model = _gate_model(convolve)
    theirs = _gate_model(keras)
    _copy_weights(theirs, model)
    clone = convolve.models.clone_model(model)
    clone.set_weights(model.get_weights())
    assert clone.get_layer("gate").input[1] is clone.inputs[1]
    _close(clone([IMAGES, LABELS]), model([IMAGES, LABELS]))
    keras_clone = keras.models.clone_model(theirs)
    ours_nodes = [e["inbound_nodes"] for e in clone.get_config()["layers"]]
    theirs_nodes = [e["inbound_nodes"] for e in keras_clone.get_config()["layers"]]
    assert _json(ours_nodes) == _json(theirs_nodes)


def test_plot_model_draws_positional_calls(tmp_path):
    convolve.utils.plot_model(_gate_model(convolve), to_file=tmp_path / "m.png")
    assert (tmp_path / "m.png").stat().st_size > 0


# --------------------------------------------------------------------- model files
def _registered(lib, package):
    register = lib.saving.register_keras_serializable(package=package)
    return {name: register(make(lib)) for name, make in (("Gate", _gate), ("Endpoint", _endpoint))}


def _file_model(lib, classes):
    L = lib.layers
    images = lib.Input((5, 5, 2), name="images")
    labels = lib.Input((5, 5, 3), name="labels")
    x = L.Conv2D(3, 3, padding="same", name="conv")(images)
    y = classes["Gate"](name="gate")(x, labels)
    y = classes["Endpoint"](name="endpoint")(labels, y)
    return lib.Model([images, labels], y, name="gated")


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_model_files_round_trip_with_keras_both_ways(tmp_path, suffix):
    keras_classes = _registered(keras, "PositionalTest")
    our_classes = _registered(convolve, "PositionalTest")
    theirs = _file_model(keras, keras_classes)
    ours = _file_model(convolve, our_classes)
    _copy_weights(theirs, ours)
    expected = _numpy(theirs([IMAGES, LABELS]))

    theirs.save(tmp_path / f"keras{suffix}")
    loaded = convolve.saving.load_model(tmp_path / f"keras{suffix}")
    _close(loaded([IMAGES, LABELS]), expected)
    assert [type(layer).__name__ for layer in loaded.layers] == [
        type(layer).__name__ for layer in theirs.layers
    ]

    ours.save(tmp_path / f"ours{suffix}")
    back = keras.saving.load_model(tmp_path / f"ours{suffix}")
    _close(back([IMAGES, LABELS]), expected)
    assert back.get_layer("gate").input[1] is back.inputs[1]
    if suffix == ".keras":
        assert _json(ours.get_config()) == _json(theirs.get_config())


# --------------------------------------------------------------------- training
def _ocr_like(lib):
    L = lib.layers
    images = lib.Input((5, 5, 2), name="image")
    labels = lib.Input((4,), name="label")
    x = L.Conv2D(3, 3, padding="same", activation="relu", name="conv")(images)
    x = L.GlobalAveragePooling2D(name="pool")(x)
    x = L.Dense(4, name="dense")(x)
    output = _endpoint(lib)(name="ctc_loss")(labels, x)
    model = lib.Model([images, labels], output, name="ocr_like")
    model.compile(optimizer=lib.optimizers.Adam(learning_rate=0.01))
    return model


def test_fit_with_add_loss_in_a_positional_layer_gives_keras_history():
    theirs, ours = _ocr_like(keras), _ocr_like(convolve)
    _copy_weights(theirs, ours)
    images = RNG.random((12, 5, 5, 2)).astype("float32")
    labels = RNG.random((12, 4)).astype("float32")
    data = {"image": images, "label": labels}
    kwargs = {"batch_size": 4, "epochs": 3, "shuffle": False, "verbose": 0}
    theirs_history = theirs.fit(data, **kwargs).history
    ours_history = ours.fit(data, **kwargs).history
    assert sorted(ours_history) == sorted(theirs_history) == ["loss"]
    np.testing.assert_allclose(ours_history["loss"], theirs_history["loss"], rtol=1e-5)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_an_eager_call_on_several_arrays_matches_keras():
    theirs, ours = _gate(keras)(), _gate(convolve)()
    features = IMAGES[..., :1].repeat(3, axis=-1)
    _close(ours(features, LABELS), theirs(features, LABELS))
    x = torch.from_numpy(LABELS).double()  # cast to the layer's dtype, as in Keras
    assert ours(features, x).dtype == torch.float32
