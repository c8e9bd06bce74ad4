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

/* ------------------------------------------------- float32 and float16 */
/* The same two kernels for both: only how 8 weights are loaded differs. */

#define LOADF(ptr) _mm256_loadu_ps(ptr)
#define LOADH(ptr) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(ptr)))

#define CGRU_LOWP_FMA_KERNELS(SFX, WT, LOAD)                                         \
    static ATTR(T_2) void tile_##SFX(ptrdiff_t Kp, const void* const a[4],              \
                                     const void* const w[4], const cgru_lowp_aux* aux,  \
                                     float* out)                                        \
    {                                                                                   \
        const float *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3];                     \
        ptrdiff_t k;                                                                    \
        int p, r;                                                                       \
        (void)aux;                                                                      \
        for (p = 0; p < 4; p++) {                                                       \
            const WT* wp = w[p];                                                        \
            __m256 s[4][2];                                                             \
            for (r = 0; r < 4; r++)                                                     \
                s[r][0] = s[r][1] = _mm256_setzero_ps();                                \
            for (k = 0; k < Kp; k++) {                                                  \
                __m256 v0 = LOAD(wp + 16 * k), v1 = LOAD(wp + 16 * k + 8);              \
                __m256 x0 = _mm256_broadcast_ss(a0 + k), x1 = _mm256_broadcast_ss(a1 + k); \
                __m256 x2 = _mm256_broadcast_ss(a2 + k), x3 = _mm256_broadcast_ss(a3 + k); \
                s[0][0] = _mm256_fmadd_ps(x0, v0, s[0][0]);                             \
                s[0][1] = _mm256_fmadd_ps(x0, v1, s[0][1]);                             \
                s[1][0] = _mm256_fmadd_ps(x1, v0, s[1][0]);                             \
                s[1][1] = _mm256_fmadd_ps(x1, v1, s[1][1]);                             \
                s[2][0] = _mm256_fmadd_ps(x2, v0, s[2][0]);                             \
                s[2][1] = _mm256_fmadd_ps(x2, v1, s[2][1]);                             \
                s[3][0] = _mm256_fmadd_ps(x3, v0, s[3][0]);                             \
                s[3][1] = _mm256_fmadd_ps(x3, v1, s[3][1]);                             \
            }                                                                           \
            for (r = 0; r < 4; r++) {                                                   \
                _mm256_storeu_ps(out + r * 64 + p * 16, s[r][0]);                       \
                _mm256_storeu_ps(out + r * 64 + p * 16 + 8, s[r][1]);                   \
            }                                                                           \
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
        for (k = 0; k < Kp; k++) {                                                      \
            __m256 x = _mm256_broadcast_ss(a + k);                                      \
            for (p = 0; p < 8; p++)                                                     \
                s[p] = _mm256_fmadd_ps(                                                 \
                    x, LOAD((const WT*)w[p / 2] + 16 * k + 8 * (p % 2)), s[p]);         \
        }                                                                               \
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

static ATTR(T_2) void tile_bf16(ptrdiff_t Kp, const void* const a[4], const void* const w[4],
                                const cgru_lowp_aux* aux, float* out)
{
    const uint16_t* ar[4] = {a[0], a[1], a[2], a[3]};
    ptrdiff_t kk;
    int p, r;
    (void)aux;
    for (p = 0; p < 4; p++) {
        const uint16_t* wp = w[p];
        __m256 s[4][2];
        for (r = 0; r < 4; r++)
            s[r][0] = s[r][1] = _mm256_setzero_ps();
        for (kk = 0; kk < Kp / 2; kk++) {
            __m256i v0 = LOADI(wp + 32 * kk), v1 = LOADI(wp + 32 * kk + 16);
            __m256 e0 = bf_even(v0), o0 = bf_odd(v0), e1 = bf_even(v1), o1 = bf_odd(v1);
            for (r = 0; r < 4; r++) {
                __m256i x = bpair(ar[r], kk);
                __m256 xe = bf_even(x), xo = bf_odd(x);
                s[r][0] = _mm256_fmadd_ps(xe, e0, _mm256_fmadd_ps(xo, o0, s[r][0]));
                s[r][1] = _mm256_fmadd_ps(xe, e1, _mm256_fmadd_ps(xo, o1, s[r][1]));
            }
        }
        for (r = 0; r < 4; r++) {
            _mm256_storeu_ps(out + r * 64 + p * 16, s[r][0]);
            _mm256_storeu_ps(out + r * 64 + p * 16 + 8, s[r][1]);
        }
    }
}

static ATTR(T_2) void row_bf16(ptrdiff_t Kp, const void* a_, const void* const w[4],
                               const cgru_lowp_aux* aux, float* out)
{
    const uint16_t* a = a_;
    __m256 s[8];
    ptrdiff_t kk;
    int p;
    (void)aux;
    for (p = 0; p < 8; p++)
        s[p] = _mm256_setzero_ps();
    for (kk = 0; kk < Kp / 2; kk++) {
        __m256i x = bpair(a, kk);
        __m256 xe = bf_even(x), xo = bf_odd(x);
        for (p = 0; p < 8; p++) {
            __m256i v = LOADI((const uint16_t*)w[p / 2] + 32 * kk + 16 * (p % 2));
            s[p] = _mm256_fmadd_ps(xe, bf_even(v), _mm256_fmadd_ps(xo, bf_odd(v), s[p]));
        }
    }
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
    ptrdiff_t k0, kq, c;
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
            for (kq = k0 / 4; kq < k1 / 4; kq++) {
                __m256i v0 = LOADI(wp + 64 * kq), v1 = LOADI(wp + 64 * kq + 32);
                for (r = 0; r < 4; r++) {
                    __m256i x = quad(ar[r], kq);
                    s[r][0] = dpbusd(s[r][0], x, v0);
                    s[r][1] = dpbusd(s[r][1], x, v1);
                }
            }
            for (r = 0; r < 4; r++) {
                f[r][0] = _mm256_add_ps(f[r][0], _mm256_cvtepi32_ps(s[r][0]));
                f[r][1] = _mm256_add_ps(f[r][1], _mm256_cvtepi32_ps(s[r][1]));
            }
        }
        for (r = 0; r < 4; r++) {
            _mm256_storeu_ps(out + r * 64 + p * 16, f[r][0]);
            _mm256_storeu_ps(out + r * 64 + p * 16 + 8, f[r][1]);
        }
    }
}

static ATTR(T_VNNI) void row_i8(ptrdiff_t Kp, const void* a_, const void* const w[4],
                                const cgru_lowp_aux* aux, float* out)
{
    const uint8_t* a = a_;
    __m256 f[8];
    ptrdiff_t k0, kq, c;
    int p;
    for (p = 0; p < 8; p++)
        f[p] = _mm256_setzero_ps();
    for (c = 0, k0 = 0; k0 < Kp; c++, k0 += CGRU_LOWP_KCHUNK) {
        ptrdiff_t k1 = Kp - k0 < CGRU_LOWP_KCHUNK ? Kp : k0 + CGRU_LOWP_KCHUNK;
        __m256i s[8];
        for (p = 0; p < 8; p++)
            s[p] = offset(aux->rowsum[p / 2] + c * aux->stride + 8 * (p % 2));
        for (kq = k0 / 4; kq < k1 / 4; kq++) {
            __m256i x = quad(a, kq);
            for (p = 0; p < 8; p++)
                s[p] = dpbusd(
                    s[p], x, LOADI((const int8_t*)w[p / 2] + 64 * kq + 32 * (p % 2)));
        }
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
