"""Top-level names Keras programs use: base classes, Variable, InputSpec, scopes, tree,
dtype policies, backend helpers and RemoteMonitor, each checked against Keras 3 (torch
backend). Numeric comparisons use rtol=1e-5, atol=1e-6 (float32).
"""

from __future__ import annotations

import collections
import http.server
import inspect
import json
import threading
import urllib.parse

import keras
import numpy as np
import pytest
import torch

import convolve
from convolve import backend, dtype_policies, tree

RTOL, ATOL = 1e-5, 1e-6

NAMES = [
    "Loss", "Metric", "Optimizer", "Initializer", "Regularizer", "Variable", "InputSpec",
    "name_scope", "device", "version", "DTypePolicy", "FloatDTypePolicy", "dtype_policies",
    "tree",
]  # fmt: skip


def test_top_level_names_exist() -> None:
    for name in NAMES:
        assert hasattr(convolve, name), name
        assert hasattr(keras, name), name
    assert convolve.version() == convolve.__version__
    assert convolve.Loss is convolve.losses.Loss
    assert convolve.Metric is convolve.metrics.Metric
    assert convolve.Optimizer is convolve.optimizers.Optimizer
    assert convolve.Initializer is convolve.initializers.Initializer
    assert convolve.Regularizer is convolve.regularizers.Regularizer


# ----------------------------------------------------------------------------- tree

Point = collections.namedtuple("Point", ["x", "y"])
STRUCTURES = [
    {"b": [1, 2], "a": (3, 4)},
    [{"d": 4, "c": (5, 6)}, 1],
    [Point(1, (2, 3)), {"z": [4]}],
    collections.OrderedDict([("b", 1), ("a", [2, 3])]),
    (1, None, [2]),
    7,
]


@pytest.mark.parity
@pytest.mark.parametrize("structure", STRUCTURES)
def test_tree_functions_match_keras(structure) -> None:
    assert tree.flatten(structure) == keras.tree.flatten(structure)
    assert tree.flatten_with_path(structure) == keras.tree.flatten_with_path(structure)
    assert tree.is_nested(structure) == keras.tree.is_nested(structure)
    mapped = tree.map_structure(lambda x: None if x is None else x * 10, structure)
    assert mapped == keras.tree.map_structure(lambda x: None if x is None else x * 10, structure)
    flat = [f"leaf{i}" for i in range(len(tree.flatten(structure)))]
    assert tree.pack_sequence_as(structure, flat) == keras.tree.pack_sequence_as(structure, flat)
    assert tree.lists_to_tuples(structure) == keras.tree.lists_to_tuples(structure)
    seen, keras_seen = [], []
    tree.traverse(seen.append, structure)
    keras.tree.traverse(keras_seen.append, structure)
    assert seen == keras_seen
    seen, keras_seen = [], []
    tree.traverse(seen.append, structure, top_down=False)
    keras.tree.traverse(keras_seen.append, structure, top_down=False)
    assert seen == keras_seen


@pytest.mark.parity
def test_tree_sorts_nested_dicts_at_every_level() -> None:
    # Keras documents sorted keys at every level; its optree implementation does so, while
    # on the torch backend it sorts only the outermost dict. convolve follows the former.
    from keras.src.tree import optree_impl

    structure = {"b": [1, 2], "a": (3, {"d": 4, "c": 5})}
    assert tree.flatten(structure) == optree_impl.flatten(structure) == [3, 5, 4, 1, 2]
    assert tree.flatten_with_path(structure) == optree_impl.flatten_with_path(structure)
    packed = tree.pack_sequence_as(structure, list(range(5)))
    assert packed == optree_impl.pack_sequence_as(structure, list(range(5)))


