"""Losses against Keras (torch backend): values, gradients, lookup, configs and bad input.

Parity tolerance is rtol = atol = 1e-6 in float32 throughout: the implementations follow
Keras's operation order (clip, renormalise, log; sum then divide by the element count), so
results agree to the last bit in practice and the tolerance only absorbs platform kernels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import pytest
import torch
from keras.src.trainers import compile_utils

from convolve import losses

RTOL = ATOL = 1e-6
N, C = 6, 5
REDUCTIONS = ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", None]


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    # These inputs are tiny; one intra-op thread avoids thread-pool wake-ups that dominate
    # the run time on busy machines. Restored afterwards for the other test modules.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _probs(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Random probabilities with exact 0s and 1s sprinkled in (Keras clips those)."""
    p = rng.random(shape).astype("float32")
    flat = p.reshape(-1)
    flat[::7] = 0.0
    flat[3::11] = 1.0
    return p


def _class_probs(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    p = _probs(rng, shape)
    p[..., 0] += 1e-3  # no all-zero rows
    return p


def _normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.normal(size=shape).astype("float32")


@dataclass(frozen=True)
class Case:
    """A loss class, its constructor arguments, and how to draw (y_true, y_pred)."""

    name: str
    kwargs: dict[str, Any] = field(hash=False)
    data: str

    def __str__(self) -> str:
        args = ",".join(f"{k}={v}" for k, v in self.kwargs.items())
        return f"{self.name}({args})-{self.data}"


def _data(kind: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, C, (N,))
    if kind == "sparse":
        return labels, _class_probs(rng, (N, C))
    if kind == "sparse_col":
        return labels[:, None], _class_probs(rng, (N, C))
    if kind == "sparse_int32":
        return labels.astype("int32"), _class_probs(rng, (N, C))
    if kind == "sparse_float":
        return labels.astype("float32"), _class_probs(rng, (N, C))
    if kind == "sparse_pixels":  # segmentation: (N, H, W) labels, (N, H, W, C) scores
        return rng.integers(0, C, (N, 3, 4)), _normal(rng, (N, 3, 4, C))
    if kind == "sparse_channels_first":
        return rng.integers(0, C, (N, 4)), _normal(rng, (N, C, 4))
    if kind == "onehot":
        return np.eye(C, dtype="float32")[labels], _class_probs(rng, (N, C))
    if kind == "onehot_channels_first":
        onehot = np.eye(C, dtype="float32")[rng.integers(0, C, (N, 4))]
        return np.moveaxis(onehot, -1, 1), _class_probs(rng, (N, C, 4))
    if kind == "binary":
        return rng.integers(0, 2, (N, 4)).astype("float32"), _probs(rng, (N, 4))
    if kind == "binary_col":  # (N,) labels against one sigmoid unit (N, 1)
        return rng.integers(0, 2, (N,)).astype("float32"), _probs(rng, (N, 1))
    if kind == "binary_logits":
        return rng.integers(0, 2, (N, 4)).astype("float32"), 3 * _normal(rng, (N, 4))
    if kind == "signed":
        return (2 * rng.integers(0, 2, (N, 4)) - 1).astype("float32"), _normal(rng, (N, 4))
    if kind == "regression":
        return _normal(rng, (N, 4)), _normal(rng, (N, 4))
    if kind == "regression_col":
        return _normal(rng, (N,)), _normal(rng, (N, 1))
    if kind == "positive":
        return 3 * _probs(rng, (N, C)), 2 * _probs(rng, (N, C))
    if kind == "distribution":
        return _probs(rng, (N, C)), _probs(rng, (N, C))
    raise AssertionError(kind)


CASES = [
    Case("SparseCategoricalCrossentropy", {}, "sparse"),
    Case("SparseCategoricalCrossentropy", {}, "sparse_col"),
    Case("SparseCategoricalCrossentropy", {}, "sparse_int32"),
    Case("SparseCategoricalCrossentropy", {}, "sparse_float"),
    Case("SparseCategoricalCrossentropy", {"from_logits": True}, "sparse"),
    Case("SparseCategoricalCrossentropy", {"ignore_class": 2}, "sparse"),
    Case("SparseCategoricalCrossentropy", {"ignore_class": 2, "from_logits": True}, "sparse"),
    Case("SparseCategoricalCrossentropy", {"from_logits": True}, "sparse_pixels"),
    Case("SparseCategoricalCrossentropy", {"ignore_class": 0}, "sparse_pixels"),
    Case(
        "SparseCategoricalCrossentropy", {"axis": 1, "from_logits": True}, "sparse_channels_first"
    ),
    Case("CategoricalCrossentropy", {}, "onehot"),
    Case("CategoricalCrossentropy", {"from_logits": True}, "onehot"),
    Case("CategoricalCrossentropy", {"label_smoothing": 0.1}, "onehot"),
    Case("CategoricalCrossentropy", {"label_smoothing": 0.2, "from_logits": True}, "onehot"),
    Case("CategoricalCrossentropy", {"axis": 1}, "onehot_channels_first"),
    Case("BinaryCrossentropy", {}, "binary"),
    Case("BinaryCrossentropy", {}, "binary_col"),
    Case("BinaryCrossentropy", {"from_logits": True}, "binary_logits"),
    Case("BinaryCrossentropy", {"label_smoothing": 0.1}, "binary"),
    Case("BinaryCrossentropy", {"axis": 0}, "binary"),
    Case("BinaryFocalCrossentropy", {}, "binary"),
    Case("BinaryFocalCrossentropy", {}, "binary_col"),
    Case("BinaryFocalCrossentropy", {"from_logits": True, "gamma": 1.5}, "binary_logits"),
    Case(
        "BinaryFocalCrossentropy",
        {"apply_class_balancing": True, "alpha": 0.4, "label_smoothing": 0.1},
        "binary",
    ),
    Case("MeanSquaredError", {}, "regression"),
    Case("MeanSquaredError", {}, "regression_col"),
    Case("MeanAbsoluteError", {}, "regression"),
    Case("MeanAbsoluteError", {}, "regression_col"),
    Case("MeanAbsolutePercentageError", {}, "regression"),
    Case("MeanSquaredLogarithmicError", {}, "regression"),
    Case("Huber", {}, "regression"),
    Case("Huber", {"delta": 0.3}, "regression"),
    Case("LogCosh", {}, "regression"),
    Case("Hinge", {}, "binary"),
    Case("Hinge", {}, "signed"),
    Case("Hinge", {}, "regression"),
    Case("SquaredHinge", {}, "binary"),
    Case("SquaredHinge", {}, "signed"),
    Case("CategoricalHinge", {}, "onehot"),
    Case("KLDivergence", {}, "distribution"),
    Case("Poisson", {}, "positive"),
    Case("CosineSimilarity", {}, "regression"),
    Case("CosineSimilarity", {"axis": 0}, "regression"),
]


def _to_numpy(x: Any) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _sample_weights(kind: str, seed: int) -> list[np.ndarray | None]:
    rng = np.random.default_rng(seed + 100)
    weights = [None, rng.random(N).astype("float32"), rng.random((N, 1)).astype("float32")]
    if kind == "sparse_pixels":  # segmentation: per-image and per-pixel weights
        weights.append(rng.random((N, 1, 1)).astype("float32"))
        weights.append(rng.random((N, 3, 4)).astype("float32"))
    return weights


@pytest.mark.parity
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_loss_matches_keras(case: Case, reduction: str | None) -> None:
    seed = CASES.index(case)
    y_true, y_pred = _data(case.data, seed)
    for sample_weight in _sample_weights(case.data, seed):
        keras_loss = getattr(keras.losses, case.name)(reduction=reduction, **case.kwargs)
        loss = getattr(losses, case.name)(reduction=reduction, **case.kwargs)
        sw = None if sample_weight is None else torch.from_numpy(sample_weight)
        try:
            # A copy: with ignore_class, Keras may scale the weights it is given in place.
            keep = None if sample_weight is None else sample_weight.copy()
            expected = keras_loss(y_true, y_pred, sample_weight=keep)
        except RuntimeError:
            if "ignore_class" in case.kwargs and sample_weight.ndim == y_true.ndim:
                # Keras multiplies (N, 1, 1) weights into the ignore_class mask in place,
                # which torch refuses; the intended value is that of per-pixel weights.
                full = np.broadcast_to(sample_weight, y_true.shape).copy()
                expected = keras_loss(y_true, y_pred, sample_weight=full)
            else:
                # Keras cannot broadcast these weights either; we say so in a ValueError.
                with pytest.raises(ValueError, match="does not broadcast"):
                    loss(torch.from_numpy(y_true), torch.from_numpy(y_pred), sample_weight=sw)
                continue
        got = loss(torch.from_numpy(y_true), torch.from_numpy(y_pred), sample_weight=sw)
        assert isinstance(got, torch.Tensor)
        assert got.dtype == torch.float32
        assert torch.isfinite(got).all()
        np.testing.assert_allclose(got.numpy(), _to_numpy(expected), rtol=RTOL, atol=ATOL)
        if reduction in ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight"):
            assert got.ndim == 0


FUNCTION_CASES = [
    ("sparse_categorical_crossentropy", {}, "sparse"),
    ("sparse_categorical_crossentropy", {"from_logits": True}, "sparse_pixels"),
    ("sparse_categorical_crossentropy", {"ignore_class": 1}, "sparse"),
    ("categorical_crossentropy", {"label_smoothing": 0.1}, "onehot"),
    ("categorical_crossentropy", {"from_logits": True}, "onehot"),
    ("binary_crossentropy", {}, "binary"),
    ("binary_crossentropy", {"from_logits": True, "label_smoothing": 0.2}, "binary_logits"),
    ("binary_focal_crossentropy", {"apply_class_balancing": True}, "binary"),
    ("mean_squared_error", {}, "regression"),
    ("mean_absolute_error", {}, "regression_col"),
    ("mean_absolute_percentage_error", {}, "regression"),
    ("mean_squared_logarithmic_error", {}, "regression"),
    ("huber", {"delta": 2.0}, "regression"),
    ("log_cosh", {}, "regression"),
    ("hinge", {}, "binary"),
    ("squared_hinge", {}, "signed"),
    ("categorical_hinge", {}, "onehot"),
    ("kl_divergence", {}, "distribution"),
    ("poisson", {}, "positive"),
    ("cosine_similarity", {"axis": 0}, "regression"),
]


@pytest.mark.parity
@pytest.mark.parametrize(("name", "kwargs", "data"), FUNCTION_CASES)
def test_loss_function_matches_keras(name: str, kwargs: dict[str, Any], data: str) -> None:
    y_true, y_pred = _data(data, 7)
    expected = getattr(keras.losses, name)(y_true, y_pred, **kwargs)
    got = getattr(losses, name)(torch.from_numpy(y_true), torch.from_numpy(y_pred), **kwargs)
    assert got.shape == tuple(expected.shape)
    np.testing.assert_allclose(got.numpy(), _to_numpy(expected), rtol=RTOL, atol=ATOL)


GRADIENT_CASES = [
    Case("SparseCategoricalCrossentropy", {"from_logits": True}, "sparse"),
    Case("SparseCategoricalCrossentropy", {}, "sparse"),
    Case("SparseCategoricalCrossentropy", {"ignore_class": 0, "from_logits": True}, "sparse"),
    Case("SparseCategoricalCrossentropy", {"ignore_class": 0}, "sparse_pixels"),
    Case("CategoricalCrossentropy", {"label_smoothing": 0.1}, "onehot"),
    Case("BinaryCrossentropy", {}, "binary"),
    Case("BinaryCrossentropy", {"from_logits": True}, "binary_logits"),
    Case("MeanSquaredError", {}, "regression"),
    Case("Huber", {}, "regression"),
]


@pytest.mark.parity
@pytest.mark.parametrize("case", GRADIENT_CASES, ids=str)
def test_loss_gradient_matches_keras(case: Case) -> None:
    """Training follows the gradient, so it must agree too (including at clipped probabilities)."""
    y_true, y_pred = _data(case.data, 3)
    ours = torch.tensor(y_pred, requires_grad=True)
    theirs = torch.tensor(y_pred, requires_grad=True)
    weight = np.linspace(0.5, 1.5, y_true.size, dtype="float32").reshape(y_true.shape)
    if case.data != "sparse_pixels":
        weight = weight.reshape(N, -1)[:, 0]  # one weight per sample
    getattr(losses, case.name)(**case.kwargs)(
        torch.from_numpy(y_true), ours, sample_weight=torch.from_numpy(weight)
    ).backward()
    try:
        getattr(keras.losses, case.name)(**case.kwargs)(
            # Copies: with ignore_class, Keras scales the weights it is given in place.
            torch.from_numpy(y_true),
            theirs,
            sample_weight=torch.tensor(weight),
        ).backward()
        expected = theirs.grad
    except RuntimeError as error:
        # Keras moves the class axis of (N, H, W, C) probabilities to position 1 and torch's
        # nll_loss backward rejects that strided layout; give Keras channels-first data.
        assert "contiguous" in str(error)
        channels_first = torch.tensor(np.moveaxis(y_pred, -1, 1).copy(), requires_grad=True)
        getattr(keras.losses, case.name)(axis=1, **case.kwargs)(
            torch.from_numpy(y_true), channels_first, sample_weight=torch.tensor(weight)
        ).backward()
        expected = channels_first.grad.movedim(1, -1)
    assert torch.isfinite(ours.grad).all()
    np.testing.assert_allclose(ours.grad.numpy(), expected.numpy(), rtol=RTOL, atol=ATOL)


def test_docstring_examples_run() -> None:
    import doctest

    result = doctest.testmod(losses)
    assert result.attempted > 0 and result.failed == 0


def test_known_values() -> None:
    """Keras's documented examples, computed by hand, independent of the oracle."""
    y_true = torch.tensor([1, 2])
    y_pred = torch.tensor([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
    # -(log(0.95) + log(0.1)) / 2
    expected = -(np.log(0.95) + np.log(0.1)) / 2
    got = losses.SparseCategoricalCrossentropy()(y_true, y_pred)
    np.testing.assert_allclose(float(got), expected, rtol=1e-6)
    weighted = losses.SparseCategoricalCrossentropy()(
        y_true, y_pred, sample_weight=torch.tensor([0.3, 0.7])
    )
    np.testing.assert_allclose(float(weighted), -(0.3 * np.log(0.95) + 0.7 * np.log(0.1)) / 2)
    # A probability of exactly 0 is clipped to 1e-7 before the log, not -inf.
    zero = losses.sparse_categorical_crossentropy(torch.tensor([2]), torch.tensor([[0.5, 0.5, 0]]))
    np.testing.assert_allclose(float(zero[0]), -np.log(np.float32(1e-7)), rtol=1e-6)
    mse = losses.MeanSquaredError()(torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 1.0]]))
    assert float(mse) == 0.5


