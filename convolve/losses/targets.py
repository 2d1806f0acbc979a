"""One check of a batch of targets against a loss, run once on the first batch of `fit`."""

from __future__ import annotations

import math
from typing import Any

import torch

from convolve.losses._tensors import (
    check_broadcastable,
    check_same_shape,
    float_tensor,
    shape_of,
    sparse_inputs,
    squeeze_or_expand_to_same_rank,
    to_tensor,
)
from convolve.losses.base import Loss, LossFunctionWrapper
from convolve.losses.lookup import BUILTIN_FUNCTIONS, resolve_loss
from convolve.losses.probabilistic import (
    binary_crossentropy,
    binary_focal_crossentropy,
    categorical_crossentropy,
    categorical_focal_crossentropy,
    sparse_categorical_crossentropy,
)


def _loss_fn_and_kwargs(loss: Any, y_true, y_pred) -> tuple[Any, dict[str, Any], str]:
    if isinstance(loss, str) or isinstance(loss, dict):
        loss = resolve_loss(loss, y_true, y_pred)
    if isinstance(loss, LossFunctionWrapper):
        return loss.fn, loss._fn_kwargs, loss.name
    if isinstance(loss, Loss):
        return None, {}, loss.name
    return loss, {}, getattr(loss, "__name__", repr(loss))


def check_targets(loss: Any, y_true: Any, y_pred: Any) -> None:
    """Checks that a batch of targets suits a loss, with one clear error if not.

    Shape mismatches are also reported by the losses themselves on every call (shapes are
    known on the host for free). This function additionally reads label *values*, which
    synchronises host and device, so a training loop calls it once, on the first batch,
    never per step. For sparse categorical crossentropy it requires integer labels in
    `[0, num_classes)` (apart from `ignore_class`); for the other built-in losses it checks
    that the shapes fit. Custom losses are not checked.

    Args:
        loss: A loss identifier as accepted by `resolve_loss`, a `Loss` or a function.
        y_true: A batch of targets.
        y_pred: The matching batch of predictions (channels-last layout).

    Raises:
        ValueError: Naming the loss, what it expected and what it received.
    """
    if isinstance(y_true, list | tuple | dict):
        name = loss if isinstance(loss, str) else getattr(loss, "name", None)
        raise ValueError(
            f"{name or getattr(loss, '__name__', 'loss')}: expected one array of targets for "
            f"this output; received a {type(y_true).__name__} of {len(y_true)} item(s). Pass y "
            "as a single array (a list or dict of arrays only for a model with several outputs)."
        )
    y_pred = float_tensor(y_pred)
    y_true = to_tensor(y_true, like=y_pred)
    fn, kwargs, name = _loss_fn_and_kwargs(loss, y_true, y_pred)
    if fn is None or fn not in BUILTIN_FUNCTIONS:
        return
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    try:
        if fn is sparse_categorical_crossentropy:
            _check_sparse_labels(y_true, y_pred, kwargs.get("ignore_class"), kwargs.get("axis", -1))
        elif fn in (
            binary_crossentropy,
            binary_focal_crossentropy,
            categorical_crossentropy,
            categorical_focal_crossentropy,
        ):
            check_same_shape(fn.__name__, y_true, y_pred)
            if fn is binary_focal_crossentropy or (
                fn is binary_crossentropy and not kwargs.get("from_logits", False)
            ):
                _check_binary_targets(fn.__name__, y_true, kwargs.get("label_smoothing", 0.0))
        else:
            check_broadcastable(fn.__name__, y_true, y_pred)
    except ValueError as error:
        # Name the loss as the user configured it.
        raise ValueError(f"{name}{str(error)[len(fn.__name__) :]}") from None


def _check_binary_targets(name: str, y_true: torch.Tensor, label_smoothing: float) -> None:
    """Probability targets must lie in [0, 1] (torch's binary crossentropy refuses others)."""
    if y_true.numel() == 0:
        return
    targets = y_true.to(torch.float32)
    if label_smoothing:
        targets = targets * (1.0 - label_smoothing) + 0.5 * label_smoothing
    bad = ~((targets >= 0) & (targets <= 1))  # NaN counts as bad
    # One host sync for the three facts.
    any_bad, low, high = torch.stack([bad.any().float(), targets.min(), targets.max()]).tolist()
    if any_bad:
        index = tuple(torch.nonzero(bad)[0].tolist())
        raise ValueError(
            f"{name}: expected targets in [0, 1] (probabilities of the positive class); "
            f"received {_fmt(y_true[index].item())} at y_true{list(index)} (targets range "
            f"from {_fmt(low)} to {_fmt(high)}). Use sparse_categorical_crossentropy for "
            "integer class labels."
        )


def _check_sparse_labels(
    y_true: torch.Tensor, y_pred: torch.Tensor, ignore_class: int | None, axis: int
) -> None:
    name = "sparse_categorical_crossentropy"
    labels, _ = sparse_inputs(name, y_true, y_pred, axis)
    num_classes = y_pred.shape[axis]
    if labels.numel() == 0:
        return
    valid = torch.ones_like(labels, dtype=torch.bool)
    if ignore_class is not None:
        valid = labels != ignore_class
    fractional = torch.zeros_like(valid)
    if labels.is_floating_point():
        fractional = valid & ~(torch.isfinite(labels) & (labels == torch.trunc(labels)))
    if labels.dtype == torch.bool:
        labels = labels.long()
    out_of_range = valid & ((labels < 0) | (labels >= num_classes))
    low = torch.where(valid, labels, 0).amin()
    high = torch.where(valid, labels, 0).amax()
    # A single host sync for all four facts (float32 works on every device).
    facts = [fractional.any(), out_of_range.any(), low, high]
    any_fractional, any_out, low_value, high_value = torch.stack(
        [fact.to(torch.float32) for fact in facts]
    ).tolist()
    expected = f"integer class labels in [0, {num_classes - 1}]"
    if ignore_class is not None:
        expected += f" (or ignore_class={ignore_class})"
    expected += f" because y_pred.shape={shape_of(y_pred)} has {num_classes} classes"
    if any_fractional:
        index = tuple(torch.nonzero(fractional)[0].tolist())
        raise ValueError(
            f"{name}: expected {expected}; received the non-integer label "
            f"{labels[index].item()} at y_true{list(index)}."
        )
    if any_out:
        index = tuple(torch.nonzero(out_of_range)[0].tolist())
        raise ValueError(
            f"{name}: expected {expected}; received label {_fmt(labels[index].item())} at "
            f"y_true{list(index)} (labels range from {_fmt(low_value)} to {_fmt(high_value)})."
        )


def _fmt(x: float) -> str:
    return str(int(x)) if math.isfinite(x) and float(x).is_integer() else str(x)
