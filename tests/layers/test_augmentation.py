"""Augmentation layers against Keras (torch backend) and exact oracles.

Random layers are checked three ways:
* the pixels: a batch's parameters drawn by convolve are handed to Keras's own
  `transform_images` (which takes Keras's transformation dict), and both outputs must agree;
  where Keras allows a deterministic draw (equal lower and upper factors), the whole Keras
  layer is called instead;
* the draws: each image gets its own, within the documented range, repeatable by seed;
* inference: `training=False` returns the input bit for bit (as floats).
"""

import keras
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from convolve import models, utils
from convolve.layers import Input
from convolve.layers.augmentation import (
    CutMix,
    MixUp,
    RandomBrightness,
    RandomContrast,
    RandomCrop,
    RandomFlip,
    RandomResizedCrop,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
)
from convolve.layers.convolution import Conv2D
from convolve.layers.core import Dense, Flatten

RNG = np.random.default_rng(3)
IMAGES = RNG.uniform(0, 1, (6, 9, 11, 3)).astype("float32")  # odd sides, not square
ATOL = 1e-5  # values in [0, 1]; coordinates are float32 on both sides
FILL_MODES = ["reflect", "wrap", "constant", "nearest"]
INTERPOLATIONS = ["bilinear", "nearest"]


def _numpy(x):
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return keras.ops.convert_to_numpy(x)


def _engine(images):
    return torch.as_tensor(images).permute(0, 3, 1, 2)


def _draw(layer, images=IMAGES):
    """convolve's transformation for `images`, and convolve's output for it (NHWC)."""
    engine = _engine(images)
    transformation = layer.get_random_transformation(engine, training=True)
    out = layer.transform_images(engine, transformation, training=True).permute(0, 2, 3, 1)
    return transformation, _numpy(out)


def _config_without_base(config):
    return {k: v for k, v in config.items() if k not in ("name", "dtype", "trainable")}


AFFINE = [
    (RandomRotation, dict(factor=0.3)),
    (RandomZoom, dict(height_factor=(-0.6, 0.8), width_factor=(-0.5, 0.9))),
    (RandomZoom, dict(height_factor=0.4)),
    (RandomTranslation, dict(height_factor=0.9, width_factor=(-0.7, 1.0))),
]


# --------------------------------------------------------------------- pixel parity
@pytest.mark.parity
@pytest.mark.parametrize(
    "cls,kwargs", AFFINE, ids=[f"{c.__name__}-{i}" for i, (c, _) in enumerate(AFFINE)]
)
@pytest.mark.parametrize("fill_mode", FILL_MODES)
@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_affine_layers_match_keras_for_the_same_draws(cls, kwargs, fill_mode, interpolation):
    args = dict(kwargs, fill_mode=fill_mode, interpolation=interpolation, fill_value=0.7)
    transformation, ours = _draw(cls(**args, seed=11))
    theirs = getattr(keras.layers, cls.__name__)(**args)
    expected = theirs.transform_images(torch.as_tensor(IMAGES), transformation, training=True)
    np.testing.assert_allclose(ours, _numpy(expected), atol=ATOL, rtol=0)


DETERMINISTIC = [
    ("RandomRotation", dict(factor=(0.25, 0.25))),  # exactly 90 degrees
    ("RandomRotation", dict(factor=(-0.1, -0.1))),
    ("RandomZoom", dict(height_factor=(0.3, 0.3), width_factor=(-0.2, -0.2))),
    ("RandomZoom", dict(height_factor=(-0.45, -0.45))),
    ("RandomTranslation", dict(height_factor=(0.2, 0.2), width_factor=(-0.35, -0.35))),
    ("RandomTranslation", dict(height_factor=(-1.0, -1.0), width_factor=(0.4, 0.4))),
]


