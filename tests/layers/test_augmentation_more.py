"""The colour, tone, filter and warp augmentation layers against Keras (torch backend).

Each layer is checked for:
* config parity: `get_config()` equals Keras's (keys, defaults, value types) and rebuilds;
* pixels: the whole Keras layer where its result is deterministic (a factor range collapsed
  to one value, a probability of 1, or a layer without randomness), and otherwise Keras's
  own `transform_images` given the parameters convolve drew;
* inference: `training=False` returns the input exactly, where Keras does;
* draws: each image gets its own, and a seed repeats them.

Images hold whole numbers in [0, 255] (as decoded 8-bit images do), as float32.
"""

import doctest

import keras
import numpy as np
import pytest
import torch

import convolve.layers as convolve_layers
from convolve.layers.augmentation import color, filters, geometric, perspective, tone

RNG = np.random.default_rng(5)
IMAGES = RNG.integers(0, 256, (6, 9, 11, 3)).astype("float32")  # odd sides, not square
UNIT = IMAGES / 255.0
ATOL = 1e-4  # on the 0..255 scale: float32 rounding of a few operations
BASE_KEYS = ("name", "dtype", "trainable")


def _numpy(x):
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return keras.ops.convert_to_numpy(x)


def _ours(name, kwargs):
    return getattr(convolve_layers, name)(**kwargs)


def _theirs(name, kwargs):
    return getattr(keras.layers, name)(**kwargs)


def _draw(layer, images):
    """convolve's transformation for `images` and its output (channels-last)."""
    engine = torch.as_tensor(images).permute(0, 3, 1, 2)
    transformation = layer.get_random_transformation(engine, training=True)
    out = layer.transform_images(engine, transformation, training=True)
    return transformation, _numpy(out.permute(0, 2, 3, 1))


def _keras_transform(name, kwargs, images, transformation):
    layer = _theirs(name, kwargs)
    return _numpy(layer.transform_images(torch.as_tensor(images), transformation, training=True))


def _scale(images):
    return 255.0 if images.max() > 1.0 else 1.0


# --------------------------------------------------------------------- configs
CONFIG_CASES = [
    ("RandomGrayscale", {}),
    ("RandomGrayscale", dict(factor=0.2, seed=4)),
    ("RandomInvert", {}),
    ("RandomInvert", dict(factor=(0.2, 0.7), value_range=(0, 1), seed=1)),
    ("Solarization", {}),
    ("Solarization", dict(addition_factor=0.3, threshold_factor=(0.6, 0.2), value_range=(1, 0))),
    ("RandomPosterization", dict(factor=4)),
    ("RandomPosterization", dict(factor=(6, 2), value_range=(0, 1), seed=3)),
    ("AutoContrast", {}),
    ("AutoContrast", dict(value_range=(1, 0))),
    ("RandomSaturation", dict(factor=0.5)),
    ("RandomSaturation", dict(factor=(0.8, 0.2), value_range=(1, 0), seed=2)),
    ("RandomHue", dict(factor=0.5)),
    ("RandomHue", dict(factor=(0.1, 0.3), value_range=(0, 1), seed=2)),
    ("RandomColorDegeneration", dict(factor=0.5)),
    ("RandomColorDegeneration", dict(factor=(-0.2, 0.9), value_range=[0, 1])),
    ("RandomSharpness", dict(factor=0.5)),
    ("RandomSharpness", dict(factor=(0.9, 0.1), value_range=(0, 1), seed=6)),
    ("RandomColorJitter", {}),
    (
        "RandomColorJitter",
        dict(value_range=(0, 1), brightness_factor=0.2, contrast_factor=(0.1, 0.3), seed=1),
    ),
    ("RandomColorJitter", dict(saturation_factor=0.4, hue_factor=(0.2, 0.2))),
    ("RandomShear", {}),
    (
        "RandomShear",
        dict(x_factor=0.3, y_factor=(0.5, 0.1), fill_mode="constant", fill_value=0.5, seed=1),
    ),
    ("RandomShear", dict(y_factor=1, interpolation="nearest", fill_mode="wrap")),
    ("RandomErasing", {}),
    ("RandomErasing", dict(factor=0.5, scale=0.4, fill_value=[1, 2, 3], value_range=(0, 1))),
    ("RandomErasing", dict(scale=(0.3, 0.1), fill_value=7, seed=2)),
    ("RandomGaussianBlur", {}),
    ("RandomGaussianBlur", dict(factor=(0.9, 0.2), kernel_size=5, sigma=0.5, value_range=(0, 1))),
    ("RandomGaussianBlur", dict(kernel_size=(3, 3), sigma=(0.2, 0.7), seed=9)),
    ("Equalization", {}),
    ("Equalization", dict(value_range=(1, 0), bins=64)),
    ("RandomPerspective", {}),
    ("RandomPerspective", dict(factor=0.5, scale=0.3, interpolation="nearest", fill_value=2.0)),
]


