/* packed.h - the micro-kernels of cgru's packed product (pyx/core.pxi: _gemm_packed).
 *
 * W (3H, K) is packed per gate in panels of P = 64 / sizeof(T) outputs (16 floats,
 * 8 doubles), each panel (K, P) contiguous (layout: src/cgru/include/cgru.h).  A block
 * of 4 samples x P outputs is accumulated over k in registers; GCC/Clang vector
 * extensions keep the accumulators in registers for the build's ISA, other
 * compilers get the same loops in plain C.
 *
 *   cgru_wt_block_T (K, a0..a3, w, ldw, c, ldc, rows, cols):
 *       c[i, 0:cols] = sum_k a_i[k] * w[k, 0:cols]        i < rows <= 4
 *   cgru_wt_block2_T(K, a0..a3, w0, w1, ldw, c, ldc, rows, cols1):
 *       two adjacent panels: c[i, 0:P] from w0, c[i, P:P+cols1] from w1
 *   cgru_wt_row_T   (K, a, w, c, cols):
 *       one sample: c[0:cols] = sum_k a[k] * w[k, 0:cols] over one (K, P) panel
 */
#ifndef CGRU_C_PACKED_H
#define CGRU_C_PACKED_H

#include <stddef.h>
#include <string.h>

#include "simd.h"

#if CGRU_HAVE_VECTORS
#if CGRU_NV == 1
/* one vector per row: two accumulator sets over even / odd k, so that
   8 independent FMA chains hide the FMA latency */
#define CGRU__KLOOP(T, V)                                                           \
    {                                                                               \
        V u0 = {0}, u1 = {0}, u2 = {0}, u3 = {0};                                   \
        for (k = 0; k + 1 < K; k += 2) {                                            \
            V wk = *(const V *)(w + k * ldw), wl = *(const V *)(w + (k + 1) * ldw); \
            s0[0] += a0[k] * wk; s1[0] += a1[k] * wk;                               \
            s2[0] += a2[k] * wk; s3[0] += a3[k] * wk;                               \
            u0 += a0[k + 1] * wl; u1 += a1[k + 1] * wl;                             \
            u2 += a2[k + 1] * wl; u3 += a3[k + 1] * wl;                             \
        }                                                                           \
        if (k < K) {                                                                \
            V wk = *(const V *)(w + k * ldw);                                       \
            s0[0] += a0[k] * wk; s1[0] += a1[k] * wk;                               \
            s2[0] += a2[k] * wk; s3[0] += a3[k] * wk;                               \
        }                                                                           \
        s0[0] += u0; s1[0] += u1; s2[0] += u2; s3[0] += u3;                         \
    }
#else
#define CGRU__KLOOP(T, V)                                                           \
    for (k = 0; k < K; k++) {                                                       \
        const T *wr = w + k * ldw;                                                  \
        T x0 = a0[k], x1 = a1[k], x2 = a2[k], x3 = a3[k];                           \
        _Pragma("GCC unroll 4")                                                     \
        for (v = 0; v < CGRU_NV; v++) {                                             \
            V wk = *(const V *)(wr + v * (CGRU_VB / sizeof(T)));                    \
            s0[v] += x0 * wk; s1[v] += x1 * wk;                                     \
            s2[v] += x2 * wk; s3[v] += x3 * wk;                                     \
        }                                                                           \
    }
