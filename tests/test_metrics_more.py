"""Correlation metrics and the rate-at-constraint metrics against Keras 3 (torch backend).

Each metric gets the same arrays as its Keras twin: two batches (with and without sample
weights), then a reset and one more batch. Configs must be equal and defaults must match
Keras's signatures.

Tolerances: results within rtol=1e-6, atol=1e-6 (float32, same arithmetic).
"""

from __future__ import annotations

import inspect

import keras
import numpy as np
import pytest
import torch

import convolve
from convolve import metrics

RTOL, ATOL = 1e-6, 1e-6
RATE_CLASSES = [
    ("SensitivityAtSpecificity", "specificity"),
    ("SpecificityAtSensitivity", "sensitivity"),
    ("PrecisionAtRecall", "recall"),
    ("RecallAtPrecision", "precision"),
]


def _both(name: str, *args, **kwargs):
    return getattr(metrics, name)(*args, **kwargs), getattr(keras.metrics, name)(*args, **kwargs)


def _feed(ours, theirs, batches) -> None:
    for y_true, y_pred, weight in batches:
        ours.update_state(torch.as_tensor(y_true), torch.as_tensor(y_pred), weight)
        theirs.update_state(y_true, y_pred, weight)
        np.testing.assert_allclose(
            np.asarray(ours.result()),
            keras.ops.convert_to_numpy(theirs.result()),
            rtol=RTOL,
            atol=ATOL,
        )


def _binary_batches(rng: np.random.Generator, shape=(16,)):
    batches = []
    for weighted in (False, True):
        y_true = (rng.random(shape) > 0.5).astype("float32")
        y_pred = np.clip(y_true * 0.4 + rng.random(shape) * 0.6, 0, 1).astype("float32")
        weight = rng.random(shape[0]).astype("float32") if weighted else None
        batches.append((y_true, y_pred, weight))
    return batches


@pytest.mark.parity
@pytest.mark.parametrize("name,arg", RATE_CLASSES)
@pytest.mark.parametrize("num_thresholds", [1, 2, 7, 200])
@pytest.mark.parametrize("value", [0.0, 0.5, 0.8, 1.0])
def test_rate_at_constraint_matches_keras(name, arg, num_thresholds, value) -> None:
    rng = np.random.default_rng(num_thresholds)
    ours, theirs = _both(name, value, num_thresholds=num_thresholds)
    batches = _binary_batches(rng)
    _feed(ours, theirs, batches)
    ours.reset_state()
    theirs.reset_state()
    _feed(ours, theirs, batches[:1])
    assert ours.get_config() == theirs.get_config()


@pytest.mark.parity
@pytest.mark.parametrize("name,arg", RATE_CLASSES)
def test_rate_at_constraint_class_id_matches_keras(name, arg) -> None:
    rng = np.random.default_rng(3)
    ours, theirs = _both(name, 0.6, num_thresholds=11, class_id=2)
    y_true = np.eye(4, dtype="float32")[rng.integers(0, 4, 20)]
    y_pred = rng.random((20, 4)).astype("float32")
    _feed(ours, theirs, [(y_true, y_pred, None), (y_true, y_pred[::-1].copy(), None)])
    config = ours.get_config()
    assert config == theirs.get_config()
    rebuilt = type(ours).from_config(config)
    assert rebuilt.get_config() == config


@pytest.mark.parity
@pytest.mark.parametrize("name,arg", RATE_CLASSES)
def test_rate_at_constraint_signature_and_errors(name, arg) -> None:
    ours = inspect.signature(getattr(metrics, name))
    theirs = inspect.signature(getattr(keras.metrics, name))
    assert list(ours.parameters) == list(theirs.parameters)
    for key, param in theirs.parameters.items():
        assert ours.parameters[key].default == param.default, key
    with pytest.raises(ValueError, match=f"`{arg}` must be in the range"):
        getattr(metrics, name)(1.5)
    with pytest.raises(ValueError, match="num_thresholds"):
        getattr(metrics, name)(0.5, num_thresholds=0)


@pytest.mark.parity
@pytest.mark.parametrize("name", ["PearsonCorrelation", "ConcordanceCorrelation"])
@pytest.mark.parametrize("axis", [-1, 1])
def test_correlation_metrics_match_keras(name, axis) -> None:
    rng = np.random.default_rng(0)
    ours, theirs = _both(name, axis=axis)
    batches = []
    for weighted in (False, True):
        y_true = rng.normal(size=(6, 5)).astype("float32")
        y_pred = (y_true * 0.7 + rng.normal(size=(6, 5)) * 0.5).astype("float32")
        batches.append((y_true, y_pred, rng.random(6).astype("float32") if weighted else None))
    _feed(ours, theirs, batches)
    assert ours.get_config() == theirs.get_config()
    assert inspect.signature(type(ours)).parameters.keys() == (
        inspect.signature(type(theirs)).parameters.keys()
    )


@pytest.mark.parity
@pytest.mark.parametrize("name", ["pearson_correlation", "concordance_correlation"])
def test_correlation_functions_match_keras(name) -> None:
    rng = np.random.default_rng(1)
    y_true = rng.normal(size=(3, 4, 6)).astype("float32")
    y_pred = rng.normal(size=(3, 4, 6)).astype("float32")
    for axis in (-1, 1):
        ours = getattr(metrics, name)(torch.as_tensor(y_true), torch.as_tensor(y_pred), axis)
        theirs = getattr(keras.metrics, name)(y_true, y_pred, axis=axis)
        np.testing.assert_allclose(
            ours.numpy(), keras.ops.convert_to_numpy(theirs), rtol=RTOL, atol=ATOL
        )


@pytest.mark.parity
def test_categorical_focal_crossentropy_export_matches_keras() -> None:
    rng = np.random.default_rng(2)
    y_true = np.eye(3, dtype="float32")[rng.integers(0, 3, 5)]
    y_pred = rng.dirichlet(np.ones(3), 5).astype("float32")
    ours = metrics.categorical_focal_crossentropy(torch.as_tensor(y_true), torch.as_tensor(y_pred))
    theirs = keras.metrics.categorical_focal_crossentropy(y_true, y_pred)
    np.testing.assert_allclose(ours.numpy(), keras.ops.convert_to_numpy(theirs), rtol=1e-6)


@pytest.mark.parity
def test_new_metrics_resolve_by_name_like_keras() -> None:
    for name in [
        "pearson_correlation",
        "PearsonCorrelation",
        "concordance_correlation",
        "ConcordanceCorrelation",
    ]:
        assert type(metrics.get(name)).__name__ == type(keras.metrics.get(name)).__name__
    config = keras.metrics.serialize(keras.metrics.PrecisionAtRecall(0.7, num_thresholds=5))
    ours = metrics.deserialize(config)
    assert isinstance(ours, metrics.PrecisionAtRecall)
    assert ours.recall == 0.7 and ours.num_thresholds == 5


@pytest.mark.parity
def test_rate_metric_in_fit_matches_keras() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(32, 3)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    ours = convolve.Sequential([convolve.Input((3,)), convolve.layers.Dense(1, "sigmoid")])
    theirs = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
    theirs.set_weights(ours.get_weights())
    ours.compile("sgd", "binary_crossentropy", metrics=[metrics.RecallAtPrecision(0.5)])
    theirs.compile("sgd", "binary_crossentropy", metrics=[keras.metrics.RecallAtPrecision(0.5)])
    got = ours.evaluate(x, y, verbose=0, return_dict=True)
    want = theirs.evaluate(x, y, verbose=0, return_dict=True)
    assert got.keys() == want.keys()
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-5, atol=1e-6)
