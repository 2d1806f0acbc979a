"""convolve.ops against keras.ops (Keras 3.15.1 on its torch backend).

Every function is called on the same inputs in both libraries: NumPy arrays, torch tensors,
Python scalars, nested lists, several axis/keepdims variants and mixed dtypes. Results must
have the same Python type, shape and torch dtype; integer and bool values must be equal, and
floating values agree within rtol = atol = 1e-6 (both sides run the same torch kernels, so
differences are at most rounding). Custom-loss training compares weights after several steps
within rtol = 1e-5, atol = 1e-6 and the loss history within rtol = 1e-5, as the fit parity
tests do.

Where Keras's torch backend departs from the NumPy semantics that Keras documents (keepdims
with axis=None, std/logsumexp over an empty axis tuple, negative indices in `take` without an
axis, list `repeats`, negative `one_hot` axes, negative axes in a tuple of softmax axes,
`squeeze` of an axis that is not of size 1), the expected value comes from NumPy and the test
says so.
"""

from __future__ import annotations

import inspect
from collections import Counter
from typing import Any

import keras
import numpy as np
import pytest
import torch

import convolve
from convolve import ops

RTOL = ATOL = 1e-6
RNG = np.random.default_rng(7)

F32 = RNG.normal(size=(3, 4)).astype("float32")
G32 = RNG.normal(size=(3, 4)).astype("float32")
POS = (RNG.random((3, 4)) + 0.1).astype("float32")
UNIT = RNG.uniform(-0.9, 0.9, (3, 4)).astype("float32")
I32 = RNG.integers(-5, 6, (3, 4)).astype("int32")
NZ32 = np.where(I32 == 0, 3, I32).astype("int32")  # integer divisors without zeros
BOOL = RNG.random((3, 4)) > 0.5
F64 = RNG.normal(size=(3, 4))
CUBE = RNG.normal(size=(2, 3, 4)).astype("float32")
SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, 1.5, -2.5, 0.5, 2.5], "float32")
WITH_ZEROS = np.array([[0.0, 1.0, -2.0, 0.0], [3.0, 0.0, 5.0, 6.0], [1, 2, 3, 4]], "float32")
PROBS = RNG.dirichlet(np.ones(5), size=6).astype("float32")
PROBS[0] = [0.0, 1.0, 0.0, 0.0, 0.0]  # exact 0 and 1: Keras clips them
LOGITS = RNG.normal(size=(6, 5)).astype("float32")
LABELS = RNG.integers(0, 5, (6,))
ONEHOT = np.eye(5, dtype="float32")[LABELS]


def t(array: Any, dtype: torch.dtype | None = None) -> torch.Tensor:
    return torch.tensor(np.asarray(array), dtype=dtype)


def _same(ours: Any, theirs: Any, where: str = "result") -> None:
    """Asserts equal type, dtype, shape and values (within the module tolerance)."""
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, torch.Tensor), f"{where}: {type(ours)} is not a tensor"
        assert ours.dtype == theirs.dtype, f"{where}: dtype {ours.dtype} != {theirs.dtype}"
        assert ours.shape == theirs.shape, f"{where}: shape {ours.shape} != {theirs.shape}"
        a, b = ours.detach().cpu(), theirs.detach().cpu()
        if a.dtype.is_floating_point:
            np.testing.assert_allclose(
                a.double().numpy(), b.double().numpy(), RTOL, ATOL, equal_nan=True, err_msg=where
            )
        else:
            assert torch.equal(a, b), f"{where}: {a} != {b}"
    elif isinstance(theirs, np.ndarray):
        assert isinstance(ours, np.ndarray), f"{where}: {type(ours)} is not an array"
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape, where
        np.testing.assert_allclose(ours, theirs, RTOL, ATOL, equal_nan=True, err_msg=where)
    elif isinstance(theirs, tuple | list):
        assert type(ours) is type(theirs), f"{where}: {type(ours)} != {type(theirs)}"
        assert len(ours) == len(theirs), where
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            _same(a, b, f"{where}[{i}]")
    else:
        assert type(ours) is type(theirs) and ours == theirs, f"{where}: {ours!r} != {theirs!r}"


