"""Lamb and Adafactor against Keras (torch backend), and the LossScaleOptimizer export.

Direct steps: Keras and convolve start from the same weight tensors (ranks 4, 1, 2 and 0,
one with tiny gradients) and receive the same gradients for eight steps; the weights and
every optimizer variable (count, order, shape, dtype, value) must agree within rtol=1e-5,
atol=1e-6 (float32). A model test trains a convolution + dense model with `fit` in both
libraries from the same weights: Adafactor factors a convolution kernel over Keras's axes,
so the kernels must still agree (same tolerances) although convolve stores them in torch's
layout.
"""

from __future__ import annotations

import inspect
from typing import Any

import keras
import numpy as np
import pytest
import torch

import convolve
from convolve import optimizers

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

RTOL, ATOL = 1e-5, 1e-6
SHAPES = [(3, 3, 2, 4), (4,), (5, 7), ()]
GRAD_SCALES = [1.0, 1e-5, 3.0, 0.5]
STEPS = 8

CASES = [
    ("Lamb", {}),
    ("Lamb", {"learning_rate": 0.01, "beta_1": 0.5, "beta_2": 0.9, "epsilon": 1e-3}),
    ("Lamb", {"learning_rate": 0.01, "weight_decay": 0.1, "clipnorm": 1.0}),
    ("Lamb", {"learning_rate": 0.01, "gradient_accumulation_steps": 3, "use_ema": True}),
    ("Adafactor", {}),
    ("Adafactor", {"learning_rate": 0.5}),
    ("Adafactor", {"learning_rate": 0.05, "relative_step": False, "clip_threshold": 0.5}),
    ("Adafactor", {"beta_2_decay": -0.5, "epsilon_2": 0.1, "global_clipnorm": 2.0}),
    ("Adafactor", {"learning_rate": 0.1, "gradient_accumulation_steps": 2}),
]


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _initial_weights() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [np.asarray(rng.standard_normal(s), dtype=np.float32) for s in SHAPES]


def _gradients(seed: int = 1) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [
        [
            np.asarray(rng.standard_normal(s) * k, dtype=np.float32)
            for s, k in zip(SHAPES, GRAD_SCALES, strict=True)
        ]
        for _ in range(STEPS)
    ]


def _np(value: Any) -> np.ndarray:
    if isinstance(value, keras.Variable):
        value = value.value
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _run_both(name: str, kwargs: dict[str, Any]):
    grads = _gradients()
    k_opt = getattr(keras.optimizers, name)(**kwargs)
    k_vars = [keras.Variable(w) for w in _initial_weights()]
    for step in grads:
        k_opt.apply_gradients(
            [(keras.ops.convert_to_tensor(g), v) for g, v in zip(step, k_vars, strict=True)]
        )
    c_opt = getattr(optimizers, name)(**kwargs)
    params = [torch.nn.Parameter(torch.tensor(w)) for w in _initial_weights()]
    c_opt.build(params)
    for step in grads:
        for p, g in zip(params, step, strict=True):
            p.grad = torch.tensor(g)
        c_opt.step()
    return k_opt, k_vars, c_opt, params


def _assert_same(k_opt, k_vars, c_opt, params) -> None:
    for i, (kv, cp) in enumerate(zip(k_vars, params, strict=True)):
        np.testing.assert_allclose(_np(cp), _np(kv), rtol=RTOL, atol=ATOL, err_msg=f"weight {i}")
    k_state = [_np(v) for v in k_opt.variables]
    c_state = [_np(v) for v in c_opt.variables]
    assert [s.shape for s in c_state] == [s.shape for s in k_state]
    assert [s.dtype for s in c_state] == [s.dtype for s in k_state]
    for i, (c, k) in enumerate(zip(c_state, k_state, strict=True)):
        np.testing.assert_allclose(c, k, rtol=RTOL, atol=ATOL, err_msg=f"variable {i}")


