"""Metrics against Keras (torch backend): streaming results, names, configs and compile strings.

Parity tolerance is rtol = atol = 1e-6 in float32: state is accumulated with Keras's
operation order (per-sample values, weighted sum, then division; bucketed cumulative sums for
AUC), so results agree to the last bit in practice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import pytest
import torch
from keras.src.trainers import compile_utils

from convolve import losses, metrics

RTOL = ATOL = 1e-6
N, C = 8, 5


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    # Tiny inputs: one intra-op thread avoids thread-pool wake-ups dominating the run time.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _batch(kind: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    if kind == "sparse":
        return rng.integers(0, C, (N,)), rng.random((N, C)).astype("float32")
    if kind == "sparse_col":
        return rng.integers(0, C, (N, 1)), rng.random((N, C)).astype("float32")
    if kind == "sparse_pixels":
        return rng.integers(0, C, (N, 3, 2)), rng.random((N, 3, 2, C)).astype("float32")
    if kind == "onehot":
        labels = rng.integers(0, C, (N,))
        return np.eye(C, dtype="float32")[labels], rng.random((N, C)).astype("float32")
    if kind in ("binary", "binary_flat"):
        shape = (N,) if kind == "binary_flat" else (N, 1)
        y_pred = rng.random(shape).astype("float32")
        y_pred[::3] = np.round(y_pred[::3])  # scores of exactly 0 and 1
        return rng.integers(0, 2, shape).astype("float32"), y_pred
    if kind == "multilabel":
        return rng.integers(0, 2, (N, C)).astype("float32"), rng.random((N, C)).astype("float32")
    if kind == "logits":
        return rng.integers(0, 2, (N, C)).astype("float32"), rng.normal(size=(N, C)).astype(
            "float32"
        )
    if kind == "regression":
        return rng.normal(size=(N, 3)).astype("float32"), rng.normal(size=(N, 3)).astype("float32")
    if kind == "positive":
        return rng.random((N, 3)).astype("float32"), rng.random((N, 3)).astype("float32")
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
    Case("Accuracy", {}, "sparse_col"),
    Case("BinaryAccuracy", {}, "binary"),
    Case("BinaryAccuracy", {}, "binary_flat"),
    Case("BinaryAccuracy", {"threshold": 0.3}, "multilabel"),
    Case("CategoricalAccuracy", {}, "onehot"),
    Case("SparseCategoricalAccuracy", {}, "sparse"),
    Case("SparseCategoricalAccuracy", {}, "sparse_col"),
    Case("SparseCategoricalAccuracy", {}, "sparse_pixels"),
    Case("TopKCategoricalAccuracy", {"k": 2}, "onehot"),
    Case("SparseTopKCategoricalAccuracy", {"k": 2}, "sparse"),
    Case("SparseTopKCategoricalAccuracy", {"k": 3}, "sparse_col"),
    Case("Precision", {}, "binary"),
    Case("Precision", {"thresholds": [0.2, 0.5, 0.9]}, "multilabel"),
    Case("Precision", {"thresholds": [0.0, 0.5, 1.0]}, "multilabel"),  # evenly spaced
    Case("Precision", {"top_k": 2}, "multilabel"),
    Case("Precision", {"class_id": 1}, "multilabel"),
    Case("Recall", {}, "binary_flat"),
    Case("Recall", {"thresholds": [0.3, 0.6]}, "multilabel"),
    Case("Recall", {"top_k": 1, "class_id": 2}, "multilabel"),
    Case("AUC", {}, "binary"),
    Case("AUC", {}, "multilabel"),
    Case("AUC", {"curve": "PR"}, "binary"),
    Case("AUC", {"curve": "PR", "summation_method": "majoring"}, "binary"),
    Case("AUC", {"summation_method": "minoring"}, "binary"),
    Case("AUC", {"curve": "PRGAIN"}, "binary"),
    Case("AUC", {"num_thresholds": 7}, "binary"),
    Case("AUC", {"thresholds": [0.1, 0.45, 0.8]}, "binary"),
    Case("AUC", {"multi_label": True}, "multilabel"),
    Case("AUC", {"multi_label": True, "curve": "PR"}, "multilabel"),
    Case("AUC", {"multi_label": True, "label_weights": [1, 2, 0, 1, 1]}, "multilabel"),
    Case("AUC", {"multi_label": True, "thresholds": [0.3, 0.4, 0.9]}, "multilabel"),
    Case("AUC", {"label_weights": [1, 2, 0, 1, 1]}, "multilabel"),
    Case("AUC", {"from_logits": True}, "logits"),
    Case("TruePositives", {}, "binary"),
    Case("FalsePositives", {"thresholds": [0.2, 0.7]}, "binary"),
    Case("TrueNegatives", {}, "binary"),
    Case("FalseNegatives", {}, "binary"),
    Case("MeanSquaredError", {}, "regression"),
    Case("MeanAbsoluteError", {}, "regression"),
    Case("RootMeanSquaredError", {}, "regression"),
    Case("MeanAbsolutePercentageError", {}, "regression"),
    Case("MeanSquaredLogarithmicError", {}, "positive"),
    Case("CosineSimilarity", {}, "regression"),
    Case("LogCoshError", {}, "regression"),
    Case("KLDivergence", {}, "positive"),
    Case("Poisson", {}, "positive"),
    Case("Hinge", {}, "multilabel"),
    Case("SquaredHinge", {}, "multilabel"),
    Case("CategoricalHinge", {}, "onehot"),
    Case("BinaryCrossentropy", {}, "binary"),
    Case("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, "logits"),
    Case("CategoricalCrossentropy", {}, "onehot"),
    Case("CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, "onehot"),
    Case("SparseCategoricalCrossentropy", {}, "sparse"),
    Case("SparseCategoricalCrossentropy", {"from_logits": True}, "sparse_pixels"),
    Case("SparseCategoricalCrossentropy", {"ignore_class": 1}, "sparse"),
]


def _numpy(x: Any) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


@pytest.mark.parity
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_metric_matches_keras(case: Case, weighted: bool) -> None:
    rng = np.random.default_rng(CASES.index(case))
    theirs = getattr(keras.metrics, case.name)(**case.kwargs)
    ours = getattr(metrics, case.name)(**case.kwargs)
    for step in range(3):
        y_true, y_pred = _batch(case.data, rng)
        weight = None
        if weighted and case.data == "sparse_pixels" and step > 0:
            weight = rng.random(y_true.shape).astype("float32")  # per pixel
        elif weighted:
            # (N, 1) weights once where labels have a second axis (Keras rejects them for
            # rank-1 labels in confusion metrics).
            column = step == 1 and y_true.ndim > 1
            weight = rng.random((N, 1) if column else (N,)).astype("float32")
        theirs.update_state(y_true, y_pred, sample_weight=weight)
        ours.update_state(
            torch.from_numpy(y_true),
            torch.from_numpy(y_pred),
            sample_weight=None if weight is None else torch.from_numpy(weight),
        )
        result = ours.result()
        assert isinstance(result, torch.Tensor)
        np.testing.assert_allclose(_numpy(result), _numpy(theirs.result()), rtol=RTOL, atol=ATOL)
    assert ours.name == theirs.name
    assert len(ours.variables) == len(theirs.variables)
    for mine, keras_variable in zip(ours.variables, theirs.variables, strict=True):
        np.testing.assert_allclose(_numpy(mine), _numpy(keras_variable.value), rtol=RTOL, atol=ATOL)
    ours.reset_state()
    theirs.reset_state()
    np.testing.assert_allclose(_numpy(ours.result()), _numpy(theirs.result()), atol=0)
    assert all(float(v.abs().sum()) == 0 for v in ours.variables)


def test_docstring_examples_run() -> None:
    import doctest

    from convolve.metrics import base, lookup

    for module in (metrics, base, lookup):
        assert doctest.testmod(module).failed == 0


def test_known_values() -> None:
    """Hand-computed results, independent of the oracle."""
    acc = metrics.SparseCategoricalAccuracy()
    acc.update_state(torch.tensor([2, 1]), torch.tensor([[0.1, 0.6, 0.3], [0.05, 0.95, 0.0]]))
    assert float(acc.result()) == 0.5
    acc.update_state(torch.tensor([0]), torch.tensor([[0.9, 0.1, 0.0]]), torch.tensor([2.0]))
    assert float(acc.result()) == pytest.approx(3 / 4)  # (0 + 1 + 2) / (1 + 1 + 2)
    mean = metrics.Mean()
    mean.update_state(torch.tensor([1.0, 3.0]))
    mean.update_state(5.0)  # a Python number counts as one sample
    assert float(mean.result()) == 3.0
    auc = metrics.AUC()
    auc.update_state(torch.tensor([0.0, 0.0, 1.0, 1.0]), torch.tensor([0.1, 0.4, 0.35, 0.8]))
    assert float(auc.result()) == pytest.approx(0.75, abs=1e-6)
    precision = metrics.Precision()
    precision.update_state(torch.tensor([0, 1, 1, 0]), torch.tensor([0.6, 0.9, 0.2, 0.1]))
    assert float(precision.result()) == 0.5
    rmse = metrics.RootMeanSquaredError()
    rmse.update_state(torch.tensor([[0.0], [0.0]]), torch.tensor([[3.0], [4.0]]))
    assert float(rmse.result()) == pytest.approx(np.sqrt(12.5))


def test_results_before_any_update_are_zero() -> None:
    for case in CASES:
        metric = getattr(metrics, case.name)(**case.kwargs)
        if case.kwargs.get("multi_label"):
            continue  # no state before the number of labels is known
        value = metric.result()
        assert isinstance(value, torch.Tensor)
        assert float(value.abs().sum()) == 0.0, case


def test_state_lives_on_input_device_in_metric_dtype() -> None:
    metric = metrics.MeanSquaredError()
    assert metric.dtype == "float32"
    metric.update_state(
        torch.zeros(4, 2, dtype=torch.float64), torch.ones(4, 2, dtype=torch.float64)
    )
    assert all(v.dtype == torch.float32 for v in metric.variables)
    assert metric.result().ndim == 0
    meta = torch.device("meta")
    metric.update_state(torch.zeros(4, 2, device=meta), torch.ones(4, 2, device=meta))
    assert all(v.device == meta for v in metric.variables)
    as_float64 = metrics.Mean(dtype="float64")
    as_float64.update_state(torch.tensor([1.0, 2.0]))
    assert as_float64.result().dtype == torch.float64


def test_sum_result_is_a_snapshot() -> None:
    total = metrics.Sum()
    total.update_state(torch.tensor([1.0, 2.0]))
    first = total.result()
    total.update_state(torch.tensor([4.0]))
    assert float(first) == 3.0 and float(total.result()) == 7.0


def test_no_host_sync_in_update_state() -> None:
    """On the meta device any read of a value (.item(), bool(), Python if) raises."""
    meta = torch.device("meta")
    rng = np.random.default_rng(0)
    for case in CASES:
        metric = getattr(metrics, case.name)(**case.kwargs)
        y_true, y_pred = _batch(case.data, rng)
        metric.update_state(
            torch.from_numpy(y_true).to(meta),
            torch.from_numpy(y_pred).to(meta),
            sample_weight=torch.ones(N, device=meta),
        )
        assert metric.result().device == meta


def test_metric_ignores_autograd() -> None:
    y_pred = torch.rand(4, 3, requires_grad=True)
    metric = metrics.CategoricalCrossentropy()
    metric.update_state(torch.eye(3)[[0, 1, 2, 0]], y_pred)
    assert not metric.result().requires_grad


def test_mean_metric_wrapper_and_custom_function() -> None:
    def doubled_error(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        return 2 * (y_true - y_pred).abs().mean(dim=-1)

    wrapper = metrics.MeanMetricWrapper(doubled_error, name="doubled")
    wrapper.update_state(torch.zeros(2, 2), torch.ones(2, 2))
    assert float(wrapper.result()) == 2.0
    with_kwargs = metrics.MeanMetricWrapper(metrics.binary_accuracy, threshold=0.9)
    with_kwargs.update_state(torch.tensor([[1.0], [1.0]]), torch.tensor([[0.95], [0.8]]))
    assert float(with_kwargs.result()) == 0.5
    assert with_kwargs.name.startswith("mean_metric_wrapper")
    rebuilt = metrics.MeanMetricWrapper.from_config(with_kwargs.get_config())
    assert rebuilt._fn is metrics.binary_accuracy and rebuilt._fn_kwargs == {"threshold": 0.9}


# ----------------------------------------------------------------------------- configs, lookup


@pytest.mark.parity
@pytest.mark.parametrize("case", CASES, ids=str)
def test_config_roundtrip_and_keras_interop(case: Case) -> None:
    metric = getattr(metrics, case.name)(name="m", **case.kwargs)
    config = metric.get_config()
    assert type(metric).from_config(config).get_config() == config
    assert metrics.deserialize(metrics.serialize(metric)).get_config() == config
    theirs = keras.metrics.deserialize(metrics.serialize(metric))
    assert type(theirs).__name__ == case.name
    keras_config = theirs.get_config()
    keras_config.pop("label_weights", None)  # a tensor in Keras, a list here
    assert {key: config[key] for key in keras_config} == keras_config


@pytest.mark.parity
def test_get_strings_match_keras() -> None:
    from keras.src.metrics import ALL_OBJECTS_DICT

    for name in metrics.STRING_METRICS:
        if name in ("acc",):
            continue
        assert name in ALL_OBJECTS_DICT, name
        assert type(metrics.get(name)).__name__ == type(keras.metrics.get(name)).__name__, name
    for name in ["accuracy", "mse", "mae", "mean_squared_error", "auc", "AUC", "precision"]:
        assert name in metrics.STRING_METRICS
    assert metrics.get(None) is None
    auc = metrics.AUC()
    assert metrics.get(auc) is auc
    assert isinstance(metrics.get(metrics.Recall), metrics.Recall)
    assert isinstance(metrics.get({"class_name": "AUC", "config": {"curve": "PR"}}), metrics.AUC)
    for name in ["crossentropy", "ce", "huber", "kld", "nonsense"]:
        with pytest.raises(ValueError, match="Could not interpret metric identifier"):
            metrics.get(name)


SHAPES = [
    ((N,), (N, C)),
    ((N, 1), (N, C)),
    ((N, C), (N, C)),
    ((N,), (N, 1)),
    ((N, 1), (N, 1)),
    ((N, 3, 2), (N, 3, 2, C)),
    ((N, 3, 2, 1), (N, 3, 2, 1)),
    ((N, 3, 2, C), (N, 3, 2, C)),
]
IDENTIFIERS = [
    "accuracy",
    "acc",
    "ACC",
    "Accuracy",
    "mse",
    "MSE",
    "mae",
    "mean_squared_error",
    "auc",
    "AUC",
    "precision",
    "Recall",
    "binary_crossentropy",
    "bce",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "sparse_top_k_categorical_accuracy",
    "root_mean_squared_error",
]


@pytest.mark.parity
@pytest.mark.parametrize(("true_shape", "pred_shape"), SHAPES)
def test_resolve_metric_matches_keras_compile(true_shape, pred_shape) -> None:
    y_true, y_pred = torch.zeros(true_shape), torch.zeros(pred_shape)
    for identifier in IDENTIFIERS:
        theirs = compile_utils.get_metric(identifier, y_true, y_pred)
        ours = metrics.resolve_metric(identifier, y_true, y_pred)
        assert type(ours).__name__ == type(theirs).__name__, identifier
        assert ours.name == theirs.name == identifier
        # Keras 3 ignores the loss here (tf.keras 2 did not); so do we.
        with_loss = metrics.resolve_metric(identifier, y_true, y_pred, "categorical_crossentropy")
        assert type(with_loss) is type(ours)
    # Instances keep their name; functions are wrapped and named after the function.
    precision = metrics.Precision(name="prec")
    assert metrics.resolve_metric(precision, y_true, y_pred) is precision
    wrapped = metrics.resolve_metric(losses.mean_absolute_error, y_true, y_pred)
    keras_wrapped = compile_utils.get_metric(keras.losses.mean_absolute_error, y_true, y_pred)
    assert isinstance(wrapped, metrics.MeanMetricWrapper)
    assert wrapped.name == keras_wrapped.name == "mean_absolute_error"
    for bad in ["crossentropy", "ce"]:
        with pytest.raises(ValueError):
            compile_utils.get_metric(bad, y_true, y_pred)
        with pytest.raises(ValueError, match="Could not interpret metric identifier"):
            metrics.resolve_metric(bad, y_true, y_pred)
    with pytest.raises(ValueError):
        metrics.resolve_metric(None, y_true, y_pred)


@pytest.mark.parity
@pytest.mark.parametrize(
    ("metric_ids", "weighted_ids"),
    [
        (["accuracy", "mse"], []),
        (["accuracy", "accuracy", "acc"], ["accuracy", "accuracy", "mse"]),
        (["auc", "AUC", "auc"], ["auc"]),
        ([], ["precision", "recall"]),
    ],
)
def test_result_names_match_keras_compile(metric_ids, weighted_ids) -> None:
    y_true, y_pred = torch.zeros(N), torch.zeros(N, 1)
    compiled = compile_utils.CompileMetrics(metric_ids, weighted_ids)
    compiled.build(y_true, y_pred)
    ours = [metrics.resolve_metric(m, y_true, y_pred) for m in metric_ids]
    weighted = [metrics.resolve_metric(m, y_true, y_pred) for m in weighted_ids]
    assert metrics.result_names(ours, weighted) == list(compiled.result())
    prefixed = metrics.result_names(ours, weighted, output_name="out")
    assert all(name.startswith("out_") for name in prefixed)


@pytest.mark.parity
def test_history_keys_match_keras_fit() -> None:
    """End to end: the keys Keras's fit puts in history are our result names."""
    metric_ids = ["acc", "mae", "mean_squared_error", "AUC", "binary_crossentropy"]
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile("sgd", "binary_crossentropy", metrics=metric_ids, weighted_metrics=["acc"])
    x = np.random.default_rng(0).random((8, 3)).astype("float32")
    y = (x[:, :1] > 0.5).astype("float32")
    history = model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    y_true, y_pred = torch.from_numpy(y), torch.zeros(8, 1)
    ours = [metrics.resolve_metric(m, y_true, y_pred) for m in metric_ids]
    weighted = [metrics.resolve_metric("acc", y_true, y_pred)]
    assert sorted(history.history) == sorted(["loss", *metrics.result_names(ours, weighted)])


