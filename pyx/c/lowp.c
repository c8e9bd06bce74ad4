/* lowp.c - reduced-precision weights: packers, operand conversion, the
 * panel-product driver, the portable kernels and the run-time choice of path.
 * Layouts and contracts: lowp.h.  The SIMD kernels: lowp_avx2.c, lowp_avx512.c. */
#include "lowp_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ conversions */

static inline uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* float32 -> bfloat16, round to nearest even; NaN stays a (quiet) NaN */
static inline uint16_t f32_to_bf16(float f)
{
    uint32_t u = f2u(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static inline float bf16_to_f32(uint16_t b) { return u2f((uint32_t)b << 16); }

/* float32 -> binary16, round to nearest even (F. Giesen's float_to_half_fast3_rtne) */
static uint16_t f32_to_f16(float f)
{
    uint32_t u = f2u(f), sign = u & 0x80000000u, o;
    u ^= sign;
    if (u >= (127u + 16u) << 23) {                      /* >= 65536: Inf or NaN */
        o = u > 0x7f800000u ? 0x7e00u : 0x7c00u;
    } else if (u < 113u << 23) {                        /* subnormal or zero */
        const uint32_t magic = ((127u - 15u) + (23u - 10u) + 1u) << 23;
        o = f2u(u2f(u) + u2f(magic)) - magic;
    } else {
        uint32_t odd = (u >> 13) & 1u;
        u += ((uint32_t)(15 - 127) << 23) + 0xfffu + odd;
        o = u >> 13;                                    /* may round up to Inf */
    }
    return (uint16_t)(o | (sign >> 16));
}

/* binary16 -> float32, exact: the hardware conversion where the compiler has
   _Float16 on ARM (fcvt, vectorized), else branch-free bit arithmetic */
#if defined(__aarch64__) && defined(__FLT16_MAX__)
static inline float f16_to_f32(uint16_t h)
{
    _Float16 v;
    memcpy(&v, &h, 2);
    return (float)v;
}
#else
static inline float f16_to_f32(uint16_t h)
{
    uint32_t em = h & 0x7fffu;
    uint32_t r = (em << 13) + (112u << 23);             /* normal numbers */
    uint32_t sub = f2u((float)em * 5.9604644775390625e-8f);   /* em * 2**-24 */
    r = em >= 0x7c00u ? r + (112u << 23) : r;           /* Inf, NaN: exponent 255 */
    r = em < 0x0400u ? sub : r;                         /* subnormal, zero */
    return u2f(r | ((uint32_t)(h & 0x8000u) << 16));
}
#endif

/* ----------------------------------------------------------------- layout */

int cgru_lowp_kgroup(int fmt)
{
    switch (fmt) {
    case CGRU_WEIGHTS_FLOAT32: case CGRU_WEIGHTS_FLOAT16: return 1;
    case CGRU_WEIGHTS_BFLOAT16: return 2;
    case CGRU_WEIGHTS_INT8: return 4;
    default: return 0;
    }
}

static size_t elem_bytes(int fmt)
{
    switch (fmt) {
    case CGRU_WEIGHTS_FLOAT32: return 4;
    case CGRU_WEIGHTS_FLOAT16: case CGRU_WEIGHTS_BFLOAT16: return 2;
    case CGRU_WEIGHTS_INT8: return 1;
    default: return 0;
    }
}

ptrdiff_t cgru_lowp_hpad(ptrdiff_t H) { return (H + CGRU_LOWP_P - 1) / CGRU_LOWP_P * CGRU_LOWP_P; }

ptrdiff_t cgru_lowp_kpad(int fmt, ptrdiff_t K)
{
    ptrdiff_t U = cgru_lowp_kgroup(fmt);
    return U ? (K + U - 1) / U * U : 0;
}

static size_t round64(size_t n) { return (n + 63) / 64 * 64; }

static ptrdiff_t kchunks(ptrdiff_t Kp) { return (Kp + CGRU_LOWP_KCHUNK - 1) / CGRU_LOWP_KCHUNK; }

static size_t panel_bytes(int fmt, ptrdiff_t G, ptrdiff_t H, ptrdiff_t K)
{
    return (size_t)G * (size_t)cgru_lowp_hpad(H) * (size_t)cgru_lowp_kpad(fmt, K) *
           elem_bytes(fmt);
}

size_t cgru_lowp_packed_bytes(int fmt, ptrdiff_t G, ptrdiff_t H, ptrdiff_t K)
{
    size_t rows = (size_t)G * (size_t)cgru_lowp_hpad(H);
    if (!cgru_lowp_kgroup(fmt))
        return 0;
    if (fmt != CGRU_WEIGHTS_INT8)
        return panel_bytes(fmt, G, H, K);
    return panel_bytes(fmt, G, H, K) + round64(rows * 4) +
           round64(rows * 4 * (size_t)kchunks(cgru_lowp_kpad(fmt, K)));
}

/* int8 tail: scales and row sums after the panels */
static float* int8_scales(const void* packed, ptrdiff_t G, ptrdiff_t H, ptrdiff_t K)
{
    return (float*)((char*)packed + panel_bytes(CGRU_WEIGHTS_INT8, G, H, K));
}

static int32_t* int8_rowsums(const void* packed, ptrdiff_t G, ptrdiff_t H, ptrdiff_t K)
{
    return (int32_t*)((char*)int8_scales(packed, G, H, K) +
                      round64((size_t)G * (size_t)cgru_lowp_hpad(H) * 4));
}

/* element (row i of panel (g, p0), k) of the packed panels */
static size_t packed_index(int fmt, ptrdiff_t Kp, ptrdiff_t panel_row0, ptrdiff_t i, ptrdiff_t k)
{
    ptrdiff_t U = cgru_lowp_kgroup(fmt);
    return (size_t)(panel_row0 * Kp + (k / U) * (CGRU_LOWP_P * U) + i * U + k % U);
}

/* ----------------------------------------------------------------- packing */

static int8_t quantize(float w, float inv)
{
    float q = rintf(w * inv);
    q = q > 127.0f ? 127.0f : q < -127.0f ? -127.0f : q;
    return (int8_t)q;
}

int cgru_lowp_pack(int fmt, ptrdiff_t G, ptrdiff_t H, ptrdiff_t K, const float* w,
                   ptrdiff_t ldw, const float* scales, void* packed)
{
    ptrdiff_t Hp = cgru_lowp_hpad(H), Kp = cgru_lowp_kpad(fmt, K), g, j, k;
    int bad = 0;
    if (!cgru_lowp_kgroup(fmt))
        return -1;
    memset(packed, 0, cgru_lowp_packed_bytes(fmt, G, H, K));
    for (g = 0; g < G; g++) {
        for (j = 0; j < H; j++) {
            const float* row = w + (g * H + j) * ldw;
            ptrdiff_t r0 = g * Hp + j / CGRU_LOWP_P * CGRU_LOWP_P, i = j % CGRU_LOWP_P;
            if (fmt == CGRU_WEIGHTS_FLOAT32) {
                float* p = (float*)packed;
                for (k = 0; k < K; k++)
                    p[packed_index(fmt, Kp, r0, i, k)] = row[k];
            } else if (fmt == CGRU_WEIGHTS_FLOAT16) {
                uint16_t* p = (uint16_t*)packed;
                for (k = 0; k < K; k++) {
                    uint16_t h = f32_to_f16(row[k]);
                    bad |= (h & 0x7c00u) == 0x7c00u;      /* overflow, Inf or NaN */
                    p[packed_index(fmt, Kp, r0, i, k)] = h;
                }
            } else if (fmt == CGRU_WEIGHTS_BFLOAT16) {
                uint16_t* p = (uint16_t*)packed;
                for (k = 0; k < K; k++)
                    p[packed_index(fmt, Kp, r0, i, k)] = f32_to_bf16(row[k]);
            } else {
                int8_t* p = (int8_t*)packed;
                float* sc = int8_scales(packed, G, H, K);
                int32_t* rs = int8_rowsums(packed, G, H, K);
                float m = 0.0f, s;
                for (k = 0; k < K; k++) {
                    float a = fabsf(row[k]);
                    bad |= !(a <= 3.402823466e38f);        /* Inf or NaN */
                    m = a > m ? a : m;
                }
                s = scales ? scales[g * H + j] : m / 127.0f;
                bad |= !(s >= 0.0f && s <= 3.402823466e38f);
                if (bad)
                    return -2;
                sc[g * Hp + j] = s;
                for (k = 0; k < K; k++) {
                    /* w / s, not w * (1/s): q * s / s is q again (re-packing) */
                    int8_t q = s > 0.0f ? quantize(row[k] / s, 1.0f) : 0;
                    p[packed_index(fmt, Kp, r0, i, k)] = q;
                    rs[(k / CGRU_LOWP_KCHUNK) * G * Hp + g * Hp + j] += q;
                }
            }
        }
    }
    return bad ? -2 : 0;
}

void cgru_lowp_unpack(int fmt, ptrdiff_t G, ptrdiff_t H, ptrdiff_t K, const void* packed,
                      float* w, ptrdiff_t ldw, float* scales)
{
    ptrdiff_t Hp = cgru_lowp_hpad(H), Kp = cgru_lowp_kpad(fmt, K), g, j, k;
    for (g = 0; g < G; g++) {
        for (j = 0; j < H; j++) {
            float* row = w + (g * H + j) * ldw;
            ptrdiff_t r0 = g * Hp + j / CGRU_LOWP_P * CGRU_LOWP_P, i = j % CGRU_LOWP_P;
            for (k = 0; k < K; k++) {
                size_t x = packed_index(fmt, Kp, r0, i, k);
                switch (fmt) {
                case CGRU_WEIGHTS_FLOAT32: row[k] = ((const float*)packed)[x]; break;
                case CGRU_WEIGHTS_FLOAT16: row[k] = f16_to_f32(((const uint16_t*)packed)[x]); break;
                case CGRU_WEIGHTS_BFLOAT16: row[k] = bf16_to_f32(((const uint16_t*)packed)[x]); break;
                default:
                    row[k] = (float)((const int8_t*)packed)[x] *
                             int8_scales(packed, G, H, K)[g * Hp + j];
                }
            }
            if (fmt == CGRU_WEIGHTS_INT8 && scales)
                scales[g * H + j] = int8_scales(packed, G, H, K)[g * Hp + j];
        }
    }
}

/* ---------------------------------------------------------------- operands */

static size_t act_row_bytes(int fmt, ptrdiff_t K)
{
    return (size_t)cgru_lowp_kpad(fmt, K) *
           (fmt == CGRU_WEIGHTS_FLOAT16 ? 4 : elem_bytes(fmt));
}

static size_t act_head_bytes(int fmt, ptrdiff_t N)
{
    return fmt == CGRU_WEIGHTS_INT8 ? cgru_lowp_i8_head(N) : 0;
}

size_t cgru_lowp_act_bytes(int fmt, ptrdiff_t N, ptrdiff_t K)
{
    return act_head_bytes(fmt, N) + round64((size_t)N * act_row_bytes(fmt, K));
}

static const cgru_lowp_kernel* kernel(int fmt);
static void cgru_lowp_act_portable(int fmt, ptrdiff_t N, ptrdiff_t K, const float* a,
                                   ptrdiff_t lda, void* act);

void cgru_lowp_act(int fmt, ptrdiff_t N, ptrdiff_t K, const float* a, ptrdiff_t lda, void* act)
{
    const cgru_lowp_kernel* kern = cgru_lowp_kgroup(fmt) ? kernel(fmt) : NULL;
    if (kern && kern->act) {
        kern->act(N, K, a, lda, act);
        return;
    }
    cgru_lowp_act_portable(fmt, N, K, a, lda, act);
}

static void cgru_lowp_act_portable(int fmt, ptrdiff_t N, ptrdiff_t K, const float* a,
                                   ptrdiff_t lda, void* act)
{
    ptrdiff_t Kp = cgru_lowp_kpad(fmt, K), n, k;
    char* rows = (char*)act + act_head_bytes(fmt, N);
    for (n = 0; n < N; n++) {
        const float* x = a + n * lda;
        if (fmt == CGRU_WEIGHTS_FLOAT32 || fmt == CGRU_WEIGHTS_FLOAT16) {
            float* o = (float*)(rows + (size_t)n * act_row_bytes(fmt, K));
            memcpy(o, x, (size_t)K * 4);
        } else if (fmt == CGRU_WEIGHTS_BFLOAT16) {
            uint16_t* o = (uint16_t*)(rows + (size_t)n * act_row_bytes(fmt, K));
            for (k = 0; k < K; k++)
                o[k] = f32_to_bf16(x[k]);
            for (; k < Kp; k++)
                o[k] = 0;
        } else {
            uint8_t* o = (uint8_t*)(rows + (size_t)n * act_row_bytes(fmt, K));
            float m = 0.0f, s, inv;
            for (k = 0; k < K; k++) {
                float v = fabsf(x[k]);
                m = v > m ? v : m;          /* NaN compares false: caught below */
            }
            for (k = 0; k < K; k++)
                m = x[k] == x[k] ? m : x[k];
            s = m / 127.0f;
            if (!(s <= 3.402823466e38f))    /* a NaN or an infinity in this row */
                s = NAN;
            ((float*)act)[n] = s;
            inv = s > 0.0f ? 127.0f / m : 0.0f;
            for (k = 0; k < K; k++)
                o[k] = (uint8_t)(quantize(x[k], inv) + 128);
            for (; k < Kp; k++)
                o[k] = 128;
        }
    }
}

/* ------------------------------------------------------------------ paths */

static cgru_lowp_kernel g_kernels[CGRU_LOWP_NUM_FORMATS];
static int g_level = -2;   /* -2: not chosen yet */

int cgru_lowp_cpu_level(void)
{
#if CGRU_LOWP_X86
    __builtin_cpu_init();
    if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
          __builtin_cpu_supports("f16c")))
        return 0;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl"))
        return 2;
    return 1;
#else
    return 0;
#endif
}

