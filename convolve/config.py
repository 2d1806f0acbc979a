"""Process-wide settings, as in `keras.config`: Keras's settings (floatx, epsilon, image
data format, logging, deserialization safety, debugging caps on `fit`) and convolve's own
(the device, the dtype policy, compilation).

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
    "disable_interactive_logging",
    "disable_traceback_filtering",
    "dtype_policy",
    "enable_interactive_logging",
    "enable_traceback_filtering",
    "enable_unsafe_deserialization",
    "epsilon",
    "floatx",
    "host_memory_reuse",
    "image_data_format",
    "is_interactive_logging_enabled",
    "is_traceback_filtering_enabled",
    "jit_compile_options",
    "max_epochs",
    "max_steps_per_epoch",
    "set_backend",
    "set_device",
    "set_dtype_policy",
    "set_epsilon",
    "set_floatx",
    "set_host_memory_reuse",
    "set_image_data_format",
    "set_jit_compile_options",
    "set_max_epochs",
    "set_max_steps_per_epoch",
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


def set_backend(backend: str) -> None:
    """Accepts only `"torch"`: convolve runs on PyTorch and has no other backend.

    Raises:
        ValueError: For any other backend name.
    """
    if backend != "torch":
        raise ValueError(
            f"set_backend: convolve runs on PyTorch only; received backend={backend!r}."
        )


_FLOATX = "float32"
_FLOATX_NAMES = ("bfloat16", "float16", "float32", "float64")
_IMAGE_DATA_FORMATS = ("channels_first", "channels_last")
_epsilon = 1e-7


def floatx() -> str:
    """The default float dtype of weights and inputs: `"float32"`, as Keras's default."""
    return _FLOATX


def set_floatx(value: str) -> None:
    """Accepts only `"float32"`: convolve's layers and training loop keep weights in float32.

    For float16 or bfloat16 computation use
    `convolve.mixed_precision.set_global_policy("mixed_float16")`.

    Raises:
        ValueError: For any other dtype name.
    """
    if value not in _FLOATX_NAMES:
        raise ValueError(f"Unknown `floatx` value: {value}. Expected one of {set(_FLOATX_NAMES)}")
    if value != _FLOATX:
        raise ValueError(
            f"set_floatx: convolve keeps weights in float32; received {value!r}. For "
            "float16/bfloat16 computation use "
            "convolve.mixed_precision.set_global_policy('mixed_float16' or 'mixed_bfloat16')."
        )


def epsilon() -> float:
    """The fuzz factor `set_epsilon` last set (Keras's default, 1e-7)."""
    return _epsilon


def set_epsilon(value: float) -> None:
    """Sets the value `epsilon()` returns.

    convolve's built-in losses, metrics and layers use Keras's default 1e-7 whatever this
    is set to; the value is for user code that reads `epsilon()`.
    """
    global _epsilon
    _epsilon = float(value)


def image_data_format() -> str:
    """The layout users see: always `"channels_last"`, as Keras's default."""
    return "channels_last"


def set_image_data_format(data_format: str) -> None:
    """Accepts only `"channels_last"`, the one layout convolve computes in.

    Keras layers take this setting as their default `data_format`; convolve's layers take
    channels-last inputs only, so `"channels_first"` is refused rather than ignored.

    Raises:
        ValueError: For `"channels_first"` (not supported) or an unknown format.
    """
    data_format = str(data_format).lower()
    if data_format not in _IMAGE_DATA_FORMATS:
        raise ValueError(
            f"The `data_format` argument must be one of {set(_IMAGE_DATA_FORMATS)}. "
            f"Received: data_format={data_format}"
        )
    if data_format != "channels_last":
        raise ValueError(
            "set_image_data_format: convolve computes channels_last only (inputs are "
            "(batch, height, width, channels)); received data_format='channels_first'."
        )


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


# Settings that `clear_session()` returns to their defaults, as Keras's does.
_interactive_logging = True
_traceback_filtering = True
_unsafe_deserialization = False


