"""Converters: translate other frameworks' GRUs to and from cgru's canonical layout
(PyTorch names, gate order r, z, n).  Each framework is imported only here."""

import numpy as _np


def swap_zr(a, H):
    """Swap the first two H-blocks of the leading 3H axis: ONNX's and Keras's gate
    order z, r, h <-> cgru's (PyTorch's) r, z, n.  The swap is its own inverse."""
    a = _np.asarray(a)
    return _np.concatenate([a[H:2 * H], a[:H], a[2 * H:3 * H]], axis=0)