int cgru_lowp_set_level(int level)
{
    cgru_lowp_kernel t[CGRU_LOWP_NUM_FORMATS];
    int cpu = cgru_lowp_cpu_level(), f;
    level = level < 0 || level > cpu ? cpu : level;
    cgru_lowp_kernels_portable(g_kernels);
#if CGRU_LOWP_X86
    if (level >= 1) {
        cgru_lowp_kernels_avx2(t);
        for (f = 0; f < CGRU_LOWP_NUM_FORMATS; f++)
            if (t[f].tile)
                g_kernels[f] = t[f];
    }
    if (level >= 2) {
        cgru_lowp_kernels_avx512(t);
        for (f = 0; f < CGRU_LOWP_NUM_FORMATS; f++)
            if (t[f].tile)
                g_kernels[f] = t[f];
    }
#else
    (void)t;
    (void)f;
#endif
    g_level = level;
    return level;
}

static const cgru_lowp_kernel* kernel(int fmt)
{
    if (g_level == -2)
        cgru_lowp_set_level(-1);
    return &g_kernels[fmt];
}

const char* cgru_lowp_path(int fmt)
{
    return cgru_lowp_kgroup(fmt) ? kernel(fmt)->name : "";
}

/* ----------------------------------------------------------------- driver */

void cgru_lowp_gemm(int fmt, ptrdiff_t N, ptrdiff_t K, ptrdiff_t G, ptrdiff_t H, int g0,
                    int g1, ptrdiff_t j0, ptrdiff_t j1, const void* act, const void* packed,
                    float* c, ptrdiff_t ldc)
{
    const cgru_lowp_kernel* kern = kernel(fmt);
    ptrdiff_t Hp = cgru_lowp_hpad(H), Kp = cgru_lowp_kpad(fmt, K), n0, j, p;
    size_t eb = elem_bytes(fmt), rowb = act_row_bytes(fmt, K);
    const char* rows = (const char*)act + act_head_bytes(fmt, N);
    const float* ascale = (const float*)act;
    const float* wscale = NULL;
    const int32_t* rowsum = NULL;
    cgru_lowp_aux aux;
    float out[256];
    int g, r, q;
    if (N <= 0 || j1 <= j0 || !cgru_lowp_kgroup(fmt))
        return;
    if (fmt == CGRU_WEIGHTS_INT8) {
        wscale = int8_scales(packed, G, H, K);
        rowsum = int8_rowsums(packed, G, H, K);
        aux.stride = G * Hp;
    } else {
        aux.stride = 0;
    }
    for (g = g0; g < g1; g++) {
        for (j = j0; j < j1; j += 4 * CGRU_LOWP_P) {
            const void* w[4];
            int np = (int)((j1 - j + CGRU_LOWP_P - 1) / CGRU_LOWP_P);
            np = np > 4 ? 4 : np;
            for (q = 0; q < 4; q++) {
                ptrdiff_t r0 = g * Hp + j + (q < np ? q : np - 1) * CGRU_LOWP_P;
                w[q] = (const char*)packed + (size_t)(r0 * Kp) * eb;
                aux.rowsum[q] = rowsum ? rowsum + r0 : NULL;
            }
            for (n0 = 0; n0 < N; n0 += 4) {
                int nr = N - n0 < 4 ? (int)(N - n0) : 4;
                if (nr == 1) {
                    kern->row(Kp, rows + (size_t)n0 * rowb, w, &aux, out);
                } else {
                    const void* a[4];
                    for (r = 0; r < 4; r++)
                        a[r] = rows + (size_t)(n0 + (r < nr ? r : nr - 1)) * rowb;
                    kern->tile(Kp, a, w, &aux, out);
                }
                for (r = 0; r < nr; r++) {
                    float* cr = c + (n0 + r) * ldc + g * H + j;
                    ptrdiff_t cols = j1 - j < 4 * CGRU_LOWP_P ? j1 - j : 4 * CGRU_LOWP_P;
                    const float* o = out + r * 64;
                    if (fmt == CGRU_WEIGHTS_INT8) {
                        float as = ascale[n0 + r];
                        const float* ws = wscale + g * Hp + j;
                        for (p = 0; p < cols; p++)
                            cr[p] = o[p] * (as * ws[p]);
                    } else {
                        memcpy(cr, o, (size_t)cols * 4);
                    }
                }
            }
        }
    }
}

