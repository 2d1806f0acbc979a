"""Lambda and TorchModuleWrapper: layouts, shapes, weights, training, configs and errors."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import torch
from parity_grid import ATOL, max_abs_diff, random_array, to_numpy
from torch import nn

import convolve
from convolve import layers, models
from convolve.layers.wrappers import Lambda, TorchModuleWrapper

# Keras 3.15.1 converts its tensors with a NumPy 1 idiom that NumPy 2 warns about.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


def first_two_channels(x):
    return x[..., :2]


# --------------------------------------------------------------------- Lambda
def test_lambda_receives_keras_layout() -> None:
    x = torch.from_numpy(random_array((2, 4, 5, 3), 0))
    seen = []
    layer = Lambda(lambda t: seen.append(tuple(t.shape)) or t[..., :2])
    y = layer(x)
    assert seen == [(2, 4, 5, 3)]
    assert torch.equal(y, x[..., :2])


@pytest.mark.parity
def test_lambda_in_a_model_matches_keras() -> None:
    def build(lib, lambda_class):
        inputs = lib.Input((6, 5, 3), name="img")
        h = lib.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
        h = lambda_class(first_two_channels, name="take")(h)
        h = lambda_class(lambda t, k: t * k, arguments={"k": 3.0}, name="scal")(h)
        return lib.Model(inputs, h, name="lam")

    ours, theirs = build(convolve, Lambda), build(keras, keras.layers.Lambda)
    ours.set_weights(theirs.get_weights())
    x = random_array((2, 6, 5, 3), 1)
    got, expected = ours.predict(x, verbose=0), to_numpy(theirs.predict(x, verbose=0))
    assert got.shape == expected.shape == (2, 6, 5, 2)
    assert max_abs_diff(got, expected) <= ATOL
    assert ours.get_layer("take").output.shape == theirs.get_layer("take").output.shape


@pytest.mark.parity
@pytest.mark.parametrize(
    ("function", "shape"),
    [
        (first_two_channels, (None, 8, 8, 3)),
        (first_two_channels, (None, None, None, 3)),
        (lambda t: t[:, ::2], (None, 9, 3)),
        (lambda t: t[:, ::2], (None, None, 3)),
        (lambda t: t.reshape(t.shape[0], -1), (None, 4, 5, 2)),
        (lambda t: [t, t.sum(-1)], (None, 4, 3)),
    ],
)
def test_lambda_inferred_output_shapes_match_keras(function, shape) -> None:
    expected = keras.layers.Lambda(function).compute_output_shape(shape)
    got = Lambda(function).compute_output_shape(shape)
    if isinstance(expected, list):
        assert got == [tuple(s) for s in expected]
    else:
        assert got == tuple(expected)


def test_lambda_declared_output_shapes() -> None:
    assert Lambda(torch.sin, output_shape=(7,)).compute_output_shape((4, 3)) == (4, 7)
    fn = Lambda(torch.sin, output_shape=lambda s: (s[0], 1))
    assert fn.compute_output_shape((None, 3)) == (None, 1)
    nested = Lambda(torch.sin, output_shape=[(2,), (3, 4)])
    assert nested.compute_output_shape((None, 5)) == [(None, 2), (None, 3, 4)]


def test_lambda_training_and_arguments() -> None:
    calls = []

    def fn(x, training=None, offset=0.0):
        calls.append(training)
        return x + offset

    layer = Lambda(fn, arguments={"offset": 1.0})
    assert layer(torch.zeros(1, 2)).tolist() == [[1.0, 1.0]]
    layer(torch.zeros(1, 2), training=True)
    assert calls == [False, True]


def test_lambda_shape_that_cannot_be_inferred_names_the_layer() -> None:
    layer = Lambda(lambda t: t.reshape(-1, 7), name="odd")
    with pytest.raises(NotImplementedError, match="'odd' \\(Lambda\\): could not infer"):
        layer.compute_output_shape((None, 3))


@pytest.mark.parity
def test_lambda_config_holds_what_keras_holds() -> None:
    fn = lambda x: x * 2  # noqa: E731
    ours = Lambda(fn, output_shape=(3,), name="lam").get_config()
    theirs = keras.layers.Lambda(fn, output_shape=(3,)).get_config()
    assert ours["function"] == theirs["function"]  # the same marshalled bytecode
    assert ours["output_shape"] == theirs["output_shape"] and ours["arguments"] == {}
    named = Lambda(first_two_channels).get_config()["function"]
    assert named["class_name"] == "function" and named["config"] == "first_two_channels"
    assert named["module"] == __name__
    json.dumps(ours)


def test_lambda_from_config_refuses_stored_code() -> None:
    config = Lambda(lambda x: x).get_config()
    with pytest.raises(ValueError, match="Lambda.from_config: `function` is stored as code"):
        Lambda.from_config(config)
    named = Lambda(first_two_channels).get_config()
    with pytest.raises(ValueError, match="does not load from configs"):
        Lambda.from_config(named)
    live = {**json.loads(json.dumps(Lambda(torch.sin, output_shape=(3,)).get_config()))}
    live["function"] = torch.sin
    clone = Lambda.from_config(live)
    assert clone.compute_output_shape((None, 5)) == (None, 3)


def test_lambda_constructor_errors() -> None:
    with pytest.raises(ValueError) as info:
        Lambda("sin", arguments=[1], output_shape="big")
    text = str(info.value)
    assert text.startswith("Lambda: 3 invalid arguments")
    assert "function='sin'" in text and "arguments=[1]" in text and "output_shape='big'" in text


# --------------------------------------------------------------------- TorchModuleWrapper
def test_wrapper_tracks_parameters_as_weights() -> None:
    module = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    module[2].bias.requires_grad_(False)
    layer = TorchModuleWrapper(module)
    assert layer.built
    assert layer.count_params() == 4 * 3 + 3 + 3 * 2 + 2
    parameters = list(module.parameters())
    assert layer.trainable_weights == [parameters[0], parameters[1], parameters[2]]
    assert layer.non_trainable_weights == [parameters[3]]
    weights = layer.get_weights()
    assert [w.shape for w in weights] == [(3, 4), (3,), (2, 3), (2,)]
    layer.set_weights([np.ones_like(w) for w in weights])
    assert module[0].weight.detach().sum().item() == 12.0
    layer.trainable = False
    assert not any(p.requires_grad for p in module.parameters())
    assert layer.trainable_weights == []
    layer.trainable = True
    assert [p.requires_grad for p in module.parameters()] == [True, True, True, False]


def test_wrapper_default_layout_is_channels_first() -> None:
    conv = nn.Conv2d(3, 4, kernel_size=3)
    layer = TorchModuleWrapper(conv)
    x = torch.from_numpy(random_array((2, 7, 6, 3), 0))
    y = layer(x)
    expected = conv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
    assert y.shape == (2, 5, 4, 4)
    assert max_abs_diff(to_numpy(y), to_numpy(expected)) <= ATOL
    assert layer.compute_output_shape((None, 7, 6, 3)) == (None, 5, 4, 4)
    assert layer.compute_output_shape((None, None, None, 3)) == (None, None, None, 4)


def test_wrapper_channels_last_layout() -> None:
    linear = nn.Linear(3, 5)
    layer = TorchModuleWrapper(linear, input_layout="channels_last")
    x = torch.from_numpy(random_array((2, 4, 4, 3), 1))
    assert max_abs_diff(to_numpy(layer(x)), to_numpy(linear(x))) <= ATOL
    assert layer.compute_output_shape((None, 4, 4, 3)) == (None, 4, 4, 5)


@pytest.mark.parity
def test_wrapper_matches_keras_wrapper() -> None:
    for module, shape in [(nn.Linear(6, 3), (4, 6)), (nn.Conv1d(3, 2, 3), (2, 3, 9))]:
        theirs = keras.layers.TorchModuleWrapper(module)
        ours = TorchModuleWrapper(module)
        x = random_array(shape, 2)
        expected = to_numpy(theirs(x))
        # Keras hands the module the array as it is (channels-first here); convolve hands it
        # the engine tensor of the channels-last input.
        ours_in = np.moveaxis(x, 1, -1) if x.ndim >= 3 else x
        got = to_numpy(ours(torch.from_numpy(ours_in)))
        got = np.moveaxis(got, -1, 1) if got.ndim >= 3 else got
        assert max_abs_diff(got, expected) <= ATOL
        assert ours.count_params() == theirs.count_params()
        assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()]


def test_wrapper_in_models_summary_and_fit() -> None:
    torch.manual_seed(0)
    model = models.Sequential(
        [
            layers.Input((8, 8, 3)),
            TorchModuleWrapper(nn.Conv2d(3, 4, 3, padding=1), name="tconv"),
            layers.GlobalAveragePooling2D(),
            TorchModuleWrapper(nn.Linear(4, 1), name="tdense"),
        ]
    )
    lines: list[str] = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "(None, 8, 8, 4)" in text and "Total params: 117" in text
    x = np.random.default_rng(0).standard_normal((64, 8, 8, 3)).astype(np.float32)
    y = x.mean(axis=(1, 2, 3))[:, None] * 3.0
    before = [w.copy() for w in model.get_weights()]
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x, y, epochs=5, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert all(not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))


def test_wrapper_switches_train_and_eval_mode() -> None:
    layer = TorchModuleWrapper(nn.Dropout(0.5))
    x = torch.ones(4, 100)
    assert torch.equal(layer(x), x)
    assert not layer.module.training
    y = layer(x, training=True)
    assert layer.module.training and (y == 0).any()


def test_wrapper_declared_output_shape() -> None:
    layer = TorchModuleWrapper(nn.Identity(), output_shape=[None, 3])
    assert layer.compute_output_shape((None, 3)) == (None, 3)


def test_wrapper_config_and_from_config() -> None:
    layer = TorchModuleWrapper(nn.Linear(2, 3), name="tw", input_layout="channels_last")
    config = json.loads(json.dumps(layer.get_config()))
    assert isinstance(config["module"], str) and config["input_layout"] == "channels_last"
    with pytest.raises(ValueError, match="TorchModuleWrapper.from_config: `module` is stored"):
        TorchModuleWrapper.from_config(config)
    config["module"] = nn.Linear(2, 3)
    clone = TorchModuleWrapper.from_config(config)
    assert clone.name == "tw" and clone.count_params() == 9


def test_wrapper_constructor_errors() -> None:
    with pytest.raises(ValueError) as info:
        TorchModuleWrapper("conv", input_layout="nhwc")
    text = str(info.value)
    assert "module must be a torch.nn.Module, received module='conv'" in text
    assert "input_layout='nhwc'" in text
    with pytest.raises(ValueError, match="lazy module must be initialized"):
        TorchModuleWrapper(nn.LazyLinear(3))
