"""F-scores, R2Score and the IoU family against Keras 3 (torch backend).

Every metric and option is fed the same arrays as `keras.metrics`: one batch, then more,
with and without sample weights, then reset; configs round-trip both ways; and the metrics
run inside `compile(metrics=...)` with `fit`/`evaluate` against a Keras model holding the
same weights.

Tolerances: metric results and state within rtol=1e-6, atol=1e-7 (float32; the same torch
reductions in the same order, so results agree to the last bit except for float confusion
matrices, whose scatter-adds may sum duplicates in another order). Training histories within
rtol=1e-5, atol=1e-6 (the weights after a few SGD steps differ in the last bits).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import pytest
import torch

import convolve
from convolve import metrics
from convolve.layers.naming import reset_names

RTOL, ATOL = 1e-6, 1e-7
FIT_RTOL, FIT_ATOL = 1e-5, 1e-6
N, C = 8, 4


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    # Tiny inputs: one intra-op thread avoids thread-pool wake-ups dominating the run time.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _numpy(x: Any) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _batch(kind: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    if kind == "onehot":  # one-hot labels, scores with a zero row and a tie
        y_pred = rng.random((N, C)).astype("float32")
        y_pred[0] = 0.0
        y_pred[1, :2] = 0.9
        return np.eye(C, dtype="float32")[rng.integers(0, C, N)], y_pred
    if kind == "multilabel":
        return rng.integers(0, 2, (N, C)).astype("float32"), rng.random((N, C)).astype("float32")
    if kind == "binary":  # scores exactly at the thresholds used below
        y_pred = rng.random((N, 1)).astype("float32")
        y_pred[:3, 0] = [0.3, 0.5, 0.7]
        return rng.integers(0, 2, (N, 1)).astype("float32"), y_pred
    if kind == "regression":
        return rng.normal(size=(N, 3)).astype("float32"), rng.normal(size=(N, 3)).astype("float32")
    if kind == "regression_flat":  # labels without the output axis
        return rng.normal(size=(N,)).astype("float32"), rng.normal(size=(N, 1)).astype("float32")
    if kind == "sparse":  # class ids, including ids outside [0, C)
        y_true = rng.integers(-1, C + 1, N)
        return y_true, rng.integers(0, C, N)
    if kind == "sparse_scores":
        return rng.integers(0, C, N), rng.random((N, C)).astype("float32")
    if kind == "pixels":  # segmentation: ids per pixel, scores channels-last
        return rng.integers(0, C, (N, 3, 2)), rng.random((N, 3, 2, C)).astype("float32")
    if kind == "dense_both":
        labels = rng.integers(0, C, N)
        return np.eye(C, dtype="float32")[labels], rng.random((N, C)).astype("float32")
    if kind == "channels_first":  # one-hot on axis 1
        labels = rng.integers(0, C, (N, 3))
        return np.eye(C, dtype="float32")[labels].transpose(0, 2, 1), rng.random((N, C, 3)).astype(
            "float32"
        )
    if kind == "binary_scores":
        y_pred = rng.random((N, 2)).astype("float32")
        y_pred[0] = [0.5, 0.3]  # exactly at the thresholds used below
        return rng.integers(0, 2, (N, 2)), y_pred
    raise AssertionError(kind)


@dataclass(frozen=True)
class Case:
    name: str
    kwargs: dict[str, Any] = field(hash=False)
    data: str

    def __str__(self) -> str:
        args = ",".join(f"{k}={v}" for k, v in self.kwargs.items())
        return f"{self.name}({args})-{self.data}"


CASES = [
    Case("F1Score", {}, "onehot"),
    Case("F1Score", {"average": "micro"}, "onehot"),
    Case("F1Score", {"average": "macro", "threshold": 0.5}, "multilabel"),
    Case("F1Score", {"average": "weighted"}, "onehot"),
    Case("F1Score", {"threshold": 0.3}, "binary"),
    Case("FBetaScore", {}, "multilabel"),
    Case("FBetaScore", {"beta": 2.0, "threshold": 0.5}, "multilabel"),
    Case("FBetaScore", {"beta": 0.5, "average": "micro", "threshold": 0.6}, "multilabel"),
    Case("FBetaScore", {"beta": 2.0, "average": "macro"}, "onehot"),
    Case("FBetaScore", {"beta": 0.3, "average": "weighted", "threshold": 0.4}, "multilabel"),
    Case("FBetaScore", {"dtype": "float64", "average": "macro"}, "onehot"),
    Case("R2Score", {}, "regression"),
    Case("R2Score", {"class_aggregation": None}, "regression"),
    Case("R2Score", {"class_aggregation": "variance_weighted_average"}, "regression"),
    Case("R2Score", {"num_regressors": 2}, "regression"),
    Case("R2Score", {"class_aggregation": None, "num_regressors": 3}, "regression"),
    Case("R2Score", {}, "regression_flat"),
    Case("IoU", {"num_classes": C, "target_class_ids": [0]}, "sparse"),
    Case("IoU", {"num_classes": C, "target_class_ids": (1, 3), "ignore_class": 2}, "sparse"),
    Case("IoU", {"num_classes": C, "target_class_ids": [2, 0], "dtype": "float32"}, "pixels_ids"),
    Case("IoU", {"num_classes": C, "target_class_ids": [1], "sparse_y_pred": False}, "pixels"),
    Case(
        "IoU",
        {"num_classes": C, "target_class_ids": [0, 1], "sparse_y_true": False, "axis": 1},
        "channels_first_ids",
    ),
    Case("MeanIoU", {"num_classes": C}, "sparse"),
    Case("MeanIoU", {"num_classes": C, "dtype": "float32", "ignore_class": 0}, "sparse"),
    Case("MeanIoU", {"num_classes": C, "sparse_y_pred": False}, "sparse_scores"),
    Case("MeanIoU", {"num_classes": C, "sparse_y_pred": False, "dtype": "float32"}, "pixels"),
    Case(
        "MeanIoU",
        {"num_classes": C, "sparse_y_true": False, "sparse_y_pred": False, "dtype": "float64"},
        "dense_both",
    ),
    Case("BinaryIoU", {}, "binary"),
    Case("BinaryIoU", {"target_class_ids": [1], "threshold": 0.3}, "binary_scores"),
    Case("BinaryIoU", {"target_class_ids": (0,), "threshold": 0.7, "dtype": "float32"}, "binary"),
    Case("OneHotIoU", {"num_classes": C, "target_class_ids": [0, 2]}, "dense_both"),
    Case("OneHotIoU", {"num_classes": C, "target_class_ids": [3], "axis": 1}, "channels_first"),
    Case("OneHotMeanIoU", {"num_classes": C}, "dense_both"),
    Case("OneHotMeanIoU", {"num_classes": C, "dtype": "float32", "ignore_class": 1}, "dense_both"),
    Case("OneHotMeanIoU", {"num_classes": C, "sparse_y_pred": True}, "onehot_ids"),
]


def _case_batch(case: Case, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    if case.data == "pixels_ids":  # ids for both, some out of range
        return rng.integers(0, C, (N, 3, 2)), rng.integers(-1, C + 1, (N, 3, 2))
    if case.data == "channels_first_ids":  # one-hot labels on axis 1, ids predicted
        y_true, _ = _batch("channels_first", rng)
        return y_true, rng.integers(0, C, (N, 3))
    if case.data == "onehot_ids":
        y_true, _ = _batch("dense_both", rng)
        return y_true, rng.integers(0, C, N)
    return _batch(case.data, rng)


def _weights(case: Case, y_true: np.ndarray, step: int, rng: np.random.Generator) -> np.ndarray:
    """Per-sample weights, or per-label weights for the IoU family (as Keras expects)."""
    iou = "IoU" in case.name
    dense_true = iou and (
        case.name.startswith("OneHot") or case.kwargs.get("sparse_y_true") is False
    )
    shape: tuple[int, ...] = (N,)
    if iou:
        shape = (
            y_true.shape if not dense_true else y_true.sum(axis=case.kwargs.get("axis", -1)).shape
        )
    elif case.name == "R2Score" and step == 1:
        shape = (N, 3) if y_true.ndim == 2 and y_true.shape[1] == 3 else (N,)  # per element
    weight = rng.random(shape).astype("float32") * 2
    if iou and "float" not in str(case.kwargs.get("dtype", "int32")):
        weight = np.floor(weight * 2).astype("int32")  # an int confusion matrix truncates floats
    return weight


def _make(case: Case, name: str | None = None, oracle: bool = False) -> tuple[Any, Any]:
    """Our metric and Keras's. With `oracle`, Keras's takes the class axis last (its `result`
    fails for any other axis) and `_keras_view` moves the data's class axis there."""
    kwargs = dict(case.kwargs)
    if name is not None:
        kwargs["name"] = name
    keras_kwargs = {**kwargs, "axis": -1} if oracle and "axis" in kwargs else kwargs
    return getattr(metrics, case.name)(**kwargs), getattr(keras.metrics, case.name)(**keras_kwargs)