#endif
#define CGRU__WT_BLOCK(NAME, T, V, JB)                                              \
static inline void NAME(ptrdiff_t K, const T *a0, const T *a1, const T *a2,         \
        const T *a3, const T *w, ptrdiff_t ldw, T *c, ptrdiff_t ldc,                \
        ptrdiff_t rows, ptrdiff_t cols) {                                           \
    V s0[CGRU_NV], s1[CGRU_NV], s2[CGRU_NV], s3[CGRU_NV];                           \
    T t[4][JB];                                                                     \
    ptrdiff_t k, j, r;                                                              \
    int v;                                                                          \
    _Pragma("GCC unroll 4")                                                         \
    for (v = 0; v < CGRU_NV; v++) s0[v] = s1[v] = s2[v] = s3[v] = (V){0};           \
    CGRU__KLOOP(T, V)                                                               \
    if (cols == JB && rows == 4) {   /* a full block: vector stores */             \
        memcpy(c, s0, 64); memcpy(c + ldc, s1, 64);                                 \
        memcpy(c + 2 * ldc, s2, 64); memcpy(c + 3 * ldc, s3, 64);                   \
        return;                                                                     \
    }                                                                               \
    memcpy(t[0], s0, 64); memcpy(t[1], s1, 64);                                     \
    memcpy(t[2], s2, 64); memcpy(t[3], s3, 64);                                     \
    for (r = 0; r < rows; r++)                                                      \
        for (j = 0; j < cols; j++) c[r * ldc + j] = t[r][j];                        \
}
#else
#define CGRU__WT_BLOCK(NAME, T, V, JB)                                              \
static void NAME(ptrdiff_t K, const T *a0, const T *a1, const T *a2,                \
        const T *a3, const T *w, ptrdiff_t ldw, T *c, ptrdiff_t ldc,                \
        ptrdiff_t rows, ptrdiff_t cols) {                                           \
    T s[4][JB] = {{0}};                                                             \
    const T *a[4] = {a0, a1, a2, a3};                                               \
    ptrdiff_t k, j, r;                                                              \
    for (k = 0; k < K; k++)                                                         \
        for (r = 0; r < 4; r++)                                                     \
            for (j = 0; j < JB; j++) s[r][j] += a[r][k] * w[k * ldw + j];           \
    for (r = 0; r < rows; r++)                                                      \
        for (j = 0; j < cols; j++) c[r * ldc + j] = s[r][j];                        \
}
#endif
CGRU__WT_BLOCK(cgru_wt_block_f32, float, cgru_vf, 16)
CGRU__WT_BLOCK(cgru_wt_block_f64, double, cgru_vd, 8)

/* two panels at once (4 samples x 2P outputs): with one vector per panel
   row (AVX-512) that is 8 accumulators and 6 loads per 8 FMAs; otherwise
   two single-panel blocks */
#if CGRU_HAVE_VECTORS && CGRU_NV == 1
#define CGRU__WT_BLOCK2(NAME, ONE, T, V, JB)                                        \
static inline void NAME(ptrdiff_t K, const T *a0, const T *a1, const T *a2,         \
        const T *a3, const T *w0, const T *w1, ptrdiff_t ldw, T *c,                 \
        ptrdiff_t ldc, ptrdiff_t rows, ptrdiff_t cols1) {                           \
    V s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0}, u0 = {0}, u1 = {0}, u2 = {0}, u3 = {0}; \
    T t[8][JB];                                                                     \
    ptrdiff_t k, j, r;                                                              \
    for (k = 0; k < K; k++) {                                                       \
        V wa = *(const V *)(w0 + k * ldw), wb = *(const V *)(w1 + k * ldw);         \
        T x0 = a0[k], x1 = a1[k], x2 = a2[k], x3 = a3[k];                           \
        s0 += x0 * wa; s1 += x1 * wa; s2 += x2 * wa; s3 += x3 * wa;                 \
        u0 += x0 * wb; u1 += x1 * wb; u2 += x2 * wb; u3 += x3 * wb;                 \
    }                                                                               \
    if (cols1 == JB && rows == 4) {   /* a full block: vector stores */            \
        memcpy(c, &s0, 64); memcpy(c + JB, &u0, 64);                                \
        memcpy(c + ldc, &s1, 64); memcpy(c + ldc + JB, &u1, 64);                    \
        memcpy(c + 2 * ldc, &s2, 64); memcpy(c + 2 * ldc + JB, &u2, 64);            \
        memcpy(c + 3 * ldc, &s3, 64); memcpy(c + 3 * ldc + JB, &u3, 64);            \
        return;                                                                     \
    }                                                                               \
    memcpy(t[0], &s0, 64); memcpy(t[1], &s1, 64);                                   \
    memcpy(t[2], &s2, 64); memcpy(t[3], &s3, 64);                                   \
    memcpy(t[4], &u0, 64); memcpy(t[5], &u1, 64);                                   \
    memcpy(t[6], &u2, 64); memcpy(t[7], &u3, 64);                                   \
    for (r = 0; r < rows; r++) {                                                    \
        for (j = 0; j < JB; j++) c[r * ldc + j] = t[r][j];                          \
        for (j = 0; j < cols1; j++) c[r * ldc + JB + j] = t[4 + r][j];              \
    }                                                                               \
}
#else
#define CGRU__WT_BLOCK2(NAME, ONE, T, V, JB)                                        \
static inline void NAME(ptrdiff_t K, const T *a0, const T *a1, const T *a2,         \
        const T *a3, const T *w0, const T *w1, ptrdiff_t ldw, T *c,                 \
        ptrdiff_t ldc, ptrdiff_t rows, ptrdiff_t cols1) {                           \
    ONE(K, a0, a1, a2, a3, w0, ldw, c, ldc, rows, JB);                              \
    ONE(K, a0, a1, a2, a3, w1, ldw, c + JB, ldc, rows, cols1);                      \
}
#endif
CGRU__WT_BLOCK2(cgru_wt_block2_f32, cgru_wt_block_f32, float, cgru_vf, 16)
CGRU__WT_BLOCK2(cgru_wt_block2_f64, cgru_wt_block_f64, double, cgru_vd, 8)

