"""Optimizer variables as Keras programs read them, against real Keras.

`optimizer.variables` carry Keras's `name` and `path`; `iterations` and
`learning_rate` read back with Keras's dtypes. Tolerances: values after a few updates
agree within atol = 1e-6, rtol = 1e-5 (float32).
"""

from __future__ import annotations

import copy
import io
import pickle
from typing import Any

import keras
import numpy as np
import pytest
import torch
from keras_compare import fresh_names  # noqa: F401  (the fixture the tests use)

import convolve
from convolve import optimizers

pytestmark = [pytest.mark.parity, pytest.mark.usefixtures("fresh_names")]

_CASES = [
    ("SGD", {"momentum": 0.9}),
    ("Adam", {"amsgrad": True, "use_ema": True}),
    ("AdamW", {"gradient_accumulation_steps": 2}),
    ("RMSprop", {"momentum": 0.5, "centered": True}),
    ("Adagrad", {}),
    ("Adadelta", {}),
    ("Adamax", {}),
    ("Ftrl", {}),
    ("Lion", {"use_ema": True, "gradient_accumulation_steps": 3}),
    ("Lamb", {}),
    ("Adafactor", {}),
]


def _model(module: Any) -> Any:
    return module.Sequential(
        [module.Input((3,)), module.layers.Dense(4), module.layers.Dense(2, name="head")]
    )


@pytest.mark.parametrize(("name", "kwargs"), _CASES)
def test_variable_names_and_paths_match_keras(name: str, kwargs: dict[str, Any]) -> None:
    k_opt = getattr(keras.optimizers, name)(name="opt", **kwargs)
    c_opt = getattr(optimizers, name)(name="opt", **kwargs)
    k_opt.build(_model(keras).trainable_variables)
    c_opt.build(_model(convolve).trainable_variables)
    assert [v.path for v in c_opt.variables] == [v.path for v in k_opt.variables]
    assert [v.name for v in c_opt.variables] == [v.name for v in k_opt.variables]


def test_variables_of_standalone_variables_match_keras_after_updates() -> None:
    rng = np.random.default_rng(3)
    weights = [rng.standard_normal((3, 2)).astype("float32"), np.zeros(2, "float32")]
    grads = [[rng.standard_normal(w.shape).astype("float32") for w in weights] for _ in range(5)]
    results = []
    for module in (keras, convolve):
        opt = module.optimizers.Adam(learning_rate=0.1, use_ema=True, name="opt")
        variables = [module.Variable(w, name=n) for w, n in zip(weights, ("w", "b"), strict=True)]
        for step in grads:
            opt.apply_gradients(zip([torch.tensor(g) for g in step], variables, strict=True))
        results.append(opt.variables)
    k_vars, c_vars = results
    assert [v.path for v in c_vars] == [v.path for v in k_vars]
    assert [str(np.asarray(v.numpy()).dtype) for v in c_vars] == [
        str(np.asarray(v.numpy()).dtype) for v in k_vars
    ]
    for k, c in zip(k_vars, c_vars, strict=True):
        np.testing.assert_allclose(c.numpy(), np.asarray(k.numpy()), atol=1e-6, rtol=1e-5)


def test_assigning_through_variables_writes_through_as_in_keras() -> None:
    states = []
    for module in (keras, convolve):
        opt = module.optimizers.SGD(learning_rate=0.1, momentum=0.5)
        variable = module.Variable(np.ones(2, "float32"), name="w")
        opt.build([variable])
        iteration, learning_rate, momentum = opt.variables
        iteration.assign(4)
        learning_rate.assign(0.25)
        momentum.assign(np.full(2, 2.0, "float32"))
        opt.apply_gradients([(torch.ones(2), variable)])
        states.append((int(opt.iterations), float(opt.learning_rate), np.asarray(variable.numpy())))
    (k_it, k_lr, k_w), (c_it, c_lr, c_w) = states
    assert (c_it, c_lr) == (k_it, k_lr) == (5, pytest.approx(0.25))
    np.testing.assert_allclose(c_w, k_w, atol=1e-6, rtol=1e-5)


def test_iterations_and_learning_rate_read_with_keras_dtypes() -> None:
    k_opt, c_opt = keras.optimizers.Adam(0.1), optimizers.Adam(0.1)
    for k, c in ((k_opt.learning_rate, c_opt.learning_rate), (k_opt.iterations, c_opt.iterations)):
        k_value, c_value = k.numpy(), c.numpy()
        assert isinstance(c_value, np.ndarray) and c_value.shape == np.shape(k_value) == ()
        assert c_value.dtype == k_value.dtype
        assert c_value == k_value
        assert str(c.dtype) == str(k.dtype)


def test_named_state_survives_copies_and_saves_as_plain_tensors() -> None:
    opt = optimizers.Adafactor(name="opt")
    opt.build(_model(convolve).trainable_variables)
    expected = [v.path for v in opt.variables]
    assert expected[2:4] == ["opt/kernel", "opt/kernel"]  # Keras names both factors so
    for clone in (copy.deepcopy(opt), pickle.loads(pickle.dumps(opt))):
        assert [v.path for v in clone.variables] == expected
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)
    assert all(type(t) is torch.Tensor for t in loaded["variables"].values())
    assert type(opt.variables[4] + 1) is torch.Tensor  # arithmetic gives plain tensors
