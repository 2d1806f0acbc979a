"""`convolve.visualization` against `keras.visualization` (torch backend, Agg backend).

`draw_segmentation_masks` and the galleries are compared with Keras pixel for pixel (exact
equality of uint8 arrays; float32 results with atol=1e-4). Keras's `draw_bounding_boxes`
needs OpenCV, which is not a dependency, so box outlines are checked against a NumPy
reference of OpenCV's rectangle geometry: edges `(t + 1) // 2` pixels to each side of the
outline, square-ended, and a disc of that radius at each corner (exact for the thicknesses
used here).
"""

from __future__ import annotations

import inspect

import keras
import matplotlib
import numpy as np
import pytest
import torch

import convolve
from convolve import visualization as vis

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

KV = keras.visualization
NAMES = [
    "draw_bounding_boxes", "draw_segmentation_masks", "plot_bounding_box_gallery",
    "plot_image_gallery", "plot_segmentation_mask_gallery",
]  # fmt: skip


def test_namespace_and_signatures_match_keras() -> None:
    assert convolve.visualization is vis
    assert sorted(n for n in dir(KV) if not n.startswith("_")) == NAMES
    for name in NAMES:
        ours, theirs = inspect.signature(getattr(vis, name)), inspect.signature(getattr(KV, name))
        assert list(ours.parameters) == list(theirs.parameters), name
        for p in theirs.parameters.values():
            assert ours.parameters[p.name].default == p.default, (name, p.name)


# ----------------------------------------------------------------------------- boxes


def _reference_rectangle(shape, x1, y1, x2, y2, thickness) -> np.ndarray:
    """Boolean mask of the pixels OpenCV's rectangle paints (thickness <= 6)."""
    ys, xs = np.mgrid[: shape[0], : shape[1]]
    left, right, top, bottom = min(x1, x2), max(x1, x2), min(y1, y2), max(y1, y2)
    half = 0 if thickness <= 1 else (thickness + 1) // 2
    in_x, in_y = (xs >= left) & (xs <= right), (ys >= top) & (ys <= bottom)
    mask = np.zeros(shape[:2], bool)
    if thickness <= 1 or right > left:
        mask |= in_x & ((abs(ys - top) <= half) | (abs(ys - bottom) <= half))
    if thickness <= 1 or bottom > top:
        mask |= in_y & ((abs(xs - left) <= half) | (abs(xs - right) <= half))
    if half:
        for cx, cy in ((left, top), (right, top), (left, bottom), (right, bottom)):
            mask |= (xs - cx) ** 2 + (ys - cy) ** 2 <= half**2
    return mask


@pytest.mark.parametrize("thickness", [1, 2, 3, 5])
def test_draw_bounding_boxes_outline_pixels(thickness: int) -> None:
    rng = np.random.default_rng(thickness)
    images = rng.integers(0, 200, (2, 24, 30, 3)).astype("uint8")
    boxes = np.array([[[3, 4, 20, 15], [-4, 18, 12, 40]], [[25, 2, 29, 21], [8, 8, 8, 14]]])
    labels = np.array([[0, 5], [1, 2]])
    color = (255, 10, 200)
    out = vis.draw_bounding_boxes(
        images, {"boxes": boxes, "labels": labels}, "xyxy", color=color,
        line_thickness=thickness,
    )  # fmt: skip
    assert out.dtype == np.uint8 and out.shape == images.shape
    for i in range(2):
        mask = np.zeros(images.shape[1:3], bool)
        for box in boxes[i]:
            mask |= _reference_rectangle(images.shape[1:], *box, thickness)
        np.testing.assert_array_equal(out[i][mask], np.broadcast_to(color, (mask.sum(), 3)))
        np.testing.assert_array_equal(out[i][~mask], images[i][~mask])