def test_sparse_crossentropy_from_logits_equals_torch_cross_entropy() -> None:
    logits = torch.randn(16, 10)
    labels = torch.randint(0, 10, (16,))
    got = losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)
    torch.testing.assert_close(got, torch.nn.functional.cross_entropy(logits, labels))


def test_ignore_class_averages_over_valid_entries_only() -> None:
    labels = torch.tensor([0, 1, 255, 255])
    logits = torch.randn(4, 3)
    got = losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=255)(labels, logits)
    expected = torch.nn.functional.cross_entropy(logits[:2], labels[:2])
    torch.testing.assert_close(got, expected)


def test_inputs_are_not_modified() -> None:
    labels = torch.tensor([[0, 1], [2, 0]])
    scores = torch.rand(2, 2, 3)
    weights = torch.rand(2, 2)
    before = weights.clone(), labels.clone(), scores.clone()
    losses.SparseCategoricalCrossentropy(ignore_class=0)(labels, scores, sample_weight=weights)
    for original, now in zip(before, (weights, labels, scores), strict=True):
        assert torch.equal(original, now)


def test_inputs_as_numpy_and_lists() -> None:
    expected = losses.BinaryCrossentropy()(torch.tensor([[0.0, 1.0]]), torch.tensor([[0.2, 0.7]]))
    from_numpy = losses.BinaryCrossentropy()(np.array([[0.0, 1.0]]), np.array([[0.2, 0.7]]))
    from_lists = losses.BinaryCrossentropy()([[0, 1]], [[0.2, 0.7]])
    assert from_numpy.dtype == torch.float32  # Keras computes in the loss dtype (float32)
    torch.testing.assert_close(from_numpy, expected)
    torch.testing.assert_close(from_lists, expected)