_counts: Counter[str] = Counter()


def case(name: str, *args: Any, **kwargs: Any) -> Any:
    _counts[name] += 1
    return pytest.param(name, args, kwargs, id=f"{name}-{_counts[name]}")


UNARY_INPUTS = [F32, t(F32), I32, t(I32, torch.int64), 1.5, 3, F64, t(F32, torch.float16)]
UNARY = [
    "abs", "absolute", "negative", "square", "sqrt", "exp", "expm1", "log", "log1p", "log2",
    "log10", "sign", "sin", "cos", "tan", "tanh", "sinh", "cosh", "arctan", "reciprocal",
    "rsqrt", "erf", "round", "floor", "ceil", "trunc", "relu", "relu6", "sigmoid", "softplus",
    "softsign", "silu", "swish", "selu", "hard_sigmoid", "log_sigmoid", "elu", "leaky_relu",
    "gelu", "isnan", "isfinite", "isinf", "nan_to_num", "stop_gradient", "ravel", "copy",
    "array", "convert_to_tensor", "zeros_like", "ones_like", "logical_not",
]  # fmt: skip

# Activations without integer kernels in torch: Keras raises for integer inputs (see RAISES).
FLOAT_ONLY = {"softplus", "silu", "swish", "selu", "hard_sigmoid", "log_sigmoid", "elu",
              "leaky_relu", "gelu"}  # fmt: skip

CASES = []
for _name in UNARY:
    for _x in UNARY_INPUTS:
        is_int = isinstance(_x, int) or not np.asarray(_x).dtype.kind == "f"
        if (_name in FLOAT_ONLY and is_int) or (
            _name == "stop_gradient" and not isinstance(_x, torch.Tensor)
        ):
            continue
        CASES.append(case(_name, _x))
    CASES.append(case(_name, SPECIAL if _name != "stop_gradient" else t(SPECIAL)))
for _name in ("abs", "square", "sign", "logical_not", "floor", "ceil", "trunc"):
    CASES.append(case(_name, BOOL))
CASES += [
    case("arcsin", UNIT),
    case("arccos", t(UNIT)),
    case("arcsin", 0.5),
    case("sqrt", POS),
    case("log", POS),
    case("round", F32 * 10, decimals=1),
    case("round", I32, decimals=0),
    case("elu", F32, alpha=0.5),
    case("leaky_relu", F32, negative_slope=0.1),
    case("gelu", F32, approximate=False),
    case("nan_to_num", SPECIAL, nan=1.0, posinf=9.0),
    case("nan_to_num", SPECIAL, neginf=-9.0),
    case("array", [1, 2], dtype="float32"),
    case("copy", [[1, 2]]),
]

BINARY_PAIRS = [
    (F32, G32), (t(F32), G32), (t(F32), 2.0), (2.0, t(F32)), (I32, 3), (I32, 2.5),
    (t(I32, torch.int8), 3), (t(F32, torch.float16), 2.0), (NZ32, F32), (F32, G32[0]),
    (t(I32, torch.uint8), t(NZ32, torch.int8)), (I32, NZ32), (t(F32), F64),
]  # fmt: skip
BINARY = [
    "add", "subtract", "multiply", "divide", "true_divide", "divide_no_nan", "power", "maximum",
    "minimum", "mod", "floor_divide", "arctan2", "logaddexp", "equal", "not_equal", "greater",
    "greater_equal", "less", "less_equal", "logical_and", "logical_or", "logical_xor",
    "isclose", "allclose",
]  # fmt: skip
for _name in BINARY:
    for _a, _b in BINARY_PAIRS:
        CASES.append(case(_name, _a, _b))
