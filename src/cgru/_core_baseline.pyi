"""Type stubs for the private module ``cgru._core_baseline``: the kernel core
compiled for baseline, used through ``cgru.kernels``'s runtime dispatch (see
``cgru.kernels.isa()``).  Nothing here is public."""

from typing import Any

TABLE: Any   # PyCapsule "cgru.kernel_table": this build's const cgru_kernel_table*
