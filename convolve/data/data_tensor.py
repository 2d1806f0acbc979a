"""`DataTensor`: the torch tensors a dataset yields, which NumPy's reductions also take.

Keras's datasets yield TensorFlow tensors, and tutorials inspect a batch with NumPy:
`np.min(first_image), np.max(first_image)` after rescaling. NumPy runs `np.min(x)` as
`x.min(axis=None, out=None)` on anything that is not an array, which a torch tensor
refuses. A `DataTensor` is a torch tensor in every other respect; only these reductions,
when NumPy calls them (it always passes `out`), are computed by NumPy on the values.

Layers and `fit` take the plain tensor underneath (`plain`), so no model computation pays
for the subclass; operations a user applies to a batch directly keep it a `DataTensor`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

# The methods NumPy's `sum`, `prod`, `min`/`amin`, `max`/`amax`, `mean`, `std`, `var`, `all`
# and `any` call on a non-array without falling back to converting it.
_NUMPY_REDUCTIONS = ("sum", "prod", "min", "max", "mean", "std", "var", "all", "any")


class DataTensor(torch.Tensor):
    """A torch tensor from a dataset; `np.min(batch)` and friends work on it as on arrays.

    Its `shape` is a plain tuple, printed `(32, 180, 180, 3)` as a tf.data batch's shape
    is; `size()` still returns a `torch.Size`.
    """

    @property
    def shape(self) -> tuple[int, ...]:  # type: ignore[override]
        return tuple(plain(self).shape)

    def __repr__(self, *, tensor_contents: Any = None) -> str:
        return plain(self).__repr__(tensor_contents=tensor_contents)


def _reduction(name: str) -> Any:
    torch_method = getattr(torch.Tensor, name)
    numpy_function = getattr(np, name)

    def method(self: DataTensor, *args: Any, **kwargs: Any) -> Any:
        if "out" in kwargs and not args:  # NumPy's call: np.min(x) -> x.min(axis=..., out=...)
            return numpy_function(self.numpy(force=True), **kwargs)
        return torch_method(self, *args, **kwargs)

    method.__name__ = name
    method.__doc__ = torch_method.__doc__
    return method


for _name in _NUMPY_REDUCTIONS:
    setattr(DataTensor, _name, _reduction(_name))


def from_array(array: np.ndarray) -> torch.Tensor:
    """A torch tensor on `array`'s memory, or on a copy where that memory is read-only
    (NumPy views of TensorFlow tensors, memory maps), which torch would warn about."""
    array = np.ascontiguousarray(array)
    return torch.from_numpy(array if array.flags.writeable else array.copy())


def plain(t: torch.Tensor) -> torch.Tensor:
    """The tensor as a plain `torch.Tensor` (no copy)."""
    return t.as_subclass(torch.Tensor) if type(t) is DataTensor else t


def as_data_tensor(value: Any) -> Any:
    """`value` as a `DataTensor` (no copy) if it is a plain tensor; otherwise unchanged."""
    return value.as_subclass(DataTensor) if type(value) is torch.Tensor else value