@pytest.mark.parity
@pytest.mark.parametrize("name,kwargs", CONFIG_CASES)
def test_configs_match_keras_and_rebuild(name, kwargs):
    ours, theirs = _ours(name, kwargs), _theirs(name, kwargs)
    config = {k: v for k, v in ours.get_config().items() if k not in BASE_KEYS}
    expected = {k: v for k, v in theirs.get_config().items() if k not in BASE_KEYS}
    assert config == expected  # a list and a tuple of the same items compare unequal
    rebuilt = type(ours).from_config(ours.get_config())
    assert rebuilt.get_config() == ours.get_config()
    shape = (None, 9, 11, 3)
    assert ours.compute_output_shape(shape) == tuple(theirs.compute_output_shape(shape))


# --------------------------------------------------------------------- whole-layer pixels
# Deterministic in Keras: a probability of 1, a collapsed range, or no randomness at all.
DETERMINISTIC = [
    ("RandomGrayscale", dict(factor=1.0), IMAGES),
    ("RandomInvert", dict(factor=(1.0, 1.0)), IMAGES),
    ("RandomInvert", dict(factor=(1.0, 1.0), value_range=(0, 1)), UNIT),
    ("Solarization", {}, IMAGES),  # threshold 0: every value is inverted
    ("Solarization", dict(value_range=(0, 1)), UNIT),
    ("RandomPosterization", dict(factor=(3, 3)), IMAGES),
    ("RandomPosterization", dict(factor=(5, 5), value_range=(0, 1)), UNIT),
    ("AutoContrast", {}, IMAGES * 0.5 + 20.0),
    ("AutoContrast", dict(value_range=(0, 1)), UNIT * 0.25 + 0.5),
    ("RandomSaturation", dict(factor=(0.0, 0.0)), IMAGES),  # gray
    ("RandomSaturation", dict(factor=(0.3, 0.3)), IMAGES),
    ("RandomSaturation", dict(factor=(0.8, 0.8), value_range=(0, 1)), UNIT),
    ("RandomHue", dict(factor=(1.0, 1.0)), IMAGES),  # half a turn, either way
    ("RandomHue", dict(factor=(1.0, 1.0), value_range=(0, 1)), UNIT),
    ("RandomColorDegeneration", dict(factor=(0.6, 0.6)), IMAGES),
    ("RandomColorDegeneration", dict(factor=(-0.7, -0.7), value_range=(0, 1)), UNIT),
    ("RandomSharpness", dict(factor=(0.0, 0.0)), IMAGES),  # smoothed
    ("RandomSharpness", dict(factor=(0.9, 0.9)), IMAGES),  # sharpened, clipped
    ("RandomSharpness", dict(factor=(1.0, 1.0), value_range=(0, 1)), UNIT),
    (
        "RandomColorJitter",
        dict(brightness_factor=(-0.1, -0.1), saturation_factor=(0.4, 0.4), hue_factor=(1, 1)),
        IMAGES,
    ),
    (
        "RandomColorJitter",
        dict(value_range=(0, 1), contrast_factor=0.0, saturation_factor=(0.2, 0.2)),
        UNIT,
    ),
    ("RandomGaussianBlur", dict(factor=(1.0, 1.0), sigma=(0.7, 0.7)), IMAGES),
    ("RandomGaussianBlur", dict(factor=(1.0, 1.0), kernel_size=5, sigma=(1.0, 1.0)), IMAGES),
    ("RandomGaussianBlur", dict(factor=(1.0, 1.0), sigma=(0.4, 0.4), value_range=(0, 1)), UNIT),
]


@pytest.mark.parity
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize(
    "name,kwargs,images",
    DETERMINISTIC,
    ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(DETERMINISTIC)],
)
def test_deterministic_layers_match_keras(name, kwargs, images, training):
    ours = _numpy(_ours(name, kwargs)(images, training=training))
    theirs = _numpy(_theirs(name, kwargs)(images, training=training))
    np.testing.assert_allclose(ours, theirs, atol=ATOL * _scale(images), rtol=0)
    if training or name == "AutoContrast":
        assert not np.allclose(ours, images)  # the case does change the images


