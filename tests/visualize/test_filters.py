"""plot_filters: first-layer kernels as images; deeper filters by gradient ascent."""

from __future__ import annotations

import numpy as np
import pytest
from visualize_helpers import image_axes, one_thread, png_pixels

from convolve.visualize import feature_maps, filter_patterns, plot_filters
from convolve.visualize.filters import kernels


def test_first_layer_shows_its_kernels(trained, tmp_path):
    path = tmp_path / "kernels.png"
    fig = plot_filters(trained.model, path=path)
    png_pixels(path, min_size=(300, 80))
    axes = image_axes(fig)
    assert len(axes) == 8  # conv_a has 8 filters
    kernel = trained.model.get_layer("conv_a").get_weights()[0]  # (3, 3, 1, 8), Keras layout
    for f, ax in enumerate(axes):
        shown = np.asarray(ax.images[0].get_array())
        k = kernel[:, :, 0, f]
        np.testing.assert_allclose(shown, (k - k.min()) / (k.max() - k.min()), atol=1e-6)
        assert ax.get_title() == f"filter {f}"
    assert kernels(trained.model.get_layer("conv_a")).shape == (8, 3, 3, 1)


def mean_activation(model, image, f):
    maps = feature_maps(model, image, "conv_b")["conv_b"]
    return float(maps[2:-2, 2:-2, f].mean())  # the interior the ascent optimises


def test_gradient_ascent_raises_each_live_filter(trained):
    model = trained.model
    with one_thread():
        patterns = filter_patterns(model, "conv_b", steps=20, seed=3)
        again = filter_patterns(model, "conv_b", filters=[0, 5], steps=20, seed=3)
        other_seed = filter_patterns(model, "conv_b", filters=[0], steps=20, seed=4)
        start = filter_patterns(model, "conv_b", filters=[0], steps=1, step_size=0.0, seed=3)[0]
    assert patterns.shape == (16, 32, 32, 1)
    assert patterns.min() >= 0.0 and patterns.max() <= 1.0  # clipped to input_range
    np.testing.assert_array_equal(again, patterns[[0, 5]])  # seeded: repeatable
    assert not np.array_equal(other_seed[0], patterns[0])
    live = 0
    for f in range(16):
        before = mean_activation(model, start, f)
        after = mean_activation(model, patterns[f], f)
        if before > 1e-3:  # a filter silent on the start image has no gradient to follow
            live += 1
            assert after > 1.5 * before, (f, before, after)
        else:
            assert after >= before
    assert live >= 4  # enough live filters for the check to mean something


def test_deeper_layer_plot(trained, tmp_path):
    path = tmp_path / "patterns.png"
    with one_thread():
        fig = plot_filters(trained.model, "conv_b", max_filters=6, steps=5, path=path)
    png_pixels(path, min_size=(300, 80))
    assert len(image_axes(fig)) == 6
    assert "maximise each filter (5 ascent steps, seed 0)" in fig._suptitle.get_text()


def test_errors(trained):
    model = trained.model
    with pytest.raises(ValueError, match="method must be one of"):
        plot_filters(model, method="deep-dream")
    with pytest.raises(ValueError, match="layer 'gap' \\(GlobalAveragePooling2D\\) is not a 2-D"):
        plot_filters(model, "gap")
    with pytest.raises(ValueError, match="has filters 0..15; received filters=\\[16\\]"):
        filter_patterns(model, "conv_b", filters=[16])
