# cython: language_level=3
# The kernel core for any CPU of the platform (no ISA flags).
cdef const char* CGRU_ISA_NAME = "baseline"
include "core.pxi"
