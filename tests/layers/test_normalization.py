"""BatchNormalization: parity with Keras in inference and training, errors and configs."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from parity_grid import (
    ATOL,
    Case,
    batchnorm_cases,
    build_pair,
    check_parity,
    check_static,
    max_abs_diff,
    random_array,
    to_numpy,
)

from convolve import regularizers
from convolve.layers.normalization import BatchNormalization

# Keras 3.15.1 converts its tensors with a NumPy 1 idiom that NumPy 2 warns about.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

GRID = list(batchnorm_cases())


@pytest.mark.parity
@pytest.mark.parametrize("case", GRID, ids=lambda c: c.id)
def test_inference_parity(case: Case) -> None:
    check_parity(case)


def _train_steps(case: Case, steps: int = 3, **extra) -> None:
    """Runs both layers in training mode on the same batches, comparing after each step."""
    keras_layer, ours = build_pair(case, **extra)
    for step in range(steps):
        # Batches with a non-zero mean and a non-unit scale, so the statistics matter.
        x = 2.0 * random_array(case.input_shape, 100 + step) + 0.5
        expected = to_numpy(keras_layer(x, training=True))
        got = to_numpy(ours(torch.from_numpy(x), training=True))
        assert got.shape == expected.shape
        diff = max_abs_diff(got, expected)
        assert diff <= ATOL, f"step {step}: max abs output difference {diff:.3g} > {ATOL}"
        names = [w.path.split("/")[-1] for w in keras_layer.weights]
        for name, a, b in zip(names, ours.get_weights(), keras_layer.get_weights(), strict=True):
            diff = max_abs_diff(a, b)
            assert diff <= ATOL, f"step {step}: {name} differ by {diff:.3g}"
    check_static(keras_layer, ours, case)
    # Inference afterwards uses the updated moving statistics, as in Keras.
    x = random_array(case.input_shape, 7)
    diff = max_abs_diff(to_numpy(ours(torch.from_numpy(x))), to_numpy(keras_layer(x)))
    assert diff <= ATOL


@pytest.mark.parity
@pytest.mark.parametrize("case", GRID, ids=lambda c: c.id)
def test_training_parity(case: Case) -> None:
    _train_steps(case)


@pytest.mark.parity
def test_training_with_one_value_per_feature() -> None:
    # torch's fused kernel refuses a batch of one; Keras returns beta (variance 0).
    _train_steps(Case("BatchNormalization", dict(momentum=0.8), (1, 5)))


@pytest.mark.parity
def test_frozen_layer_always_runs_in_inference_mode() -> None:
    case = Case("BatchNormalization", dict(), (4, 5, 5, 3))
    keras_layer, ours = build_pair(case)
    keras_layer.trainable = False
    ours.trainable = False
    before = ours.get_weights()
    x = random_array(case.input_shape, 11)
    expected = to_numpy(keras_layer(x, training=True))
    got = to_numpy(ours(torch.from_numpy(x), training=True))
    assert max_abs_diff(got, expected) <= ATOL
    for a, b in zip(before, ours.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert ours.trainable_weights == []
    assert len(ours.non_trainable_weights) == 4


@pytest.mark.parity
def test_training_gradients_match_keras() -> None:
    case = Case("BatchNormalization", dict(), (4, 3, 3, 2))
    keras_layer, ours = build_pair(case)
    x = random_array(case.input_shape, 5)
    target = random_array(case.input_shape, 6)
    grads = []
    for layer in (keras_layer, ours):
        xt = torch.from_numpy(x).requires_grad_(True)
        y = torch.as_tensor(layer(xt, training=True))
        (y * torch.from_numpy(target)).sum().backward()
        grads.append(xt.grad.numpy())
    assert max_abs_diff(grads[0], grads[1]) <= 1e-4
    assert max_abs_diff(keras_layer.gamma.value.grad.numpy(), ours.gamma.grad.numpy()) <= 1e-4


def test_moving_variance_uses_biased_batch_variance() -> None:
    layer = BatchNormalization(momentum=0.0)
    x = torch.tensor([[1.0], [3.0]])
    layer(x, training=True)
    assert layer.moving_mean.item() == pytest.approx(2.0)
    assert layer.moving_variance.item() == pytest.approx(1.0)  # unbiased would be 2.0


def test_inference_is_the_default() -> None:
    layer = BatchNormalization()
    x = torch.randn(8, 4) * 3 + 1
    torch.testing.assert_close(layer(x), x / np.sqrt(1 + 1e-3))
    assert layer.moving_mean.abs().max().item() == 0.0


def test_weights_are_parameters_and_buffers() -> None:
    layer = BatchNormalization(center=False)
    layer.build_for((None, 4, 4, 3))
    assert [name for name, _ in layer.named_parameters()] == ["gamma"]
    assert [name for name, _ in layer.named_buffers()] == ["moving_mean", "moving_variance"]
    assert layer.beta is None
    assert set(layer.state_dict()) == {"gamma", "moving_mean", "moving_variance"}


def test_half_precision_statistics_in_float32() -> None:
    layer = BatchNormalization()
    layer.build_for((None, 6))
    x = torch.randn(16, 6) * 50 + 100
    y = layer.engine_call(x.to(torch.bfloat16), training=True)
    assert y.dtype == torch.bfloat16
    reference = BatchNormalization()(x, training=True)
    assert (y.float() - reference).abs().max().item() < 0.05
    assert layer.moving_mean.dtype == torch.float32


def test_config_round_trip() -> None:
    layer = BatchNormalization(
        axis=1,
        momentum=0.9,
        epsilon=1e-5,
        center=False,
        gamma_initializer="random_normal",
        gamma_regularizer=regularizers.L2(0.1),
        name="bn",
    )
    config = json.loads(json.dumps(layer.get_config()))
    assert config["axis"] == 1 and config["momentum"] == 0.9 and config["synchronized"] is False
    assert config["renorm"] is False
    clone = BatchNormalization.from_config(config)
    assert clone.get_config() == layer.get_config()


# --------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(axis="last"), "axis must be an integer, received axis='last'"),
        (dict(momentum=1.5), "momentum=1.5"),
        (dict(epsilon=-1.0), "epsilon=-1.0"),
        (dict(center="no"), "center='no'"),
        (dict(renorm=True), "renorm=True"),
        (dict(gamma_initializer="nope"), "gamma_initializer='nope'"),
    ],
)
def test_constructor_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match="^BatchNormalization: ") as info:
        BatchNormalization(**kwargs)
    assert message in str(info.value)


def test_bad_axis_names_the_layer() -> None:
    with pytest.raises(ValueError, match="'bn_axis' \\(BatchNormalization\\): axis=3"):
        BatchNormalization(axis=3, name="bn_axis")(torch.zeros(2, 4, 5))
    with pytest.raises(ValueError, match="axis=0 must name a non-batch axis"):
        BatchNormalization(axis=0)(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="expected rank >= 2"):
        BatchNormalization()(torch.zeros(3))


# --------------------------------------------------------------------- synchronized
_WORKER = textwrap.dedent(
    """
    import sys
    import numpy as np
    import torch
    import torch.distributed as dist
    from convolve.layers.normalization import BatchNormalization

    rank, store, data = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    arrays = np.load(data)
    x = torch.from_numpy(arrays["x"][rank * 3 : rank * 3 + 3]).requires_grad_(True)
    w = torch.from_numpy(arrays["w"][rank * 3 : rank * 3 + 3])
    layer = BatchNormalization(synchronized=True, momentum=0.5)
    layer.build_for((None, 4, 2))
    layer.set_weights([arrays["gamma"], arrays["beta"], np.zeros(2, "f4"), np.ones(2, "f4")])
    y = layer(x, training=True)
    (y * w).sum().backward()
    np.savez(
        data.replace(".npz", f"_{rank}.npz"),
        y=y.detach().numpy(), grad=x.grad.numpy(),
        mean=layer.moving_mean.numpy(), var=layer.moving_variance.numpy(),
    )
    dist.destroy_process_group()
    """
)


def test_synchronized_statistics_span_processes(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    arrays = {
        "x": (rng.standard_normal((6, 4, 2)) * 2 + 1).astype(np.float32),
        "w": rng.standard_normal((6, 4, 2)).astype(np.float32),
        "gamma": rng.standard_normal(2).astype(np.float32),
        "beta": rng.standard_normal(2).astype(np.float32),
    }
    data = tmp_path / "data.npz"
    np.savez(data, **arrays)
    root = Path(__file__).resolve().parents[2]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(rank), str(tmp_path / "store"), str(data)],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for rank in (0, 1)
    ]
    for proc in procs:
        output, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, output.decode()[-3000:]
    # One process holding the whole batch is the reference.
    layer = BatchNormalization(momentum=0.5)
    layer.build_for((None, 4, 2))
    layer.set_weights([arrays["gamma"], arrays["beta"], np.zeros(2), np.ones(2)])
    x = torch.from_numpy(arrays["x"]).requires_grad_(True)
    y = layer(x, training=True)
    (y * torch.from_numpy(arrays["w"])).sum().backward()
    for rank in (0, 1):
        part = np.load(tmp_path / f"data_{rank}.npz")
        rows = slice(rank * 3, rank * 3 + 3)
        assert max_abs_diff(part["y"], y.detach().numpy()[rows]) <= ATOL
        assert max_abs_diff(part["grad"], x.grad.numpy()[rows]) <= 1e-4
        assert max_abs_diff(part["mean"], layer.moving_mean.numpy()) <= ATOL
        assert max_abs_diff(part["var"], layer.moving_variance.numpy()) <= ATOL
