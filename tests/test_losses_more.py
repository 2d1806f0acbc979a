"""CategoricalFocalCrossentropy, Dice and Tversky against Keras (torch backend), and
NumPy inputs with negative strides.

Parity tolerance is rtol = atol = 1e-6 in float32: the losses follow Keras's operation
order (a tensor exponent for the focal term, sums then one division), so values agree
to the last bit on CPU in practice; the tolerance absorbs other platforms' kernels.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest
import torch

import convolve
from convolve import losses, metrics
from convolve.losses._tensors import to_tensor

# Keras's own tensor-to-NumPy conversion warns under NumPy 2; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

RTOL = ATOL = 1e-6
N, C = 6, 5
REDUCTIONS = ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", None, "none"]


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    # Tiny inputs; one intra-op thread avoids thread-pool wake-ups on busy machines.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _to_numpy(x: Any) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _data(kind: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if kind == "onehot":
        p = rng.random((N, C)).astype("float32")
        p.reshape(-1)[::7] = 0.0  # exact zeros: Keras clips them
        p[:, 0] += 1e-3
        return np.eye(C, dtype="float32")[rng.integers(0, C, N)], p
    if kind == "onehot_logits":
        return np.eye(C, dtype="float32")[rng.integers(0, C, N)], 3 * rng.normal(
            size=(N, C)
        ).astype("float32")
    if kind == "onehot_pixels":  # (N, H, W, C) segmentation scores
        labels = np.eye(C, dtype="float32")[rng.integers(0, C, (N, 3, 4))]
        return labels, rng.random((N, 3, 4, C)).astype("float32") + 1e-3
    if kind == "soft":  # soft labels that sum to one
        t = rng.random((N, C)).astype("float32")
        return t / t.sum(-1, keepdims=True), rng.random((N, C)).astype("float32") + 1e-3
    if kind == "mask":  # binary masks (N, H, W, 1) against probabilities
        t = (rng.random((N, 4, 4, 1)) > 0.5).astype("float32")
        return t, rng.random((N, 4, 4, 1)).astype("float32")
    if kind == "mask_flat":
        t = (rng.random((N, 8)) > 0.6).astype("float32")
        return t, rng.random((N, 8)).astype("float32")
    raise AssertionError(kind)


CASES = [
    ("CategoricalFocalCrossentropy", {}, "onehot"),
    ("CategoricalFocalCrossentropy", {"alpha": 0.5, "gamma": 0.0}, "onehot"),
    ("CategoricalFocalCrossentropy", {"gamma": 1.5, "from_logits": True}, "onehot_logits"),
    ("CategoricalFocalCrossentropy", {"label_smoothing": 0.1, "gamma": 3.0}, "onehot"),
    ("CategoricalFocalCrossentropy", {"alpha": [0.1, 0.2, 0.3, 0.2, 0.2]}, "onehot"),
    ("CategoricalFocalCrossentropy", {"alpha": [0.4, 0.1, 0.1, 0.2, 0.2]}, "onehot_pixels"),
    ("CategoricalFocalCrossentropy", {"from_logits": True, "label_smoothing": 0.2}, "soft"),
    ("Dice", {}, "mask"),
    ("Dice", {"axis": (1, 2, 3)}, "mask"),
    ("Dice", {"axis": [1, 2]}, "mask"),
    ("Dice", {"axis": 1}, "mask_flat"),
    ("Tversky", {}, "mask"),
    ("Tversky", {"alpha": 0.3, "beta": 0.7, "axis": (1, 2, 3)}, "mask"),
    ("Tversky", {"alpha": 0.9, "beta": 0.1, "axis": -1}, "mask_flat"),
]


def _case_id(case: tuple[str, dict[str, Any], str]) -> str:
    name, kwargs, data = case
    return f"{name}({','.join(f'{k}={v}' for k, v in kwargs.items())})-{data}"


def _sample_weights(per_sample_shape: tuple[int, ...], seed: int) -> list[np.ndarray | None]:
    rng = np.random.default_rng(seed + 100)
    weights: list[np.ndarray | None] = [None, rng.random(N).astype("float32")]
    if len(per_sample_shape) == 1:
        weights.append(rng.random((N, 1)).astype("float32"))
    elif len(per_sample_shape) > 1:  # per image, and per pixel
        weights.append(rng.random((N,) + (1,) * (len(per_sample_shape) - 1)).astype("float32"))
        weights.append(rng.random(per_sample_shape).astype("float32"))
    return weights


@pytest.mark.parity
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_loss_matches_keras(case: tuple[str, dict[str, Any], str], reduction: str | None) -> None:
    name, kwargs, data = case
    seed = CASES.index(case)
    y_true, y_pred = _data(data, seed)
    ours = getattr(losses, name)(reduction=reduction, **kwargs)
    theirs = getattr(keras.losses, name)(reduction=reduction, **kwargs)
    per_sample = getattr(losses, name)(reduction=None, **kwargs)(y_true, y_pred)
    for sample_weight in _sample_weights(tuple(per_sample.shape), seed):
        sw = None if sample_weight is None else torch.from_numpy(sample_weight)
        unaligned = per_sample.ndim > 1 and per_sample.shape[-1] != 1
        if unaligned and sample_weight is not None and sample_weight.ndim == 1:
            # (N,) weights against (N, H, W) losses: Keras fails to broadcast; we say why.
            with pytest.raises(RuntimeError):
                theirs(y_true, y_pred, sample_weight=sample_weight)
            with pytest.raises(ValueError, match="does not broadcast"):
                ours(torch.from_numpy(y_true), torch.from_numpy(y_pred), sample_weight=sw)
            continue
        expected = theirs(y_true, y_pred, sample_weight=sample_weight)
        got = ours(torch.from_numpy(y_true), torch.from_numpy(y_pred), sample_weight=sw)
        assert isinstance(got, torch.Tensor) and got.dtype == torch.float32
        assert got.shape == tuple(expected.shape)
        assert torch.isfinite(got).all()
        np.testing.assert_allclose(got.numpy(), _to_numpy(expected), rtol=RTOL, atol=ATOL)


FUNCTION_CASES = [
    ("categorical_focal_crossentropy", {}, "onehot"),
    ("categorical_focal_crossentropy", {"alpha": 1.0, "gamma": 0.5}, "soft"),
    ("categorical_focal_crossentropy", {"from_logits": True, "label_smoothing": 0.1}, "onehot"),
    ("categorical_focal_crossentropy", {"alpha": [0.2] * C}, "onehot_pixels"),
    ("dice", {}, "mask"),
    ("dice", {"axis": (1, 2, 3)}, "mask"),
    ("tversky", {}, "mask_flat"),
    ("tversky", {"alpha": 0.2, "beta": 0.8, "axis": (1, 2)}, "mask"),
]


@pytest.mark.parity
@pytest.mark.parametrize(("name", "kwargs", "data"), FUNCTION_CASES)
def test_loss_function_matches_keras(name: str, kwargs: dict[str, Any], data: str) -> None:
    y_true, y_pred = _data(data, 11)
    expected = getattr(keras.losses, name)(y_true, y_pred, **kwargs)
    got = getattr(losses, name)(torch.from_numpy(y_true), torch.from_numpy(y_pred), **kwargs)
    assert got.shape == tuple(expected.shape)
    np.testing.assert_allclose(got.numpy(), _to_numpy(expected), rtol=RTOL, atol=ATOL)


@pytest.mark.parity
@pytest.mark.parametrize(
    ("name", "kwargs", "data"),
    [
        ("CategoricalFocalCrossentropy", {"label_smoothing": 0.1}, "onehot"),
        ("CategoricalFocalCrossentropy", {"from_logits": True, "gamma": 1.5}, "onehot_logits"),
        ("Dice", {"axis": (1, 2, 3)}, "mask"),
        ("Tversky", {"alpha": 0.3, "beta": 0.7}, "mask"),
    ],
)
def test_loss_gradient_matches_keras(name: str, kwargs: dict[str, Any], data: str) -> None:
    y_true, y_pred = _data(data, 5)
    ours = torch.tensor(y_pred, requires_grad=True)
    theirs = torch.tensor(y_pred, requires_grad=True)
    weight = np.linspace(0.5, 1.5, N, dtype="float32")
    getattr(losses, name)(**kwargs)(
        torch.from_numpy(y_true), ours, sample_weight=torch.from_numpy(weight)
    ).backward()
    getattr(keras.losses, name)(**kwargs)(
        torch.from_numpy(y_true), theirs, sample_weight=torch.tensor(weight)
    ).backward()
    assert torch.isfinite(ours.grad).all() and ours.grad.abs().max() > 0
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=RTOL, atol=ATOL)


def test_known_values() -> None:
    """Keras's documented examples, independent of the oracle."""
    y_true = [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    y_pred = [[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]]
    cfce = losses.CategoricalFocalCrossentropy
    np.testing.assert_allclose(float(cfce()(y_true, y_pred)), 0.23315276, rtol=1e-6)
    np.testing.assert_allclose(
        float(cfce()(y_true, y_pred, sample_weight=np.array([0.3, 0.7]))), 0.1632, rtol=1e-4
    )
    np.testing.assert_allclose(float(cfce(reduction="sum")(y_true, y_pred)), 0.46631, rtol=1e-5)
    np.testing.assert_allclose(
        cfce(reduction=None)(y_true, y_pred).numpy(), [3.2058331e-05, 4.6627346e-01], rtol=1e-6
    )
    masks = [[[[1.0], [1.0]], [[0.0], [0.0]]], [[[1.0], [1.0]], [[0.0], [0.0]]]]
    scores = [[[[0.0], [1.0]], [[0.0], [1.0]]], [[[0.4], [0.0]], [[0.0], [0.9]]]]
    per_image = losses.Dice(axis=(1, 2, 3), reduction=None)(masks, scores)
    np.testing.assert_allclose(per_image.numpy(), [0.5, 0.75757575], rtol=1e-6)
    np.testing.assert_allclose(float(losses.dice(masks, scores)), 0.6164384, rtol=1e-6)
    # alpha = beta = 0.5 is the Dice loss.
    np.testing.assert_allclose(
        losses.tversky(masks, scores, axis=(1, 2, 3)).numpy(), per_image.numpy(), rtol=1e-6
    )


def test_per_class_alpha_follows_the_class_axis() -> None:
    # Channels-first scores with per-class weights give the channels-last values.
    y_true, y_pred = _data("onehot_pixels", 2)
    alpha = [0.4, 0.1, 0.1, 0.2, 0.2]
    expected = keras.losses.CategoricalFocalCrossentropy(alpha=alpha, reduction=None)(
        y_true, y_pred
    )
    first = losses.CategoricalFocalCrossentropy(alpha=alpha, axis=1, reduction=None)(
        np.moveaxis(y_true, -1, 1), np.moveaxis(y_pred, -1, 1)
    )
    np.testing.assert_allclose(first.numpy(), _to_numpy(expected), rtol=RTOL, atol=ATOL)
    with pytest.raises(ValueError, match=r"one weight per class, 5 .* received 3 weights"):
        losses.categorical_focal_crossentropy(y_true, y_pred, alpha=[0.1, 0.2, 0.3])
    expected = float(losses.CategoricalFocalCrossentropy(alpha=alpha)(y_true, y_pred))
    for array in (np.array(alpha, dtype="float32"), torch.tensor(alpha)):
        as_array = losses.CategoricalFocalCrossentropy(alpha=array)
        assert isinstance(as_array.get_config()["alpha"], list)  # JSON-serialisable
        np.testing.assert_allclose(float(as_array(y_true, y_pred)), expected, rtol=1e-6)


def test_half_precision_predictions_are_computed_in_float32() -> None:
    y_true, y_pred = _data("onehot", 3)
    for loss in (losses.CategoricalFocalCrossentropy(), losses.Dice(), losses.Tversky()):
        low = torch.from_numpy(y_pred).to(torch.bfloat16)
        got = loss(torch.from_numpy(y_true), low)
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, loss(torch.from_numpy(y_true), low.float()))