def _keras_view(case: Case, y_true: np.ndarray, y_pred: np.ndarray) -> tuple[Any, Any]:
    axis = case.kwargs.get("axis", -1)
    if axis == -1:
        return y_true, y_pred
    dense_true = case.name.startswith("OneHot") or case.kwargs.get("sparse_y_true") is False
    dense_pred = case.kwargs.get("sparse_y_pred", not case.name.startswith("OneHot")) is False
    return (
        np.moveaxis(y_true, axis, -1) if dense_true else y_true,
        np.moveaxis(y_pred, axis, -1) if dense_pred else y_pred,
    )


@pytest.mark.parity
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_metric_matches_keras(case: Case, weighted: bool) -> None:
    rng = np.random.default_rng(CASES.index(case))
    ours, theirs = _make(case, oracle=True)
    assert ours.name == theirs.name
    for step in range(3):
        y_true, y_pred = _case_batch(case, rng)
        weight = _weights(case, y_true, step, rng) if weighted else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Keras's adjusted-R2 fallback warnings
            theirs.update_state(*_keras_view(case, y_true, y_pred), sample_weight=weight)
            ours.update_state(
                torch.from_numpy(y_true),
                torch.from_numpy(y_pred),
                sample_weight=None if weight is None else torch.from_numpy(weight),
            )
            expected, result = _numpy(theirs.result()), ours.result()
        assert isinstance(result, torch.Tensor)
        assert result.shape == expected.shape
        np.testing.assert_allclose(_numpy(result), expected, rtol=RTOL, atol=ATOL)
    assert len(ours.variables) == len(theirs.variables)
    for mine, keras_variable in zip(ours.variables, theirs.variables, strict=True):
        assert mine.dtype == getattr(torch, keras_variable.dtype)
        np.testing.assert_allclose(_numpy(mine), _numpy(keras_variable.value), rtol=RTOL, atol=ATOL)
    ours.reset_state()
    theirs.reset_state()
    assert all(float(v.abs().sum()) == 0 for v in ours.variables)
    y_true, y_pred = _case_batch(case, rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs.update_state(*_keras_view(case, y_true, y_pred))
        ours.update_state(torch.from_numpy(y_true), torch.from_numpy(y_pred))
        expected = _numpy(theirs.result())
        np.testing.assert_allclose(_numpy(ours.result()), expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parity
@pytest.mark.parametrize("case", CASES, ids=str)
def test_config_roundtrip_and_keras_interop(case: Case) -> None:
    ours, theirs = _make(case, name="m")
    config = ours.get_config()
    assert config == theirs.get_config()
    assert list(config) == list(theirs.get_config())
    assert type(ours).from_config(config).get_config() == config
    assert metrics.deserialize(metrics.serialize(ours)).get_config() == config
    assert keras.metrics.deserialize(metrics.serialize(ours)).get_config() == config
    # Keras's own format (keras.metrics.serialize imports TensorFlow, which is slow to load).
    keras_format = {
        "module": "keras.metrics",
        "class_name": type(theirs).__name__,
        "config": theirs.get_config(),
        "registered_name": None,
    }
    from_keras = metrics.deserialize(keras_format)
    assert type(from_keras) is type(ours) and from_keras.get_config() == config


@pytest.mark.parity
def test_string_identifiers_match_keras() -> None:
    for name in ["f1_score", "F1Score", "f_beta_score", "FBetaScore", "r2_score", "R2Score"]:
        assert name in metrics.STRING_METRICS
        ours, theirs = metrics.get(name), keras.metrics.get(name)
        assert type(ours).__name__ == type(theirs).__name__
        assert ours.get_config() == theirs.get_config()
    for name in ["BinaryIoU", "binary_io_u"]:
        assert metrics.get(name).get_config() == keras.metrics.get(name).get_config()
    for name in ["IoU", "io_u", "MeanIoU", "mean_io_u", "OneHotIoU", "OneHotMeanIoU"]:
        assert name not in metrics.STRING_METRICS  # they need num_classes
        with pytest.raises(TypeError, match="num_classes"):
            metrics.get(name)
        with pytest.raises(TypeError, match="num_classes"):
            keras.metrics.get(name)
    for name in ["fbeta_score", "iou", "mean_iou", "r2"]:
        with pytest.raises(ValueError, match="Could not interpret metric identifier"):
            metrics.get(name)
        with pytest.raises(ValueError, match="Could not interpret metric identifier"):
            keras.metrics.get(name)
    config = {"class_name": "MeanIoU", "config": {"num_classes": 3, "name": "miou"}}
    assert metrics.get(config).get_config() == keras.metrics.get(config).get_config()
    assert metrics.F1Score is convolve.metrics.F1Score


def test_docstring_examples_run() -> None:
    import doctest

    from convolve.metrics import f_score, iou, r2

    for module in (f_score, iou, r2):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__


def test_known_values() -> None:
    """Worked examples (Keras's documentation values, checked by hand)."""
    y_true = torch.tensor([[1, 1, 1], [1, 0, 0], [1, 1, 0]])
    y_pred = torch.tensor([[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]])
    f1 = metrics.F1Score(threshold=0.5)
    f1.update_state(y_true, y_pred)
    np.testing.assert_allclose(_numpy(f1.result()), [0.5, 0.8, 2 / 3], rtol=1e-6)
    f2 = metrics.FBetaScore(beta=2.0, threshold=0.5)
    f2.update_state(y_true, y_pred)
    np.testing.assert_allclose(_numpy(f2.result()), [5 / 13, 10 / 11, 5 / 6], rtol=1e-6)
    r2 = metrics.R2Score()
    r2.update_state(torch.tensor([[1.0], [4.0], [3.0]]), torch.tensor([[2.0], [4.0], [4.0]]))
    assert float(r2.result()) == pytest.approx(1 - 2 / (14 / 3), rel=1e-6)
    iou = metrics.IoU(num_classes=2, target_class_ids=[0])
    iou.update_state([0, 0, 1, 1], [0, 1, 0, 1])
    assert float(iou.result()) == pytest.approx(1 / 3, rel=1e-6)
    mean_iou = metrics.MeanIoU(num_classes=2, dtype="float32")
    mean_iou.update_state([0, 0, 1, 1], [0, 1, 0, 1], sample_weight=[0.3, 0.3, 0.3, 0.1])
    assert float(mean_iou.result()) == pytest.approx((0.3 / 0.9 + 0.1 / 0.7) / 2, rel=1e-6)
    binary = metrics.BinaryIoU(target_class_ids=[0, 1], threshold=0.3, dtype="float32")
    binary.update_state([0, 1, 0, 1], [0.1, 0.2, 0.4, 0.7], sample_weight=[0.2, 0.3, 0.4, 0.1])
    assert float(binary.result()) == pytest.approx((0.2 / 0.9 + 0.1 / 0.8) / 2, rel=1e-6)
    one_hot_true = torch.tensor([[0, 0, 1], [1, 0, 0], [0, 1, 0], [1, 0, 0]])
    one_hot_pred = torch.tensor(
        [[0.2, 0.3, 0.5], [0.1, 0.2, 0.7], [0.5, 0.3, 0.1], [0.1, 0.4, 0.5]]
    )
    weights = torch.tensor([0.1, 0.2, 0.3, 0.4])
    one_hot = metrics.OneHotIoU(num_classes=3, target_class_ids=[0, 2], dtype="float32")
    one_hot.update_state(one_hot_true, one_hot_pred, sample_weight=weights)
    assert float(one_hot.result()) == pytest.approx((0 + 0.1 / 0.7) / 2, rel=1e-5)
    one_hot_mean = metrics.OneHotMeanIoU(num_classes=3, dtype="float32")
    one_hot_mean.update_state(one_hot_true, one_hot_pred, sample_weight=weights)
    assert float(one_hot_mean.result()) == pytest.approx((0 + 0 + 0.1 / 0.7) / 3, rel=1e-5)


def test_float_weights_on_an_int_matrix_warn_and_truncate_as_in_keras() -> None:
    ours, theirs = metrics.MeanIoU(num_classes=2), keras.metrics.MeanIoU(num_classes=2)
    weight = np.array([0.5, 1.5, 2.0, 0.9], dtype="float32")
    with pytest.warns(UserWarning, match="int"):
        ours.update_state(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 1, 1]), weight)
    with pytest.warns(UserWarning, match="int"):
        theirs.update_state(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), weight)
    assert ours.total_cm.numpy().tolist() == [[0, 1], [0, 2]]
    np.testing.assert_array_equal(ours.total_cm.numpy(), _numpy(theirs.total_cm.value))
    assert float(ours.result()) == pytest.approx(float(_numpy(theirs.result())), rel=1e-6)


