"""Adadelta, Lion and Ftrl against Keras (torch backend).

Two kinds of parity check, both with rtol = 1e-5, atol = 1e-6 on float32 values:

- Direct steps: Keras and convolve start from the same four weight tensors (one with
  tiny gradients, so that `epsilon` matters) and receive the same gradients for eight
  steps; the weights and every optimizer variable (count, order, shape, value) must
  agree. The update rules follow Keras's operation order, so they agree to the last bit
  on CPU; the tolerance absorbs the base class's gradient-norm clipping, which rounds
  the norm differently from Keras by an ulp.
- Training: the same tiny model in both libraries, from the same weights, trained with
  `fit(shuffle=False)` for three epochs; the final weights must agree.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import pytest
import torch

import convolve
from convolve import optimizers

# Keras's own variable-to-NumPy conversion warns under NumPy 2; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

RTOL, ATOL = 1e-5, 1e-6
SHAPES = [(3, 3, 2, 4), (4,), (5, 7), ()]
GRAD_SCALES = [1.0, 1e-5, 3.0, 0.5]
STEPS = 8
NAMES = ["Adadelta", "Lion", "Ftrl"]

Kwargs = Callable[[Any], dict[str, Any]]


def _case(name: str, **kwargs: Any) -> Any:
    shown = ",".join(f"{k}={v}" for k, v in kwargs.items())
    return pytest.param(name, lambda _module: dict(kwargs), id=f"{name}({shown})")


def _scheduled(name: str, label: str, make: Kwargs) -> Any:
    """A case whose arguments include a schedule from `keras.optimizers` or ours."""
    return pytest.param(name, make, id=f"{name}({label})")


STEP_CASES = [
    *[_case(n) for n in NAMES],
    _case("Adadelta", learning_rate=1.0, rho=0.9, epsilon=1e-5),
    _case("Adadelta", learning_rate=0.5, clipnorm=1.0),
    _case("Adadelta", learning_rate=0.5, global_clipnorm=1.5, weight_decay=0.1),
    _case("Adadelta", learning_rate=1.0, gradient_accumulation_steps=2, use_ema=True),
    _case("Lion", learning_rate=0.01, beta_1=0.5, beta_2=0.9),
    _case("Lion", learning_rate=0.01, weight_decay=0.3),
    _case("Lion", learning_rate=0.01, beta_1=1.0, clipvalue=0.5, loss_scale_factor=4.0),
    _case("Lion", use_ema=True, ema_momentum=0.9, ema_overwrite_frequency=3),
    _case(
        "Ftrl",
        learning_rate=0.1,
        l1_regularization_strength=0.01,
        l2_regularization_strength=0.02,
        l2_shrinkage_regularization_strength=0.03,
        beta=0.5,
    ),
    _case(
        "Ftrl",
        learning_rate=0.05,
        learning_rate_power=-0.3,
        initial_accumulator_value=0.0,
        l1_regularization_strength=0.5,
    ),
    _case("Ftrl", learning_rate=0.05, learning_rate_power=0.0, weight_decay=0.1),
    _case("Ftrl", learning_rate=0.05, clipnorm=1.0),
    _case("Ftrl", learning_rate=0.2, gradient_accumulation_steps=3),
    _scheduled(
        "Adadelta",
        "ExponentialDecay",
        lambda m: {"learning_rate": m.schedules.ExponentialDecay(1.0, 2, 0.5)},
    ),
    _scheduled(
        "Lion",
        "CosineDecay, weight_decay",
        lambda m: {"learning_rate": m.schedules.CosineDecay(0.01, 6), "weight_decay": 0.5},
    ),
    _scheduled(
        "Ftrl",
        "PiecewiseConstantDecay, beta",
        lambda m: {
            "learning_rate": m.schedules.PiecewiseConstantDecay([2, 5], [0.2, 0.1, 0.05]),
            "beta": 0.3,
        },
    ),
]


# ----------------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    # The models are tiny; one intra-op thread avoids thread-pool wake-ups that dominate
    # the run time on busy machines. Restored afterwards for the other test modules.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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


def _to_numpy(value: Any) -> np.ndarray:
    if isinstance(value, keras.Variable):
        value = value.value
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _keras_steps(name: str, make: Kwargs, grads: list[list[np.ndarray]]) -> tuple[Any, list]:
    opt = getattr(keras.optimizers, name)(**make(keras.optimizers))
    variables = [keras.Variable(w) for w in _initial_weights()]
    for step_grads in grads:
        opt.apply_gradients(
            [
                (keras.ops.convert_to_tensor(g), v)
                for g, v in zip(step_grads, variables, strict=True)
            ]
        )
    return opt, variables


def _convolve_steps(
    name: str, make: Kwargs, grads: list[list[np.ndarray]], params: list | None = None
) -> tuple[optimizers.Optimizer, list[torch.nn.Parameter]]:
    opt = getattr(optimizers, name)(**make(optimizers))
    params = params or [torch.nn.Parameter(torch.tensor(w)) for w in _initial_weights()]
    opt.build(params)
    for step_grads in grads:
        for p, g in zip(params, step_grads, strict=True):
            p.grad = torch.tensor(g)
        opt.step()
    return opt, params


def _assert_same_state(k_opt: Any, k_vars: list, c_opt: Any, c_params: list) -> None:
    for i, (kv, cp) in enumerate(zip(k_vars, c_params, strict=True)):
        np.testing.assert_allclose(
            _to_numpy(cp), _to_numpy(kv), rtol=RTOL, atol=ATOL, err_msg=f"weight {i}"
        )
    k_state = [_to_numpy(v) for v in k_opt.variables]
    c_state = [_to_numpy(v) for v in c_opt.variables]
    assert [s.shape for s in c_state] == [s.shape for s in k_state]
    assert [s.dtype for s in c_state] == [s.dtype for s in k_state]
    for i, (c, k) in enumerate(zip(c_state, k_state, strict=True)):
        np.testing.assert_allclose(c, k, rtol=RTOL, atol=ATOL, err_msg=f"optimizer variable {i}")
    assert c_opt.iterations == int(_to_numpy(k_opt.iterations))


# ------------------------------------------------------------------------ step parity


@pytest.mark.parity
@pytest.mark.parametrize("name, make", STEP_CASES)
def test_steps_match_keras(name: str, make: Kwargs) -> None:
    grads = _gradients()
    k_opt, k_vars = _keras_steps(name, make, grads)
    c_opt, c_params = _convolve_steps(name, make, grads)
    _assert_same_state(k_opt, k_vars, c_opt, c_params)
    # The test can fail: the weights moved well beyond the tolerance.
    moved = max(
        float(np.abs(_to_numpy(p) - w).max())
        for p, w in zip(c_params, _initial_weights(), strict=True)
    )
    assert moved > 10 * ATOL
    assert c_opt.learning_rate == pytest.approx(float(_to_numpy(k_opt.learning_rate)), rel=1e-7)


@pytest.mark.parity
@pytest.mark.parametrize(
    "name, wrong",
    [
        ("Adadelta", {"rho": 0.9}),
        ("Lion", {"beta_2": 0.98}),
        ("Ftrl", {"learning_rate_power": -0.45}),
    ],
)
def test_parity_check_detects_a_small_difference(name: str, wrong: dict[str, Any]) -> None:
    grads = _gradients()
    base: Kwargs = {"Adadelta": lambda _: {"learning_rate": 1.0}}.get(name, lambda _: {})
    k_opt, k_vars = _keras_steps(name, base, grads)
    c_opt, c_params = _convolve_steps(name, lambda m: {**base(m), **wrong}, grads)
    with pytest.raises(AssertionError):
        _assert_same_state(k_opt, k_vars, c_opt, c_params)


def test_known_first_steps() -> None:
    """Hand-computed first updates, independent of the oracle."""
    w = torch.nn.Parameter(torch.tensor([0.5, -0.5]))
    optimizers.Adadelta(learning_rate=1.0, rho=0.5, epsilon=0.01).apply(
        [torch.tensor([1.0, -2.0])], [w]
    )
    # acc_g = 0.5 * g**2; delta = -sqrt(0.01) / sqrt(acc_g + 0.01) * g
    expected = [0.5 - 0.1 / math.sqrt(0.51), -0.5 + 0.2 / math.sqrt(2.01)]
    np.testing.assert_allclose(w.tolist(), expected, rtol=1e-6)

    w = torch.nn.Parameter(torch.tensor([0.5, -0.5, 0.0]))
    lion = optimizers.Lion(learning_rate=0.25)
    lion.apply([torch.tensor([1e-6, -3.0, 0.0])], [w])
    assert w.tolist() == [0.25, -0.25, 0.0]
    lion.apply([torch.tensor([-1.0, -1.0, 0.0])], [w])
    # m = 0.01 * g1; direction = sign(0.9 * m + 0.1 * g2)
    assert w.tolist() == [0.5, -0.0, 0.0]

    w = torch.nn.Parameter(torch.tensor([0.0, 0.0]))
    optimizers.Ftrl(learning_rate=0.5, l1_regularization_strength=0.3).apply(
        [torch.tensor([1.0, 0.2])], [w]
    )
    # n = 0.1 + g**2; z = g; w = (clip(z, -l1, l1) - z) / (sqrt(n) / lr), 0 where |z| <= l1
    np.testing.assert_allclose(w.tolist(), [-0.7 * 0.5 / math.sqrt(1.1), 0.0], rtol=1e-6)


def test_docstring_examples_run() -> None:
    import doctest

    from convolve.optimizers import adadelta, ftrl, lion

    for module in (adadelta, lion, ftrl):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__


# --------------------------------------------------------------------- training parity

TRAIN_CASES = [
    _case("Adadelta", learning_rate=1.0, clipnorm=0.5),
    _scheduled(
        "Adadelta",
        "ExponentialDecay, weight_decay",
        lambda m: {
            "learning_rate": m.schedules.ExponentialDecay(2.0, 3, 0.5),
            "weight_decay": 0.05,
        },
    ),
    _case("Lion", learning_rate=0.01, clipnorm=0.5),
    _scheduled(
        "Lion",
        "CosineDecay, weight_decay",
        lambda m: {"learning_rate": m.schedules.CosineDecay(0.02, 9), "weight_decay": 0.5},
    ),
    _case("Ftrl", learning_rate=0.2, clipnorm=0.5, l1_regularization_strength=0.001),
    _scheduled(
        "Ftrl",
        "InverseTimeDecay, weight_decay",
        lambda m: {
            "learning_rate": m.schedules.InverseTimeDecay(0.3, 2, 0.5),
            "weight_decay": 0.05,
            "beta": 0.1,
        },
    ),
]

_RNG = np.random.default_rng(7)
X = _RNG.normal(size=(16, 4)).astype("float32")
Y = _RNG.integers(0, 3, size=(16,))


def _train_pair(optimizer: Callable[[Any], Any], epochs: int = 3) -> tuple[Any, Any, list]:
    def build(lib: Any) -> Any:
        return lib.Sequential(
            [lib.Input((4,)), lib.layers.Dense(5, activation="relu"), lib.layers.Dense(3)]
        )

    theirs, ours = build(keras), build(convolve)
    initial = theirs.get_weights()
    ours.set_weights(initial)
    for lib, model in ((keras, theirs), (convolve, ours)):
        model.compile(
            optimizer=optimizer(lib),
            loss=lib.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        model.fit(X, Y, batch_size=8, epochs=epochs, shuffle=False, verbose=0)
    return theirs, ours, initial


def _assert_same_weights(theirs: Any, ours: Any, initial: list) -> None:
    moved = 0.0
    for a, b, w0 in zip(ours.get_weights(), theirs.get_weights(), initial, strict=True):
        np.testing.assert_allclose(a, _to_numpy(b), rtol=RTOL, atol=ATOL)
        moved = max(moved, float(np.abs(a - w0).max()))
    assert moved > 1e-3  # the comparison is not of untrained weights


@pytest.mark.parity
@pytest.mark.parametrize("name, make", TRAIN_CASES)
def test_training_matches_keras(name: str, make: Kwargs) -> None:
    theirs, ours, initial = _train_pair(
        lambda lib: getattr(lib.optimizers, name)(**make(lib.optimizers))
    )
    _assert_same_weights(theirs, ours, initial)
    assert ours.optimizer.iterations == int(_to_numpy(theirs.optimizer.iterations)) == 6
    k_state = [_to_numpy(v) for v in theirs.optimizer.variables]
    c_state = [_to_numpy(v) for v in ours.optimizer.variables]
    assert len(c_state) == len(k_state)


@pytest.mark.parity
@pytest.mark.parametrize("identifier", ["adadelta", "lion", "ftrl"])
def test_compile_with_string_identifier_matches_keras(identifier: str) -> None:
    theirs, ours, initial = _train_pair(lambda _lib: identifier, epochs=4)
    assert type(ours.optimizer).__name__ == type(theirs.optimizer).__name__
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, _to_numpy(b), rtol=RTOL, atol=ATOL)
    assert any(not np.array_equal(a, w0) for a, w0 in zip(ours.get_weights(), initial, strict=True))


# ----------------------------------------------------------------- config and lookup

CONFIG_CASES = [
    ("Adadelta", {}),
    ("Adadelta", {"learning_rate": 1.0, "rho": 0.9, "epsilon": 1e-6, "clipnorm": 1.0}),
    ("Lion", {}),
    ("Lion", {"beta_1": 0.95, "beta_2": 0.98, "weight_decay": 0.01, "use_ema": True}),
    ("Ftrl", {}),
    (
        "Ftrl",
        {
            "learning_rate": 0.05,
            "learning_rate_power": -0.25,
            "initial_accumulator_value": 0.5,
            "l1_regularization_strength": 0.01,
            "l2_regularization_strength": 0.02,
            "l2_shrinkage_regularization_strength": 0.03,
            "beta": 0.1,
            "global_clipnorm": 2.0,
            "gradient_accumulation_steps": 2,
        },
    ),
]


@pytest.mark.parity
@pytest.mark.parametrize("name, kwargs", CONFIG_CASES)
def test_get_config_matches_keras_and_round_trips(name: str, kwargs: dict[str, Any]) -> None:
    ours = getattr(optimizers, name)(name="opt", **kwargs)
    theirs = getattr(keras.optimizers, name)(name="opt", **kwargs)
    assert ours.get_config() == theirs.get_config()
    again = type(ours).from_config(ours.get_config())
    assert type(again) is type(ours) and again.get_config() == ours.get_config()
    for module, registered in [(type(theirs).__module__, name), ("keras.optimizers", None)]:
        keras_form = {
            "module": module,
            "class_name": name,
            "config": theirs.get_config(),
            "registered_name": registered,
        }
        from_keras = optimizers.deserialize(keras_form)
        assert type(from_keras) is type(ours) and from_keras.get_config() == ours.get_config()
    serialized = optimizers.serialize(ours)
    assert serialized["module"] == "keras.optimizers" and serialized["registered_name"] is None
    assert optimizers.get(serialized).get_config() == ours.get_config()


def test_schedule_in_config_round_trips() -> None:
    ours = optimizers.Ftrl(optimizers.schedules.ExponentialDecay(0.1, 10, 0.9), beta=0.2)
    config = ours.get_config()
    assert config["learning_rate"]["class_name"] == "ExponentialDecay"
    # Keras's own serializer imports TensorFlow; the schedule's config is compared instead.
    theirs = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)
    assert config["learning_rate"]["config"] == theirs.get_config()
    again = optimizers.Ftrl.from_config(config)
    assert isinstance(again._learning_rate, optimizers.schedules.ExponentialDecay)
    assert again.get_config() == config


@pytest.mark.parity
@pytest.mark.parametrize(
    "identifier, cls",
    [
        ("adadelta", optimizers.Adadelta),
        ("Adadelta", optimizers.Adadelta),
        ("lion", optimizers.Lion),
        ("LION", optimizers.Lion),
        ("ftrl", optimizers.Ftrl),
        ("Ftrl", optimizers.Ftrl),
        ({"class_name": "lion", "config": {"learning_rate": 0.5}}, optimizers.Lion),
    ],
)
def test_get_by_name_or_config_matches_keras(identifier: Any, cls: type) -> None:
    opt = optimizers.get(identifier)
    assert type(opt) is cls
    theirs = keras.optimizers.get(identifier)
    assert type(theirs).__name__ == cls.__name__
    got, expected = opt.get_config(), theirs.get_config()
    got.pop("name"), expected.pop("name")
    assert got == expected


def test_default_names_follow_keras() -> None:
    for cls, base in [
        (optimizers.Adadelta, "adadelta"),
        (optimizers.Lion, "lion"),
        (optimizers.Ftrl, "ftrl"),
    ]:
        first, second = cls(), cls()
        assert first.name.startswith(base) and second.name.startswith(base)
        assert first.name != second.name
    assert {"adadelta", "lion", "ftrl"} <= set(optimizers._BUILTIN)


# -------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    "make, fragments",
    [
        (lambda: optimizers.Adadelta(rho=1.5), ["Adadelta", "`rho`", "rho=1.5"]),
        (lambda: optimizers.Adadelta(epsilon=-1e-7), ["Adadelta", "epsilon=-1e-07"]),
        (lambda: optimizers.Adadelta(learning_rate=-0.1), ["Adadelta", "learning_rate=-0.1"]),
        (lambda: optimizers.Lion(beta_1=0.0), ["Lion", "`beta_1`", "beta_1=0.0"]),
        (lambda: optimizers.Lion(beta_1=1.2), ["Lion", "beta_1=1.2"]),
        (lambda: optimizers.Lion(beta_2=-0.5), ["Lion", "beta_2=-0.5"]),
        (lambda: optimizers.Lion(clipnorm=1.0, clipvalue=1.0), ["Lion", "clipvalue=1.0"]),
        (lambda: optimizers.Ftrl(learning_rate_power=0.5), ["Ftrl", "learning_rate_power=0.5"]),
        (
            lambda: optimizers.Ftrl(initial_accumulator_value=-0.1),
            ["Ftrl", "initial_accumulator_value=-0.1"],
        ),
        (
            lambda: optimizers.Ftrl(l1_regularization_strength=-1.0),
            ["Ftrl", "l1_regularization_strength=-1.0"],
        ),
        (
            lambda: optimizers.Ftrl(l2_regularization_strength="big"),
            ["Ftrl", "l2_regularization_strength='big'"],
        ),
        (
            lambda: optimizers.Ftrl(l2_shrinkage_regularization_strength=float("nan")),
            ["Ftrl", "l2_shrinkage_regularization_strength=nan"],
        ),
        (lambda: optimizers.Ftrl(beta=-0.1), ["Ftrl", "beta=-0.1"]),
        (lambda: optimizers.Ftrl(lr=0.1), ["Ftrl", "not recognized", "'lr'"]),
    ],
)
def test_argument_errors_name_the_argument_and_value(
    make: Callable[[], Any], fragments: list[str]
) -> None:
    with pytest.raises(ValueError) as info:
        make()
    for fragment in fragments:
        assert fragment in str(info.value)


def test_all_argument_errors_are_reported_at_once() -> None:
    with pytest.raises(ValueError) as info:
        optimizers.Ftrl(learning_rate_power=1.0, beta=-1.0, clipnorm=-2.0)
    for fragment in ["learning_rate_power=1.0", "beta=-1.0", "clipnorm=-2.0"]:
        assert fragment in str(info.value)


# ------------------------------------------------------------------------------ state


def _serialize(obj: Any) -> Any:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    return torch.load(buffer)


@pytest.mark.parametrize(
    "name, make",
    [
        _case("Adadelta", learning_rate=1.0, use_ema=True),
        _case("Lion", gradient_accumulation_steps=2),
        _case("Ftrl", learning_rate=0.1, beta=0.2, l1_regularization_strength=0.01),
        _scheduled(
            "Ftrl",
            "CosineDecay",
            lambda m: {"learning_rate": m.schedules.CosineDecay(0.1, 5, alpha=0.2)},
        ),
    ],
)
@pytest.mark.parametrize("load_before_build", [False, True])
def test_state_dict_resume_is_bit_exact(name: str, make: Kwargs, load_before_build: bool) -> None:
    grads, split = _gradients(steps=7), 4
    straight, straight_params = _convolve_steps(name, make, grads)
    first, first_params = _convolve_steps(name, make, grads[:split])
    saved_state = _serialize(first.state_dict())
    resumed = getattr(optimizers, name)(**make(optimizers))
    params = [torch.nn.Parameter(p.detach().clone()) for p in first_params]
    if load_before_build:
        resumed.load_state_dict(saved_state)
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


@pytest.mark.parity
@pytest.mark.parametrize("name", NAMES)
def test_loads_keras_optimizer_variables_and_continues(name: str) -> None:
    make: Kwargs = lambda _: {"learning_rate": 0.05}  # noqa: E731
    grads = _gradients(steps=6)
    k_opt, k_vars = _keras_steps(name, make, grads[:3])
    store: dict[str, Any] = {}
    k_opt.save_own_variables(store)
    c_params = [torch.nn.Parameter(torch.tensor(_to_numpy(v))) for v in k_vars]
    c_opt = getattr(optimizers, name)(**make(None))
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


@pytest.mark.parity
@pytest.mark.parametrize("name", NAMES)
def test_model_file_keeps_the_optimizer_for_convolve_and_keras(name: str, tmp_path: Any) -> None:
    # Keras's loading needs no TensorFlow; its saving would import it (seconds), so the
    # Keras-to-convolve direction is covered by the variable store test above.
    from convolve import saving

    model = convolve.Sequential(
        [
            convolve.Input((4,)),
            convolve.layers.Dense(5, activation="relu"),
            convolve.layers.Dense(3),
        ]
    )
    model.compile(
        optimizer=getattr(optimizers, name)(learning_rate=0.05),
        loss=convolve.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(X, Y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    model.save(tmp_path / "model.keras")
    reloaded = saving.load_model(tmp_path / "model.keras")
    in_keras = keras.saving.load_model(tmp_path / "model.keras")
    assert type(reloaded.optimizer) is getattr(optimizers, name)
    assert reloaded.optimizer.get_config() == model.optimizer.get_config()
    assert type(in_keras.optimizer).__name__ == name
    assert int(_to_numpy(in_keras.optimizer.iterations)) == reloaded.optimizer.iterations == 2
    for theirs, ours, again in zip(
        in_keras.optimizer.variables,
        model.optimizer.variables,
        reloaded.optimizer.variables,
        strict=True,
    ):
        assert torch.equal(again, ours)
        np.testing.assert_array_equal(_to_numpy(theirs), _to_numpy(ours))
    # One more epoch in each lands on the same weights.
    for each in (model, reloaded, in_keras):
        each.fit(X, Y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for a, b, c in zip(
        model.get_weights(), reloaded.get_weights(), in_keras.get_weights(), strict=True
    ):
        np.testing.assert_array_equal(b, a)
        np.testing.assert_allclose(_to_numpy(c), a, rtol=RTOL, atol=ATOL)


def test_torch_loop_with_named_parameters_and_zero_grad() -> None:
    x, y = torch.randn(16, 3, generator=torch.Generator().manual_seed(1)), torch.ones(16, 1)
    for cls, lr in ((optimizers.Adadelta, 1.0), (optimizers.Lion, 0.01), (optimizers.Ftrl, 0.1)):
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
        opt = cls(learning_rate=lr)
        opt.build(net.named_parameters())
        before = torch.nn.functional.mse_loss(net(x), y).item()
        for _ in range(20):
            opt.zero_grad()
            torch.nn.functional.mse_loss(net(x), y).backward()
            opt.step()
        assert torch.nn.functional.mse_loss(net(x), y).item() < 0.9 * before, cls.__name__
        assert opt.iterations == 20


# ---------------------------------------------------------------------------------- GPU


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("Adadelta", {"learning_rate": 1.0, "weight_decay": 0.01, "use_ema": True}),
        ("Lion", {"clipnorm": 1.0, "gradient_accumulation_steps": 2}),
        ("Ftrl", {"learning_rate": 0.1, "l1_regularization_strength": 0.01, "beta": 0.1}),
    ],
)
def test_cuda_step_never_synchronises_and_matches_cpu(name: str, kwargs: dict[str, Any]) -> None:
    cpu_params = [torch.nn.Parameter(torch.tensor(w)) for w in _initial_weights()]
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
        np.testing.assert_allclose(_to_numpy(q), _to_numpy(p), rtol=RTOL, atol=ATOL)
