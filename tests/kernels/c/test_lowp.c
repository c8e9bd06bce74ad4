/* test_lowp.c - pyx/c/lowp*.c against a float64 reference, every format and
 * every path this CPU runs.  Built and run by tests/kernels/test_lowp_c.py
 * (cc -std=c99 -Wall -Wextra -Werror); exit status 0 when all checks pass. */
#include "lowp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;
#define CHECK(cond, ...)                                                          \
    do {                                                                          \
        if (!(cond)) {                                                            \
            if (failures++ < 20) {                                                \
                printf("FAIL %s:%d: ", __FILE__, __LINE__);                       \
                printf(__VA_ARGS__);                                              \
                printf("\n");                                                     \
            }                                                                     \
        }                                                                         \
    } while (0)

static uint64_t rng = 88172645463325252ull;
static double urand(void)   /* uniform [0, 1) */
{
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}
static double nrand(void)
{
    double u = urand() + 1e-300, v = urand();
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* 64-byte aligned blocks (the contract asks for it) from plain malloc */
static void* amalloc(size_t n, void** base)
{
    char* p = malloc(n + 64);
    *base = p;
    return p + (64 - (size_t)p % 64) % 64;
}

static const char* NAMES[4] = {"float32", "float16", "bfloat16", "int8"};

/* the operand values the kernels use: a' (N, K) */
static void operand_values(int fmt, ptrdiff_t N, ptrdiff_t K, const float* a, double* out)
{
    void* base;
    void* act = amalloc(cgru_lowp_act_bytes(fmt, N, K), &base);
    ptrdiff_t Kp = cgru_lowp_kpad(fmt, K), n, k;
    cgru_lowp_act(fmt, N, K, a, K, act);
    for (n = 0; n < N; n++)
        for (k = 0; k < K; k++) {
            if (fmt == CGRU_WEIGHTS_FLOAT32 || fmt == CGRU_WEIGHTS_FLOAT16) {
                out[n * K + k] = ((float*)act)[n * Kp + k];
            } else if (fmt == CGRU_WEIGHTS_BFLOAT16) {
                uint32_t u = (uint32_t)((uint16_t*)act)[n * Kp + k] << 16;
                float f;
                memcpy(&f, &u, 4);
                out[n * K + k] = f;
            } else {
                const float* s = act;
                const uint8_t* q = (const uint8_t*)act + (N * 4 + 63) / 64 * 64;
                out[n * K + k] = ((double)q[n * Kp + k] - 128.0) * s[n];
            }
        }
    free(base);
}

/* one shape, one format, the current path */
static void check_product(int fmt, ptrdiff_t G, ptrdiff_t H, ptrdiff_t K, ptrdiff_t N)
{
    void *b1, *b2, *b3;
    size_t pb = cgru_lowp_packed_bytes(fmt, G, H, K);
    float* w = malloc(sizeof(float) * G * H * K);
    float* wu = malloc(sizeof(float) * G * H * K);
    float* sc = malloc(sizeof(float) * G * H);
    float* a = malloc(sizeof(float) * N * K);
    double* av = malloc(sizeof(double) * N * K);
    ptrdiff_t ldc = G * H + 3, n, j, k, r;
    float* c = malloc(sizeof(float) * N * ldc);
    float* c2 = malloc(sizeof(float) * N * ldc);
    void* packed = amalloc(pb, &b1);
    void* packed2 = amalloc(pb, &b2);
    void* act = amalloc(cgru_lowp_act_bytes(fmt, N, K), &b3);
    double bound = fmt == 0 ? 0 : fmt == 1 ? 1.0 / 2048 : fmt == 2 ? 1.0 / 256 : 0;
    for (r = 0; r < G * H; r++) {
        double scale = 0.05 + 2.0 * urand();             /* rows of different sizes */
        for (k = 0; k < K; k++)
            w[r * K + k] = (float)((2 * urand() - 1) * scale);
    }
    if (H > 2)
        for (k = 0; k < K; k++)
            w[1 * K + k] = 0.0f;                            /* a zero row */
    for (k = 0; k < N * K; k++)
        a[k] = (float)nrand();
    CHECK(cgru_lowp_pack(fmt, G, H, K, w, K, NULL, packed) == 0, "%s pack", NAMES[fmt]);
    cgru_lowp_unpack(fmt, G, H, K, packed, wu, K, sc);
    /* the stored values: within the format's rounding of W */
    for (r = 0; r < G * H; r++)
        for (k = 0; k < K; k++) {
            double e = fabs((double)wu[r * K + k] - w[r * K + k]);
            double lim = fmt == CGRU_WEIGHTS_INT8 ? (0.5 + 127 * 1.2e-7) * sc[r]
                                                  : bound * fabs(w[r * K + k]) + 2.98e-8;
            CHECK(e <= lim, "%s stored value (%td, %td) H=%td K=%td s=%g: %g vs %g", NAMES[fmt], r, k, H, K, sc[r],
                  wu[r * K + k], w[r * K + k]);
        }
    /* packing the stored values again (with the scales) gives the same bytes */
    CHECK(cgru_lowp_pack(fmt, G, H, K, wu, K, fmt == CGRU_WEIGHTS_INT8 ? sc : NULL,
                         packed2) == 0, "repack");
    CHECK(memcmp(packed, packed2, pb) == 0, "%s repack differs (H=%td K=%td)", NAMES[fmt], H, K);
    operand_values(fmt, N, K, a, av);
    /* the whole product, and a sub-range of gates and outputs */
    cgru_lowp_act(fmt, N, K, a, K, act);
    for (k = 0; k < N * ldc; k++)
        c[k] = c2[k] = -777.0f;
    cgru_lowp_gemm(fmt, N, K, G, H, 0, (int)G, 0, H, act, packed, c, ldc);
    cgru_lowp_matmul(fmt, N, K, G, H, 0, (int)G, a, K, packed, c2, ldc, NULL, 0);
    for (n = 0; n < N; n++) {
        for (j = 0; j < G * H; j++) {
            double ref = 0, mag = 0;
            for (k = 0; k < K; k++) {
                ref += av[n * K + k] * wu[j * K + k];
                mag += fabs(av[n * K + k] * wu[j * K + k]);
            }
            /* float32 accumulation (int8: exact sums, then two roundings) */
            double tol = (fmt == CGRU_WEIGHTS_INT8 ? 4e-7 : (K + 4) * 1.2e-7) * mag + 1e-30;
            CHECK(fabs(c[n * ldc + j] - ref) <= tol, "%s %s product n=%td j=%td H=%td K=%td "
                  "N=%td: %.9g vs %.9g", NAMES[fmt], cgru_lowp_path(fmt), n, j, H, K, N,
                  c[n * ldc + j], ref);
            /* the chunked product: the same sums (the row kernel where a chunk is
               one row: another order of the float32 additions) */
            CHECK(fabs(c2[n * ldc + j] - ref) <= tol, "%s matmul product n=%td j=%td",
                  NAMES[fmt], n, j);
        }
        for (j = G * H; j < ldc; j++)
            CHECK(c[n * ldc + j] == -777.0f, "%s wrote past the outputs", NAMES[fmt]);
    }
    /* a row's result does not depend on the rows around it (tile or row kernel,
       where a chunk starts): bit for bit, so threads may split by rows */
    if (N > 1) {
        float* c1 = malloc(sizeof(float) * ldc);
        for (n = 0; n < N; n += N - 1) {
            cgru_lowp_matmul(fmt, 1, K, G, H, 0, (int)G, a + n * K, K, packed, c1, ldc, NULL, 0);
            for (j = 0; j < G * H; j++)
                CHECK(c1[j] == c[n * ldc + j], "%s %s row %td alone differs: %.9g vs %.9g",
                      NAMES[fmt], cgru_lowp_path(fmt), n, c1[j], c[n * ldc + j]);
        }
        free(c1);
    }
    if (G >= 2 && H > 16) {
        ptrdiff_t j0 = 16, j1 = H - 1;
        for (k = 0; k < N * ldc; k++)
            c2[k] = -777.0f;
        if (N % 2)
            cgru_lowp_gemm(fmt, N, K, G, H, 1, 2, j0, j1, act, packed, c2, ldc);
        else    /* from float rows, as a thread's share of a unit split */
            cgru_lowp_matmul_range(fmt, N, K, G, H, 1, 2, j0, j1, a, K, packed, c2, ldc,
                                   NULL, 0);
        for (n = 0; n < N; n++)
            for (j = 0; j < ldc; j++) {
                int inside = j >= H + j0 && j < H + j1;
                CHECK(inside ? c2[n * ldc + j] == c[n * ldc + j] : c2[n * ldc + j] == -777.0f,
                      "%s sub-range j=%td", NAMES[fmt], j);
            }
    }
    free(w); free(wu); free(sc); free(a); free(av); free(c); free(c2);
    free(b1); free(b2); free(b3);
}

/* the outputs of every path agree (int8: exactly; others: float32 rounding) */
static void check_paths_agree(int fmt, int cpu)
{
    ptrdiff_t G = 3, H = 70, K = 99, N = 6, k;
    void *b1;
    float* w = malloc(sizeof(float) * G * H * K);
    float* a = malloc(sizeof(float) * N * K);
    float* c0 = malloc(sizeof(float) * N * G * H);
    float* c1 = malloc(sizeof(float) * N * G * H);
    void* packed = amalloc(cgru_lowp_packed_bytes(fmt, G, H, K), &b1);
    int level;
    for (k = 0; k < G * H * K; k++)
        w[k] = (float)(2 * urand() - 1);
    for (k = 0; k < N * K; k++)
        a[k] = (float)nrand();
    size_t sb = cgru_lowp_scratch_bytes(N, K);
    void* scratch = malloc(sb);
    cgru_lowp_pack(fmt, G, H, K, w, K, NULL, packed);
    cgru_lowp_set_level(0);
    cgru_lowp_matmul(fmt, N, K, G, H, 0, 3, a, K, packed, c0, G * H, NULL, 0);
    for (level = 1; level <= cpu; level++) {
        cgru_lowp_set_level(level);
        cgru_lowp_matmul(fmt, N, K, G, H, 0, 3, a, K, packed, c1, G * H, scratch, sb);
        for (k = 0; k < N * G * H; k++) {
            double tol = fmt == CGRU_WEIGHTS_INT8 ? 2.5e-7 * fabs(c0[k]) : 1e-4;
            CHECK(fabs(c1[k] - c0[k]) <= tol, "%s level %d vs portable: %.9g vs %.9g",
                  NAMES[fmt], level, c1[k], c0[k]);
        }
    }
    free(w); free(a); free(c0); free(c1); free(b1); free(scratch);
}

static void check_refusals(void)
{
    void* b;
    float w[3 * 2 * 4];
    void* packed = amalloc(cgru_lowp_packed_bytes(CGRU_WEIGHTS_INT8, 3, 2, 4) + 4096, &b);
    float a[2 * 5], c[2 * 6];
    int k;
    for (k = 0; k < 24; k++)
        w[k] = 0.5f;
    w[7] = 70000.0f;
    CHECK(cgru_lowp_pack(CGRU_WEIGHTS_FLOAT16, 3, 2, 4, w, 4, NULL, packed) == -2, "f16 overflow");
    w[7] = 65504.0f;
    CHECK(cgru_lowp_pack(CGRU_WEIGHTS_FLOAT16, 3, 2, 4, w, 4, NULL, packed) == 0, "f16 max");
    w[7] = NAN;
    CHECK(cgru_lowp_pack(CGRU_WEIGHTS_INT8, 3, 2, 4, w, 4, NULL, packed) == -2, "int8 NaN");
    w[7] = INFINITY;
    CHECK(cgru_lowp_pack(CGRU_WEIGHTS_INT8, 3, 2, 4, w, 4, NULL, packed) == -2, "int8 Inf");
    CHECK(cgru_lowp_pack(9, 3, 2, 4, w, 4, NULL, packed) == -1, "unknown format");
    CHECK(cgru_lowp_packed_bytes(9, 3, 2, 4) == 0, "unknown format size");
    /* a NaN or an infinity in an int8 operand row makes that row's outputs NaN */
    w[7] = 0.25f;
    cgru_lowp_pack(CGRU_WEIGHTS_INT8, 1, 6, 4, w, 4, NULL, packed);
    for (k = 0; k < 10; k++)
        a[k] = 0.5f;
    a[2] = NAN;
    cgru_lowp_matmul(CGRU_WEIGHTS_INT8, 2, 4, 1, 6, 0, 1, a, 5, packed, c, 6, NULL, 0);
    for (k = 0; k < 6; k++) {
        CHECK(isnan(c[k]), "NaN row gives NaN");
        CHECK(!isnan(c[6 + k]), "the other row is a number");
    }
    a[2] = INFINITY;
    cgru_lowp_matmul(CGRU_WEIGHTS_INT8, 2, 4, 1, 6, 0, 1, a, 5, packed, c, 6, NULL, 0);
    for (k = 0; k < 6; k++)
        CHECK(isnan(c[k]), "Inf row gives NaN");
    free(b);
}

int main(void)
{
    static const ptrdiff_t Hs[] = {1, 5, 16, 17, 33, 64, 100};
    static const ptrdiff_t Ks[] = {1, 2, 3, 5, 17, 64, 130};
    static const ptrdiff_t Ns[] = {1, 2, 3, 4, 5, 9};
    int cpu = cgru_lowp_cpu_level(), level, fmt;
    size_t h, k, n;
    for (level = 0; level <= cpu; level++) {
        cgru_lowp_set_level(level);
        for (fmt = 0; fmt < 4; fmt++) {
            printf("level %d %-8s path %s\n", level, NAMES[fmt], cgru_lowp_path(fmt));
            for (h = 0; h < sizeof Hs / sizeof *Hs; h++)
                for (k = 0; k < sizeof Ks / sizeof *Ks; k++)
                    for (n = 0; n < sizeof Ns / sizeof *Ns; n++)
                        check_product(fmt, 3, Hs[h], Ks[k], Ns[n]);
            check_product(fmt, 3, 40, 700, 70);   /* several chunks of rows */
            check_product(fmt, 3, 17, 17000, 3); /* a row longer than the stack block */
            check_product(fmt, 3, 20, 300, 1500); /* chunks on the heap */
        }
    }
    for (fmt = 0; fmt < 4; fmt++)
        check_paths_agree(fmt, cpu);
    check_refusals();
    printf("%s (%d failures)\n", failures ? "FAILED" : "ok", failures);
    return failures != 0;
}