def reset_session_settings() -> None:
    """Restores interactive logging, traceback filtering and safe deserialization."""
    global _interactive_logging, _traceback_filtering, _unsafe_deserialization
    _interactive_logging, _traceback_filtering, _unsafe_deserialization = True, True, False


def enable_interactive_logging() -> None:
    """Writes progress bars, summaries and training messages to stdout (the default)."""
    global _interactive_logging
    _interactive_logging = True


def disable_interactive_logging() -> None:
    """Sends progress bars, summaries and training messages to the `"convolve"` logger.

    They are logged at INFO level instead of written to stdout, as Keras sends them to
    `absl.logging`: nothing is shown unless logging is configured to show INFO records.
    """
    global _interactive_logging
    _interactive_logging = False


def is_interactive_logging_enabled() -> bool:
    """Whether training messages go to stdout (True) or to the `"convolve"` logger."""
    return _interactive_logging


def enable_traceback_filtering() -> None:
    """Records that traceback filtering is wanted (the default).

    convolve never rewrites tracebacks, so this setting changes no behaviour; it is kept
    for code that reads `is_traceback_filtering_enabled()`.
    """
    global _traceback_filtering
    _traceback_filtering = True


def disable_traceback_filtering() -> None:
    """Records that traceback filtering is not wanted (see `enable_traceback_filtering`)."""
    global _traceback_filtering
    _traceback_filtering = False


def is_traceback_filtering_enabled() -> bool:
    """The value last set with `enable_traceback_filtering` / `disable_traceback_filtering`."""
    return _traceback_filtering


def enable_unsafe_deserialization() -> None:
    """Lets model files and configs hold Python code (lambdas, Lambda layers).

    As in Keras, this overrides the `safe_mode` argument of every later `load_model`,
    `model_from_json` or `deserialize_layer` call, until `clear_session()`. Use it only
    for files you trust: loading them runs their code.
    """
    global _unsafe_deserialization
    _unsafe_deserialization = True


def is_unsafe_deserialization_enabled() -> bool:
    """Whether `enable_unsafe_deserialization()` is in effect."""
    return _unsafe_deserialization


def _cap_from_environment(name: str) -> int | None:
    # Keras reads the same variables, so a script can be shortened without editing it.
    value = os.environ.get(name)
    return int(value) if value else None


_max_epochs = _cap_from_environment("KERAS_MAX_EPOCHS")
_max_steps_per_epoch = _cap_from_environment("KERAS_MAX_STEPS_PER_EPOCH")


def _checked_cap(setter: str, value: Any) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{setter}: expected a positive int or None; received {value!r}.")
    return value


def set_max_epochs(max_epochs: int | None) -> None:
    """Caps the number of epochs of every `fit` call, for quick debugging runs.

    `fit(epochs=n)` then runs `min(n, max_epochs)` epochs and warns when it cuts. The
    `KERAS_MAX_EPOCHS` environment variable sets it at import.

    Args:
        max_epochs: The cap, or None for none.
    """
    global _max_epochs
    _max_epochs = _checked_cap("set_max_epochs", max_epochs)


def max_epochs() -> int | None:
    """The cap `set_max_epochs` set (or `KERAS_MAX_EPOCHS`), or None."""
    return _max_epochs


def set_max_steps_per_epoch(max_steps_per_epoch: int | None) -> None:
    """Caps the steps of each epoch of `fit`, and of `evaluate` and `predict`, for debugging.

    Each of those calls then runs at most `max_steps_per_epoch` batches per epoch (fewer if
    `steps_per_epoch` or `steps` asks for fewer) and warns when it cuts. The
    `KERAS_MAX_STEPS_PER_EPOCH` environment variable sets it at import.

    Args:
        max_steps_per_epoch: The cap, or None for none.
    """
    global _max_steps_per_epoch
    _max_steps_per_epoch = _checked_cap("set_max_steps_per_epoch", max_steps_per_epoch)


def max_steps_per_epoch() -> int | None:
    """The cap `set_max_steps_per_epoch` set (or `KERAS_MAX_STEPS_PER_EPOCH`), or None."""
    return _max_steps_per_epoch
