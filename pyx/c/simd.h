/* simd.h - one native vector of the build's ISA (GCC/Clang vector extensions). */
#ifndef CGRU_C_SIMD_H
#define CGRU_C_SIMD_H

#if defined(__GNUC__) || defined(__clang__)
#define CGRU_HAVE_VECTORS 1
/* one native vector: 64 bytes with AVX-512, 32 with AVX, else 16 */
#if defined(__AVX512F__)
#define CGRU_VB 64
#elif defined(__AVX__)
#define CGRU_VB 32
#else
#define CGRU_VB 16
#endif
typedef float cgru_vf __attribute__((vector_size(CGRU_VB), aligned(4)));
typedef double cgru_vd __attribute__((vector_size(CGRU_VB), aligned(8)));
#define CGRU_NV (64 / CGRU_VB) /* vectors per 64-byte row panel */
#else
#define CGRU_HAVE_VECTORS 0
#endif

#endif /* CGRU_C_SIMD_H */