def test_no_host_sync_in_per_step_path() -> None:
    """On the meta device any read of a value (.item(), bool(), Python if) raises."""
    meta = torch.device("meta")
    for name, kwargs, data in CASES:
        y_true, y_pred = (torch.from_numpy(a).to(meta) for a in _data(data, 0))
        per_sample = getattr(losses, name)(reduction=None, **kwargs)(y_true, y_pred)
        got = getattr(losses, name)(**kwargs)(
            y_true, y_pred, sample_weight=torch.ones(per_sample.shape, device=meta)
        )
        assert got.device == meta


# ------------------------------------------------------------------- negative strides


@pytest.mark.parametrize(
    "loss",
    [
        losses.MeanSquaredError(),
        losses.BinaryCrossentropy(),
        losses.CategoricalCrossentropy(),
        losses.SparseCategoricalCrossentropy(),
        losses.CategoricalFocalCrossentropy(),
        losses.Dice(axis=1),
        losses.Tversky(),
    ],
    ids=lambda loss: type(loss).__name__,
)
def test_reversed_numpy_inputs_give_the_values_of_their_copies(loss: Any) -> None:
    y_true, y_pred = _data("onehot", 4)
    if isinstance(loss, losses.SparseCategoricalCrossentropy):
        y_true = y_true.argmax(-1)
    weight = np.linspace(0.2, 1.0, N, dtype="float32")
    for flip in (lambda a: a[::-1], np.flip):
        t, p, w = flip(y_true), flip(y_pred), weight[::-1]
        assert any(s < 0 for s in p.strides) and any(s < 0 for s in w.strides)
        expected = loss(t.copy(), p.copy(), sample_weight=w.copy())
        got = loss(t, p, sample_weight=w)
        np.testing.assert_array_equal(_to_numpy(got), _to_numpy(expected))


