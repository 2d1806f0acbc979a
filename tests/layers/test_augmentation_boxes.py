"""Bounding boxes and segmentation masks through the image augmentation layers, against
Keras (torch backend).

Keras's dict input `{"images", "labels", "bounding_boxes": {"boxes", "labels"},
"segmentation_masks"}` goes through each layer; boxes and masks must follow the images.
Random draws differ between the libraries, so the whole layers are compared where their
draw collapses to one value (a factor range of one number), and otherwise Keras's own
`transform_bounding_boxes` is given the parameters convolve drew.

Tolerances: boxes atol 1e-4 (pixels), masks exact.
"""

import copy

import keras
import numpy as np
import pytest
import torch

from convolve.layers import layout
from convolve.layers.augmentation import (
    CutMix,
    MaxNumBoundingBoxes,
    MixUp,
    RandAugment,
    RandomBrightness,
    RandomCrop,
    RandomElasticTransform,
    RandomFlip,
    RandomGrayscale,
    RandomPerspective,
    RandomResizedCrop,
    RandomRotation,
    RandomShear,
    RandomTranslation,
    RandomZoom,
)
from convolve.layers.augmentation import _image as im
from convolve.layers.preprocessing import CenterCrop, Resizing
from convolve.utils import bounding_boxes as bbox

BOX_ATOL = 1e-4
RNG = np.random.default_rng(11)
SIZE = 8  # square images: Keras's shear of boxes is exact on square images only
IMAGES = RNG.integers(0, 256, (2, SIZE, SIZE, 3)).astype("float32")
MASKS = RNG.integers(0, 4, (2, SIZE, SIZE, 1)).astype("float32")
# xyxy pixel boxes; the second image's last box is padding (label -1), as densified
# ragged boxes are.
BOXES = np.array(
    [[[1.0, 1.0, 4.0, 5.0], [2.5, 0.5, 7.5, 3.0]], [[0.0, 2.0, 3.0, 8.0], [0.0, 0.0, 0.0, 0.0]]],
    dtype="float32",
)
BOX_LABELS = np.array([[1, 2], [3, -1]], dtype="int64")


def data(fmt="xyxy", boxes=BOXES):
    converted = bbox.convert_format(boxes, "xyxy", fmt, height=SIZE, width=SIZE)
    return {
        "images": torch.tensor(IMAGES),
        "labels": torch.eye(2),
        "bounding_boxes": {"boxes": converted.clone(), "labels": torch.tensor(BOX_LABELS)},
        "segmentation_masks": torch.tensor(MASKS),
    }


def run_both(ours, theirs, inputs):
    """Both layers' outputs. Keras's masks come from its `transform_segmentation_masks`
    given its own draw: in Keras 3.15.1 a whole-layer call on a dict with masks returns
    masks that are not its images' transformation (all but one pixel zero)."""
    out = ours(copy.deepcopy(inputs), training=True)
    ref = theirs(copy.deepcopy(inputs), training=True)
    if "segmentation_masks" in inputs:
        transformation = theirs.get_random_transformation(copy.deepcopy(inputs), training=True)
        masks = inputs["segmentation_masks"].clone()
        ref["segmentation_masks"] = theirs.transform_segmentation_masks(
            masks, transformation, training=True
        )
    return out, ref


def assert_boxes(out, ref):
    np.testing.assert_allclose(
        np.asarray(out["bounding_boxes"]["boxes"]),
        keras.ops.convert_to_numpy(ref["bounding_boxes"]["boxes"]),
        atol=BOX_ATOL,
    )
    np.testing.assert_array_equal(
        np.asarray(out["bounding_boxes"]["labels"]),
        keras.ops.convert_to_numpy(ref["bounding_boxes"]["labels"]),
    )


def assert_masks(out, ref):
    np.testing.assert_array_equal(
        np.asarray(out["segmentation_masks"]),
        keras.ops.convert_to_numpy(ref["segmentation_masks"]),
    )


# ------------------------------------------------------------------ whole layers, fixed draws
def test_rotation_quarter_turn_matches_keras():
    kwargs = {"factor": (0.25, 0.25), "fill_mode": "constant", "bounding_box_format": "xyxy"}
    out, ref = run_both(RandomRotation(**kwargs), keras.layers.RandomRotation(**kwargs), data())
    assert_boxes(out, ref)
    assert_masks(out, ref)
    np.testing.assert_allclose(out["images"], keras.ops.convert_to_numpy(ref["images"]), atol=1e-3)