def test_adjusted_r2_falls_back_with_a_warning_as_in_keras() -> None:
    y_true, y_pred = torch.tensor([[1.0], [4.0], [3.0]]), torch.tensor([[2.0], [4.0], [4.0]])
    for num_regressors, message in ((5, "More independent predictors"), (2, "Division by zero")):
        ours = metrics.R2Score(num_regressors=num_regressors)
        theirs = keras.metrics.R2Score(num_regressors=num_regressors)
        ours.update_state(y_true, y_pred)
        theirs.update_state(y_true.numpy(), y_pred.numpy())
        with pytest.warns(UserWarning, match=message):
            result = ours.result()
        with pytest.warns(UserWarning, match=message):
            expected = theirs.result()
        assert float(result) == pytest.approx(float(_numpy(expected)), rel=1e-6)
    ours = metrics.R2Score(num_regressors=1)
    ours.update_state(y_true, y_pred)
    assert float(ours.result()) == pytest.approx(1 - (1 - (1 - 2 / (14 / 3))) * 2 / 1, rel=1e-6)
    ours.reset_state()
    ours.update_state(y_true[:2], y_pred[:2])  # 2 samples, 1 regressor: the count restarted
    with pytest.warns(UserWarning, match="Division by zero"):
        ours.result()


def test_per_sample_weights_reach_every_pixel() -> None:
    """Weights of shape (batch,) cover every pixel of that sample (Keras needs per-pixel ones)."""
    rng = np.random.default_rng(3)
    y_true, y_pred = rng.integers(0, C, (N, 3, 2)), rng.integers(0, C, (N, 3, 2))
    per_sample = rng.integers(0, 3, N)
    per_pixel = np.broadcast_to(per_sample[:, None, None], y_true.shape).copy()
    a, b = metrics.MeanIoU(num_classes=C), metrics.MeanIoU(num_classes=C)
    a.update_state(torch.from_numpy(y_true), torch.from_numpy(y_pred), torch.from_numpy(per_sample))
    b.update_state(torch.from_numpy(y_true), torch.from_numpy(y_pred), torch.from_numpy(per_pixel))
    assert torch.equal(a.total_cm.value, b.total_cm.value)
    with pytest.raises(ValueError, match=r"sample_weight.shape=\(3,\)"):
        a.update_state(torch.from_numpy(y_true), torch.from_numpy(y_pred), torch.ones(3, dtype=int))


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda: metrics.F1Score(average="mean"), "average='mean'"),
        (lambda: metrics.FBetaScore(beta=0.0), "beta=0.0"),
        (lambda: metrics.FBetaScore(beta="2"), "beta='2'"),
        (lambda: metrics.FBetaScore(threshold=1.5), "threshold=1.5"),
        (lambda: metrics.F1Score(threshold=0.0), "threshold=0.0"),
        (lambda: metrics.R2Score(class_aggregation="mean"), "class_aggregation='mean'"),
        (lambda: metrics.R2Score(num_regressors=-1), "num_regressors=-1"),
        (lambda: metrics.R2Score(num_regressors=1.5), "num_regressors=1.5"),
        (lambda: metrics.IoU(num_classes=3, target_class_ids=[3]), r"target_class_ids=\[3\]"),
        (lambda: metrics.IoU(num_classes=3, target_class_ids=[-1]), r"target_class_ids=\[-1\]"),
        (lambda: metrics.IoU(num_classes=3, target_class_ids=[]), r"target_class_ids=\[\]"),
        (lambda: metrics.IoU(num_classes=3, target_class_ids=1), "target_class_ids=1"),
        (lambda: metrics.IoU(num_classes=0, target_class_ids=[0]), "num_classes=0"),
        (lambda: metrics.MeanIoU(num_classes=2.5), "num_classes=2.5"),
        (lambda: metrics.MeanIoU(num_classes=2, ignore_class="void"), "ignore_class='void'"),
        (lambda: metrics.MeanIoU(num_classes=2, sparse_y_true="no"), "sparse_y_true='no'"),
        (lambda: metrics.OneHotMeanIoU(num_classes=2, axis=None), "axis=None"),
        (lambda: metrics.BinaryIoU(target_class_ids=[2]), r"target_class_ids=\[2\]"),
        (lambda: metrics.BinaryIoU(threshold="half"), "threshold='half'"),
    ],
)
def test_bad_arguments_raise_one_clear_error(factory, match) -> None:
    with pytest.raises(ValueError, match=match):
        factory()