@pytest.mark.parity
@pytest.mark.parametrize("name,kwargs", DETERMINISTIC)
@pytest.mark.parametrize("fill_mode", FILL_MODES)
@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_deterministic_geometry_matches_the_keras_layer(name, kwargs, fill_mode, interpolation):
    args = dict(kwargs, fill_mode=fill_mode, interpolation=interpolation, fill_value=0.25)
    import convolve.layers.augmentation as aug

    ours = _numpy(getattr(aug, name)(**args)(IMAGES, training=True))
    theirs = _numpy(getattr(keras.layers, name)(**args)(IMAGES, training=True))
    if interpolation == "nearest":
        # Nearest sampling rounds coordinates; where one lands within float error of a
        # half-pixel, the two sides may pick neighbouring pixels. Allow a few such pixels.
        assert (np.abs(ours - theirs) > ATOL).mean() < 0.02
    else:
        np.testing.assert_allclose(ours, theirs, atol=ATOL, rtol=0)


@pytest.mark.parity
@pytest.mark.parametrize("mode", ["horizontal", "vertical", "horizontal_and_vertical"])
def test_random_flip_matches_keras_for_the_same_draws(mode):
    transformation, ours = _draw(RandomFlip(mode, seed=5))
    flips = transformation["flips"].reshape(-1)
    assert 0 < int(flips.sum()) < len(flips)  # this seed flips some images and not others
    theirs = keras.layers.RandomFlip(mode).transform_images(
        torch.as_tensor(IMAGES), transformation, training=True
    )
    np.testing.assert_array_equal(ours, _numpy(theirs))


@pytest.mark.parity
@pytest.mark.parametrize(
    "cls,kwargs,images",
    [
        (RandomContrast, dict(factor=(0.6, 0.9), value_range=(0, 1)), IMAGES),
        (RandomContrast, dict(factor=0.5), IMAGES * 255),
        (RandomBrightness, dict(factor=0.8, value_range=(0, 1)), IMAGES),
        (RandomBrightness, dict(factor=(-0.3, 0.6), value_range=(255, 0)), IMAGES * 255),
    ],
    ids=["contrast-01", "contrast-0255", "brightness-01", "brightness-0255"],
)
def test_color_layers_match_keras_for_the_same_draws(cls, kwargs, images):
    transformation, ours = _draw(cls(**kwargs, seed=2), images)
    theirs = getattr(keras.layers, cls.__name__)(**kwargs)
    expected = theirs.transform_images(torch.as_tensor(images), transformation, training=True)
    scale = float(np.abs(images).max())
    np.testing.assert_allclose(ours, _numpy(expected), atol=ATOL * scale, rtol=0)
    low, high = sorted(kwargs.get("value_range", (0, 255)))
    assert ours.min() >= low and ours.max() <= high


@pytest.mark.parity
def test_random_brightness_deterministic_matches_the_keras_layer():
    args = dict(factor=(0.1, 0.1), value_range=(0, 255))
    np.testing.assert_allclose(
        _numpy(RandomBrightness(**args)(IMAGES * 255, training=True)),
        _numpy(keras.layers.RandomBrightness(**args)(IMAGES * 255, training=True)),
        atol=1e-4,
    )


LABELS = np.eye(4, dtype="float32")[RNG.integers(0, 4, 6)]


@pytest.mark.parity
def test_mixup_matches_keras_for_the_same_draws():
    layer = MixUp(alpha=0.4, seed=1)
    transformation, ours = _draw(layer)
    theirs = keras.layers.MixUp(alpha=0.4)
    np.testing.assert_allclose(
        ours, _numpy(theirs.transform_images(torch.as_tensor(IMAGES), transformation)), atol=ATOL
    )
    labels = theirs.transform_labels(torch.as_tensor(LABELS), transformation, training=True)
    ours_labels = layer.transform_labels(torch.as_tensor(LABELS), transformation, training=True)
    np.testing.assert_allclose(_numpy(ours_labels), _numpy(labels), atol=1e-6)


@pytest.mark.parity
def test_cutmix_matches_keras_for_the_same_draws():
    layer = CutMix(seed=4)
    transformation, ours = _draw(layer)
    keras_masks = transformation["batch_masks"].permute(0, 2, 3, 1).expand(-1, -1, -1, 3)
    keras_transformation = {**transformation, "batch_masks": keras_masks}
    theirs = keras.layers.CutMix()
    expected = theirs.transform_images(torch.as_tensor(IMAGES), keras_transformation)
    np.testing.assert_array_equal(ours, _numpy(expected))
    labels = theirs.transform_labels(torch.as_tensor(LABELS), keras_transformation)
    ours_labels = layer.transform_labels(torch.as_tensor(LABELS), transformation, training=True)
    np.testing.assert_allclose(_numpy(ours_labels), _numpy(labels), atol=1e-6)


