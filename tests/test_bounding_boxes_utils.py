"""`convolve.utils.bounding_boxes` against `keras.utils.bounding_boxes` (torch backend).

Results are compared as float32 tensors with rtol=1e-6, atol=1e-5 (pixel-sized values) and
dtypes, types and shapes exactly.
"""

from __future__ import annotations

import inspect
import itertools

import keras
import numpy as np
import pytest
import torch

from convolve.utils import bounding_boxes as bb

KB = keras.utils.bounding_boxes
RTOL, ATOL = 1e-6, 1e-5
FORMATS = bb.SUPPORTED_FORMATS
NAMES = [
    "affine_transform", "clip_to_image_size", "compute_ciou", "compute_iou", "convert_format",
    "crop", "decode_deltas_to_boxes", "encode_box_to_deltas", "pad",
]  # fmt: skip


def _xyxy(rng: np.random.Generator, *shape: int, size: float = 50.0) -> np.ndarray:
    corner = rng.uniform(-5, size, (*shape, 2))
    extent = rng.uniform(1, size / 2, (*shape, 2))
    return np.concatenate([corner, corner + extent], axis=-1).astype("float32")


def _same(ours, theirs, rtol: float = RTOL, atol: float = ATOL) -> None:
    assert isinstance(ours, torch.Tensor) and isinstance(theirs, torch.Tensor)
    assert ours.dtype == theirs.dtype, (ours.dtype, theirs.dtype)
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    torch.testing.assert_close(ours, theirs, rtol=rtol, atol=atol, equal_nan=True)


def test_namespace_and_signatures_match_keras() -> None:
    public = sorted(n for n in dir(KB) if not n.startswith("_"))
    assert public == NAMES
    for name in NAMES:
        assert hasattr(bb, name)
        ours, theirs = inspect.signature(getattr(bb, name)), inspect.signature(getattr(KB, name))
        assert list(ours.parameters) == list(theirs.parameters), name
        for p in theirs.parameters.values():
            assert ours.parameters[p.name].default == p.default, (name, p.name)


@pytest.mark.parity
@pytest.mark.parametrize(("source", "target"), list(itertools.product(FORMATS, FORMATS)))
def test_convert_format_all_pairs_match_keras(source: str, target: str) -> None:
    rng = np.random.default_rng(0)
    boxes = _xyxy(rng, 2, 3)
    # rel formats take values in [0, 1]
    if source.startswith("rel_"):
        boxes = boxes / 60.0
    ours = bb.convert_format(boxes, source, target, height=48, width=64)
    theirs = KB.convert_format(boxes, source, target, height=48, width=64)
    _same(ours, theirs)


@pytest.mark.parity
def test_convert_format_round_trip_and_known_values() -> None:
    boxes = np.array([[10, 20, 30, 40], [50, 60, 70, 80]])
    out = bb.convert_format(boxes, "xyxy", "xywh")
    assert out.tolist() == [[10, 20, 20, 20], [50, 60, 20, 20]]
    rel = bb.convert_format(boxes, "XYXY", "rel_center_xywh", height=200, width=100)
    back = bb.convert_format(rel, "rel_center_xywh", "xyxy", height=200, width=100)
    torch.testing.assert_close(back, torch.as_tensor(boxes, dtype=torch.float32))


@pytest.mark.parity
@pytest.mark.parametrize("kind", ["numpy_int", "numpy_f64", "torch_f32", "torch_int"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_convert_format_input_types_and_dtype_match_keras(kind: str, dtype: str) -> None:
    base = np.array([[[10, 20, 31, 45], [0, 3, 7, 9]]])
    value = {
        "numpy_int": base,
        "numpy_f64": base.astype("float64"),
        "torch_f32": torch.tensor(base, dtype=torch.float32),
        "torch_int": torch.tensor(base),
    }[kind]
    for target in ("xyxy", "center_yxhw", "xywh"):
        _same(
            bb.convert_format(value, "xyxy", target, dtype=dtype),
            KB.convert_format(value, "xyxy", target, dtype=dtype),
        )


@pytest.mark.parity
def test_convert_format_dict_is_converted_in_place_as_in_keras() -> None:
    boxes, labels = np.array([[1.0, 2.0, 5.0, 9.0]]), np.array([3])
    ours_in = {"boxes": boxes, "labels": labels}
    theirs_in = {"boxes": boxes, "labels": labels}
    ours = bb.convert_format(ours_in, "xyxy", "yxyx")
    theirs = KB.convert_format(theirs_in, "xyxy", "yxyx")
    assert ours is ours_in and theirs is theirs_in
    _same(ours["boxes"], theirs["boxes"])
    assert ours["labels"] is labels and theirs["labels"] is labels


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"source": "xyzw", "target": "xyxy"}, "source='xyzw'"),
        ({"source": "xyxy", "target": "corners"}, "target='corners'"),
        ({"source": "xyxy", "target": "rel_xyxy"}, "height=None"),
    ],
)
def test_convert_format_errors(kwargs: dict, fragment: str) -> None:
    boxes = np.zeros((2, 4))
    with pytest.raises(ValueError, match=r"convert_format") as ours:
        bb.convert_format(boxes, **kwargs)
    assert fragment in str(ours.value)
    with pytest.raises(ValueError):
        KB.convert_format(boxes, **kwargs)