@pytest.mark.parity
def test_auto_contrast_leaves_flat_channels_as_keras_does():
    images = IMAGES.copy()
    images[0, :, :, 1] = 77.0  # one flat channel
    ours = _numpy(_ours("AutoContrast", {})(images))
    np.testing.assert_allclose(ours, _numpy(keras.layers.AutoContrast()(images)), atol=ATOL)
    np.testing.assert_array_equal(ours[0, :, :, 1], 77.0)
    assert ours.min() == 0.0 and ours.max() == 255.0


# --------------------------------------------------------------------- drawn parameters
# convolve draws; Keras's own transform_images applies the same draws.
HANDED_OVER = [
    ("RandomInvert", dict(factor=(0.3, 0.8)), IMAGES),
    ("Solarization", dict(addition_factor=0.4, threshold_factor=0.9), IMAGES),
    ("Solarization", dict(addition_factor=0.2, threshold_factor=0.7, value_range=(0, 1)), UNIT),
    ("RandomPosterization", dict(factor=(1, 8)), IMAGES),
    ("RandomSaturation", dict(factor=(0.1, 0.9), value_range=(0, 1)), UNIT),
    ("RandomSaturation", dict(factor=(0.1, 0.6)), IMAGES),
    ("RandomHue", dict(factor=(0.1, 0.9)), IMAGES),
    ("RandomHue", dict(factor=0.4, value_range=(0, 1)), UNIT),
    ("RandomColorDegeneration", dict(factor=0.9), IMAGES),
    ("RandomSharpness", dict(factor=(0.0, 1.0)), IMAGES),
]
FILL_MODES = ["reflect", "wrap", "constant", "nearest"]


@pytest.mark.parity
@pytest.mark.parametrize(
    "name,kwargs,images", HANDED_OVER, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(HANDED_OVER)]
)
def test_drawn_parameters_give_keras_pixels(name, kwargs, images):
    transformation, ours = _draw(_ours(name, dict(kwargs, seed=7)), images)
    theirs = _keras_transform(name, kwargs, images, transformation)
    np.testing.assert_allclose(ours, theirs, atol=ATOL * _scale(images), rtol=0)


@pytest.mark.parity
def _assert_resampled_alike(ours, theirs, interpolation):
    if interpolation == "nearest":
        # A coordinate within float error of a half-pixel may round to either neighbour:
        # allow a few such pixels.
        assert (np.abs(ours - theirs) > ATOL * 255).mean() < 0.02
    else:
        np.testing.assert_allclose(ours, theirs, atol=ATOL * 255, rtol=0)


@pytest.mark.parity
@pytest.mark.parametrize("fill_mode", FILL_MODES)
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_shear_draws_give_keras_pixels(fill_mode, interpolation):
    args = dict(x_factor=0.4, y_factor=(0.1, 0.3), fill_mode=fill_mode, fill_value=9.0)
    args["interpolation"] = interpolation
    transformation, ours = _draw(geometric.RandomShear(**args, seed=4), IMAGES)
    signs = np.sign(_numpy(transformation["shear_factor"][:, 1]))
    assert set(signs.tolist()) == {-1.0, 1.0}  # both directions occur
    theirs = _keras_transform("RandomShear", args, IMAGES, transformation)
    _assert_resampled_alike(ours, theirs, interpolation)


@pytest.mark.parity
@pytest.mark.parametrize("fill_value", [None, 40.0, [10, 300, -5]])
def test_erasing_draws_give_keras_pixels(fill_value):
    args = dict(factor=(0.3, 0.9), scale=(0.1, 0.5), fill_value=fill_value)
    transformation, ours = _draw(filters.RandomErasing(**args, seed=2), IMAGES)
    erased = transformation["apply_erasing"]
    assert 0 < int(erased.sum()) < len(erased)  # some images erased, some not
    channels_last = {
        "apply_erasing": erased,
        "batch_masks": transformation["batch_masks"].permute(0, 2, 3, 1).expand(-1, -1, -1, 3),
        "fill_value": transformation["fill_value"].permute(0, 2, 3, 1),
    }
    theirs = _keras_transform("RandomErasing", args, IMAGES, channels_last)
    np.testing.assert_array_equal(ours, theirs)
    assert ours.min() >= 0.0 and ours.max() <= 255.0  # fills clipped to value_range