def test_only_reversed_arrays_are_copied() -> None:
    base = np.arange(24, dtype="float32").reshape(4, 6)
    for view in (base, base[::2], base[:, 1::3], base.T):
        assert to_tensor(view).data_ptr() == view.ctypes.data  # shared, not copied
    for view in (base[::-1], np.flip(base), base[:, ::-2]):
        converted = to_tensor(view)
        assert not np.shares_memory(converted.numpy(), base)
        np.testing.assert_array_equal(converted.numpy(), view)


def test_reversed_numpy_inputs_in_functions_and_metrics() -> None:
    y_true, y_pred = _data("onehot", 6)
    expected = losses.categorical_focal_crossentropy(y_true[::-1].copy(), y_pred[::-1].copy())
    got = losses.categorical_focal_crossentropy(y_true[::-1], np.flip(y_pred, axis=0))
    np.testing.assert_array_equal(got.numpy(), expected.numpy())
    np.testing.assert_array_equal(
        losses.mse(np.flip(y_true), np.flip(y_pred)).numpy(),
        losses.mse(np.flip(y_true).copy(), np.flip(y_pred).copy()).numpy(),
    )
    for metric, truth in [
        (metrics.MeanSquaredError, y_true),
        (metrics.CategoricalAccuracy, y_true),
        (metrics.SparseCategoricalAccuracy, y_true.argmax(-1)),
    ]:
        reversed_, copied = metric(), metric()
        reversed_.update_state(truth[::-1], y_pred[::-1], sample_weight=np.arange(N)[::-1])
        copied.update_state(
            truth[::-1].copy(), y_pred[::-1].copy(), sample_weight=np.arange(N)[::-1].copy()
        )
        assert float(reversed_.result()) == float(copied.result())
    keras_value = keras.losses.MeanSquaredError()(y_true[::-1].copy(), y_pred[::-1].copy())
    np.testing.assert_allclose(
        float(losses.MeanSquaredError()(y_true[::-1], y_pred[::-1])),
        float(_to_numpy(keras_value)),
        rtol=RTOL,
    )