CASES += [
    case("divide_no_nan", F32, WITH_ZEROS), case("divide_no_nan", WITH_ZEROS, WITH_ZEROS),
    case("divide_no_nan", t(F32, torch.float16), 2.0), case("divide", I32, NZ32),
    case("subtract", BOOL, I32), case("add", BOOL, BOOL), case("logical_and", BOOL, F32),
    case("power", POS, 0.5), case("power", I32, 2), case("maximum", BOOL, 0.5),
    case("mod", F32, 0.7), case("isclose", F32, F32 + 1e-6, rtol=0.0, atol=1e-7),
    case("isclose", SPECIAL, SPECIAL, equal_nan=True), case("allclose", F32, F32 + 1e-9),
    case("clip", F32, -0.5, 0.5), case("clip", I32, -2, 2), case("clip", I32, -1.5, 1.5),
    case("clip", t(F32), G32[0], 1.0), case("clip", BOOL, 0, 1),
    case("clip", t(F32, torch.float16), -0.5, 0.5),
]  # fmt: skip

REDUCE_INPUTS = [CUBE, t(CUBE), (CUBE * 3).astype("int32"), CUBE > 0, CUBE.astype("float64")]
AXES = [None, 0, -1, (0, 2), [1], ()]
for _name in ("sum", "mean", "max", "min", "amax", "amin", "prod", "std", "var", "logsumexp",
              "all", "any"):  # fmt: skip
    for _i, _x in enumerate(REDUCE_INPUTS):
        if _name == "logsumexp" and _i in (2, 3):
            continue  # torch.logsumexp has no integer kernel in either library
        for _axis in AXES:
            if _name in ("std", "logsumexp") and _axis == ():
                continue  # see test_numpy_semantics_where_keras_torch_departs
            for _keep in (False, True):
                if _axis is None and _keep and _name in ("sum", "max", "min", "amax", "amin",
                                                         "prod"):  # fmt: skip
                    continue  # see test_keepdims_without_axis_keeps_every_axis
                CASES.append(case(_name, _x, axis=_axis, keepdims=_keep))
for _name in ("argmax", "argmin"):
    for _x in REDUCE_INPUTS:
        for _axis, _keep in ((None, False), (0, False), (-1, True), (1, False), (None, True)):
            CASES.append(case(_name, _x, axis=_axis, keepdims=_keep))
for _x in REDUCE_INPUTS + [[CUBE[0], CUBE[1]]]:
    CASES += [case("sum", _x), case("mean", _x)]
for _name in ("cumsum", "cumprod"):
    for _x in REDUCE_INPUTS[:4]:
        for _axis in (None, 0, -1):
            CASES.append(case(_name, _x, axis=_axis))
    CASES += [case(_name, I32, axis=1, dtype="float32"), case(_name, F32, dtype="float64")]
CASES += [
    case("count_nonzero", I32), case("count_nonzero", I32, axis=0),
    case("count_nonzero", CUBE > 0, axis=(0, 2)), case("count_nonzero", I32, axis=()),
    case("max", F32, axis=0, initial=0.5), case("min", t(F32), axis=1, initial=-0.5),
    case("max", I32, initial=2), case("prod", I32, axis=1, dtype="float32"),
    case("prod", t(I32, torch.int8)), case("mean", t(CUBE, torch.float16), axis=-1),
    case("var", t(F32, torch.float16), axis=0), case("std", F32, axis=None, keepdims=True),
]  # fmt: skip

