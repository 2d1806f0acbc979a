"""Batch, Layer and Group normalization: parity with Keras, errors and configs."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

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
from convolve.layers.normalization import (
    BatchNormalization,
    GroupNormalization,
    LayerNormalization,
)

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


# --------------------------------------------------------------------- layer normalization
_LN_SHAPES = {2: (4, 6), 3: (3, 5, 6), 4: (2, 5, 4, 6), 5: (2, 3, 4, 3, 6)}
_LN_OPTIONS = [dict(), dict(center=False), dict(scale=False, epsilon=1e-5), dict(epsilon=0.1)]


def _trailing(axis, rank: int) -> bool:
    """Whether Keras's torch backend can run `axis`: it must end at the last axis."""
    axes = sorted(a % rank for a in ([axis] if isinstance(axis, int) else axis))
    return axes == list(range(axes[0], rank))


def layer_norm_cases() -> list[Case]:
    cases = []
    for rank, shape in _LN_SHAPES.items():
        axes: list = [-1]
        if rank >= 3:
            axes += [[1, 2] if rank == 3 else [1, 2, 3], [-2, -1], 1, [1, rank - 1]]
        if rank == 5:
            axes += [[2, 3], -3]
        for i, axis in enumerate(axes):
            cases.append(Case("LayerNormalization", dict(axis=axis, **_LN_OPTIONS[i % 4]), shape))
    cases.append(Case("LayerNormalization", dict(axis=-1, rms_scaling=True), _LN_SHAPES[4]))
    cases.append(Case("LayerNormalization", dict(axis=[1, 2], rms_scaling=True), _LN_SHAPES[3]))
    return cases


def numpy_layer_norm(x: np.ndarray, layer: Any, rms: bool = False) -> np.ndarray:
    """Keras's formula in float64: per-sample mean and biased variance over the axes."""
    x = x.astype(np.float64)
    axes = tuple(sorted(a % x.ndim for a in layer.axis))
    shape = [x.shape[d] if d in axes else 1 for d in range(x.ndim)]
    weights = {n: w for n, w in zip(["gamma", "beta"], _affine_weights(layer), strict=False)}
    mean, variance = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    y = (x if rms else x - mean) / np.sqrt(variance + layer.epsilon)
    if weights.get("gamma") is not None:
        y = y * weights["gamma"].reshape(shape)
    if weights.get("beta") is not None:
        y = y + weights["beta"].reshape(shape)
    return y


def _affine_weights(layer: Any) -> list:
    arrays = iter(layer.get_weights())
    gamma = next(arrays) if layer.gamma is not None else None
    beta = next(arrays) if layer.beta is not None else None
    return [gamma, beta]


LN_GRID = layer_norm_cases()


@pytest.mark.parity
@pytest.mark.filterwarnings("ignore:You passed `rms_scaling=True`:UserWarning")
@pytest.mark.filterwarnings("ignore:LayerNormalization\\(rms_scaling=True\\):UserWarning")
@pytest.mark.parametrize("case", LN_GRID, ids=lambda c: c.id)
def test_layer_norm_parity(case: Case) -> None:
    rank = len(case.input_shape)
    rms = case.kwargs.get("rms_scaling", False)
    if _trailing(case.kwargs["axis"], rank) or rms:
        check_parity(case, reference=lambda x: _reference_of(case, x))
        return
    # Keras 3.15.1's torch backend hands these axes to F.layer_norm, which needs trailing
    # axes, and fails; shapes and weights are still compared with Keras, values with NumPy.
    keras_layer, ours = build_pair(case)
    check_static(keras_layer, ours, case)
    x = random_array(case.input_shape, 9)
    got = to_numpy(ours(torch.from_numpy(x)))
    assert max_abs_diff(got, numpy_layer_norm(x, ours)) <= ATOL


def _reference_of(case: Case, x: np.ndarray) -> np.ndarray:
    _, ours = build_pair(case)
    return numpy_layer_norm(x, ours, rms=case.kwargs.get("rms_scaling", False))


def test_layer_norm_grid_covers_axes_keras_cannot_run() -> None:
    ranks_and_axes = [(len(c.input_shape), c.kwargs["axis"]) for c in LN_GRID]
    assert any(not _trailing(a, r) for r, a in ranks_and_axes)
    assert any(_trailing(a, r) and r >= 3 and a != -1 for r, a in ranks_and_axes)


@pytest.mark.parity
def test_layer_norm_gradients_match_keras() -> None:
    case = Case("LayerNormalization", dict(axis=[1, 2, 3]), (2, 3, 4, 5))
    keras_layer, ours = build_pair(case)
    x, target = random_array(case.input_shape, 1), random_array(case.input_shape, 2)
    grads = []
    for layer in (keras_layer, ours):
        xt = torch.from_numpy(x).requires_grad_(True)
        (torch.as_tensor(layer(xt)) * torch.from_numpy(target)).sum().backward()
        grads.append(xt.grad.numpy())
    assert max_abs_diff(grads[0], grads[1]) <= 1e-4
    assert max_abs_diff(keras_layer.gamma.value.grad.numpy(), ours.gamma.grad.numpy()) <= 1e-4


