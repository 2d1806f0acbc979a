"""The one place where Keras's channels-last layout meets torch's channels-first engine.

Users see Keras shapes: `(batch, *spatial, channels)`. Inside a model every tensor of rank
3 or more is held channels-first, `(batch, channels, *spatial)`, which is what torch's
convolution and pooling kernels take; images and kernels (rank 4 and 5) are stored in
channels_last memory format, which is the user's NHWC memory and what oneDNN (CPU) and
cuDNN (CUDA) run fastest. Layout is converted at the model boundary and where a layer's
meaning depends on it (Flatten, Reshape, Dense on a feature map), never per layer.
"""

from __future__ import annotations

import functools
from typing import Any

import torch


def to_engine(x: torch.Tensor) -> torch.Tensor:
    """Keras layout to engine layout; a view, no copy."""
    return x.movedim(-1, 1) if x.ndim >= 3 else x


def to_user(x: torch.Tensor) -> torch.Tensor:
    """Engine layout to Keras layout; a view, no copy."""
    return x.movedim(1, -1) if x.ndim >= 3 else x


def engine_memory_format(x: torch.Tensor) -> torch.Tensor:
    """Lays out a boundary tensor the way convolution kernels run fastest.

    On CPU (oneDNN) and CUDA (cuDNN) alike that is channels_last memory format, the layout
    a NHWC user tensor already has, so the boundary usually costs nothing. Strides are
    checked exactly: with one channel torch counts either layout as contiguous, but
    convolutions pick their output layout from the strides.
    """
    if x.ndim not in (4, 5):
        return x.contiguous()
    fmt = CHANNELS_LAST[x.ndim]
    if torch.compiler.is_compiling():  # traced graphs must not branch on the batch size
        return x.contiguous(memory_format=fmt)
    if x.stride() != channels_last_strides(x.shape):
        return x.clone(memory_format=fmt)
    return x


CHANNELS_LAST = {4: torch.channels_last, 5: torch.channels_last_3d}


def feature_map_format(x: torch.Tensor) -> torch.Tensor:
    """`engine_memory_format` for images and volumes (rank 4 and 5); others as they are.

    Convolution and pooling apply it to their inputs. It is a stride check when the input
    is channels_last already, and one copy when a layer before handed on channels-first
    memory (geometric augmentation does, see `affine_transform`); from there on every
    feature map is channels_last again. Without it pooling and depthwise convolution return
    channels-first maps, and pooling runs several times slower on them.
    """
    return engine_memory_format(x) if x.ndim in (4, 5) else x


def channels_last_strides(shape: torch.Size) -> tuple[int, ...]:
    """Strides of an engine tensor `(N, C, *spatial)` stored as `(N, *spatial, C)`."""
    # Plain sizes (torch.Size too) are remembered, as a model meets few shapes; symbolic
    # sizes (export, compile) are not hashed, which would pin them to one value.
    if isinstance(shape, tuple) and all(type(d) is int for d in shape):
        return _cached_channels_last_strides(shape)
    return _channels_last_strides(shape)


def _channels_last_strides(shape: Any) -> tuple[int, ...]:
    order = [0, *range(2, len(shape)), 1]  # dims from outermost to innermost in memory
    strides = [0] * len(shape)
    step = 1
    for dim in reversed(order):
        strides[dim] = step
        step *= max(int(shape[dim]), 1)
    return tuple(strides)


_cached_channels_last_strides = functools.lru_cache(maxsize=256)(_channels_last_strides)


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
