"""Fourier transforms and framing: fft, fft2, ifft2, rfft, irfft, stft, istft, extract_sequences.

As in `keras.ops`, complex values cross the surface as a `(real, imag)` tuple of two float
tensors of one shape and dtype; transforms are unnormalised forward and `1/n` inverse (NumPy's
"backward" norm). `stft` pads a centred signal by reflection and windows each frame with a
periodic Hann or Hamming window (or a given one) centred in `fft_length`, as Keras's torch
backend does; `istft` inverts it.

Example:
    >>> from convolve import ops
    >>> real, imag = ops.fft(([1.0, 2.0], [0.0, 1.0]))
    >>> real.tolist(), imag.tolist()
    ([3.0, -1.0], [1.0, -1.0])
"""

from __future__ import annotations

from typing import Any

import torch

from convolve.ops._dtypes import standardize_dtype
from convolve.ops.core import as_tensor

__all__ = ["extract_sequences", "fft", "fft2", "ifft2", "irfft", "istft", "rfft", "stft"]

_WINDOWS = {"hann": torch.hann_window, "hamming": torch.hamming_window}


def _complex(x: Any, name: str, min_rank: int) -> torch.Tensor:
    """The complex tensor that the `(real, imag)` pair `x` spells, checked."""
    if not isinstance(x, tuple | list) or len(x) != 2:
        raise ValueError(
            f"{name}: input `x` should be a tuple of two tensors - real and imaginary. "
            f"Received: x={x!r}"
        )
    real = as_tensor(x[0])
    imag = as_tensor(x[1], device=real.device)
    if real.shape != imag.shape:
        raise ValueError(
            f"{name}: the real and imaginary parts of `x` should have the same shape. "
            f"Received: x[0].shape = {tuple(real.shape)}, x[1].shape = {tuple(imag.shape)}"
        )
    if not (real.dtype.is_floating_point and imag.dtype.is_floating_point):
        raise ValueError(
            f"{name}: both tensors in input `x` should be of a float dtype. Received: "
            f"x[0].dtype={standardize_dtype(real.dtype)}, "
            f"x[1].dtype={standardize_dtype(imag.dtype)}"
        )
    if real.dtype != imag.dtype:
        raise ValueError(
            f"{name}: the real and imaginary parts of `x` should have the same dtype. "
            f"Received: x[0].dtype={standardize_dtype(real.dtype)}, "
            f"x[1].dtype={standardize_dtype(imag.dtype)}"
        )
    if real.ndim < min_rank:
        raise ValueError(
            f"{name}: input should have rank >= {min_rank}. "
            f"Received: input.shape = {tuple(real.shape)}"
        )
    return torch.complex(real, imag)


def _pair(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return z.real, z.imag


def _check_length(value: Any, name: str, argument: str, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name}: `{argument}` must be a positive integer. Received: "
                         f"{argument}={value!r}")  # fmt: skip