def test_convert_format_bad_shape_names_the_shape() -> None:
    with pytest.raises(ValueError, match=r"boxes\.shape=\(2, 3\)"):
        bb.convert_format(np.zeros((2, 3)), "xyxy", "xywh")
    with pytest.raises(ValueError):
        KB.convert_format(np.zeros((2, 3)), "xyxy", "xywh")


@pytest.mark.parity
@pytest.mark.parametrize("batched", [False, True])
@pytest.mark.parametrize("fmt", ["xyxy", "rel_xyxy"])
def test_clip_to_image_size_matches_keras(batched: bool, fmt: str) -> None:
    boxes = np.array([[-10.0, -20, 150, 160], [50, 40, 70, 80], [130, 0, 140, 10], [5, 5, 5, 20]])
    labels = np.array([0, 1, 2, 3])
    if fmt == "rel_xyxy":
        boxes = boxes / 100.0
    if batched:
        boxes, labels = np.stack([boxes, boxes[::-1]]), np.stack([labels, labels[::-1]])
    ours = bb.clip_to_image_size(
        {"boxes": boxes, "labels": labels}, height=100, width=120, bounding_box_format=fmt
    )
    theirs = KB.clip_to_image_size(
        {"boxes": boxes, "labels": labels}, height=100, width=120, bounding_box_format=fmt
    )
    _same(ours["boxes"], theirs["boxes"])
    _same(ours["labels"], theirs["labels"])
    assert (ours["labels"] == -1).any()


@pytest.mark.parity
def test_clip_to_image_size_torch_ints_and_extra_keys() -> None:
    given = {
        "boxes": torch.tensor([[-10, -20, 150, 160], [50, 40, 70, 80]]),
        "labels": torch.tensor([4, 5]),
        "confidences": torch.tensor([0.5, 0.9]),
    }
    ours = bb.clip_to_image_size(dict(given), height=100, width=120)
    theirs = KB.clip_to_image_size(dict(given), height=100, width=120)
    assert sorted(ours) == sorted(theirs)
    for key in ours:
        _same(ours[key], theirs[key])


def test_clip_to_image_size_errors() -> None:
    data = {"boxes": np.zeros((1, 4)), "labels": np.zeros(1)}
    with pytest.raises(ValueError, match=r"height=None"):
        bb.clip_to_image_size(data)
    with pytest.raises(ValueError):
        KB.clip_to_image_size(data)
    with pytest.raises(NotImplementedError, match=r"bounding_box_format='yxyx'"):
        bb.clip_to_image_size(data, 10, 10, bounding_box_format="yxyx")
    with pytest.raises(NotImplementedError):
        KB.clip_to_image_size(data, 10, 10, bounding_box_format="yxyx")
    with pytest.raises(ValueError, match=r"bounding_boxes must be a dict"):
        bb.clip_to_image_size(np.zeros((1, 4)), 10, 10)


@pytest.mark.parity
@pytest.mark.parametrize("boxes", [
    np.array([[10, 20, 50, 60], [70, 80, 100, 120]]),
    np.array([[[10.5, 20, 50, 60], [70, 80, 100, 120]]], dtype="float64"),
    torch.tensor([[[10.5, 20, 50, 60]], [[0, 0, 5, 5]]]),
])  # fmt: skip
def test_crop_and_pad_match_keras(boxes) -> None:
    for height, width in ((40, 30), (10**6, 10**6)):
        _same(bb.crop(boxes, 10, 20, height, width), KB.crop(boxes, 10, 20, height, width))
    # None (Keras fails on it) clips only at 0
    _same(bb.crop(boxes, 10, 20, None, None), KB.crop(boxes, 10, 20, 10**6, 10**6))
    _same(bb.pad(boxes, top=3, left=7), KB.pad(boxes, top=3, left=7))
    _same(bb.pad(boxes, 2.5, 1.5), KB.pad(boxes, 2.5, 1.5))
    with pytest.raises(NotImplementedError, match="bounding_box_format='xywh'"):
        bb.crop(boxes, 0, 0, 5, 5, bounding_box_format="xywh")
    with pytest.raises(NotImplementedError):
        bb.pad(boxes, 0, 0, bounding_box_format="rel_xyxy")


