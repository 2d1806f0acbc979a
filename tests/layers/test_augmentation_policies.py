"""RandAugment, AugMix, Pipeline, RandomElasticTransform, CLAHE and MaxNumBoundingBoxes
against Keras (torch backend).

Each layer is checked for:
* signature and config parity: the constructor's parameters and defaults, and
  `get_config()`, equal Keras's (MaxNumBoundingBoxes adds two keys Keras leaves out), and
  the config rebuilds the layer;
* pixels: Keras's own `transform_images` given the parameters convolve drew (RandAugment,
  AugMix, and RandomElasticTransform with its noise fields drawn from the same state of
  torch's global generator, which Keras's torch backend draws them from), or the whole
  Keras layer where it is deterministic (CLAHE, Pipeline of deterministic layers,
  MaxNumBoundingBoxes);
* statistics of the draws that Keras makes differently or not at all (stated per test);
* inference, dtypes, single images, dict inputs, seeding, and training inside a model.

Tolerances, on the 0..255 scale: `ATOL` (1e-4 of 255) for resampling (float32 rounding
of coordinates), exact or 1e-4 for value maps.
"""

import doctest
import inspect
import json

import keras
import numpy as np
import pytest
import torch

import convolve.layers as convolve_layers
from convolve.layers.augmentation import boxes, clahe, elastic, policies

# Keras's Equalization (an operation of RandAugment and AugMix) warns inside itself.
pytestmark = pytest.mark.filterwarnings("ignore:Tensor.T is deprecated")

RNG = np.random.default_rng(11)
IMAGES = RNG.integers(0, 256, (6, 13, 15, 3)).astype("float32")  # odd sides, not square
LOW_CONTRAST = np.round(IMAGES * 0.2 + 80.0)  # what CLAHE is for
ATOL = 1e-4 * 255  # resampling: float32 rounding of the coordinates
BASE_KEYS = ("name", "dtype", "trainable")
NAMES = [
    "RandAugment",
    "AugMix",
    "RandomElasticTransform",
    "ContrastLimitedAdaptiveHistogramEqualization",
    "Pipeline",
    "MaxNumBoundingBoxes",
]


def _numpy(x):
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return keras.ops.convert_to_numpy(x)


def _engine(images):
    return torch.as_tensor(images).permute(0, 3, 1, 2)


def _user(engine):
    return _numpy(engine.permute(0, 2, 3, 1))


def _keras_images(images):
    # A fresh tensor each time: Keras's RandomBrightness adds its delta in place.
    return torch.tensor(images)


# --------------------------------------------------------------------- signatures, configs
@pytest.mark.parity
@pytest.mark.parametrize("name", NAMES)
def test_signatures_match_keras(name):
    ours = inspect.signature(getattr(convolve_layers, name).__init__).parameters
    theirs = inspect.signature(getattr(keras.layers, name).__init__).parameters
    assert list(ours) == list(theirs)
    for key, parameter in theirs.items():
        assert ours[key].default == parameter.default, key


CONFIG_CASES = [
    ("RandAugment", {}),
    ("RandAugment", dict(value_range=(0, 1), num_ops=3, factor=(0.2, 0.7), seed=4)),
    ("RandAugment", dict(factor=1.0, interpolation="nearest")),
    ("AugMix", {}),
    ("AugMix", dict(value_range=[0, 1], num_chains=2, chain_depth=4, factor=0.6, alpha=0.5)),
    ("AugMix", dict(factor=(0.1, 0.2), all_ops=False, interpolation="nearest", seed=3)),
    ("RandomElasticTransform", {}),
    (
        "RandomElasticTransform",
        dict(factor=0.5, scale=(0.2, 0.8), fill_mode="constant", fill_value=3.0, seed=1),
    ),
    ("RandomElasticTransform", dict(interpolation="nearest", fill_mode="mirror")),
    ("ContrastLimitedAdaptiveHistogramEqualization", {}),
    (
        "ContrastLimitedAdaptiveHistogramEqualization",
        dict(value_range=(0, 1), clip_limit=2.0, tile_grid_size=(4, 2)),
    ),
]