CASES += [
    case("reshape", CUBE, (4, 6)), case("reshape", t(CUBE), [-1]), case("reshape", F32, 12),
    case("reshape", CUBE, (2, -1, 2)), case("transpose", CUBE), case("transpose", F32),
    case("transpose", t(CUBE), (1, 0, 2)), case("transpose", CUBE, axes=[2, 0, 1]),
    case("expand_dims", F32, 0), case("expand_dims", t(F32), -1),
    case("expand_dims", F32, (0, 3)), case("expand_dims", 3.0, 0),
    case("squeeze", F32[None, :, None]), case("squeeze", F32[None], axis=0),
    case("squeeze", t(F32[:, None]), axis=-2), case("squeeze", F32[None, :, None], axis=(0, 2)),
    case("concatenate", [F32, G32]), case("concatenate", [t(F32), G32], axis=1),
    case("concatenate", [F32, I32], axis=-1), case("concatenate", (I32, NZ32)),
    case("stack", [F32, G32]), case("stack", [t(F32), G32], axis=-1),
    case("stack", (I32, NZ32), axis=1), case("split", CUBE, 2), case("split", CUBE, 2, axis=2),
    case("split", t(CUBE), [1, 3], axis=-1), case("split", F32, [1], axis=0),
    case("tile", F32, 2), case("tile", t(F32), (2, 1)), case("tile", F32, [1, 2, 3]),
    case("repeat", F32, 2), case("repeat", t(F32), 3, axis=1), case("repeat", F32, 2, axis=-1),
    case("repeat", F32, t([1, 2, 0]), axis=0), case("ravel", CUBE), case("flip", F32),
    case("flip", t(CUBE), axis=1), case("flip", CUBE, axis=(0, 2)), case("roll", F32, 1),
    case("roll", t(F32), -1, axis=1), case("roll", CUBE, (1, 2), axis=(0, 2)),
    case("broadcast_to", G32[0], (3, 4)), case("broadcast_to", 1.0, [2, 2]),
    case("swapaxes", CUBE, 0, 2), case("moveaxis", CUBE, 0, -1),
    case("moveaxis", t(CUBE), (0, 1), (2, 0)), case("take", F32, [0, 2], axis=0),
    case("take", t(F32), t([[3, -1]]), axis=1), case("take", F32, [[-1, 0]], axis=0),
    case("take", CUBE, [3, 1, 0], axis=-1), case("take", np.arange(5.0), [-1, 2]),
    case("take", F32, 5), case("take_along_axis", F32, np.argsort(F32, axis=1), axis=1),
    case("take_along_axis", t(F32), t(np.argsort(F32, axis=0)), axis=0),
    case("take_along_axis", F32, [[0], [-1], [2]], axis=1), case("sort", F32),
    case("sort", t(CUBE), axis=0), case("sort", F32, axis=None), case("sort", I32, axis=-1),
    case("sort", BOOL, axis=0),
    case("argsort", F32), case("argsort", t(I32), axis=0), case("argsort", F32, axis=None),
    case("argsort", BOOL, axis=1), case("top_k", F32, 2), case("top_k", t(I32), 3),
    case("top_k", F32, 4, sorted=True), case("in_top_k", LABELS, LOGITS, 2),
    case("in_top_k", t(LABELS), t(LOGITS), 1), case("tril", F32), case("tril", t(F32), k=1),
    case("triu", F32, k=-1), case("triu", t(F32)), case("diag", F32), case("diag", F32, k=1),
    case("diag", G32[0]), case("diag", G32[0], k=-1), case("ndim", CUBE), case("ndim", t(F32)),
    case("size", CUBE), case("size", t(F32)), case("shape", t(CUBE)), case("shape", F32),
    case("dtype", t(F32)), case("dtype", I32), case("dtype", t(F32, torch.bfloat16)),
    case("is_tensor", F32), case("is_tensor", t(F32)), case("unstack", t(CUBE)),
    case("unstack", t(CUBE), axis=1), case("unstack", t(CUBE), num=4, axis=-1),
    case("where", BOOL, F32, G32), case("where", t(BOOL), 1.0, 0.0),
    case("where", BOOL, I32, 0.5), case("where", F32 > 0, t(F32), 0), case("where", BOOL),
    case("where", t(F32 > 0)),
]  # fmt: skip

CASES += [
    case("zeros", (2, 3)), case("zeros", 4, dtype="int32"), case("ones", [2, 1]),
    case("ones", 3, dtype="bool"), case("zeros_like", F32, dtype="int32"),
    case("ones_like", t(I32), dtype="float16"), case("zeros_like", [1, 2]),
    case("full", (2, 3), 7), case("full", (2, 3), 1.5, dtype="float64"),
    case("full", (2, 2), [1.0, 2.0]), case("full", [3], 2, dtype="int32"),
    case("full_like", F32, 3), case("full_like", t(I32), 2.7),
    case("full_like", I32, 1.5, "float32"),
    case("arange", 5), case("arange", 1, 7, 2), case("arange", 0.0, 1.0, 0.25),
    case("arange", 0, 1, 0.1), case("arange", 10, dtype="float32"),
    case("arange", np.int64(4)), case("arange", 5, 0, -1),
    case("linspace", 0, 1), case("linspace", 0.0, 2.0, num=5), case("linspace", -1, 1, 4, False),
    case("linspace", 0, 10, num=6, dtype="int32"), case("linspace", 0, 1, num=5, retstep=True),
    case("linspace", np.zeros(2, "float32"), np.ones(2, "float32"), num=3),
    case("eye", 3), case("eye", 2, 4), case("eye", 4, 3, k=1), case("eye", 3, k=-1, dtype="int32"),
    case("identity", 3), case("identity", 2, dtype="float64"),
]  # fmt: skip

