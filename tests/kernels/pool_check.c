/* Unit checks of cgru's thread pool (pyx/c/pool.c), in plain C.
 * Built and run by tests/kernels/test_pool.py (also under ThreadSanitizer when
 * the compiler has it): every item once, steps in order, nested and concurrent
 * callers, fork.
 *     cc -std=c99 -O2 -pthread -Ipyx/c tests/kernels/pool_check.c pyx/c/pool.c
 *     ./a.out            checks; exit status 0 when all pass
 *     ./a.out bench [N]  the cost of a call and of steps of small items
 */
#define _GNU_SOURCE 1
#include "pool.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int failures = 0;
#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (!(cond)) {                                                     \
            if (failures++ < 20) {                                         \
                fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);       \
                fprintf(stderr, __VA_ARGS__);                              \
                fputc('\n', stderr);                                       \
            }                                                              \
        }                                                                  \
    } while (0)

/* ---- cgru_split tiles [0, n) in order, boundaries on multiples of align */
static void check_split(void) {
    ptrdiff_t n, align, b, e, prev, most, least, size, r;
    for (n = 0; n < 70; n++)
        for (align = 1; align < 9; align++)
            for (size = 1; size < 9; size++) {
                prev = 0;
                most = 0;
                least = n + 1;
                for (r = 0; r < size; r++) {
                    cgru_split(n, align, r, size, &b, &e);
                    CHECK(b == prev && e >= b && e <= n, "n=%td align=%td size=%td r=%td: [%td, %td)",
                          n, align, size, r, b, e);
                    CHECK((b % align == 0 || b == n) && (e % align == 0 || e == n),
                          "unaligned part n=%td align=%td [%td, %td)", n, align, b, e);
                    prev = e;
                    if ((e - b + align - 1) / align > most) most = (e - b + align - 1) / align;
                    if ((e - b + align - 1) / align < least) least = (e - b + align - 1) / align;
                }
                CHECK(prev == n, "parts end at %td, not n=%td", prev, n);
                CHECK(most - least <= 1, "unbalanced: %td vs %td units", most, least);
            }
    cgru_split(10, 4, 5, 2, &b, &e);            /* rank out of range: empty */
    CHECK(b == e, "out-of-range rank got items");
}

/* ---- every (step, item) runs once, steps in order, ranks in range */
typedef struct {
    ptrdiff_t steps, items;
    int nthreads;
    int* runs;                                 /* per (step, item) */
    int* finished;                             /* per step: items returned */
    int bad_order, bad_rank;
} order_job;

static void busy(int n) {                      /* ~n ns of work: members overlap */
    volatile int k;
    for (k = 0; k < n / 2; k++) {}
}

static void order_item(void* arg, ptrdiff_t s, ptrdiff_t i, int rank) {
    order_job* j = (order_job*)arg;
    busy(1000);
    if (s > 0 && __atomic_load_n(&j->finished[s - 1], __ATOMIC_ACQUIRE) != j->items)
        __atomic_add_fetch(&j->bad_order, 1, __ATOMIC_RELAXED);
    if (rank < 0 || rank >= j->nthreads) __atomic_add_fetch(&j->bad_rank, 1, __ATOMIC_RELAXED);
    j->runs[s * j->items + i]++;               /* each element: one item only */
    __atomic_add_fetch(&j->finished[s], 1, __ATOMIC_RELEASE);
}

static int check_order(int nthreads, ptrdiff_t steps, ptrdiff_t items) {
    order_job j;
    ptrdiff_t k;
    int used, once = 1;
    memset(&j, 0, sizeof(j));
    j.steps = steps;
    j.items = items;
    j.nthreads = nthreads;
    j.runs = calloc((size_t)(steps * items), sizeof(int));
    j.finished = calloc((size_t)steps, sizeof(int));
    used = cgru_parallel(nthreads, steps, items, order_item, &j);
    for (k = 0; k < steps * items; k++) once &= j.runs[k] == 1;
    CHECK(once, "an item did not run exactly once (%d threads, %td x %td)", nthreads, steps, items);
    CHECK(j.bad_order == 0, "%d items started before the previous step ended", j.bad_order);
    CHECK(j.bad_rank == 0, "%d items with a rank out of [0, %d)", j.bad_rank, nthreads);
    CHECK(used >= 1 && used <= nthreads, "%d threads used of %d", used, nthreads);
    free(j.runs);
    free(j.finished);
    return used;
}

static void empty_item(void* arg, ptrdiff_t s, ptrdiff_t i, int rank) {
    (void)arg; (void)s; (void)i; (void)rank;
}

/* ---- an item that calls the pool again runs that call on its own thread */
static int inner_used = -1;
static void outer_item(void* arg, ptrdiff_t s, ptrdiff_t i, int rank) {
    (void)arg; (void)s;
    if (i == 0) __atomic_store_n(&inner_used, check_order(4, 3, 8) + 100 * rank, __ATOMIC_RELAXED);
}

/* ---- many callers at once: each call completes with the right answer */
typedef struct {
    const double* x;
    ptrdiff_t n;
    double part[64];
} sum_job;

static void sum_item(void* arg, ptrdiff_t s, ptrdiff_t i, int rank) {
    sum_job* j = (sum_job*)arg;
    ptrdiff_t b, e, k;
    double t = 0.0;
    (void)s; (void)rank;
    busy(1000);
    cgru_split(j->n, 8, i, 64, &b, &e);
    for (k = b; k < e; k++) t += j->x[k];
    j->part[i] = t;
}