/* operand rows that fit `bytes` (an int8 row also needs its scale), at most M */
static ptrdiff_t rows_in(int fmt, ptrdiff_t K, size_t bytes, ptrdiff_t M)
{
    size_t rb = act_row_bytes(fmt, K) + (fmt == CGRU_WEIGHTS_INT8 ? 4 : 0);
    ptrdiff_t m = bytes > 128 && rb ? (ptrdiff_t)((bytes - 128) / rb) : 0;
    m = m > M ? M : m;
    return m >= 4 && m < M ? m / 4 * 4 : m;
}

ptrdiff_t cgru_lowp_stack_rows(int fmt, ptrdiff_t K)
{
    return rows_in(fmt, K, CGRU_LOWP_STACK, 8);
}

ptrdiff_t cgru_lowp_chunk_rows(int fmt, ptrdiff_t K)
{
    ptrdiff_t m = rows_in(fmt, K, CGRU_LOWP_CHUNK, (ptrdiff_t)1 << 40);
    return m < 4 ? 4 : m;
}

size_t cgru_lowp_scratch_bytes(ptrdiff_t N, ptrdiff_t K)
{
    size_t most = 0;
    int fmt;
    for (fmt = 1; fmt < CGRU_LOWP_NUM_FORMATS; fmt++) {
        ptrdiff_t m = cgru_lowp_chunk_rows(fmt, K);
        size_t b = cgru_lowp_act_bytes(fmt, N < m ? N : m, K);
        most = b > most ? b : most;
    }
    return most + 64;     /* room to align the block to 64 bytes */
}