MATS = [(F32, G32.T), (t(F32), G32.T), (I32, NZ32.T), (I32, G32.T), (CUBE, G32.T)]
CASES += [case("matmul", a, b) for a, b in MATS] + [case("dot", a, b) for a, b in MATS[:4]]
CASES += [
    case("matmul", t(I32, torch.int8), t(NZ32.T, torch.int8)), case("matmul", G32[0], G32[1]),
    case("matmul", CUBE, CUBE.transpose(0, 2, 1)), case("matmul", BOOL, BOOL.T),
    case("dot", G32[0], G32[1]), case("dot", F32, G32[0]), case("dot", 2.0, F32),
    case("dot", I32[0], NZ32[0]), case("einsum", "ij,kj->ik", F32, G32),
    case("einsum", "ij->", t(F32)), case("einsum", "bij,jk->bik", CUBE, G32.T),
    case("einsum", "i,i->", G32[0], G32[1]),
    case("einsum", "ij,ij->i", t(I32, torch.int8), t(NZ32, torch.int8)),
    case("tensordot", CUBE, G32.T, 1), case("tensordot", F32, G32), case("tensordot", F32, G32, 0),
    case("tensordot", CUBE, CUBE, ([0, 1], [0, 1])), case("tensordot", F32, G32, axes=(1, 1)),
    case("tensordot", I32, NZ32, ([1], [1])), case("outer", G32[0], G32[1]),
    case("outer", F32, I32[0]), case("outer", I32[0], NZ32[1]), case("trace", F32),
    case("trace", I32, offset=1), case("trace", CUBE, 0, 1, 2), case("trace", BOOL),
    case("norm", F32), case("norm", t(CUBE)), case("norm", F32, ord=1, axis=-1),
    case("norm", F32, ord=2, axis=0, keepdims=True), case("norm", F32, ord=np.inf, axis=1),
    case("norm", F32, ord="fro", axis=(0, 1)), case("norm", F32, ord="nuc"),
    case("norm", I32), case("norm", t(I32, torch.int64), axis=1), case("norm", CUBE, axis=(1, 2)),
]  # fmt: skip

CASES += [
    case("softmax", F32), case("softmax", t(CUBE), axis=0), case("softmax", F32, axis=None),
    case("softmax", CUBE, axis=(0, 2)), case("softmax", t(F32, torch.float16)),
    case("softmax", CUBE, axis=(2, 1)), case("log_softmax", F32), case("log_softmax", t(CUBE), 1),
    case("log_softmax", F32, axis=None), case("log_softmax", CUBE, axis=(0, 1)),
    case("one_hot", LABELS, 5), case("one_hot", t(LABELS), 6, axis=0),
    case("one_hot", [[0, 1], [2, -1]], 3, axis=1), case("one_hot", [1, 0], 2, dtype="int32"),
    case("one_hot", np.array([3, -2]), 4, dtype="bool"), case("multi_hot", [[0, 2], [1, 1]], 4),
    case("multi_hot", [0, 3], num_classes=5), case("multi_hot", [[1]], 3, dtype="int32"),
    case("normalize", F32), case("normalize", t(F32), axis=0), case("normalize", F32, order=1),
    case("normalize", I32, order=2), case("normalize", F32, epsilon=1e-2),
    case("normalize", F32, axis=1, order=3),
    case("binary_crossentropy", ONEHOT, PROBS), case("binary_crossentropy", t(ONEHOT), t(PROBS)),
    case("binary_crossentropy", ONEHOT, LOGITS, from_logits=True),
    case("categorical_crossentropy", ONEHOT, PROBS),
    case("categorical_crossentropy", t(ONEHOT), t(LOGITS), from_logits=True),
    case("categorical_crossentropy", ONEHOT.T, PROBS.T, axis=0),
    case("categorical_crossentropy", PROBS, PROBS),
    case("sparse_categorical_crossentropy", LABELS, PROBS),
    case("sparse_categorical_crossentropy", LABELS[:, None], PROBS),
    case("sparse_categorical_crossentropy", t(LABELS), t(LOGITS), from_logits=True),
    case("sparse_categorical_crossentropy", LABELS.astype("float32"), PROBS),
    case("sparse_categorical_crossentropy", LABELS, PROBS.T, axis=0),
    case("sparse_categorical_crossentropy", 2, PROBS[0]),
    case("sparse_categorical_crossentropy", LABELS[:3].reshape(1, 3), LOGITS[:3][None], True),
    case("moments", CUBE, [0]), case("moments", t(CUBE), [0, 1]), case("moments", F32, 1),
    case("moments", CUBE, (0, 2), keepdims=True), case("moments", t(CUBE, torch.float16), [0]),
]  # fmt: skip