# --------------------------------------------------------------------- crops
@pytest.mark.parity
@pytest.mark.parametrize("size", [(5, 7), (9, 11), (9, 4), (12, 6), (4, 20), (20, 30)])
def test_random_crop_at_inference_resizes_the_largest_window_as_keras_documents(size):
    # Keras documents that RandomCrop resizes the largest centred window of the target
    # aspect ratio at inference; Keras 3.15 itself returns the input unchanged there (its
    # output then disagrees with its compute_output_shape). The documented operation is
    # Keras's smart_resize, i.e. Resizing(crop_to_aspect_ratio=True): compare with that.
    expected = keras.layers.Resizing(*size, crop_to_aspect_ratio=True)(IMAGES)
    ours = RandomCrop(*size)(IMAGES, training=False)
    assert tuple(ours.shape) == (6, *size, 3)
    np.testing.assert_allclose(_numpy(ours), _numpy(expected), atol=ATOL, rtol=0)


@pytest.mark.parity
@pytest.mark.parametrize("size", [(9, 4), (3, 11), (18, 22), (9, 11)])
def test_random_crop_training_without_room_matches_the_keras_layer(size):
    # Not larger than the target in both sides: Keras's training crop is deterministic.
    theirs = keras.layers.RandomCrop(*size)(IMAGES, training=True)
    ours = RandomCrop(*size)(IMAGES, training=True)
    np.testing.assert_allclose(_numpy(ours), _numpy(theirs), atol=ATOL, rtol=0)


def test_random_crop_draws_one_location_per_batch_as_keras():
    layer = RandomCrop(4, 5, seed=0)
    transformation, ours = _draw(layer)
    top, left = transformation["top"].tolist(), transformation["left"].tolist()
    assert len(set(zip(top, left, strict=True))) == 1
    for i, (t, l) in enumerate(zip(top, left, strict=True)):
        assert 0 <= t <= 9 - 4 and 0 <= l <= 11 - 5
        np.testing.assert_array_equal(ours[i], IMAGES[i, t : t + 4, l : l + 5])


def test_random_resized_crop_of_the_whole_image_is_a_resize():
    # scale=(1, 1) and the image's own ratio leave one possible crop: the image itself.
    layer = RandomResizedCrop(5, 7, scale=(1.0, 1.0), ratio=(11 / 9, 11 / 9), seed=0)
    expected = F.interpolate(_engine(IMAGES), (5, 7), mode="bilinear", align_corners=False)
    np.testing.assert_allclose(
        _numpy(layer(IMAGES, training=True)), _numpy(expected.permute(0, 2, 3, 1)), atol=ATOL
    )


def test_random_resized_crop_boxes_follow_scale_and_ratio():
    images = torch.rand(256, 3, 40, 60)
    layer = RandomResizedCrop(8, 8, scale=(0.2, 0.6), ratio=(0.5, 2.0), seed=1)
    top, left, h, w = layer.get_random_transformation(images)["boxes"].unbind(1)
    area = h * w / (40 * 60)
    assert (top >= 0).all() and (left >= 0).all()
    assert (top + h <= 40).all() and (left + w <= 60).all()
    # Rounding to whole pixels moves area and ratio a little past the drawn values.
    assert area.min() > 0.18 and area.max() < 0.63
    assert (w / h).min() > 0.45 and (w / h).max() < 2.2
    assert len(set(zip(top.tolist(), left.tolist(), strict=True))) > 150


def test_random_resized_crop_falls_back_to_a_centre_crop():
    # An area ratio no crop can reach within the allowed aspect ratios: torchvision's fallback.
    layer = RandomResizedCrop(4, 4, scale=(1.0, 1.0), ratio=(3.0, 4.0), seed=0)
    boxes = layer.get_random_transformation(torch.rand(2, 1, 20, 20))["boxes"]
    assert boxes.tolist() == [[6.0, 0.0, 7.0, 20.0]] * 2  # height round(20 / 3), full width


