"""Optimizers and schedules used the way Keras programs use them, against real Keras.

Tolerances: weights after a few updates agree within atol = rtol = 1e-6 (float32);
schedule values within rtol 1e-6.
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

pytestmark = pytest.mark.parity

NAMES = [
    "SGD",
    "Adam",
    "AdamW",
    "Adagrad",
    "Adadelta",
    "Adamax",
    "Nadam",
    "RMSprop",
    "Ftrl",
    "Lion",
    "Lamb",
    "Adafactor",
]

_RNG = np.random.default_rng(7)
_WEIGHTS = [
    _RNG.standard_normal((3, 4)).astype("float32"),
    _RNG.standard_normal(4).astype("float32"),
]
_GRADS = [[_RNG.standard_normal(w.shape).astype("float32") for w in _WEIGHTS] for _ in range(4)]


def _run(module: Any, opt: Any, names: tuple[str, str] = ("kernel", "bias")) -> list[np.ndarray]:
    """Four `apply_gradients` steps on two Variables named `names`; their values."""
    variables = [module.Variable(w.copy(), name=n) for w, n in zip(_WEIGHTS, names, strict=True)]
    for grads in _GRADS:
        opt.apply_gradients(zip([torch.tensor(g) for g in grads], variables, strict=True))
    return [np.asarray(v.numpy()) for v in variables]


def _assert_close(expected: list[np.ndarray], actual: list[np.ndarray]) -> None:
    for e, a in zip(expected, actual, strict=True):
        np.testing.assert_allclose(a, e, atol=1e-6, rtol=1e-6)


# ------------------------------------------------------------- signatures, configs


@pytest.mark.parametrize("name", [*NAMES, "LossScaleOptimizer"])
def test_constructor_signature_matches_keras(name: str) -> None:
    expected = inspect.signature(getattr(keras.optimizers, name).__init__).parameters
    actual = inspect.signature(getattr(optimizers, name).__init__).parameters
    assert [(p.name, p.default, p.kind) for p in actual.values()] == [
        (p.name, p.default, p.kind) for p in expected.values()
    ]


@pytest.mark.parametrize("name", NAMES)
def test_default_config_and_from_config_match_keras(name: str) -> None:
    expected = getattr(keras.optimizers, name)(name="o").get_config()
    actual = getattr(optimizers, name)(name="o").get_config()
    assert actual == expected
    assert [type(v) for v in actual.values()] == [type(v) for v in expected.values()]
    assert getattr(optimizers, name).from_config(expected).get_config() == expected


# ---------------------------------------------------------------- update numerics


_OPTIONS = [
    {"learning_rate": 0.05, "weight_decay": 0.1},
    {"learning_rate": 0.05, "global_clipnorm": 0.7, "use_ema": True, "ema_momentum": 0.9},
    {"learning_rate": 0.05, "clipvalue": 0.3, "gradient_accumulation_steps": 2},
]


@pytest.mark.parametrize("options", _OPTIONS, ids=["wd", "gclip-ema", "clipvalue-accum"])
@pytest.mark.parametrize("name", NAMES)
def test_apply_gradients_on_variables_matches_keras(name: str, options: dict[str, Any]) -> None:
    k_opt = getattr(keras.optimizers, name)(**options)
    c_opt = getattr(optimizers, name)(**options)
    _assert_close(_run(keras, k_opt), _run(convolve, c_opt))
    assert int(c_opt.iterations) == int(k_opt.iterations)


# ------------------------------------------------------- exclude_from_weight_decay


@pytest.mark.parametrize("name", ["AdamW", "SGD", "Adam"])
def test_exclude_from_weight_decay_uses_variable_names(name: str) -> None:
    # Keras matches `var_names` against each Variable's own name ("bias" here).
    def make(module: Any) -> Any:
        opt = getattr(module.optimizers, name)(learning_rate=0.1, weight_decay=0.5)
        opt.exclude_from_weight_decay(var_names=["bias"])
        return opt

    expected, actual = _run(keras, make(keras)), _run(convolve, make(convolve))
    _assert_close(expected, actual)
    # The exclusion did something: decaying the bias too gives other values.
    decayed = _run(convolve, getattr(optimizers, name)(learning_rate=0.1, weight_decay=0.5))
    assert not np.allclose(decayed[1], actual[1], atol=1e-4)


def test_exclude_from_weight_decay_after_build_takes_effect_as_in_keras() -> None:
    def run(module: Any) -> list[np.ndarray]:
        opt = module.optimizers.AdamW(learning_rate=0.1, weight_decay=0.5)
        variables = [module.Variable(w.copy(), name=n) for w, n in zip(_WEIGHTS, "kb", strict=True)]
        opt.build(variables)
        opt.exclude_from_weight_decay(var_list=[variables[0]])
        for grads in _GRADS:
            opt.apply([torch.tensor(g) for g in grads], variables)
        return [np.asarray(v.numpy()) for v in variables]

    _assert_close(run(keras), run(convolve))


def test_exclude_from_weight_decay_rejects_a_bare_string() -> None:
    with pytest.raises(ValueError, match="var_names='bias'"):
        optimizers.AdamW().exclude_from_weight_decay(var_names="bias")


def test_fit_with_weight_decay_exclusion_matches_keras() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((16, 5)).astype("float32")
    y = rng.standard_normal((16, 2)).astype("float32")

    def train(module: Any, weights: list[np.ndarray]) -> Any:
        model = module.Sequential(
            [module.Input((5,)), module.layers.Dense(4, activation="relu"), module.layers.Dense(2)]
        )
        model.set_weights(weights)
        opt = module.optimizers.AdamW(learning_rate=0.05, weight_decay=0.5)
        opt.exclude_from_weight_decay(var_names=["bias"])
        model.compile(optimizer=opt, loss="mse")
        model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
        return model

    start = [rng.standard_normal(shape).astype("float32") for shape in [(5, 4), (4,), (4, 2), (2,)]]
    _assert_close(train(keras, start).get_weights(), train(convolve, start).get_weights())


# ------------------------------------------------------------ (de)serialization


def test_get_and_deserialize_a_loss_scale_optimizer_dict() -> None:
    k_opt = keras.optimizers.LossScaleOptimizer(
        keras.optimizers.SGD(learning_rate=0.5, momentum=0.9, name="inner"),
        initial_scale=64.0,
        dynamic_growth_steps=10,
        name="lso",
    )
    serialized = keras.optimizers.serialize(k_opt)
    for restored in (optimizers.get(serialized), optimizers.deserialize(serialized)):
        assert type(restored).__name__ == "LossScaleOptimizer"
        config = restored.get_config()
        expected = k_opt.get_config()
        assert config["inner_optimizer"]["config"] == expected["inner_optimizer"]["config"]
        assert {k: v for k, v in config.items() if k != "inner_optimizer"} == {
            k: v for k, v in expected.items() if k != "inner_optimizer"
        }


def test_serialize_loss_scale_optimizer_names_it_as_keras_does() -> None:
    def make(module: Any) -> Any:
        inner = module.optimizers.Adam(name="i")
        return module.optimizers.LossScaleOptimizer(inner, name="l")

    expected = keras.optimizers.serialize(make(keras))
    actual = optimizers.serialize(make(convolve))
    assert (actual["module"], actual["registered_name"]) == (
        expected["module"],
        expected["registered_name"],
    )


class _ProbeSchedule(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, base: float) -> None:
        self.base = base

    def __call__(self, step: Any) -> Any:
        return self.base / (1.0 + keras.ops.cast(step, "float32"))

    def get_config(self) -> dict[str, Any]:
        return {"base": self.base}


class _ConvolveProbeSchedule(optimizers.schedules.LearningRateSchedule):
    def __init__(self, base: float) -> None:
        self.base = base

    def __call__(self, step: Any) -> Any:
        return self.base / (1.0 + float(step))

    def get_config(self) -> dict[str, Any]:
        return {"base": self.base}


# Keras writes no module for classes defined in a script.
_ScriptSchedule = type("ScriptSchedule", (_ProbeSchedule,), {"__module__": "__main__"})
_ConvolveScriptSchedule = type(
    "ScriptSchedule", (_ConvolveProbeSchedule,), {"__module__": "__main__"}
)

_KerasRegistered = keras.saving.register_keras_serializable(package="ProbeK")(
    type("RegSchedule", (_ProbeSchedule,), {})
)
_ConvolveRegistered = convolve.saving.register_keras_serializable(package="ProbeK")(
    type("RegSchedule", (_ConvolveProbeSchedule,), {})
)


def test_custom_schedule_from_a_script_serializes_as_in_keras() -> None:
    expected = keras.optimizers.schedules.serialize(_ScriptSchedule(0.5))
    assert optimizers.schedules.serialize(_ConvolveScriptSchedule(0.5)) == expected
    k_cfg = keras.optimizers.SGD(learning_rate=_ScriptSchedule(0.5), name="s").get_config()
    c_cfg = optimizers.SGD(learning_rate=_ConvolveScriptSchedule(0.5), name="s").get_config()
    assert c_cfg == k_cfg


def test_registered_schedule_serializes_and_deserializes_without_custom_objects() -> None:
    expected = keras.optimizers.schedules.serialize(_KerasRegistered(0.5))
    assert expected["registered_name"] == "ProbeK>RegSchedule"  # the oracle's form
    serialized = optimizers.schedules.serialize(_ConvolveRegistered(0.5))
    assert {k: v for k, v in serialized.items() if k != "module"} == {
        k: v for k, v in expected.items() if k != "module"
    }
    restored = optimizers.schedules.deserialize(expected)
    assert type(restored) is _ConvolveRegistered and restored.base == 0.5
    # Inside an optimizer config, as model files hold it.
    k_opt = keras.optimizers.SGD(learning_rate=_KerasRegistered(0.5), name="s")
    c_opt = optimizers.SGD.from_config(k_opt.get_config())
    assert isinstance(c_opt._learning_rate, _ConvolveRegistered)
    for _ in range(3):
        assert float(c_opt.learning_rate) == pytest.approx(float(k_opt.learning_rate), rel=1e-6)
        c_opt.iterations.assign(int(c_opt.iterations) + 1)
        k_opt.iterations.assign(k_opt.iterations + 1)


def test_schedule_found_through_custom_object_scope() -> None:
    serialized = keras.optimizers.schedules.serialize(_ProbeSchedule(0.5))
    with pytest.raises(ValueError, match="_ProbeSchedule"):
        optimizers.schedules.deserialize(serialized)
    with convolve.saving.custom_object_scope({"_ProbeSchedule": _ConvolveProbeSchedule}):
        restored = optimizers.schedules.deserialize(serialized)
    assert type(restored) is _ConvolveProbeSchedule


def test_registered_optimizer_round_trips_through_get() -> None:
    @keras.saving.register_keras_serializable(package="ProbeK", name="HalfSGD")
    class KerasHalfSGD(keras.optimizers.SGD):
        pass

    @convolve.saving.register_keras_serializable(package="ProbeK", name="HalfSGD")
    class HalfSGD(optimizers.SGD):
        pass

    expected = keras.optimizers.serialize(KerasHalfSGD(learning_rate=0.3, name="h"))
    serialized = optimizers.serialize(HalfSGD(learning_rate=0.3, name="h"))
    assert serialized["registered_name"] == expected["registered_name"] == "ProbeK>HalfSGD"
    for source in (serialized, expected):
        restored = optimizers.get(source)
        assert type(restored) is HalfSGD
        assert restored.get_config() == expected["config"]


# -------------------------------------------------------------------- schedules


_SCHEDULES = [
    ("ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 3, "decay_rate": 0.5}),
    (
        "ExponentialDecay",
        {"initial_learning_rate": 0.1, "decay_steps": 3, "decay_rate": 0.5, "staircase": True},
    ),
    ("PiecewiseConstantDecay", {"boundaries": [3, 7], "values": [1.0, 0.5, 0.1]}),
    (
        "PolynomialDecay",
        {
            "initial_learning_rate": 0.1,
            "decay_steps": 5,
            "end_learning_rate": 0.01,
            "power": 2.0,
            "cycle": True,
        },
    ),  # fmt: skip
    (
        "InverseTimeDecay",
        {"initial_learning_rate": 0.1, "decay_steps": 2, "decay_rate": 0.5, "staircase": True},
    ),  # fmt: skip
    (
        "CosineDecay",
        {
            "initial_learning_rate": 0.0,
            "decay_steps": 10,
            "alpha": 0.1,
            "warmup_target": 0.2,
            "warmup_steps": 4,
        },
    ),  # fmt: skip
    (
        "CosineDecayRestarts",
        {
            "initial_learning_rate": 0.1,
            "first_decay_steps": 2,
            "t_mul": 3.0,
            "m_mul": 0.9,
            "alpha": 0.05,
        },
    ),  # fmt: skip
]


@pytest.mark.parametrize(("name", "kwargs"), _SCHEDULES)
def test_schedule_in_an_optimizer_matches_keras(name: str, kwargs: dict[str, Any]) -> None:
    k_sched = getattr(keras.optimizers.schedules, name)(**kwargs)
    c_sched = getattr(optimizers.schedules, name)(**kwargs)
    assert c_sched.get_config() == k_sched.get_config()
    assert optimizers.schedules.serialize(c_sched) == keras.optimizers.schedules.serialize(k_sched)
    k_opt = keras.optimizers.SGD(learning_rate=k_sched, momentum=0.5)
    c_opt = optimizers.SGD(learning_rate=c_sched, momentum=0.5)
    k_vars = [keras.Variable(w.copy()) for w in _WEIGHTS]
    c_vars = [convolve.Variable(w.copy()) for w in _WEIGHTS]
    for step in range(12):
        # `optimizer.learning_rate` reads the schedule at the current iteration.
        assert float(c_opt.learning_rate) == pytest.approx(float(k_opt.learning_rate), rel=1e-6)
        assert float(c_sched(step)) == pytest.approx(float(k_sched(step)), rel=1e-6, abs=1e-9)
        grads = _GRADS[step % len(_GRADS)]
        k_opt.apply([torch.tensor(g) for g in grads], k_vars)
        c_opt.apply([torch.tensor(g) for g in grads], c_vars)
    _assert_close([v.numpy() for v in k_vars], [v.numpy() for v in c_vars])


# -------------------------------------------------------------------- bad input


def test_apply_with_a_gradient_of_the_wrong_shape_names_the_variable() -> None:
    variable = convolve.Variable(np.ones((2, 3), "float32"), name="kernel")
    with pytest.raises(ValueError, match=r"kernel of shape \(2, 3\) has shape \(3,\)"):
        optimizers.Adam().apply([torch.ones(3)], [variable])
