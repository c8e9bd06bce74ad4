# cython: language_level=3
# The kernel core for AVX2 + FMA (setup.py: -mavx2 -mfma).
cdef extern from *:
    """
    #if !defined(__AVX2__) || !defined(__FMA__)
    #error "cgru._core_avx2 must be compiled with -mavx2 -mfma"
    #endif
    """
cdef const char* CGRU_ISA_NAME = "avx2"
include "core.pxi"
