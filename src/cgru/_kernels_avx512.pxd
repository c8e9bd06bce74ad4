# The declarations of cgru.kernels, for its AVX-512 build (pyx/_kernels_avx512.pyx);
# cgru.kernels reads the function pointers from this module's __pyx_capi__.
include "kernels.pxd"
