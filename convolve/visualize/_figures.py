"""Shared figure handling: make a figure, draw images on it, return it or save it and close it.

A figure that will be saved is a bare `matplotlib.figure.Figure`: it needs no GUI backend and
touches no pyplot state, so plots can be written from scripts, servers and threads. A figure
that is returned (no path) is made through pyplot, so that `plt.show()` and notebooks show it.
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

PathLike = str | os.PathLike | None
SAVE_FORMATS = (".png", ".svg", ".pdf")
_OFFSCREEN = contextvars.ContextVar("offscreen", default=False)


@contextlib.contextmanager
def offscreen() -> Iterator[None]:
    """Within this block every figure is bare (no pyplot), e.g. figures bound for a report."""
    token = _OFFSCREEN.set(True)
    try:
        yield
    finally:
        _OFFSCREEN.reset(token)


def check_path(path: PathLike) -> Path | None:
    """Validates a plot's path before any work is done (its suffix picks the format)."""
    if path is None:
        return None
    path = Path(path)
    if path.suffix.lower() not in SAVE_FORMATS:
        raise ValueError(f"Plots are saved as .png, .svg or .pdf; received path={str(path)!r}")
    return path


def new_figure(
    path: PathLike, nrows: int = 1, ncols: int = 1, figsize: tuple[float, float] = (5, 4), **kw
) -> tuple[Any, np.ndarray]:
    """A figure and its `(nrows, ncols)` array of axes; bare when it will be saved."""
    check_path(path)
    if path is None and not _OFFSCREEN.get():
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=figsize)
    else:
        from matplotlib.figure import Figure

        fig = Figure(figsize=figsize)
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw) if nrows * ncols else np.empty((0, 0))
    return fig, axes


def finish(fig: Any, path: PathLike, dpi: float = 110) -> Any:
    """Saves `fig` atomically to `path` when given (and closes it); returns the figure."""
    path = check_path(path)
    if path is None:
        return fig
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    try:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        plt.close(fig)
    return fig


def png_bytes(fig: Any) -> bytes:
    """The figure as PNG bytes (for embedding); closes it."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buffer.getvalue()


def grid_shape(n: int, max_cols: int | None = None) -> tuple[int, int]:
    """Rows and columns of a near-square grid holding `n` panels."""
    cols = max(1, math.ceil(math.sqrt(n)))
    if max_cols is not None:
        cols = min(cols, max_cols)
    return max(1, math.ceil(n / cols)), cols


def image_grid(
    path: PathLike, n: int, panel: float = 2.2, max_cols: int | None = None, extra_height=0.0
) -> tuple[Any, list[Any]]:
    """A figure with `n` image panels; the grid's unused cells are removed."""
    rows, cols = grid_shape(n, max_cols)
    fig, axes = new_figure(path, rows, cols, figsize=(panel * cols, panel * rows + extra_height))
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.remove()
    return fig, flat[:n]


def value_range(images: Any) -> tuple[float, float] | None:
    """The range images were given in: (0, 1), (0, 255), or None (anything else).

    uint8 data and floats within [0, 255] that exceed 1 are 0-255; floats within [0, 1] are
    0-1; anything else (standardised inputs, activations, kernels) has no fixed range.
    """
    array = np.asarray(images)
    if array.dtype == np.uint8:
        return (0.0, 255.0)
    finite = array[np.isfinite(array)]
    if finite.size == 0:
        return (0.0, 1.0)
    low, high = float(finite.min()), float(finite.max())
    if low >= 0.0 and high <= 1.0:
        return (0.0, 1.0)
    if low >= 0.0 and high <= 255.0:
        return (0.0, 255.0)
    return None


def displayable(image: Any, limits: tuple[float, float] | None = None) -> np.ndarray:
    """An image as floats in [0, 1] for `imshow`.

    Values are mapped from `limits` (by default the range `value_range` finds), or min-max
    scaled when there is none. Channels other than RGB(A) are averaged into one.
    """
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[-1] not in (3, 4):
        array = array.mean(axis=-1)  # one channel, or channels that are not colours
    limits = limits if limits is not None else value_range(image)
    if limits is None:
        return minmax(array)
    low, high = limits
    scaled = (np.nan_to_num(array.astype(np.float32)) - low) / (high - low)
    return np.clip(scaled, 0.0, 1.0)


def minmax(array: np.ndarray) -> np.ndarray:
    """Scales to [0, 1]; a constant array becomes zeros."""
    array = np.nan_to_num(np.asarray(array, dtype=np.float32))
    low, high = float(array.min()), float(array.max())
    if high - low < 1e-12:
        return np.zeros_like(array)
    return (array - low) / (high - low)


def show_image(
    ax: Any,
    image: Any,
    title: str | None = None,
    limits: tuple[float, float] | None = None,
    **kw: Any,
) -> None:
    """Draws one image on `ax` without ticks; grayscale for a single channel.

    `limits` is the value range mapped to black..white; pass the range of the whole batch
    (`value_range(batch)`) so that images of one figure are shown alike.
    """
    image = displayable(image, limits)
    if image.ndim == 2:
        kw.setdefault("cmap", "gray")
        kw.setdefault("vmin", 0.0)
        kw.setdefault("vmax", 1.0)
    ax.imshow(image, **kw)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)
