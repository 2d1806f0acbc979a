"""More convolve.ops functions against keras.ops (Keras 3.15.1 on its torch backend).

Each function is called on the same inputs in both libraries (NumPy arrays, torch tensors,
Python numbers and lists, several shapes, axes and dtypes). Results must have the same type,
shape and torch dtype; integer and bool values must be equal and floating values agree
within rtol = atol = 1e-6 (both sides run the same torch kernels).

Where Keras's torch backend departs from the NumPy semantics that Keras documents, the
expected value comes from NumPy and the test says so (`test_numpy_semantics_*`).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import keras
import numpy as np
import pytest
import torch

import convolve
from convolve import ops

RTOL = ATOL = 1e-6
RNG = np.random.default_rng(11)

F32 = RNG.normal(size=(3, 4)).astype("float32")
G32 = RNG.normal(size=(3, 4)).astype("float32")
CUBE = RNG.normal(size=(2, 3, 4)).astype("float32")
POS = (RNG.random((3, 4)) + 1.1).astype("float32")
UNIT = RNG.uniform(-0.9, 0.9, (3, 4)).astype("float32")
I32 = RNG.integers(-5, 6, (3, 4)).astype("int32")
NZ32 = np.where(I32 == 0, 3, I32).astype("int32")
U8 = RNG.integers(0, 200, (3, 4)).astype("uint8")
BOOL = RNG.random((3, 4)) > 0.5
F64 = RNG.normal(size=(3, 4))
SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.5, -2.5, 0.5], "float32")
NANS = F32.copy()
NANS[0, 1] = NANS[2, 3] = NANS[1, 0] = np.nan
NANS[:, 2] = np.nan  # a column that is all NaN
CPLX = (RNG.normal(size=(3,)) + 1j * RNG.normal(size=(3,))).astype("complex64")
SPD = (lambda a: a @ a.T + 4 * np.eye(4, dtype="float32"))(RNG.normal(size=(4, 4)).astype("f4"))
SQ = RNG.normal(size=(4, 4)).astype("float32") + 3 * np.eye(4, dtype="float32")
SYM = (SQ + SQ.T) / 2
TALL = RNG.normal(size=(5, 3)).astype("float32")
VEC4 = RNG.normal(size=(4,)).astype("float32")
V3 = RNG.normal(size=(4, 3)).astype("float32")
W3 = RNG.normal(size=(4, 3)).astype("float32")
IMG = RNG.normal(size=(2, 5, 6, 3)).astype("float32")


def t(array: Any, dtype: torch.dtype | None = None) -> torch.Tensor:
    return torch.tensor(np.asarray(array), dtype=dtype)


def _same(ours: Any, theirs: Any, where: str = "result", rtol: float = RTOL) -> None:
    """Asserts equal type, dtype, shape and values (within the module tolerance)."""
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, torch.Tensor), f"{where}: {type(ours)} is not a tensor"
        assert ours.dtype == theirs.dtype, f"{where}: dtype {ours.dtype} != {theirs.dtype}"
        assert ours.shape == theirs.shape, f"{where}: shape {ours.shape} != {theirs.shape}"
        a, b = ours.detach().cpu(), theirs.detach().cpu()
        if a.dtype.is_floating_point or a.dtype.is_complex:
            a, b = a.resolve_conj(), b.resolve_conj()
            a = a.to(torch.complex128 if a.is_complex() else torch.float64).numpy()
            b = b.to(torch.complex128 if b.is_complex() else torch.float64).numpy()
            np.testing.assert_allclose(a, b, rtol, ATOL, equal_nan=True, err_msg=where)
        else:
            assert torch.equal(a, b), f"{where}: {a} != {b}"
    elif isinstance(theirs, dict):
        assert isinstance(ours, dict) and ours.keys() == theirs.keys(), where
        for key in theirs:
            _same(ours[key], theirs[key], f"{where}[{key!r}]", rtol)
    elif isinstance(theirs, tuple | list):
        assert type(ours) is type(theirs), f"{where}: {type(ours)} != {type(theirs)}"
        assert len(ours) == len(theirs), where
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            _same(a, b, f"{where}[{i}]", rtol)
    else:
        assert type(ours) is type(theirs) and ours == theirs, f"{where}: {ours!r} != {theirs!r}"


_counts: Counter[str] = Counter()


def case(name: str, *args: Any, **kwargs: Any) -> Any:
    _counts[name] += 1
    return pytest.param(name, args, kwargs, id=f"{name}-{_counts[name]}")


UNARY_INPUTS = [F32, t(F32), I32, t(I32, torch.int64), 1.5, 3, F64, t(F32, torch.float16)]
UNARY = [
    "cbrt", "exp2", "fabs", "deg2rad", "rad2deg", "arcsinh", "erfc", "signbit", "sinc", "i0",
    "isneginf", "isposinf", "isreal", "real", "conj", "conjugate", "angle",
]  # fmt: skip
CASES = []
for _name in UNARY:
    for _x in UNARY_INPUTS:
        if _name in ("real", "conj", "conjugate") and isinstance(_x, int | float):
            continue  # Keras's torch backend reads only tensors and NumPy arrays here
        CASES.append(case(_name, _x))
    CASES.append(case(_name, SPECIAL))
CASES += [
    case("arccosh", POS), case("arccosh", t(POS)), case("arctanh", UNIT), case("arctanh", 0.5),
    case("erfinv", UNIT), case("erfinv", t(UNIT, torch.float64)), case("real", CPLX),
    case("imag", CPLX), case("conj", CPLX), case("angle", CPLX),
    case("cbrt", BOOL), case("fabs", BOOL), case("exp2", BOOL), case("signbit", I32),
    case("view_as_real", CPLX), case("view_as_complex", F32.reshape(3, 2, 2)),
]  # fmt: skip

BINARY_PAIRS = [
    (F32, G32), (t(F32), G32), (t(F32), 2.0), (2.0, t(F32)), (I32, 3), (I32, 2.5),
    (t(I32, torch.int8), 3), (t(F32, torch.float16), 2.0), (NZ32, F32), (F32, G32[0]),
    (I32, NZ32), (t(F32), F64),
]  # fmt: skip
for _name in ("fmod", "hypot", "heaviside", "logaddexp2", "fmax", "fmin", "nextafter"):
    for _a, _b in BINARY_PAIRS:
        CASES.append(case(_name, _a, _b))
for _name in ("gcd", "lcm", "bitwise_and", "bitwise_or", "bitwise_xor"):
    for _a, _b in [(I32, NZ32), (t(I32), 6), (U8, t(U8)), (t(I32, torch.int64), NZ32)]:
        CASES.append(case(_name, _a, _b))
for _name in ("bitwise_left_shift", "bitwise_right_shift", "left_shift", "right_shift"):
    CASES += [case(_name, I32, 2), case(_name, t(U8), t(np.full((3, 4), 1, "uint8")))]
CASES += [
    case("bitwise_and", BOOL, BOOL), case("bitwise_invert", I32), case("bitwise_invert", BOOL),
    case("bitwise_not", t(U8)), case("fmax", SPECIAL, 0.0),
    case("fmin", SPECIAL, SPECIAL[::-1].copy()),
    case("fmod", -F32 * 5, 1.5), case("ldexp", F32, I32), case("ldexp", t(F32), 3),
    case("ldexp", I32, NZ32), case("heaviside", SPECIAL, 0.5),
]  # fmt: skip

AXES = [None, 0, -1, (0, 2), [1]]
REDUCE_INPUTS = [CUBE, t(CUBE), (CUBE * 3).astype("int32"), CUBE.astype("float64")]
for _name in ("median", "ptp", "nanmax", "nanmin", "nanmean", "nansum", "nanprod", "nanstd",
              "nanvar", "nanmedian"):  # fmt: skip
    for _x in REDUCE_INPUTS:
        for _axis in AXES:
            for _keep in (False, True):
                if _name in ("ptp", "nanprod") and _axis is None and _keep:
                    continue  # see test_numpy_semantics_where_keras_torch_departs
                CASES.append(case(_name, _x, axis=_axis, keepdims=_keep))
    for _axis in (None, 0, 1):
        CASES.append(case(_name, NANS, axis=_axis))
for _name in ("quantile", "nanquantile", "percentile", "nanpercentile"):
    _scale = 100.0 if "percent" in _name else 1.0
    for _x in (CUBE, t(CUBE), (CUBE * 3).astype("int32"), NANS):
        for _q in (0.3, [0.1, 0.5, 0.9]):
            _q = np.asarray(_q) * _scale if isinstance(_q, list) else _q * _scale
            for _axis, _keep in ((None, False), (0, True), (-1, False), ((0, 1), True)):
                if _x is NANS and _axis == (0, 1):
                    continue
                CASES.append(case(_name, _x, _q, axis=_axis, keepdims=_keep))
    for _method in ("lower", "higher", "midpoint", "nearest"):
        CASES.append(case(_name, F32, 0.4 * _scale, axis=1, method=_method))
for _name in ("nanargmax", "nanargmin"):
    for _x in (CUBE, (CUBE * 3).astype("int32"), NANS):
        for _axis, _keep in ((None, False), (0, False), (-1, True), (1, False)):
            if _x is NANS and _axis == 1:
                continue
            CASES.append(case(_name, _x, axis=_axis, keepdims=_keep))
for _name in ("nancumsum", "nancumprod"):
    for _x in (NANS, t(NANS), I32, BOOL):
        for _axis in (None, 0, -1):
            CASES.append(case(_name, _x, axis=_axis))
    CASES.append(case(_name, I32, axis=1, dtype="float32"))
CASES += [
    case("average", F32), case("average", t(CUBE), axis=1), case("average", I32, axis=0),
    case("average", F32, axis=1, weights=VEC4), case("average", F32, axis=-1, weights=G32),
    case("average", I32, axis=-1, weights=NZ32[0]), case("average", F32, axis=()),
    case("median", F32, axis=1), case("median", [1, 4, 2, 3]), case("ptp", I32, axis=0),
    case("ptp", F32, axis=()), case("nansum", BOOL, axis=0), case("nansum", NANS, axis=()),
    case("nanprod", t(I32, torch.int8), axis=0), case("nanmax", I32, axis=1),
    case("bincount", [0, 1, 1, 3]), case("bincount", t([2, 0, 2]), minlength=5),
    case("bincount", [0, 1, 1], weights=[0.5, 1.0, 2.0]),
    case("bincount", np.array([[0, 1], [2, 2]]), minlength=4),
    case("bincount", t([[0, 1], [1, 1]]), weights=t([[1.0, 2.0], [3.0, 4.0]])),
    case("histogram", VEC4), case("histogram", t(F32.ravel()), bins=4),
    case("histogram", F64.ravel(), bins=3, range=(-1.0, 1.0)),
    case("trapezoid", F32), case("trapezoid", t(CUBE), axis=1), case("trapezoid", F32, dx=0.5),
    case("trapezoid", F32[0], x=np.cumsum(POS[0])), case("trapezoid", BOOL),
    case("trapezoid", I32, axis=0), case("corrcoef", F32), case("corrcoef", t(F32)),
    case("corrcoef", I32), case("corrcoef", F64),
]  # fmt: skip

CASES += [
    case("pad", F32, ((1, 2), (0, 3))), case("pad", t(CUBE), [[0, 0], [1, 1], [2, 0]]),
    case("pad", I32, ((1, 1), (2, 2)), constant_values=7),
    case("pad", F32, ((1, 1), (1, 1)), constant_values=-1.5),
    case("pad", IMG, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect"),
    case("pad", IMG, ((0, 0), (2, 1), (0, 2), (0, 0)), mode="reflect"),
    case("pad", t(F32), ((1, 1), (2, 2)), mode="reflect"), case("pad", VEC4, [[1, 2]], "reflect"),
    case("pad", I32, ((1, 1), (2, 2)), mode="reflect"),
    case("pad", IMG, ((0, 0), (1, 2), (2, 1), (0, 0)), mode="circular"),
    case("pad", BOOL, ((1, 0), (0, 1))),
    case("vstack", [F32, G32]), case("vstack", [VEC4, t(VEC4)]), case("vstack", (I32, F32)),
    case("hstack", [F32, G32]), case("hstack", [VEC4, VEC4]), case("hstack", [I32, t(NZ32)]),
    case("dstack", [F32, G32]), case("dstack", [VEC4, VEC4]), case("dstack", [CUBE, CUBE]),
    case("meshgrid", VEC4, G32[0, :3]), case("meshgrid", t(VEC4), G32[0, :3], indexing="ij"),
    case("meshgrid", [1, 2], [3, 4, 5], [6]),
    case("nonzero", I32), case("nonzero", t(BOOL)), case("nonzero", CUBE > 0),
    case("diff", F32), case("diff", t(CUBE), n=2, axis=1), case("diff", I32, axis=0),
    case("diff", BOOL), case("diagonal", F32), case("diagonal", t(CUBE), 1, 1, 2),
    case("diagonal", CUBE, offset=-1, axis1=0, axis2=2), case("diagflat", VEC4),
    case("diagflat", t(F32[:2, :2]), k=1), case("diagflat", I32[0], k=-2),
    case("rot90", F32), case("rot90", t(CUBE), k=2, axes=(1, 2)),
    case("rot90", CUBE, k=-1, axes=(0, -1)), case("rot90", I32, k=3),
    case("fliplr", F32), case("fliplr", t(CUBE)), case("flipud", I32), case("flipud", t(CUBE)),
    case("append", F32, G32), case("append", t(F32), G32, axis=0),
    case("append", I32, F32, axis=1), case("append", VEC4, [1.0, 2.0]),
    case("array_split", np.arange(10.0), 3), case("array_split", t(CUBE), 2, axis=2),
    case("hsplit", F32, 2),
    case("hsplit", t(F32), [1, 3]), case("vsplit", F32, 3), case("vsplit", CUBE, [1]),
    case("dsplit", CUBE, 2), case("dsplit", t(CUBE), [1, 2]),
    case("searchsorted", np.sort(VEC4), F32), case("searchsorted", t(np.sort(VEC4)), 0.0),
    case("searchsorted", np.array([1, 2, 2, 3]), [2, 3], side="right"),
    case("searchsorted", np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.5]), side="left"),
    case("digitize", F32, np.array([-1.0, 0.0, 1.0])), case("digitize", I32, [-2, 0, 2]),
    case("digitize", t(F32), t([0.0])),
    case("unique", I32), case("unique", t(np.array([3, 1, 1, 2, 3]))),
    case("unique", np.array([3, 1, 1, 2]), return_counts=True),
    case("unique", np.array([3, 1, 1, 2]), return_inverse=True, return_counts=True),
    case("unique", np.array([3.0, 1.0, 1.0, 2.0]), return_index=True),
    case("unique", np.array([3, 1, 1, 2]), return_index=True, return_inverse=True),
    case("unique", np.array([[1, 2], [1, 2], [0, 5]]), axis=0),
    case("unique", np.array([3, 1, 1, 2]), size=5, fill_value=-1),
    case("unique", np.array([3, 1, 1, 2]), size=2, return_counts=True),
    case("unravel_index", [1, 5, 11], (3, 4)), case("unravel_index", t([7]), (2, 2, 2)),
    case("unravel_index", np.array([3, 0]), [2, 3]),
    case("get_item", t(F32), 1), case("get_item", t(CUBE), (slice(None), 0, slice(1, 3))),
    case("get_item", t(F32), (Ellipsis, None, 2)), case("get_item", t(F32), t(BOOL)),
    case("view", t(I32), "float32"), case("view", t(F32), "int32"), case("view", t(I32)),
    case("view", t(F32), "int16"),
]  # fmt: skip

CASES += [
    case("isin", I32, [1, 2, -3]), case("isin", t(F32), F32[0]),
    case("isin", I32, [0, 4], invert=True), case("isin", BOOL, [True]),
    case("isin", I32, BOOL), case("isin", np.array([1, 2, 3]), np.array([3, 1]), True),
    case("select", [F32 > 0, F32 < -1], [F32, G32]),
    case("select", [t(BOOL)], [t(I32)], default=-1),
    case("select", [I32 > 0, I32 < 0], [I32, NZ32], 7),
    case("select", (F32 > 0.5,), (2.0,), 0.5),
]  # fmt: skip

CASES += [
    case("empty", (2, 3)), case("empty", (4,), dtype="int32"), case("empty_like", F32),
    case("empty_like", t(I32), dtype="float16"), case("tri", 3), case("tri", 3, 5),
    case("tri", 4, 2, k=1), case("tri", 3, k=-1, dtype="int32"), case("vander", VEC4),
    case("vander", t(VEC4), N=3), case("vander", np.array([1, 2, 3]), increasing=True),
    case("vander", np.array([1, 2, 3], "int64"), 2),
    case("logspace", 0, 2, num=5), case("logspace", 0.0, 3.0, 4, endpoint=False),
    case("logspace", 1, 2, num=3, base=2), case("logspace", 0, 1, 4, dtype="float64"),
    case("logspace", np.zeros(2, "float32"), np.ones(2, "float32"), num=3),
    case("geomspace", 1, 1000, num=4), case("geomspace", 2.0, 32.0, 5, endpoint=False),
    case("geomspace", -1.0, -100.0, num=3), case("geomspace", 1, 16, 5, dtype="float64"),
    case("geomspace", np.ones(2, "float32"), np.array([10.0, 100.0], "float32"), num=3),
]  # fmt: skip
for _name in ("bartlett", "blackman", "hamming", "hanning"):
    CASES += [case(_name, 5), case(_name, 8), case(_name, 1), case(_name, t(6))]
CASES += [case("kaiser", 5, 14.0), case("kaiser", 8, beta=2.5), case("kaiser", 1, 0.0)]

CASES += [
    case("cross", V3, W3), case("cross", t(V3), W3), case("cross", I32.T.copy(), NZ32.T.copy()),
    case("cross", V3.T, W3.T, axis=0), case("cross", F64[:2, :3], V3[:2]),
    case("inner", F32, G32), case("inner", VEC4, VEC4), case("inner", t(I32), NZ32),
    case("inner", 2.0, F32), case("vdot", VEC4, G32[0]), case("vdot", I32[0], NZ32[0]),
    case("vdot", t(VEC4), t(VEC4)), case("kron", F32[:2, :2], G32[:2, :3]),
    case("kron", I32[0], NZ32[0]), case("kron", t(VEC4), G32[0]),
    case("correlate", VEC4, G32[0, :3]), case("correlate", VEC4, G32[0, :3], mode="same"),
    case("correlate", VEC4, G32[0, :3], mode="full"), case("correlate", I32[0], NZ32[0, :2]),
    case("correlate", G32[0, :2], VEC4, "valid"), case("correlate", t(VEC4), t(VEC4), "full"),
    case("cholesky", SPD), case("cholesky", t(SPD), upper=True),
    case("cholesky", np.stack([SPD, 2 * SPD])),
    case("cholesky_inverse", np.linalg.cholesky(SPD)),
    case("cholesky_inverse", np.linalg.cholesky(SPD).T, upper=True),
    case("det", SQ), case("det", t(np.stack([SQ, SPD]))), case("inv", SQ), case("inv", t(SPD)),
    case("slogdet", SQ), case("slogdet", -SPD), case("logdet", SPD), case("logdet", t(SPD)),
    case("eigh", SYM), case("eigh", t(SPD)), case("lu_factor", SQ), case("lu_factor", t(TALL)),
    case("qr", TALL), case("qr", t(TALL), mode="complete"), case("qr", SQ),
    case("svd", TALL, compute_uv=False), case("solve", SQ, TALL[:4]), case("solve", SQ, VEC4),
    case("solve", t(np.stack([SQ, SPD])), np.stack([TALL[:4], TALL[1:]])),
    case("solve_triangular", np.tril(SQ), VEC4, lower=True),
    case("solve_triangular", t(np.triu(SQ)), TALL[:4]),
    case("lstsq", TALL, VEC4[:3].repeat(2)[:5]), case("lstsq", TALL, TALL[:, :2]),
    case("lstsq", t(TALL), t(TALL[:, 0]), rcond=1e-3), case("matrix_rank", TALL),
    case("matrix_rank", np.outer(VEC4, VEC4)), case("matrix_rank", SQ, tol=3.0),
    case("pinv", TALL), case("pinv", t(SQ), rcond=0.1), case("norm", F32, ord=-np.inf, axis=1),
    case("cdist", F32, G32), case("cdist", t(CUBE), CUBE[:, :2]), case("cdist", V3, W3[:2]),
]  # fmt: skip

SEG_DATA = RNG.normal(size=(6, 2)).astype("float32")
SEG_IDS = np.array([0, 0, 2, 1, 2, 2])
for _name in ("segment_sum", "segment_max", "segment_min", "segment_prod"):
    CASES += [
        case(_name, SEG_DATA, SEG_IDS),
        case(_name, t(SEG_DATA[:, 0]), t(SEG_IDS)),
        case(_name, SEG_DATA, SEG_IDS, num_segments=4),
        case(_name, SEG_DATA, SEG_IDS, num_segments=2, sorted=True),
        case(_name, (SEG_DATA * 4).astype("int32"), SEG_IDS),
    ]

CASES += [
    case("saturate_cast", F32 * 300, "uint8"), case("saturate_cast", t(F32 * 1e5), "int16"),
    case("saturate_cast", I32 * 100, "int8"), case("saturate_cast", SPECIAL, "int32"),
    case("saturate_cast", t(F32), "float16"), case("saturate_cast", F64 * 1e40, "float32"),
    case("scatter", [[0], [2]], [1.0, 2.0], (4,)),
    case("scatter", [[0, 1], [2, 3]], [5, 6], (3, 4)),
    case("scatter", t([[1], [1]]), t(F32[:2]), (3, 4)),
    case("scatter_update", F32, [[0, 1], [2, 3]], [9.0, 8.0]),
    case("scatter_update", t(I32), [[1]], [[1, 2, 3, 4]]),
    case("scatter_update", F32, [[0, 1], [0, 1]], [1.0, 2.0], reduction="add"),
    case("scatter_update", F32, [[0, 1], [2, 2]], [5.0, -5.0], reduction="max"),
    case("scatter_update", F32, [[0, 1], [2, 2]], [5.0, -5.0], reduction="min"),
    case("scatter_update", F32, [[0, 1], [1, 1]], [2.0, 3.0], reduction="mul"),
    case("slice", F32, (1, 0), (2, 3)), case("slice", t(CUBE), [0, 1, 2], [2, 2, 2]),
    case("slice", I32, t([0, 1]), t([1, 2])), case("slice_update", F32, (1, 1), G32[:2, :2]),
    case("slice_update", t(CUBE), [0, 1, 0], CUBE[:1, :2]),
    case("slice_update", I32, (0, 2), NZ32[:2, :2]),
]  # fmt: skip

RAISES = [
    case("pad", F32, ((1, 1), (1, 1), (1, 1))), case("pad", F32, 1, "reflect", 0.0),
    case("rot90", VEC4), case("rot90", F32, axes=(0, 0)), case("histogram", VEC4, bins=2.0),
    case("histogram", VEC4, bins=-1), case("histogram", F32), case("histogram", VEC4, 3, (1, 0)),
    case("searchsorted", F32, VEC4), case("select", F32 > 0, [F32]), case("select", [], []),
    case("cross", V3, W3, axisa=0), case("ldexp", F32, F32), case("bincount", [0, 1], sparse=True),
    case("cholesky", VEC4), case("inv", TALL), case("det", TALL), case("solve", SQ, TALL),
    case("qr", TALL, mode="r"), case("geomspace", 1, 10, axis=1), case("logspace", 0, 1, axis=1),
    case("scatter_update", F32, [[0, 0]], [1.0], reduction="sum"),
    case("imag", F32),
]  # fmt: skip


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parity
@pytest.mark.parametrize("name,args,kwargs", CASES)
def test_matches_keras(name, args, kwargs):
    theirs = getattr(keras.ops, name)(*args, **kwargs)
    ours = getattr(ops, name)(*args, **kwargs)
    if name in ("empty", "empty_like"):  # uninitialised memory: compare type, dtype, shape
        theirs, ours = torch.zeros_like(theirs), torch.zeros_like(ours)
    rtol = 1e-5 if name in ("inv", "pinv", "lstsq", "solve", "cholesky_inverse") else RTOL
    _same(ours, theirs, name, rtol)


@pytest.mark.parity
@pytest.mark.parametrize("name,args,kwargs", RAISES)
def test_rejects_what_keras_rejects(name, args, kwargs):
    with pytest.raises(Exception):  # noqa: B017 - Keras's exception types vary by op
        getattr(keras.ops, name)(*args, **kwargs)
    with pytest.raises((ValueError, TypeError, RuntimeError, NotImplementedError)):
        getattr(ops, name)(*args, **kwargs)


def test_every_new_function_is_compared_with_keras():
    compared = {param.values[0] for param in CASES + RAISES}
    assert sorted(set(COMPARED_ELSEWHERE) - set(ops.__all__)) == []
    assert sorted(compared - set(ops.__all__)) == []


# Functions whose comparison with Keras lives in this file's other tests.
COMPARED_ELSEWHERE = (
    "cond", "switch", "while_loop", "fori_loop", "scan", "map", "associative_scan",
    "vectorized_map", "vectorize", "custom_gradient", "jvp", "eig", "svd", "argpartition",
)  # fmt: skip
COMPARED = sorted({param.values[0] for param in CASES + RAISES} | set(COMPARED_ELSEWHERE))


def test_numpy_semantics_where_keras_torch_departs():
    x = np.arange(12.0, dtype="float32").reshape(3, 4)
    # An int or a single (before, after) pair pads every axis (Keras on torch: the last only).
    np.testing.assert_array_equal(ops.pad(x, 1).numpy(), np.pad(x, 1))
    np.testing.assert_array_equal(ops.pad(x, (1, 2)).numpy(), np.pad(x, (1, 2)))
    # "symmetric" repeats the edge value (Keras on torch pads like "edge"); "edge" and "wrap".
    for mode in ("symmetric", "edge", "wrap", "reflect"):
        widths = ((2, 1), (3, 4))
        np.testing.assert_array_equal(ops.pad(x, widths, mode).numpy(), np.pad(x, widths, mode))
    np.testing.assert_array_equal(
        ops.pad(I32, ((1, 1), (0, 2)), "symmetric").numpy(),
        np.pad(I32, ((1, 1), (0, 2)), "symmetric"),
    )
    # keepdims with axis=None keeps every axis (Keras on torch returns a 0-d tensor).
    np.testing.assert_allclose(ops.ptp(F32, keepdims=True).numpy(), np.ptp(F32, keepdims=True))
    np.testing.assert_allclose(
        ops.nanprod(NANS, keepdims=True).numpy(), np.nanprod(NANS, keepdims=True), RTOL, ATOL
    )
    # cross works along the last axis by default, also for 3 x 3 inputs.
    a, b = F32[:, :3], G32[:, :3]
    np.testing.assert_allclose(ops.cross(a, b).numpy(), np.cross(a, b), RTOL, ATOL)
    # nancumsum keeps infinities (Keras on torch replaces them by the largest float).
    z = np.array([1.0, np.nan, np.inf], "float32")
    np.testing.assert_array_equal(ops.nancumsum(z).numpy(), np.nancumsum(z))
    # 1-D weights along an axis, and full-shape weights with axis=None.
    w = np.array([1.0, 2.0, 3.0], "float32")
    np.testing.assert_allclose(
        ops.average(F32, axis=0, weights=w).numpy(), np.average(F32, axis=0, weights=w), RTOL, ATOL
    )
    np.testing.assert_allclose(
        ops.average(F32, weights=POS).numpy(), np.average(F32, weights=POS), RTOL, ATOL
    )
    # argpartition partitions floats by value (Keras on torch truncates them to int32 first).
    y = np.array([0.9, 0.1, 0.5, 0.3], "float32")
    order = ops.argpartition(y, 1).numpy()
    assert order.dtype == np.int32 and y[order[1]] == np.sort(y)[1]
    assert set(y[order[:1]]) <= {v for v in y if v <= np.sort(y)[1]}
    # On integers the k-th element agrees with Keras (the order within each side may differ).
    for kth in (0, 2, 3):
        ours = ops.argpartition(I32, kth, axis=-1)
        theirs = keras.ops.argpartition(I32, kth, axis=-1)
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        np.testing.assert_array_equal(
            np.take_along_axis(I32, ours.numpy(), -1)[:, kth],
            np.take_along_axis(I32, theirs.numpy(), -1)[:, kth],
        )


@pytest.mark.parity
def test_control_flow_matches_keras():
    o, k = ops, keras.ops
    x = t(F32)
    _same(
        o.cond(t(True), lambda: x + 1, lambda: x - 1), k.cond(t(True), lambda: x + 1, lambda: x - 1)
    )
    _same(o.cond(False, lambda: x + 1, lambda: x - 1), k.cond(False, lambda: x + 1, lambda: x - 1))
    branches = [lambda v: v * 2, lambda v: v - 3]
    for index in (0, 1, 5, -2):
        _same(o.switch(index, branches, x), k.switch(index, branches, x), f"switch {index}")
    cond, body = (lambda i, v: i < 5), (lambda i, v: (i + 1, v * 2))
    _same(o.while_loop(cond, body, (0, x)), k.while_loop(cond, body, (0, x)), "while_loop")
    _same(
        o.while_loop(lambda v: v.sum() < 100, lambda v: v + 1, x, maximum_iterations=3),
        k.while_loop(lambda v: v.sum() < 100, lambda v: v + 1, x, maximum_iterations=3),
        "while_loop max",
    )
    _same(o.fori_loop(0, 4, lambda i, v: v + i, x), k.fori_loop(0, 4, lambda i, v: v + i, x))

    def step(carry, row):
        return carry + row, carry * row

    _same(o.scan(step, t(G32[0]), t(F32)), k.scan(step, t(G32[0]), t(F32)), "scan")
    _same(o.scan(step, t(G32[0]), F32, reverse=True), k.scan(step, t(G32[0]), F32, reverse=True))

    def nested(carry, xs):
        return {"a": carry["a"] + xs[0]}, (xs[0] * xs[1], xs[1])

    init = {"a": t(G32[0])}
    _same(o.scan(nested, init, (t(F32), t(G32))), k.scan(nested, init, (t(F32), t(G32))))
    _same(o.map(lambda r: r.sum(), t(F32)), k.map(lambda r: r.sum(), t(F32)), "map")
    _same(o.map(lambda r: (r, r * 2), t(CUBE)), k.map(lambda r: (r, r * 2), t(CUBE)), "map pair")
    for axis, reverse in ((0, False), (1, True), (-1, False)):
        _same(
            o.associative_scan(torch.add, t(CUBE), reverse=reverse, axis=axis),
            k.associative_scan(torch.add, t(CUBE), reverse=reverse, axis=axis),
            f"associative_scan {axis} {reverse}",
        )
    pair = (t(F32), t(G32))
    fn = lambda a, b: (a[0] * b[0], a[1] + b[1])  # noqa: E731
    _same(o.associative_scan(fn, pair), k.associative_scan(fn, pair), "associative_scan tuple")
    _same(o.vectorized_map(lambda r: r @ r, t(F32)), k.vectorized_map(lambda r: r @ r, t(F32)))
    add = lambda a, b: a + b  # noqa: E731
    _same(o.vectorize(add)(t(F32), 2.0), k.vectorize(add)(t(F32), 2.0), "vectorize")
    dot = lambda a, b: (a * b).sum()  # noqa: E731
    _same(
        o.vectorize(dot, signature="(n),(n)->()")(t(F32), t(G32)),
        k.vectorize(dot, signature="(n),(n)->()")(t(F32), t(G32)),
        "vectorize signature",
    )
    v = t(SYM)
    ours_vals, theirs_vals = o.eig(v), k.eig(v)
    _same(ours_vals.eigenvalues, theirs_vals.eigenvalues, "eig")
    _same(o.svd(t(TALL)), k.svd(t(TALL)), "svd")
    _same(o.svd(t(TALL), full_matrices=False), k.svd(t(TALL), full_matrices=False), "svd")


@pytest.mark.parity
def test_custom_gradient_and_jvp_match_keras():
    grads = []
    for o in (ops, keras.ops):

        def clipped(x, o=o):
            def grad(*args, upstream=None):
                return o.clip(upstream * x, -0.1, 0.1)

            return x * 3.0, grad

        clipped = o.custom_gradient(clipped)

        x = t(F32).requires_grad_()
        clipped(x).sum().backward()
        grads.append(x.grad)
    _same(grads[0], grads[1], "custom_gradient")
    f = lambda x: torch.sin(x) * x  # noqa: E731
    _same(
        ops.jvp(f, (t(VEC4),), (t(G32[0]),)),
        keras.ops.jvp(f, (t(VEC4),), (t(G32[0]),)),
        "jvp",
    )


@pytest.mark.parity
@pytest.mark.parametrize(
    "fn",
    [
        lambda o, x: o.pad(x, ((0, 0), (1, 1), (2, 0), (0, 0)), mode="reflect"),
        lambda o, x: o.median(x, axis=-1),
        lambda o, x: o.quantile(x, 0.25, axis=(1, 2)),
        lambda o, x: o.nanmean(x, axis=1),
        lambda o, x: o.diff(x, axis=2),
        lambda o, x: o.rot90(x, axes=(1, 2)),
        lambda o, x: o.cbrt(x) + o.hypot(x, x),
        lambda o, x: o.slice(x, (0, 1, 1, 0), (2, 3, 4, 3)),
        lambda o, x: o.average(x, axis=-1),
        lambda o, x: o.fliplr(o.flipud(x)),
    ],
    ids=[
        "pad",
        "median",
        "quantile",
        "nanmean",
        "diff",
        "rot90",
        "cbrt_hypot",
        "slice",
        "average",
        "flips",
    ],  # fmt: skip
)
def test_symbolic_use_in_a_functional_model_matches_keras(fn):
    outputs = []
    for lib in (keras, convolve):
        inputs = lib.Input((5, 6, 3))
        model = lib.Model(inputs, fn(lib.ops, inputs))
        outputs.append(model.predict(IMG, verbose=0))
    np.testing.assert_allclose(outputs[1], outputs[0], RTOL, ATOL)


def test_namespaces_mirror_keras():
    from convolve.ops import linalg, numpy

    theirs = {n for n in dir(keras.ops.numpy) if not n.startswith("_")}
    assert theirs <= set(numpy.__all__) and set(numpy.__all__) <= set(ops.__all__)
    linalg_names = {n for n in dir(keras.ops.linalg) if not n.startswith("_")}
    assert all(getattr(linalg, n) is getattr(ops, n) for n in linalg_names)
    assert numpy.pad is ops.pad
    symbolic = linalg.inv(convolve.Input((3, 3)))
    assert tuple(symbolic.shape) == (None, 3, 3)