def test_half_precision_predictions_are_computed_in_float32() -> None:
    logits = torch.randn(8, 4)
    labels = torch.randint(0, 4, (8,))
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    got = loss(labels, logits.to(torch.bfloat16))
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, loss(labels, logits.to(torch.bfloat16).float()))


def test_binary_crossentropy_runs_under_autocast() -> None:
    y_true = torch.randint(0, 2, (8, 1)).float()
    y_pred = torch.rand(8, 1)
    expected = losses.BinaryCrossentropy()(y_true, y_pred)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = losses.BinaryCrossentropy()(y_true, y_pred)
    torch.testing.assert_close(got, expected)


def test_no_host_sync_in_per_step_path() -> None:
    """On the meta device any read of a value (.item(), bool(), Python if) raises."""
    meta = torch.device("meta")
    for case in CASES:
        y_true, y_pred = _data(case.data, 0)
        y_true, y_pred = torch.from_numpy(y_true).to(meta), torch.from_numpy(y_pred).to(meta)
        per_sample = getattr(losses, case.name)(reduction=None, **case.kwargs)(y_true, y_pred)
        loss = getattr(losses, case.name)(**case.kwargs)
        got = loss(y_true, y_pred, sample_weight=torch.ones(per_sample.shape, device=meta))
        assert got.device == meta


