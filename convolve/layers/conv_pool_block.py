"""Conv2D with ReLU and a 2x2 max pooling after it, in one CPU kernel, for few input channels.

The tutorials' first block (`Conv2D(64, 3, activation="relu")`, `MaxPooling2D()` on a
grayscale or colour image) does little arithmetic per byte of the feature map it writes,
and on CPU that map dominates the block's time: oneDNN writes it, pooling reads it back,
and the backward pass fills, scatters into and sums over a map of the same size. The C
kernel in `_conv_pool.c` computes each pooled value from its window in registers and sums
the weight gradient over the pooled positions only: the MNIST block's training step takes
about 5 ms at batch 256 where the layers take about 24. Outputs and gradients are torch's
(the window's first largest value wins, ReLU's gradient passes where its output is > 0);
sums differ from oneDNN's only in rounding order (about 1e-7 relative), and the weight
gradient is summed in float64 across the batch.

It runs where it is faster and exact: float32 CPU tensors outside autocast, tracing,
compiling, export and functorch transforms; a stride-1 undilated ungrouped "valid"
convolution with at most `MAX_INPUT_CHANNELS` input channels and `MAX_TAPS` kernel taps
(height x width x input channels); an input that needs no gradient (a model's first
layers); 2x2 pooling with stride 2 and "valid" padding. Elsewhere, or where the extension
could not be built (no C compiler at install time), `run` returns None and the model runs
the layers one by one.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from convolve.layers import activation_util
from convolve.layers.convolution import Conv2D
from convolve.layers.pooling import MaxPooling2D

try:
    from convolve.layers import _conv_pool
except ImportError:  # built at install time where a C compiler is at hand
    _conv_pool = None

MAX_INPUT_CHANNELS = 4
MAX_TAPS = 64  # as in _conv_pool.c
_LANES = 16  # the kernel's channel block; its kernel and bias are padded to a multiple


def _transformed() -> bool:
    """Whether a tracer, compiler, exporter or functorch transform is watching the call."""
    if torch.jit.is_tracing() or torch.compiler.is_compiling() or torch.onnx.is_in_onnx_export():
        return True
    functorch = getattr(torch._C, "_functorch", None)
    return functorch is not None and functorch.peek_interpreter_stack() is not None


def applies(conv: Any, pool: Any, x: torch.Tensor) -> bool:
    """Whether `pool(conv(x))` (ReLU included) may run as one kernel; see the module doc."""
    if _conv_pool is None or not isinstance(conv, Conv2D) or not isinstance(pool, MaxPooling2D):
        return False
    kernel = conv.kernel
    return (
        type(conv).pre_activation is Conv2D.pre_activation
        and "pre_activation" not in vars(conv)
        and activation_util.builtin_name(conv.activation) == "relu"
        and type(x) is torch.Tensor
        and x.device.type == "cpu"
        and x.dtype == torch.float32
        and x.ndim == 4
        and not x.requires_grad
        and kernel.dtype == torch.float32
        and kernel.device.type == "cpu"
        and conv.groups == 1
        and conv.padding == "valid"
        and tuple(conv.strides) == (1, 1)
        and tuple(conv.dilation_rate) == (1, 1)
        and x.shape[1] <= MAX_INPUT_CHANNELS
        and kernel.shape[1] * kernel.shape[2] * kernel.shape[3] <= MAX_TAPS
        and tuple(pool.pool_size) == (2, 2)
        and tuple(pool.strides) == (2, 2)
        and pool.padding == "valid"
        and x.shape[2] > kernel.shape[2]
        and x.shape[3] > kernel.shape[3]
        and not torch.is_autocast_enabled("cpu")
        and not _transformed()
    )


def _forward(x: torch.Tensor, kernel: torch.Tensor, bias: Any, keep_codes: bool) -> tuple:
    """Pooled output (n, h_out, w_out, cout), the images as the kernel read them, and the
    codes the backward pass needs (None unless `keep_codes`)."""
    images = x.permute(0, 2, 3, 1).contiguous()  # (n, h, w, cin); free when channels_last
    cout, cin, kh, kw = kernel.shape
    pad = -cout % _LANES
    hwio = F.pad(kernel.detach().permute(2, 3, 1, 0), (0, pad)).contiguous()
    b = torch.zeros(cout + pad) if bias is None else F.pad(bias.detach(), (0, pad)).contiguous()
    n, h, w, _ = images.shape
    shape = (n, (h - kh + 1) // 2, (w - kw + 1) // 2, cout)
    out = torch.empty(shape, dtype=torch.float32)
    codes = torch.empty(shape, dtype=torch.uint8) if keep_codes else None
    _conv_pool.forward(
        images.data_ptr(), n, h, w, cin, hwio.data_ptr(), b.data_ptr(), kh, kw, cout,
        cout + pad, out.data_ptr(), 0 if codes is None else codes.data_ptr(), 0,
        torch.get_num_threads(),
    )  # fmt: skip
    return out, images, codes


class _ConvReluPool(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, kernel: torch.Tensor, bias: Any) -> torch.Tensor:
        out, images, codes = _forward(x, kernel, bias, keep_codes=True)
        ctx.save_for_backward(images, codes)
        ctx.kernel_shape = tuple(kernel.shape)
        return out.permute(0, 3, 1, 2)  # engine shape, channels_last memory

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple:
        images, codes = ctx.saved_tensors
        cout, cin, kh, kw = ctx.kernel_shape
        grad = grad.permute(0, 2, 3, 1).contiguous()  # free: the layer after is channels_last
        sums = torch.empty((kh * kw * cin + 1) * cout, dtype=torch.float32)
        n, h, w, _ = images.shape
        _conv_pool.backward(
            images.data_ptr(), n, h, w, cin, 0, 0, kh, kw, cout, 0, grad.data_ptr(),
            codes.data_ptr(), sums.data_ptr(), torch.get_num_threads(),
        )  # fmt: skip
        taps = kh * kw * cin * cout
        dw = sums[:taps].view(kh, kw, cin, cout).permute(3, 2, 0, 1)
        db = sums[taps:] if ctx.needs_input_grad[2] else None
        return None, dw, db


def run(conv: Any, pool: Any, x: torch.Tensor) -> torch.Tensor | None:
    """`pool(conv(x))` with `conv`'s ReLU, in engine layout; None where it does not apply."""
    if not applies(conv, pool, x):
        return None
    kernel, bias = conv.kernel, conv.bias
    trains = torch.is_grad_enabled() and (
        kernel.requires_grad or (bias is not None and bias.requires_grad)
    )
    if trains:
        return _ConvReluPool.apply(x, kernel, bias)
    return _forward(x, kernel, bias, keep_codes=False)[0].permute(0, 3, 1, 2)