# ---------------------------------------------------------------------- config, lookup


CONFIG_CASES = [(name, kwargs) for name, kwargs, _ in CASES] + [
    ("CategoricalFocalCrossentropy", {"reduction": "sum", "name": "focal", "axis": 1}),
    ("Dice", {"reduction": None, "name": "d"}),
    ("Tversky", {"reduction": "mean_with_sample_weight", "alpha": 0.1}),
]


@pytest.mark.parity
@pytest.mark.parametrize(("name", "kwargs"), CONFIG_CASES)
def test_config_matches_keras_and_round_trips(name: str, kwargs: dict[str, Any]) -> None:
    loss = getattr(losses, name)(**kwargs)
    keras_loss = getattr(keras.losses, name)(**kwargs)
    assert loss.get_config() == keras_loss.get_config()
    assert loss.name == keras_loss.name
    rebuilt = type(loss).from_config(loss.get_config())
    assert type(rebuilt) is type(loss) and rebuilt.get_config() == loss.get_config()
    assert losses.deserialize(losses.serialize(loss)).get_config() == loss.get_config()
    theirs = keras.losses.deserialize(losses.serialize(loss))
    assert type(theirs).__name__ == name and theirs.get_config() == loss.get_config()
    from_keras = losses.deserialize(
        {"module": "keras.losses", "class_name": name, "config": keras_loss.get_config()}
    )
    assert from_keras.get_config() == loss.get_config()
    for key, value in kwargs.items():
        if key not in ("reduction", "name"):
            assert getattr(loss, key) == value