@pytest.mark.parity
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_affine_transform_matches_keras(dtype: str) -> None:
    rng = np.random.default_rng(1)
    boxes = _xyxy(rng, 3, 5)

    def vec(low: float, high: float) -> np.ndarray:
        return rng.uniform(low, high, 3).astype(dtype)

    args = (vec(-40, 40), vec(-0.2, 0.2), vec(-0.2, 0.2), vec(0.7, 1.3), vec(-10, 10))
    args = (*args, vec(-10, 10), 64, 48)
    center_x = vec(0.3, 0.7)
    ours = bb.affine_transform(boxes, *args, center_x=center_x, center_y=0.4)
    theirs = KB.affine_transform(boxes, *args, center_x=center_x, center_y=0.4)
    _same(ours, theirs, rtol=1e-5, atol=1e-4)
    # torch inputs; scalars for the other arguments
    angle = torch.tensor(args[0])
    ours = bb.affine_transform(torch.tensor(boxes), angle, 0.1, -0.05, 1.2, 5.0, 0.0, 64, 48)
    theirs = KB.affine_transform(torch.tensor(boxes), angle, 0.1, -0.05, 1.2, 5.0, 0.0, 64, 48)
    _same(ours, theirs, rtol=1e-5, atol=1e-4)


def test_affine_transform_unbatched_is_one_image() -> None:
    rng = np.random.default_rng(2)
    boxes = _xyxy(rng, 4)
    angle = np.array([25.0], dtype="float32")
    batched = KB.affine_transform(boxes[None], angle, 0.1, 0.0, 1.1, 3.0, -2.0, 40, 50)
    _same(bb.affine_transform(boxes, angle, 0.1, 0.0, 1.1, 3.0, -2.0, 40, 50), batched[0],
          rtol=1e-5, atol=1e-4)  # fmt: skip
    with pytest.raises(NotImplementedError, match="bounding_box_format='yxyx'"):
        bb.affine_transform(boxes, angle, 0, 0, 1, 0, 0, 9, 9, bounding_box_format="yxyx")


@pytest.mark.parity
@pytest.mark.parametrize(("rank1", "rank2"), [(2, 2), (3, 3), (3, 2), (2, 3)])
@pytest.mark.parametrize("fmt", ["xyxy", "center_xywh", "yxyx", "rel_xywh"])
def test_compute_iou_matches_keras(rank1: int, rank2: int, fmt: str) -> None:
    rng = np.random.default_rng(3)
    b1 = _xyxy(rng, *((2, 3) if rank1 == 3 else (3,)))
    b2 = _xyxy(rng, *((2, 5) if rank2 == 3 else (5,)))
    b2[..., 0, :] = b1[..., 0, :] if rank1 == rank2 else b2[..., 0, :]
    image_shape = (60, 70, 3)
    h, w = image_shape[:2]
    b1 = KB.convert_format(b1, "xyxy", fmt, height=h, width=w).numpy()
    b2 = KB.convert_format(b2, "xyxy", fmt, height=h, width=w).numpy()
    shape = image_shape if fmt.startswith("rel_") else None
    ours = bb.compute_iou(b1, b2, fmt, image_shape=shape)
    _same(ours, KB.compute_iou(b1, b2, fmt, image_shape=shape))
    assert ours.shape[-2:] == (3, 5) and float(ours.max()) > 0


@pytest.mark.parity
@pytest.mark.parametrize("batched", [False, True])
def test_compute_iou_masking_matches_keras(batched: bool) -> None:
    rng = np.random.default_rng(4)
    b1, b2 = _xyxy(rng, 2, 4), _xyxy(rng, 2, 3)
    b1[:, 1], b2[:, 2] = -1.0, -1.0  # padding boxes
    if not batched:
        b1, b2 = b1[0], b2[0]
    ours = bb.compute_iou(b1, b2, "xyxy", use_masking=True, mask_val=-7)
    _same(ours, KB.compute_iou(b1, b2, "xyxy", use_masking=True, mask_val=-7))
    assert (ours == -7).sum() == (4 + 3 - 1) * (2 if batched else 1)


def test_compute_iou_masking_mixed_ranks() -> None:
    # Keras fails on this case; the result must equal the per-image unbatched one.
    rng = np.random.default_rng(5)
    b1, b2 = _xyxy(rng, 4), _xyxy(rng, 2, 3)
    b1[1] = -1.0
    mixed = bb.compute_iou(b1, b2, "xyxy", use_masking=True)
    for i in range(2):
        _same(mixed[i], KB.compute_iou(b1, b2[i], "xyxy", use_masking=True))