@pytest.mark.parity
@pytest.mark.parametrize("name,kwargs", CONFIG_CASES)
def test_configs_match_keras_and_rebuild(name, kwargs):
    ours = getattr(convolve_layers, name)(**kwargs)
    theirs = getattr(keras.layers, name)(**kwargs)
    config = {k: v for k, v in ours.get_config().items() if k not in BASE_KEYS}
    expected = {k: v for k, v in theirs.get_config().items() if k not in BASE_KEYS}
    assert config == expected
    rebuilt = type(ours).from_config(ours.get_config())
    assert rebuilt.get_config() == ours.get_config()
    shape = (None, 13, 15, 3)
    assert ours.compute_output_shape(shape) == tuple(theirs.compute_output_shape(shape))


@pytest.mark.parity
def test_max_num_bounding_boxes_config_keeps_what_keras_drops():
    kwargs = dict(max_number=4, fill_value=-2, bounding_box_format="xyxy")
    ours = convolve_layers.MaxNumBoundingBoxes(**kwargs)
    theirs = keras.layers.MaxNumBoundingBoxes(**kwargs)
    config = {k: v for k, v in ours.get_config().items() if k not in BASE_KEYS}
    expected = {k: v for k, v in theirs.get_config().items() if k not in BASE_KEYS}
    extra = {"fill_value": -2, "bounding_box_format": "xyxy"}
    assert config == {**expected, **extra}
    rebuilt = convolve_layers.MaxNumBoundingBoxes.from_config(ours.get_config())
    assert (rebuilt.max_number, rebuilt.fill_value, rebuilt.bounding_box_format) == (4, -2, "xyxy")
    keras_rebuilt = keras.layers.MaxNumBoundingBoxes.from_config(ours.get_config())
    assert keras_rebuilt.fill_value == -2  # Keras reads the config convolve writes


# --------------------------------------------------------------------- RandAugment
def _rand_augment_pair(num_ops, seed, **kwargs):
    ours = convolve_layers.RandAugment(num_ops=num_ops, seed=seed, **kwargs)
    return ours, keras.layers.RandAugment(num_ops=num_ops, **kwargs)


def _without_idle_brightness(transformation, names):
    """Keras (torch backend) computes every operation for each of the `num_ops` steps and
    selects; its RandomBrightness adds the delta to the images in place, so brightness
    shifts the images at every step, selected or not. With one step and brightness
    selected, Keras's output is right; otherwise a zero delta keeps it what its
    selection says."""
    chosen = [names[i] for i in transformation["layer_idxes"].tolist()]
    if chosen == ["random_brightness"]:
        return transformation
    transforms = dict(transformation["transforms"])
    delta = transforms["random_brightness"]["rgb_delta"]
    transforms["random_brightness"] = {"rgb_delta": torch.zeros_like(delta)}
    return {**transformation, "transforms": transforms}


@pytest.mark.parity
@pytest.mark.parametrize("index", range(11))
@pytest.mark.parametrize("value_range", [(0, 255), (0, 1)])
def test_rand_augment_each_operation_matches_keras(index, value_range):
    images = IMAGES if value_range[1] == 255 else IMAGES / 255.0
    ours, theirs = _rand_augment_pair(1, 3, value_range=value_range, factor=0.8)
    transformation = ours.get_random_transformation(_engine(images))
    transformation["layer_idxes"] = torch.tensor([index])
    name = ours._operation_names[index]
    assert name == theirs._AUGMENT_LAYERS[index]  # Keras's list, in Keras's order
    transformation = _without_idle_brightness(transformation, ours._operation_names)
    out = _user(ours.transform_images(_engine(images), transformation))
    expected = _numpy(theirs.transform_images(_keras_images(images), transformation))
    scale = value_range[1] / 255.0
    np.testing.assert_allclose(out, expected, atol=ATOL * scale, rtol=0)
    if name not in ("auto_contrast",):  # the random images already span the range
        assert not np.allclose(out, images)


@pytest.mark.parity
@pytest.mark.parametrize("seed", range(4))
def test_rand_augment_drawn_operations_match_keras(seed):
    ours, theirs = _rand_augment_pair(3, seed, factor=(0.1, 0.6))
    transformation = ours.get_random_transformation(_engine(IMAGES))
    transformation = _without_idle_brightness(transformation, ours._operation_names)
    out = _user(ours.transform_images(_engine(IMAGES), transformation))
    expected = _numpy(theirs.transform_images(_keras_images(IMAGES), transformation))
    np.testing.assert_allclose(out, expected, atol=ATOL, rtol=0)