CASES += [
    case("convert_to_tensor", [1, 2]), case("convert_to_tensor", [1, 2.5]),
    case("convert_to_tensor", [[True, False]]), case("convert_to_tensor", np.float64(2.0)),
    case("convert_to_tensor", np.int64(3)), case("convert_to_tensor", 2**40),
    case("convert_to_tensor", True), case("convert_to_tensor", []),
    case("convert_to_tensor", F32, dtype="float16"), case("convert_to_tensor", t(I32), "float32"),
    case("convert_to_tensor", [t(F32), t(G32)]), case("convert_to_tensor", BOOL, dtype="int32"),
    case("convert_to_tensor", I32.astype("uint8")), case("convert_to_tensor", (1.0, 2.0)),
    case("convert_to_tensor", [np.float64(1.0), 2]), case("cast", F32, "int32"),
    case("cast", t(F32), "float16"), case("cast", I32, "bool"), case("cast", 2.7, "int32"),
    case("cast", t(I32), torch.float64), case("cast", [1, 2], "float32"),
    case("cast", t(F32), np.float64), case("cast", BOOL, "uint8"),
    case("convert_to_numpy", t(F32)), case("convert_to_numpy", t(I32)),
    case("convert_to_numpy", F32), case("convert_to_numpy", [t(F32), t(G32)]),
    case("convert_to_numpy", t(F32).requires_grad_()), case("convert_to_numpy", 3.0),
]  # fmt: skip

# Inputs that Keras rejects, and convolve must reject too.
RAISES = [
    case("reshape", F32, (5, -1)), case("reshape", F32, (-1, -1)), case("split", F32, 2),
    case("where", BOOL, F32), case("binary_crossentropy", PROBS, PROBS[:, :2]),
    case("categorical_crossentropy", ONEHOT, PROBS[:, :3]),
    case("sparse_categorical_crossentropy", LABELS[:3], PROBS), case("eye", 2.0),
    case("eye", 2, 3.0), case("one_hot", LABELS, 5, sparse=True), case("normalize", F32, order=0),
    case("moments", F32, [0], synchronized=True), case("max", np.zeros((0, 2), "float32")),
    case("convert_to_tensor", F32, sparse=True), case("cast", F32, "float128"),
    case("linspace", 0, 1, axis=1), case("concatenate", [F32, CUBE]), case("matmul", F32, F32),
    case("multi_hot", [1, 2]), case("round", BOOL), case("convert_to_tensor", None),
    case("add", F32, "a"),
    *(case(name, I32) for name in sorted(FLOAT_ONLY)),
]  # fmt: skip


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    # Tiny inputs: one intra-op thread avoids thread-pool wake-ups dominating the run time.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parity
@pytest.mark.parametrize("name,args,kwargs", CASES)
def test_matches_keras(name, args, kwargs):
    theirs = getattr(keras.ops, name)(*args, **kwargs)
    ours = getattr(ops, name)(*args, **kwargs)
    _same(ours, theirs, name)