def test_keras_style_custom_metric() -> None:
    class BinaryTruePositives(metrics.Metric):
        def __init__(self, name: str = "binary_true_positives", **kwargs: Any) -> None:
            super().__init__(name=name, **kwargs)
            self.true_positives = self.add_variable(
                shape=(), initializer="zeros", name="true_positives"
            )

        def update_state(self, y_true, y_pred, sample_weight=None) -> None:
            values = (y_true.bool() & (y_pred > 0.5)).float()
            if sample_weight is not None:
                values = values * sample_weight
            self.true_positives.assign_add(values.sum())

        def result(self) -> metrics.MetricVariable:
            return self.true_positives  # as Keras tutorials do; behaves like a tensor

    metric = BinaryTruePositives()
    metric.update_state(torch.tensor([1, 1, 0]), torch.tensor([0.9, 0.2, 0.8]))
    metric.update_state(torch.tensor([1]), torch.tensor([0.7]), torch.tensor([3.0]))
    assert float(metric.result()) == 4.0
    assert float(metric.true_positives + 1) == 5.0
    assert metric.true_positives.numpy() == 4.0
    metric.reset_state()
    assert float(metric.result()) == 0.0
    meta = torch.device("meta")
    metric.update_state(torch.ones(2, device=meta), torch.ones(2, device=meta))
    assert metric.variables[0].device == meta
    ones = metrics.Metric(name="m")
    handle = ones.add_variable(shape=(2,), initializer="ones", name="v")
    handle.assign(torch.tensor([2.0, 3.0]))
    handle.assign_sub(1.0)
    assert handle.value.tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="Invalid initializer"):
        ones.add_variable(initializer="no_such_initializer", name="w")


