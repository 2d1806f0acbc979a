"""convolve.ops.image against keras.ops.image (Keras 3.15.1 on its torch backend).

Same inputs in both libraries (NumPy arrays, torch tensors; single images and batches; both
data formats). Results must have the same type, shape and dtype; integer values must be equal
and floating values agree within rtol = atol = 1e-5, except where stated: the affine and
perspective transforms resample through `grid_sample` (the image layers' code) where Keras
gathers pixels itself, so coordinates differ by float32 rounding and values by up to 1e-4
(atol 1e-4 there).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest
import torch

import convolve
from convolve.ops import image

RTOL = ATOL = 1e-5
RNG = np.random.default_rng(5)


def rand(*shape: int) -> np.ndarray:
    return RNG.random(shape).astype("float32")


def _same(ours: Any, theirs: Any, where: str = "result", atol: float = ATOL) -> None:
    assert isinstance(ours, torch.Tensor), f"{where}: {type(ours)}"
    assert ours.dtype == theirs.dtype, f"{where}: dtype {ours.dtype} != {theirs.dtype}"
    assert ours.shape == theirs.shape, f"{where}: shape {ours.shape} != {theirs.shape}"
    a, b = ours.detach().cpu(), theirs.detach().cpu()
    if a.dtype.is_floating_point:
        np.testing.assert_allclose(a.numpy(), b.numpy(), RTOL, atol, err_msg=where)
    else:
        assert torch.equal(a, b), where


IMG = rand(2, 9, 12, 3)
IMG_CF = rand(2, 3, 9, 12)
ONE = rand(10, 7, 3)
U8 = (RNG.random((2, 9, 12, 3)) * 255).astype("uint8")
AFFINE = np.array(
    [[0.9, -0.2, 1.5, 0.15, 1.1, -2.0, 0, 0], [1.2, 0.3, -1.0, -0.1, 0.8, 3.0, 0, 0]], "float32"
)

CASES = [
    ("resize", (IMG, (5, 7)), {}),
    ("resize", (IMG, (18, 20)), {"interpolation": "nearest"}),
    ("resize", (IMG, (6, 9)), {"interpolation": "bicubic"}),
    ("resize", (IMG, (4, 5)), {"antialias": True}),
    ("resize", (IMG, (4, 5)), {"interpolation": "bicubic", "antialias": True}),
    ("resize", (IMG, (8, 8)), {"crop_to_aspect_ratio": True}),
    ("resize", (IMG, (8, 8)), {"pad_to_aspect_ratio": True, "fill_value": 0.5}),
    ("resize", (IMG, (6, 20)), {"pad_to_aspect_ratio": True}),
    ("resize", (ONE, (5, 5)), {}),
    ("resize", (IMG_CF, (5, 7)), {"data_format": "channels_first"}),
    ("resize", (U8, (5, 7)), {}),
    ("resize", (U8, (7, 15)), {"interpolation": "bicubic"}),
    ("resize", (IMG, (9, 12)), {}),
    ("resize", (torch.tensor(IMG), [4, 4]), {"interpolation": "nearest"}),
    ("rgb_to_grayscale", (IMG,), {}),
    ("rgb_to_grayscale", (U8,), {}),
    ("rgb_to_grayscale", (IMG_CF,), {"data_format": "channels_first"}),
    ("rgb_to_grayscale", (rand(4, 4, 1),), {}),
    ("rgb_to_hsv", (IMG,), {}),
    ("rgb_to_hsv", (ONE,), {}),
    ("rgb_to_hsv", (IMG_CF,), {"data_format": "channels_first"}),
    ("hsv_to_rgb", (IMG,), {}),
    ("hsv_to_rgb", (IMG_CF,), {"data_format": "channels_first"}),
    ("pad_images", (IMG, 1, 2), {"target_height": 12, "target_width": 16}),
    (
        "pad_images",
        (ONE,),
        {"top_padding": 1, "bottom_padding": 2, "left_padding": 0, "right_padding": 3},
    ),  # fmt: skip
    ("pad_images", (IMG_CF, 1, 2, 1, 1), {"data_format": "channels_first"}),
    ("crop_images", (IMG, 1, 2), {"target_height": 5, "target_width": 6}),
    (
        "crop_images",
        (ONE,),
        {"top_cropping": 1, "bottom_cropping": 2, "left_cropping": 0, "right_cropping": 3},
    ),  # fmt: skip
    ("crop_images", (IMG_CF, 1, 2, 1, 1), {"data_format": "channels_first"}),
    ("extract_patches", (IMG, 3), {}),
    ("extract_patches", (IMG, (2, 3)), {"strides": 1, "padding": "same"}),
    ("extract_patches", (IMG, 2), {"dilation_rate": 2, "strides": 1}),
    ("extract_patches", (ONE, 2), {}),
    ("extract_patches", (IMG_CF, 3), {"data_format": "channels_first"}),
    ("extract_patches", (rand(1, 4, 6, 6, 2), (2, 2, 3)), {}),
    ("extract_patches_3d", (rand(4, 6, 6, 2), 2), {"strides": 1}),
    ("gaussian_blur", (IMG,), {"data_format": "channels_last"}),
    ("gaussian_blur", (IMG, (5, 5), (2.0, 0.5)), {"data_format": "channels_last"}),
    ("gaussian_blur", (IMG_CF, (3, 3), (0.7, 1.5)), {"data_format": "channels_first"}),
    ("gaussian_blur", (ONE, (5, 5), (1.0, 1.0)), {"data_format": "channels_last"}),
    ("ssim", (rand(2, 12, 13, 3), rand(2, 12, 13, 3)), {}),
    ("ssim", (IMG, IMG * 0.9), {"filter_size": 5, "filter_sigma": 1.0, "max_val": 2.0}),
    ("ssim", (ONE, rand(10, 7, 3)), {"filter_size": 3}),
    ("ssim", (IMG_CF, IMG_CF[::-1].copy()), {"filter_size": 3, "data_format": "channels_first"}),
    ("sobel_edges", (IMG,), {}),
    ("sobel_edges", (IMG_CF,), {"data_format": "channels_first"}),
]


@pytest.mark.parametrize(("name", "args", "kwargs"), CASES, ids=lambda v: str(v)[:25])
def test_matches_keras(name: str, args: tuple, kwargs: dict) -> None:
    _same(
        getattr(image, name)(*args, **kwargs), getattr(keras.ops.image, name)(*args, **kwargs), name
    )


@pytest.mark.parametrize("fill_mode", ["constant", "nearest", "wrap", "mirror", "reflect"])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_affine_transform_matches_keras(fill_mode: str, interpolation: str) -> None:
    kwargs = {"interpolation": interpolation, "fill_mode": fill_mode, "fill_value": 0.3}
    theirs = keras.ops.image.affine_transform(IMG, AFFINE.copy(), **kwargs)
    _same(image.affine_transform(IMG, AFFINE, **kwargs), theirs, fill_mode, atol=1e-4)


def test_affine_transform_single_image_channels_first_and_integers() -> None:
    one = AFFINE[0].copy()
    _same(image.affine_transform(ONE, one), keras.ops.image.affine_transform(ONE, one.copy()))
    cf = image.affine_transform(IMG_CF, AFFINE, data_format="channels_first")
    _same(
        cf,
        keras.ops.image.affine_transform(IMG_CF, AFFINE.copy(), data_format="channels_first"),
        atol=1e-4,
    )
    ints = image.affine_transform(U8, AFFINE, interpolation="nearest")
    _same(ints, keras.ops.image.affine_transform(U8, AFFINE.copy(), interpolation="nearest"))


@pytest.mark.parametrize("fill_mode", ["constant", "nearest", "wrap", "mirror", "reflect"])
@pytest.mark.parametrize("order", [0, 1])
def test_map_coordinates_matches_keras(fill_mode: str, order: int) -> None:
    x = rand(5, 6)
    coords = RNG.uniform(-3, 8, (2, 4, 7)).astype("float32")
    _same(image.map_coordinates(x, coords, order, fill_mode, 0.25),
          keras.ops.image.map_coordinates(x, coords, order, fill_mode, 0.25))  # fmt: skip
    ints = (x * 100).astype("int32")
    _same(image.map_coordinates(ints, coords, order, fill_mode),
          keras.ops.image.map_coordinates(ints, coords, order, fill_mode))  # fmt: skip


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_perspective_transform_matches_keras(interpolation: str) -> None:
    start = np.array([[0, 0], [11, 0], [0, 8], [11, 8]], "float32")
    end = np.array([[[1, 0.5], [10, 1], [0.5, 7], [11, 8]], [[0, 1], [11, 0], [2, 8], [9, 7]]],
                   "float32")  # fmt: skip
    starts = np.stack([start, start])
    ours = image.perspective_transform(IMG, starts, end, interpolation, 0.2)
    theirs = keras.ops.image.perspective_transform(IMG, starts, end, interpolation, 0.2)
    _same(ours, theirs, atol=1e-4)
    _same(image.perspective_transform(ONE, start, end[0]),
          keras.ops.image.perspective_transform(ONE, start, end[0]), atol=1e-4)  # fmt: skip


@pytest.mark.parametrize("method", ["linear", "bilinear", "cubic", "lanczos3", "lanczos5"])
@pytest.mark.parametrize("antialias", [True, False])
def test_scale_and_translate_matches_keras(method: str, antialias: bool) -> None:
    args = (IMG, (2, 5, 7, 3), [0.6, 0.55], [0.5, -1.0], (1, 2), method, antialias)
    _same(image.scale_and_translate(*args), keras.ops.image.scale_and_translate(*args))
    up = (IMG, (2, 14, 20, 3), [1.5, 1.7], [0.0, 0.3], (1, 2), method, antialias)
    _same(image.scale_and_translate(*up), keras.ops.image.scale_and_translate(*up))


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_elastic_transform_matches_keras_from_the_same_torch_seed(interpolation: str) -> None:
    kwargs = {"alpha": 3.0, "sigma": 1.0, "interpolation": interpolation}
    torch.manual_seed(11)
    theirs = keras.ops.image.elastic_transform(IMG, **kwargs)
    torch.manual_seed(11)
    ours = image.elastic_transform(IMG, **kwargs)
    _same(ours, theirs)


def test_every_keras_image_function_exists() -> None:
    names = [n for n in dir(keras.ops.image) if not n.startswith("_")]
    assert [n for n in names if not hasattr(image, n)] == []
    assert convolve.ops.image is image


@pytest.mark.parametrize(
    ("name", "args", "kwargs", "match"),
    [
        ("resize", (IMG, (4, 4)), {"interpolation": "lanczos3"}, "Lanczos"),
        ("resize", (IMG, (4, 4)), {"interpolation": "area"}, "interpolation"),
        ("resize", (IMG, (4,)), {}, "size"),
        ("resize", (rand(4, 4), (2, 2)), {}, "rank"),
        (
            "resize",
            (IMG, (4, 4)),
            {"crop_to_aspect_ratio": True, "pad_to_aspect_ratio": True},
            "one of",
        ),
        ("affine_transform", (IMG, AFFINE), {"fill_mode": "edge"}, "fill_mode"),
        ("rgb_to_hsv", (U8,), {}, "dtype"),
        ("rgb_to_grayscale", (rand(1, 4, 4, 2),), {}, "channels"),
        ("pad_images", (IMG, 1, 1, 1), {"target_height": 20}, "exactly two"),
        ("crop_images", (IMG, None, 2), {"bottom_cropping": 3, "target_width": 3}, "exactly two"),
        ("map_coordinates", (rand(3, 3), rand(3, 2, 2), 1), {}, "rank"),
        ("perspective_transform", (IMG, rand(3, 2), rand(3, 2)), {}, "start_points"),
    ],
)
def test_bad_arguments_raise_naming_them(name: str, args: tuple, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        getattr(image, name)(*args, **kwargs)


def test_signatures_match_keras() -> None:
    import inspect

    for name in image.__all__:
        ours = inspect.signature(getattr(image, name))
        theirs = inspect.signature(getattr(keras.ops.image, name))
        assert list(ours.parameters) == list(theirs.parameters), name
        for p in theirs.parameters.values():
            assert ours.parameters[p.name].default == p.default, (name, p.name)


def test_symbolic_use_in_a_functional_model() -> None:
    outputs = []
    for lib in (keras, convolve):
        inputs = lib.Input((9, 12, 3))
        x = lib.ops.image.resize(inputs, (6, 8))
        x = lib.ops.image.rgb_to_grayscale(x)
        x = lib.ops.image.pad_images(x, 1, 1, 1, 1)
        model = lib.Model(inputs, x)
        assert tuple(model.output_shape) == (None, 8, 10, 1)
        outputs.append(np.asarray(model.predict(IMG, verbose=0)))
    np.testing.assert_allclose(outputs[1], outputs[0], RTOL, ATOL)
