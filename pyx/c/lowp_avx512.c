/* lowp_avx512.c - AVX-512 panel kernels (x86-64, GCC/Clang): each function is
 * compiled for its own instructions (target attributes) and only installed
 * when the CPU has them (cgru_lowp_kernels_avx512).  Contracts: lowp_impl.h.
 *   float32   vfmadd231ps, 4 rows x 4 panels (16 accumulators)
 *   float16   vcvtph2ps + vfmadd231ps
 *   bfloat16  vdpbf16ps (AVX512-BF16): 32 multiply-adds per 64-byte load
 *   int8      vpdpbusd (AVX512-VNNI): 64 multiply-adds per 64-byte load
 * The row kernels (one operand row) compute exactly the tile's sums for that
 * row, in the same order, so a row's result does not depend on how many rows
 * a call has (threads may split a product by rows: the same bits); int8's
 * integer sums are exact in any order and keep 8 interleaved chains. */
#include "lowp_impl.h"

#if CGRU_LOWP_X86
#include <immintrin.h>
#include <math.h>
#include <string.h>

#define T_F "avx512f,avx512bw,avx512vl,avx512dq,fma"
#define T_BF T_F ",avx512bf16"
#define T_VNNI T_F ",avx512vnni"

#define ATTR(t) __attribute__((target(t)))

static inline ATTR(T_F) void store_tile(__m512 s[4][4], float* out)
{
    int r, p;
    for (r = 0; r < 4; r++)
        for (p = 0; p < 4; p++)
            _mm512_storeu_ps(out + r * 64 + p * 16, s[r][p]);
}

/* The loops every format shares; each format gives its vector types, how a
   k group of a panel is loaded (LOADW(panel, k)), how a k group of an operand
   row is broadcast (BCAST(row, k)) and its dot-product step DP(acc, x, v).
   TILE_LOOP: 4 rows (a0..a3) x 4 panels (w0..w3), s[r][p] over k in [K0, K1);
   ROW_LOOP: one row a, s0..s3, in the tile's order (the same sums, bit-identical). */
#define TILE_LOOP(VT, XT, K0, K1, LOADW, BCAST, DP)                                  \
    for (k = (K0); k < (K1); k++) {                                                  \
        VT v[4];                                                                     \
        XT x[4];                                                                     \
        v[0] = LOADW(w0, k); v[1] = LOADW(w1, k); v[2] = LOADW(w2, k); v[3] = LOADW(w3, k); \
        x[0] = BCAST(a0, k); x[1] = BCAST(a1, k); x[2] = BCAST(a2, k); x[3] = BCAST(a3, k); \
        for (r = 0; r < 4; r++)                                                      \
            for (p = 0; p < 4; p++)                                                  \
                s[r][p] = DP(s[r][p], x[r], v[p]);                                   \
    }
#define ROW_LOOP(XT, K0, K1, LOADW, BCAST, DP)                                       \
    for (k = (K0); k < (K1); k++) {                                                  \
        XT x = BCAST(a, k);                                                          \
        s0 = DP(s0, x, LOADW(w0, k));                                                \
        s1 = DP(s1, x, LOADW(w1, k));                                                \
        s2 = DP(s2, x, LOADW(w2, k));                                                \
        s3 = DP(s3, x, LOADW(w3, k));                                                \
    }

static inline ATTR(T_F) void store_row(__m512 s0, __m512 s1, __m512 s2, __m512 s3, float* out)
{
    _mm512_storeu_ps(out, s0);
    _mm512_storeu_ps(out + 16, s1);
    _mm512_storeu_ps(out + 32, s2);
    _mm512_storeu_ps(out + 48, s3);
}

/* ------------------------------------------------- float32 and float16 */
/* The same two kernels for both: only how 16 weights are loaded differs
   (LOAD(p): 16 float32 values from 16 stored weights at p). */

#define FMA(acc, x, v) _mm512_fmadd_ps(x, v, acc)
#define BCASTF(row, k) _mm512_set1_ps((row)[k])

#define LOADF(panel, k) _mm512_loadu_ps((panel) + 16 * (k))
#define LOADH(panel, k) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)((panel) + 16 * (k))))