@pytest.mark.parity
def test_random_resized_crop_at_inference_resizes_the_centre_window():
    ours = RandomResizedCrop(4, 6)(IMAGES, training=False)
    theirs = keras.layers.Resizing(4, 6, crop_to_aspect_ratio=True)(IMAGES)
    np.testing.assert_allclose(_numpy(ours), _numpy(theirs), atol=ATOL)


# --------------------------------------------------------------------- draws
RANDOM_LAYERS = [
    (RandomFlip, {}),
    (RandomFlip, {"mode": "horizontal"}),
    (RandomRotation, {"factor": 0.2}),
    (RandomZoom, {"height_factor": 0.3}),
    (RandomTranslation, {"height_factor": 0.2, "width_factor": 0.2}),
    (RandomContrast, {"factor": 0.5, "value_range": (0, 1)}),
    (RandomBrightness, {"factor": 0.3, "value_range": (0, 1)}),
    (RandomCrop, {"height": 5, "width": 6}),
    (RandomResizedCrop, {"height": 5, "width": 6}),
    (MixUp, {}),
    (CutMix, {}),
]
IDS = [f"{c.__name__}-{i}" for i, (c, _) in enumerate(RANDOM_LAYERS)]


SAME_SIZE = [(c, k) for c, k in RANDOM_LAYERS if c not in (RandomCrop, RandomResizedCrop)]


@pytest.mark.parametrize("cls,kwargs", SAME_SIZE, ids=lambda v: getattr(v, "__name__", ""))
def test_inference_returns_the_input_exactly(cls, kwargs):
    # (The crops resize at inference; the crop tests cover them.)
    layer = cls(**kwargs)
    x = torch.as_tensor(IMAGES)
    assert torch.equal(layer(x, training=False), x)
    as_int = (IMAGES * 255).astype("uint8")
    out = layer(as_int, training=False)
    assert out.dtype == torch.float32 and torch.equal(out, torch.as_tensor(as_int).float())


