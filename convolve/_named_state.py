"""State tensors with the `name` and `path` of Keras's variables (`"mean/total"`,
`"adam/dense_kernel_momentum"`), for the metrics' and optimizers' `variables` lists."""

from __future__ import annotations

from typing import Any

import torch

from convolve.losses._tensors import dtype_name


class NamedState(torch.Tensor):
    """A plain tensor carrying a Keras variable's `name` and `path`.

    Operations on it return ordinary tensors (there is no `__torch_function__` overhead);
    its owner updates it in place.
    """

    __torch_function__ = torch._C._disabled_torch_function_impl

    @classmethod
    def wrap(cls, value: torch.Tensor, name: str, path: str) -> Any:
        """`value` (sharing its storage) as this class, named `name` with path `path`."""
        state = torch.Tensor._make_subclass(cls, value, False)
        state._keras_name, state._keras_path = name, path
        return state

    @property
    def name(self) -> str:  # type: ignore[override]
        """The variable's name, e.g. `"total"`."""
        return self._keras_name

    @property
    def path(self) -> str:
        """The owner's name and the variable's, e.g. `"mean/total"`."""
        return self._keras_path

    def _plain(self) -> torch.Tensor:
        return self.as_subclass(torch.Tensor)

    def __deepcopy__(self, memo: dict) -> Any:
        copy = type(self).wrap(self._plain().clone(), self.name, self.path)
        memo[id(self)] = copy
        return copy

    def __repr__(self, **kwargs: Any) -> str:
        value = self._plain().detach().cpu().numpy()
        return (
            f"<Variable path={self.path}, shape={value.shape}, "
            f"dtype={dtype_name(self.dtype)}, value={value}>"
        )