def test_bad_inputs_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match=r"2D inputs.*y_pred.shape=\(4,\)"):
        metrics.F1Score().update_state(torch.ones(4), torch.ones(4))
    with pytest.raises(ValueError, match=r"y_true.shape=\(4, 2\) and y_pred.shape=\(4, 3\)"):
        f1 = metrics.F1Score()
        f1.update_state(torch.ones(4, 3), torch.ones(4, 3))
        f1.update_state(torch.ones(4, 2), torch.ones(4, 3))
    with pytest.raises(ValueError, match=r"2D inputs.*\(4, 2, 2\)"):
        metrics.R2Score().update_state(torch.ones(4, 2, 2), torch.ones(4, 2, 2))
    with pytest.raises(ValueError, match="5 labels and 4 predictions"):
        metrics.MeanIoU(num_classes=2).update_state(torch.ones(5), torch.ones(4))


def test_before_any_update_results_are_zero_tensors() -> None:
    for case in CASES:
        ours, _ = _make(case)
        value = ours.result()
        assert isinstance(value, torch.Tensor)
        assert float(value.abs().sum()) == 0.0, case


def test_no_host_sync_and_state_follows_the_inputs() -> None:
    """On the meta device any read of a value (.item(), bool(), Python if) raises."""
    meta = torch.device("meta")
    rng = np.random.default_rng(0)
    for case in CASES:
        metric, _ = _make(case)
        y_true, y_pred = _case_batch(case, rng)
        weight = _weights(case, y_true, 0, rng)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            metric.update_state(
                torch.from_numpy(y_true).to(meta),
                torch.from_numpy(y_pred).to(meta),
                sample_weight=torch.from_numpy(weight).to(meta),
            )
            assert metric.result().device == meta, case
        assert all(v.device == meta for v in metric.variables), case
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            metric.update_state(y_true, y_pred)  # arrays join the state where it lives
        assert all(v.device == meta for v in metric.variables), case