/* the most operand bytes per row any format needs (an int8 row also its scale) */
static size_t most_row_bytes(ptrdiff_t K)
{
    size_t most = 0, b;
    int fmt;
    for (fmt = 1; fmt < CGRU_LOWP_NUM_FORMATS; fmt++) {
        b = act_row_bytes(fmt, K) + (fmt == CGRU_WEIGHTS_INT8 ? 4 : 0);
        most = b > most ? b : most;
    }
    return most;
}

/* >= cgru_lowp_scratch_bytes(N, K): head and rows each round up by < 64 bytes,
   plus 64 to align the block */
size_t cgru_lowp_part_bytes(ptrdiff_t N, ptrdiff_t K)
{
    return round64((size_t)N * most_row_bytes(K)) + 192;
}

/* >= the sum of cgru_lowp_part_bytes over the parts of N rows cut into parts of
   >= 4 rows (at most N / 4 + 1 of them): each part rounds up by < 256 bytes */
size_t cgru_lowp_split_bytes(ptrdiff_t N, ptrdiff_t K)
{
    return (size_t)N * most_row_bytes(K) + 256 * (size_t)(N / 4 + 1);
}

static char* align64(void* p) { return (char*)p + (64 - (size_t)p % 64) % 64; }

void cgru_lowp_matmul_range(int fmt, ptrdiff_t M, ptrdiff_t K, ptrdiff_t G, ptrdiff_t H,
                            int g0, int g1, ptrdiff_t j0, ptrdiff_t j1, const float* a,
                            ptrdiff_t lda, const void* packed, float* c, ptrdiff_t ldc,
                            void* scratch, size_t scratch_bytes)
{
    /* operand rows per chunk: up to CGRU_LOWP_CHUNK bytes of them (the weights
       are read once per chunk), in the caller's scratch, else in a stack block,
       else (large chunks) in one heap block per call; small products (M <= 8,
       a step's) take the stack block with fewer rows at a time rather than the
       heap */
    double block[CGRU_LOWP_STACK / sizeof(double) + 8];
    ptrdiff_t want = cgru_lowp_chunk_rows(fmt, K), m, m0, n, j;
    void* heap = NULL;
    char* buf;
    if (M <= 0 || j1 <= j0 || !cgru_lowp_kgroup(fmt))
        return;
    want = want > M ? M : want;
    m = scratch ? rows_in(fmt, K, scratch_bytes - (size_t)(align64(scratch) - (char*)scratch), M)
                : 0;
    if (scratch && (m >= want || m >= M)) {
        buf = align64(scratch);
    } else if ((m = rows_in(fmt, K, CGRU_LOWP_STACK, M)) >= want || (M <= 8 && m >= 1)) {
        buf = align64(block);
    } else {
        heap = malloc(cgru_lowp_act_bytes(fmt, want, K) + 64);
        if (heap) {
            m = want;
            buf = align64(heap);
        } else if (m >= 1) {               /* no memory: the stack block, slower */
            buf = align64(block);
        } else {                           /* not even one row: never a stale answer */
            for (n = 0; n < M; n++)
                for (j = (ptrdiff_t)g0 * H; j < (ptrdiff_t)g1 * H; j++)
                    if (j % H >= j0 && j % H < j1)
                        c[n * ldc + j] = NAN;
            return;
        }
    }
    for (m0 = 0; m0 < M; m0 += m) {
        ptrdiff_t rows = M - m0 < m ? M - m0 : m;
        cgru_lowp_act(fmt, rows, K, a + m0 * lda, lda, buf);
        cgru_lowp_gemm(fmt, rows, K, G, H, g0, g1, j0, j1, buf, packed, c + m0 * ldc, ldc);
    }
    free(heap);
}