@pytest.mark.parity
@pytest.mark.parametrize("name,args,kwargs", RAISES)
def test_rejects_what_keras_rejects(name, args, kwargs):
    with pytest.raises(Exception):  # noqa: B017 - Keras's exception types vary by op
        getattr(keras.ops, name)(*args, **kwargs)
    with pytest.raises((ValueError, TypeError, RuntimeError, NotImplementedError)):
        getattr(ops, name)(*args, **kwargs)


def test_every_function_is_compared_with_keras():
    # The functions compared in tests/test_ops_more.py, test_ops_nn_more.py and test_ops_fft.py
    # count too.
    import test_ops_fft
    import test_ops_more
    import test_ops_nn_more

    compared = {param.values[0] for param in CASES}
    compared |= set(test_ops_more.COMPARED) | set(test_ops_nn_more.COMPARED)
    compared |= set(test_ops_fft.COMPARED)
    assert sorted(set(ops.__all__) - compared) == []


@pytest.mark.parity
@pytest.mark.parametrize("name", ops.__all__)
def test_signature_matches_keras(name):
    ours = inspect.signature(getattr(ops, name)).parameters
    theirs = inspect.signature(getattr(keras.ops, name)).parameters
    assert [(p.name, p.default, p.kind) for p in ours.values()] == [
        (p.name, p.default, p.kind) for p in theirs.values()
    ]


@pytest.mark.parity
@pytest.mark.parametrize("name", ["sum", "max", "min", "amax", "amin", "prod"])
@pytest.mark.parametrize("x", [F32, t(CUBE)], ids=["numpy", "torch"])
def test_keepdims_without_axis_keeps_every_axis(name, x):
    # Keras documents NumPy's shape (1, ..., 1); its torch backend returns a 0-d tensor here.
    ours = getattr(ops, name)(x, keepdims=True)
    theirs = getattr(keras.ops, name)(x)
    assert ours.shape == (1,) * np.ndim(x) and ours.dtype == theirs.dtype
    np.testing.assert_allclose(ours.reshape(()).numpy(), theirs.numpy(), RTOL, ATOL)


def test_numpy_semantics_where_keras_torch_departs():
    # Negative indices without an axis count from the end of the flattened tensor.
    np.testing.assert_array_equal(ops.take(I32, [-1, 0]).numpy(), np.take(I32, [-1, 0]))
    # Per-element repeat counts given as a list.
    np.testing.assert_array_equal(
        ops.repeat(F32, [1, 2, 0], axis=0).numpy(), np.repeat(F32, [1, 2, 0], axis=0)
    )
    # A negative one_hot axis counts from the end of the output.
    labels = np.array([[0, 2], [1, 1]])
    expected = np.moveaxis(np.eye(3, dtype="float32")[labels], -1, -2)
    np.testing.assert_array_equal(ops.one_hot(labels, 3, axis=-2).numpy(), expected)
    # Negative axes in a tuple of softmax axes.
    _same(ops.softmax(CUBE, axis=(-1, 1)), keras.ops.softmax(CUBE, axis=(2, 1)), "softmax")
    _same(ops.log_softmax(CUBE, (0, -1)), keras.ops.log_softmax(CUBE, (0, 2)), "log_softmax")
    # Reducing over no axes reduces nothing.
    np.testing.assert_array_equal(ops.std(CUBE, axis=()).numpy(), np.std(CUBE, axis=()))
    _same(ops.logsumexp(t(CUBE), axis=()), t(CUBE), "logsumexp")
    # Unstacking a NumPy array.
    assert [u.tolist() for u in ops.unstack(F32)] == [list(map(float, row)) for row in F32]


def test_squeeze_of_a_non_unit_axis_names_it():
    with pytest.raises(ValueError, match=r"axis 1 has size 4"):
        ops.squeeze(F32, axis=1)


@pytest.mark.parametrize("name", ["fft3", "no_such_op", "einsum_path"])
def test_unknown_names_raise_attribute_error_naming_them(name):
    with pytest.raises(AttributeError, match=repr(name)):
        getattr(ops, name)