@pytest.mark.parametrize("fmt", ["rel_yxyx", "center_xywh", "xywh"])
def test_rotation_other_formats_convert_around_xyxy(fmt):
    # Keras's RandomRotation reads the boxes as xyxy whatever the format; these must be
    # the xyxy result, converted.
    kwargs = {"factor": (0.1, 0.1), "fill_mode": "constant"}
    in_xyxy = RandomRotation(**kwargs, bounding_box_format="xyxy")(data(), training=True)
    in_fmt = RandomRotation(**kwargs, bounding_box_format=fmt)(data(fmt), training=True)
    expected = bbox.convert_format(
        in_xyxy["bounding_boxes"]["boxes"], "xyxy", fmt, height=SIZE, width=SIZE
    )
    np.testing.assert_allclose(in_fmt["bounding_boxes"]["boxes"], expected, atol=BOX_ATOL)
    np.testing.assert_array_equal(
        in_fmt["bounding_boxes"]["labels"], in_xyxy["bounding_boxes"]["labels"]
    )


def test_rotation_small_angle_boxes_match_keras():
    kwargs = {"factor": (0.1, 0.1), "bounding_box_format": "xyxy"}
    out, ref = run_both(RandomRotation(**kwargs), keras.layers.RandomRotation(**kwargs), data())
    assert_boxes(out, ref)


@pytest.mark.parametrize("fmt", ["xyxy", "rel_xyxy"])
def test_translation_matches_keras_and_drops_boxes_that_leave(fmt):
    # Down by 2 rows, left by 3 columns: the third box leaves the image entirely.
    boxes = BOXES.copy()
    boxes[1, 1] = [0.0, 0.0, 2.0, 2.0]
    kwargs = {
        "height_factor": (0.25, 0.25),
        "width_factor": (-0.375, -0.375),
        "fill_mode": "constant",
        "bounding_box_format": fmt,
    }
    inputs = data(fmt, boxes)
    inputs["bounding_boxes"]["labels"] = torch.tensor([[1, 2], [3, 4]])
    layer, reference = RandomTranslation(**kwargs), keras.layers.RandomTranslation(**kwargs)
    out, ref = run_both(layer, reference, inputs)
    assert_boxes(out, ref)
    assert_masks(out, ref)
    assert out["bounding_boxes"]["labels"][1, 1].item() == -1


@pytest.mark.parametrize("factor", [(0.5, 0.5), (-0.5, -0.5)])
def test_zoom_matches_keras(factor):
    kwargs = {"height_factor": factor, "fill_mode": "constant", "bounding_box_format": "xyxy"}
    out, ref = run_both(RandomZoom(**kwargs), keras.layers.RandomZoom(**kwargs), data())
    assert_boxes(out, ref)
    assert_masks(out, ref)


def test_zoom_with_width_factor_matches_keras():
    kwargs = {
        "height_factor": (0.25, 0.25),
        "width_factor": (-0.5, -0.5),
        "fill_mode": "constant",
        "bounding_box_format": "xyxy",
    }
    out, ref = run_both(RandomZoom(**kwargs), keras.layers.RandomZoom(**kwargs), data())
    assert_boxes(out, ref)
    assert_masks(out, ref)


def test_crop_to_the_image_size_matches_keras():
    kwargs = {"height": SIZE, "width": SIZE, "bounding_box_format": "xyxy"}
    out, ref = run_both(RandomCrop(**kwargs), keras.layers.RandomCrop(**kwargs), data())
    assert_boxes(out, ref)
    assert_masks(out, ref)


@pytest.mark.parametrize(
    "layer_class", ["RandomBrightness", "RandomContrast", "RandomInvert", "Solarization"]
)
def test_color_layers_pass_boxes_and_masks_through_like_keras(layer_class):
    import convolve.layers as convolve_layers

    kwargs = {"bounding_box_format": "xyxy"}
    if layer_class in ("RandomBrightness", "RandomContrast"):
        kwargs["factor"] = 0.5
    ours = getattr(convolve_layers, layer_class)(**kwargs)
    theirs = getattr(keras.layers, layer_class)(**kwargs)
    out, ref = run_both(ours, theirs, data())
    assert_boxes(out, ref)
    assert_masks(out, ref)
    np.testing.assert_array_equal(out["bounding_boxes"]["boxes"], BOXES)