def test_layer_norm_defaults_and_axis_after_build() -> None:
    layer = LayerNormalization()
    assert layer.epsilon == 1e-3 and layer.axis == -1
    x = torch.tensor([[0.0, 2.0, 4.0]])
    expected = (x - 2.0) / torch.sqrt(torch.tensor(8.0 / 3.0 + 1e-3))  # biased variance
    torch.testing.assert_close(layer(x), expected)
    assert layer.axis == [-1]  # Keras stores the sorted list once built
    images = LayerNormalization(axis=[3, 1])
    images.build_for((None, 5, 4, 3))
    assert images.axis == [1, 3]
    assert [w.shape for w in images.get_weights()] == [(5, 3), (5, 3)]


def test_layer_norm_half_precision_in_float32() -> None:
    layer = LayerNormalization()
    layer.build_for((None, 3, 3, 8))
    x = torch.randn(4, 8, 3, 3) * 20 + 50  # engine layout, as between layers of a model
    y = layer.engine_call(x.to(torch.bfloat16))
    assert y.dtype == torch.bfloat16
    assert (y.float() - layer.engine_call(x)).abs().max().item() < 0.05


def test_layer_norm_rms_scaling_warns_and_has_no_beta() -> None:
    with pytest.warns(UserWarning, match="rms_scaling=True"):
        layer = LayerNormalization(rms_scaling=True)
    layer.build_for((None, 4))
    assert [name for name, _ in layer.named_parameters()] == ["gamma"]
    assert layer.get_config()["rms_scaling"] is True


def test_layer_norm_config_matches_keras_and_round_trips() -> None:
    import keras

    layer = LayerNormalization(axis=[1, 2], epsilon=1e-5, center=False, name="ln")
    theirs = keras.layers.LayerNormalization(axis=[1, 2], epsilon=1e-5, center=False)
    assert set(layer.get_config()) == set(theirs.get_config())
    config = json.loads(json.dumps(layer.get_config()))
    assert config["axis"] == [1, 2] and config["epsilon"] == 1e-5
    assert LayerNormalization.from_config(config).get_config() == layer.get_config()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(axis="last"), "axis must be an int or a list of ints, received axis='last'"),
        (dict(axis=[1, 1]), "axis must not repeat an axis"),
        (dict(epsilon=-1.0), "epsilon=-1.0"),
        (dict(scale="no"), "scale='no'"),
        (dict(beta_initializer="nope"), "beta_initializer='nope'"),
    ],
)
def test_layer_norm_constructor_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match="^LayerNormalization: ") as info:
        LayerNormalization(**kwargs)
    assert message in str(info.value)


def test_layer_norm_axis_errors_name_the_layer() -> None:
    with pytest.raises(ValueError, match="'ln_axis' \\(LayerNormalization\\): axis=3 must"):
        LayerNormalization(axis=3, name="ln_axis")(torch.zeros(2, 4, 5))
    with pytest.raises(ValueError, match="axis=0 must name a non-batch axis"):
        LayerNormalization(axis=0).compute_output_shape((None, 4))
    with pytest.raises(ValueError, match="names an axis twice"):
        LayerNormalization(axis=[-1, 2]).build_for((None, 4, 5))


# --------------------------------------------------------------------- group normalization
def group_norm_cases() -> list[Case]:
    cases = []
    options = [dict(), dict(center=False), dict(scale=False, epsilon=1e-5)]
    index = 0
    for rank, shape in _LN_SHAPES.items():  # 6 channels on the last axis
        for groups in (1, 2, 3, 6, -1):
            cases.append(
                Case("GroupNormalization", dict(groups=groups, **options[index % 3]), shape)
            )
            index += 1
        if rank >= 3:  # channels on another axis
            axis, size = (1, shape[1]) if rank != 4 else (-2, shape[-2])
            cases.append(Case("GroupNormalization", dict(groups=size, axis=axis), shape))
            cases.append(Case("GroupNormalization", dict(groups=1, axis=axis), shape))
    return cases


@pytest.mark.parity
@pytest.mark.parametrize("case", group_norm_cases(), ids=lambda c: c.id)
def test_group_norm_parity(case: Case) -> None:
    check_parity(case)