def test_metrics_ignore_autograd() -> None:
    y_pred = torch.rand(4, 3, requires_grad=True)
    y_true = torch.eye(3)[[0, 1, 2, 0]]
    for metric in (metrics.F1Score(average="macro"), metrics.R2Score(), metrics.OneHotIoU(3, [1])):
        metric.update_state(y_true, y_pred)
        assert not metric.result().requires_grad


# ------------------------------------------------------------------------- compile, fit, evaluate


def _pair(build):
    theirs, ours = build(keras), build(convolve)
    ours.set_weights(theirs.get_weights())
    return ours, theirs


def _run(model, lib, metric_fn, loss, x, y, sample_weight):
    metric_list, weighted = metric_fn(lib)
    if loss == "sparse_logits":
        loss = lib.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(
        optimizer=lib.optimizers.SGD(0.1), loss=loss, metrics=metric_list, weighted_metrics=weighted
    )
    history = model.fit(
        x, y, sample_weight=sample_weight, epochs=2, batch_size=6, shuffle=False, verbose=0
    )
    evaluated = model.evaluate(
        x, y, sample_weight=sample_weight, batch_size=6, verbose=0, return_dict=True
    )
    return history.history, evaluated


def _assert_same_logs(ours: dict, theirs: dict) -> None:
    assert sorted(ours) == sorted(theirs)
    for key, expected in theirs.items():
        got = ours[key]
        if isinstance(expected, list):
            assert len(got) == len(expected), key
            for a, b in zip(got, expected, strict=True):
                np.testing.assert_allclose(_numpy(a), _numpy(b), rtol=FIT_RTOL, atol=FIT_ATOL)
        else:
            np.testing.assert_allclose(_numpy(got), _numpy(expected), rtol=FIT_RTOL, atol=FIT_ATOL)