@pytest.mark.parity
def test_blur_draws_one_sigma_pair_per_batch_and_blurs_as_keras_does():
    layer = filters.RandomGaussianBlur(factor=(0.5, 0.5), kernel_size=5, seed=3)
    transformation, ours = _draw(layer, IMAGES)
    chosen, sigma = transformation["should_apply_blur"], transformation["blur_factor"]
    assert 0 < int(chosen.sum()) < len(chosen) and len(set(sigma[:, 0].tolist())) == 1
    keras_layer = keras.layers.RandomGaussianBlur(kernel_size=5)
    for i in range(len(IMAGES)):
        one = {"should_apply_blur": chosen[i : i + 1], "blur_factor": sigma[i]}
        theirs = keras_layer.transform_images(torch.as_tensor(IMAGES[i : i + 1]), one)
        np.testing.assert_allclose(ours[i : i + 1], _numpy(theirs), atol=ATOL * 255, rtol=0)


@pytest.mark.parity
@pytest.mark.parametrize("fill_value", [0.0, 100.0])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_perspective_draws_give_keras_pixels(interpolation, fill_value):
    args = dict(factor=(0.6, 0.6), scale=0.8, interpolation=interpolation, fill_value=fill_value)
    transformation, ours = _draw(perspective.RandomPerspective(**args, seed=1), IMAGES)
    chosen = transformation["apply_perspective"]
    assert 0 < int(chosen.sum()) < len(chosen)  # some images warped, some not
    theirs = _keras_transform("RandomPerspective", args, IMAGES, transformation)
    _assert_resampled_alike(ours, theirs, interpolation)


@pytest.mark.parity
@pytest.mark.filterwarnings("ignore:Tensor.T is deprecated")  # inside Keras's Equalization
@pytest.mark.parametrize(
    "kwargs,images",
    [({}, IMAGES), (dict(bins=64), IMAGES * 0.6 + 30.0), (dict(value_range=(0, 1)), UNIT)],
)
def test_equalization_matches_keras(kwargs, images):
    # A channel's histogram is pooled over the batch, as Keras pools it.
    keras_layer = _theirs("Equalization", kwargs)
    ours = _numpy(_ours("Equalization", kwargs)(images, training=True))
    np.testing.assert_allclose(
        ours, _numpy(keras_layer(images)), atol=ATOL * _scale(images), rtol=0
    )
    images = images[:1].copy()
    images[0, :, :, 2] = 0.5  # a flat channel stays as it is
    ours = _numpy(_ours("Equalization", kwargs)(images, training=True))
    np.testing.assert_allclose(
        ours, _numpy(keras_layer(images)), atol=ATOL * _scale(images), rtol=0
    )
    np.testing.assert_array_equal(ours[0, :, :, 2], 0.5)
    assert not np.allclose(ours, images)
    at_inference = _ours("Equalization", kwargs)(images, training=False)
    np.testing.assert_array_equal(_numpy(at_inference), images)
    np.testing.assert_array_equal(_numpy(keras_layer(images, training=False)), images)


def test_saturation_keeps_saturation_within_one_where_keras_leaves_the_range():
    # On 0..255 images Keras clips the scaled saturation to value_range, not to [0, 1]:
    # oversaturated colours come out negative. convolve computes the saturation as Keras
    # does on 0..1 images, where the two clips agree.
    args = dict(factor=(0.9, 0.9))
    ours = _numpy(_ours("RandomSaturation", args)(IMAGES))
    on_unit = _theirs("RandomSaturation", dict(args, value_range=(0, 1)))(UNIT)
    np.testing.assert_allclose(ours, 255.0 * _numpy(on_unit), atol=ATOL * 255.0, rtol=0)
    assert ours.min() >= 0.0 and _numpy(_theirs("RandomSaturation", args)(IMAGES)).min() < 0.0


def test_jitter_steps_share_one_stream_of_draws():
    jitter = color.RandomColorJitter(brightness_factor=0.5, contrast_factor=0.5, seed=3)
    drawn = jitter.get_random_transformation(torch.zeros(8, 3, 2, 2))
    unit_brightness = (drawn[0]["rgb_delta"] / 255.0 + 0.5).flatten()
    unit_contrast = (drawn[1]["contrast_factor"] - 1.0) / 0.5
    assert not torch.allclose(unit_brightness, unit_contrast.flatten())  # not the same draws
    assert jitter.random_brightness.seed_generator is jitter.seed_generator