def test_rand_augment_draws_operations_uniformly_per_batch():
    # Keras draws `num_ops` indices uniformly in [0, 11) once per batch. Over 550 batches
    # of 8 ops each index has expected count 400, standard deviation about 19: allow 100.
    layer = convolve_layers.RandAugment(num_ops=8, seed=0)
    indices = [
        layer.get_random_transformation(torch.zeros(1, 3, 4, 4))["layer_idxes"] for _ in range(550)
    ]
    counts = np.bincount(torch.cat(indices).numpy(), minlength=11)
    assert len(counts) == 11 and np.all(np.abs(counts - 400) < 100)


def test_rand_augment_factor_sets_each_operations_range():
    layer = convolve_layers.RandAugment(factor=0.5)
    assert layer.random_rotation.factor == (0.0, 0.5)  # up to half a turn, as Keras
    assert layer.random_translation.height_lower == 0.0
    assert layer.random_posterization.factor == (1, 4)  # max(1, int(8 * 0.5)) bits
    assert layer.solarization.threshold_factor == (0.0, 0.5)
    keras_layer = keras.layers.RandAugment(factor=0.5)
    assert keras_layer.random_posterization.factor == (1, 4)
    assert tuple(keras_layer.random_rotation.factor) == layer.random_rotation.factor


def test_rand_augment_with_no_operations_returns_its_input():
    out = convolve_layers.RandAugment(num_ops=0)(IMAGES, training=True)
    np.testing.assert_array_equal(_numpy(out), IMAGES)


# --------------------------------------------------------------------- AugMix
@pytest.mark.parity
@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("all_ops", [True, False])
def test_aug_mix_drawn_chains_match_keras(seed, all_ops):
    kwargs = dict(factor=0.5, all_ops=all_ops, alpha=0.7)
    ours = convolve_layers.AugMix(seed=seed, **kwargs)
    transformation = ours.get_random_transformation(_engine(IMAGES))
    out = _user(ours.transform_images(_engine(IMAGES), transformation))
    theirs = keras.layers.AugMix(**kwargs)
    expected = _numpy(theirs.transform_images(_keras_images(IMAGES), transformation))
    # A chain may threshold (posterize, solarize) what a resampling step computed: a value
    # within float rounding of a threshold may land on either side. Allow 0.1% of values.
    assert (np.abs(out - expected) > ATOL).mean() < 1e-3
    assert not np.allclose(out, IMAGES)
    used = {step["layer_name"] for chain in transformation["chain_transforms"] for step in chain}
    assert used <= set(theirs._augment_layers)


def test_aug_mix_draws_chains_and_weights_as_keras_does():
    # Each step picks one of the n operations or none, uniformly (Keras's
    # `random.choice(ops + [None])`): over 3 x 3 x 400 steps a skip has probability 1/12
    # (all_ops, n = 11): expected 300, standard deviation about 17; allow 80. The chain
    # weights are a Dirichlet draw (they sum to 1) and the image's weight lies in [0, 1].
    layer = convolve_layers.AugMix(seed=1)
    steps = skips = 0
    for _ in range(400):
        drawn = layer.get_random_transformation(torch.zeros(1, 3, 4, 4))
        lengths = [len(chain) for chain in drawn["chain_transforms"]]
        assert len(lengths) == 3 and max(lengths) <= 3
        steps, skips = steps + 9, skips + 9 - sum(lengths)
        weights = drawn["chain_mixing_weights"]
        assert weights.shape == (3,) and abs(float(weights.sum()) - 1.0) < 1e-5
        assert 0.0 <= float(drawn["weight_sample"]) <= 1.0
    assert abs(skips - steps / 12) < 80