# ------------------------------------------------------------------ Keras's transform, our draw
def keras_boxes(layer, transformation):
    given = {"boxes": torch.tensor(BOXES), "labels": torch.tensor(BOX_LABELS)}
    out = layer.transform_bounding_boxes(given, transformation, training=True)
    return keras.ops.convert_to_numpy(out["boxes"]), keras.ops.convert_to_numpy(out["labels"])


def our_boxes(layer, transformation, size=(SIZE, SIZE)):
    given = {"boxes": torch.tensor(BOXES), "labels": torch.tensor(BOX_LABELS)}
    out = layer.transform_bounding_boxes(given, transformation, training=True, image_size=size)
    return out["boxes"].numpy(), out["labels"].numpy()


def assert_same(ours, theirs):
    np.testing.assert_allclose(ours[0], theirs[0], atol=BOX_ATOL)
    np.testing.assert_array_equal(ours[1], theirs[1])


@pytest.mark.parametrize("mode", ["horizontal", "vertical", "horizontal_and_vertical"])
def test_flip_boxes_match_keras_transform(mode):
    ours = RandomFlip(mode, bounding_box_format="xyxy")
    theirs = keras.layers.RandomFlip(mode, bounding_box_format="xyxy")
    flips = torch.tensor([True, False])
    mine = our_boxes(ours, {"flips": flips.reshape(2, 1, 1, 1)})
    # Keras's flip of boxes broadcasts the batch's flips against the 4 coordinates: it
    # works one image at a time.
    for i in range(2):
        keras_t = {"flips": flips[i : i + 1, None], "input_shape": IMAGES[i : i + 1].shape}
        given = {
            "boxes": torch.tensor(BOXES[i : i + 1]),
            "labels": torch.tensor(BOX_LABELS[i : i + 1]),
        }
        ref = theirs.transform_bounding_boxes(given, keras_t, training=True)
        np.testing.assert_allclose(mine[0][i : i + 1], ref["boxes"], atol=BOX_ATOL)
        np.testing.assert_array_equal(mine[1][i : i + 1], ref["labels"])


@pytest.mark.parametrize("shear", [(0.3, 0.0), (-0.2, 0.4), (0.25, -0.15)])
def test_shear_boxes_match_keras_transform(shear):
    factor = torch.tensor([shear, shear[::-1]], dtype=torch.float32)
    ours = RandomShear(0.5, 0.5, bounding_box_format="xyxy")
    theirs = keras.layers.RandomShear(0.5, 0.5, bounding_box_format="xyxy")
    keras_t = {"shear_factor": factor, "input_shape": IMAGES.shape}
    assert_same(our_boxes(ours, {"shear_factor": factor}), keras_boxes(theirs, keras_t))


def test_random_crop_boxes_match_keras_transform():
    # Keras's RandomCrop draws one offset per batch (and reads it as (top, left) with the
    # axes swapped for boxes): equal offsets are where both readings agree.
    ours = RandomCrop(5, 5, bounding_box_format="xyxy")
    theirs = keras.layers.RandomCrop(5, 5, bounding_box_format="xyxy")
    offset = torch.tensor([1, 1])
    mine = our_boxes(ours, {"top": offset, "left": offset})
    reference = keras_boxes(theirs, (1, 1))
    inside = (reference[0] <= 5).all(-1)  # Keras does not clip at the crop's far edges
    np.testing.assert_allclose(mine[0][inside], reference[0][inside], atol=BOX_ATOL)
    np.testing.assert_array_equal(mine[1][inside], reference[1][inside])


def test_perspective_boxes_match_keras_transform():
    ours = RandomPerspective(factor=(1.0, 1.0), scale=0.4, seed=3, bounding_box_format="xyxy")
    theirs = keras.layers.RandomPerspective(factor=1.0, scale=0.4, bounding_box_format="xyxy")
    images = torch.tensor(IMAGES).movedim(-1, 1)
    transformation = ours.get_random_transformation(images, training=True)
    transformation["apply_perspective"] = torch.tensor([True, False])
    keras_t = {**transformation, "input_shape": IMAGES.shape}
    assert_same(our_boxes(ours, transformation), keras_boxes(theirs, keras_t))