@pytest.mark.parity
@pytest.mark.parametrize(
    "identifier",
    [
        "categorical_focal_crossentropy",
        "CategoricalFocalCrossentropy",
        "dice",
        "Dice",
        "tversky",
        "Tversky",
    ],
)
def test_string_identifiers_match_keras(identifier: str) -> None:
    assert identifier in losses.STRING_LOSSES
    ours, theirs = losses.get(identifier), keras.losses.get(identifier)
    if isinstance(theirs, keras.losses.Loss):
        assert type(ours).__name__ == type(theirs).__name__ and ours.name == theirs.name
        assert ours.get_config() == theirs.get_config()
    else:
        assert ours.__name__ == theirs.__name__
        # Keras's format for built-in functions (its serializer imports TensorFlow).
        assert losses.serialize(ours) == {
            "module": "builtins",
            "class_name": "function",
            "config": theirs.__name__,
            "registered_name": "function",
        }
        assert losses.deserialize(losses.serialize(ours)) is ours


@pytest.mark.parity
@pytest.mark.parametrize(
    ("loss", "y"),
    [
        ("categorical_focal_crossentropy", "onehot"),
        (lambda lib: lib.losses.CategoricalFocalCrossentropy(alpha=0.5, gamma=1.0), "onehot"),
        ("dice", "probs"),
        (lambda lib: lib.losses.Tversky(alpha=0.3, beta=0.7, axis=-1), "probs"),
    ],
    ids=["cfce-string", "cfce", "dice-string", "tversky"],
)
def test_training_with_the_loss_matches_keras(loss: Any, y: str) -> None:
    rng = np.random.default_rng(9)
    x = rng.normal(size=(16, 4)).astype("float32")
    target = np.eye(3, dtype="float32")[rng.integers(0, 3, 16)]

    def build(lib: Any) -> Any:
        activation = "softmax" if y == "onehot" else "sigmoid"
        model = lib.Sequential([lib.Input((4,)), lib.layers.Dense(3, activation=activation)])
        model.compile(optimizer=lib.optimizers.SGD(0.5), loss=loss(lib) if callable(loss) else loss)
        return model

    theirs, ours = build(keras), build(convolve)
    ours.set_weights(theirs.get_weights())
    k_history = theirs.fit(x, target, batch_size=8, epochs=3, shuffle=False, verbose=0)
    c_history = ours.fit(x, target, batch_size=8, epochs=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(
        c_history.history["loss"], k_history.history["loss"], rtol=1e-5, atol=1e-6
    )
    assert c_history.history["loss"][-1] < c_history.history["loss"][0]
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, _to_numpy(b), rtol=1e-5, atol=1e-6)


def test_check_targets_and_shape_errors() -> None:
    y_true, y_pred = _data("onehot", 1)
    losses.check_targets("categorical_focal_crossentropy", y_true, y_pred)
    losses.check_targets(losses.Dice(), y_true, y_pred)
    labels = y_true.argmax(-1)
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy for integer labels"):
        losses.check_targets(losses.CategoricalFocalCrossentropy(), labels, y_pred)
    with pytest.raises(ValueError, match=r"categorical_focal_crossentropy: expected"):
        losses.CategoricalFocalCrossentropy()(labels, y_pred)
    with pytest.raises(ValueError, match=r"dice: expected .* y_true.shape=\(6, 4\)"):
        losses.dice(np.ones((6, 4)), y_pred)
    with pytest.raises(ValueError, match=r"tversky: expected"):
        losses.Tversky()(np.ones((6, 4)), y_pred)


