"""`affine_transform` writes its output by rows or by columns; both must give the same pixels.

The oracle for the pixels is the row order, which `test_augmentation.py` checks against
Keras's own layers; here the column order is checked against it, and the choice between
the two against the geometry that decides it.
"""

import keras
import numpy as np
import pytest
import torch

from convolve.layers.augmentation import _image as im
from convolve.layers.augmentation.geometric import rotation_matrix

ATOL = 1e-5  # values in [0, 1]: the two orders differ only in float32 rounding
FILL_MODES = ["reflect", "wrap", "constant", "nearest"]


def _images(layout: str) -> torch.Tensor:
    """Six 9x11 RGB images in engine layout, in the memory a model hands on."""
    pixels = np.random.default_rng(5).uniform(0, 1, (6, 9, 11, 3))
    user = torch.as_tensor(pixels, dtype=torch.float32)
    if layout == "channels_last":
        return user.permute(0, 3, 1, 2)  # the model boundary's NHWC memory
    if layout == "rows":
        return user.permute(0, 3, 1, 2).contiguous()
    return user.permute(0, 3, 2, 1).contiguous().transpose(-1, -2)  # columns contiguous


def _sheared_maps(batch: int) -> torch.Tensor:
    """General affine maps: scale, shear and shift drawn per image."""
    g = torch.Generator().manual_seed(2)
    cols = torch.rand(batch, 6, generator=g) - 0.5
    cols[:, 0] += 1.0  # a0 near 1
    cols[:, 4] += 1.0  # b1 near 1
    cols[:, [2, 5]] *= 6.0  # shifts of a few pixels
    return torch.cat([cols, torch.zeros(batch, 2)], dim=1)


@pytest.fixture
def forced(monkeypatch):
    """Calls `affine_transform` with the write order fixed to rows or to columns."""

    def run(columns: bool, *args, **kwargs):
        monkeypatch.setattr(im, "_writes_columns", lambda rows, images: columns)
        return im.affine_transform(*args, **kwargs)

    return run


@pytest.mark.parametrize("layout", ["channels_last", "rows", "columns"])
@pytest.mark.parametrize("fill_mode", FILL_MODES)
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("output_size", [None, (7, 13)])
def test_column_order_gives_the_row_order_pixels(
    forced, layout, fill_mode, interpolation, output_size
):
    images, maps = _images(layout), _sheared_maps(6)
    args = (images, maps, interpolation, fill_mode, 0.3, output_size)
    by_rows, by_columns = forced(False, *args), forced(True, *args)
    assert by_rows.shape == by_columns.shape == (6, 3, *(output_size or (9, 11)))
    assert by_rows.stride(-1) == 1 and by_columns.stride(-2) == 1
    if interpolation == "bilinear":
        torch.testing.assert_close(by_columns, by_rows, atol=ATOL, rtol=0)
    else:
        # Nearest sampling rounds coordinates; one within float error of a half-pixel
        # may round the other way in the other order.
        assert ((by_columns - by_rows).abs() > ATOL).float().mean() < 0.02


def _rotations(degrees: float) -> torch.Tensor:
    return rotation_matrix(torch.full((6,), degrees), 9, 11)


@pytest.mark.parametrize(
    "degrees,layout,columns",
    [
        (-10.0, "channels_last", True),  # output rows run slightly slanted along input rows
        (30.0, "rows", True),
        (10.0, "columns", False),  # the input's columns are contiguous: rows cross them
        (0.0, "channels_last", False),  # rows follow rows exactly
        (90.0, "channels_last", False),  # rows cross rows
        (80.0, "rows", False),
    ],
)
def test_write_order_follows_the_slant_of_the_reads(degrees, layout, columns):
    rows = _rotations(degrees)[:, :6].reshape(6, 2, 3)
    assert im._writes_columns(rows, _images(layout)) is columns


def test_axis_aligned_maps_keep_the_row_order():
    zoom = torch.tensor([[1.3, 0.0, -2.0, 0.0, 0.8, 1.0, 0.0, 0.0]] * 6)
    for layout in ("channels_last", "rows", "columns"):
        assert not im._writes_columns(zoom[:, :6].reshape(6, 2, 3), _images(layout))


@pytest.mark.parity
@pytest.mark.parametrize("fill_mode", FILL_MODES)
def test_small_rotations_written_by_columns_match_keras(fill_mode):
    images = _images("channels_last")
    maps = _rotations(-12.0)
    assert im._writes_columns(maps[:, :6].reshape(6, 2, 3), images)
    ours = im.affine_transform(images, maps, "bilinear", fill_mode, 0.3)
    theirs = keras.ops.image.affine_transform(
        images.permute(0, 2, 3, 1).numpy(), maps.numpy(), "bilinear", fill_mode, 0.3
    )
    np.testing.assert_allclose(
        ours.permute(0, 2, 3, 1).numpy(), keras.ops.convert_to_numpy(theirs), atol=ATOL, rtol=0
    )


def test_a_compiled_augmentation_stack_has_no_graph_break():
    # The write order and RandomFlip's per-image copies read draws on the host; compiled
    # code must not, or every step would split into several graphs.
    import torch._dynamo

    from convolve.layers.augmentation import RandomFlip, RandomRotation, RandomZoom

    stack = [RandomFlip("horizontal"), RandomRotation(0.1), RandomZoom(0.1)]

    def augment(x):
        for layer in stack:
            x = layer.engine_call(x, training=True)
        return x

    torch._dynamo.reset()
    explained = torch._dynamo.explain(augment)(_images("channels_last"))
    assert explained.graph_break_count == 0, explained.break_reasons
    assert explained.graph_count == 1