void cgru_lowp_matmul(int fmt, ptrdiff_t M, ptrdiff_t K, ptrdiff_t G, ptrdiff_t H, int g0,
                      int g1, const float* a, ptrdiff_t lda, const void* packed, float* c,
                      ptrdiff_t ldc, void* scratch, size_t scratch_bytes)
{
    cgru_lowp_matmul_range(fmt, M, K, G, H, g0, g1, 0, H, a, lda, packed, c, ldc, scratch,
                           scratch_bytes);
}

/* ------------------------------------------------------- portable kernels */
/* One panel at a time, 4 rows: a 4 x 16 accumulator block the compiler keeps
   in vector registers (SSE2, NEON) and vectorizes over the 16 outputs. */

#define P CGRU_LOWP_P

/* float32 and float16: the same kernels; WEIGHTS(wk, buf, wp, k) points wk at the
   16 float weights of k in panel wp (float16: converted into buf) */
#define WEIGHTS_F32(wk, buf, wp, k) ((void)(buf), wk = (const float*)(wp) + (k) * P)
#define WEIGHTS_F16(wk, buf, wp, k)                                               \
    do {                                                                          \
        int i_;                                                                   \
        for (i_ = 0; i_ < P; i_++)                                                \
            buf[i_] = f16_to_f32(((const uint16_t*)(wp))[(k) * P + i_]);          \
        wk = buf;                                                                 \
    } while (0)
