# cython: language_level=3
# The kernels again, compiled with -mavx2 -mfma -DCGRU_VARIANT=1 (see setup.py):
# cgru.kernels forwards to this module's functions when the CPU supports them.
include "kernels.pyx"
