/* lowp_avx2.c - AVX2 + FMA + F16C panel kernels (x86-64, GCC/Clang), with
 * AVX-VNNI (vpdpbusd on 256 bits) for int8 where the CPU has it.  Each
 * function is compiled for its own instructions (target attributes) and only
 * installed when the CPU has them.  Contracts: lowp_impl.h.
 * 16 ymm registers: the tile runs its 4 panels one after the other (4 rows x
 * one panel = 8 accumulators); the row kernel keeps all 4 panels (8).
 *   float16   vcvtph2ps + FMA
 *   bfloat16  bf16 -> float32 by a 16-bit shift, + FMA (the same sums as
 *             vdpbf16ps: odd k first; every product is exact in float32)
 *   int8      vpdpbusd (AVX-VNNI); without it the portable kernel */
#include "lowp_impl.h"

#if CGRU_LOWP_X86
#include <immintrin.h>
#include <string.h>

#define T_2 "avx2,fma,f16c"
#define T_VNNI T_2 ",avxvnni"
#define ATTR(t) __attribute__((target(t)))

/* The loops every format shares (the format gives BCAST(row, k): a k group of an
   operand row, and DP(acc, x, v): its dot-product step on 8 outputs).
   TILE_LOOP: panel wp, rows ar[0..3], s[r][0..1] over k in [K0, K1), the panel's
   two 8-output halves v0, v1 = LOADW(wp, k, 0 / 1);
   ROW_LOOP: one row a, s[0..7] = the 4 panels' halves (LOADW(w[p / 2], k, p % 2)). */
#define TILE_LOOP(VT, XT, K0, K1, LOADW, BCAST, DP)                                  \
    for (k = (K0); k < (K1); k++) {                                                  \
        VT v0 = LOADW(wp, k, 0), v1 = LOADW(wp, k, 1);                               \
        for (r = 0; r < 4; r++) {                                                    \
            XT x = BCAST(ar[r], k);                                                  \
            s[r][0] = DP(s[r][0], x, v0);                                            \
            s[r][1] = DP(s[r][1], x, v1);                                            \
        }                                                                            \
    }
#define ROW_LOOP(WT, XT, K0, K1, LOADW, BCAST, DP)                                   \
    for (k = (K0); k < (K1); k++) {                                                  \
        XT x = BCAST(a, k);                                                          \
        for (p = 0; p < 8; p++)                                                      \
            s[p] = DP(s[p], x, LOADW((const WT*)w[p / 2], k, p % 2));                \
    }

/* panel p's 4 rows x 16 outputs of a tile to out (as lowp_impl.h lays them out) */
static inline ATTR(T_2) void store_panel(__m256 s[4][2], int p, float* out)
{
    int r;
    for (r = 0; r < 4; r++) {
        _mm256_storeu_ps(out + r * 64 + p * 16, s[r][0]);
        _mm256_storeu_ps(out + r * 64 + p * 16 + 8, s[r][1]);
    }
}

/* ------------------------------------------------- float32 and float16 */
/* The same two kernels for both: only how 8 weights are loaded differs. */

#define FMA(acc, x, v) _mm256_fmadd_ps(x, v, acc)
#define BCASTF(row, k) _mm256_broadcast_ss((row) + (k))

#define LOADF(panel, k, half) _mm256_loadu_ps((panel) + 16 * (k) + 8 * (half))
#define LOADH(panel, k, half) \
    _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)((panel) + 16 * (k) + 8 * (half))))

#define CGRU_LOWP_FMA_KERNELS(SFX, WT, LOAD)                                         \
    static ATTR(T_2) void tile_##SFX(ptrdiff_t Kp, const void* const a[4],              \
                                     const void* const w[4], const cgru_lowp_aux* aux,  \
                                     float* out)                                        \
    {                                                                                   \
        const float* ar[4] = {a[0], a[1], a[2], a[3]};                                  \
        ptrdiff_t k;                                                                    \
        int p, r;                                                                       \
        (void)aux;                                                                      \
        for (p = 0; p < 4; p++) {                                                       \
            const WT* wp = w[p];                                                        \
            __m256 s[4][2];                                                             \
            for (r = 0; r < 4; r++)                                                     \
                s[r][0] = s[r][1] = _mm256_setzero_ps();                                \
            TILE_LOOP(__m256, __m256, 0, Kp, LOAD, BCASTF, FMA)                          \
            store_panel(s, p, out);                                                     \
        }                                                                               \
    }                                                                                   \
    static ATTR(T_2) void row_##SFX(ptrdiff_t Kp, const void* a_, const void* const w[4], \
                                    const cgru_lowp_aux* aux, float* out)               \
    {                                                                                   \
        const float* a = a_;                                                            \
        __m256 s[8];                                                                    \
        ptrdiff_t k;                                                                    \
        int p;                                                                          \
        (void)aux;                                                                      \
        for (p = 0; p < 8; p++)                                                         \
            s[p] = _mm256_setzero_ps();                                                 \
        ROW_LOOP(WT, __m256, 0, Kp, LOAD, BCASTF, FMA)                                   \
        for (p = 0; p < 8; p++)                                                         \
            _mm256_storeu_ps(out + 8 * p, s[p]);                                        \
    }