#define CGRU_LOWP_FMA_KERNELS(SFX, WT, LOAD)                                         \
    static ATTR(T_F) void tile_##SFX(ptrdiff_t Kp, const void* const a[4],              \
                                     const void* const w[4], const cgru_lowp_aux* aux,  \
                                     float* out)                                        \
    {                                                                                   \
        const float *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3];                     \
        const WT *w0 = w[0], *w1 = w[1], *w2 = w[2], *w3 = w[3];                        \
        __m512 s[4][4];                                                                 \
        ptrdiff_t k;                                                                    \
        int r, p;                                                                       \
        (void)aux;                                                                      \
        for (r = 0; r < 4; r++)                                                         \
            for (p = 0; p < 4; p++)                                                     \
                s[r][p] = _mm512_setzero_ps();                                          \
        TILE_LOOP(__m512, __m512, 0, Kp, LOAD, BCASTF, FMA)                              \
        store_tile(s, out);                                                             \
    }                                                                                   \
    static ATTR(T_F) void row_##SFX(ptrdiff_t Kp, const void* a_, const void* const w[4], \
                                    const cgru_lowp_aux* aux, float* out)               \
    {                                                                                   \
        const float* a = a_;                                                            \
        const WT *w0 = w[0], *w1 = w[1], *w2 = w[2], *w3 = w[3];                        \
        __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;                     \
        ptrdiff_t k;                                                                    \
        (void)aux;                                                                      \
        ROW_LOOP(__m512, 0, Kp, LOAD, BCASTF, FMA)                                       \
        store_row(s0, s1, s2, s3, out);                                                 \
    }

CGRU_LOWP_FMA_KERNELS(f32, float, LOADF)
CGRU_LOWP_FMA_KERNELS(f16, uint16_t, LOADH)

/* --------------------------------------------------------------- bfloat16 */

/* one k pair of operand row x as 16 copies of its 32 bits */
static inline ATTR(T_BF) __m512bh pair(const uint16_t* x, ptrdiff_t kk)
{
    int32_t v;
    memcpy(&v, x + 2 * kk, 4);
    return (__m512bh)_mm512_set1_epi32(v);
}

#define LOADB(panel, k) ((__m512bh)_mm512_loadu_si512((const void*)((panel) + 32 * (k))))
#define DPBF(acc, x, v) _mm512_dpbf16_ps(acc, x, v)

static ATTR(T_BF) void tile_bf16(ptrdiff_t Kp, const void* const a[4], const void* const w[4],
                                  const cgru_lowp_aux* aux, float* out)
{
    const uint16_t *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3];
    const uint16_t *w0 = w[0], *w1 = w[1], *w2 = w[2], *w3 = w[3];
    __m512 s[4][4];
    ptrdiff_t k;
    int r, p;
    (void)aux;
    for (r = 0; r < 4; r++)
        for (p = 0; p < 4; p++)
            s[r][p] = _mm512_setzero_ps();
    TILE_LOOP(__m512bh, __m512bh, 0, Kp / 2, LOADB, pair, DPBF)
    store_tile(s, out);
}

static ATTR(T_BF) void row_bf16(ptrdiff_t Kp, const void* a_, const void* const w[4],
                                 const cgru_lowp_aux* aux, float* out)
{
    const uint16_t* a = a_;
    const uint16_t *w0 = w[0], *w1 = w[1], *w2 = w[2], *w3 = w[3];
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    ptrdiff_t k;
    (void)aux;
    ROW_LOOP(__m512bh, 0, Kp / 2, LOADB, pair, DPBF)
    store_row(s0, s1, s2, s3, out);
}

/* ------------------------------------------------------------------- int8 */

static inline ATTR(T_VNNI) __m512i quad(const uint8_t* x, ptrdiff_t kq)
{
    int32_t v;
    memcpy(&v, x + 4 * kq, 4);
    return _mm512_set1_epi32(v);
}

#define LOADQ(ptr) _mm512_loadu_si512((const void*)(ptr))
#define LOADQK(panel, k) LOADQ((panel) + 64 * (k))

/* acc += dot of u8 quads of x with s8 quads of w (vpdpbusd).  Inline asm, not
   _mm512_dpbusd_epi32: GCC 12 copies the accumulator to a new register at every
   intrinsic (32 extra moves and a spill per k quad in the 4x4 tile, 1.4x slower;
   seen in objdump); the tied "+v" operand keeps each accumulator in place. */
static inline ATTR(T_VNNI) __m512i dpbusd(__m512i acc, __m512i x, __m512i w)
{
    __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(x), "vm"(w));
    return acc;
}

