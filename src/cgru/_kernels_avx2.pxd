# The declarations of cgru.kernels, for its AVX2/FMA build (pyx/_kernels_avx2.pyx);
# cgru.kernels reads the function pointers from this module's __pyx_capi__.
include "kernels.pxd"
