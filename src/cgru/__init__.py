"""cgru: fast GRU inference on the CPU.

    >>> import numpy as np, cgru
    >>> g = cgru.GRU(8, 16)
    >>> y, h_n = g(np.zeros((5, 1, 8), np.float32))
"""

import os as _os

from cgru._threads import threads
from cgru.gru import GRU, GRUCell, Gates, Stream, load

__version__ = "0.1.0"
__all__ = ["GRU", "GRUCell", "Gates", "Stream", "load", "threads", "get_include", "__version__"]


def get_include():
    """The folder holding ``cgru.h``, the plain-C API header (docs/c-api.md)."""
    return _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "include")


def __getattr__(name):
    # cgru._C_API, the capsule of the plain-C API, is made on first use
    if name == "_C_API":
        from cgru.capi import _C_API
        return _C_API
    raise AttributeError(f"module 'cgru' has no attribute {name!r}")