# --------------------------------------------------------------------- elastic
def _aligned_elastic(kwargs, images, noise_seed):
    """convolve's draws with Keras's noise: both fields from torch's global generator."""
    ours = convolve_layers.RandomElasticTransform(seed=3, **kwargs)
    transformation = ours.get_random_transformation(_engine(images))
    shape = images.shape[:3]
    torch.manual_seed(noise_seed)
    transformation["dx"] = torch.normal(0.0, 1.0, shape)
    transformation["dy"] = torch.normal(0.0, 1.0, shape)
    transformation["seed"] = None  # Keras's torch backend draws from the global generator
    out = _user(ours.transform_images(_engine(images), transformation))
    torch.manual_seed(noise_seed)
    theirs = keras.layers.RandomElasticTransform(**kwargs)
    expected = _numpy(theirs.transform_images(_keras_images(images), transformation))
    return transformation, out, expected


@pytest.mark.parity
@pytest.mark.parametrize("fill_mode", elastic.ELASTIC_FILL_MODES)
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_elastic_matches_keras_with_the_same_noise(fill_mode, interpolation):
    kwargs = dict(factor=(0.5, 0.5), scale=(0.6, 1.0), interpolation=interpolation)
    kwargs.update(fill_mode=fill_mode, fill_value=40.0)
    transformation, out, expected = _aligned_elastic(kwargs, IMAGES, 5)
    chosen = transformation["apply_transform"].numpy()
    assert 0 < chosen.sum() < len(chosen)  # some images warped, some not
    np.testing.assert_allclose(out, expected, atol=ATOL, rtol=0)
    np.testing.assert_array_equal(out[~chosen], IMAGES[~chosen])
    assert not np.allclose(out[chosen], IMAGES[chosen])


def test_elastic_fill_modes_read_different_pixels_outside():
    # The displacements reach outside the image, so the fill modes must differ there.
    outs = {
        mode: _aligned_elastic(
            dict(factor=(1.0, 1.0), scale=(1.0, 1.0), fill_mode=mode), IMAGES, 2
        )[1]
        for mode in elastic.ELASTIC_FILL_MODES
    }
    for a in outs:
        for b in outs:
            assert a == b or not np.allclose(outs[a], outs[b]), (a, b)


def test_elastic_draws_within_its_ranges_and_skips_at_zero():
    layer = convolve_layers.RandomElasticTransform(factor=(0.2, 0.6), scale=(0.3, 0.4), seed=0)
    drawn = [layer.get_random_transformation(torch.zeros(500, 3, 4, 4)) for _ in range(20)]
    assert all(0.3 <= d["distortion_factor"] <= 0.4 for d in drawn)
    # Chosen with probability u ~ U(0.2, 0.6): 0.4 on average; 10000 draws, sd about 0.005.
    share = float(torch.cat([d["apply_transform"] for d in drawn]).float().mean())
    assert 0.37 < share < 0.43
    for zero in (dict(factor=0.0), dict(scale=0.0)):
        out = convolve_layers.RandomElasticTransform(**zero)(IMAGES, training=True)
        np.testing.assert_array_equal(_numpy(out), IMAGES)
        keras_out = keras.layers.RandomElasticTransform(**zero)(IMAGES, training=True)
        np.testing.assert_array_equal(_numpy(keras_out), IMAGES)


# --------------------------------------------------------------------- CLAHE
# Keras (torch backend) counts histograms in integers and truncates the clip limit
# `clip_limit * tile_area / 256` to a whole count: with a limit of 0 every bin holds the
# same share and the image comes out unchanged ("same"); larger tiles or limits stretch
# low-contrast images ("stretched").
CLAHE_CASES = [
    ({}, LOW_CONTRAST, "same"),  # 2 x 2 tiles: limit int(0.06) = 0
    (dict(tile_grid_size=(2, 3)), LOW_CONTRAST, "same"),
    (dict(tile_grid_size=(2, 2), clip_limit=16.0), LOW_CONTRAST, "stretched"),  # limit 3
    (dict(tile_grid_size=(1, 1), clip_limit=40.0), LOW_CONTRAST, "stretched"),
    (dict(tile_grid_size=(3, 2), clip_limit=8.0), IMAGES, None),
    (dict(tile_grid_size=(4, 4), clip_limit=0.0), LOW_CONTRAST, "stretched"),  # no clip
    (dict(tile_grid_size=(20, 2)), LOW_CONTRAST, "same"),  # more tile rows than pixel rows
    (dict(tile_grid_size=(20, 2), clip_limit=0.0), LOW_CONTRAST, None),
    (
        dict(value_range=(0, 1), tile_grid_size=(2, 2), clip_limit=16.0),
        LOW_CONTRAST / 255.0,
        "stretched",
    ),
]


