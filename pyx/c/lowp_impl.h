/* lowp_impl.h - what lowp.c and the per-ISA files lowp_<isa>.c share (private). */
#ifndef CGRU_C_LOWP_IMPL_H
#define CGRU_C_LOWP_IMPL_H

#include "lowp.h"

/* int8: where a tile's panels find their row sums (chunk c of panel p at
   rowsum[p] + c * stride) */
typedef struct {
    const int32_t* rowsum[4];
    ptrdiff_t stride;
} cgru_lowp_aux;

/* A tile: 4 operand rows x 4 panels (row and panel pointers may repeat; the
   driver stores what is real).  out[r * 64 + p * 16 + i] = sum over Kp of
   row r times output i of panel p (int8: the integer sum sum qa*q as float).
   The row kernel is the same for one row, out[p * 16 + i]. */
typedef void (*cgru_lowp_tile_fn)(ptrdiff_t Kp, const void* const a[4],
                                  const void* const w[4], const cgru_lowp_aux* aux,
                                  float* out);
typedef void (*cgru_lowp_row_fn)(ptrdiff_t Kp, const void* a, const void* const w[4],
                                 const cgru_lowp_aux* aux, float* out);

/* rows of a into the operand form, as cgru_lowp_act (the same values on
   every path); NULL: the portable conversion */
typedef void (*cgru_lowp_act_fn)(ptrdiff_t N, ptrdiff_t K, const float* a, ptrdiff_t lda,
                                 void* act);

typedef struct {
    cgru_lowp_tile_fn tile;
    cgru_lowp_row_fn row;
    cgru_lowp_act_fn act;
    const char* name;
} cgru_lowp_kernel;

/* int8 operand form: the scales' block before the rows */
static inline size_t cgru_lowp_i8_head(ptrdiff_t N) { return ((size_t)N * 4 + 63) / 64 * 64; }

/* per level (0 portable, 1 avx2, 2 avx512): the kernel of each format, or a
   NULL tile where that level has none for this CPU (the level below is used) */
void cgru_lowp_kernels_portable(cgru_lowp_kernel table[CGRU_LOWP_NUM_FORMATS]);
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define CGRU_LOWP_X86 1
void cgru_lowp_kernels_avx2(cgru_lowp_kernel table[CGRU_LOWP_NUM_FORMATS]);
void cgru_lowp_kernels_avx512(cgru_lowp_kernel table[CGRU_LOWP_NUM_FORMATS]);
#else
#define CGRU_LOWP_X86 0
#endif

#endif /* CGRU_C_LOWP_IMPL_H */