RNG = np.random.default_rng(11)
X = RNG.normal(size=(12, 4)).astype("float32")
LABELS = RNG.integers(0, 3, 12)
SAMPLE_WEIGHT = RNG.random(12).astype("float32") + 0.5
PIXEL_WEIGHT = RNG.random((12, 3, 3)).astype("float32") + 0.5


def _classifier(lib):
    return lib.Sequential([lib.Input((4,)), lib.layers.Dense(3, activation="softmax")])


def _regressor(lib):
    return lib.Sequential([lib.Input((4,)), lib.layers.Dense(2)])


def _binary(lib):
    return lib.Sequential([lib.Input((4,)), lib.layers.Dense(1, activation="sigmoid")])


def _segmenter(lib):  # per-pixel logits: Dense acts on the channel axis
    return lib.Sequential([lib.Input((3, 3, 2)), lib.layers.Dense(3)])


def _classifier_metrics(lib):
    m = lib.metrics
    return [
        m.F1Score(),
        "f1_score",
        m.F1Score(average="macro", name="macro_f1"),
        m.FBetaScore(beta=2.0, average="weighted", threshold=0.4),
        m.OneHotIoU(num_classes=3, target_class_ids=[0, 2]),
        m.OneHotMeanIoU(num_classes=3),
        m.MeanIoU(num_classes=3, sparse_y_true=False, sparse_y_pred=False, dtype="float32"),
    ], [m.F1Score(average="micro"), m.OneHotMeanIoU(num_classes=3, dtype="float32")]