#define CALLERS 4
#define CALLS 1000
static double data[1000];
static int caller_bad = 0, caller_teams = 0;

static void* caller_main(void* p) {
    int k, r, used, c = (int)(size_t)p;
    for (k = 0; k < CALLS; k++) {
        sum_job j;
        double total = 0.0;
        memset(&j, 0, sizeof(j));
        j.x = data;
        j.n = 100 + (k * 7 + c) % 900;
        used = cgru_parallel(2 + (k + c) % 3, 1, 64, sum_item, &j);
        for (r = 0; r < 64; r++) total += j.part[r];
        if (total != (double)j.n) __atomic_add_fetch(&caller_bad, 1, __ATOMIC_RELAXED);
        if (used > 1) __atomic_add_fetch(&caller_teams, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void check_callers(void) {
    pthread_t th[CALLERS];
    size_t c;
    for (c = 0; c < 1000; c++) data[c] = 1.0;
    for (c = 0; c < CALLERS; c++) pthread_create(&th[c], NULL, caller_main, (void*)c);
    for (c = 0; c < CALLERS; c++) pthread_join(th[c], NULL);
    CHECK(caller_bad == 0, "%d wrong sums from concurrent callers", caller_bad);
    printf("concurrent callers: %d of %d calls ran on several threads\n", caller_teams,
           CALLERS * CALLS);
}

/* ---- fork: the child starts its own workers; the parent's keep working */
static void check_fork(void) {
    pid_t pid;
    int status = 0, before_failures = failures;
    check_order(3, 10, 6);
    pid = fork();
    if (pid == 0) {
        int before = cgru_pool_workers();
        failures = 0;
        check_order(3, 2000, 3);
        CHECK(before == 0, "the child inherited %d workers", before);
        CHECK(cgru_pool_workers() >= 1 || before_failures < 0, "the child started no worker");
        _exit(failures ? 3 : 0);
    }
    CHECK(pid > 0, "fork failed");
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child after fork: status %d", status);
    check_order(3, 2000, 3);
}

/* ---- bench: cost of a call and of a step boundary */
static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void work_item(void* arg, ptrdiff_t s, ptrdiff_t i, int rank) {
    (void)s; (void)i; (void)rank;
    busy(*(int*)arg);
}

/* per step: `nthreads` items of busy(n); 1 thread vs nthreads, best of 9 */
static int bench(int nthreads) {
    int k, rounds, reps = 20000, sizes[] = {500, 2000, 8000}, w;
    ptrdiff_t steps = 20000;
    double best_d = 1e30, t;
    cgru_parallel(nthreads, 1, nthreads, empty_item, NULL);
    for (rounds = 0; rounds < 9; rounds++) {
        t = now_ns();
        for (k = 0; k < reps; k++) cgru_parallel(nthreads, 1, nthreads, empty_item, NULL);
        t = (now_ns() - t) / reps;
        if (t < best_d) best_d = t;
    }
    printf("threads %d: a call of empty items %.0f ns (best of 9)\n", nthreads, best_d);
    for (w = 0; w < 3; w++) {
        double b1 = 1e30, bn = 1e30;
        for (rounds = 0; rounds < 9; rounds++) {
            t = now_ns();
            cgru_parallel(1, steps, nthreads, work_item, &sizes[w]);
            t = (now_ns() - t) / steps;
            if (t < b1) b1 = t;
            t = now_ns();
            cgru_parallel(nthreads, steps, nthreads, work_item, &sizes[w]);
            t = (now_ns() - t) / steps;
            if (t < bn) bn = t;
        }
        printf("  steps of %d items of %.0f ns: 1 thread %.0f ns/step, %d threads %.0f ns/step "
               "(x%.2f)\n", nthreads, b1 / nthreads, b1, nthreads, bn, b1 / bn);
    }
    return 0;
}

int main(int argc, char** argv) {
    if (argc > 1 && strcmp(argv[1], "bench") == 0)
        return bench(argc > 2 ? atoi(argv[2]) : 2);
    check_split();
    check_order(1, 100, 7);
    printf("a call of 40000 items ran on %d threads\n", check_order(2, 20000, 2));
    check_order(2, 1, 1000);
    check_order(3, 5000, 5);
    check_order(8, 200, 16);                   /* more threads than cores */
    check_order(2, 20000, 3);                  /* the started workers are reused */
    CHECK(cgru_parallel(4, 0, 5, empty_item, NULL) == 1, "no steps: nothing to run");
    cgru_parallel(2, 1, 2, outer_item, NULL);
    CHECK(inner_used % 100 == 1, "a nested call used %d threads", inner_used % 100);
    CHECK(cgru_parallel(0, 3, 3, empty_item, NULL) == 1, "nthreads 0 is one thread");
    CHECK(cgru_parallel(100000, 1, 1000, empty_item, NULL) <= CGRU_POOL_MAX_THREADS,
          "over the cap");
    check_callers();
    check_fork();
    if (failures) {
        fprintf(stderr, "%d checks failed\n", failures);
        return 1;
    }
    printf("pool checks passed (%d workers)\n", cgru_pool_workers());
    return 0;
}