# ----------------------------------------------------------------------------- lookup


def _keras_loss_strings() -> list[str]:
    from keras.src.losses import ALL_OBJECTS_DICT

    return sorted(ALL_OBJECTS_DICT)


@pytest.mark.parity
def test_get_strings_match_keras() -> None:
    supported = set(losses.STRING_LOSSES)
    keras_strings = set(_keras_loss_strings())
    assert supported <= keras_strings
    for name in [
        "mse",
        "MSE",
        "mae",
        "mape",
        "msle",
        "kld",
        "bce",
        "huber",
        "log_cosh",
        "sparse_categorical_crossentropy",
        "categorical_crossentropy",
        "binary_crossentropy",
        "mean_squared_error",
    ]:
        assert name in supported
    for name in sorted(supported):
        ours, theirs = losses.get(name), keras.losses.get(name)
        if isinstance(theirs, keras.losses.Loss):
            assert type(ours).__name__ == type(theirs).__name__, name
            assert ours.name == theirs.name, name
        else:
            assert ours.__name__ == theirs.__name__, name
    for name in ["crossentropy", "ce", "logcosh", "huber_loss", "nonsense"]:
        with pytest.raises(ValueError, match="Could not interpret loss identifier"):
            losses.get(name)


def test_get_other_identifiers() -> None:
    assert losses.get(None) is None
    instance = losses.Huber(delta=2.0)
    assert losses.get(instance) is instance
    assert isinstance(losses.get(losses.Poisson), losses.Poisson)
    assert losses.get(losses.mse) is losses.mean_squared_error
    config = {"class_name": "CategoricalCrossentropy", "config": {"from_logits": True}}
    assert losses.get(config).from_logits is True
    with pytest.raises(ValueError, match="Could not interpret loss identifier"):
        losses.get(3)


