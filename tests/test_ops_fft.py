"""convolve.ops's Fourier transforms, framing and `rearrange` against keras.ops (Keras 3.15.1
on its torch backend).

Each case runs on the same inputs in both libraries (NumPy arrays, torch tensors, lists; odd
and even lengths; batch axes; float32 and float64). Results must have the same type, shape
and dtype; integer values must be equal; floating values agree within rtol = atol = 1e-5 for
the transforms in float32 (sums of many rounded products), 1e-10 in float64, and 1e-6 for
`extract_sequences` and `rearrange` (pure data movement).

Where convolve is stricter or more permissive than Keras (Keras lets `istft` take any unknown
window name as "hamming", `stft` fails on Python lists with an AttributeError), the test says
so and checks convolve's documented behaviour against NumPy.
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

RTOL = ATOL = 1e-5
RNG = np.random.default_rng(11)


def rand(*shape: int, dtype: str = "float32") -> np.ndarray:
    return RNG.normal(size=shape).astype(dtype)


def _same(ours: Any, theirs: Any, where: str, tol: float) -> None:
    if isinstance(theirs, tuple | list):
        assert type(ours) is type(theirs) and len(ours) == len(theirs), where
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            _same(a, b, f"{where}[{i}]", tol)
        return
    assert isinstance(ours, torch.Tensor), f"{where}: {type(ours)}"
    assert ours.dtype == theirs.dtype, f"{where}: dtype {ours.dtype} != {theirs.dtype}"
    assert ours.shape == theirs.shape, f"{where}: shape {ours.shape} != {theirs.shape}"
    a, b = ours.detach().cpu(), theirs.detach().cpu()
    if a.dtype.is_floating_point:
        if a.dtype == torch.float64:
            tol = min(tol, 1e-10)
        np.testing.assert_allclose(a.numpy(), b.numpy(), tol, tol, err_msg=where)
    else:
        assert torch.equal(a, b), where


_counts: Counter[str] = Counter()


def case(name: str, *args: Any, **kwargs: Any) -> Any:
    _counts[name] += 1
    return pytest.param(name, args, kwargs, id=f"{name}-{_counts[name]}")


def pair(*shape: int, dtype: str = "float32") -> tuple[np.ndarray, np.ndarray]:
    return rand(*shape, dtype=dtype), rand(*shape, dtype=dtype)


def tpair(*shape: int) -> tuple[torch.Tensor, torch.Tensor]:
    return tuple(torch.from_numpy(p) for p in pair(*shape))


SIGNAL = rand(2, 3, 37)  # batch axes and an odd length
SIGNAL_1D = rand(31)
SIGNAL_64 = rand(2, 40, dtype="float64")
STFT_16 = keras.ops.stft(SIGNAL, 16, 4, 16)  # (2, 3, 10, 9): torch.istft's branch
STFT_10 = keras.ops.stft(SIGNAL, 10, 3, 16, window="hamming")  # sequence_length < fft_length
STFT_NC = keras.ops.stft(SIGNAL_1D, 8, 4, 8, center=False)
STFT_NONE = keras.ops.stft(SIGNAL_64, 12, 5, 12, window=None)
IMG = rand(2, 5, 7, 3)

CASES = [
    # fft / fft2 / ifft2: (real, imag) in, (real, imag) out.
    case("fft", pair(7)), case("fft", pair(2, 3, 8)), case("fft", tpair(4, 9)),
    case("fft", ([1.0, 2.0, 0.5], [0.0, 1.0, -1.0])), case("fft", pair(3, 5, dtype="float64")),
    case("fft", [rand(6), rand(6)]), case("fft", pair(1)),
    case("fft2", pair(4, 6)), case("fft2", pair(2, 3, 5, 7)), case("fft2", tpair(3, 3)),
    case("fft2", pair(5, 4, dtype="float64")), case("fft2", pair(1, 1)),
    case("ifft2", pair(4, 6)), case("ifft2", pair(2, 3, 5, 7)), case("ifft2", tpair(9, 2)),
    case("ifft2", pair(5, 4, dtype="float64")),
    # rfft: real in; fft_length crops or pads.
    case("rfft", rand(7)), case("rfft", rand(2, 3, 8)), case("rfft", rand(2, 3, 8), 5),
    case("rfft", rand(4, 9), fft_length=16), case("rfft", torch.from_numpy(rand(5, 6)), 6),
    case("rfft", [1, 2, 3, 4, 5]), case("rfft", np.arange(6)),
    case("rfft", rand(4, 11, dtype="float64")),
    case("rfft", [0.5, 1.5, -2.0], 1),
    # irfft: odd lengths need fft_length; shorter/longer fft_length crops/pads the bins.
    case("irfft", keras.ops.rfft(rand(3, 7)), 7), case("irfft", pair(2, 3, 5)),
    case("irfft", pair(4, 5), fft_length=4), case("irfft", pair(4, 5), fft_length=16),
    case("irfft", pair(6, dtype="float64"), 11), case("irfft", tpair(2, 9)),
    case("irfft", pair(2), 1),
    # extract_sequences
    case("extract_sequences", rand(10), 3, 2), case("extract_sequences", rand(2, 3, 11), 4, 3),
    case("extract_sequences", np.arange(7), 7, 1), case("extract_sequences", [1, 2, 3, 4, 5], 2, 5),
    case("extract_sequences", torch.arange(9, dtype=torch.int64).reshape(3, 3), 1, 1),
    # stft: window names, arrays, None; fft_length > sequence_length; center on/off.
    case("stft", SIGNAL, 16, 4, 16), case("stft", SIGNAL, 10, 3, 16, window="hamming"),
    case("stft", SIGNAL_1D, 8, 4, 8, center=False), case("stft", SIGNAL_1D, 7, 2, 12, None),
    case("stft", SIGNAL_1D, 5, 3, 8, np.hanning(5).astype("float32")),
    case("stft", SIGNAL_1D, 5, 3, 8, list(np.bartlett(5))),
    case("stft", SIGNAL_64, 12, 5, 12, window=None),
    case("stft", SIGNAL_64, 9, 2, 15, "hann", False),
    case("stft", torch.from_numpy(SIGNAL), 6, 6, 6), case("stft", np.arange(9.0), 3, 2, 4),
    case("stft", SIGNAL_1D, 1, 1, 1), case("stft", SIGNAL_1D, 31, 1, 32, center=True),
    # istft: torch.istft's branch (sequence_length == fft_length, centred, windowed) and the
    # overlap-add branch (everything else), with and without `length`.
    case("istft", STFT_16, 16, 4, 16), case("istft", STFT_16, 16, 4, 16, length=30),
    case("istft", STFT_16, 16, 4, 16, length=45),
    case("istft", STFT_10, 10, 3, 16, window="hamming"),
    case("istft", STFT_10, 10, 3, 16, length=37, window="hamming"),
    case("istft", STFT_NC, 8, 4, 8, center=False), case("istft", STFT_NC, 8, 4, 8, 20, None, False),
    case("istft", STFT_NONE, 12, 5, 12, window=None), case("istft", STFT_NONE, 12, 5, 12, 33, None),
    case("istft", keras.ops.stft(SIGNAL_1D, 5, 3, 8, np.hanning(5)), 5, 3, 8, None, np.hanning(5)),
    case("istft", keras.ops.stft(SIGNAL_1D, 6, 2, 9), 6, 2, 9),
    case("istft", tuple(t.numpy() for t in STFT_16), 16, 4, 16),
    # rearrange: transposes, merges, splits (with one inferred part), space-to-depth.
    case("rearrange", IMG, "b h w c -> b c h w"), case("rearrange", IMG, "b h w c -> (b h) w c"),
    case("rearrange", IMG, "b h w c -> h (b w) c"), case("rearrange", IMG, "b h w c -> b (c h w)"),
    case("rearrange", rand(2, 6, 8, 3), "b (h1 h) (w1 w) c -> (b h1 w1) h w c", h1=2, w1=2),
    case("rearrange", rand(2, 6, 8, 3), "b (h h1) (w w1) c -> b h w (c h1 w1)", h1=2, w1=4),
    case("rearrange", rand(2, 6, 8, 3), "b (h h1) (w w1) c -> b h w (c h1 w1)", h=3, w=2),
    case("rearrange", np.arange(24).reshape(2, 3, 4), "a b c->c a b"),
    case("rearrange", torch.arange(12), "(a b) -> b a", a=3),
    case("rearrange", rand(3, 4, dtype="float64"), "x y -> (y x)"),
]  # fmt: skip

# Inputs that Keras rejects, and convolve must reject too.
RAISES = [
    case("fft", rand(4)), case("fft", (rand(4), rand(5))),
    case("fft", (np.arange(3), np.arange(3))),
    case("fft", (rand(4), rand(4, dtype="float64"))), case("fft", (rand(), rand())),
    case("fft", (rand(2), rand(2), rand(2))), case("fft2", pair(5)), case("ifft2", pair(5)),
    case("fft2", (np.ones((2, 2), "int32"), np.ones((2, 2), "int32"))),
    case("rfft", rand(5), 0), case("rfft", rand()), case("irfft", pair(1)), case("irfft", rand(4)),
    case("extract_sequences", rand(5), 6, 2), case("extract_sequences", rand(5), 2, 0),
    case("stft", SIGNAL, 16, 0, 16), case("stft", SIGNAL, 16, 2.0, 16),
    case("stft", SIGNAL, 16, 4, 8), case("stft", SIGNAL, 16, 4, 16, window="blackman"),
    case("stft", SIGNAL, 16, 4, 16, window=np.ones(15)), case("stft", np.arange(40), 8, 4, 8),
    case("stft", SIGNAL.astype("float16"), 8, 4, 8), case("stft", SIGNAL_1D, 8, 4, 64),
    case("stft", SIGNAL_1D, 8, 4, 40, center=False),
    case("istft", STFT_16, 16, 0, 16), case("istft", STFT_16[0], 16, 4, 16),
    case("istft", STFT_16, 16, 4.5, 16), case("istft", STFT_16, 16, 4, 16, window=np.ones(3)),
    case("istft", STFT_NC, 8, 9, 8, center=False), case("istft", pair(9), 16, 4, 16),
    case("rearrange", IMG, "b h w c -> b c h"), case("rearrange", IMG, "b h w -> b h w"),
    case("rearrange", rand(2, 6), "b (h w) -> b h w"),
    case("rearrange", rand(2, 7), "b (h w) -> b h w", h=2),
]  # fmt: skip

COMPARED = sorted({p.values[0] for p in CASES} | {"stft", "istft"})


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
    tol = 1e-6 if name in ("extract_sequences", "rearrange") else RTOL
    _same(ours, theirs, name, tol)


@pytest.mark.parity
@pytest.mark.parametrize("name,args,kwargs", RAISES)
def test_rejects_what_keras_rejects(name, args, kwargs):
    with pytest.raises(Exception):  # noqa: B017 - Keras's exception types vary by op
        getattr(keras.ops, name)(*args, **kwargs)
    with pytest.raises((ValueError, TypeError)):
        getattr(ops, name)(*args, **kwargs)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: ops.fft(rand(4)), r"tuple of two tensors.*Received: x="),
        (lambda: ops.fft((rand(4), rand(5))), r"x\[0\].shape = \(4,\), x\[1\].shape = \(5,\)"),
        (lambda: ops.fft((np.arange(2), np.arange(2))), r"float dtype.*x\[0\].dtype=int64"),
        (lambda: ops.fft((rand(2), rand(2, dtype="float64"))), r"same dtype.*float64"),
        (lambda: ops.fft2(pair(3)), r"fft2: input should have rank >= 2.*\(3,\)"),
        (lambda: ops.rfft(rand(4), 0), r"rfft: `fft_length` must be a positive.*fft_length=0"),
        (lambda: ops.stft(SIGNAL, 16, 4, 8), r"sequence_length=16, fft_length=8"),
        (lambda: ops.stft(SIGNAL, 16, 0, 16), r"sequence_stride=0"),
        (lambda: ops.stft(np.arange(9), 3, 2, 4), r"Expected `float32` or `float64`.*int64"),
        (lambda: ops.stft(SIGNAL, 8, 4, 8, window="kaiser"), r"window='kaiser'"),
        (lambda: ops.stft(SIGNAL, 8, 4, 8, window=np.ones(3)), r"\[8\].*\(3,\)"),
        (lambda: ops.stft(SIGNAL_1D, 8, 4, 64), r"fft_length=64, x.shape=\(31,\)"),
        (lambda: ops.istft(STFT_16, 16, 4, 16, window="foo"), r"window='foo'"),
        (lambda: ops.istft(STFT_16, 16, 4, 16, length=0), r"length=0"),
        (lambda: ops.extract_sequences(rand(5), 6, 1), r"sequence_length=6, x.shape=\(5,\)"),
        (lambda: ops.rearrange(IMG, "b h w c"), r"one '->'.*pattern='b h w c'"),
        (lambda: ops.rearrange(IMG, "b h w -> b h w"), r"3 input axes.*rank 4"),
        (lambda: ops.rearrange(IMG, "b h w c -> b h w"), r"Only in input: \['c'\]"),
        (lambda: ops.rearrange(IMG, "b h h c -> b h c"), r"\['h'\] appear more than once"),
        (lambda: ops.rearrange(IMG, "b ... c -> b c ..."), r"axis names"),
        (lambda: ops.rearrange(IMG, "b (h w c -> b h w c"), r"axis names"),
        (lambda: ops.rearrange(rand(2, 6), "b (h w) -> b h w"), r"missing \['h', 'w'\]"),
        (lambda: ops.rearrange(rand(2, 7), "b (h w) -> b h w", h=2), r"length 7.*\(h w\)"),
        (lambda: ops.rearrange(rand(2, 6), "b (h w) -> b h w", h=2, w=2), r"length 6"),
    ],
)
def test_errors_name_the_argument_and_value(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_keras_departures_follow_the_documented_behaviour():
    # Keras's istft treats any window name other than "hann" as "hamming"; convolve refuses
    # unknown names (above) and computes the named windows as Keras does.
    _same(
        ops.istft(STFT_10, 10, 3, 16, window="hamming"),
        keras.ops.istft(STFT_10, 10, 3, 16, window="hamming"),
        "istft",
        RTOL,
    )
    # Keras's stft reads `x.dtype` before converting: a list of floats fails there; convolve
    # converts it to float32 first.
    signal = [float(v) for v in SIGNAL_1D]
    _same(ops.stft(signal, 8, 4, 8), keras.ops.stft(SIGNAL_1D, 8, 4, 8), "stft", RTOL)
    # A single frame: Keras's overlap-add refuses stride < fft_length / frames; the inverse
    # of the one frame is the windowed frame itself (NumPy's inverse FFT as the reference).
    real, imag = ops.stft(SIGNAL_1D[:8], 8, 4, 8, window=None, center=False)
    out = ops.istft((real, imag), 8, 4, 8, window=None, center=False)
    np.testing.assert_allclose(out.numpy(), SIGNAL_1D[:8], RTOL, ATOL)


def test_transforms_match_numpy():
    # An independent reference: NumPy's FFTs in float64.
    x = rand(3, 5, 7, dtype="float64") + 1j * rand(3, 5, 7, dtype="float64")
    for ours, ref in [
        (ops.fft((x.real, x.imag)), np.fft.fft(x)),
        (ops.fft2((x.real, x.imag)), np.fft.fft2(x)),
        (ops.ifft2((x.real, x.imag)), np.fft.ifft2(x)),
        (ops.rfft(x.real, 10), np.fft.rfft(x.real, 10)),
    ]:
        np.testing.assert_allclose(ours[0].numpy() + 1j * ours[1].numpy(), ref, 1e-10, 1e-10)
    ours = ops.irfft((x.real, x.imag), 13).numpy()
    np.testing.assert_allclose(ours, np.fft.irfft(x, 13), 1e-10, 1e-10)


@pytest.mark.parametrize(
    "args,kwargs",
    [((16, 4, 16), {}), ((10, 3, 16), {"window": "hamming"}), ((8, 4, 8), {"center": False})],
)
def test_istft_inverts_stft(args, kwargs):
    signal = rand(2, 64)
    back = ops.istft(ops.stft(signal, *args, **kwargs), *args, **kwargs)
    # The edges that no full window covers without centring are not recoverable.
    n = back.shape[-1]
    inner = slice(8, n - 8)
    np.testing.assert_allclose(back.numpy()[:, inner], signal[:, :n][:, inner], RTOL, ATOL)


def test_gradients_match_keras():
    grads = []
    for lib in (keras, convolve):
        x = torch.tensor(SIGNAL_1D, requires_grad=True)
        real, imag = lib.ops.stft(x, 8, 3, 10)
        wave = lib.ops.istft((real * 2.0, imag), 8, 3, 10)
        (real.square().sum() + imag.abs().sum() + wave.sum()).backward()
        grads.append(x.grad.numpy())
    np.testing.assert_allclose(grads[1], grads[0], RTOL, ATOL)


@pytest.mark.parametrize(
    "fn",
    [
        lambda o, x: o.stft(x, 8, 4, 16)[0],
        lambda o, x: o.istft(o.stft(x, 8, 4, 8), 8, 4, 8, length=20),
        lambda o, x: o.irfft(o.rfft(x), 20),
        lambda o, x: o.fft2((o.reshape(x, (-1, 4, 5)), o.reshape(x, (-1, 4, 5)) * 0.5))[1],
        lambda o, x: o.extract_sequences(x, 5, 3),
    ],
    ids=["stft", "istft", "rfft_irfft", "fft2", "extract_sequences"],
)
def test_symbolic_use_in_a_functional_model_matches_keras(fn):
    signals = rand(3, 20)
    outputs, shapes = [], []
    for lib in (keras, convolve):
        inputs = lib.Input((20,))
        symbolic = fn(lib.ops, inputs)
        shapes.append(tuple(symbolic.shape))
        outputs.append(lib.Model(inputs, symbolic).predict(signals, verbose=0))
    assert shapes[1] == shapes[0]
    np.testing.assert_allclose(outputs[1], outputs[0], RTOL, ATOL)


def test_symbolic_rearrange_in_a_functional_model():
    # Keras's symbolic rearrange multiplies the unknown batch size (None) into the output
    # shape and fails; convolve builds the node, and its outputs match Keras's eager result.
    pattern = "b (h h1) w -> b h (w h1)"
    with pytest.raises(TypeError):
        keras.ops.rearrange(keras.Input((4, 5)), pattern, h1=2)
    inputs = convolve.Input((4, 5))
    symbolic = ops.rearrange(inputs, pattern, h1=2)
    assert tuple(symbolic.shape) == (None, 2, 10)
    images = rand(3, 4, 5)
    ours = convolve.Model(inputs, symbolic).predict(images, verbose=0)
    theirs = keras.ops.rearrange(images, pattern, h1=2).numpy()
    np.testing.assert_allclose(ours, theirs, 1e-6, 1e-6)
