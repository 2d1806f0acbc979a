"""Losses for sequences, embeddings and noisy labels: CTC, Circle and generalized CE."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from convolve.losses._tensors import float_tensor, to_tensor
from convolve.losses.base import MASKED_VARIANTS, BuiltinLoss, reduction_only_loss

__all__ = [
    "CTC",
    "CategoricalGeneralizedCrossEntropy",
    "Circle",
    "categorical_generalized_cross_entropy",
    "circle",
    "ctc",
]


def ctc(y_true: Any, y_pred: Any) -> torch.Tensor:
    """Connectionist temporal classification loss per sample, as Keras computes it.

    Class 0 is the blank and also the padding of `y_true`: each row's label length is its
    number of non-zero entries, which must come first. Every sample uses all the time steps
    of `y_pred`.

    Args:
        y_true: Integer labels of shape `(batch_size, max_label_length)`, padded with 0.
        y_pred: Logits of shape `(batch_size, time_steps, num_classes)` (softmax is applied
            here).

    Returns:
        The per-sample negative log-likelihoods, shape `(batch_size,)`.
    """
    if len(getattr(y_true, "shape", ())) != 2:
        raise ValueError(
            "Targets `y_true` are expected to be a tensor of shape `(batch_size, max_length)` "
            f"in integer format. Received: y_true.shape={tuple(getattr(y_true, 'shape', ()))}"
        )
    y_pred = float_tensor(y_pred)
    if y_pred.ndim != 3:
        raise ValueError(
            "Logits `y_pred` are expected to be a tensor of shape "
            f"`(batch_size, max_length, num_classes)`. Received: y_pred.shape={tuple(y_pred.shape)}"
        )
    targets = to_tensor(y_true, like=y_pred).long()
    batch, steps = y_pred.shape[0], y_pred.shape[1]
    target_lengths = (targets != 0).sum(dim=-1)
    input_lengths = torch.full((batch,), steps, dtype=torch.long, device=y_pred.device)
    log_probs = F.log_softmax(y_pred.transpose(0, 1), dim=-1)
    return F.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="none")


def _check_embeddings(y_pred: torch.Tensor, name: str) -> None:
    if y_pred.ndim != 2:
        raise ValueError(
            f"{name}: `y_pred` must be embeddings of shape (batch_size, embedding_dim); "
            f"received y_pred.shape={tuple(y_pred.shape)}"
        )


def _circle_with_mask(
    y_true: Any,
    y_pred: Any,
    ref_labels: Any = None,
    ref_embeddings: Any = None,
    remove_diagonal: bool = True,
    gamma: float = 80,
    margin: float = 0.4,
) -> tuple[torch.Tensor, torch.Tensor]:
    y_pred = float_tensor(y_pred)
    _check_embeddings(y_pred, "circle")
    labels = to_tensor(y_true, like=y_pred).to(torch.int32)
    refs = y_pred if ref_embeddings is None else to_tensor(ref_embeddings, like=y_pred)
    ref_labels = labels if ref_labels is None else to_tensor(ref_labels, like=y_pred)
    ref_labels = ref_labels.to(torch.int32)
    distances = torch.clamp_min(1 - y_pred @ refs.to(y_pred.dtype).T, 0.0)
    query = labels.reshape(-1, 1) if labels.ndim == 1 else labels
    keys = ref_labels.reshape(-1, 1) if ref_labels.ndim == 1 else ref_labels
    positive = query == keys.T
    negative = ~positive
    if remove_diagonal:
        eye = torch.eye(query.numel(), keys.numel(), dtype=torch.bool, device=y_pred.device)
        positive = positive & ~eye
    pos_weights = torch.clamp_min((margin + distances) * positive.to(distances.dtype), 0.0)
    neg_weights = torch.clamp_min((1 + margin - distances) * negative.to(distances.dtype), 0.0)
    pos_terms = -gamma * pos_weights * (margin - distances)
    neg_terms = gamma * neg_weights * ((1 - margin) - distances)
    minus_inf = torch.tensor(float("-inf"), dtype=distances.dtype, device=distances.device)
    p_loss = torch.logsumexp(torch.where(positive, pos_terms, minus_inf), dim=1)
    n_loss = torch.logsumexp(torch.where(negative, neg_terms, minus_inf), dim=1)
    loss = F.softplus(p_loss + n_loss)
    return loss, loss > 0


def circle(
    y_true: Any,
    y_pred: Any,
    ref_labels: Any = None,
    ref_embeddings: Any = None,
    remove_diagonal: bool = True,
    gamma: float = 80,
    margin: float = 0.4,
) -> torch.Tensor:
    """Circle loss (Sun et al., 2020) of L2-normalised embeddings, per query sample.

    Args:
        y_true: Integer labels of the queries, shape `(batch_size,)`.
        y_pred: L2-normalised query embeddings, shape `(batch_size, embedding_dim)`.
        ref_labels: Labels of the reference embeddings; defaults to `y_true`.
        ref_embeddings: Reference embeddings; defaults to `y_pred`.
        remove_diagonal: Whether a query is not its own positive.
        gamma: Scale factor.
        margin: Relaxation margin.

    Returns:
        The per-sample losses, shape `(batch_size,)`. As a `Circle` loss, samples whose loss
        is zero are left out of the mean, as in Keras.
    """
    return _circle_with_mask(
        y_true, y_pred, ref_labels, ref_embeddings, remove_diagonal, gamma, margin
    )[0]


MASKED_VARIANTS[circle] = _circle_with_mask


def categorical_generalized_cross_entropy(y_true: Any, y_pred: Any, q: float) -> torch.Tensor:
    """Generalized cross entropy (Zhang & Sabuncu, 2018): `(1 - p_true ** q) / q`.

    Args:
        y_true: Integer class labels, shape `(batch_size,)`.
        y_pred: Class probabilities, shape `(batch_size, num_classes)`.
        q: In `(0, 1)`: near 0 it approaches cross entropy, at 1 the mean absolute error.

    Returns:
        The per-sample losses.
    """
    y_pred = float_tensor(y_pred)
    labels = to_tensor(y_true, like=y_pred).long()
    valid = labels >= 0  # Keras's one_hot gives negative labels an all-zero row
    one_hot = F.one_hot(labels.clamp_min(0), y_pred.shape[-1]) * valid.unsqueeze(-1)
    p = (y_pred * one_hot.to(y_pred.dtype)).sum(dim=-1)
    return (1 - torch.pow(p, q)) / q


class CTC(reduction_only_loss(ctc, "ctc")):
    """CTC loss; see `ctc` for the label conventions (0 is blank and padding).

    Args:
        reduction: See `Loss`.
        name: Name of the loss.
        dtype: Dtype of the computation.
    """


class Circle(BuiltinLoss):
    """Circle loss of embeddings; see `circle`.

    Args:
        gamma: Scale factor. Defaults to 80.0.
        margin: Relaxation margin. Defaults to 0.4.
        remove_diagonal: Whether a query is not its own positive. Defaults to True.
        reduction: See `Loss`.
        name: Name of the loss.
        dtype: Dtype of the computation.
    """

    _config_keys = ("gamma", "margin", "remove_diagonal")

    def __init__(
        self,
        gamma: float = 80.0,
        margin: float = 0.4,
        remove_diagonal: bool = True,
        reduction: str | None = "sum_over_batch_size",
        name: str = "circle",
        dtype: Any = None,
    ) -> None:
        super().__init__(
            circle,
            name=name,
            reduction=reduction,
            dtype=dtype,
            gamma=gamma,
            margin=margin,
            remove_diagonal=remove_diagonal,
        )


class CategoricalGeneralizedCrossEntropy(BuiltinLoss):
    """Generalized cross entropy for noisy labels; see `categorical_generalized_cross_entropy`.

    Args:
        q: In `(0, 1)`. Defaults to 0.5.
        reduction: See `Loss`.
        name: Name of the loss.
        dtype: Dtype of the computation.
    """

    _config_keys = ("q",)

    def __init__(
        self,
        q: float = 0.5,
        reduction: str | None = "sum_over_batch_size",
        name: str = "categorical_generalized_cross_entropy",
        dtype: Any = None,
    ) -> None:
        if not isinstance(q, int | float) or not 0 < q < 1:
            raise ValueError(f"q must be in the interval (0, 1); received q={q!r}")
        super().__init__(
            categorical_generalized_cross_entropy,
            name=name,
            reduction=reduction,
            dtype=dtype,
            q=q,
        )
