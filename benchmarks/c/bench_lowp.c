/* bench_lowp.c - y = W a per weight format and path, W (3H x K): the panel
 * products of pyx/c/lowp*.c against the float32 panel product (same blocking).
 *
 *   cc -O3 -std=c99 -Ipyx/c benchmarks/c/bench_lowp.c pyx/c/lowp*.c -lm -o bench_lowp
 *   ./bench_lowp            # the table: best of 15 timed blocks of >= 2 ms each
 *
 * "N=1": one operand row (the streaming step's W_hh h); "N=64": 64 rows (a
 * batch's recurrence); the times include the operand conversion (cgru_lowp_act). */
#define _POSIX_C_SOURCE 199309L
#include "lowp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static void* amalloc(size_t n)
{
    char* p = malloc(n + 64);
    return p + (64 - (size_t)p % 64) % 64;   /* leaked: a benchmark */
}

static double bench(int fmt, ptrdiff_t H, ptrdiff_t K, ptrdiff_t N, const float* w,
                    const float* a, float* c)
{
    void* packed = amalloc(cgru_lowp_packed_bytes(fmt, 3, H, K));
    void* act = amalloc(cgru_lowp_act_bytes(fmt, N, K));
    double best = 1e30, t0, t;
    long reps = 1, i;
    int round;
    cgru_lowp_pack(fmt, 3, H, K, w, K, NULL, packed);
    for (;;) {   /* calibrate: a block of >= 2 ms */
        t0 = now();
        for (i = 0; i < reps; i++) {
            cgru_lowp_act(fmt, N, K, a, K, act);
            cgru_lowp_gemm(fmt, N, K, 3, H, 0, 3, 0, H, act, packed, c, 3 * H);
        }
        if (now() - t0 > 2e-3)
            break;
        reps *= 2;
    }
    for (round = 0; round < 15; round++) {
        t0 = now();
        for (i = 0; i < reps; i++) {
            cgru_lowp_act(fmt, N, K, a, K, act);
            cgru_lowp_gemm(fmt, N, K, 3, H, 0, 3, 0, H, act, packed, c, 3 * H);
        }
        t = (now() - t0) / reps;
        best = t < best ? t : best;
    }
    return best;
}

int main(int argc, char** argv)
{
    static const ptrdiff_t Hs[] = {128, 256, 512, 1024};
    static const ptrdiff_t Ns[] = {1, 64};
    static const char* names[4] = {"float32", "float16", "bfloat16", "int8"};
    int level = argc > 1 ? atoi(argv[1]) : -1, fmt;
    size_t h, n;
    level = cgru_lowp_set_level(level);
    printf("level %d; paths:", level);
    for (fmt = 0; fmt < 4; fmt++)
        printf(" %s=%s", names[fmt], cgru_lowp_path(fmt));
    printf("\n| H | N | float32 | float16 | bfloat16 | int8 |\n|---|---|---:|---:|---:|---:|\n");
    for (n = 0; n < sizeof Ns / sizeof *Ns; n++)
        for (h = 0; h < sizeof Hs / sizeof *Hs; h++) {
            ptrdiff_t H = Hs[h], K = H, N = Ns[n], k;
            float* w = malloc(sizeof(float) * 3 * H * K);
            float* a = malloc(sizeof(float) * N * K);
            float* c = malloc(sizeof(float) * N * 3 * H);
            double t32 = 0;
            for (k = 0; k < 3 * H * K; k++)
                w[k] = (float)sin(0.37 * k) / sqrtf((float)H);
            for (k = 0; k < N * K; k++)
                a[k] = (float)cos(0.11 * k);
            printf("| %td | %td |", H, N);
            for (fmt = 0; fmt < 4; fmt++) {
                double t = bench(fmt, H, K, N, w, a, c);
                if (fmt == 0)
                    t32 = t;
                printf(" %.2f us", t * 1e6);
                if (fmt)
                    printf(" (%.2fx)", t32 / t);
                printf(" |");
                fflush(stdout);
            }
            printf("\n");
            free(w); free(a); free(c);
        }
    return 0;
}
