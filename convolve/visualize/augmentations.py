"""`plot_augmentations`: what an augmentation pipeline does to one image."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from convolve.random import SeedGenerator, layer_seed_generators
from convolve.visualize._figures import PathLike, finish, image_grid, show_image, value_range
from convolve.visualize._model import as_image_batch


@contextlib.contextmanager
def _reseeded(module: torch.nn.Module, seed: int) -> Iterator[None]:
    """Within the block, the unseeded drawing layers in `module` draw from seed generators
    seeded from `seed` (the i-th such layer with `seed + i`); afterwards their own, with
    their draw counts, are back."""
    found = [(layer, g) for _, layer, g in layer_seed_generators(module) if layer.seed is None]
    for i, (layer, _) in enumerate(found):
        layer.__dict__["seed_generator"] = SeedGenerator(seed + i)
    try:
        yield
    finally:
        for layer, generator in found:
            layer.__dict__["seed_generator"] = generator


def augment(layer_or_model: Any, image: Any, n: int = 9, seed: int | None = None) -> np.ndarray:
    """`n` augmented copies of `image`, made in one call with `training=True`.

    Each copy gets its own random draw. With `seed`, torch's global generator and the
    generators of the unseeded layers are seeded for the call and restored after it, so
    the copies repeat without touching the caller's random state (a layer built with its
    own `seed` draws from its own generator instead).

    Returns:
        An array `(n, height, width, channels)`.
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"plot_augmentations: n must be a positive integer; received n={n!r}")
    batch = as_image_batch(image, "plot_augmentations")
    if len(batch) != 1:
        raise ValueError(f"plot_augmentations takes one image; received a batch of {len(batch)}.")
    copies = torch.as_tensor(np.repeat(batch, n, axis=0))
    seeded = contextlib.ExitStack()
    if seed is not None:
        seeded.enter_context(torch.random.fork_rng(devices=[]))
        torch.manual_seed(seed)
        if isinstance(layer_or_model, torch.nn.Module):
            seeded.enter_context(_reseeded(layer_or_model, seed))
    with seeded, torch.no_grad():
        out = layer_or_model(copies, training=True)
    if isinstance(out, dict):  # layers that also transform labels return a dict
        out = out["images"]
    return out.detach().cpu().numpy() if isinstance(out, torch.Tensor) else np.asarray(out)


def plot_augmentations(
    layer_or_model: Any, image: Any, n: int = 9, seed: int | None = None, path: PathLike = None
) -> Any:
    """Shows the original image and `n` augmented versions of it.

    Args:
        layer_or_model: an augmentation layer or a model made of them (e.g. a Sequential of
            `RandomFlip`, `RandomRotation`, `RandomZoom`), called with `training=True`.
        image: one image `(height, width, channels)`.
        n: how many augmented versions to show.
        seed: makes the draws repeatable (see `augment`).
        path: where to save the figure (.png, .svg or .pdf); None returns the Figure.

    Returns:
        The matplotlib Figure: `n + 1` panels, the original first.
    """
    augmented = augment(layer_or_model, image, n, seed)
    original = as_image_batch(image, "plot_augmentations")[0]
    fig, axes = image_grid(path, n + 1, panel=2.0, extra_height=0.4)
    limits = value_range(original)  # the original's range, whatever a draw does to values
    show_image(axes[0], original, "original", limits)
    for i, (ax, picture) in enumerate(zip(axes[1:], augmented, strict=True)):
        show_image(ax, picture, f"augmented {i + 1}", limits)
    name = getattr(layer_or_model, "name", type(layer_or_model).__name__)
    fig.suptitle(f"{name}: {n} random draws (training=True)", fontsize=10)
    fig.tight_layout()
    return finish(fig, path)