@pytest.mark.parity
def test_tree_structure_checks_match_keras() -> None:
    tree.assert_same_structure([1, (2, 3)], [4, (5, 6)])
    for a, b in [([1, 2], (1, 2)), ([1, [2]], [1, 2]), ({"a": 1}, {"b": 1})]:
        with pytest.raises(ValueError):
            keras.tree.assert_same_structure(a, b)
        with pytest.raises(ValueError):
            tree.assert_same_structure(a, b)
    tree.assert_same_paths([1, 2], (3, 4))
    with pytest.raises(ValueError, match="don't have the same paths"):
        tree.assert_same_paths([1, 2], [1])
    shallow, deep = [1, 1], [[1, 2], (3, 4)]
    assert tree.map_structure_up_to(shallow, len, deep) == keras.tree.map_structure_up_to(
        shallow, len, deep
    )
    assert tree.map_structure(lambda a, b: a + b, [1, (2,)], [10, (20,)]) == [11, (22,)]
    assert tree.map_structure(str, [None, 1], none_is_leaf=False) == [None, "1"]
    shapes = {"a": (None, 3), "b": [(2, 4)]}
    assert tree.map_shape_structure(len, shapes) == keras.tree.map_shape_structure(len, shapes)

    def drop_lists(x):
        return tree.MAP_TO_NONE if isinstance(x, list) else None

    assert tree.traverse(drop_lists, (1, [2])) == (1, None)


# ------------------------------------------------------------------------- Variable


def test_variable_surface() -> None:
    v = convolve.Variable(np.array([1.0, 2.0], dtype="float32"), name="v")
    assert isinstance(v, torch.nn.Parameter) and v.trainable and v.name == "v"
    v.assign([3.0, 4.0])
    v.assign_add(np.ones(2, dtype="float32"))
    v.assign_sub(torch.tensor([0.5, 0.5]))
    np.testing.assert_allclose(v.numpy(), [3.5, 4.5])
    assert v.value is v and tuple(v.shape) == (2,) and v.dtype_name == "float32"
    with pytest.raises(ValueError, match="shape"):
        v.assign([1.0, 2.0, 3.0])
    w = convolve.Variable("ones", shape=(2, 3), trainable=False)
    assert not w.trainable and not w.requires_grad
    np.testing.assert_array_equal(w.numpy(), np.ones((2, 3)))
    with pytest.raises(ValueError, match="`shape` argument"):
        convolve.Variable("zeros")
    with pytest.raises(ValueError, match="aggregation"):
        convolve.Variable(1.0, aggregation="max")
    ints = convolve.Variable(np.arange(3, dtype="int32"))
    assert ints.dtype == torch.int32 and not ints.requires_grad
    assert convolve.Variable(1.5).dtype == torch.float32  # Python floats: floatx, as in Keras
    dense = convolve.layers.Dense(2)
    dense.build((None, 3))
    assert isinstance(dense.kernel, convolve.Variable)
    assert not isinstance(torch.zeros(1), convolve.Variable)


@pytest.mark.parity
def test_variable_in_custom_layer_trains_like_keras() -> None:
    def make(lib):
        class Scale(lib.layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.scale = lib.Variable(np.full((3,), 0.5, "float32"), name="scale")
                self.offset = lib.Variable(np.zeros(3, "float32"), trainable=False)

            def call(self, x):
                return x * self.scale + self.offset

        return lib.Sequential([lib.Input((3,)), Scale(), lib.layers.Dense(1)])

    ours, theirs = make(convolve), make(keras)
    assert len(ours.trainable_weights) == len(theirs.trainable_weights) == 3
    assert len(ours.non_trainable_weights) == len(theirs.non_trainable_weights) == 1
    assert ours.count_params() == theirs.count_params()
    theirs.set_weights(ours.get_weights())
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 3)).astype("float32"), rng.normal(size=(8, 1)).astype("float32")
    ours.compile("sgd", "mse")
    theirs.compile("sgd", "mse")
    ours.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    theirs.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)


