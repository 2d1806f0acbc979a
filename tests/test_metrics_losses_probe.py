"""Metrics and losses used on their own, as Keras programs use them, compared with Keras."""

from __future__ import annotations

import copy
import inspect
import pickle

import keras
import numpy as np
import pytest
import torch

import convolve
from convolve import losses, metrics

RTOL, ATOL = 1e-5, 1e-6


def _np(x) -> np.ndarray:
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _params(fn) -> list[tuple[str, object, str]]:
    return [(p.name, p.default, p.kind.name) for p in inspect.signature(fn).parameters.values()]


def test_metric_base_and_deserialize_signatures_match_keras() -> None:
    assert _params(metrics.Metric) == _params(keras.metrics.Metric)
    assert _params(losses.deserialize) == _params(keras.losses.deserialize)
    assert _params(metrics.deserialize) == _params(keras.metrics.deserialize)
    # Positional use, as Keras's order allows.
    assert metrics.Metric("float64").dtype == keras.metrics.Metric("float64").dtype == "float64"
    assert losses.deserialize(name="mse") is losses.mean_squared_error


@pytest.mark.parametrize("dtype", ["mixed_float16", "mixed_bfloat16", "float64"])
def test_dtype_policies_give_the_compute_dtype_like_keras(dtype: str) -> None:
    assert metrics.Mean(dtype=dtype).dtype == keras.metrics.Mean(dtype=dtype).dtype
    assert metrics.Mean(dtype=dtype).get_config() == keras.metrics.Mean(dtype=dtype).get_config()
    assert (
        losses.MeanSquaredError(dtype=dtype).dtype
        == keras.losses.MeanSquaredError(dtype=dtype).dtype
    )
    policy = convolve.mixed_precision.DTypePolicy(dtype)
    assert metrics.Sum(dtype=policy).dtype == keras.metrics.Sum(dtype=dtype).dtype
    metric = metrics.Mean(dtype=dtype)
    metric.update_state(np.array([1.0, 2.0]))
    assert metric.variables[0].dtype == getattr(torch, keras.metrics.Mean(dtype=dtype).dtype)


class _Accumulate:
    """The same custom metric for both libraries, with a given initializer."""

    @staticmethod
    def build(lib, initializer):
        class Accumulate(lib.metrics.Metric):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.acc = self.add_variable(shape=(2,), initializer=initializer, name="acc")

            def update_state(self, values):
                self.acc.assign_add(lib.ops.convert_to_tensor(values, dtype="float32"))

            def result(self):
                return lib.ops.sum(self.acc)

        return Accumulate(name="accumulate")


@pytest.mark.parametrize("initializer", ["zeros", "Zeros", "ones", "Ones", "constant", "Constant"])
def test_custom_metric_accepts_keras_initializer_names(initializer: str) -> None:
    ours = _Accumulate.build(convolve, initializer)
    theirs = _Accumulate.build(keras, initializer if initializer.lower() != "constant" else "zeros")
    # Keras's "constant" needs a value; the default Constant() is zeros.
    for metric in (ours, theirs):
        metric.update_state(np.array([1.0, 2.0], dtype="float32"))
    np.testing.assert_allclose(_np(ours.result()), _np(theirs.result()), rtol=RTOL, atol=ATOL)
    ours.reset_state()
    assert float(ours.result()) == 0.0


def test_custom_metric_initializer_objects_and_random_names() -> None:
    ours = _Accumulate.build(convolve, convolve.initializers.Constant(2.0))
    theirs = _Accumulate.build(keras, keras.initializers.Constant(2.0))
    np.testing.assert_allclose(_np(ours.result()), _np(theirs.result()), rtol=RTOL, atol=ATOL)
    drawn = _Accumulate.build(convolve, "glorot_uniform")  # random, as in Keras
    assert drawn.variables[0].shape == (2,) and float(drawn.variables[0].abs().sum()) > 0
    with pytest.raises(ValueError, match=r"Invalid initializer .*'acc'.*no_such"):
        _Accumulate.build(convolve, "no_such")
    with pytest.raises(ValueError, match=r"Invalid shape for metric variable 'w'.*'w'"):
        metrics.Metric(name="m").add_variable(shape="w", initializer="zeros", name="w")


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("Mean", {}),
        ("Sum", {}),
        ("SparseCategoricalAccuracy", {}),
        ("AUC", {"num_thresholds": 5}),
        ("Precision", {"thresholds": [0.3, 0.6]}),
        ("MeanIoU", {"num_classes": 3}),
        ("R2Score", {}),
        ("TruePositives", {}),
    ],
)
def test_variable_names_and_paths_match_keras(name: str, kwargs: dict) -> None:
    ours = getattr(metrics, name)(name="my/metric", **kwargs)
    theirs = getattr(keras.metrics, name)(name="my/metric", **kwargs)
    if name in ("AUC", "R2Score"):  # built on the first batch in both libraries
        y = np.array([[0.0, 1.0], [1.0, 0.0]], dtype="float32")
        ours.update_state(y, y * 0.7)
        theirs.update_state(y, y * 0.7)
    assert [v.name for v in ours.variables] == [v.name for v in theirs.variables]
    assert [v.path for v in ours.variables] == [v.path for v in theirs.variables]
    assert [tuple(v.shape) for v in ours.variables] == [tuple(v.shape) for v in theirs.variables]