@pytest.mark.parametrize("cls,kwargs", RANDOM_LAYERS, ids=IDS)
def test_same_seed_same_output_and_each_image_its_own_draw(cls, kwargs):
    # 16 copies of one image, so that different outputs mean different draws; mixing
    # layers need different images to show anything.
    batch = IMAGES if cls in (MixUp, CutMix) else np.repeat(IMAGES[:1], 16, axis=0)
    global_state = torch.get_rng_state()
    a = _numpy(cls(**kwargs, seed=123)(batch, training=True))
    assert torch.equal(torch.get_rng_state(), global_state)  # a seeded layer draws on its own
    b = _numpy(cls(**kwargs, seed=123)(batch, training=True))
    np.testing.assert_array_equal(a, b)
    c = _numpy(cls(**kwargs, seed=321)(batch, training=True))
    assert not np.array_equal(a, c)
    # A flip has two outcomes, and RandomCrop draws one window per batch (as Keras's);
    # every other layer draws from a continuum for each image.
    wanted = {RandomFlip: 2, RandomCrop: 1}.get(cls, len(a) // 2)
    distinct = {a[i].tobytes() for i in range(len(a))}
    assert len(distinct) >= wanted, "images of a batch must get independent draws"


@pytest.mark.parametrize("cls,kwargs", RANDOM_LAYERS, ids=IDS)
def test_unseeded_layers_follow_set_random_seed(cls, kwargs):
    # As in Keras, an unseeded layer takes its seed when it is made: the same program
    # (seed, then layer) draws the same values again.
    utils.set_random_seed(7)
    a = _numpy(cls(**kwargs)(IMAGES, training=True))
    utils.set_random_seed(7)
    np.testing.assert_array_equal(_numpy(cls(**kwargs)(IMAGES, training=True)), a)
    b = _numpy(cls(**kwargs)(IMAGES, training=True))  # a new layer, not re-seeded: new draws
    assert not np.array_equal(a, b)


def test_draws_cover_the_factor_ranges():
    images = torch.zeros(4000, 1, 3, 3)
    angle = RandomRotation((-0.1, 0.2), seed=0).get_random_transformation(images)["angle"]
    assert -36.0 <= angle.min() < -35.0 and 71.0 < angle.max() <= 72.0
    zoom = RandomZoom((-0.2, 0.5), seed=0).get_random_transformation(images)
    assert torch.equal(zoom["height_zoom"], zoom["width_zoom"])  # width_factor=None
    assert 0.8 <= zoom["height_zoom"].min() < 0.81 and 1.49 < zoom["height_zoom"].max() <= 1.5
    contrast = RandomContrast(0.3, seed=0).get_random_transformation(images)["contrast_factor"]
    assert 1.0 <= contrast.min() < 1.01 and 1.29 < contrast.max() <= 1.3  # Keras: (0, f)
    flips = RandomFlip(seed=0).get_random_transformation(images)["flips"].float().mean()
    assert 0.45 < flips < 0.55


def test_layers_called_directly_augment_like_keras():
    # Keras's augmentation layers default to training=True when called directly.
    out = RandomRotation((0.25, 0.25))(IMAGES)
    assert not np.allclose(_numpy(out), IMAGES)


def test_single_images_and_dicts():
    image = IMAGES[0]
    out = RandomTranslation((1 / 9, 1 / 9), 0.0, fill_mode="constant")(image, training=True)
    assert tuple(out.shape) == image.shape  # one image in, one out: shifted down one row
    np.testing.assert_allclose(_numpy(out)[1:], image[:-1], atol=1e-5)
    np.testing.assert_array_equal(_numpy(out)[0], 0.0)
    both = RandomFlip("horizontal", seed=0)({"images": IMAGES, "labels": LABELS})
    assert set(both) == {"images", "labels"}
    np.testing.assert_array_equal(_numpy(both["labels"]), LABELS)  # flips keep labels
    with pytest.raises(ValueError, match="'segmentation_masks' only; received keys"):
        RandomFlip()({"images": IMAGES, "boxes": LABELS})
    with pytest.raises(ValueError, match=r"\(batch, classes\).*shape \(6,\)"):
        MixUp()({"images": IMAGES, "labels": np.arange(6)})


def test_mixing_layers_mix_labels_with_the_image_weights():
    images = np.stack([np.full((4, 4, 1), float(i)) for i in range(8)]).astype("float32")
    labels = np.eye(8, dtype="float32")
    out = MixUp(alpha=1.0, seed=0)({"images": images, "labels": labels}, training=True)
    mixed_images, mixed_labels = _numpy(out["images"]), _numpy(out["labels"])
    # Image i is w*i + (1-w)*j; its label puts weight w on i and 1-w on j.
    np.testing.assert_allclose(mixed_images[:, 0, 0, 0], mixed_labels @ np.arange(8.0), atol=1e-5)
    np.testing.assert_allclose(mixed_labels.sum(axis=1), 1.0, atol=1e-6)
    images = np.stack([np.full((64, 64, 1), float(i)) for i in range(8)]).astype("float32")
    out = CutMix(seed=0)({"images": images, "labels": labels}, training=True)
    # Each source image's label weight is its share of the pixels, up to the box's fractional
    # edges (Keras weighs labels by the exact box area, pixels by whole-pixel membership).
    pixels = _numpy(out["images"])[:, :, :, 0]
    shares = np.stack([(pixels == k).mean(axis=(1, 2)) for k in range(8)], axis=1)
    np.testing.assert_allclose(_numpy(out["labels"]), shares, atol=2 * 64 / 64**2 + 1e-6)
    np.testing.assert_allclose(_numpy(out["labels"]).sum(axis=1), 1.0, atol=1e-6)
    assert ((shares > 0).sum(axis=1) == 2).sum() >= 4  # most images did get a patch


# --------------------------------------------------------------------- configs, errors, models
CONFIG_CASES = [
    ("RandomFlip", dict(mode="vertical", seed=3)),
    ("RandomRotation", dict(factor=0.2, fill_mode="wrap", fill_value=1.0)),
    ("RandomRotation", dict(factor=(-0.3, 0.1), interpolation="nearest")),
    ("RandomZoom", dict(height_factor=(0.1, 0.2), width_factor=0.3)),
    ("RandomTranslation", dict(height_factor=0.1, width_factor=(-0.2, 0.3), seed=1)),
    ("RandomCrop", dict(height=3, width=4, seed=2)),
    ("RandomContrast", dict(factor=0.4)),
    ("RandomContrast", dict(factor=(0.1, 0.4), value_range=(0, 1))),
    ("RandomBrightness", dict(factor=0.2, value_range=(1, 0))),
    ("MixUp", dict(alpha=0.3, seed=1)),
    ("CutMix", dict(factor=0.5)),
]


@pytest.mark.parity
@pytest.mark.parametrize("name,kwargs", CONFIG_CASES)
def test_configs_match_keras_and_rebuild(name, kwargs):
    import convolve.layers.augmentation as aug

    ours = getattr(aug, name)(**kwargs)
    theirs = getattr(keras.layers, name)(**kwargs)
    config, expected = (
        _config_without_base(ours.get_config()),
        _config_without_base(theirs.get_config()),
    )
    assert {k: v for k, v in config.items()} == expected
    rebuilt = type(ours).from_config(ours.get_config())
    assert _config_without_base(rebuilt.get_config()) == config
    assert ours.compute_output_shape((None, 9, 11, 3)) == theirs.compute_output_shape(
        (None, 9, 11, 3)
    )


@pytest.mark.parametrize(
    "call,fragments",
    [
        (
            lambda: RandomRotation(1.5, fill_mode="mirror", seed="x"),
            ["RandomRotation: 3 invalid arguments", "factor=1.5", "fill_mode='mirror'", "seed='x'"],
        ),
        (lambda: RandomZoom(-1.0), ["RandomZoom: height_factor", "(-1.0, 1.0]"]),
        (lambda: RandomTranslation(0.1, (0.2, 0.3, 0.4)), ["width_factor=(0.2, 0.3, 0.4)"]),
        (lambda: RandomFlip("diagonal"), ["mode='diagonal'"]),
        (lambda: RandomContrast(-0.2), ["factor=-0.2", "[0.0, 1.0]"]),
        (lambda: RandomBrightness(0.2, value_range=5), ["value_range=5"]),
        (lambda: RandomCrop(0, 2), ["height=0"]),
        (lambda: RandomResizedCrop(2, 2, scale=(0.9, 0.1)), ["scale=(0.9, 0.1)"]),
        (lambda: MixUp(alpha=0), ["alpha=0"]),
        (lambda: CutMix(factor=2), ["factor=2"]),
        (lambda: RandomFlip(data_format="channels_first"), ["channels_first"]),
    ],
)
def test_argument_errors_name_the_class_argument_and_value(call, fragments):
    with pytest.raises(ValueError) as info:
        call()
    for fragment in fragments:
        assert fragment in str(info.value)


def test_augmentation_in_a_model_is_identity_in_predict_and_random_in_fit():
    utils.set_random_seed(0)
    stack = [RandomFlip(), RandomRotation(0.1), RandomZoom(0.1)]
    head = [Conv2D(2, 3), Flatten(), Dense(1)]
    model = models.Sequential([Input((9, 11, 3)), *stack, *head])
    plain = models.Sequential([Input((9, 11, 3)), *head])  # the same (shared) head layers
    np.testing.assert_array_equal(
        model.predict(IMAGES, verbose=0), plain.predict(IMAGES, verbose=0)
    )
    assert model.count_params() == plain.count_params()
    trained = _numpy(model(torch.as_tensor(IMAGES), training=True))
    assert not np.allclose(trained, plain.predict(IMAGES, verbose=0))
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(IMAGES, np.zeros((6, 1), "float32"), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("cls,kwargs", RANDOM_LAYERS, ids=IDS)
def test_cuda_draws_stay_on_the_gpu_and_transform_as_on_the_cpu(cls, kwargs):
    layer = cls(**kwargs, seed=0)
    images = _engine(IMAGES).cuda().contiguous(memory_format=torch.channels_last)
    transformation = layer.get_random_transformation(images, training=True)
    assert all(v.is_cuda for v in transformation.values())
    on_gpu = layer.transform_images(images, transformation, training=True)
    on_cpu = layer.transform_images(
        images.cpu(), {k: v.cpu() for k, v in transformation.items()}, training=True
    )
    np.testing.assert_allclose(_numpy(on_gpu), _numpy(on_cpu), atol=ATOL, rtol=0)
