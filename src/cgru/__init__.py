"""cgru: fast GRU inference on the CPU.

    >>> import numpy as np, cgru
    >>> g = cgru.GRU(8, 16)
    >>> y, h_n = g(np.zeros((5, 1, 8), np.float32))
"""

import os as _os
import typing as _typing

from cgru._threads import get_num_threads, set_num_threads, threads
from cgru.gru import GRU, GRUCell, Stream, load

__version__ = "0.1.0"
__all__ = ["GRU", "GRUCell", "Stream", "load", "threads", "get_num_threads", "set_num_threads",
           "get_include", "__version__"]


def get_include() -> str:
    """The folder holding ``cgru.h``, the plain-C API header (docs/c-api.md)."""
    return _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "include")


if _typing.TYPE_CHECKING:
    _C_API: _typing.Any
else:
    def __getattr__(name):
        # cgru._C_API, the capsule of the plain-C API, is made on first use
        if name == "_C_API":
            from cgru.capi import _C_API
            return _C_API
        raise AttributeError(f"module 'cgru' has no attribute {name!r}")