def test_solarization_draws_the_documented_ranges():
    layer = tone.Solarization(addition_factor=(0.2, 0.4), threshold_factor=(0.5, 0.5), seed=0)
    drawn = layer.get_random_transformation(torch.zeros(2000, 3, 2, 2))
    additions = drawn["additions"]
    assert 51.0 <= additions.min() < 52.0 and 101.0 < additions.max() <= 102.0
    assert torch.all(drawn["thresholds"] == 127.5)


def test_posterization_keeps_bits_below_the_upper_bound_as_keras_does():
    drawn = tone.RandomPosterization((2, 5), seed=0).get_random_transformation(
        torch.zeros(2000, 3, 2, 2)
    )
    assert set((8 - drawn["shift_factor"]).tolist()) == {2, 3, 4}


# --------------------------------------------------------------------- inference, draws
RANDOM = [
    ("RandomGrayscale", {}),
    ("RandomInvert", {}),
    ("Solarization", dict(addition_factor=0.5, threshold_factor=0.5)),
    ("RandomPosterization", dict(factor=(1, 8))),
    ("RandomSaturation", dict(factor=0.5)),
    ("RandomHue", dict(factor=0.5)),
    ("RandomColorDegeneration", dict(factor=0.5)),
    ("RandomSharpness", dict(factor=0.5)),
    ("RandomColorJitter", dict(brightness_factor=0.2, contrast_factor=0.3, hue_factor=0.2)),
    ("RandomShear", dict(x_factor=0.3, y_factor=0.3)),
    ("RandomErasing", {}),
    ("RandomGaussianBlur", dict(factor=0.8)),
    ("RandomPerspective", dict(scale=0.5)),
]


@pytest.mark.parity
@pytest.mark.parametrize("name,kwargs", RANDOM, ids=[n for n, _ in RANDOM])
def test_inference_returns_the_input_as_keras_does(name, kwargs):
    ours = _numpy(_ours(name, kwargs)(IMAGES, training=False))
    np.testing.assert_array_equal(ours, IMAGES)
    np.testing.assert_array_equal(ours, _numpy(_theirs(name, kwargs)(IMAGES, training=False)))


@pytest.mark.parametrize("name,kwargs", RANDOM, ids=[n for n, _ in RANDOM])
def test_each_image_draws_its_own_and_a_seed_repeats(name, kwargs):
    batch = np.repeat(IMAGES[:1], 16, axis=0)  # different outputs mean different draws
    global_state = torch.get_rng_state()
    a = _numpy(_ours(name, dict(kwargs, seed=11))(batch, training=True))
    assert torch.equal(torch.get_rng_state(), global_state)  # a seeded layer draws on its own
    np.testing.assert_array_equal(a, _numpy(_ours(name, dict(kwargs, seed=11))(batch)))
    assert not np.array_equal(a, _numpy(_ours(name, dict(kwargs, seed=12))(batch)))
    distinct = {a[i].tobytes() for i in range(len(a))}
    assert len(distinct) >= 2, "images of a batch must get independent draws"


# --------------------------------------------------------------------- errors, docs
@pytest.mark.parametrize(
    "call,fragments",
    [
        (lambda: tone.RandomGrayscale(factor=1.5), ["RandomGrayscale: factor", "factor=1.5"]),
        (
            lambda: tone.RandomInvert(factor=(0.2, 1.2)),
            ["RandomInvert: factor", "factor=(0.2, 1.2)"],
        ),
        (
            lambda: tone.Solarization(addition_factor=-0.1, value_range=(3, 3)),
            ["2 invalid arguments", "addition_factor=-0.1", "value_range=(3, 3)"],
        ),
        (lambda: tone.RandomPosterization(factor=9), ["factor=9", "[1.0, 8.0]"]),
        (lambda: tone.RandomPosterization(factor=(2, 3.5)), ["whole numbers", "(2, 3.5)"]),
        (
            lambda: tone.AutoContrast(value_range=255),
            ["AutoContrast: value_range", "value_range=255"],
        ),
        (lambda: color.RandomSaturation(1.5), ["RandomSaturation: factor", "[-1.0, 1.0]"]),
        (lambda: color.RandomHue(-0.1), ["RandomHue: factor", "factor=-0.1", "[0.0, 1.0]"]),
        (lambda: color.RandomColorDegeneration("x"), ["factor='x'"]),
        (lambda: filters.RandomSharpness((0.1, 2)), ["RandomSharpness: factor", "factor=(0.1, 2)"]),
        (
            lambda: color.RandomColorJitter(brightness_factor=2, hue_factor=(0.1, 1.5)),
            ["RandomColorJitter: 2 invalid", "brightness_factor=2", "hue_factor=(0.1, 1.5)"],
        ),
        (
            lambda: geometric.RandomShear(x_factor=-0.2, y_factor=(0, 2), fill_mode="mirror"),
            ["RandomShear: 3 invalid", "x_factor=-0.2", "y_factor=(0, 2)", "fill_mode='mirror'"],
        ),
        (lambda: filters.RandomErasing(scale=2), ["RandomErasing: scale", "scale=2"]),
        (lambda: filters.RandomErasing(fill_value=[1, 2]), ["fill_value=[1, 2]"]),
        (lambda: filters.RandomGaussianBlur(kernel_size=4), ["odd", "kernel_size=4"]),
        (lambda: filters.RandomGaussianBlur(sigma=(0.5, 3)), ["sigma", "sigma=(0.5, 3)"]),
        (lambda: tone.Equalization(bins=0), ["Equalization: bins", "bins=0"]),
        (
            lambda: perspective.RandomPerspective(scale=2, interpolation="bicubic"),
            ["RandomPerspective: 2 invalid", "scale=2", "interpolation='bicubic'"],
        ),
    ],
)
def test_argument_errors_name_the_argument_and_value(call, fragments):
    with pytest.raises(ValueError) as info:
        call()
    for fragment in fragments:
        assert fragment in str(info.value)