# ------------------------------------------------------------------ boxes follow the images
def box_mask(boxes, size):
    """(n, size, size): whole pixels inside each xyxy box."""
    ys, xs = np.mgrid[0:size, 0:size] + 0.5
    return np.stack(
        [(xs > b[0]) & (xs < b[2]) & (ys > b[1]) & (ys < b[3]) for b in np.asarray(boxes)]
    )


@pytest.mark.parametrize(
    "layer",
    [
        RandomFlip(seed=1, bounding_box_format="xyxy"),
        RandomCrop(6, 6, seed=2, bounding_box_format="xyxy"),
        RandomResizedCrop(
            8, 8, scale=(0.5, 1.0), ratio=(1.0, 1.0), seed=4, bounding_box_format="xyxy"
        ),
        RandomTranslation(
            (-0.25, 0.25), (-0.25, 0.25), fill_mode="constant", seed=3, bounding_box_format="xyxy"
        ),
    ],  # fmt: skip
    ids=["flip", "crop", "resized_crop", "translation"],
)
def test_boxes_follow_the_masks_of_the_same_draw(layer):
    # A mask painted from whole-pixel boxes must come out as the moved boxes paint it.
    boxes = np.array([[[1, 1, 4, 5], [4, 2, 8, 4]]] * 2, dtype="float32")
    painted = box_mask(boxes[0] * 2, 16).astype("float32")  # (2, 16, 16): one plane per box
    inputs = {
        "images": torch.rand(2, 16, 16, 3),
        "bounding_boxes": {"boxes": torch.tensor(boxes * 2), "labels": torch.ones(2, 2)},
        "segmentation_masks": torch.tensor(np.stack([painted.transpose(1, 2, 0)] * 2)),
    }
    out = layer(inputs, training=True)
    moved, masks = out["bounding_boxes"]["boxes"].numpy(), out["segmentation_masks"].numpy()
    size = masks.shape[1]
    for i in range(2):
        for k in range(2):
            if out["bounding_boxes"]["labels"][i, k] > 0:
                np.testing.assert_array_equal(box_mask(moved[i, k : k + 1], size)[0],
                                              masks[i, :, :, k] > 0.5)  # fmt: skip


# ------------------------------------------------------------------ input handling
def test_single_image_dict_matches_keras():
    kwargs = {"factor": (0.25, 0.25), "fill_mode": "constant", "bounding_box_format": "xyxy"}
    single = {
        "images": torch.tensor(IMAGES[0]),
        "bounding_boxes": {"boxes": torch.tensor(BOXES[0]), "labels": torch.tensor([1, 2])},
        "segmentation_masks": torch.tensor(MASKS[0]),
    }
    out, ref = run_both(RandomRotation(**kwargs), keras.layers.RandomRotation(**kwargs), single)
    assert tuple(out["bounding_boxes"]["boxes"].shape) == (2, 4)
    assert tuple(out["segmentation_masks"].shape) == (SIZE, SIZE, 1)
    assert_boxes(out, ref)
    assert_masks(out, ref)


def test_ragged_boxes_are_padded_as_keras_densifies():
    layer = RandomTranslation((0.0, 0.0), (0.0, 0.0), bounding_box_format="xyxy")
    inputs = {
        "images": np.zeros((2, SIZE, SIZE, 3), "float32"),
        "bounding_boxes": {"boxes": [[[1, 1, 3, 3]], [[0, 0, 2, 2], [4, 4, 6, 6]]],
                           "labels": [[7], [8, 9]]},
    }  # fmt: skip
    out = layer(inputs)["bounding_boxes"]
    np.testing.assert_array_equal(out["boxes"][0], [[1, 1, 3, 3], [0, 0, 0, 0]])
    np.testing.assert_array_equal(out["labels"], [[7, -1], [8, 9]])
    assert out["boxes"].dtype == torch.float32


def test_missing_bounding_box_format_raises_like_keras():
    inputs = data()
    with pytest.raises(ValueError, match="bounding box format"):
        RandomRotation(0.1)(inputs)
    with pytest.raises(ValueError, match="bounding box format"):
        keras.layers.RandomRotation(0.1)(copy.deepcopy(inputs))


