/* Unit checks of cgru's thread pool (pyx/c/pool.c), in plain C.
 * Built and run by tests/kernels/test_pool.py (also under ThreadSanitizer when
 * the compiler has it):
 *     cc -std=c99 -O2 -pthread -Ipyx/c tests/kernels/pool_check.c pyx/c/pool.c
 *     ./a.out            checks; exit status 0 when all pass
 *     ./a.out bench      dispatch and barrier cost, in ns
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
    ptrdiff_t n, align, b, e, prev, most, least;
    int size, r;
    for (n = 0; n < 70; n++)
        for (align = 1; align < 9; align++)
            for (size = 1; size < 9; size++) {
                prev = 0;
                most = 0;
                least = n + 1;
                for (r = 0; r < size; r++) {
                    cgru_split(n, align, r, size, &b, &e);
                    CHECK(b == prev && e >= b && e <= n, "n=%td align=%td size=%d r=%d: [%td, %td)",
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

/* ---- every member runs once, with its rank; barriers order the phases */
#define PHASES 20000
typedef struct {
    int ran[CGRU_POOL_MAX_THREADS];
    int size_seen[CGRU_POOL_MAX_THREADS];
    long counter[CGRU_POOL_MAX_THREADS];
    int phases;
    int bad;                                   /* a member saw a stale counter */
} team_job;

static void team_task(void* arg, cgru_team* team) {
    team_job* j = (team_job*)arg;
    int me = cgru_team_rank(team), size = cgru_team_size(team), p, r;
    j->ran[me]++;
    j->size_seen[me] = size;
    for (p = 1; p <= j->phases; p++) {
        j->counter[me] = p;                    /* phase p's write ... */
        cgru_team_barrier(team);
        for (r = 0; r < size; r++)             /* ... seen by all after the barrier */
            if (j->counter[r] != p) __atomic_add_fetch(&j->bad, 1, __ATOMIC_RELAXED);
        cgru_team_barrier(team);               /* nobody writes p+1 before all read p */
    }
}

static void check_team(int nthreads, int phases) {
    team_job* j = calloc(1, sizeof(team_job));
    int used, r;
    j->phases = phases;
    used = cgru_pool_run(nthreads, team_task, j);
    CHECK(used == nthreads, "asked %d threads, got %d", nthreads, used);
    for (r = 0; r < CGRU_POOL_MAX_THREADS; r++) {
        CHECK(j->ran[r] == (r < used), "member %d ran %d times (team of %d)", r, j->ran[r], used);
        if (r < used) CHECK(j->size_seen[r] == used, "member %d saw size %d", r, j->size_seen[r]);
    }
    CHECK(j->bad == 0, "%d stale reads after a barrier (team of %d)", j->bad, used);
    free(j);
}

static void empty_task(void* arg, cgru_team* team) { (void)arg; (void)team; }

/* ---- a task that calls the pool again runs its inner job alone */
static int inner_size = -1;
static void inner_task(void* arg, cgru_team* team) {
    (void)arg;
    inner_size = cgru_team_size(team);
}
static void outer_task(void* arg, cgru_team* team) {
    (void)arg;
    if (cgru_team_rank(team) == 0) cgru_pool_run(4, inner_task, NULL);
}

/* ---- many callers at once: each gets a team (or runs alone), never a mix-up */
typedef struct {
    const double* x;
    ptrdiff_t n;
    double part[CGRU_POOL_MAX_THREADS];
    int size;
} sum_job;

static void sum_task(void* arg, cgru_team* team) {
    sum_job* j = (sum_job*)arg;
    ptrdiff_t b, e, i;
    double s = 0.0;
    int me = cgru_team_rank(team);
    cgru_split(j->n, 8, me, cgru_team_size(team), &b, &e);
    for (i = b; i < e; i++) s += j->x[i];
    j->part[me] = s;
    cgru_team_barrier(team);
    if (me == 0) j->size = cgru_team_size(team);
}

#define CALLERS 4
#define CALLS 3000
static double data[1000];
static int caller_bad = 0, caller_teams = 0;

static void* caller_main(void* p) {
    int k, r, c = (int)(size_t)p;
    for (k = 0; k < CALLS; k++) {
        sum_job j;
        double total = 0.0;
        memset(&j, 0, sizeof(j));
        j.x = data;
        j.n = 100 + (k * 7 + c) % 900;
        cgru_pool_run(2 + (k + c) % 3, sum_task, &j);
        for (r = 0; r < j.size; r++) total += j.part[r];
        if (total != (double)j.n) __atomic_add_fetch(&caller_bad, 1, __ATOMIC_RELAXED);
        if (j.size > 1) __atomic_add_fetch(&caller_teams, 1, __ATOMIC_RELAXED);
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
    CHECK(caller_teams > 0, "no concurrent caller ever got a team");
}

/* ---- fork: the child starts its own workers; the parent's keep working */
static int check_fork(void) {
    pid_t pid;
    int status = 0;
    check_team(3, 10);
    pid = fork();
    if (pid == 0) {
        int before = cgru_pool_workers();
        check_team(3, 1000);
        if (before != 0) {
            fprintf(stderr, "FAIL: child inherited %d workers\n", before);
            failures++;
        }
        _exit(failures ? 3 : 0);
    }
    CHECK(pid > 0, "fork failed");
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child after fork: status %d", status);
    check_team(3, 1000);
    return 0;
}

/* ---- bench: cost of one dispatch (empty job) and of one barrier */
static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}
static void barrier_task(void* arg, cgru_team* team) {
    int k, n = *(int*)arg;
    for (k = 0; k < n; k++) cgru_team_barrier(team);
}

static int bench(int nthreads) {
    int k, rounds, reps = 20000, n = 200000;
    double best_d = 1e30, best_b = 1e30, t;
    cgru_pool_run(nthreads, empty_task, NULL);
    for (rounds = 0; rounds < 7; rounds++) {
        t = now_ns();
        for (k = 0; k < reps; k++) cgru_pool_run(nthreads, empty_task, NULL);
        t = (now_ns() - t) / reps;
        if (t < best_d) best_d = t;
        t = now_ns();
        cgru_pool_run(nthreads, barrier_task, &n);
        t = (now_ns() - t) / n;
        if (t < best_b) best_b = t;
    }
    printf("threads %d: dispatch %.0f ns, barrier %.0f ns (best of 7)\n", nthreads, best_d, best_b);
    return 0;
}

int main(int argc, char** argv) {
    if (argc > 1 && strcmp(argv[1], "bench") == 0)
        return bench(argc > 2 ? atoi(argv[2]) : 2);
    check_split();
    check_team(1, 100);
    check_team(2, PHASES);
    check_team(3, PHASES / 4);
    check_team(8, 200);                         /* more threads than cores */
    check_team(2, PHASES);                      /* the started workers are reused */
    cgru_pool_run(2, outer_task, NULL);
    CHECK(inner_size == 1, "nested job ran with %d threads", inner_size);
    CHECK(cgru_pool_run(0, empty_task, NULL) == 1, "nthreads 0 is one thread");
    CHECK(cgru_pool_run(100000, empty_task, NULL) <= CGRU_POOL_MAX_THREADS, "over the cap");
    check_callers();
    check_fork();
    if (failures) {
        fprintf(stderr, "%d checks failed\n", failures);
        return 1;
    }
    printf("pool checks passed (%d workers)\n", cgru_pool_workers());
    return 0;
}
