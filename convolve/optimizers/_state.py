"""Optimizer state tensors with the `name` and `path` of Keras's optimizer variables.

Keras names an optimizer's variables after the optimizer and the weights they belong
to: `adam/iteration`, `adam/learning_rate`, `adam/sequential_dense_kernel_momentum`.
`OptimizerVariable` is a plain tensor carrying those two strings, so code that lists
`optimizer.variables` by name reads what it reads in Keras, while the update keeps
working on ordinary tensors (operations on one give plain tensors, and there is no
`__torch_function__` overhead).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from convolve._named_state import NamedState

__all__ = ["OptimizerVariable", "reference_label"]


def reference_label(reference: torch.Tensor, fallback: str | None) -> str:
    """The prefix Keras gives a weight's optimizer variables: its path with `/` as `_`.

    Args:
        reference: The weight.
        fallback: The name the weight was built under (e.g. from `named_parameters()`),
            used when the weight carries no Keras path.

    Returns:
        E.g. `"sequential_dense_kernel"`, or `"variable"` for an anonymous tensor.
    """
    path = getattr(reference, "path", None)
    label = path if isinstance(path, str) and path else fallback
    if not label:
        return "variable"
    return label.replace("/", "_").replace(":", "_")


class OptimizerVariable(NamedState):
    """An optimizer's state tensor, with Keras's variable `name` and `path`.

    It is the live state (updates write into it) or, for values the optimizer keeps as
    host numbers (iteration count, float learning rate), a 0-d copy whose `assign`
    writes through to the optimizer.
    """

    @classmethod
    def wrap(
        cls,
        value: torch.Tensor,
        name: str,
        path: str,
        setter: Callable[[Any], None] | None = None,
    ) -> OptimizerVariable:
        """`value` (sharing its storage) as an `OptimizerVariable` named `name`."""
        if isinstance(value, NamedState):
            value = value._plain()
        state = super().wrap(value.detach(), name, path)
        state._setter = setter
        return state

    @property
    def value(self) -> torch.Tensor:
        """The state as a plain tensor."""
        return self._plain()

    def _relabel(self, name: str, owner: str | None) -> None:
        """Renames the variable `name`, with path `owner/name` (`name` without owner)."""
        self._keras_name, self._keras_path = name, name if owner is None else f"{owner}/{name}"

    @torch.no_grad()
    def assign(self, value: Any) -> OptimizerVariable:
        """Overwrites the state in place, as Keras's `Variable.assign` does."""
        if self._setter is not None:
            self._setter(value)
        else:
            source = torch.as_tensor(value, dtype=self.dtype, device=self.device)
            self._plain().copy_(source.broadcast_to(self.shape))
        return self

    def __reduce_ex__(self, protocol: int) -> Any:
        # Pickled (e.g. by `torch.save(optimizer.state_dict())`) as a plain tensor, which
        # `torch.load(weights_only=True)` accepts.
        return self._plain().__reduce_ex__(protocol)