#define CGRU_LOWP_TILE_FMA(SFX, WEIGHTS)                                          \
    static void tile_##SFX(ptrdiff_t Kp, const void* const a[4], const void* const w[4], \
                           const cgru_lowp_aux* aux, float* out)                  \
    {                                                                             \
        int p, r, i;                                                              \
        ptrdiff_t k;                                                              \
        (void)aux;                                                                \
        for (p = 0; p < 4; p++) {                                                 \
            float s[4][P] = {{0}}, buf[P];                                        \
            const float* wk;                                                      \
            for (k = 0; k < Kp; k++) {                                            \
                WEIGHTS(wk, buf, w[p], k);                                        \
                for (r = 0; r < 4; r++) {                                         \
                    float x = ((const float*)a[r])[k];                            \
                    for (i = 0; i < P; i++)                                       \
                        s[r][i] += x * wk[i];                                     \
                }                                                                 \
            }                                                                     \
            for (r = 0; r < 4; r++)                                               \
                memcpy(out + r * 64 + p * P, s[r], sizeof s[r]);                  \
        }                                                                         \
    }

CGRU_LOWP_TILE_FMA(f32, WEIGHTS_F32)
CGRU_LOWP_TILE_FMA(f16, WEIGHTS_F16)

static void tile_bf16(ptrdiff_t Kp, const void* const a[4], const void* const w[4],
                      const cgru_lowp_aux* aux, float* out)
{
    int p, r, i;
    ptrdiff_t kk;
    (void)aux;
    for (p = 0; p < 4; p++) {
        const uint16_t* wp = (const uint16_t*)w[p];
        float s[4][P] = {{0}}, w0[P], w1[P];
        for (kk = 0; kk < Kp / 2; kk++) {
            for (i = 0; i < P; i++) {
                w0[i] = bf16_to_f32(wp[(kk * P + i) * 2]);
                w1[i] = bf16_to_f32(wp[(kk * P + i) * 2 + 1]);
            }
            for (r = 0; r < 4; r++) {
                const uint16_t* ar = (const uint16_t*)a[r];
                float x0 = bf16_to_f32(ar[2 * kk]), x1 = bf16_to_f32(ar[2 * kk + 1]);
                /* as vdpbf16ps: the odd product first (each product is exact) */
                for (i = 0; i < P; i++)
                    s[r][i] = (s[r][i] + x1 * w1[i]) + x0 * w0[i];
            }
        }
        for (r = 0; r < 4; r++)
            memcpy(out + r * 64 + p * P, s[r], sizeof s[r]);
    }
}

