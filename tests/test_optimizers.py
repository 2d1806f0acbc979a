"""Optimizers and learning rate schedules against Keras (torch backend).

Parity runs start Keras and convolve from the same float32 weights (four tensors of
different shapes, one with tiny gradients so that `epsilon` matters), feed the same
deterministic gradients for six steps and compare the weights and every optimizer
variable (count, order, shape and value) with rtol = 1e-6, atol = 1e-7. The updates
follow Keras's operation order, so results agree to the last bit on CPU in practice;
the tolerance only absorbs other platforms' kernels.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Container
from typing import Any

import keras
import numpy as np
import pytest
import torch

from convolve import optimizers
from convolve.optimizers import schedules

# Keras's own variable-to-NumPy conversion warns under NumPy 2; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

RTOL, ATOL = 1e-6, 1e-7
SHAPES = [(3, 3, 2, 4), (4,), (5, 7), ()]
NAMES = ["kernel", "bias", "dense_kernel", "scale"]
GRAD_SCALES = [1.0, 1e-5, 3.0, 0.5]
STEPS = 6

# Each case builds the optimizer's keyword arguments from an optimizers module, so that
# schedules come from `keras.optimizers.schedules` or `convolve.optimizers.schedules`.
Kwargs = Callable[[Any], dict[str, Any]]


def _case(name: str, **kwargs: Any) -> Any:
    """A parity case with plain keyword arguments."""
    shown = ",".join(f"{k}={v}" for k, v in kwargs.items())
    return pytest.param(name, lambda _module: dict(kwargs), id=f"{name}({shown})")


def _scheduled(name: str, label: str, make: Kwargs) -> Any:
    """A parity case whose arguments include a schedule built from the given module."""
    return pytest.param(name, make, id=f"{name}({label})")


DEFAULTS = [_case(n) for n in ["SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "Nadam", "Adamax"]]

NON_DEFAULTS = [
    _case("SGD", momentum=0.9),
    _case("SGD", learning_rate=0.05, momentum=0.9, nesterov=True),
    _case("Adam", learning_rate=0.01, amsgrad=True),
    _case("Adam", learning_rate=0.0123, beta_1=0.8, beta_2=0.99, epsilon=1e-5),
    _case("AdamW", learning_rate=0.01, weight_decay=0.1),
    _case("RMSprop", learning_rate=0.01, centered=True),
    _case("RMSprop", rho=0.8, momentum=0.5),
    _case("RMSprop", momentum=0.9, centered=True, epsilon=1e-4),
    _case("Adagrad", learning_rate=0.05, initial_accumulator_value=0.5, epsilon=1e-4),
    _case("Nadam", learning_rate=0.01, beta_1=0.8),
    _case("Adamax", learning_rate=0.02, beta_2=0.99),
    _case("Adam", learning_rate=0.01, clipnorm=1.0),
    _case("SGD", learning_rate=0.1, clipvalue=0.5),
    _case("Adam", learning_rate=0.01, global_clipnorm=2.0),
    _case("SGD", learning_rate=0.1, weight_decay=0.1),
    _case("RMSprop", weight_decay=0.05),
    _case("Adamax", weight_decay=0.01, clipvalue=1.0),
    _case("Adam", use_ema=True, ema_momentum=0.9, ema_overwrite_frequency=3),
    _case("Adam", learning_rate=0.01, gradient_accumulation_steps=2),
    _case("Nadam", loss_scale_factor=8.0, gradient_accumulation_steps=3),
    _scheduled(
        "Adam",
        "ExponentialDecay",
        lambda m: {"learning_rate": m.schedules.ExponentialDecay(0.01, 2, 0.5)},
    ),
    _scheduled(
        "SGD",
        "CosineDecay warmup, momentum",
        lambda m: {
            "momentum": 0.9,
            "learning_rate": m.schedules.CosineDecay(0.0, 3, warmup_target=0.1, warmup_steps=2),
        },
    ),
    _scheduled(
        "Adam",
        "ExponentialDecay, gradient_accumulation_steps=2",
        lambda m: {
            "learning_rate": m.schedules.ExponentialDecay(0.01, 1, 0.7),
            "gradient_accumulation_steps": 2,
        },
    ),
    _scheduled(
        "AdamW",
        "PiecewiseConstantDecay",
        lambda m: {"learning_rate": m.schedules.PiecewiseConstantDecay([2, 4], [0.1, 0.01, 0.001])},
    ),
]


# ----------------------------------------------------------------------------- helpers


def _initial_weights() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [np.asarray(rng.standard_normal(s), dtype=np.float32) for s in SHAPES]


def _gradients(steps: int = STEPS, seed: int = 1) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [
        [
            np.asarray(rng.standard_normal(s) * k, dtype=np.float32)
            for s, k in zip(SHAPES, GRAD_SCALES, strict=True)
        ]
        for _ in range(steps)
    ]


def _keras_run(
    name: str,
    make: Kwargs,
    grads: list[list[np.ndarray]],
    missing: Container[tuple[int, int]] = frozenset(),
) -> tuple[Any, list[Any]]:
    opt = getattr(keras.optimizers, name)(**make(keras.optimizers))
    variables = [keras.Variable(w, name=n) for w, n in zip(_initial_weights(), NAMES, strict=True)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras warns about the deliberately missing gradients
        for step, step_grads in enumerate(grads):
            pairs = [
                (None if (step, i) in missing else keras.ops.convert_to_tensor(g), v)
                for i, (g, v) in enumerate(zip(step_grads, variables, strict=True))
            ]
            opt.apply_gradients(pairs)
    return opt, variables


def _params() -> list[torch.nn.Parameter]:
    return [torch.nn.Parameter(torch.tensor(w)) for w in _initial_weights()]


def _convolve_run(
    name: str,
    make: Kwargs,
    grads: list[list[np.ndarray]],
    missing: Container[tuple[int, int]] = frozenset(),
    via: str = "step",
) -> tuple[optimizers.Optimizer, list[torch.nn.Parameter]]:
    opt = getattr(optimizers, name)(**make(optimizers))
    params = _params()
    if via == "step":
        opt.build(params)
    for step, step_grads in enumerate(grads):
        if via == "step":
            for i, (p, g) in enumerate(zip(params, step_grads, strict=True)):
                p.grad = None if (step, i) in missing else torch.tensor(g)
            opt.step()
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                opt.apply_gradients(
                    [
                        (None if (step, i) in missing else torch.tensor(g), p)
                        for i, (g, p) in enumerate(zip(step_grads, params, strict=True))
                    ]
                )
    return opt, params


def _to_numpy(value: Any) -> np.ndarray:
    if isinstance(value, keras.Variable):
        value = value.value
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _assert_same_state(k_opt: Any, k_vars: list[Any], c_opt: Any, c_params: list[Any]) -> None:
    for kv, cp, name in zip(k_vars, c_params, NAMES, strict=True):
        np.testing.assert_allclose(
            _to_numpy(cp), _to_numpy(kv), rtol=RTOL, atol=ATOL, err_msg=f"weight {name}"
        )
    k_state = [_to_numpy(v) for v in k_opt.variables]
    c_state = [_to_numpy(v) for v in c_opt.variables]
    assert [s.shape for s in c_state] == [s.shape for s in k_state]
    assert [s.dtype for s in c_state] == [s.dtype for s in k_state]
    for i, (c, k) in enumerate(zip(c_state, k_state, strict=True)):
        np.testing.assert_allclose(c, k, rtol=RTOL, atol=ATOL, err_msg=f"optimizer variable {i}")
    assert c_opt.iterations == int(_to_numpy(k_opt.iterations))


# ------------------------------------------------------------------------------ parity


@pytest.mark.parity
@pytest.mark.parametrize("name, make", DEFAULTS + NON_DEFAULTS)
def test_step_matches_keras(name: str, make: Kwargs) -> None:
    grads = _gradients()
    k_opt, k_vars = _keras_run(name, make, grads)
    c_opt, c_params = _convolve_run(name, make, grads)
    _assert_same_state(k_opt, k_vars, c_opt, c_params)
    assert c_opt.learning_rate == pytest.approx(float(_to_numpy(k_opt.learning_rate)), rel=1e-7)


@pytest.mark.parity
@pytest.mark.parametrize(
    "name, make",
    [
        _case("Adam", weight_decay=0.1, learning_rate=0.01),
        _case("SGD", momentum=0.9),
        _case("Nadam"),
    ],
)
@pytest.mark.parametrize("via", ["step", "apply_gradients"])
def test_missing_gradients_match_keras(name: str, make: Kwargs, via: str) -> None:
    # Keras skips variables without a gradient (no decay, no slot update) that step.
    grads = _gradients()
    missing = {(0, 1), (2, 0), (2, 3), (5, 2)}
    k_opt, k_vars = _keras_run(name, make, grads, missing)
    c_opt, c_params = _convolve_run(name, make, grads, missing, via=via)
    _assert_same_state(k_opt, k_vars, c_opt, c_params)


@pytest.mark.parity
def test_ema_finalize_matches_keras() -> None:
    make: Kwargs = lambda _: {"use_ema": True, "ema_momentum": 0.8}  # noqa: E731
    grads = _gradients()
    k_opt, k_vars = _keras_run("SGD", make, grads)
    c_opt, c_params = _convolve_run("SGD", make, grads)
    k_opt.finalize_variable_values(k_vars)
    c_opt.finalize_variable_values()
    _assert_same_state(k_opt, k_vars, c_opt, c_params)
    assert not np.allclose(_to_numpy(c_params[0]), _initial_weights()[0])


@pytest.mark.parity
def test_exclude_from_weight_decay_by_name_matches_keras() -> None:
    make: Kwargs = lambda _: {"learning_rate": 0.05, "weight_decay": 0.5}  # noqa: E731
    grads = _gradients()
    k_opt = keras.optimizers.AdamW(**make(None))
    k_vars = [keras.Variable(w, name=n) for w, n in zip(_initial_weights(), NAMES, strict=True)]
    k_opt.exclude_from_weight_decay(var_names=["bias", "scale"])
    for step_grads in grads:
        k_opt.apply_gradients(
            [(keras.ops.convert_to_tensor(g), v) for g, v in zip(step_grads, k_vars, strict=True)]
        )
    c_opt = optimizers.AdamW(**make(None))
    c_params = _params()
    c_opt.exclude_from_weight_decay(var_names=["bias", "scale"])
    c_opt.build([(f"block.{n}", p) for n, p in zip(NAMES, c_params, strict=True)])
    for step_grads in grads:
        for p, g in zip(c_params, step_grads, strict=True):
            p.grad = torch.tensor(g)
        c_opt.step()
    _assert_same_state(k_opt, k_vars, c_opt, c_params)


@pytest.mark.parity
@pytest.mark.parametrize("name", ["Adam", "Nadam", "RMSprop"])
def test_loads_keras_optimizer_variables_and_continues(name: str) -> None:
    # Keras's own variable store (as in .keras files) resumes training in convolve.
    make: Kwargs = lambda _: {"learning_rate": 0.01}  # noqa: E731
    grads = _gradients(steps=6)
    k_opt, k_vars = _keras_run(name, make, grads[:3])
    store: dict[str, Any] = {}
    k_opt.save_own_variables(store)
    c_opt = getattr(optimizers, name)(**make(None))
    c_params = [torch.nn.Parameter(torch.tensor(_to_numpy(v))) for v in k_vars]
    c_opt.build(c_params)
    c_opt.load_own_variables(store)
    for step_grads in grads[3:]:
        k_opt.apply_gradients(
            [(keras.ops.convert_to_tensor(g), v) for g, v in zip(step_grads, k_vars, strict=True)]
        )
        for p, g in zip(c_params, step_grads, strict=True):
            p.grad = torch.tensor(g)
        c_opt.step()
    _assert_same_state(k_opt, k_vars, c_opt, c_params)


def test_parity_check_detects_a_small_difference() -> None:
    # The harness must notice PyTorch's epsilon (1e-8) in place of Keras's 1e-7.
    grads = _gradients()
    k_opt, k_vars = _keras_run("Adam", lambda _: {}, grads)
    c_opt, c_params = _convolve_run("Adam", lambda _: {"epsilon": 1e-8}, grads)
    with pytest.raises(AssertionError):
        _assert_same_state(k_opt, k_vars, c_opt, c_params)


# --------------------------------------------------------------------------- schedules

SCHEDULES = [
    ("ExponentialDecay", (0.1, 7, 0.9), {}),
    ("ExponentialDecay", (0.1, 7, 0.9), {"staircase": True}),
    ("PiecewiseConstantDecay", ([5, 20, 50], [1.0, 0.5, 0.1, 0.01]), {}),
    ("PolynomialDecay", (0.1, 40), {}),
    ("PolynomialDecay", (0.1, 40, 0.001, 0.5, True), {}),
    ("InverseTimeDecay", (0.1, 10, 0.5), {}),
    ("InverseTimeDecay", (0.1, 10, 0.5), {"staircase": True}),
    ("CosineDecay", (0.1, 50), {}),
    ("CosineDecay", (0.1, 50, 0.1), {}),
    ("CosineDecay", (0.0, 50), {"warmup_target": 0.2, "warmup_steps": 10}),
    ("CosineDecay", (0.05, 40, 0.1), {"warmup_target": 0.2, "warmup_steps": 15}),
    ("CosineDecayRestarts", (0.1, 10), {}),
    ("CosineDecayRestarts", (0.1, 10, 1.0, 0.5, 0.1), {}),
    ("CosineDecayRestarts", (0.1, 10, 1.5, 0.9, 0.05), {}),
]
SCHEDULE_STEPS = list(range(0, 160)) + [999, 1000, 12345, 10**6]


@pytest.mark.parity
@pytest.mark.parametrize("name,args,kwargs", SCHEDULES)
def test_schedule_values_match_keras(name: str, args: tuple, kwargs: dict) -> None:
    theirs = getattr(keras.optimizers.schedules, name)(*args, **kwargs)
    ours = getattr(schedules, name)(*args, **kwargs)
    expected = np.array([float(_to_numpy(theirs(s))) for s in SCHEDULE_STEPS])
    got = np.array([float(ours(s)) for s in SCHEDULE_STEPS])
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=0)
    assert len(set(got.tolist())) > 3  # the schedule really varies over these steps
    # Keras's serialized form (built by hand: Keras's own serializer imports TensorFlow).
    assert schedules.serialize(ours) == {
        "module": "keras.optimizers.schedules",
        "class_name": name,
        "config": theirs.get_config(),
        "registered_name": None,
    }
    again = schedules.deserialize(schedules.serialize(ours))
    assert type(again) is type(ours) and again.get_config() == ours.get_config()


def test_schedule_accepts_tensor_steps() -> None:
    lr = schedules.PolynomialDecay(0.1, 10, end_learning_rate=0.0)
    assert float(lr(torch.tensor(5))) == pytest.approx(0.05)
    assert float(lr(5)) == float(lr(torch.tensor(5.0)))


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda: schedules.ExponentialDecay(0.1, decay_steps=0, decay_rate=0.9), "decay_steps=0"),
        (lambda: schedules.CosineDecay(0.1, decay_steps=-5), "decay_steps=-5"),
        (lambda: schedules.PiecewiseConstantDecay([1, 2], [1.0]), "boundaries=[1, 2]"),
        (lambda: schedules.PiecewiseConstantDecay([5, 2], [1.0, 0.5, 0.1]), "strictly increasing"),
        (lambda: schedules.CosineDecayRestarts(0.1, 10, t_mul=0.0), "t_mul=0.0"),
    ],
)
def test_schedule_argument_errors(make: Callable[[], Any], fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        make()
    assert fragment in str(info.value)


def test_custom_schedule_subclass() -> None:
    class Halving(schedules.LearningRateSchedule):
        def __call__(self, step: Any) -> float:
            return 1.0 / 2 ** int(step)

        def get_config(self) -> dict[str, Any]:
            return {}

    w = torch.nn.Parameter(torch.zeros(1))
    opt = optimizers.SGD(learning_rate=Halving())
    for _ in range(3):
        opt.apply([torch.ones(1)], [w])
    assert w.item() == -(1.0 + 0.5 + 0.25)
    config = optimizers.serialize(opt)
    again = optimizers.deserialize(config, custom_objects={"Halving": Halving})
    assert isinstance(again._learning_rate, Halving)
    with pytest.raises(NotImplementedError):
        schedules.LearningRateSchedule()(0)


# ----------------------------------------------------------------------- learning rate


def test_learning_rate_is_a_float32_rounded_float_and_assignable() -> None:
    w = torch.nn.Parameter(torch.zeros(1))
    opt = optimizers.SGD(learning_rate=0.1)
    assert isinstance(opt.learning_rate, float)
    assert (
        opt.learning_rate
        == float(np.float32(0.1))
        == float(keras.optimizers.SGD(0.1).learning_rate)
    )
    opt.apply([torch.ones(1)], [w])
    opt.learning_rate = 0.5
    opt.apply([torch.ones(1)], [w])
    assert w.item() == pytest.approx(-0.6, rel=1e-6)
    assert opt.get_config()["learning_rate"] == 0.5
    with pytest.raises(ValueError, match=r"learning_rate=-0.5"):
        opt.learning_rate = -0.5


def test_schedule_learning_rate_follows_iterations_and_refuses_floats() -> None:
    lr = schedules.ExponentialDecay(1.0, decay_steps=1, decay_rate=0.5)
    opt = optimizers.SGD(learning_rate=lr)
    w = torch.nn.Parameter(torch.zeros(1))
    assert opt.learning_rate == 1.0
    opt.apply([torch.ones(1)], [w])
    opt.apply([torch.ones(1)], [w])
    assert opt.iterations == 2 and opt.learning_rate == 0.25
    with pytest.raises(TypeError, match="LearningRateSchedule"):
        opt.learning_rate = 0.1
    assert len(opt.variables) == 1  # no learning-rate variable, as in Keras


def test_callable_learning_rate() -> None:
    rate = {"value": 0.25}
    opt = optimizers.SGD(learning_rate=lambda: rate["value"])
    w = torch.nn.Parameter(torch.zeros(1))
    opt.apply([torch.ones(1)], [w])
    rate["value"] = 0.5
    opt.apply([torch.ones(1)], [w])
    assert w.item() == -0.75
    with pytest.raises(ValueError, match="cannot be serialized"):
        opt.get_config()


# --------------------------------------------------------------------- config and get()

CONFIG_CASES = [
    ("SGD", {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True, "clipnorm": 1.0}),
    (
        "Adam",
        {"amsgrad": True, "global_clipnorm": 2.0, "use_ema": True, "ema_overwrite_frequency": 5},
    ),
    ("AdamW", {"weight_decay": 0.01, "beta_1": 0.8, "gradient_accumulation_steps": 4}),
    ("Adagrad", {"initial_accumulator_value": 0.5, "epsilon": 1e-5, "clipvalue": 0.5}),
    ("RMSprop", {"rho": 0.8, "momentum": 0.5, "centered": True, "loss_scale_factor": 128.0}),
    ("Nadam", {"beta_2": 0.99, "weight_decay": 0.004}),
    ("Adamax", {"learning_rate": 0.002, "epsilon": 1e-6}),
]


@pytest.mark.parity
@pytest.mark.parametrize("name,kwargs", CONFIG_CASES)
def test_get_config_matches_keras_and_round_trips(name: str, kwargs: dict[str, Any]) -> None:
    ours = getattr(optimizers, name)(name="opt", **kwargs)
    theirs = getattr(keras.optimizers, name)(name="opt", **kwargs)
    assert ours.get_config() == theirs.get_config()
    again = type(ours).from_config(ours.get_config())
    assert type(again) is type(ours) and again.get_config() == ours.get_config()
    # Keras's serialized forms (as in .keras files written on the torch backend and on
    # the others) deserialize here. Built by hand: Keras's serializer imports TensorFlow.
    for module, registered in [(type(theirs).__module__, name), ("keras.optimizers", None)]:
        keras_form = {
            "module": module,
            "class_name": name,
            "config": theirs.get_config(),
            "registered_name": registered,
        }
        from_keras = optimizers.deserialize(keras_form)
        assert type(from_keras) is type(ours) and from_keras.get_config() == ours.get_config()
    assert optimizers.get(optimizers.serialize(ours)).get_config() == ours.get_config()


@pytest.mark.parity
def test_schedule_in_config_matches_keras() -> None:
    ours = optimizers.Adam(
        schedules.CosineDecay(0.1, 100, warmup_target=0.5, warmup_steps=10), name="o"
    )
    their_schedule = keras.optimizers.schedules.CosineDecay(
        0.1, 100, warmup_target=0.5, warmup_steps=10
    )
    # Keras nests the schedule in its serialized form; built by hand here because Keras's
    # serializer imports TensorFlow, which would triple this file's run time.
    expected = keras.optimizers.Adam(0.5, name="o").get_config()
    expected["learning_rate"] = {
        "module": "keras.optimizers.schedules",
        "class_name": "CosineDecay",
        "config": their_schedule.get_config(),
        "registered_name": None,
    }
    assert ours.get_config() == expected
    again = optimizers.Adam.from_config(ours.get_config())
    assert isinstance(again._learning_rate, schedules.CosineDecay)
    assert again.get_config() == ours.get_config()


@pytest.mark.parametrize(
    "identifier, cls",
    [
        ("sgd", optimizers.SGD),
        ("ADAM", optimizers.Adam),
        ("AdamW", optimizers.AdamW),
        ("rmsprop", optimizers.RMSprop),
        ("adagrad", optimizers.Adagrad),
        ("Nadam", optimizers.Nadam),
        ("adamax", optimizers.Adamax),
        ({"class_name": "adam", "config": {"learning_rate": 0.5}}, optimizers.Adam),
    ],
)
def test_get_by_name_or_config(identifier: Any, cls: type) -> None:
    opt = optimizers.get(identifier)
    assert type(opt) is cls
    config = identifier.get("config", {}) if isinstance(identifier, dict) else {}
    expected = getattr(keras.optimizers, cls.__name__)(**config).get_config()
    got = opt.get_config()
    expected.pop("name"), got.pop("name")
    assert got == expected


def test_get_passes_instances_and_rejects_unknowns() -> None:
    opt = optimizers.SGD()
    assert optimizers.get(opt) is opt
    assert optimizers.get(None) is None
    with pytest.raises(ValueError, match="'adamz'"):
        optimizers.get("adamz")
    with pytest.raises(ValueError, match="Could not interpret"):
        optimizers.get(3)


def test_default_names_follow_keras() -> None:
    assert optimizers.RMSprop().name.startswith("rm_sprop")
    assert optimizers.AdamW().name.startswith("adam_w")
    first, second = optimizers.Adamax(), optimizers.Adamax()
    assert first.name != second.name


# -------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    "make, fragments",
    [
        (lambda: optimizers.Adam(learning_rate=-1), ["Adam", "learning_rate=-1"]),
        (lambda: optimizers.SGD(learning_rate="fast"), ["SGD", "learning_rate='fast'"]),
        (lambda: optimizers.SGD(momentum=1.5), ["SGD", "momentum=1.5"]),
        (lambda: optimizers.SGD(nesterov=1), ["SGD", "nesterov=1"]),
        (
            lambda: optimizers.Adam(clipnorm=1.0, global_clipnorm=1.0),
            ["Adam", "clipnorm=1.0", "global_clipnorm=1.0"],
        ),
        (lambda: optimizers.Adam(clipvalue=-1.0), ["Adam", "clipvalue=-1.0"]),
        (lambda: optimizers.Adam(beta_1=1.0), ["Adam", "beta_1=1.0"]),
        (lambda: optimizers.Nadam(beta_2=-0.1), ["Nadam", "beta_2=-0.1"]),
        (lambda: optimizers.Adamax(epsilon=-1e-7), ["Adamax", "epsilon=-1e-07"]),
        (lambda: optimizers.Adam(amsgrad="yes"), ["Adam", "amsgrad='yes'"]),
        (lambda: optimizers.AdamW(weight_decay=None), ["AdamW", "weight_decay=None"]),
        (lambda: optimizers.SGD(weight_decay=-0.1), ["SGD", "weight_decay=-0.1"]),
        (lambda: optimizers.RMSprop(rho=2.0), ["RMSprop", "rho=2.0"]),
        (lambda: optimizers.RMSprop(centered=None), ["RMSprop", "centered=None"]),
        (lambda: optimizers.Adagrad(initial_accumulator_value=-1.0), ["Adagrad", "=-1.0"]),
        (lambda: optimizers.Adam(use_ema=True, ema_momentum=1.5), ["Adam", "ema_momentum=1.5"]),
        (lambda: optimizers.Adam(ema_overwrite_frequency=0), ["ema_overwrite_frequency=0"]),
        (lambda: optimizers.Adam(gradient_accumulation_steps=1), ["gradient_accumulation_steps=1"]),
        (lambda: optimizers.Adam(loss_scale_factor=0.0), ["loss_scale_factor=0.0"]),
        (lambda: optimizers.Adam(name=3), ["Adam", "name=3"]),
        (lambda: optimizers.Adam(lr=0.1), ["Adam", "not recognized", "'lr'"]),
    ],
)
def test_argument_errors_name_optimizer_argument_and_value(
    make: Callable[[], Any], fragments: list[str]
) -> None:
    with pytest.raises(ValueError) as info:
        make()
    for fragment in fragments:
        assert fragment in str(info.value)


def test_all_argument_errors_are_reported_at_once() -> None:
    with pytest.raises(ValueError) as info:
        optimizers.Adam(learning_rate=-1.0, beta_1=2.0, clipnorm=-3.0)
    message = str(info.value)
    for fragment in ["learning_rate=-1.0", "beta_1=2.0", "clipnorm=-3.0"]:
        assert fragment in message


def test_parameters_passed_as_learning_rate_get_a_hint() -> None:
    model = torch.nn.Linear(2, 2)
    with pytest.raises(ValueError, match="build"):
        optimizers.Adam(model.parameters())


def test_decay_argument_is_ignored_with_a_warning() -> None:
    with pytest.warns(UserWarning, match="decay"):
        opt = optimizers.SGD(decay=0.1)
    assert "decay" not in opt.get_config()


# -------------------------------------------------------------------- torch interface


def test_build_accepts_generators_and_is_idempotent() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    opt = optimizers.Adam()
    opt.build(model.parameters())
    count = len(opt.variables)
    assert count == 2 + 2 * 4  # iteration, learning rate, momentum and velocity per tensor
    opt.build(model.parameters())
    opt.build(list(model.parameters())[:2])
    assert len(opt.variables) == count
    with pytest.raises(ValueError, match="new one"):
        opt.build([torch.nn.Parameter(torch.zeros(1))])
    with pytest.raises(ValueError, match="model.parameters"):
        optimizers.Adam().build([1.0, 2.0])


def test_step_trains_a_model_and_skips_parameters_without_grad() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 1))
    frozen = model[0].bias
    frozen.requires_grad_(False)
    before = frozen.detach().clone()
    opt = optimizers.SGD(learning_rate=0.1, momentum=0.9)
    opt.build(model.parameters())
    x = torch.randn(16, 3)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert torch.equal(frozen, before)
    slot = opt.state_dict()["variables"]["1/momentum"]
    assert torch.count_nonzero(slot) == 0
    assert model[0].weight.grad_fn is None and model[0].weight.requires_grad


def test_step_requires_build_and_some_gradient() -> None:
    opt = optimizers.Adam()
    with pytest.raises(ValueError, match="build"):
        opt.step()
    w = torch.nn.Parameter(torch.zeros(2))
    opt.build([w])
    with pytest.raises(ValueError, match="No gradients"):
        opt.step()
    assert opt.iterations == 0


def test_apply_checks_lengths_and_known_parameters() -> None:
    w = torch.nn.Parameter(torch.zeros(2))
    opt = optimizers.SGD()
    with pytest.raises(ValueError, match="build"):
        opt.apply([torch.ones(2)])
    opt.apply([torch.ones(2)], [w])
    opt.apply([torch.ones(2)])
    assert opt.iterations == 2
    with pytest.raises(ValueError, match="Received 2 gradients"):
        opt.apply([torch.ones(2), torch.ones(2)])
    with pytest.raises(ValueError, match="Unknown variable"):
        opt.apply([torch.ones(3)], [torch.nn.Parameter(torch.zeros(3))])
    assert opt.apply_gradients([(np.ones(2, dtype=np.float32), w)]) == 3


def test_gradient_accumulation_counts_updates() -> None:
    w = torch.nn.Parameter(torch.zeros(1))
    opt = optimizers.SGD(learning_rate=1.0, gradient_accumulation_steps=3)
    for g in [1.0, 2.0]:
        opt.apply([torch.tensor([g])], [w])
    assert w.item() == 0.0 and opt.iterations == 0
    opt.apply([torch.tensor([6.0])], [w])
    assert w.item() == -3.0 and opt.iterations == 1


def test_constraints_on_parameters_are_applied() -> None:
    w = torch.nn.Parameter(torch.zeros(3))
    w.constraint = lambda t: t.clamp(min=-0.5)
    opt = optimizers.SGD(learning_rate=1.0)
    opt.apply([torch.tensor([1.0, 0.2, -1.0])], [w])
    assert w.tolist() == pytest.approx([-0.5, -0.2, 1.0])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"clipnorm": 0.1},
        {"clipvalue": 0.1},
        {"global_clipnorm": 0.1},
        {"loss_scale_factor": 2.0},
        {"gradient_accumulation_steps": 2},
    ],
)
def test_gradients_passed_in_are_not_modified(kwargs: dict[str, Any]) -> None:
    params = _params()
    opt = optimizers.Adam(**kwargs)
    opt.build(params)
    for step_grads in _gradients(steps=2):
        grads = [torch.tensor(g) for g in step_grads]
        for p, g in zip(params, grads, strict=True):
            p.grad = g.clone()
        opt.step()
        opt.apply(grads, params)
        for p, g, original in zip(params, grads, step_grads, strict=True):
            assert torch.equal(p.grad, torch.tensor(original))
            assert torch.equal(g, torch.tensor(original))


def test_scale_loss_and_loss_scale_factor() -> None:
    w = torch.nn.Parameter(torch.ones(1))
    opt = optimizers.SGD(learning_rate=0.5, loss_scale_factor=4.0)
    opt.build([w])
    loss = opt.scale_loss((w * 3).sum())
    assert loss.item() == 12.0
    loss.backward()
    opt.step()
    assert w.item() == pytest.approx(1.0 - 0.5 * 3)


def test_keras_style_subclass() -> None:
    class SignSGD(optimizers.Optimizer):
        def __init__(self, learning_rate: float = 0.1, **kwargs: Any) -> None:
            super().__init__(learning_rate=learning_rate, **kwargs)

        def build(self, var_list: list[torch.Tensor]) -> None:
            if self.built:
                return
            super().build(var_list)
            self.counts = [self.add_variable_from_reference(v, "count") for v in var_list]

        def update_step(self, gradient: torch.Tensor, variable: torch.Tensor, lr: float) -> None:
            self.assign_add(
                self.counts[self._get_variable_index(variable)], torch.ones_like(variable)
            )
            self.assign_sub(variable, lr * torch.sign(gradient))

    w = torch.nn.Parameter(torch.zeros(2))
    opt = SignSGD()
    opt.apply([torch.tensor([3.0, -0.1])], [w])
    assert w.tolist() == pytest.approx([-0.1, 0.1])
    assert len(opt.variables) == 3 and opt.variables[2].tolist() == [1.0, 1.0]


# ------------------------------------------------------------------------- state_dict

RESUME_CASES = [
    _case("Adam", learning_rate=0.01),
    _case("Nadam"),
    _case("SGD", momentum=0.9, nesterov=True),
    _case("RMSprop", momentum=0.5, centered=True),
    _case("Adagrad"),
    _case("Adamax", clipnorm=1.0),
    _case("AdamW", use_ema=True, ema_overwrite_frequency=2),
    _case("Adam", gradient_accumulation_steps=3),
    _scheduled("SGD", "CosineDecay", lambda m: {"learning_rate": m.schedules.CosineDecay(0.1, 5)}),
]


def _serialize(obj: Any) -> Any:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    return torch.load(buffer)


@pytest.mark.parametrize("name, make", RESUME_CASES)
@pytest.mark.parametrize("load_before_build", [False, True])
def test_state_dict_resume_is_bit_exact(name: str, make: Kwargs, load_before_build: bool) -> None:
    # N steps in one go == k steps, save, restore into fresh objects, N - k more steps.
    grads, split = _gradients(steps=7), 4
    straight, straight_params = _convolve_run(name, make, grads)

    first, first_params = _convolve_run(name, make, grads[:split])
    saved_state = _serialize(first.state_dict())
    saved_weights = [p.detach().clone() for p in first_params]

    resumed = getattr(optimizers, name)(**make(optimizers))
    params = [torch.nn.Parameter(w) for w in saved_weights]
    if load_before_build:
        resumed.load_state_dict(saved_state)
        assert resumed.iterations == first.iterations
        resumed.build(params)
    else:
        resumed.build(params)
        resumed.load_state_dict(saved_state)
    for step_grads in grads[split:]:
        for p, g in zip(params, step_grads, strict=True):
            p.grad = torch.tensor(g)
        resumed.step()
    for a, b in zip(params, straight_params, strict=True):
        assert torch.equal(a, b)
    for a, b in zip(resumed.variables, straight.variables, strict=True):
        assert torch.equal(a, b)


def test_state_dict_keeps_an_assigned_learning_rate() -> None:
    opt = optimizers.Adam(learning_rate=0.01)
    opt.build(_params())
    opt.learning_rate = 0.002
    other = optimizers.Adam(learning_rate=0.01)
    other.build(_params())
    other.load_state_dict(opt.state_dict())
    assert other.learning_rate == opt.learning_rate == float(np.float32(0.002))


def test_load_state_dict_rejects_mismatches() -> None:
    adam = optimizers.Adam()
    adam.build(_params())
    sgd = optimizers.SGD(momentum=0.9)
    sgd.build(_params())
    with pytest.raises(ValueError, match="Adam state into SGD"):
        sgd.load_state_dict(adam.state_dict())
    other = optimizers.Adam()
    other.build(_params()[:2])
    with pytest.raises(ValueError, match="does not match"):
        other.load_state_dict(adam.state_dict())
    with pytest.raises(ValueError, match="state_dict"):
        adam.load_state_dict({"weights": 1})


# ---------------------------------------------------------------------------------- GPU


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("Adam", {"global_clipnorm": 1.0, "weight_decay": 0.01, "use_ema": True}),
        ("Nadam", {"clipnorm": 1.0, "gradient_accumulation_steps": 2}),
        ("RMSprop", {"centered": True, "momentum": 0.9, "clipvalue": 0.5}),
        ("SGD", {"momentum": 0.9, "learning_rate": schedules.CosineDecay(0.1, 10)}),
    ],
)
def test_cuda_step_never_synchronises_and_matches_cpu(name: str, kwargs: dict[str, Any]) -> None:
    cpu_params = _params()
    gpu_params = [torch.nn.Parameter(p.detach().cuda()) for p in cpu_params]
    cpu_opt = getattr(optimizers, name)(**kwargs)
    gpu_opt = getattr(optimizers, name)(**kwargs)
    cpu_opt.build(cpu_params)
    gpu_opt.build(gpu_params)
    for step_grads in _gradients():
        for p, q, g in zip(cpu_params, gpu_params, step_grads, strict=True):
            p.grad = torch.tensor(g)
            q.grad = torch.tensor(g).cuda()
        cpu_opt.step()
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            gpu_opt.step()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    for p, q in zip(cpu_params, gpu_params, strict=True):
        np.testing.assert_allclose(_to_numpy(q), _to_numpy(p), rtol=1e-5, atol=1e-6)