def test_draw_bounding_boxes_filled_skipped_formats_and_input_untouched() -> None:
    images = np.zeros((1, 10, 12, 1), dtype="float32")
    images[0, 0, 0] = 0.5  # max <= 1: scaled by 255
    before = images.copy()
    xywh = {"boxes": np.array([[[2.0, 3.0, 5.0, 4.0], [0, 0, 9, 9]]]), "labels": [[7, -1]]}
    out = vis.draw_bounding_boxes(images, xywh, "xywh", color=(90, 1, 1), line_thickness=-1)
    expected = np.zeros((10, 12), "uint8")
    expected[0, 0] = 127  # 0.5 * 255, truncated
    expected[3:8, 2:8] = 90  # filled box x 2..7, y 3..7; the -1 label is skipped
    np.testing.assert_array_equal(out[0, ..., 0], expected)
    np.testing.assert_array_equal(images, before)
    rel = {"boxes": torch.tensor([[[2 / 12, 3 / 10, 7 / 12, 7 / 10]]]), "labels": [[0]]}
    out_rel = vis.draw_bounding_boxes(images, rel, "rel_xyxy", color=(90,), line_thickness=-1)
    np.testing.assert_array_equal(out_rel, out)


def test_draw_bounding_boxes_labels_are_written_above_the_box() -> None:
    images = np.zeros((1, 60, 80, 3), "uint8")
    data = {"boxes": [[[5, 40, 70, 58]]], "labels": [[1]], "confidences": [[0.75]]}
    plain = vis.draw_bounding_boxes(images, data, "xyxy", color=(0, 255, 0))
    labelled = vis.draw_bounding_boxes(
        images, data, "xyxy", class_mapping={1: "cat"}, color=(0, 255, 0)
    )
    text = np.any(labelled != plain, axis=-1)[0]
    rows = np.nonzero(text.any(axis=1))[0]
    # Keras's text origin: baseline 8 px above the box top when there is room
    assert rows.size and rows.max() < 40 and rows.min() > 5
    assert (labelled[0][text] == [0, 255, 0]).all()


def test_draw_bounding_boxes_channels_first_matches_channels_last() -> None:
    images = np.random.default_rng(0).integers(0, 255, (1, 12, 14, 3)).astype("uint8")
    data = {"boxes": np.array([[[1, 2, 9, 10]]]), "labels": np.array([[0]])}
    last = vis.draw_bounding_boxes(images, data, "xyxy")
    first = vis.draw_bounding_boxes(
        images.transpose(0, 3, 1, 2), data, "xyxy", data_format="channels_first"
    )
    np.testing.assert_array_equal(first.transpose(0, 2, 3, 1), last)


def test_draw_bounding_boxes_errors() -> None:
    images = np.zeros((1, 8, 8, 3))
    boxes = {"boxes": np.zeros((1, 1, 4)), "labels": np.zeros((1, 1))}
    with pytest.raises(ValueError, match=r"images\.shape=\(8, 8, 3\)"):
        vis.draw_bounding_boxes(images[0], boxes, "xyxy")
    with pytest.raises(TypeError, match="bounding_boxes"):
        vis.draw_bounding_boxes(images, np.zeros((1, 1, 4)), "xyxy")
    with pytest.raises(ValueError, match=r"\['boxes'\]"):
        vis.draw_bounding_boxes(images, {"boxes": np.zeros((1, 1, 4))}, "xyxy")
    with pytest.raises(ValueError, match="bounding_box_format='ltrb'"):
        vis.draw_bounding_boxes(images, boxes, "ltrb")
    with pytest.raises(ValueError, match=r"labels of shape \(1, 2\)"):
        vis.draw_bounding_boxes(images, {"boxes": np.zeros((1, 1, 4)), "labels": [[1, 2]]}, "xyxy")


# ----------------------------------------------------------------------------- masks


def _mask_case(seed: int = 0, dtype: str = "float32"):
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 255, (2, 5, 6, 3)).astype(dtype)
    masks = rng.integers(-1, 4, (2, 5, 6, 1))
    return images, masks


@pytest.mark.parity
@pytest.mark.parametrize("blend", [True, False])
@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_classes": 4},
        {"num_classes": 4, "alpha": 0.35, "ignore_index": 0},
        {"num_classes": 5, "color_mapping": {i: (40 * i, 255 - 30 * i, 7) for i in range(5)}},
    ],
)
def test_draw_segmentation_masks_matches_keras(blend: bool, kwargs: dict) -> None:
    images, masks = _mask_case()
    ours = vis.draw_segmentation_masks(images, masks, blend=blend, **kwargs)
    theirs = KV.draw_segmentation_masks(images, masks, blend=blend, **kwargs)
    assert type(ours) is type(theirs)
    if blend:
        assert ours.dtype == theirs.dtype == np.uint8
        np.testing.assert_array_equal(ours, theirs)
    else:
        assert ours.dtype == theirs.dtype
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-4)