@pytest.mark.parity
def test_edge_cases_match_keras() -> None:
    y_true, y_pred = _data("mask_flat", 8)
    # An empty axis tuple sums nothing: one value per element, as in Keras.
    got = losses.dice(y_true, y_pred, axis=())
    np.testing.assert_allclose(
        got.numpy(), _to_numpy(keras.losses.dice(y_true, y_pred, axis=())), rtol=RTOL, atol=ATOL
    )
    assert got.shape == y_true.shape
    # One class: Keras warns (binary crossentropy fits better) and computes anyway.
    one_true, one_pred = np.ones((4, 1), "float32"), np.full((4, 1), 0.3, "float32")
    with pytest.warns(SyntaxWarning, match="binary_crossentropy"):
        got = losses.categorical_focal_crossentropy(one_true, one_pred)
    with pytest.warns(SyntaxWarning):
        expected = keras.losses.categorical_focal_crossentropy(one_true, one_pred)
    np.testing.assert_allclose(got.numpy(), _to_numpy(expected), rtol=RTOL, atol=ATOL)
    with pytest.raises(ValueError, match=r"class axis 2 inside y_pred.*y_pred.shape=\(6, 8\)"):
        losses.categorical_focal_crossentropy(y_true, y_pred, axis=2)
    with pytest.raises(ValueError, match="rank >= 1"):
        losses.categorical_focal_crossentropy(1.0, 0.5)


# ---------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    "make, fragments",
    [
        (lambda: losses.CategoricalFocalCrossentropy(gamma=-1.0), ["`gamma`", "gamma=-1.0"]),
        (lambda: losses.CategoricalFocalCrossentropy(alpha="x"), ["`alpha`", "alpha='x'"]),
        (lambda: losses.CategoricalFocalCrossentropy(alpha=[]), ["alpha=[]"]),
        (lambda: losses.CategoricalFocalCrossentropy(alpha=[0.5, -0.1]), ["alpha=[0.5, -0.1]"]),
        (
            lambda: losses.CategoricalFocalCrossentropy(label_smoothing=1.5),
            ["`label_smoothing`", "label_smoothing=1.5"],
        ),
        (
            lambda: losses.CategoricalFocalCrossentropy(from_logits="yes"),
            ["`from_logits`", "from_logits='yes'"],
        ),
        (lambda: losses.CategoricalFocalCrossentropy(axis=1.0), ["`axis`", "axis=1.0"]),
        (lambda: losses.CategoricalFocalCrossentropy(axis=True), ["axis=True"]),
        (
            lambda: losses.CategoricalFocalCrossentropy(reduction="avg"),
            ["`reduction`", "reduction='avg'"],
        ),
        (lambda: losses.Dice(axis="hw"), ["Dice", "`axis`", "axis='hw'"]),
        (lambda: losses.Dice(axis=(1, 2.5)), ["axis=(1, 2.5)"]),
        (lambda: losses.Tversky(alpha=-0.5), ["Tversky", "`alpha`", "alpha=-0.5"]),
        (lambda: losses.Tversky(beta=float("inf")), ["`beta`", "beta=inf"]),
        (
            lambda: losses.categorical_focal_crossentropy([[0.0, 1.0]], [[0.3, 0.7]], gamma=-2),
            ["categorical_focal_crossentropy", "gamma=-2"],
        ),
        (lambda: losses.tversky([1.0], [1.0], beta=-1), ["tversky", "beta=-1"]),
        (lambda: losses.dice([1.0], [1.0], axis="x"), ["dice", "axis='x'"]),
    ],
)
def test_argument_errors_name_the_argument_and_value(make: Any, fragments: list[str]) -> None:
    with pytest.raises(ValueError) as info:
        make()
    for fragment in fragments:
        assert fragment in str(info.value)


def test_all_argument_errors_are_reported_at_once() -> None:
    with pytest.raises(ValueError) as info:
        losses.CategoricalFocalCrossentropy(alpha=-1, gamma=-1, label_smoothing=2)
    for fragment in ["alpha=-1", "gamma=-1", "label_smoothing=2"]:
        assert fragment in str(info.value)


# ---------------------------------------------------------------------------------- GPU


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_losses_do_not_synchronise_and_match_cpu() -> None:
    for name, kwargs, data in CASES:
        y_true, y_pred = (torch.from_numpy(a) for a in _data(data, 0))
        loss = getattr(losses, name)(**kwargs)
        expected = loss(y_true, y_pred)
        y_true, y_pred = y_true.cuda(), y_pred.cuda()
        loss(y_true, y_pred)  # first call builds the per-device constants
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            got = loss(y_true, y_pred)
        finally:
            torch.cuda.set_sync_debug_mode("default")
        np.testing.assert_allclose(got.cpu().numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
