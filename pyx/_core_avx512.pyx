# cython: language_level=3
# The kernel core for x86-64-v4: AVX-512 F/BW/DQ/VL + FMA (setup.py's flags).
cdef extern from *:
    """
    #if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__AVX512DQ__) \\
        || !defined(__AVX512VL__) || !defined(__FMA__)
    #error "cgru._core_avx512 must be compiled with -mavx512f -mavx512bw -mavx512dq -mavx512vl -mfma"
    #endif
    """
cdef const char* CGRU_ISA_NAME = "avx512"
include "core.pxi"