@pytest.mark.parity
@pytest.mark.parametrize("name, kwargs", CASES, ids=[f"{n}{k}" for n, k in CASES])
def test_steps_match_keras(name: str, kwargs: dict[str, Any]) -> None:
    k_opt, k_vars, c_opt, params = _run_both(name, kwargs)
    _assert_same(k_opt, k_vars, c_opt, params)
    moved = max(
        float(np.abs(_np(p) - w).max()) for p, w in zip(params, _initial_weights(), strict=True)
    )
    assert moved > 10 * ATOL


@pytest.mark.parity
@pytest.mark.parametrize(
    "name, wrong", [("Lamb", {"beta_2": 0.99}), ("Adafactor", {"beta_2_decay": -0.7})]
)
def test_parity_check_detects_a_small_difference(name: str, wrong: dict[str, Any]) -> None:
    grads = _gradients()
    k_opt = getattr(keras.optimizers, name)()
    k_vars = [keras.Variable(w) for w in _initial_weights()]
    for step in grads:
        k_opt.apply_gradients(
            [(keras.ops.convert_to_tensor(g), v) for g, v in zip(step, k_vars, strict=True)]
        )
    c_opt = getattr(optimizers, name)(**wrong)
    params = [torch.nn.Parameter(torch.tensor(w)) for w in _initial_weights()]
    for step in grads:
        c_opt.apply([torch.tensor(g) for g in step], params)
    with pytest.raises(AssertionError):
        _assert_same(k_opt, k_vars, c_opt, params)


@pytest.mark.parity
@pytest.mark.parametrize("name", ["Lamb", "Adafactor"])
def test_signature_config_and_lookup_match_keras(name: str) -> None:
    ours, theirs = (
        inspect.signature(getattr(optimizers, name)),
        inspect.signature(getattr(keras.optimizers, name)),
    )
    assert list(ours.parameters) == list(theirs.parameters)
    for key, param in theirs.parameters.items():
        assert ours.parameters[key].default == param.default, key
    config = getattr(optimizers, name)(learning_rate=0.01, name="opt").get_config()
    k_config = getattr(keras.optimizers, name)(learning_rate=0.01, name="opt").get_config()
    assert config == k_config
    assert type(optimizers.get(name.lower())).__name__ == name
    serialized = keras.optimizers.serialize(getattr(keras.optimizers, name)(name="opt"))
    rebuilt = optimizers.deserialize(serialized)
    assert type(rebuilt).__name__ == name
    assert rebuilt.get_config() == serialized["config"]


@pytest.mark.parity
@pytest.mark.parametrize("name", ["Adafactor", "Lamb"])
def test_fit_with_conv_kernel_matches_keras(name: str) -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(8, 6, 6, 2)).astype("float32")
    y = rng.normal(size=(8, 3)).astype("float32")

    def build(lib):
        return lib.Sequential(
            [
                lib.Input((6, 6, 2)),
                lib.layers.Conv2D(4, 3),
                lib.layers.Flatten(),
                lib.layers.Dense(3),
            ]
        )

    ours, theirs = build(convolve), build(keras)
    theirs.set_weights(ours.get_weights())
    ours.compile(getattr(optimizers, name)(learning_rate=0.05), "mse")
    theirs.compile(getattr(keras.optimizers, name)(learning_rate=0.05), "mse")
    ours.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    theirs.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)


def test_loss_scale_optimizer_is_exported() -> None:
    from convolve.mixed_precision import LossScaleOptimizer

    assert optimizers.LossScaleOptimizer is LossScaleOptimizer
    assert "LossScaleOptimizer" in dir(optimizers)
    w = torch.nn.Parameter(torch.ones(2))
    opt = optimizers.LossScaleOptimizer(optimizers.SGD(learning_rate=0.5), initial_scale=4.0)
    opt.build([w])
    opt.scale_loss(w.sum()).backward()
    opt.step()
    np.testing.assert_allclose(w.detach().numpy(), [0.5, 0.5])


def test_bad_hyperparameters_are_named() -> None:
    with pytest.raises(ValueError, match="beta_1"):
        optimizers.Lamb(beta_1=1.5)
    with pytest.raises(ValueError, match="clip_threshold"):
        optimizers.Adafactor(clip_threshold=0.0)
