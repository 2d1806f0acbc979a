"""The one place where Keras's channels-last layout meets torch's channels-first engine.

Users see Keras shapes: `(batch, *spatial, channels)`. Inside a model every tensor of rank
3 or more is held channels-first, `(batch, channels, *spatial)`, which is what torch's
convolution and pooling kernels take. Layout is converted at the model boundary and where a
layer's meaning depends on it (Flatten, Reshape, Dense on a feature map), never per layer.
"""

from __future__ import annotations

import torch


def to_engine(x: torch.Tensor) -> torch.Tensor:
    """Keras layout to engine layout; a view, no copy."""
    return x.movedim(-1, 1) if x.ndim >= 3 else x


def to_user(x: torch.Tensor) -> torch.Tensor:
    """Engine layout to Keras layout; a view, no copy."""
    return x.movedim(1, -1) if x.ndim >= 3 else x


def engine_memory_format(x: torch.Tensor) -> torch.Tensor:
    """Lays out a boundary tensor the way the device's kernels run fastest.

    CPU convolutions are fastest on contiguous NCHW; CUDA's on channels_last, which is the
    layout a NHWC user tensor already has, so there it costs nothing.
    """
    if x.device.type == "cuda" and x.ndim in (4, 5):
        fmt = torch.channels_last if x.ndim == 4 else torch.channels_last_3d
        return x.contiguous(memory_format=fmt)
    return x.contiguous()


def engine_axis(axis: int, rank: int) -> int:
    """Maps a Keras axis of a rank-`rank` tensor to the engine dim holding it."""
    if not -rank <= axis < rank:
        raise ValueError(f"axis {axis} is out of range for a tensor of rank {rank}")
    axis %= rank
    if rank < 3 or axis == 0:
        return axis
    return 1 if axis == rank - 1 else axis + 1


def engine_shape(shape: tuple) -> tuple:
    """Keras shape to the shape of the engine tensor holding it."""
    if len(shape) < 3:
        return tuple(shape)
    return (shape[0], shape[-1], *shape[1:-1])
