"""cgru: fast GRU inference on the CPU.

    >>> import numpy as np, cgru
    >>> g = cgru.GRU(8, 16)
    >>> y, h_n = g(np.zeros((5, 1, 8), np.float32))
"""

from cgru.gru import GRU, GRUCell, Stream, load

__version__ = "0.1.0"
__all__ = ["GRU", "GRUCell", "Stream", "load", "__version__"]