def test_bad_arguments_and_inputs_raise_one_clear_error():
    with pytest.raises(ValueError, match="bounding_box_format=.xyz"):
        RandomFlip(bounding_box_format="xyz")
    with pytest.raises(ValueError, match="'boxes' and 'labels'"):
        RandomFlip(bounding_box_format="xyxy")({"images": IMAGES, "bounding_boxes": {"x": 1}})
    with pytest.raises(ValueError, match="segmentation_masks"):
        RandomFlip()({"images": IMAGES, "segmentation_masks": MASKS[..., 0]})
    with pytest.raises(ValueError, match="keys"):
        RandomFlip()({"images": IMAGES, "boxes": BOXES})


@pytest.mark.parametrize("layer", [RandomElasticTransform(bounding_box_format="xyxy"),
                                   CutMix(bounding_box_format="xyxy"),
                                   RandAugment(bounding_box_format="xyxy")])  # fmt: skip
def test_layers_without_box_support_refuse_boxes(layer):
    with pytest.raises(NotImplementedError, match="bounding boxes"):
        layer(data(), training=True)


def test_inference_leaves_boxes_and_masks_unchanged():
    layer = RandomRotation(0.3, bounding_box_format="xyxy")
    out = layer(data(), training=False)
    np.testing.assert_array_equal(out["bounding_boxes"]["boxes"], BOXES)
    np.testing.assert_array_equal(out["segmentation_masks"], MASKS)


def test_output_shape_config_and_max_num_boxes():
    layer = RandomCrop(4, 5, bounding_box_format="xyxy")
    shapes = {"images": (None, 8, 8, 3), "segmentation_masks": (None, 8, 8, 1)}
    out = layer.compute_output_shape(shapes)
    assert out["images"] == (None, 4, 5, 3) and out["segmentation_masks"] == (None, 4, 5, 1)
    config = layer.get_config()
    reference = keras.layers.RandomCrop(4, 5, bounding_box_format="xyxy").get_config()
    assert config["bounding_box_format"] == reference["bounding_box_format"] == "xyxy"
    assert RandomCrop.from_config(config).bounding_box_format == "xyxy"
    assert "bounding_box_format" not in RandomCrop(4, 5).get_config()
    assert "bounding_box_format" not in keras.layers.RandomCrop(4, 5).get_config()
    padded = MaxNumBoundingBoxes(3, bounding_box_format="xyxy")(data())["bounding_boxes"]
    assert tuple(padded["boxes"].shape) == (2, 3, 4)
    grey = RandomGrayscale(factor=1.0, bounding_box_format="xyxy")(data())
    np.testing.assert_array_equal(grey["segmentation_masks"], MASKS)
    assert RandomBrightness(0.1).get_config().get("bounding_box_format") is None


# ------------------------------------------------------------------ resizing, centre crop, MixUp
def sized_data(height, width, fmt="xyxy"):
    """A batch of two `height` x `width` images with boxes (the last one padding) and masks."""
    rng = np.random.default_rng(height * 100 + width)
    boxes = np.array(
        [[[1.0, 1.0, 4.0, 5.0], [2.5, 0.5, width - 0.5, 3.0]],
         [[0.0, 2.0, 3.0, height], [0.0, 0.0, 0.0, 0.0]]],
        dtype="float32",
    )  # fmt: skip
    converted = bbox.convert_format(boxes, "xyxy", fmt, height=height, width=width)
    return {
        "images": torch.tensor(rng.uniform(0, 255, (2, height, width, 3)).astype("float32")),
        "bounding_boxes": {"boxes": converted, "labels": torch.tensor(BOX_LABELS)},
        "segmentation_masks": torch.tensor(
            rng.integers(0, 4, (2, height, width, 1)).astype("float32")
        ),
    }


def keras_masks(layer, inputs):
    transformation = layer.get_random_transformation(copy.deepcopy(inputs), training=True)
    return layer.transform_segmentation_masks(
        inputs["segmentation_masks"].clone(), transformation, training=True
    )