@pytest.mark.parity
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("kwargs,images,effect", CLAHE_CASES)
def test_clahe_matches_keras(kwargs, images, effect, training):
    layer = convolve_layers.ContrastLimitedAdaptiveHistogramEqualization(**kwargs)
    theirs = keras.layers.ContrastLimitedAdaptiveHistogramEqualization(**kwargs)
    out = _numpy(layer(images, training=training))
    expected = _numpy(theirs(images, training=training))
    np.testing.assert_allclose(out, expected, atol=1e-4 * images.max(), rtol=0)
    if effect == "same":
        np.testing.assert_allclose(out, images, atol=1e-4 * images.max(), rtol=0)
    elif effect == "stretched":
        assert np.ptp(out) > 1.5 * np.ptp(images)


@pytest.mark.parity
def test_clahe_keeps_eight_bit_images_eight_bit_as_keras_does():
    images = LOW_CONTRAST.astype("uint8")
    kwargs = dict(tile_grid_size=(2, 2))
    out = convolve_layers.ContrastLimitedAdaptiveHistogramEqualization(**kwargs)(images)
    expected = _numpy(keras.layers.ContrastLimitedAdaptiveHistogramEqualization(**kwargs)(images))
    assert out.dtype == torch.uint8 and expected.dtype == np.uint8
    np.testing.assert_array_equal(_numpy(out), expected)


# --------------------------------------------------------------------- Pipeline
def _deterministic_stack(module):
    return [
        module.Rescaling(0.5, offset=10.0),
        module.RandomInvert(factor=(1.0, 1.0)),
        module.AutoContrast(),
        module.RandomSharpness(factor=(0.9, 0.9)),
    ]


@pytest.mark.parity
@pytest.mark.parametrize("training", [True, False, None])
def test_pipeline_applies_layers_in_order_as_keras_does(training):
    ours = convolve_layers.Pipeline(_deterministic_stack(convolve_layers))
    theirs = keras.layers.Pipeline(_deterministic_stack(keras.layers))
    kwargs = {} if training is None else {"training": training}
    out, expected = _numpy(ours(IMAGES, **kwargs)), _numpy(theirs(IMAGES, **kwargs))
    np.testing.assert_allclose(out, expected, atol=1e-4, rtol=0)
    # At inference only Rescaling and AutoContrast act; called directly, or in training,
    # the pipeline's random layers act too (Keras's Pipeline trains by default).
    inference_only = _numpy(convolve_layers.AutoContrast()(IMAGES * 0.5 + 10.0))
    if training is False:
        np.testing.assert_allclose(out, inference_only, atol=1e-4, rtol=0)
    else:
        assert not np.allclose(out, inference_only, atol=1.0)


@pytest.mark.parity
def test_pipeline_config_matches_keras_and_rebuilds():
    ours = convolve_layers.Pipeline(
        [convolve_layers.RandomFlip(seed=1), convolve_layers.RandAugment(num_ops=1)], name="aug"
    )
    theirs = keras.layers.Pipeline(
        [keras.layers.RandomFlip(seed=1), keras.layers.RandAugment(num_ops=1)], name="aug"
    )
    config, expected = ours.get_config(), theirs.get_config()
    assert sorted(config) == sorted(expected) == ["layers", "name"]
    assert config["name"] == "aug"
    for mine, keras_entry in zip(config["layers"], expected["layers"], strict=True):
        assert (mine["module"], mine["class_name"]) == (
            keras_entry["module"],
            keras_entry["class_name"],
        )
        # Tuples where Keras's in-memory dict keeps tuples.
        inner = {k: v for k, v in mine["config"].items() if k not in BASE_KEYS}
        keras_inner = {k: v for k, v in keras_entry["config"].items() if k not in BASE_KEYS}
        assert inner == keras_inner
    rebuilt = convolve_layers.Pipeline.from_config(config)
    assert [type(layer).__name__ for layer in rebuilt.layers] == ["RandomFlip", "RandAugment"]
    assert rebuilt.get_config() == config
    from_keras = convolve_layers.Pipeline.from_config(expected)  # Keras's config loads too
    assert [layer.get_config()["seed"] for layer in from_keras.layers] == [1, None]