/* one sample (N = 1): c[0:cols] = sum_k a[k] * w[k, 0:P] over a contiguous
   (K, P) panel; four k-interleaved accumulator sets, streamed once */
#if CGRU_HAVE_VECTORS
#define CGRU__WT_ROW(NAME, T, V, JB)                                                \
static inline void NAME(ptrdiff_t K, const T *a, const T *w, T *c, ptrdiff_t cols) { \
    V s0[CGRU_NV], s1[CGRU_NV], s2[CGRU_NV], s3[CGRU_NV];                           \
    T t[JB];                                                                        \
    ptrdiff_t k, j;                                                                 \
    int v;                                                                          \
    const ptrdiff_t L = CGRU_VB / sizeof(T);                                        \
    _Pragma("GCC unroll 4")                                                         \
    for (v = 0; v < CGRU_NV; v++) s0[v] = s1[v] = s2[v] = s3[v] = (V){0};           \
    for (k = 0; k + 3 < K; k += 4) {                                                \
        const T *wr = w + k * JB;                                                   \
        /* streamed once per step, often from L3: fetch 2 KiB ahead */              \
        __builtin_prefetch(wr + 32 * JB); __builtin_prefetch(wr + 33 * JB);         \
        __builtin_prefetch(wr + 34 * JB); __builtin_prefetch(wr + 35 * JB);         \
        _Pragma("GCC unroll 4")                                                     \
        for (v = 0; v < CGRU_NV; v++) {                                             \
            s0[v] += a[k] * *(const V *)(wr + v * L);                               \
            s1[v] += a[k + 1] * *(const V *)(wr + JB + v * L);                      \
            s2[v] += a[k + 2] * *(const V *)(wr + 2 * JB + v * L);                  \
            s3[v] += a[k + 3] * *(const V *)(wr + 3 * JB + v * L);                  \
        }                                                                           \
    }                                                                               \
    for (; k < K; k++) {                                                            \
        _Pragma("GCC unroll 4")                                                     \
        for (v = 0; v < CGRU_NV; v++)                                               \
            s0[v] += a[k] * *(const V *)(w + k * JB + v * L);                       \
    }                                                                               \
    _Pragma("GCC unroll 4")                                                         \
    for (v = 0; v < CGRU_NV; v++) s0[v] += (s1[v] + s2[v]) + s3[v];                 \
    if (cols == JB) { memcpy(c, s0, 64); return; }   /* a full panel */            \
    memcpy(t, s0, 64);                                                              \
    for (j = 0; j < cols; j++) c[j] = t[j];                                         \
}
#else
#define CGRU__WT_ROW(NAME, T, V, JB)                                                \
static void NAME(ptrdiff_t K, const T *a, const T *w, T *c, ptrdiff_t cols) {       \
    T s[JB] = {0};                                                                  \
    ptrdiff_t k, j;                                                                 \
    for (k = 0; k < K; k++)                                                         \
        for (j = 0; j < JB; j++) s[j] += a[k] * w[k * JB + j];                      \
    for (j = 0; j < cols; j++) c[j] = s[j];                                         \
}
#endif
CGRU__WT_ROW(cgru_wt_row_f32, float, cgru_vf, 16)
CGRU__WT_ROW(cgru_wt_row_f64, double, cgru_vd, 8)

#endif /* CGRU_C_PACKED_H */
