"""`rearrange`: einops-style reordering, merging and splitting of axes, as `keras.ops`.

A pattern names the input's axes, then `->`, then the output's axes. Parentheses group axes:
on the output side `(h w)` merges them into one axis (first name outermost); on the input side
`(h1 h)` splits one axis, with the lengths of all but one of the parts given as keyword
arguments. Every axis of the input appears once in the output.

Example:
    >>> import numpy as np
    >>> from convolve import ops
    >>> images = np.zeros((8, 30, 40, 3))
    >>> tuple(ops.rearrange(images, "b h w c -> b c h w").shape)
    (8, 3, 30, 40)
    >>> tuple(ops.rearrange(images, "b (h h1) (w w1) c -> b h w (c h1 w1)", h1=2, w1=2).shape)
    (8, 15, 20, 12)
"""

from __future__ import annotations

import math
import re
from typing import Any

import torch

from convolve.ops.core import as_tensor

__all__ = ["rearrange"]

_TOKEN = re.compile(r"\(([^()]*)\)|([^\s()]+)|(\S)")


def _parse(side: str, pattern: str) -> list[list[str]]:
    """The groups of axis names of one side of `pattern`: `"b (h w)"` -> `[["b"], ["h", "w"]]`."""
    groups = []
    for group, name, other in _TOKEN.findall(side):
        names = group.split() if group or not name else [name]
        if other or not all(re.fullmatch(r"\w+", n) for n in names) or (group and not names):
            raise ValueError(
                "rearrange: `pattern` may hold only axis names (letters, digits, _) and "
                f"non-nested groups of them in parentheses. Received: pattern={pattern!r}"
            )
        groups.append(names)
    return groups


def rearrange(tensor: Any, pattern: str, **axes_lengths: int) -> torch.Tensor:
    """Rearranges the axes of `tensor` as the einops-style `pattern` says.

    Args:
        tensor: Input tensor.
        pattern: `"input axes -> output axes"`, e.g. `"b h w c -> b (c h w)"`.
        **axes_lengths: Lengths of axes that an input group splits, e.g. `h1=2`.

    Returns:
        The rearranged tensor, of `tensor`'s dtype.

    Example:
        >>> from convolve import ops
        >>> ops.rearrange([[1, 2, 3], [4, 5, 6]], "a b -> b a").tolist()
        [[1, 4], [2, 5], [3, 6]]
    """
    x = as_tensor(tensor)
    if not isinstance(pattern, str) or pattern.count("->") != 1:
        raise ValueError(
            "rearrange: `pattern` must be a string with one '->' between the input and output "
            f"axes. Received: pattern={pattern!r}"
        )
    left, right = pattern.split("->")
    inputs, outputs = _parse(left, pattern), _parse(right, pattern)
    if len(inputs) != x.ndim:
        raise ValueError(
            f"rearrange: `pattern` names {len(inputs)} input axes but the tensor has rank "
            f"{x.ndim}. Received: pattern={pattern!r}, tensor.shape={tuple(x.shape)}"
        )
    in_names = [n for g in inputs for n in g]
    out_names = [n for g in outputs for n in g]
    for names, side in ((in_names, "input"), (out_names, "output")):
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(
                f"rearrange: axes {repeated} appear more than once on the {side} side of "
                f"`pattern`. Received: pattern={pattern!r}"
            )
    if set(in_names) != set(out_names):
        raise ValueError(
            "rearrange: the input and output sides of `pattern` must name the same axes. "
            f"Only in input: {sorted(set(in_names) - set(out_names))}; only in output: "
            f"{sorted(set(out_names) - set(in_names))}. Received: pattern={pattern!r}"
        )

    sizes: dict[str, int] = {}
    for group, dim in zip(inputs, x.shape, strict=True):
        if len(group) == 1:
            sizes[group[0]] = int(dim)
            continue
        unknown = [n for n in group if n not in axes_lengths]
        if len(unknown) > 1:
            raise ValueError(
                f"rearrange: the lengths of all but one of the axes in group "
                f"({' '.join(group)}) must be given as keyword arguments; missing {unknown}. "
                f"Received: axes_lengths={axes_lengths}"
            )
        known = math.prod(int(axes_lengths[n]) for n in group if n in axes_lengths)
        if unknown:
            if known <= 0 or dim % known:
                raise ValueError(
                    f"rearrange: axis of length {dim} cannot be split into group "
                    f"({' '.join(group)}) with axes_lengths={axes_lengths}."
                )
            axes_lengths_here = {unknown[0]: dim // known}
        else:
            if known != dim:
                raise ValueError(
                    f"rearrange: axis of length {dim} cannot be split into group "
                    f"({' '.join(group)}) with axes_lengths={axes_lengths}."
                )
            axes_lengths_here = {}
        for n in group:
            sizes[n] = int(axes_lengths_here.get(n, axes_lengths.get(n, 0)))

    x = x.reshape([sizes[n] for n in in_names])
    x = x.permute([in_names.index(n) for n in out_names])
    return x.reshape([math.prod(sizes[n] for n in g) for g in outputs])