CONFIG_CASES = [(case.name, case.kwargs) for case in CASES] + [
    ("BinaryCrossentropy", {"reduction": "sum", "name": "bce"}),
    ("SparseCategoricalCrossentropy", {"reduction": None}),
]


@pytest.mark.parity
@pytest.mark.parametrize(("name", "kwargs"), CONFIG_CASES)
def test_config_roundtrip_and_keras_interop(name: str, kwargs: dict[str, Any]) -> None:
    loss = getattr(losses, name)(**kwargs)
    rebuilt = type(loss).from_config(loss.get_config())
    assert rebuilt.get_config() == loss.get_config()
    assert losses.deserialize(losses.serialize(loss)).get_config() == loss.get_config()
    # Keras reads our serialised form and agrees on every key it writes itself.
    theirs = keras.losses.deserialize(losses.serialize(loss))
    assert type(theirs).__name__ == name
    keras_config = theirs.get_config()
    ours = loss.get_config()
    # Keras leaves some arguments out (Huber's delta, ...); convolve writes them only when
    # they are not at their default, so that a save keeps them.
    kept = {k: ours[k] for k in type(loss)._keras_omits if k in ours}
    assert ours == {**keras_config, **kept}
    if not kwargs:
        assert not kept


@pytest.mark.parity
def test_serialize_matches_keras_format() -> None:
    assert losses.serialize(losses.MeanSquaredError()) == keras.losses.serialize(
        keras.losses.MeanSquaredError()
    )
    assert losses.serialize(losses.mean_squared_error) == keras.losses.serialize(
        keras.losses.mean_squared_error
    )
    assert losses.deserialize(losses.serialize(losses.huber)) is losses.huber