/* -128 * rowsum: vpdpbusd adds (qa + 128) * q, this start value removes the 128 */
static inline ATTR(T_VNNI) __m512i offset(const int32_t* rs)
{
    return _mm512_sub_epi32(_mm512_setzero_si512(),
                            _mm512_slli_epi32(_mm512_loadu_si512((const void*)rs), 7));
}

static ATTR(T_VNNI) void tile_i8(ptrdiff_t Kp, const void* const a[4], const void* const w[4],
                                  const cgru_lowp_aux* aux, float* out)
{
    const uint8_t *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3];
    const int8_t *w0 = w[0], *w1 = w[1], *w2 = w[2], *w3 = w[3];
    __m512 f[4][4];
    ptrdiff_t k0, k, c;
    int r, p;
    for (r = 0; r < 4; r++)
        for (p = 0; p < 4; p++)
            f[r][p] = _mm512_setzero_ps();
    for (c = 0, k0 = 0; k0 < Kp; c++, k0 += CGRU_LOWP_KCHUNK) {
        ptrdiff_t k1 = Kp - k0 < CGRU_LOWP_KCHUNK ? Kp : k0 + CGRU_LOWP_KCHUNK;
        __m512i s[4][4], o[4];
        for (p = 0; p < 4; p++)
            o[p] = offset(aux->rowsum[p] + c * aux->stride);
        for (r = 0; r < 4; r++)
            for (p = 0; p < 4; p++)
                s[r][p] = o[p];
        TILE_LOOP(__m512i, __m512i, k0 / 4, k1 / 4, LOADQK, quad, dpbusd)
        for (r = 0; r < 4; r++)
            for (p = 0; p < 4; p++)
                f[r][p] = _mm512_add_ps(f[r][p], _mm512_cvtepi32_ps(s[r][p]));
    }
    store_tile(f, out);
}

static ATTR(T_VNNI) void row_i8(ptrdiff_t Kp, const void* a_, const void* const w[4],
                                 const cgru_lowp_aux* aux, float* out)
{
    const uint8_t* a = a_;
    const int8_t *w0 = w[0], *w1 = w[1], *w2 = w[2], *w3 = w[3];
    __m512 f[4];
    ptrdiff_t k0, kq, c;
    int p;
    for (p = 0; p < 4; p++)
        f[p] = _mm512_setzero_ps();
    for (c = 0, k0 = 0; k0 < Kp; c++, k0 += CGRU_LOWP_KCHUNK) {
        ptrdiff_t k1 = Kp - k0 < CGRU_LOWP_KCHUNK ? Kp : k0 + CGRU_LOWP_KCHUNK;
        ptrdiff_t q1 = k1 / 4;
        __m512i s[2][4];
        for (p = 0; p < 4; p++) {
            s[0][p] = offset(aux->rowsum[p] + c * aux->stride);
            s[1][p] = _mm512_setzero_si512();
        }
        for (kq = k0 / 4; kq + 1 < q1; kq += 2) {
            __m512i x = quad(a, kq), y = quad(a, kq + 1);
            s[0][0] = dpbusd(s[0][0], x, LOADQ(w0 + 64 * kq));
            s[0][1] = dpbusd(s[0][1], x, LOADQ(w1 + 64 * kq));
            s[0][2] = dpbusd(s[0][2], x, LOADQ(w2 + 64 * kq));
            s[0][3] = dpbusd(s[0][3], x, LOADQ(w3 + 64 * kq));
            s[1][0] = dpbusd(s[1][0], y, LOADQ(w0 + 64 * kq + 64));
            s[1][1] = dpbusd(s[1][1], y, LOADQ(w1 + 64 * kq + 64));
            s[1][2] = dpbusd(s[1][2], y, LOADQ(w2 + 64 * kq + 64));
            s[1][3] = dpbusd(s[1][3], y, LOADQ(w3 + 64 * kq + 64));
        }
        if (kq < q1) {
            __m512i x = quad(a, kq);
            s[0][0] = dpbusd(s[0][0], x, LOADQ(w0 + 64 * kq));
            s[0][1] = dpbusd(s[0][1], x, LOADQ(w1 + 64 * kq));
            s[0][2] = dpbusd(s[0][2], x, LOADQ(w2 + 64 * kq));
            s[0][3] = dpbusd(s[0][3], x, LOADQ(w3 + 64 * kq));
        }
        /* exact: both halves and their sum are the chunk's int32 sums */
        for (p = 0; p < 4; p++)
            f[p] = _mm512_add_ps(f[p], _mm512_cvtepi32_ps(_mm512_add_epi32(s[0][p], s[1][p])));
    }
    for (p = 0; p < 4; p++)
        _mm512_storeu_ps(out + 16 * p, f[p]);
}

