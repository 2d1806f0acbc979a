"""Masks riding on tensors: which time steps (or positions) later layers should skip.

As in Keras, a mask is a boolean tensor stored on the tensor it describes, as the
`_keras_mask` attribute. It covers every axis but the last (features), so it reads the
same in Keras's layout and in the engine's, and travels across layout conversions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

MASK_ATTRIBUTE = "_keras_mask"


def get_mask(x: Any) -> torch.Tensor | None:
    return getattr(x, MASK_ATTRIBUTE, None) if isinstance(x, torch.Tensor) else None


def set_mask(x: Any, mask: torch.Tensor | None) -> None:
    if isinstance(x, torch.Tensor):
        setattr(x, MASK_ATTRIBUTE, mask)


def masks_of(first_argument: Any) -> Any:
    """The masks the tensors of a call's first argument carry, in its structure (a list
    of them for a list of tensors); None when none carries one."""
    if isinstance(first_argument, list | tuple):
        masks = [get_mask(x) for x in first_argument]
        return masks if any(m is not None for m in masks) else None
    return get_mask(first_argument)


def any_mask(masks: Any) -> bool:
    if isinstance(masks, list | tuple):
        return any(m is not None for m in masks)
    return masks is not None


def attach(outputs: Any, masks: Any) -> None:
    """Sets `masks` (one, or one per output) on the outputs that have none yet."""
    if masks is None:
        return
    flat_outputs = list(outputs) if isinstance(outputs, list | tuple) else [outputs]
    flat_masks = list(masks) if isinstance(masks, list | tuple) else [masks]
    for x, mask in zip(flat_outputs, flat_masks, strict=False):
        if mask is not None and get_mask(x) is None:
            set_mask(x, mask)


def keeping_mask(convert: Callable[[torch.Tensor], torch.Tensor]) -> Callable:
    """`convert` (a layout change) that hands the tensor's mask on to its result."""

    def converted(x: torch.Tensor) -> torch.Tensor:
        y = convert(x)
        mask = getattr(x, MASK_ATTRIBUTE, None)
        if mask is not None and y is not x:
            setattr(y, MASK_ATTRIBUTE, mask)
        return y

    return converted