CGRU_LOWP_FMA_KERNELS(f32, float, LOADF)
CGRU_LOWP_FMA_KERNELS(f16, uint16_t, LOADH)

/* --------------------------------------------------------------- bfloat16 */

/* 8 outputs x one k pair (32 bytes of a panel, or a broadcast operand pair) ->
   the even-k and odd-k float32 values */
static inline ATTR(T_2) __m256 bf_even(__m256i v) { return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)); }
static inline ATTR(T_2) __m256 bf_odd(__m256i v)
{
    return _mm256_castsi256_ps(_mm256_and_si256(v, _mm256_set1_epi32((int)0xffff0000u)));
}
static inline ATTR(T_2) __m256i bpair(const uint16_t* x, ptrdiff_t kk)
{
    int32_t v;
    memcpy(&v, x + 2 * kk, 4);
    return _mm256_set1_epi32(v);
}
#define LOADI(ptr) _mm256_loadu_si256((const __m256i*)(ptr))
#define LOADB(panel, k, half) LOADI((panel) + 32 * (k) + 16 * (half))

/* a broadcast operand pair as its even-k and odd-k float32 values */
typedef struct { __m256 e, o; } bf_x;
static inline ATTR(T_2) bf_x bcast_bf(const uint16_t* x, ptrdiff_t kk)
{
    __m256i v = bpair(x, kk);
    bf_x r = {bf_even(v), bf_odd(v)};
    return r;
}
/* as vdpbf16ps: the odd product first */
static inline ATTR(T_2) __m256 dp_bf(__m256 acc, bf_x x, __m256i v)
{
    return _mm256_fmadd_ps(x.e, bf_even(v), _mm256_fmadd_ps(x.o, bf_odd(v), acc));
}

static ATTR(T_2) void tile_bf16(ptrdiff_t Kp, const void* const a[4], const void* const w[4],
                                const cgru_lowp_aux* aux, float* out)
{
    const uint16_t* ar[4] = {a[0], a[1], a[2], a[3]};
    ptrdiff_t k;
    int p, r;
    (void)aux;
    for (p = 0; p < 4; p++) {
        const uint16_t* wp = w[p];
        __m256 s[4][2];
        for (r = 0; r < 4; r++)
            s[r][0] = s[r][1] = _mm256_setzero_ps();
        TILE_LOOP(__m256i, bf_x, 0, Kp / 2, LOADB, bcast_bf, dp_bf)
        store_panel(s, p, out);
    }
}

static ATTR(T_2) void row_bf16(ptrdiff_t Kp, const void* a_, const void* const w[4],
                               const cgru_lowp_aux* aux, float* out)
{
    const uint16_t* a = a_;
    __m256 s[8];
    ptrdiff_t k;
    int p;
    (void)aux;
    for (p = 0; p < 8; p++)
        s[p] = _mm256_setzero_ps();
    ROW_LOOP(uint16_t, bf_x, 0, Kp / 2, LOADB, bcast_bf, dp_bf)
    for (p = 0; p < 8; p++)
        _mm256_storeu_ps(out + 8 * p, s[p]);
}

/* ------------------------------------------------------------------- int8 */

static inline ATTR(T_VNNI) __m256i quad(const uint8_t* x, ptrdiff_t kq)
{
    int32_t v;
    memcpy(&v, x + 4 * kq, 4);
    return _mm256_set1_epi32(v);
}

/* acc += dot of u8 quads of x with s8 quads of w (AVX-VNNI vpdpbusd); inline asm
   for the reason given in lowp_avx512.c (GCC 12 copies the accumulator) */