def test_reachable_as_keras_ops():
    assert convolve.ops is ops
    assert "ops" in dir(convolve)
    value = convolve.ops.mean(convolve.ops.square(t(F32) - t(G32)), axis=-1)
    np.testing.assert_allclose(value.numpy(), ((F32 - G32) ** 2).mean(-1), RTOL, ATOL)


def test_gradients_flow_like_keras():
    def loss(lib, y_true, y_pred):
        o = lib.ops
        err = o.where(o.greater(y_true, 0), o.abs(y_true - y_pred), o.square(y_pred))
        return o.mean(o.logsumexp(err, axis=-1) + o.clip(o.std(y_pred, axis=0), 0.0, 1.0).sum())

    grads = []
    for lib in (convolve, keras):
        y_pred = t(F32).requires_grad_()
        loss(lib, t(G32), y_pred).backward()
        grads.append(y_pred.grad)
    _same(grads[0], grads[1], "gradient")


def test_keeps_tensors_on_their_device_and_types_new_ones_like_keras():
    x = t(F32)
    assert ops.convert_to_tensor(x) is x
    assert ops.cast(x, "float32") is x
    assert ops.add(x, np.ones(4, "float32")).device == x.device
    assert ops.zeros(2).device == convolve.config.device()


def _mse(lib):
    def my_loss(y_true, y_pred):
        return lib.ops.mean(lib.ops.square(y_true - y_pred), axis=-1)

    return my_loss


def _hinge_like(lib):
    def my_loss(y_true, y_pred):
        o = lib.ops
        margin = o.maximum(1.0 - y_true * y_pred, 0.0)
        return o.mean(o.square(margin), axis=-1) + 0.1 * o.logsumexp(y_pred, axis=-1)

    return my_loss


@pytest.mark.parity
@pytest.mark.parametrize("loss", [_mse, _hinge_like], ids=["mse", "hinge_logsumexp"])
def test_custom_loss_with_ops_trains_like_keras(loss):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 6)).astype("float32")
    y = rng.normal(size=(40, 3)).astype("float32")

    def build(lib):
        return lib.Sequential(
            [lib.Input((6,)), lib.layers.Dense(8, activation="relu"), lib.layers.Dense(3)]
        )

    theirs, ours = build(keras), build(convolve)
    ours.set_weights(theirs.get_weights())
    theirs.compile(optimizer=keras.optimizers.SGD(0.05), loss=loss(keras))
    ours.compile(optimizer=convolve.optimizers.SGD(0.05), loss=loss(convolve))
    kwargs = dict(epochs=3, batch_size=8, shuffle=False, verbose=0)
    h_theirs, h_ours = theirs.fit(x, y, **kwargs), ours.fit(x, y, **kwargs)
    for i, (a, b) in enumerate(zip(ours.get_weights(), theirs.get_weights(), strict=True)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=f"weight {i}")
    np.testing.assert_allclose(h_ours.history["loss"], h_theirs.history["loss"], rtol=1e-5)
    assert h_ours.history["loss"][-1] < h_ours.history["loss"][0]


def _mean_abs_error_metric(lib):
    class MeanAbsoluteError(lib.metrics.Metric):
        def __init__(self, name="mae_ops", **kwargs):
            super().__init__(name=name, **kwargs)
            self.total = self.add_variable(shape=(), initializer="zeros", name="total")
            self.count = self.add_variable(shape=(), initializer="zeros", name="count")

        def update_state(self, y_true, y_pred, sample_weight=None):
            o = lib.ops
            error = o.abs(o.subtract(o.convert_to_tensor(y_true), y_pred))
            self.total.assign(o.add(self.total, o.sum(error)))
            self.count.assign(o.add(self.count, o.cast(o.size(error), "float32")))

        def result(self):
            return lib.ops.divide_no_nan(self.total, self.count)

    return MeanAbsoluteError()


@pytest.mark.parity
def test_custom_metric_state_works_with_ops_like_keras():
    results = []
    for lib in (convolve, keras):
        metric = _mean_abs_error_metric(lib)
        metric.update_state(F32, G32)
        metric.update_state(G32[:2], t(F32[:2]))
        results.append(metric.result())
    _same(results[0], results[1], "metric result")
