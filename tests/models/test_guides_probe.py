"""Programs from Keras's guides on models and saving, run in both libraries.

Each test writes the same small program against Keras (the oracle, on its torch backend)
and against convolve, and compares what a user sees: outputs (float32, atol 1e-6),
structures, loss values, names and errors.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import torch

import convolve

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

ATOL = 1e-6
LIBS = (keras, convolve)


def _numpy(x):
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


# ------------------------------------------------------------------ functional API
def _three_input_model(lib):
    title = lib.Input((5,), name="title")
    body = lib.Input((4,), name="body")
    tags = lib.Input((3,), name="tags")
    x = lib.layers.concatenate([title, body, tags])
    priority = lib.layers.Dense(1, name="priority")(x)
    department = lib.layers.Dense(2, name="department")(x)
    outputs = {"priority": priority, "department": department}
    return lib.Model(inputs=[title, body, tags], outputs=outputs)


def test_dict_of_inputs_feeds_a_model_built_on_a_list():
    """The guide's multi-input model: data keyed by input name, not by position."""
    rng = np.random.default_rng(0)
    data = {
        "title": rng.random((2, 5), dtype=np.float32),
        "body": rng.random((2, 4), dtype=np.float32),
        "tags": rng.random((2, 3), dtype=np.float32),
    }
    k_model, c_model = (_three_input_model(lib) for lib in LIBS)
    c_model.set_weights(k_model.get_weights())
    k_out, c_out = k_model(data), c_model(data)
    assert list(c_out) == list(k_out) == ["department", "priority"]
    for key in k_out:
        np.testing.assert_allclose(_numpy(c_out[key]), _numpy(k_out[key]), atol=ATOL)
    # Positional data gives the same values.
    listed = [data["title"], data["body"], data["tags"]]
    np.testing.assert_allclose(
        _numpy(c_model(listed)["priority"]), _numpy(k_out["priority"]), atol=ATOL
    )


def test_dict_of_inputs_missing_a_name_is_refused():
    model = _three_input_model(convolve)
    with pytest.raises(ValueError, match="tags"):
        model({"title": np.ones((1, 5)), "body": np.ones((1, 4))})


def test_model_input_and_output_keep_their_structure():
    for lib in LIBS:
        inputs = {"a": lib.Input((3,), name="a"), "b": lib.Input((2,), name="b")}
        merged = lib.layers.concatenate([inputs["a"], inputs["b"]])
        outputs = {"z": lib.layers.Dense(1)(merged), "y": lib.layers.Dense(2)(merged)}
        model = lib.Model(inputs, outputs)
        assert isinstance(model.input, dict), lib.__name__
        assert sorted(model.input) == ["a", "b"]
        assert list(model.output) == ["z", "y"], lib.__name__
        assert [tuple(t.shape) for t in model.outputs] == [(None, 2), (None, 1)]
        single = lib.Model([inputs["a"]], lib.layers.Dense(1)(inputs["a"]))
        assert isinstance(single.input, list) and len(single.input) == 1, lib.__name__


def test_dict_outputs_come_back_sorted_by_key():
    results = []
    for lib in LIBS:
        x = lib.Input((3,))
        model = lib.Model(x, {"z": lib.layers.Dense(1)(x), "b": lib.layers.Dense(2)(x)})
        results.append(list(model(np.ones((2, 3), np.float32))))
    assert results[1] == results[0] == ["b", "z"]


# ------------------------------------------------------------------ add_loss
def _activity_layer(lib):
    class ActivityRegularization(lib.layers.Layer):
        def __init__(self, rate=1e-2, **kwargs):
            super().__init__(**kwargs)
            self.rate = rate

        def call(self, inputs):
            self.add_loss(self.rate * lib.ops.sum(inputs))
            return inputs

    return ActivityRegularization


def _outer_layer(lib):
    inner_cls = _activity_layer(lib)

    class Outer(lib.layers.Layer):
        def __init__(self):
            super().__init__()
            self.activity_reg = inner_cls(1e-2)

        def call(self, inputs):
            return self.activity_reg(inputs)

    return Outer()


def test_add_loss_in_nested_layers_is_reset_by_each_call():
    counts = []
    for lib in LIBS:
        layer = _outer_layer(lib)
        seen = [len(layer.losses)]
        layer(np.full((2, 3), 2.0, np.float32))
        seen.append(len(layer.losses))
        values = [float(_numpy(v)) for v in layer.losses]
        layer(np.full((2, 3), 2.0, np.float32))
        seen.append(len(layer.losses))
        counts.append((seen, values))
    assert counts[1][0] == counts[0][0] == [0, 1, 1]
    np.testing.assert_allclose(counts[1][1], counts[0][1], atol=ATOL)


def test_add_loss_refuses_a_python_number():
    for lib in LIBS:
        layer = _activity_layer(lib)()
        with pytest.raises(ValueError, match="Received invalid value: 0.5"):
            layer.add_loss(0.5)


def _shared_activity_model(lib):
    layer = _activity_layer(lib)()
    inputs = lib.Input((3,))
    outputs = layer(layer(inputs))  # one layer called twice: two losses per call
    return lib.Model(inputs, outputs)