def test_metric_state_reprs_copies_and_handles() -> None:
    metric = metrics.Mean(name="loss_mean")
    metric.update_state(np.array([1.0, 3.0]))
    total = metric.variables[0]
    assert repr(total) == "<Variable path=loss_mean/total, shape=(), dtype=float32, value=4.0>"
    assert metric.total.path == "loss_mean/total" and metric.total.name == "total"
    assert type(total + 1) is torch.Tensor  # arithmetic gives plain tensors
    for clone in (copy.deepcopy(metric), pickle.loads(pickle.dumps(metric))):
        assert [v.path for v in clone.variables] == ["loss_mean/total", "loss_mean/count"]
        assert float(clone.result()) == 2.0
    meta = torch.device("meta")
    metric.update_state(torch.ones(2, device=meta))  # state follows the inputs' device
    assert metric.variables[0].device == meta and metric.variables[0].path == "loss_mean/total"


def test_cosine_similarity_metric_config_matches_keras() -> None:
    assert metrics.CosineSimilarity().get_config() == keras.metrics.CosineSimilarity().get_config()
    assert metrics.get("cosine_similarity").get_config() == (
        keras.metrics.get("cosine_similarity").get_config()
    )
    # A non-default axis is kept so that the metric round-trips.
    rebuilt = metrics.CosineSimilarity.from_config(metrics.CosineSimilarity(axis=0).get_config())
    assert rebuilt.axis == 0


@pytest.mark.parametrize("from_logits", [False, True])
def test_out_of_range_sparse_labels_raise_one_clear_error(from_logits: bool) -> None:
    y_pred = np.random.default_rng(0).random((4, 3)).astype("float32")
    labels = np.array([0, 1, 2, 3])
    with pytest.raises(IndexError):  # Keras refuses the label too
        keras.losses.sparse_categorical_crossentropy(labels, y_pred, from_logits=from_logits)
    message = r"sparse_categorical_crossentropy: .*\[0, 2\].*received label 3 at y_true\[3\]"
    with pytest.raises(ValueError, match=message):
        losses.sparse_categorical_crossentropy(labels, y_pred, from_logits=from_logits)
    with pytest.raises(ValueError, match=message):
        losses.SparseCategoricalCrossentropy(from_logits=from_logits)(labels, y_pred)
    with pytest.raises(ValueError, match=r"received label -1"):
        metrics.SparseCategoricalCrossentropy(from_logits=from_logits).update_state(
            np.array([[0], [1], [2], [-1]]), y_pred
        )
    # ignore_class takes the label out of play, as in Keras.
    kept = losses.sparse_categorical_crossentropy(labels, y_pred, ignore_class=3)
    reference = keras.losses.sparse_categorical_crossentropy(labels, y_pred, ignore_class=3)
    np.testing.assert_allclose(_np(kept), _np(reference), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("multi_label", [False, True])
def test_auc_interpolate_pr_auc_matches_keras(multi_label: bool) -> None:
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 2, (16, 3)).astype("float32")
    y_pred = rng.random((16, 3)).astype("float32")
    ours = metrics.AUC(num_thresholds=9, multi_label=multi_label)
    theirs = keras.metrics.AUC(num_thresholds=9, multi_label=multi_label)
    ours.update_state(y_true, y_pred)
    theirs.update_state(y_true, y_pred)
    np.testing.assert_allclose(
        _np(ours.interpolate_pr_auc()), _np(theirs.interpolate_pr_auc()), rtol=RTOL, atol=ATOL
    )


def _sparse_data():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 4, (6,))
    logits = rng.normal(size=(6, 4)).astype("float32")
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    return labels, logits, probs


@pytest.mark.parametrize("label_shape", [(6,), (6, 1)])
def test_sparse_functions_accept_both_label_ranks_like_keras(label_shape) -> None:
    labels, logits, probs = _sparse_data()
    y = labels.reshape(label_shape)
    pairs = [
        (metrics.sparse_categorical_accuracy, keras.metrics.sparse_categorical_accuracy, {}),
        (
            metrics.sparse_top_k_categorical_accuracy,
            keras.metrics.sparse_top_k_categorical_accuracy,
            {"k": 2},
        ),
        (
            losses.sparse_categorical_crossentropy,
            keras.losses.sparse_categorical_crossentropy,
            {},
        ),
    ]
    for ours, theirs, kwargs in pairs:
        got, want = _np(ours(y, probs, **kwargs)), _np(theirs(y, probs, **kwargs))
        assert got.shape == want.shape, ours.__name__
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    got = losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
    want = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
    np.testing.assert_allclose(_np(got), _np(want), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize(
    "reduction", ["sum", "none", None, "sum_over_batch_size", "mean", "mean_with_sample_weight"]
)
@pytest.mark.parametrize("weight_shape", [None, (6,), (6, 1)])
def test_loss_reductions_and_sample_weight_shapes_match_keras(reduction, weight_shape) -> None:
    labels, _, probs = _sparse_data()
    one_hot = np.eye(4, dtype="float32")[labels]
    weight = None
    if weight_shape is not None:
        weight = np.random.default_rng(3).random(weight_shape).astype("float32")
    for name, y_true in [
        ("CategoricalCrossentropy", one_hot),
        ("SparseCategoricalCrossentropy", labels),
        ("MeanSquaredError", one_hot),
    ]:
        ours = getattr(losses, name)(reduction=reduction)
        theirs = getattr(keras.losses, name)(reduction=reduction)
        got = _np(ours(y_true, probs, sample_weight=weight))
        want = _np(theirs(y_true, probs, sample_weight=weight))
        assert got.shape == want.shape, name
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def test_variables_of_a_copied_metric_are_the_copys_state():
    metric = convolve.metrics.Mean()
    metric.update_state([1.0, 2.0])
    assert [float(v) for v in metric.variables] == [3.0, 2.0]
    for clone in (copy.deepcopy(metric), pickle.loads(pickle.dumps(metric))):
        clone.update_state([10.0])
        assert [float(v) for v in clone.variables] == [13.0, 3.0]
    assert [float(v) for v in metric.variables] == [3.0, 2.0]