@pytest.mark.parity
def test_draw_segmentation_masks_uint8_torch_and_channels_first_match_keras() -> None:
    images, masks = _mask_case(1, "uint8")
    theirs = KV.draw_segmentation_masks(images, masks, num_classes=4)
    np.testing.assert_array_equal(
        vis.draw_segmentation_masks(torch.tensor(images), torch.tensor(masks), num_classes=4),
        theirs,
    )
    cf = (images.transpose(0, 3, 1, 2), masks.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(
        vis.draw_segmentation_masks(*cf, num_classes=4, data_format="channels_first"),
        KV.draw_segmentation_masks(*cf, num_classes=4, data_format="channels_first"),
    )
    # masks without the channel axis are the same masks
    np.testing.assert_array_equal(
        vis.draw_segmentation_masks(images, masks[..., 0], num_classes=4), theirs
    )
    # default num_classes covers the largest class
    np.testing.assert_array_equal(vis.draw_segmentation_masks(images, masks), theirs)


def test_draw_segmentation_masks_errors() -> None:
    images, masks = _mask_case()
    with pytest.raises(TypeError, match="segmentation_masks.dtype=float32"):
        vis.draw_segmentation_masks(images, masks.astype("float32"))
    with pytest.raises(TypeError):
        KV.draw_segmentation_masks(images, masks.astype("float32"))
    with pytest.raises(ValueError, match="holds class 3, but num_classes=2"):
        vis.draw_segmentation_masks(images, masks, num_classes=2)
    with pytest.raises(ValueError, match="missing classes"):
        vis.draw_segmentation_masks(images, masks, num_classes=4, color_mapping={0: (1, 1, 1)})
    with pytest.raises(ValueError, match=r"images\.shape=\(5, 6, 3\)"):
        vis.draw_segmentation_masks(images[0], masks[0])
    with pytest.raises(ValueError, match="segmentation_masks.shape"):
        vis.draw_segmentation_masks(images, masks[:, :4])


# ----------------------------------------------------------------------------- galleries


def _axes_summary(fig) -> list[tuple]:
    return [
        (ax.get_title(), ax.axison, len(ax.images), ax.get_position().bounds) for ax in fig.axes
    ]


def _assert_same_figure(ours, theirs) -> None:
    assert len(ours.axes) == len(theirs.axes)
    np.testing.assert_allclose(ours.get_size_inches(), theirs.get_size_inches())
    for a, b in zip(_axes_summary(ours), _axes_summary(theirs), strict=True):
        assert a[:3] == b[:3]
        np.testing.assert_allclose(a[3], b[3], atol=1e-6)
    for ax_o, ax_t in zip(ours.axes, theirs.axes, strict=True):
        for im_o, im_t in zip(ax_o.images, ax_t.images, strict=True):
            arr_o, arr_t = np.asarray(im_o.get_array()), np.asarray(im_t.get_array())
            assert arr_o.dtype == arr_t.dtype
            np.testing.assert_array_equal(arr_o, arr_t)
    legends = [[t.get_text() for t in leg.get_texts()] for leg in ours.legends]
    assert legends == [[t.get_text() for t in leg.get_texts()] for leg in theirs.legends]


def _figure(fn, *args, **kwargs):
    """The figure a gallery function leaves open with `show=False` (it returns None, as
    Keras's does)."""
    plt.close("all")
    assert fn(*args, show=False, **kwargs) is None
    return plt.gcf()


@pytest.mark.parity
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"rows": 1, "cols": 3, "value_range": (0, 1), "scale": 1.5},
        {"y_true": np.array([0, 1, 2, 1, 0]), "y_pred": [1, 1, 9, 0, 0],
         "label_map": {0: "cat", 1: "dog", 2: "bird"}},
        {"rows": 2, "cols": 2, "value_range": (-1, 1)},
    ],
)  # fmt: skip
def test_plot_image_gallery_matches_keras(kwargs: dict) -> None:
    images = np.random.default_rng(2).uniform(0, 1, (5, 6, 7, 3)).astype("float32")
    if kwargs.get("value_range", (0, 255)) == (0, 255):
        images = images * 255
    theirs = _figure(KV.plot_image_gallery, images, **kwargs)
    ours = _figure(vis.plot_image_gallery, torch.tensor(images), **kwargs)
    assert ours is not theirs
    _assert_same_figure(ours, theirs)


