"""plot_augmentations: the pipeline is called with training=True, seeded without side effects."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from visualize_helpers import image_axes, png_pixels

import convolve
from convolve.layers.augmentation import RandomFlip, RandomRotation, RandomZoom
from convolve.visualize import augment, plot_augmentations


@pytest.fixture
def picture() -> np.ndarray:
    """An asymmetric 0-255 RGB image, so that every flip shows."""
    yy, xx = np.mgrid[0:24, 0:32].astype(np.float32)
    return np.stack([xx * 8, yy * 10, (xx + yy) * 4], axis=-1).clip(0, 255)


def test_flips_are_the_image_or_its_mirror(picture):
    out = augment(RandomFlip("horizontal"), picture, n=16, seed=0)
    assert out.shape == (16, 24, 32, 3)
    flipped = [np.array_equal(o, picture[:, ::-1]) for o in out]
    same = [np.array_equal(o, picture) for o in out]
    assert all(f or s for f, s in zip(flipped, same, strict=True))
    assert 0 < sum(flipped) < 16  # random per copy, so training=True was passed


def test_seed_repeats_and_leaves_global_state_alone(picture):
    pipeline = convolve.Sequential([RandomRotation(0.2), RandomZoom(0.2)])
    state = torch.get_rng_state()
    first = augment(pipeline, picture, n=4, seed=7)
    assert torch.equal(torch.get_rng_state(), state)
    np.testing.assert_array_equal(first, augment(pipeline, picture, n=4, seed=7))
    assert not np.array_equal(first, augment(pipeline, picture, n=4, seed=8))


def test_plot(picture, tmp_path):
    pipeline = convolve.Sequential(
        [RandomFlip("horizontal"), RandomRotation(0.1), RandomZoom(0.1)], name="augmentation"
    )
    path = tmp_path / "augmented.png"
    fig = plot_augmentations(pipeline, picture, n=9, seed=0, path=path)
    png_pixels(path, min_size=(300, 300))
    axes = image_axes(fig)
    assert len(axes) == 10 and axes[0].get_title() == "original"
    np.testing.assert_allclose(axes[0].images[0].get_array(), picture / 255.0, atol=1e-6)
    assert fig._suptitle.get_text() == "augmentation: 9 random draws (training=True)"


def test_rejects_bad_arguments(picture):
    with pytest.raises(ValueError, match="n must be a positive integer; received n=0"):
        plot_augmentations(RandomFlip(), picture, n=0)
    with pytest.raises(ValueError, match="takes one image; received a batch of 2"):
        plot_augmentations(RandomFlip(), np.stack([picture, picture]))