/* ------------------------------------------------------------- operands */

/* bf16(a) rows of Kp: vcvtneps2bf16 rounds to nearest even like the portable code */
static ATTR(T_BF) void act_bf16(ptrdiff_t N, ptrdiff_t K, const float* a, ptrdiff_t lda,
                                void* act)
{
    ptrdiff_t Kp = (K + 1) / 2 * 2, n, k;
    for (n = 0; n < N; n++) {
        const float* x = a + n * lda;
        uint16_t* o = (uint16_t*)act + n * Kp;
        for (k = 0; k + 16 <= K; k += 16)
            _mm256_storeu_si256((__m256i*)(o + k),
                                (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(x + k)));
        if (k < K) {
            __mmask16 m = (__mmask16)((1u << (K - k)) - 1u);
            __m256i v = (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, x + k));
            _mm256_mask_storeu_epi16(o + k, m, v);
        }
        if (K < Kp)
            o[K] = 0;
    }
}

/* u = round(a * 127 / max|a|) + 128 per row, as the portable code (same float
   operations, round to nearest even) */
static ATTR(T_F) void act_i8(ptrdiff_t N, ptrdiff_t K, const float* a, ptrdiff_t lda,
                             void* act)
{
    ptrdiff_t Kp = (K + 3) / 4 * 4, n, k;
    float* scale = act;
    uint8_t* rows = (uint8_t*)act + cgru_lowp_i8_head(N);
    const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    for (n = 0; n < N; n++) {
        const float* x = a + n * lda;
        uint8_t* o = rows + n * Kp;
        __m512 m = _mm512_setzero_ps(), v, inv;
        __mmask16 nan = 0, tail = (__mmask16)((1u << (K % 16)) - 1u);
        float mx, s, iv;
        for (k = 0; k + 16 <= K; k += 16) {
            v = _mm512_loadu_ps(x + k);
            nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
            m = _mm512_max_ps(m, _mm512_and_ps(v, absmask));
        }
        if (k < K) {
            v = _mm512_maskz_loadu_ps(tail, x + k);
            nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
            m = _mm512_max_ps(m, _mm512_and_ps(v, absmask));
        }
        mx = _mm512_reduce_max_ps(m);
        s = nan ? NAN : mx / 127.0f;
        if (!(s <= 3.402823466e38f))
            s = NAN;
        scale[n] = s;
        iv = s > 0.0f ? 127.0f / mx : 0.0f;
        inv = _mm512_set1_ps(iv);
        for (k = 0; k < Kp; k += 16) {
            __mmask16 in = K - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (K - k)) - 1u);
            __mmask16 out = Kp - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (Kp - k)) - 1u);
            __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(in, x + k), inv));
            q = _mm512_min_epi32(_mm512_max_epi32(q, _mm512_set1_epi32(-127)),
                                 _mm512_set1_epi32(127));
            q = _mm512_add_epi32(q, _mm512_set1_epi32(128));
            _mm_mask_storeu_epi8(o + k, out, _mm512_cvtepi32_epi8(q));
        }
    }
}

void cgru_lowp_kernels_avx512(cgru_lowp_kernel t[CGRU_LOWP_NUM_FORMATS])
{
    memset(t, 0, CGRU_LOWP_NUM_FORMATS * sizeof *t);
    __builtin_cpu_init();
    if (!(__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
          __builtin_cpu_supports("fma")))
        return;
    t[CGRU_WEIGHTS_FLOAT32] = (cgru_lowp_kernel){tile_f32, row_f32, NULL, "avx512"};
    t[CGRU_WEIGHTS_FLOAT16] = (cgru_lowp_kernel){tile_f16, row_f16, NULL, "avx512-vcvtph2ps"};
    if (__builtin_cpu_supports("avx512bf16"))
        t[CGRU_WEIGHTS_BFLOAT16] = (cgru_lowp_kernel){tile_bf16, row_bf16, act_bf16, "avx512-bf16"};
    if (__builtin_cpu_supports("avx512vnni"))
        t[CGRU_WEIGHTS_INT8] = (cgru_lowp_kernel){tile_i8, row_i8, act_i8, "avx512-vnni"};
}
#endif