static void tile_i8(ptrdiff_t Kp, const void* const a[4], const void* const w[4],
                    const cgru_lowp_aux* aux, float* out)
{
    int p, r, i;
    ptrdiff_t k0, kq, c;
    (void)aux;   /* the row sums: only the vpdpbusd offset needs them */
    for (p = 0; p < 4; p++) {
        const int8_t* wp = (const int8_t*)w[p];
        float s[4][P] = {{0}};
        for (c = 0, k0 = 0; k0 < Kp; c++, k0 += CGRU_LOWP_KCHUNK) {
            ptrdiff_t k1 = Kp - k0 < CGRU_LOWP_KCHUNK ? Kp : k0 + CGRU_LOWP_KCHUNK;
            int32_t acc[4][P] = {{0}};
            for (kq = k0 / 4; kq < k1 / 4; kq++) {
                const int8_t* q = wp + kq * 4 * P;
                for (r = 0; r < 4; r++) {
                    const uint8_t* ar = (const uint8_t*)a[r] + 4 * kq;
                    int32_t x0 = (int32_t)ar[0] - 128, x1 = (int32_t)ar[1] - 128;
                    int32_t x2 = (int32_t)ar[2] - 128, x3 = (int32_t)ar[3] - 128;
                    for (i = 0; i < P; i++)
                        acc[r][i] += x0 * q[4 * i] + x1 * q[4 * i + 1] + x2 * q[4 * i + 2] +
                                     x3 * q[4 * i + 3];
                }
            }
            for (r = 0; r < 4; r++)
                for (i = 0; i < P; i++)
                    s[r][i] += (float)acc[r][i];
        }
        for (r = 0; r < 4; r++)
            memcpy(out + r * 64 + p * P, s[r], sizeof s[r]);
    }
}

/* the row kernels: one operand row, the 4 panels one after the other */

#if defined(__GNUC__) || defined(__clang__)
/* GCC/Clang vector extensions: 16 outputs in four 4-float vectors (SSE2, NEON)
   that stay in registers; other compilers get the plain loops */
typedef float cgru_lowp_v4 __attribute__((vector_size(16)));
#define ROW_ACC cgru_lowp_v4 s[4] = {{0}}
#define ROW_FMA(x, wrow)                                                          \
    do {                                                                          \
        cgru_lowp_v4 w_[4];                                                       \
        int q_;                                                                   \
        memcpy(w_, (wrow), sizeof w_);                                            \
        for (q_ = 0; q_ < 4; q_++)                                                \
            s[q_] += (x) * w_[q_];                                                \
    } while (0)
#else
#define ROW_ACC float s[P] = {0}
#define ROW_FMA(x, wrow)                                                          \
    do {                                                                          \
        int q_;                                                                   \
        for (q_ = 0; q_ < P; q_++)                                                \
            s[q_] += (x) * (wrow)[q_];                                            \
    } while (0)