def test_compute_iou_errors() -> None:
    with pytest.raises(ValueError, match=r"image_shape=None"):
        bb.compute_iou(np.zeros((1, 4)), np.zeros((1, 4)), "rel_xyxy")
    with pytest.raises(ValueError, match=r"boxes1\.shape=\(4,\)"):
        bb.compute_iou(np.zeros(4), np.zeros((1, 4)), "xyxy")
    with pytest.raises(ValueError, match=r"bounding_box_format='corners'"):
        bb.compute_iou(np.zeros((1, 4)), np.zeros((1, 4)), "corners")


@pytest.mark.parity
@pytest.mark.parametrize("fmt", ["xyxy", "xywh", "center_yxhw"])
def test_compute_ciou_matches_keras(fmt: str) -> None:
    rng = np.random.default_rng(6)
    b1, b2 = _xyxy(rng, 2, 6), _xyxy(rng, 2, 6)
    b2[0, 0] = b1[0, 0]
    b1 = KB.convert_format(b1, "xyxy", fmt).numpy()
    b2 = KB.convert_format(b2, "xyxy", fmt).numpy()
    ours = bb.compute_ciou(b1, b2, fmt)
    _same(ours, KB.compute_ciou(b1, b2, fmt))
    _same(bb.compute_ciou(b1[0], b2[0], fmt), KB.compute_ciou(b1[0], b2[0], fmt))
    assert abs(float(ours[0, 0]) - 1.0) < 1e-5
    with pytest.raises(ValueError, match="bounding_box_format='rel_xyxy'"):
        bb.compute_ciou(b1, b2, "rel_xyxy", image_shape=(9, 9, 3))


@pytest.mark.parity
@pytest.mark.parametrize("encoding", ["center_yxhw", "center_xywh"])
@pytest.mark.parametrize("variance", [None, [0.1, 0.1, 0.2, 0.2]])
def test_encode_decode_match_keras(encoding: str, variance) -> None:
    rng = np.random.default_rng(7)
    anchors = _xyxy(rng, 6) + 10
    boxes = _xyxy(rng, 2, 6) + 10
    kwargs = {"variance": variance}
    rel_boxes = KB.convert_format(boxes, "xyxy", "rel_xywh", height=80, width=90).numpy()
    ours = bb.encode_box_to_deltas(
        anchors, rel_boxes, "xyxy", "rel_xywh", encoding, image_shape=(80, 90, 3), **kwargs
    )
    theirs = KB.encode_box_to_deltas(
        anchors, rel_boxes, "xyxy", "rel_xywh", encoding, image_shape=(80, 90, 3), **kwargs
    )
    _same(ours, theirs)
    decoded = bb.decode_deltas_to_boxes(anchors, ours, "xyxy", "yxyx", encoding, **kwargs)
    _same(decoded, KB.decode_deltas_to_boxes(anchors, theirs, "xyxy", "yxyx", encoding, **kwargs))
    expected = KB.convert_format(boxes, "xyxy", "yxyx")
    torch.testing.assert_close(decoded, expected, rtol=1e-5, atol=1e-3)


@pytest.mark.parity
def test_decode_deltas_dict_of_levels_matches_keras() -> None:
    rng = np.random.default_rng(8)
    anchors = {"P3": _xyxy(rng, 4), "P4": _xyxy(rng, 2)}
    deltas = {"P3": torch.tensor(rng.normal(0, 0.3, (2, 4, 4)), dtype=torch.float32),
              "P4": torch.tensor(rng.normal(0, 0.3, (2, 4)), dtype=torch.float32)}  # fmt: skip
    ours = bb.decode_deltas_to_boxes(anchors, deltas, "xyxy", "center_xywh")
    theirs = KB.decode_deltas_to_boxes(anchors, deltas, "xyxy", "center_xywh")
    assert sorted(ours) == sorted(theirs)
    for level in ours:
        _same(ours[level], theirs[level])


def test_delta_errors() -> None:
    a = np.zeros((2, 4))
    with pytest.raises(ValueError, match=r"encoding_format='xyxy'"):
        bb.encode_box_to_deltas(a, a, "xyxy", "xyxy", encoding_format="xyxy")
    with pytest.raises(ValueError, match=r"encoded_format='yxyx'"):
        bb.decode_deltas_to_boxes(a, a, "xyxy", "xyxy", encoded_format="yxyx")
    with pytest.raises(ValueError, match=r"variance"):
        bb.encode_box_to_deltas(a, a, "xyxy", "xyxy", variance=[1.0, 1.0])
    with pytest.raises(ValueError, match=r"variance"):
        bb.decode_deltas_to_boxes(a, a, "xyxy", "xyxy", variance=[1.0, 1.0, 1.0])
