"""Type stubs for the private module ``cgru._kernels_avx2``: the kernels of
``cgru.kernels`` compiled for avx2, used through ``cgru.kernels``'s runtime
dispatch (see ``cgru.kernels.isa()``).  Nothing here is public."""

from cgru.kernels import cgru_activation as cgru_activation

def isa() -> str: ...