def _regressor_metrics(lib):
    m = lib.metrics
    return [
        "r2_score",
        m.R2Score(class_aggregation=None, name="r2_each"),
        m.R2Score(class_aggregation="variance_weighted_average", num_regressors=2, name="adj"),
    ], [m.R2Score()]


def _binary_metrics(lib):
    m = lib.metrics
    return [
        m.BinaryIoU(),
        m.BinaryIoU(target_class_ids=[1], threshold=0.3),
        "binary_io_u",
        m.F1Score(threshold=0.5),
    ], [m.BinaryIoU(dtype="float32")]


def _segmenter_metrics(lib):
    m = lib.metrics
    return [
        m.MeanIoU(num_classes=3, sparse_y_pred=False),
        m.IoU(num_classes=3, target_class_ids=[0], sparse_y_pred=False, ignore_class=2),
    ], [m.MeanIoU(num_classes=3, sparse_y_pred=False, dtype="float32")]


FIT_CASES = {
    "classifier": (_classifier, _classifier_metrics, "categorical_crossentropy", X,
                   np.eye(3, dtype="float32")[LABELS]),
    "regressor": (_regressor, _regressor_metrics, "mse", X,
                  RNG.normal(size=(12, 2)).astype("float32")),
    "binary": (_binary, _binary_metrics, "binary_crossentropy", X,
               (X[:, :1] > 0).astype("float32")),
    "segmenter": (_segmenter, _segmenter_metrics, "sparse_logits",
                  RNG.normal(size=(12, 3, 3, 2)).astype("float32"), RNG.integers(0, 3, (12, 3, 3))),
}  # fmt: skip


@pytest.mark.parity
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "sample_weight"])
@pytest.mark.parametrize("kind", list(FIT_CASES))
def test_compiled_metrics_match_keras_fit_and_evaluate(kind: str, weighted: bool) -> None:
    build, metric_fn, loss, x, y = FIT_CASES[kind]
    keras.backend.clear_session()  # both libraries number unnamed metrics from here on
    reset_names()
    ours, theirs = _pair(build)
    sample_weight = None
    if weighted:  # per-pixel weights for per-pixel losses, as Keras requires
        sample_weight = SAMPLE_WEIGHT if kind != "segmenter" else PIXEL_WEIGHT
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        their_history, their_eval = _run(theirs, keras, metric_fn, loss, x, y, sample_weight)
        our_history, our_eval = _run(ours, convolve, metric_fn, loss, x, y, sample_weight)
    _assert_same_logs(our_history, their_history)
    _assert_same_logs(our_eval, their_eval)