def test_loss_function_wrapper_config_roundtrip() -> None:
    wrapper = losses.LossFunctionWrapper(losses.huber, name="h", delta=0.5)
    rebuilt = losses.LossFunctionWrapper.from_config(wrapper.get_config())
    y_true, y_pred = torch.randn(4, 3), torch.randn(4, 3)
    assert rebuilt.fn is losses.huber and rebuilt.name == "h"
    torch.testing.assert_close(rebuilt(y_true, y_pred), wrapper(y_true, y_pred))
    torch.testing.assert_close(wrapper(y_true, y_pred), losses.Huber(delta=0.5)(y_true, y_pred))


def test_custom_loss_subclass() -> None:
    class Scaled(losses.Loss):
        def call(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
            return 2 * (y_true - y_pred).abs().mean(dim=-1)

    loss = Scaled(reduction="sum")
    assert loss.name.startswith("scaled")
    got = loss(torch.zeros(3, 2), torch.ones(3, 2), sample_weight=torch.tensor([1.0, 0.0, 1.0]))
    assert float(got) == 4.0


RESOLVE_SHAPES = [
    ((N,), (N, C)),
    ((N, 1), (N, C)),
    ((N, C), (N, C)),
    ((N,), (N, 1)),
    ((N, 1), (N, 1)),
    ((N, 3, 4), (N, 3, 4, C)),
    ((N, 3, 4, 1), (N, 3, 4, 1)),
]


@pytest.mark.parity
@pytest.mark.parametrize(("true_shape", "pred_shape"), RESOLVE_SHAPES)
def test_resolve_loss_matches_keras_compile(true_shape, pred_shape) -> None:
    y_true, y_pred = torch.zeros(true_shape), torch.zeros(pred_shape)
    for identifier in ["crossentropy", "ce", "CE", "mse", "mean_absolute_error", "Huber"]:
        theirs = compile_utils.get_loss(identifier, y_true, y_pred)
        ours = losses.resolve_loss(identifier, y_true, y_pred)
        assert isinstance(ours, losses.Loss)
        assert type(ours).__name__ == type(theirs).__name__
        assert ours.name == theirs.name
        assert ours.fn.__name__ == theirs.fn.__name__
    instance = losses.CategoricalCrossentropy(name="cce")
    assert losses.resolve_loss(instance, y_true, y_pred) is instance
    assert losses.resolve_loss(None, y_true, y_pred) is None
    wrapped = losses.resolve_loss(losses.poisson, y_true, y_pred)
    assert wrapped.name == "poisson" and wrapped.fn is losses.poisson


# ----------------------------------------------------------------------------- bad input


def test_check_targets_rejects_label_equal_to_num_classes() -> None:
    y_pred = torch.rand(4, 10)
    with pytest.raises(ValueError) as error:
        losses.check_targets("sparse_categorical_crossentropy", torch.tensor([1, 2, 10, 3]), y_pred)
    message = str(error.value)
    assert message.startswith("sparse_categorical_crossentropy: ")
    assert "[0, 9]" in message and "10 classes" in message
    assert "received label 10 at y_true[2]" in message
    assert "(labels range from 1 to 10)" in message


@pytest.mark.parametrize(
    ("y_true", "needle"),
    [
        (torch.tensor([[1], [2], [-1], [3]]), "received label -1 at y_true[2]"),
        (torch.tensor([1.0, 2.5, 3.0, 0.0]), "non-integer label 2.5 at y_true[1]"),
        (torch.tensor([0, 1, 2, 99], dtype=torch.uint8), "received label 99 at y_true[3]"),
    ],
)
def test_check_targets_rejects_bad_labels(y_true: torch.Tensor, needle: str) -> None:
    loss = losses.SparseCategoricalCrossentropy(from_logits=True, name="seg_loss")
    with pytest.raises(ValueError, match=re.escape(needle)) as error:
        losses.check_targets(loss, y_true, torch.randn(4, 10))
    assert str(error.value).startswith("seg_loss: expected integer class labels in [0, 9]")


def test_check_targets_accepts_valid_batches() -> None:
    y_pred = torch.rand(2, 3, 4, 10)
    labels = torch.randint(0, 10, (2, 3, 4))
    losses.check_targets("sparse_categorical_crossentropy", labels, y_pred)
    losses.check_targets("sparse_categorical_crossentropy", labels.float(), y_pred)
    losses.check_targets("sparse_categorical_crossentropy", labels[..., None], y_pred)
    labels[0, 0, 0] = 255
    losses.check_targets(losses.SparseCategoricalCrossentropy(ignore_class=255), labels, y_pred)
    with pytest.raises(ValueError, match="received label 255"):
        losses.check_targets(losses.SparseCategoricalCrossentropy(), labels, y_pred)
    losses.check_targets("binary_crossentropy", torch.ones(5), torch.rand(5, 1))
    losses.check_targets("mse", torch.ones(5, 1), torch.rand(5, 3))  # broadcasts, as in Keras
    losses.check_targets(lambda y_true, y_pred: y_pred.sum(), torch.ones(5), torch.rand(2))


@pytest.mark.parametrize(
    ("loss", "y_true", "y_pred", "needles"),
    [
        (
            "sparse_categorical_crossentropy",
            torch.eye(10)[:4],
            torch.rand(4, 10),
            [
                "integer labels of shape (4,)",
                "y_true.shape=(4, 10)",
                "use categorical_crossentropy",
            ],
        ),
        (
            "sparse_categorical_crossentropy",
            torch.tensor([1, 2, 3]),
            torch.rand(4, 10),
            ["integer labels of shape (4,)", "y_true.shape=(3,), y_pred.shape=(4, 10)"],
        ),
        (
            "categorical_crossentropy",
            torch.tensor([1, 2, 3, 3]),
            torch.rand(4, 10),
            ["same shape", "y_true.shape=(4,)", "use sparse_categorical_crossentropy"],
        ),
        (
            losses.BinaryCrossentropy(name="bce_out"),
            torch.ones(4),
            torch.rand(4, 10),
            ["bce_out: expected y_true and y_pred of the same shape", "y_pred.shape=(4, 10)"],
        ),
        (
            "mse",
            torch.ones(4, 3),
            torch.rand(4, 5),
            ["mse: expected y_true and y_pred of the same (or broadcastable) shape"],
        ),
    ],
)
def test_shape_mismatch_errors(loss: Any, y_true, y_pred, needles: list[str]) -> None:
    with pytest.raises(ValueError) as error:
        losses.check_targets(loss, y_true, y_pred)
    for needle in needles:
        assert needle in str(error.value)
    # The loss itself reports the same mismatch on every call (a shape check, no sync).
    resolved = losses.resolve_loss(loss, y_true, y_pred)
    with pytest.raises(ValueError, match="expected"):
        resolved(y_true, y_pred)


def test_invalid_reduction() -> None:
    with pytest.raises(ValueError, match="reduction='avg'"):
        losses.MeanSquaredError(reduction="avg")


def test_reductions_by_hand() -> None:
    values = torch.tensor([1.0, 2.0, 3.0, 6.0])
    weights = torch.tensor([1.0, 0.0, 1.0, 3.0])
    expected = {
        "sum_over_batch_size": 22 / 4,
        "mean": 22 / 4,
        "sum": 22.0,
        "mean_with_sample_weight": 22 / 5,
        None: [1.0, 0.0, 3.0, 18.0],
        "none": [1.0, 0.0, 3.0, 18.0],
    }
    for reduction, value in expected.items():
        got = losses.reduce_weighted_values(values, weights, reduction=reduction)
        np.testing.assert_allclose(got.numpy(), value, rtol=1e-6)
    assert (
        float(
            losses.reduce_weighted_values(
                values, torch.zeros(4), reduction="mean_with_sample_weight"
            )
        )
        == 0.0
    )


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_losses_do_not_synchronise_and_match_cpu() -> None:
    for case in CASES:
        y_true, y_pred = _data(case.data, 0)
        y_true, y_pred = torch.from_numpy(y_true), torch.from_numpy(y_pred)
        loss = getattr(losses, case.name)(**case.kwargs)
        expected = loss(y_true, y_pred)
        y_true, y_pred = y_true.cuda(), y_pred.cuda()
        torch.cuda.set_sync_debug_mode("error")
        try:
            got = loss(y_true, y_pred)
        finally:
            torch.cuda.set_sync_debug_mode("default")
        # GPU reductions sum in another order than the CPU's.
        np.testing.assert_allclose(got.cpu().numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
