"""Process-wide settings, as in `keras.config`: the device, the dtype policy, compilation.

The device is where `fit`, `evaluate` and `predict` put the model and the data. By default
it is CUDA when a GPU is visible (in a `torchrun` job, the GPU of the process's
`LOCAL_RANK`), otherwise the CPU.

Example:
    >>> import convolve
    >>> convolve.config.set_device("cpu")
    >>> convolve.config.device()
    device(type='cpu')
    >>> convolve.config.set_device(None)  # back to the default
    >>> convolve.config.backend(), convolve.config.image_data_format()
    ('torch', 'channels_last')
"""

from __future__ import annotations

import os
from typing import Any

import torch

__all__ = [
    "backend",
    "device",
    "dtype_policy",
    "image_data_format",
    "jit_compile_options",
    "host_memory_reuse",
    "set_device",
    "set_dtype_policy",
    "set_host_memory_reuse",
    "set_jit_compile_options",
]

_device: torch.device | None = None
_jit_options: dict[str, Any] = {}
_host_memory_reuse = True


def _default_device() -> torch.device:
    if not torch.cuda.is_available():
        return torch.device("cpu")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cuda", torch.cuda.current_device())


def device() -> torch.device:
    """The device that training, evaluation and prediction run on.

    Returns:
        The device set with `set_device`, else CUDA when available, else the CPU.
    """
    return _device if _device is not None else _default_device()


def device_is_set() -> bool:
    """Whether `set_device` chose a device (rather than the default)."""
    return _device is not None


def set_device(value: str | torch.device | None) -> None:
    """Chooses the device for `fit`, `evaluate` and `predict`.

    At the start of each of those calls the model moves to this device (on CUDA, with
    convolution kernels in channels_last memory format; shapes do not change), and arrays
    are copied there once.

    Args:
        value: `"cpu"`, `"cuda"`, `"cuda:1"`, a `torch.device`, or None for the default.

    Raises:
        ValueError: If the device is not known to torch, or is CUDA without a GPU.
    """
    global _device
    if value is None:
        _device = None
        return
    try:
        chosen = torch.device(value)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"set_device: expected 'cpu', 'cuda', 'cuda:<index>' or a torch.device; "
            f"received {value!r}."
        ) from None
    if chosen.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"set_device: received {value!r}, but CUDA is not available.")
        if chosen.index is None:
            chosen = torch.device("cuda", torch.cuda.current_device())
        elif chosen.index >= torch.cuda.device_count():
            raise ValueError(
                f"set_device: received {value!r}, but only {torch.cuda.device_count()} "
                "CUDA device(s) are visible."
            )
    _device = chosen


def backend() -> str:
    """The backend's name: always `"torch"`."""
    return "torch"


def image_data_format() -> str:
    """The layout users see: always `"channels_last"`, as Keras's default."""
    return "channels_last"


def dtype_policy() -> Any:
    """The global dtype policy (see `convolve.mixed_precision.global_policy`)."""
    from convolve import mixed_precision

    return mixed_precision.global_policy()


def set_dtype_policy(policy: Any) -> None:
    """Sets the global dtype policy (see `convolve.mixed_precision.set_global_policy`)."""
    from convolve import mixed_precision

    mixed_precision.set_global_policy(policy)


def jit_compile_options() -> dict[str, Any]:
    """The keyword arguments `compile(jit_compile=True)` passes to `torch.compile`."""
    return dict(_jit_options)


def set_jit_compile_options(**options: Any) -> None:
    """Sets the keyword arguments given to `torch.compile` for `jit_compile=True` models.

    Applies to models compiled afterwards. For example `mode="reduce-overhead"` records
    CUDA graphs on a GPU (worthwhile when batch shapes are static) and `mode="max-autotune"`
    searches kernels longer. Call with no arguments to restore the defaults.

    Args:
        **options: Any of `torch.compile`'s keyword arguments (`mode`, `backend`,
            `fullgraph`, `dynamic`, `options`).

    Raises:
        ValueError: If a keyword is not one of `torch.compile`'s.
    """
    allowed = {"mode", "backend", "fullgraph", "dynamic", "options", "disable"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValueError(
            f"set_jit_compile_options: unknown option(s) {unknown}; torch.compile accepts "
            f"{sorted(allowed)}."
        )
    _jit_options.clear()
    _jit_options.update(options)


_deterministic = False


def enable_deterministic(enabled: bool = True) -> None:
    """Makes training repeat bit for bit on the same machine, together with a seed.

    With `convolve.utils.set_random_seed(s)` called first, two runs of the same script
    give identical weights, with or without loader workers: torch runs only deterministic
    kernels (an operation without one raises instead of varying), cuDNN stops choosing
    kernels by timing, and a dataset's `prefetch` prepares elements in the training
    thread rather than a background one, so that random draws in `map` functions keep
    their order relative to dropout and augmentation. Costs some speed.

    Args:
        enabled: False restores the default (fast, not guaranteed repeatable).

    Example:
        >>> import convolve
        >>> convolve.utils.set_random_seed(1)
        >>> convolve.config.enable_deterministic()
        >>> convolve.config.is_deterministic()
        True
        >>> convolve.config.enable_deterministic(False)
    """
    global _deterministic
    if not isinstance(enabled, bool):
        raise ValueError(f"enable_deterministic: `enabled` must be a bool, received {enabled!r}")
    if enabled:
        # cuBLAS needs a fixed workspace for repeatable results; read when CUDA starts.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(enabled)
    torch.backends.cudnn.deterministic = enabled
    if enabled:
        torch.backends.cudnn.benchmark = False
    _deterministic = enabled


def is_deterministic() -> bool:
    """Whether `enable_deterministic()` is in effect."""
    return _deterministic


def set_host_memory_reuse(enabled: bool) -> None:
    """Whether `fit`, `evaluate` and `predict` on the CPU keep freed memory for reuse.

    On by default. On Linux (glibc), the first of those calls to run on the CPU stops the
    allocator from returning large freed blocks to the system, so that each step reuses the
    previous step's activation memory instead of faulting it in again page by page; this
    makes CPU training up to 1.7 times faster. The process then holds on to its peak memory
    until it exits. Turn it off before the first call to keep the allocator's defaults; once
    applied, it lasts for the life of the process. See `convolve.training.host_memory`.

    Args:
        enabled: False to leave the allocator as it is.

    Raises:
        ValueError: If `enabled` is not a bool.
    """
    global _host_memory_reuse
    if not isinstance(enabled, bool):
        raise ValueError(f"set_host_memory_reuse: `enabled` must be a bool, received {enabled!r}")
    _host_memory_reuse = enabled


def host_memory_reuse() -> bool:
    """Whether CPU runs keep freed memory for reuse (see `set_host_memory_reuse`)."""
    return _host_memory_reuse