def test_name_scope_and_device() -> None:
    with convolve.name_scope("block"):
        with convolve.name_scope("inner"):
            v = convolve.Variable(1.0, name="w")
    assert v.path == "block/inner/w" and v.name == "w"
    with keras.name_scope("block"):
        with keras.name_scope("inner"):
            assert keras.Variable(1.0, name="w").path == v.path
    assert convolve.Variable(1.0, name="u").path == "u"
    with convolve.device("cpu"):
        assert convolve.Variable([1.0]).device.type == "cpu"
        assert torch.zeros(1).device.type == "cpu"
    with pytest.raises(ValueError, match="device_name"):
        convolve.device(3)
    with pytest.raises(ValueError, match="name"):
        convolve.name_scope("")


# ------------------------------------------------------------------------ InputSpec


def _spec_layer(lib, **spec):
    class Checked(lib.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.input_spec = lib.InputSpec(**spec)

        def call(self, x):
            return x

        def compute_output_shape(self, input_shape):
            return input_shape

    return Checked(name="checked")


SPEC_CASES = [
    ({"ndim": 3}, (2, 4)),
    ({"min_ndim": 3}, (2, 4)),
    ({"max_ndim": 2}, (2, 4, 1)),
    ({"axes": {-1: 3}}, (2, 4)),
    ({"shape": (None, 5)}, (2, 4)),
    ({"dtype": "int32"}, (2, 4)),
]


@pytest.mark.parity
@pytest.mark.parametrize("spec, shape", SPEC_CASES)
def test_input_spec_errors_match_keras(spec, shape) -> None:
    x = np.zeros(shape, dtype="float32")
    with pytest.raises(ValueError) as theirs:
        _spec_layer(keras, **spec)(x)
    with pytest.raises(ValueError) as ours:
        _spec_layer(convolve, **spec)(x)
    assert str(ours.value).split("Full shape")[0] == str(theirs.value).split("Full shape")[0]
    with pytest.raises(ValueError, match="incompatible with the layer"):
        _spec_layer(convolve, **spec)(convolve.Input(shape[1:]))


@pytest.mark.parity
def test_input_spec_accepts_compatible_inputs_and_config() -> None:
    layer = _spec_layer(convolve, ndim=2, axes={-1: 4}, dtype="float32")
    np.testing.assert_array_equal(layer(np.ones((3, 4), "float32")).numpy(), np.ones((3, 4)))
    spec = convolve.InputSpec(shape=(None, 4), min_ndim=2, axes={1: 4})
    assert (
        spec.get_config() == keras.InputSpec(shape=(None, 4), min_ndim=2, axes={1: 4}).get_config()
    )
    assert repr(spec) == repr(keras.InputSpec(shape=(None, 4), min_ndim=2, axes={1: 4}))
    with pytest.raises(ValueError, match="greater than the maximum"):
        convolve.InputSpec(ndim=2, axes={3: 1})


# ------------------------------------------------------------------ dtype policies


@pytest.mark.parity
def test_dtype_policies_match_keras() -> None:
    for name in ["float32", "mixed_float16", "mixed_bfloat16", "float16"]:
        ours, theirs = dtype_policies.get(name), keras.dtype_policies.get(name)
        assert (ours.name, ours.compute_dtype, ours.variable_dtype) == (
            theirs.name,
            theirs.compute_dtype,
            theirs.variable_dtype,
        )
        assert dtype_policies.serialize(ours) == keras.dtype_policies.serialize(theirs)
        assert dtype_policies.deserialize(keras.dtype_policies.serialize(theirs)) == ours
    floaty = convolve.FloatDTypePolicy("mixed_float16")
    assert floaty.compute_dtype == "float16" and isinstance(floaty, convolve.DTypePolicy)
    assert dtype_policies.get(None).name == "float32"
    with pytest.raises(NotImplementedError, match="int8"):
        dtype_policies.get("int8")


# ----------------------------------------------------------- subclassing in fit


@pytest.mark.parity
def test_subclassed_loss_and_metric_fit_like_keras() -> None:
    def make(lib):
        class ScaledMSE(lib.Loss):
            def call(self, y_true, y_pred):
                return lib.ops.mean(lib.ops.square(y_true - y_pred), axis=-1) * 2.0

        class MaxError(lib.Metric):
            def __init__(self, name="max_error", **kwargs):
                super().__init__(name=name, **kwargs)
                self.worst = self.add_variable(shape=(), initializer="zeros", name="worst")

            def update_state(self, y_true, y_pred, sample_weight=None):
                err = lib.ops.max(lib.ops.abs(y_true - y_pred))
                self.worst.assign(lib.ops.maximum(self.worst, err))

            def result(self):
                return self.worst

        model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(1)])
        model.compile(lib.optimizers.SGD(0.05), ScaledMSE(), metrics=[MaxError()])
        return model

    ours, theirs = make(convolve), make(keras)
    theirs.set_weights(ours.get_weights())
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(12, 3)).astype("float32"), rng.normal(size=(12, 1)).astype("float32")
    h_ours = ours.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    h_theirs = theirs.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    assert h_ours.keys() == h_theirs.keys()
    for key in h_theirs:
        np.testing.assert_allclose(h_ours[key], h_theirs[key], rtol=RTOL, atol=ATOL)