#define LOADQ(panel, k, half) LOADI((panel) + 64 * (k) + 32 * (half))

static inline ATTR(T_VNNI) __m256i dpbusd(__m256i acc, __m256i x, __m256i w)
{
    __asm__("%{vex%} vpdpbusd %2, %1, %0" : "+x"(acc) : "x"(x), "xm"(w));
    return acc;
}

/* -128 * rowsum: vpdpbusd adds (qa + 128) * q, this start value removes the 128 */
static inline ATTR(T_VNNI) __m256i offset(const int32_t* rs)
{
    return _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(LOADI(rs), 7));
}

static ATTR(T_VNNI) void tile_i8(ptrdiff_t Kp, const void* const a[4], const void* const w[4],
                                 const cgru_lowp_aux* aux, float* out)
{
    const uint8_t* ar[4] = {a[0], a[1], a[2], a[3]};
    ptrdiff_t k0, k, c;
    int p, r;
    for (p = 0; p < 4; p++) {
        const int8_t* wp = w[p];
        __m256 f[4][2];
        for (r = 0; r < 4; r++)
            f[r][0] = f[r][1] = _mm256_setzero_ps();
        for (c = 0, k0 = 0; k0 < Kp; c++, k0 += CGRU_LOWP_KCHUNK) {
            ptrdiff_t k1 = Kp - k0 < CGRU_LOWP_KCHUNK ? Kp : k0 + CGRU_LOWP_KCHUNK;
            const int32_t* rs = aux->rowsum[p] + c * aux->stride;
            __m256i o0 = offset(rs), o1 = offset(rs + 8), s[4][2];
            for (r = 0; r < 4; r++) {
                s[r][0] = o0;
                s[r][1] = o1;
            }
            TILE_LOOP(__m256i, __m256i, k0 / 4, k1 / 4, LOADQ, quad, dpbusd)
            for (r = 0; r < 4; r++) {
                f[r][0] = _mm256_add_ps(f[r][0], _mm256_cvtepi32_ps(s[r][0]));
                f[r][1] = _mm256_add_ps(f[r][1], _mm256_cvtepi32_ps(s[r][1]));
            }
        }
        store_panel(f, p, out);
    }
}

static ATTR(T_VNNI) void row_i8(ptrdiff_t Kp, const void* a_, const void* const w[4],
                                const cgru_lowp_aux* aux, float* out)
{
    const uint8_t* a = a_;
    __m256 f[8];
    ptrdiff_t k0, k, c;
    int p;
    for (p = 0; p < 8; p++)
        f[p] = _mm256_setzero_ps();
    for (c = 0, k0 = 0; k0 < Kp; c++, k0 += CGRU_LOWP_KCHUNK) {
        ptrdiff_t k1 = Kp - k0 < CGRU_LOWP_KCHUNK ? Kp : k0 + CGRU_LOWP_KCHUNK;
        __m256i s[8];
        for (p = 0; p < 8; p++)
            s[p] = offset(aux->rowsum[p / 2] + c * aux->stride + 8 * (p % 2));
        ROW_LOOP(int8_t, __m256i, k0 / 4, k1 / 4, LOADQ, quad, dpbusd)
        for (p = 0; p < 8; p++)
            f[p] = _mm256_add_ps(f[p], _mm256_cvtepi32_ps(s[p]));
    }
    for (p = 0; p < 8; p++)
        _mm256_storeu_ps(out + 8 * p, f[p]);
}

void cgru_lowp_kernels_avx2(cgru_lowp_kernel t[CGRU_LOWP_NUM_FORMATS])
{
    memset(t, 0, CGRU_LOWP_NUM_FORMATS * sizeof *t);
    __builtin_cpu_init();
    if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
          __builtin_cpu_supports("f16c")))
        return;
    t[CGRU_WEIGHTS_FLOAT32] = (cgru_lowp_kernel){tile_f32, row_f32, NULL, "avx2"};
    t[CGRU_WEIGHTS_FLOAT16] = (cgru_lowp_kernel){tile_f16, row_f16, NULL, "avx2-f16c"};
    t[CGRU_WEIGHTS_BFLOAT16] = (cgru_lowp_kernel){tile_bf16, row_bf16, NULL, "avx2-fma"};
    if (__builtin_cpu_supports("avxvnni"))
        t[CGRU_WEIGHTS_INT8] = (cgru_lowp_kernel){tile_i8, row_i8, NULL, "avx2-vnni"};
}
#endif