def test_pipeline_passes_dicts_and_training_to_its_layers():
    labels = np.eye(2, dtype="float32")[[0, 1, 0, 1, 0, 1]]
    pipeline = convolve_layers.Pipeline(
        [convolve_layers.RandomFlip(seed=3), convolve_layers.MixUp(seed=3)]  # mixes visibly
    )
    out = pipeline({"images": IMAGES, "labels": labels})
    assert sorted(out) == ["images", "labels"] and not np.allclose(_numpy(out["labels"]), labels)
    still = pipeline({"images": IMAGES, "labels": labels}, training=False)
    np.testing.assert_array_equal(_numpy(still["images"]), IMAGES)
    np.testing.assert_array_equal(_numpy(still["labels"]), labels)


def test_pipeline_refuses_what_is_not_a_list_of_layers():
    with pytest.raises(ValueError, match=r"Pipeline: layers must be a list of layers.*'flip'"):
        convolve_layers.Pipeline(["flip"])


# --------------------------------------------------------------------- MaxNumBoundingBoxes
BOXES = RNG.uniform(0, 10, (2, 3, 4)).astype("float32")
BOX_LABELS = np.array([[1, 2, 3], [4, 5, 6]], dtype="int64")


@pytest.mark.parity
@pytest.mark.parametrize("max_number,fill_value", [(5, -1), (2, -1), (3, 7)])
def test_max_num_bounding_boxes_pads_and_truncates_as_keras_does(max_number, fill_value):
    images = IMAGES[:2].astype("uint8")
    kwargs = dict(max_number=max_number, fill_value=fill_value, bounding_box_format="xyxy")

    def data():
        return {
            "images": images.copy(),
            "bounding_boxes": {"boxes": BOXES.copy(), "labels": BOX_LABELS.copy()},
            "labels": np.eye(2, dtype="float32"),
        }

    out = convolve_layers.MaxNumBoundingBoxes(**kwargs)(data())
    expected = keras.layers.MaxNumBoundingBoxes(**kwargs)(data())
    for key in ("boxes", "labels"):
        np.testing.assert_array_equal(
            _numpy(out["bounding_boxes"][key]), _numpy(expected["bounding_boxes"][key])
        )
    assert out["bounding_boxes"]["boxes"].shape == (2, max_number, 4)
    assert out["images"].dtype == torch.uint8
    np.testing.assert_array_equal(_numpy(out["images"]), images)
    np.testing.assert_array_equal(_numpy(out["labels"]), np.eye(2))
    shapes = {"images": (2, 13, 15, 3), "bounding_boxes": {"boxes": (2, 3, 4), "labels": (2, 3)}}
    out_shapes = convolve_layers.MaxNumBoundingBoxes(**kwargs).compute_output_shape(shapes)
    assert out_shapes["bounding_boxes"] == {
        "boxes": (2, max_number, 4),
        "labels": (2, max_number),
    }


def test_max_num_bounding_boxes_needs_a_box_format_and_boxes_and_labels():
    data = {"images": IMAGES[:2], "bounding_boxes": {"boxes": BOXES, "labels": BOX_LABELS}}
    with pytest.raises(ValueError, match="no bounding box format"):
        convolve_layers.MaxNumBoundingBoxes(4)(data)
    layer = convolve_layers.MaxNumBoundingBoxes(4, bounding_box_format="xyxy")
    with pytest.raises(ValueError, match=r"keys 'boxes' and 'labels'; received \['boxes'\]"):
        layer({"images": IMAGES[:2], "bounding_boxes": {"boxes": BOXES}})
    one = layer(
        {"images": IMAGES[0], "bounding_boxes": {"boxes": BOXES[0], "labels": BOX_LABELS[0]}}
    )
    assert tuple(one["bounding_boxes"]["boxes"].shape) == (4, 4)  # a single image's boxes
    np.testing.assert_array_equal(_numpy(layer(IMAGES)), IMAGES)  # images alone pass


# --------------------------------------------------------------------- shared behaviour
RANDOM = [
    ("RandAugment", dict(num_ops=3)),
    ("AugMix", {}),
    ("RandomElasticTransform", dict(scale=0.5)),
]