@pytest.mark.parametrize(
    "layer,channels",
    [(tone.RandomGrayscale(1.0), 2), (color.RandomHue(0.2), 1), (color.RandomSaturation(0.2), 4)],
)
def test_colour_layers_name_the_channels_they_need(layer, channels):
    with pytest.raises(ValueError, match=f"RGB images .* received images with {channels} channels"):
        layer(np.zeros((1, 4, 4, channels), "float32"), training=True)


@pytest.mark.parametrize("module", [tone, color, filters, geometric, perspective])
def test_docstring_examples_run(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


def test_augmentation_in_a_model_is_identity_in_predict_and_random_in_fit():
    from convolve import models, utils
    from convolve.layers import Conv2D, Dense, Flatten, Input

    utils.set_random_seed(0)
    stack = [
        _ours("RandomGrayscale", {}),
        _ours("RandomColorJitter", dict(brightness_factor=0.2, hue_factor=0.2)),
        _ours("RandomShear", dict(x_factor=0.2)),
        _ours("RandomErasing", {}),
        _ours("RandomPerspective", dict(scale=0.3)),
        _ours("Equalization", {}),
    ]
    head = [Conv2D(2, 3), Flatten(), Dense(1)]
    model = models.Sequential([Input((9, 11, 3)), *stack, *head])
    plain = models.Sequential([Input((9, 11, 3)), *head])  # the same (shared) head layers
    np.testing.assert_array_equal(
        model.predict(IMAGES, verbose=0), plain.predict(IMAGES, verbose=0)
    )
    trained = _numpy(model(torch.as_tensor(IMAGES), training=True))
    assert not np.allclose(trained, plain.predict(IMAGES, verbose=0))
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(IMAGES, np.zeros((6, 1), "float32"), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def _to(structure, device):
    if isinstance(structure, dict):
        return {key: _to(value, device) for key, value in structure.items()}
    if isinstance(structure, list):
        return [_to(value, device) for value in structure]
    return structure.to(device)


def _tensors(structure):
    if isinstance(structure, dict):
        return [t for value in structure.values() for t in _tensors(value)]
    if isinstance(structure, list):
        return [t for value in structure for t in _tensors(value)]
    return [structure]


def _check_draws_and_pixels_on(device, name, kwargs):
    layer = _ours(name, dict(kwargs, seed=0))
    images = torch.as_tensor(IMAGES).permute(0, 3, 1, 2).to(device)
    transformation = layer.get_random_transformation(images, training=True)
    assert all(t.device.type == torch.device(device).type for t in _tensors(transformation))
    there = layer.transform_images(images, transformation, training=True)
    here = layer.transform_images(images.cpu(), _to(transformation, "cpu"), training=True)
    np.testing.assert_allclose(_numpy(there), _numpy(here), atol=1e-3, rtol=0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name,kwargs", RANDOM, ids=[n for n, _ in RANDOM])
def test_cuda_draws_stay_on_the_gpu_and_transform_as_on_the_cpu(name, kwargs):
    _check_draws_and_pixels_on("cuda", name, kwargs)