#endif

#define CGRU_LOWP_ROW_FMA(SFX, WEIGHTS)                                           \
    static void row_##SFX(ptrdiff_t Kp, const void* a_, const void* const w[4],   \
                          const cgru_lowp_aux* aux, float* out)                   \
    {                                                                             \
        const float* a = a_;                                                      \
        int p;                                                                    \
        ptrdiff_t k;                                                              \
        (void)aux;                                                                \
        for (p = 0; p < 4; p++) {                                                 \
            float buf[P];                                                         \
            const float* wk;                                                      \
            ROW_ACC;                                                              \
            for (k = 0; k < Kp; k++) {                                            \
                WEIGHTS(wk, buf, w[p], k);                                        \
                ROW_FMA(a[k], wk);                                                \
            }                                                                     \
            memcpy(out + p * P, s, sizeof s);                                     \
        }                                                                         \
    }

CGRU_LOWP_ROW_FMA(f32, WEIGHTS_F32)
CGRU_LOWP_ROW_FMA(f16, WEIGHTS_F16)

static void row_bf16(ptrdiff_t Kp, const void* a_, const void* const w[4],
                     const cgru_lowp_aux* aux, float* out)
{
    const uint16_t* a = a_;
    int p, i;
    ptrdiff_t kk;
    (void)aux;
    for (p = 0; p < 4; p++) {
        const uint16_t* wp = (const uint16_t*)w[p];
        float w0[P], w1[P];
        ROW_ACC;
        for (kk = 0; kk < Kp / 2; kk++) {
            for (i = 0; i < P; i++) {
                w0[i] = bf16_to_f32(wp[(kk * P + i) * 2]);
                w1[i] = bf16_to_f32(wp[(kk * P + i) * 2 + 1]);
            }
            /* as vdpbf16ps: the odd product first (each product is exact) */
            ROW_FMA(bf16_to_f32(a[2 * kk + 1]), w1);
            ROW_FMA(bf16_to_f32(a[2 * kk]), w0);
        }
        memcpy(out + p * P, s, sizeof s);
    }
}

static void row_i8(ptrdiff_t Kp, const void* a_, const void* const w[4],
                   const cgru_lowp_aux* aux, float* out)
{
    const uint8_t* a = a_;
    int p, i;
    ptrdiff_t k0, kq;
    (void)aux;
    for (p = 0; p < 4; p++) {
        const int8_t* wp = (const int8_t*)w[p];
        float s[P] = {0};
        for (k0 = 0; k0 < Kp; k0 += CGRU_LOWP_KCHUNK) {
            ptrdiff_t k1 = Kp - k0 < CGRU_LOWP_KCHUNK ? Kp : k0 + CGRU_LOWP_KCHUNK;
            int32_t acc[P] = {0};
            for (kq = k0 / 4; kq < k1 / 4; kq++) {
                int32_t x0 = (int32_t)a[4 * kq] - 128, x1 = (int32_t)a[4 * kq + 1] - 128;
                int32_t x2 = (int32_t)a[4 * kq + 2] - 128, x3 = (int32_t)a[4 * kq + 3] - 128;
                const int8_t* q = wp + kq * 4 * P;
                for (i = 0; i < P; i++)
                    acc[i] += x0 * q[4 * i] + x1 * q[4 * i + 1] + x2 * q[4 * i + 2] +
                              x3 * q[4 * i + 3];
            }
            for (i = 0; i < P; i++)
                s[i] += (float)acc[i];
        }
        memcpy(out + p * P, s, sizeof s);
    }
}

#undef P

void cgru_lowp_kernels_portable(cgru_lowp_kernel t[CGRU_LOWP_NUM_FORMATS])
{
    t[CGRU_WEIGHTS_FLOAT32] = (cgru_lowp_kernel){tile_f32, row_f32, NULL, "portable"};
    t[CGRU_WEIGHTS_FLOAT16] = (cgru_lowp_kernel){tile_f16, row_f16, NULL, "portable"};
    t[CGRU_WEIGHTS_BFLOAT16] = (cgru_lowp_kernel){tile_bf16, row_bf16, NULL, "portable"};
    t[CGRU_WEIGHTS_INT8] = (cgru_lowp_kernel){tile_i8, row_i8, NULL, "portable"};
}