@pytest.mark.parametrize(
    "mode", [{}, {"crop_to_aspect_ratio": True}, {"pad_to_aspect_ratio": True}]
)
@pytest.mark.parametrize(
    "in_size,out_size,fmt",
    [((8, 12), (6, 6), "xyxy"), ((10, 6), (4, 8), "xyxy"), ((8, 12), (4, 8), "rel_center_xywh")],
)
def test_resizing_boxes_and_masks_match_keras(mode, in_size, out_size, fmt):
    """Sizes whose ratios are exact in float32: elsewhere Keras's padding offset, floored
    in float32 (`(7 - 12 * (7 / 12)) // 2` gives -1), can move its boxes a pixel."""
    kwargs = {"bounding_box_format": fmt, "interpolation": "nearest", **mode}
    ours = Resizing(*out_size, **kwargs)
    theirs = keras.layers.Resizing(*out_size, **kwargs)
    inputs = sized_data(*in_size, fmt)
    out = ours(copy.deepcopy(inputs))
    ref = theirs(copy.deepcopy(inputs))
    assert_boxes(out, ref)
    ref["segmentation_masks"] = keras_masks(theirs, inputs)
    assert_masks(out, ref)
    assert out["segmentation_masks"].dtype == torch.float32
    np.testing.assert_allclose(out["images"], keras.ops.convert_to_numpy(ref["images"]), atol=1e-4)


@pytest.mark.parametrize("in_size", [(8, 12), (5, 9)])
def test_center_crop_boxes_match_keras_and_masks_are_cropped(in_size):
    ours = CenterCrop(6, 7, bounding_box_format="xyxy")
    theirs = keras.layers.CenterCrop(6, 7, bounding_box_format="xyxy")
    inputs = sized_data(*in_size)
    out = ours(copy.deepcopy(inputs))
    assert_boxes(out, theirs(copy.deepcopy(inputs)))
    np.testing.assert_array_equal(  # (8, 12) holds the crop: the masks are sliced as Keras does
        out["segmentation_masks"],
        keras.ops.convert_to_numpy(keras_masks(theirs, inputs))
        if in_size == (8, 12)
        else im.aspect_masks(inputs["segmentation_masks"].permute(0, 3, 1, 2), (6, 7)).permute(
            0, 2, 3, 1
        ),  # smaller: nearest, where Keras resizes masks bilinearly
    )


def test_center_crop_and_resizing_masks_keep_integer_dtype():
    inputs = sized_data(8, 12)
    del inputs["bounding_boxes"]
    inputs["segmentation_masks"] = inputs["segmentation_masks"].to(torch.int64)
    for layer in (CenterCrop(10, 10), Resizing(4, 4)):
        masks = layer(copy.deepcopy(inputs))["segmentation_masks"]
        assert masks.dtype == torch.int64 and set(masks.unique().tolist()) <= {0, 1, 2, 3}


def test_mix_up_joins_each_images_boxes_with_its_partners():
    ours = MixUp(alpha=0.4, bounding_box_format="xyxy", seed=3)
    inputs = data()
    inputs["labels"] = torch.eye(4)
    inputs["images"] = inputs["images"].repeat(2, 1, 1, 1)
    inputs["bounding_boxes"] = {k: v.repeat(2, *([1] * (v.ndim - 1)))
                                for k, v in inputs["bounding_boxes"].items()}  # fmt: skip
    inputs["segmentation_masks"] = inputs["segmentation_masks"].repeat(2, 1, 1, 1)
    transformation = ours.get_random_transformation(layout.to_engine(inputs["images"]))
    out = ours.transform_bounding_boxes(inputs["bounding_boxes"], transformation)
    order = transformation["permutation_order"]
    keras_transformation = {"permutation_order": order, "mix_weight": transformation["mix_weight"]}
    ref = keras.layers.MixUp(alpha=0.4, bounding_box_format="xyxy").transform_bounding_boxes(
        copy.deepcopy(inputs["bounding_boxes"]), keras_transformation
    )
    np.testing.assert_array_equal(out["boxes"], keras.ops.convert_to_numpy(ref["boxes"]))
    boxes, labels = inputs["bounding_boxes"]["boxes"], inputs["bounding_boxes"]["labels"]
    np.testing.assert_array_equal(out["labels"], torch.cat([labels, labels[order]], 1))
    assert out["boxes"].shape == (4, 4, 4) and torch.equal(out["boxes"][:, 2:], boxes[order])
    whole = ours(copy.deepcopy(inputs), training=True)
    assert whole["bounding_boxes"]["boxes"].shape == (4, 4, 4)
    assert whole["segmentation_masks"].dtype == torch.float32
    assert ours(copy.deepcopy(inputs), training=False)["bounding_boxes"]["boxes"].shape == (4, 2, 4)
