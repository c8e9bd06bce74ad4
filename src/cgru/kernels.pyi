"""Type stubs for the compiled module ``cgru.kernels``.

From Python only the activation enum is visible; the kernels themselves are
the C-level API (``from cgru.kernels cimport ...``, see ``kernels.pxd``, or
``cgru.h`` for C).
"""

import enum

class cgru_activation(enum.IntEnum):
    """Activation kinds (ONNX's functions); alpha/beta as in ONNX."""

    CGRU_SIGMOID = 0
    CGRU_TANH = 1
    CGRU_RELU = 2
    CGRU_AFFINE = 3
    CGRU_LEAKY_RELU = 4
    CGRU_THRESHOLDED_RELU = 5
    CGRU_SCALED_TANH = 6
    CGRU_HARD_SIGMOID = 7
    CGRU_ELU = 8
    CGRU_SOFTSIGN = 9
    CGRU_SOFTPLUS = 10

class cgru_weight_format(enum.IntEnum):
    """How a layer stores its weights (cgru.h)."""

    CGRU_WEIGHTS_NATIVE = 0
    CGRU_WEIGHTS_FLOAT16 = 1
    CGRU_WEIGHTS_BFLOAT16 = 2
    CGRU_WEIGHTS_INT8 = 3

def weight_paths() -> dict[str, str]:
    """The kernel path each reduced-precision weight format runs with the current ISA."""
    ...

def isa() -> str:
    """The instruction set the kernels run with: 'baseline', 'avx2' or 'avx512'."""
    ...