def test_plot_image_gallery_path_and_errors(tmp_path) -> None:
    images = np.zeros((4, 5, 5, 3), "uint8")
    target = tmp_path / "gallery.png"
    plt.close("all")
    assert vis.plot_image_gallery(images, path=target) is None
    assert target.read_bytes()[:4] == b"\x89PNG"
    assert not plt.get_fignums()
    with pytest.raises(ValueError, match="show=True"):
        vis.plot_image_gallery(images, path=target, show=True)
    with pytest.raises(ValueError, match="label_map=None"):
        vis.plot_image_gallery(images, y_true=[0, 1, 0, 1])
    with pytest.raises(ValueError, match=r"rows=3 by cols=3 needs 9 images; received 4"):
        vis.plot_image_gallery(images, rows=3, cols=3, show=False)
    with pytest.raises(ValueError, match=r"images\.shape=\(5, 5, 3\)"):
        vis.plot_image_gallery(images[0], show=False)


@pytest.mark.parity
def test_plot_segmentation_mask_gallery_matches_keras() -> None:
    images, masks = _mask_case(3)
    pred = np.roll(masks, 1, axis=2)
    kwargs = {"num_classes": 4, "y_true": masks, "y_pred": pred, "alpha": 0.6}
    theirs = _figure(KV.plot_segmentation_mask_gallery, images, **kwargs)
    ours = _figure(vis.plot_segmentation_mask_gallery, images, **kwargs)
    assert len(ours.axes) == 6  # 2 images x (image, true, predicted)
    _assert_same_figure(ours, theirs)
    theirs = _figure(KV.plot_segmentation_mask_gallery, images, 4, y_true=masks)
    ours = _figure(vis.plot_segmentation_mask_gallery, images, 4, y_true=masks)
    _assert_same_figure(ours, theirs)


@pytest.mark.parity
def test_plot_bounding_box_gallery_without_boxes_matches_keras() -> None:
    images = np.random.default_rng(4).uniform(0, 255, (4, 8, 9, 3)).astype("float32")
    theirs = _figure(KV.plot_bounding_box_gallery, images, "xyxy", legend=True)
    ours = _figure(vis.plot_bounding_box_gallery, images, "xyxy", legend=True)
    _assert_same_figure(ours, theirs)
    assert [t.get_text() for t in ours.legends[0].get_texts()] == ["Ground Truth", "Prediction"]


def test_plot_bounding_box_gallery_draws_true_then_predicted_boxes() -> None:
    images = np.random.default_rng(5).uniform(0, 255, (2, 16, 16, 3)).astype("float32")
    y_true = {"boxes": np.array([[[2, 2, 10, 10]], [[1, 1, 5, 14]]]), "labels": [[0], [1]]}
    y_pred = {"boxes": np.array([[[4, 4, 12, 12]], [[0, 0, 0, 0]]]), "labels": [[0], [-1]]}
    fig = _figure(
        vis.plot_bounding_box_gallery, images, "xyxy", y_true=y_true, y_pred=y_pred, rows=1, cols=2
    )
    expected = vis.draw_bounding_boxes(images, y_true, "xyxy", color=(0, 188, 212))
    expected = vis.draw_bounding_boxes(expected, y_pred, "xyxy", color=(255, 235, 59))
    assert len(fig.axes) == 2 and not fig.legends
    for ax, image in zip(fig.axes, expected, strict=True):
        np.testing.assert_array_equal(np.asarray(ax.images[0].get_array()), image)
    assert (expected[0, 4, 8] == [255, 235, 59]).all()  # predicted box drawn last
    with pytest.raises(ValueError, match="legend"):
        vis.plot_bounding_box_gallery(images, "xyxy", legend=True, legend_handles=[1])