def test_add_loss_in_a_functional_model_and_fit_without_a_compiled_loss():
    x = np.ones((4, 3), np.float32)
    results = []
    for lib in LIBS:
        model = _shared_activity_model(lib)
        built = len(model.losses)
        model(x)
        values = [float(_numpy(v)) for v in model.losses]
        model.compile(optimizer="sgd")
        history = model.fit(x, epochs=1, batch_size=4, verbose=0).history
        model.compile(optimizer="sgd", loss="mse")
        evaluated = model.evaluate(x, np.zeros_like(x), verbose=0)
        results.append((built, values, history["loss"], evaluated))
    (k_built, k_values, k_loss, k_eval), (c_built, c_values, c_loss, c_eval) = results
    assert c_built == k_built == 0
    np.testing.assert_allclose(c_values, k_values, atol=ATOL)
    np.testing.assert_allclose(c_loss, k_loss, atol=1e-6)
    np.testing.assert_allclose(c_eval, k_eval, atol=1e-6)


def test_add_loss_on_a_functional_model_is_refused():
    for lib in LIBS:
        x = lib.Input((3,))
        model = lib.Model(x, lib.layers.Dense(1)(x))
        with pytest.raises(NotImplementedError):
            model.add_loss(lib.ops.mean(x))


# ------------------------------------------------------------------ masks
def _temporal_softmax_model(lib):
    class TemporalSoftmax(lib.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.supports_masking = True

        def call(self, inputs, mask=None):
            float_mask = lib.ops.expand_dims(lib.ops.cast(mask, "float32"), -1)
            exp = lib.ops.exp(inputs) * float_mask
            return exp / lib.ops.sum(exp * float_mask, axis=-1, keepdims=True)

    inputs = lib.Input(shape=(None,), dtype="int32")
    x = lib.layers.Embedding(input_dim=10, output_dim=4, mask_zero=True)(inputs)
    x = lib.layers.Dense(4)(x)
    return lib.Model(inputs, TemporalSoftmax()(x))


def test_layer_taking_mask_builds_in_a_functional_model_and_matches():
    """The subclassing guide's TemporalSoftmax reads its mask while the model is built."""
    k_model, c_model = (_temporal_softmax_model(lib) for lib in LIBS)
    c_model.set_weights(k_model.get_weights())
    tokens = np.array([[1, 2, 0, 0], [3, 0, 4, 5]])
    np.testing.assert_allclose(_numpy(c_model(tokens)), _numpy(k_model(tokens)), atol=ATOL)


# ------------------------------------------------------------------ building and configs
def _holder(lib):
    class Holder(lib.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = lib.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    return Holder()


@pytest.mark.filterwarnings("ignore:`build\\(\\)` was called on layer:UserWarning")
def test_default_build_marks_a_layer_built():
    for lib in LIBS:
        layer = _holder(lib)
        layer.build((None, 3))
        assert layer.built, lib.__name__


def test_auto_config_keeps_name_only_for_kwargs_spelled_kwargs():
    configs = []
    for lib in LIBS:

        class ShortKw(lib.layers.Layer):
            def __init__(self, units=1, **kw):
                super().__init__(**kw)

        class LongKw(lib.layers.Layer):
            def __init__(self, units=1, **kwargs):
                super().__init__(**kwargs)

        configs.append((set(ShortKw(name="s").get_config()), set(LongKw(name="l").get_config())))
    assert configs[1] == configs[0]
    assert "name" not in configs[1][0] and "name" in configs[1][1]


def test_pop_on_an_empty_sequential_raises_index_error():
    for lib in LIBS:
        with pytest.raises(IndexError):
            lib.Sequential().pop()


def _name_index(name: str) -> int:
    head, _, tail = name.rpartition("_")
    return int(tail) if head and tail.isdigit() else 0


def test_functional_names_count_sequential_builds_as_keras():
    """Keras's Sequential builds an inner functional model on each (re)build, so the next
    functional model's automatic name skips those numbers."""
    steps = []
    for lib in LIBS:
        x = lib.Input((3,))
        start = _name_index(lib.Model(x, lib.layers.Dense(1)(x)).name)
        model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(2), lib.layers.Dense(2)])
        model.add(lib.layers.Dense(1))
        model.pop()
        lib.Sequential([lib.layers.Dense(2)]).build((None, 3))
        lib.Sequential.from_config(model.get_config())
        y = lib.Input((3,))
        end = _name_index(lib.Model(y, lib.layers.Dense(1)(y)).name)
        steps.append(end - start)
    assert steps[1] == steps[0]


# ------------------------------------------------------------------ saving
def test_loading_a_model_uses_the_layer_names_keras_gives(tmp_path):
    gaps = []
    for lib in LIBS:
        x = lib.Input((4,))
        model = lib.Model(x, lib.layers.Dense(2)(lib.layers.Dense(3)(x)))
        path = tmp_path / f"{lib.__name__}.keras"
        model.save(path)
        before = _name_index(lib.layers.Dense(1).name)
        loaded = lib.models.load_model(path)
        after = _name_index(lib.layers.Dense(1).name)
        gaps.append((after - before, [layer.name for layer in loaded.layers][1:]))
    assert gaps[1][0] == gaps[0][0]
    assert gaps[1][1] == [layer.name for layer in model.layers][1:]


def test_load_model_of_a_missing_file_raises_value_error(tmp_path):
    path = tmp_path / "missing.keras"
    for lib in LIBS:
        with pytest.raises(ValueError, match="missing.keras"):
            lib.models.load_model(path)
    with pytest.raises(FileNotFoundError):  # also what `open` would raise
        convolve.models.load_model(path)