# --------------------------------------------------------------------- backend


@pytest.mark.parity
def test_backend_dtype_helpers_and_uid_match_keras() -> None:
    for dtype in ["float16", "bfloat16", "float32", "int8", "uint8", "int64", "bool"]:
        assert backend.is_float_dtype(dtype) == keras.backend.is_float_dtype(dtype), dtype
        assert backend.is_int_dtype(dtype) == keras.backend.is_int_dtype(dtype), dtype
    assert backend.is_float_dtype(torch.float64) and backend.is_int_dtype(np.int16)
    backend.clear_session()
    keras.backend.clear_session()
    assert backend.get_uid("dense") == keras.backend.get_uid("dense") == 1
    assert convolve.layers.Dense(2).name == "dense_1"
    assert backend.get_uid("dense") == 3


# ---------------------------------------------------------------- RemoteMonitor


class _PostServer:
    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, str], bytes]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.posts.append((self.path, dict(self.headers), body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parity
def test_remote_monitor_posts_epoch_logs() -> None:
    from tests.http_server import closed_port_url

    server = _PostServer()
    try:
        model = convolve.Sequential([convolve.Input((2,)), convolve.layers.Dense(1)])
        model.compile("sgd", "mse")
        x, y = np.ones((4, 2), "float32"), np.zeros((4, 1), "float32")
        form = convolve.callbacks.RemoteMonitor(root=server.url, headers={"X-Run": "a"})
        as_json = convolve.callbacks.RemoteMonitor(root=server.url, path="/json", send_as_json=True)
        history = model.fit(x, y, epochs=2, verbose=0, callbacks=[form, as_json])
    finally:
        server.close()
    form_posts = [p for p in server.posts if p[0] == "/publish/epoch/end/"]
    json_posts = [p for p in server.posts if p[0] == "/json"]
    assert len(form_posts) == len(json_posts) == 2
    for epoch, (_, headers, body) in enumerate(form_posts):
        assert headers["X-Run"] == "a"
        sent = json.loads(urllib.parse.parse_qs(body.decode())["data"][0])
        assert sent["epoch"] == epoch
        assert sent["loss"] == pytest.approx(history.history["loss"][epoch], rel=1e-6)
    sent = json.loads(json_posts[1][2])
    assert json_posts[1][1]["Content-Type"] == "application/json" and sent["epoch"] == 1
    ours = inspect.signature(convolve.callbacks.RemoteMonitor).parameters
    theirs = inspect.signature(keras.callbacks.RemoteMonitor).parameters
    assert [(k, p.default) for k, p in ours.items()] == [(k, p.default) for k, p in theirs.items()]
    with pytest.warns(UserWarning, match="Could not reach RemoteMonitor"):
        convolve.callbacks.RemoteMonitor(root=closed_port_url()).on_epoch_end(0, {"loss": 1.0})
