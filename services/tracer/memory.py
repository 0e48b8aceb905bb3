"""Handing freed heap memory back to the operating system.

The tracer holds its hot window in many growing arrays and makes short-lived objects for every
batch; glibc's allocator keeps what they free inside the process and returns only the top of
the heap on its own, so a worker's RSS reports its high-water mark of garbage, not its state
(about a third more, measured by ``bench/tracer_window.py``). ``malloc_trim`` hands the free
pages back; long-running Python workers do the same for the same reason (Dask's worker memory
documentation recommends it). Elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable


def _trim_function() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc: musl, macOS
        return None
    return trim


_MALLOC_TRIM = _trim_function()


def release_free_memory() -> bool:
    """Return the heap's free pages to the OS; whether the allocator could do it."""
    if _MALLOC_TRIM is None:
        return False
    return bool(_MALLOC_TRIM(0))