@pytest.mark.parity
def test_group_norm_gradients_match_keras() -> None:
    case = Case("GroupNormalization", dict(groups=2), (2, 3, 4, 6))
    keras_layer, ours = build_pair(case)
    x, target = random_array(case.input_shape, 1), random_array(case.input_shape, 2)
    grads = []
    for layer in (keras_layer, ours):
        xt = torch.from_numpy(x).requires_grad_(True)
        (torch.as_tensor(layer(xt)) * torch.from_numpy(target)).sum().backward()
        grads.append(xt.grad.numpy())
    assert max_abs_diff(grads[0], grads[1]) <= 1e-4
    assert max_abs_diff(keras_layer.beta.value.grad.numpy(), ours.beta.grad.numpy()) <= 1e-4


def test_group_norm_against_numpy() -> None:
    layer = GroupNormalization(groups=2, epsilon=0.0)
    x = random_array((2, 3, 3, 4), 0).astype(np.float64)
    y = to_numpy(layer(torch.from_numpy(x)))
    groups = x.reshape(2, 3, 3, 2, 2)
    mean = groups.mean(axis=(1, 2, 4), keepdims=True)
    std = groups.std(axis=(1, 2, 4), keepdims=True)
    np.testing.assert_allclose(y, ((groups - mean) / std).reshape(x.shape), atol=1e-6)


def test_group_norm_instance_mode_and_defaults() -> None:
    layer = GroupNormalization(groups=-1)
    assert layer.epsilon == 1e-3 and GroupNormalization().groups == 32
    layer.build_for((None, 4, 4, 5))
    assert layer.groups == 5  # set to the channel count, as Keras does
    assert layer.get_config()["groups"] == 5
    assert layer.count_params() == 10


def test_group_norm_config_matches_keras_and_round_trips() -> None:
    import keras

    layer = GroupNormalization(groups=4, axis=1, center=False, gamma_regularizer="l2")
    theirs = keras.layers.GroupNormalization(groups=4, axis=1, center=False)
    assert set(layer.get_config()) == set(theirs.get_config())
    config = json.loads(json.dumps(layer.get_config()))
    assert GroupNormalization.from_config(config).get_config() == layer.get_config()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(groups=0), "groups=0"),
        (dict(groups=2.5), "groups=2.5"),
        (dict(axis=None), "axis=None"),
        (dict(epsilon="small"), "epsilon='small'"),
    ],
)
def test_group_norm_constructor_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match="^GroupNormalization: ") as info:
        GroupNormalization(**kwargs)
    assert message in str(info.value)


def test_group_norm_groups_must_divide_channels() -> None:
    with pytest.raises(ValueError) as info:
        GroupNormalization(groups=4, name="gn")(torch.zeros(2, 3, 3, 6))
    text = str(info.value)
    assert "Layer 'gn' (GroupNormalization): groups=4 must divide" in text
    assert "has 6 channels" in text and "(None, 3, 3, 6)" in text
    with pytest.raises(ValueError, match="groups=8 must divide.*has 6 channels"):
        GroupNormalization(groups=8).build_for((None, 6))
    with pytest.raises(ValueError, match="axis=3 must name a non-batch axis"):
        GroupNormalization(groups=1, axis=3).build_for((None, 4, 6))


@pytest.mark.parametrize("shape", [(32, 48, 48, 16), (4, 8, 24, 24, 8)])
def test_batch_statistics_of_large_feature_maps_are_as_accurate_as_keras(shape):
    # torch's fused channels-last kernel is off by ~1e-3 here; Keras by ~3e-6.
    rng = np.random.default_rng(0)
    x = np.maximum(rng.standard_normal(shape) * 0.5 + 0.3, 0).astype("float32")
    axes = tuple(range(len(shape) - 1))
    x64 = x.astype(np.float64)
    mean, var = x64.mean(axes), x64.var(axes)
    expected = (x64 - mean) / np.sqrt(var + 1e-3)
    layer = BatchNormalization()
    inputs = torch.from_numpy(x).requires_grad_()
    y = layer(inputs, training=True)
    assert np.abs(y.detach().numpy() - expected).max() < 2e-5
    np.testing.assert_allclose(layer.moving_mean.numpy(), 0.01 * mean, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(layer.moving_variance.numpy(), 0.99 + 0.01 * var, rtol=1e-6)
    # Gradients against float64 autograd of the same formula.
    upstream = rng.standard_normal(shape)
    y.backward(torch.from_numpy(upstream.astype("float32")))
    x_ref = torch.from_numpy(x64).requires_grad_()
    dims = list(axes)
    m = x_ref.mean(dim=dims, keepdim=True)
    v = ((x_ref - m) ** 2).mean(dim=dims, keepdim=True)
    ((x_ref - m) / torch.sqrt(v + 1e-3)).backward(torch.from_numpy(upstream))
    scale = x_ref.grad.abs().max().item()
    assert (inputs.grad.double() - x_ref.grad).abs().max().item() < 1e-5 * scale