@pytest.mark.parity
@pytest.mark.parametrize("name,kwargs", RANDOM, ids=[n for n, _ in RANDOM])
def test_inference_returns_the_input_as_keras_does(name, kwargs):
    out = _numpy(getattr(convolve_layers, name)(**kwargs)(IMAGES, training=False))
    np.testing.assert_array_equal(out, IMAGES)
    keras_layer = getattr(keras.layers, name)(**kwargs)
    np.testing.assert_array_equal(_numpy(keras_layer(IMAGES, training=False)), IMAGES)


@pytest.mark.parametrize("name,kwargs", RANDOM, ids=[n for n, _ in RANDOM])
def test_a_seed_repeats_and_eight_bit_images_come_out_float(name, kwargs):
    images = IMAGES.astype("uint8")
    global_state = torch.get_rng_state()
    a = getattr(convolve_layers, name)(seed=11, **kwargs)(images, training=True)
    assert torch.equal(torch.get_rng_state(), global_state)  # a seeded layer draws on its own
    b = getattr(convolve_layers, name)(seed=11, **kwargs)(images, training=True)
    c = getattr(convolve_layers, name)(seed=12, **kwargs)(images, training=True)
    assert a.dtype == torch.float32  # as Keras's: float outputs of the layer's dtype
    np.testing.assert_array_equal(_numpy(a), _numpy(b))
    assert not np.array_equal(_numpy(a), _numpy(c))
    assert _numpy(a).min() >= 0.0 and _numpy(a).max() <= 255.0
    keras_out = getattr(keras.layers, name)(**kwargs)(images, training=True)
    assert _numpy(keras_out).dtype == np.float32


@pytest.mark.parametrize(
    "name,kwargs", [*RANDOM, ("ContrastLimitedAdaptiveHistogramEqualization", {})]
)
def test_single_images_and_labelled_dicts(name, kwargs):
    layer = getattr(convolve_layers, name)(**kwargs)
    one = layer(IMAGES[0], training=True)
    assert tuple(one.shape) == IMAGES[0].shape
    labels = np.arange(6, dtype="float32")[:, None]
    out = layer({"images": IMAGES, "labels": labels}, training=True)
    np.testing.assert_array_equal(_numpy(out["labels"]), labels)
    # Boxes need a bounding_box_format, as in Keras.
    with pytest.raises(ValueError, match="'bounding_boxes' key but no bounding box format"):
        layer({"images": IMAGES, "bounding_boxes": {"boxes": BOXES, "labels": BOX_LABELS}})


