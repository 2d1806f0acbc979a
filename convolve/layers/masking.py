"""Layers that make and read masks (see `masks` for how masks travel).

`Masking` and `Embedding(mask_zero=True)` make a mask; it rides on the output tensor to
the layers after, as in Keras: recurrent layers skip the masked steps,
`GlobalAveragePooling1D` averages only the others, and layers that support masking
(Dense, Dropout, normalization, ...) hand it on.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from convolve import _tree
from convolve._masks import get_mask
from convolve.layers import _args, layout
from convolve.layers.base import Layer
from convolve.layers.symbolic import KerasTensor, is_symbolic


# --------------------------------------------------------------------- masks
def incoming_mask(inputs: Any) -> torch.Tensor | None:
    """The mask a previous layer attached to `inputs` (its first tensor), if any."""
    first = inputs[0] if isinstance(inputs, list | tuple) and inputs else inputs
    return get_mask(first)


def as_mask(mask: Any) -> torch.Tensor | None:
    if mask is None:
        return None
    mask = torch.as_tensor(mask)
    return mask if mask.dtype == torch.bool else mask != 0


class MaskAware(Layer):
    """A layer whose `call` reads the mask of its first input (sequences), given as a
    boolean tensor; hands on its own output mask (`compute_mask`).

    `initial_state` tensors are folded into the inputs (`[sequences, *states]`), so that
    they are graph inputs in a functional model and are laid out like every other input;
    the mask stays that of the sequences.
    """

    _engine_layout = True
    _hands_on_masks = True

    def forward(self, inputs: Any, *args: Any, training: bool | None = None, **kwargs: Any):
        mask = kwargs.pop("mask", None)
        if is_symbolic(inputs) or is_symbolic(mask):
            if mask is not None:
                raise NotImplementedError(
                    f"Layer '{self.name}' ({type(self).__name__}): a symbolic `mask` "
                    "argument is not supported in a functional model; put a Masking layer "
                    "before the layer instead."
                )
        else:
            mask = as_mask(mask if mask is not None else incoming_mask(inputs))
        initial_state = kwargs.pop("initial_state", None)
        if initial_state is not None:
            states = (
                [initial_state]
                if isinstance(initial_state, torch.Tensor | KerasTensor)
                else list(_tree.flatten(initial_state))
            )
            inputs = [inputs, *states]
        if mask is not None:
            kwargs["mask"] = mask
        return super().forward(inputs, *args, training=training, **kwargs)

    def engine_call(self, inputs: Any, training: bool | None = None, **kwargs: Any) -> Any:
        mask = kwargs.pop("mask", None)
        mask = as_mask(mask if mask is not None else incoming_mask(inputs))
        if mask is not None:
            kwargs["mask"] = mask
        return super().engine_call(inputs, training, **kwargs)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """The mask of the output, for Keras-layout `inputs` and their `mask`."""
        return mask


# --------------------------------------------------------------------- Masking
class Masking(MaskAware):
    """Masks the time steps whose features all equal `mask_value`.

    The output is the input with masked steps set to zero; recurrent layers downstream
    skip those steps.

    Example:
        >>> import torch
        >>> from convolve.layers import LSTM, Masking
        >>> x = torch.ones(1, 4, 2)
        >>> x[:, 2:] = 0.0
        >>> Masking()(x)._keras_mask.tolist()
        [[True, True, False, False]]
    """

    _built_at_init = True

    def __init__(self, mask_value: float = 0.0, **kwargs: Any) -> None:
        if isinstance(mask_value, bool) or not isinstance(mask_value, int | float):
            raise _args.fail("Masking", "mask_value", mask_value, "a number")
        super().__init__(**kwargs)
        self.mask_value = mask_value

    def call(self, inputs: torch.Tensor, mask: Any = None) -> torch.Tensor:
        x = layout.to_user(inputs)
        keep = torch.any(x != self.mask_value, dim=-1, keepdim=True)
        return layout.to_engine(x * keep.to(x.dtype))

    def compute_mask(self, inputs: Any, mask: Any = None) -> torch.Tensor:
        if not isinstance(inputs, torch.Tensor):
            inputs = torch.as_tensor(np.asarray(inputs))
        return torch.any(inputs != self.mask_value, dim=-1)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mask_value": self.mask_value}
