"""Type stubs for the private module ``cgru._kernels_avx512``: the kernels of
``cgru.kernels`` compiled for avx512, used through ``cgru.kernels``'s runtime
dispatch (see ``cgru.kernels.isa()``).  Nothing here is public."""

from cgru.kernels import cgru_activation as cgru_activation

def isa() -> str: ...