@pytest.mark.parity
def test_state_attributes_match_keras() -> None:
    rng = np.random.default_rng(5)
    y_true, y_pred = _batch("binary", rng)
    ours, theirs = metrics.AUC(num_thresholds=5), keras.metrics.AUC(num_thresholds=5)
    ours.update_state(torch.from_numpy(y_true), torch.from_numpy(y_pred))
    theirs.update_state(y_true, y_pred)
    for name in ("true_positives", "false_positives", "true_negatives", "false_negatives"):
        np.testing.assert_array_equal(
            getattr(ours, name).numpy(), _numpy(getattr(theirs, name).value)
        )
    assert ours.thresholds == pytest.approx(theirs.thresholds)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_updates_do_not_synchronise_and_match_cpu() -> None:
    rng = np.random.default_rng(0)
    for case in CASES:
        on_cpu = getattr(metrics, case.name)(**case.kwargs)
        on_gpu = getattr(metrics, case.name)(**case.kwargs)
        batches = [_batch(case.data, rng) for _ in range(2)]
        weight = torch.rand(N)
        for step, (y_true, y_pred) in enumerate(batches):
            y_true, y_pred = torch.from_numpy(y_true), torch.from_numpy(y_pred)
            on_cpu.update_state(y_true, y_pred, sample_weight=weight)
            args = (y_true.cuda(), y_pred.cuda())
            if step == 0:  # the first update creates state and device constants
                on_gpu.update_state(*args, sample_weight=weight.cuda())
                continue
            torch.cuda.set_sync_debug_mode("error")
            try:
                on_gpu.update_state(*args, sample_weight=weight.cuda())
                result = on_gpu.result()
            finally:
                torch.cuda.set_sync_debug_mode("default")
        assert result.device.type == "cuda"
        np.testing.assert_allclose(
            result.cpu().numpy(), on_cpu.result().numpy(), rtol=1e-5, atol=1e-6
        )