def test_layers_train_inside_a_model():
    from convolve import models, utils
    from convolve.layers import Dense, Flatten, Input

    utils.set_random_seed(0)
    stack = [
        convolve_layers.Pipeline(
            [convolve_layers.RandAugment(num_ops=2), convolve_layers.AugMix(chain_depth=2)]
        ),
        convolve_layers.RandomElasticTransform(scale=0.5),
        convolve_layers.ContrastLimitedAdaptiveHistogramEqualization(tile_grid_size=(2, 2)),
        convolve_layers.Rescaling(1 / 255),
    ]
    head = [Flatten(), Dense(1)]
    model = models.Sequential([Input((13, 15, 3)), *stack, *head])
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(IMAGES, np.zeros((6, 1), "float32"), epochs=1, batch_size=3, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    # predict: the random layers pass images through; CLAHE applies, as in Keras.
    plain = models.Sequential([Input((13, 15, 3)), *stack[2:], *head])
    np.testing.assert_allclose(
        model.predict(IMAGES, verbose=0), plain.predict(IMAGES, verbose=0), atol=1e-6
    )


def test_models_with_the_layers_save_and_load_here_and_in_keras(tmp_path):
    from convolve import models
    from convolve.layers import Dense, Flatten, Input

    stack = [
        convolve_layers.RandAugment(num_ops=1, factor=(0.1, 0.4), seed=2),
        convolve_layers.AugMix(all_ops=False, seed=1),
        convolve_layers.RandomElasticTransform(fill_mode="mirror"),
        convolve_layers.ContrastLimitedAdaptiveHistogramEqualization(tile_grid_size=(2, 2)),
        convolve_layers.MaxNumBoundingBoxes(3, fill_value=-2),
    ]
    model = models.Sequential([Input((13, 15, 3)), *stack, Flatten(), Dense(2)])
    path = tmp_path / "augmented.keras"
    model.save(path)
    loaded = models.load_model(path)
    for before, after in zip(model.layers, loaded.layers, strict=True):
        # (compared as JSON: some tuples come back as lists, as from Keras's files)
        assert json.dumps(after.get_config()) == json.dumps(before.get_config())
    np.testing.assert_allclose(
        loaded.predict(IMAGES, verbose=0), model.predict(IMAGES, verbose=0), atol=1e-6
    )
    keras_model = keras.saving.load_model(path)
    names = [type(layer).__name__ for layer in keras_model.layers]
    assert names == [type(layer).__name__ for layer in model.layers]
    assert keras_model.layers[4].fill_value == -2


# --------------------------------------------------------------------- errors, docs
@pytest.mark.parametrize(
    "call,fragments",
    [
        (
            lambda: policies.RandAugment(num_ops=-1, factor=1.5),
            ["RandAugment: 2 invalid", "num_ops=-1", "factor=1.5"],
        ),
        (
            lambda: policies.RandAugment(interpolation="bicubic", value_range=(1, 1)),
            ["interpolation='bicubic'", "value_range=(1, 1)"],
        ),
        (
            lambda: policies.AugMix(num_chains=0, chain_depth="3", alpha=0, all_ops=1),
            ["AugMix: 4 invalid", "num_chains=0", "chain_depth='3'", "alpha=0", "all_ops=1"],
        ),
        (
            lambda: elastic.RandomElasticTransform(scale=2, fill_mode="mirrored"),
            ["RandomElasticTransform: 2 invalid", "scale=2", "fill_mode='mirrored'"],
        ),
        (
            lambda: clahe.ContrastLimitedAdaptiveHistogramEqualization(tile_grid_size=(0, 2)),
            ["ContrastLimitedAdaptiveHistogramEqualization: tile_grid_size", "(0, 2)"],
        ),
        (
            lambda: boxes.MaxNumBoundingBoxes(0, fill_value=0.5),
            ["MaxNumBoundingBoxes: 2 invalid", "max_number=0", "fill_value=0.5"],
        ),
    ],
)
def test_argument_errors_name_the_argument_and_value(call, fragments):
    with pytest.raises(ValueError) as info:
        call()
    for fragment in fragments:
        assert fragment in str(info.value)


@pytest.mark.parametrize("module", [policies, elastic, clahe, boxes])
def test_docstring_examples_run(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


def _to(structure, device):
    if isinstance(structure, dict):
        return {key: _to(value, device) for key, value in structure.items()}
    if isinstance(structure, list):
        return [_to(value, device) for value in structure]
    return structure.to(device) if isinstance(structure, torch.Tensor) else structure


def _tensors(structure):
    if isinstance(structure, dict):
        return [t for value in structure.values() for t in _tensors(value)]
    if isinstance(structure, list):
        return [t for value in structure for t in _tensors(value)]
    return [structure] if isinstance(structure, torch.Tensor) else []


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name,kwargs", RANDOM, ids=[n for n, _ in RANDOM])
def test_cuda_draws_stay_on_the_gpu_and_transform_as_on_the_cpu(name, kwargs):
    layer = getattr(convolve_layers, name)(seed=0, **kwargs)
    images = _engine(IMAGES).cuda()
    transformation = layer.get_random_transformation(images, training=True)
    assert all(t.device.type == "cuda" for t in _tensors(transformation))
    there = layer.transform_images(images, transformation, training=True)
    here = layer.transform_images(images.cpu(), _to(transformation, "cpu"), training=True)
    np.testing.assert_allclose(_numpy(there), _numpy(here), atol=1e-3, rtol=0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_clahe_matches_the_cpu():
    layer = convolve_layers.ContrastLimitedAdaptiveHistogramEqualization(tile_grid_size=(2, 2))
    images = torch.as_tensor(LOW_CONTRAST.astype("uint8"))
    np.testing.assert_array_equal(_numpy(layer(images.cuda())), _numpy(layer(images)))
