# cython: language_level=3
# The kernels again, compiled for x86-64-v4 (AVX-512 F/BW/DQ/VL, FMA) with
# -DCGRU_VARIANT=1 (see setup.py): cgru.kernels forwards to this module's
# functions when the CPU supports them.
include "kernels.pyx"
