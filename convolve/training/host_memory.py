"""Keeping freed host memory for reuse while the engine runs on the CPU.

glibc's malloc serves every large block (above a threshold that stops growing at 32 MiB)
with a fresh memory mapping and unmaps it when it is freed, and it hands the top of its
heap back to the system as soon as enough of it is free. A training step frees its
activations and gradients and the next step asks for the same sizes again, so every step
faults all of that memory in anew, page by page: for the tutorials' convnets on the CPU,
tens of thousands of page faults a step, up to 40% of its time.

`reuse_freed_memory` turns both off (`M_MMAP_MAX = 0`, a high `M_TRIM_THRESHOLD`), so
freed blocks stay in the process and the next step reuses them. The process then keeps the
peak memory of a step, which training reaches anyway, instead of returning it between
steps. `fit`, `evaluate` and `predict` call it when they run on the CPU, unless
`convolve.config.set_host_memory_reuse(False)` came first. The setting lasts for the
life of the process; it does nothing on systems without glibc.
"""

from __future__ import annotations

import ctypes
import platform

_M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
_M_MMAP_MAX = -4
_KEEP_UP_TO = 2**31 - 1  # bytes of free heap top kept before any is returned (int max)

_applied = False


def reuse_freed_memory() -> bool:
    """Makes glibc keep freed blocks for reuse; True when the setting is (now) in effect."""
    global _applied
    if _applied:
        return True
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success.
    _applied = mallopt(_M_MMAP_MAX, 0) == 1 and mallopt(_M_TRIM_THRESHOLD, _KEEP_UP_TO) == 1
    return _applied


def is_applied() -> bool:
    """Whether this process keeps freed blocks (see `reuse_freed_memory`)."""
    return _applied