def fft(x: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Fast Fourier Transform along the last axis.

    Args:
        x: Tuple `(real, imag)` of two float tensors of the same shape and dtype, rank >= 1.

    Returns:
        Tuple `(real, imag)` of the transform, with the input's shape and dtype.

    Example:
        >>> from convolve import ops
        >>> [t.tolist() for t in ops.fft(([1.0, 2.0], [0.0, 1.0]))]
        [[3.0, -1.0], [1.0, -1.0]]
    """
    return _pair(torch.fft.fft(_complex(x, "fft", 1)))


def fft2(x: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """2D Fast Fourier Transform along the last two axes.

    Args:
        x: Tuple `(real, imag)` of two float tensors of the same shape and dtype, rank >= 2.

    Returns:
        Tuple `(real, imag)` of the transform, with the input's shape and dtype.

    Example:
        >>> from convolve import ops
        >>> [t.tolist() for t in ops.fft2(([[1.0, 2.0], [2.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]]))]
        [[[6.0, 0.0], [0.0, -2.0]], [[2.0, 0.0], [0.0, -2.0]]]
    """
    return _pair(torch.fft.fft2(_complex(x, "fft2", 2)))


def ifft2(x: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """2D inverse Fast Fourier Transform along the last two axes (scaled by `1 / (m * n)`).

    Args:
        x: Tuple `(real, imag)` of two float tensors of the same shape and dtype, rank >= 2.

    Returns:
        Tuple `(real, imag)` of the inverse transform, with the input's shape and dtype.

    Example:
        >>> from convolve import ops
        >>> [t.tolist() for t in ops.ifft2(([[4.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]))]
        [[[1.0, 1.0], [1.0, 1.0]], [[0.0, 0.0], [0.0, 0.0]]]
    """
    return _pair(torch.fft.ifft2(_complex(x, "ifft2", 2)))


def rfft(x: Any, fft_length: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Fast Fourier Transform of a real signal along the last axis: the `fft_length // 2 + 1`
    non-negative frequency terms.

    Args:
        x: Real tensor of rank >= 1. Integer inputs are transformed in float32.
        fft_length: Number of points of the transform: the last axis is cropped or padded with
            zeros to it. Defaults to the length of the last axis.

    Returns:
        Tuple `(real, imag)`, each of shape `x.shape[:-1] + (fft_length // 2 + 1,)`.

    Example:
        >>> from convolve import ops
        >>> real, imag = ops.rfft([0.0, 1.0, 2.0, 3.0], 4)
        >>> real.tolist(), imag.tolist()
        ([6.0, -2.0, -2.0], [0.0, 2.0, 0.0])
    """
    x = as_tensor(x)
    _check_length(fft_length, "rfft", "fft_length")
    if x.ndim < 1:
        raise ValueError(f"rfft: input should have rank >= 1. Received: input.shape = {()}")
    return _pair(torch.fft.rfft(x, n=fft_length, dim=-1, norm="backward"))


def irfft(x: Any, fft_length: int | None = None) -> torch.Tensor:
    """Inverse of `rfft`: the real signal whose non-negative frequency terms are `x`.

    Args:
        x: Tuple `(real, imag)` of two float tensors of the same shape and dtype, rank >= 1.
        fft_length: Length of the output signal. Defaults to `2 * (x[0].shape[-1] - 1)`; give
            it when the signal length was odd, since it cannot be inferred then.

    Returns:
        A real tensor of shape `x[0].shape[:-1] + (fft_length,)`.

    Example:
        >>> from convolve import ops
        >>> ops.irfft(ops.rfft([0.0, 1.0, 2.0]), 3).round().tolist()
        [0.0, 1.0, 2.0]
    """
    z = _complex(x, "irfft", 1)
    _check_length(fft_length, "irfft", "fft_length")
    if fft_length is None and z.shape[-1] < 2:
        raise ValueError(
            "irfft: with `fft_length=None` the last axis of `x` needs at least 2 entries "
            f"(the output has 2 * (n - 1) samples). Received: x[0].shape = {tuple(z.shape)}"
        )
    return torch.fft.irfft(z, n=fft_length, dim=-1, norm="backward")


def extract_sequences(x: Any, sequence_length: int, sequence_stride: int) -> torch.Tensor:
    """Frames of `sequence_length` samples taken every `sequence_stride` along the last axis.

    Args:
        x: Tensor of rank >= 1, of length `n` on its last axis.
        sequence_length: Samples per frame.
        sequence_stride: Hop between the starts of consecutive frames.

    Returns:
        A tensor of shape `x.shape[:-1] + (1 + (n - sequence_length) // sequence_stride,
        sequence_length)`, of `x`'s dtype.

    Example:
        >>> from convolve import ops
        >>> ops.extract_sequences([1, 2, 3, 4, 5, 6], 3, 2).tolist()
        [[1, 2, 3], [3, 4, 5]]
    """
    x = as_tensor(x)
    _check_length(sequence_length, "extract_sequences", "sequence_length", allow_none=False)
    _check_length(sequence_stride, "extract_sequences", "sequence_stride", allow_none=False)
    if x.ndim < 1:
        raise ValueError(
            f"extract_sequences: input should have rank >= 1. Received: input.shape = {()}"
        )
    if sequence_length > x.shape[-1]:
        raise ValueError(
            "extract_sequences: `sequence_length` must not exceed the length of the last axis "
            f"of `x`. Received: sequence_length={sequence_length}, x.shape={tuple(x.shape)}"
        )
    return torch.unfold_copy(x, -1, sequence_length, sequence_stride)


def _window(
    window: Any, sequence_length: int, dtype: torch.dtype, device: torch.device, name: str
) -> torch.Tensor | None:
    if window is None:
        return None
    if isinstance(window, str):
        if window not in _WINDOWS:
            raise ValueError(
                f'{name}: if a string is passed to `window`, it must be one of "hann", '
                f'"hamming". Received: window={window!r}'
            )
        return _WINDOWS[window](sequence_length, periodic=True, dtype=dtype, device=device)
    win = as_tensor(window, device=device).to(dtype)
    if win.ndim != 1 or win.shape[0] != sequence_length:
        raise ValueError(
            f"{name}: the shape of `window` must be equal to [sequence_length] = "
            f"[{sequence_length}]. Received: window shape={tuple(win.shape)}"
        )
    return win


def _check_frames(name: str, sequence_length: Any, sequence_stride: Any, fft_length: Any) -> None:
    _check_length(sequence_stride, name, "sequence_stride", allow_none=False)
    _check_length(sequence_length, name, "sequence_length", allow_none=False)
    _check_length(fft_length, name, "fft_length", allow_none=False)
    if fft_length < sequence_length:
        raise ValueError(
            f"{name}: `fft_length` must equal or larger than `sequence_length`. "
            f"Received: sequence_length={sequence_length}, fft_length={fft_length}"
        )


def stft(
    x: Any,
    sequence_length: int,
    sequence_stride: int,
    fft_length: int,
    window: str | Any | None = "hann",
    center: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Short-Time Fourier Transform along the last axis.

    Args:
        x: float32 or float64 signal of rank >= 1, of length `n` on its last axis.
        sequence_length: Samples per frame (the window's length).
        sequence_stride: Hop between consecutive frames.
        fft_length: Points of each frame's FFT (>= `sequence_length`); the window is centred
            in it and the rest is zero.
        window: `"hann"`, `"hamming"` (periodic windows), a 1-D tensor of `sequence_length`
            values, or None (no windowing). Defaults to `"hann"`.
        center: Pad `x` by reflection with `fft_length // 2` samples on both sides, so that
            frame `t` is centred at `t * sequence_stride`. Defaults to True.

    Returns:
        Tuple `(real, imag)`, each of shape `x.shape[:-1] + (frames, fft_length // 2 + 1)`,
        with `frames = 1 + (n + 2 * (fft_length // 2 if center else 0) - fft_length) //
        sequence_stride`.

    Example:
        >>> from convolve import ops
        >>> real, imag = ops.stft([0.0, 1.0, 2.0, 3.0, 4.0], 3, 2, 3)
        >>> tuple(real.shape)
        (3, 2)
    """
    _check_frames("stft", sequence_length, sequence_stride, fft_length)
    x = as_tensor(x)
    if x.dtype not in (torch.float32, torch.float64):
        raise TypeError(
            "stft: invalid input type. Expected `float32` or `float64`. "
            f"Received: input type={standardize_dtype(x.dtype)}"
        )
    if x.ndim < 1:
        raise ValueError(f"stft: input should have rank >= 1. Received: input.shape = {()}")
    win = _window(window, sequence_length, x.dtype, x.device, "stft")
    if win is None:
        win = torch.ones(sequence_length, dtype=x.dtype, device=x.device)
    n = x.shape[-1]
    if center and fft_length // 2 >= n:
        raise ValueError(
            "stft: with `center=True` the signal is padded by reflection with fft_length // 2 "
            f"samples, which needs more samples than that. Received: fft_length={fft_length}, "
            f"x.shape={tuple(x.shape)}"
        )
    if not center and n < fft_length:
        raise ValueError(
            "stft: with `center=False` the signal needs at least `fft_length` samples. "
            f"Received: fft_length={fft_length}, x.shape={tuple(x.shape)}"
        )
    batch = x.shape[:-1]
    spectrum = torch.stft(
        x.reshape(-1, n),
        n_fft=fft_length,
        hop_length=sequence_stride,
        win_length=sequence_length,
        window=win,
        center=bool(center),
        pad_mode="reflect",
        return_complex=True,
    )  # (batch, bins, frames)
    spectrum = spectrum.transpose(-2, -1).reshape(*batch, -1, fft_length // 2 + 1)
    return _pair(spectrum)


def _overlap_add(frames: torch.Tensor, stride: int) -> torch.Tensor:
    """Sums frames `(..., count, length)` placed `stride` samples apart."""
    *batch, count, length = frames.shape
    total = stride * (count - 1) + length
    flat = frames.reshape(-1, count, length).transpose(1, 2)  # (batch, length, count)
    out = torch.nn.functional.fold(
        flat, output_size=(1, total), kernel_size=(1, length), stride=(1, stride)
    )
    return out.reshape(*batch, total)


def istft(
    x: Any,
    sequence_length: int,
    sequence_stride: int,
    fft_length: int,
    length: int | None = None,
    window: str | Any | None = "hann",
    center: bool = True,
) -> torch.Tensor:
    """Inverse Short-Time Fourier Transform: the signal whose `stft` (with the same
    arguments) is `x`.

    Args:
        x: Tuple `(real, imag)` of two float tensors of shape `(..., frames,
            fft_length // 2 + 1)`.
        sequence_length: Samples per frame, as given to `stft`.
        sequence_stride: Hop between frames, as given to `stft`.
        fft_length: FFT size, as given to `stft`.
        length: If given, the output is cut to exactly this many samples.
        window: The window given to `stft`: `"hann"`, `"hamming"`, a 1-D tensor of
            `sequence_length` values, or None. Defaults to `"hann"`.
        center: Whether `stft` padded the signal (the padding is removed). Defaults to True.

    Returns:
        A real tensor of shape `x[0].shape[:-2] + (samples,)`.

    Example:
        >>> from convolve import ops
        >>> signal = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
        >>> ops.istft(ops.stft(signal, 4, 2, 4), 4, 2, 4).round().tolist()
        [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    """
    _check_frames("istft", sequence_length, sequence_stride, fft_length)
    _check_length(length, "istft", "length")
    z = _complex(x, "istft", 2)
    win = _window(window, sequence_length, z.real.dtype, z.device, "istft")
    if center and win is not None and sequence_length == fft_length:
        # Overlap-add normalised by the summed squared window at each sample.
        batch, (count, bins) = z.shape[:-2], z.shape[-2:]
        signal = torch.istft(
            z.reshape(-1, count, bins).transpose(-2, -1),
            n_fft=fft_length,
            hop_length=sequence_stride,
            win_length=sequence_length,
            window=win,
            center=True,
            length=length,
            return_complex=False,
        )
        return signal.reshape(*batch, signal.shape[-1])

    frames = torch.fft.irfft(z, n=fft_length, dim=-1, norm="backward")
    if sequence_stride > fft_length:
        raise ValueError(
            "istft: `sequence_stride` must equal or less than `fft_length`. "
            f"Received: sequence_stride={sequence_stride}, fft_length={fft_length}"
        )
    if win is not None:
        # The window centred in fft_length, divided by the sum of its squares over the frames
        # that overlap each sample in the steady state.
        left = (fft_length - sequence_length) // 2
        win = torch.nn.functional.pad(win, (left, fft_length - sequence_length - left))
        overlaps = -(-fft_length // sequence_stride)
        extra = overlaps * sequence_stride - fft_length
        squares = torch.nn.functional.pad(win.square(), (0, extra))
        denominator = squares.reshape(overlaps, sequence_stride).sum(0).repeat(overlaps)
        frames = frames * (win / denominator[:fft_length])
    signal = _overlap_add(frames, sequence_stride)
    start = fft_length // 2 if center else 0
    if length is not None:
        end = start + length
    elif center:
        end = signal.shape[-1] - fft_length // 2
    else:
        end = signal.shape[-1]
    return signal[..., start:end]
