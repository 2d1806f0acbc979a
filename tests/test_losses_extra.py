"""CTC, Circle and CategoricalGeneralizedCrossEntropy against Keras 3 (torch backend).

Same inputs to both libraries; per-sample values and every reduction, with and without
sample weights; configs and signatures equal to Keras's.

Tolerances: rtol=1e-5, atol=1e-6 (float32; CTC's forward-backward sums in a
different order in no case here, but logsumexp over large Circle logits loses a few bits).
"""

from __future__ import annotations

import inspect

import keras
import numpy as np
import pytest
import torch

from convolve import losses

RTOL, ATOL = 1e-5, 1e-6
REDUCTIONS = ["sum_over_batch_size", "sum", "mean", "none", "mean_with_sample_weight"]


def _np(x) -> np.ndarray:
    return x.detach().numpy() if isinstance(x, torch.Tensor) else keras.ops.convert_to_numpy(x)


def _embeddings(rng: np.random.Generator, n: int = 8, d: int = 5) -> np.ndarray:
    x = rng.normal(size=(n, d)).astype("float32")
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _cases(rng: np.random.Generator):
    labels = np.array([0, 1, 0, 2, 1, 2, 0, 3], dtype="int32")
    ctc_labels = np.array([[1, 2, 2, 0], [3, 0, 0, 0], [4, 1, 3, 2]], dtype="int32")
    probs = rng.dirichlet(np.ones(4), 6).astype("float32")
    return {
        "CTC": ({}, ctc_labels, rng.normal(size=(3, 7, 5)).astype("float32")),
        "Circle": ({}, labels, _embeddings(rng)),
        "CategoricalGeneralizedCrossEntropy": (
            {"q": 0.3},
            np.array([0, 3, 1, 2, 2, 1], dtype="int32"),
            probs,
        ),
    }


@pytest.mark.parity
@pytest.mark.parametrize("name", ["CTC", "Circle", "CategoricalGeneralizedCrossEntropy"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_loss_classes_match_keras(name, reduction, weighted) -> None:
    rng = np.random.default_rng(0)
    kwargs, y_true, y_pred = _cases(rng)[name]
    weight = rng.random(y_true.shape[0]).astype("float32") if weighted else None
    ours = getattr(losses, name)(reduction=reduction, **kwargs)
    theirs = getattr(keras.losses, name)(reduction=reduction, **kwargs)
    got = ours(torch.as_tensor(y_true), torch.as_tensor(y_pred), weight)
    want = theirs(y_true, y_pred, sample_weight=weight)
    np.testing.assert_allclose(_np(got), _np(want), rtol=RTOL, atol=ATOL)
    assert ours.get_config() == theirs.get_config()
    rebuilt = type(ours).from_config(ours.get_config())
    assert rebuilt.get_config() == ours.get_config()


@pytest.mark.parity
@pytest.mark.parametrize("name", ["CTC", "Circle", "CategoricalGeneralizedCrossEntropy"])
def test_loss_signatures_match_keras(name) -> None:
    a = inspect.signature(getattr(losses, name))
    b = inspect.signature(getattr(keras.losses, name))
    assert list(a.parameters) == list(b.parameters)
    for key, param in b.parameters.items():
        assert a.parameters[key].default == param.default, key
    for fn in ["ctc", "circle", "categorical_generalized_cross_entropy"]:
        a = inspect.signature(getattr(losses, fn))
        b = inspect.signature(getattr(keras.losses, fn))
        assert list(a.parameters) == list(b.parameters)
        assert [p.default for p in a.parameters.values()] == [
            p.default for p in b.parameters.values()
        ]


@pytest.mark.parity
def test_circle_function_with_references_matches_keras() -> None:
    rng = np.random.default_rng(1)
    labels = np.array([0, 1, 2, 1], dtype="int32")
    ref_labels = np.array([1, 1, 0, 2, 2, 0], dtype="int32")
    query, refs = _embeddings(rng, 4, 3), _embeddings(rng, 6, 3)
    for kwargs in [{}, {"remove_diagonal": False, "gamma": 10, "margin": 0.25}]:
        got = losses.circle(
            torch.as_tensor(labels),
            torch.as_tensor(query),
            ref_labels=torch.as_tensor(ref_labels),
            ref_embeddings=torch.as_tensor(refs),
            **kwargs,
        )
        want = keras.losses.circle(
            labels, query, ref_labels=ref_labels, ref_embeddings=refs, **kwargs
        )
        np.testing.assert_allclose(_np(got), _np(want), rtol=RTOL, atol=ATOL)


@pytest.mark.parity
def test_ctc_function_and_gradient_match_keras() -> None:
    rng = np.random.default_rng(2)
    y_true = np.array([[2, 1, 0], [1, 1, 3]], dtype="int32")
    logits = rng.normal(size=(2, 6, 4)).astype("float32")
    np.testing.assert_allclose(
        _np(losses.ctc(torch.as_tensor(y_true), torch.as_tensor(logits))),
        _np(keras.losses.ctc(y_true, logits)),
        rtol=RTOL,
        atol=ATOL,
    )
    ours = torch.tensor(logits, requires_grad=True)
    losses.CTC()(torch.as_tensor(y_true), ours).backward()
    theirs = torch.tensor(logits, requires_grad=True)
    keras.losses.CTC()(torch.as_tensor(y_true), theirs).backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=RTOL, atol=ATOL)


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="q must be in the interval"):
        losses.CategoricalGeneralizedCrossEntropy(q=1.0)
    with pytest.raises(ValueError, match="y_true.shape"):
        losses.ctc(torch.zeros(3), torch.zeros(3, 4, 5))
    with pytest.raises(ValueError, match="y_pred.shape"):
        losses.ctc(torch.zeros(3, 2), torch.zeros(3, 4))
    with pytest.raises(ValueError, match="embeddings of shape"):
        losses.circle(torch.zeros(3), torch.zeros(3, 2, 2))


@pytest.mark.parity
def test_new_losses_resolve_by_name() -> None:
    for name in ["ctc", "circle"]:
        assert losses.get(name) is getattr(losses, name)
        assert name in losses.STRING_LOSSES
        assert keras.losses.get(name).__name__ == name
    for name in ["CTC", "Circle"]:
        assert type(losses.get(name)).__name__ == type(keras.losses.get(name)).__name__
    for name in ["CTC", "Circle", "CategoricalGeneralizedCrossEntropy"]:
        config = keras.losses.serialize(getattr(keras.losses, name)())
        assert losses.deserialize(config).get_config() == config["config"]
    # Keras's name table lacks the generalized cross entropy; it stays out of ours.
    assert "categorical_generalized_cross_entropy" not in losses.STRING_LOSSES
