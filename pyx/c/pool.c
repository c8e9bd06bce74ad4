/* cgru's thread pool (pool.h): persistent workers, a spin-then-sleep wait, one
 * job at a time.
 *
 * Synchronisation, all through GCC/Clang __atomic builtins on 32-bit words:
 *   - each worker has a slot (its own cache line): the caller writes the job
 *     (task, arg, size) into the slot, then bumps slot.go; the worker waits for
 *     go to change.  Only members of the team are woken.
 *   - `pending` counts the members still running the job; the last one to finish
 *     wakes the caller.
 *   - the barrier is a counter and a phase word: the last member to arrive
 *     resets the counter and bumps the phase; the others wait for the phase.
 * Every wait spins (with a pause hint) for a while, then sleeps on the word
 * (a futex on Linux, a condition variable elsewhere).  A waiter announces itself
 * (seq_cst) before sleeping and the waker looks (seq_cst) after its store, so
 * the wake syscall is made only when somebody sleeps, and no wake-up is lost.
 */
#if !defined(_WIN32) && !defined(CGRU_POOL_SERIAL)
#if !defined(_GNU_SOURCE)
#define _GNU_SOURCE 1          /* syscall(), pthread_sigmask with -std=c99 */
#endif
#endif

#include "pool.h"

#include <limits.h>

struct cgru_team {
    int rank;
    int size;
};

int cgru_team_rank(const cgru_team* team) { return team->rank; }
int cgru_team_size(const cgru_team* team) { return team->size; }

void cgru_split(ptrdiff_t n, ptrdiff_t align, int rank, int size,
                ptrdiff_t* begin, ptrdiff_t* end) {
    ptrdiff_t units, base, extra, b, e;
    if (align < 1) align = 1;
    if (size < 1) size = 1;
    if (n <= 0 || rank < 0 || rank >= size) {
        *begin = *end = (n > 0 ? n : 0);
        return;
    }
    units = (n + align - 1) / align;            /* the last unit may be short */
    base = units / size;
    extra = units % size;                       /* the first `extra` parts get one more */
    b = rank * base + (rank < extra ? rank : extra);
    e = b + base + (rank < extra ? 1 : 0);
    b *= align;
    e *= align;
    *begin = b < n ? b : n;
    *end = e < n ? e : n;
}

#if defined(_WIN32) || defined(CGRU_POOL_SERIAL) || !(defined(__GNUC__) || defined(__clang__))
/* ------------------------------------------------ serial build: no threads */

int cgru_pool_run(int nthreads, cgru_task task, void* arg) {
    cgru_team team = {0, 1};
    (void)nthreads;
    task(arg, &team);
    return 1;
}

void cgru_team_barrier(cgru_team* team) { (void)team; }

int cgru_pool_workers(void) { return 0; }

#else
/* ------------------------------------------------------- POSIX threads */

#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#endif

#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define SC_LOAD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define SC_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define ADD(p, v) __atomic_add_fetch((p), (v), __ATOMIC_ACQ_REL)

/* Pause-hinted polls before a waiter sleeps (a pause is 25 ns on Zen 5, 10-40 ns
   elsewhere).  Idle workers poll for the next job for ~100 us, so that back-to-back
   calls (stream steps) find them awake; a barrier or the caller waiting for the
   team polls ~10 us: a longer spin only burns the time slice of a member that
   is waiting for a core (more threads than free cores). */
#ifndef CGRU_POOL_SPIN_IDLE
#define CGRU_POOL_SPIN_IDLE 4000
#endif
#ifndef CGRU_POOL_SPIN_SYNC
#define CGRU_POOL_SPIN_SYNC 400
#endif

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

/* ---- sleeping on a word: futex on Linux, one shared condition variable elsewhere */
#if defined(__linux__)
static void word_sleep(unsigned* word, unsigned value) {
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, value, NULL, NULL, 0);
}
static void word_wake(unsigned* word) {
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}
static void word_sleep_reset(void) {}
#else
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sleep_cond = PTHREAD_COND_INITIALIZER;
static void word_sleep(unsigned* word, unsigned value) {
    pthread_mutex_lock(&sleep_lock);
    while (SC_LOAD(word) == value)
        pthread_cond_wait(&sleep_cond, &sleep_lock);
    pthread_mutex_unlock(&sleep_lock);
}
static void word_wake(unsigned* word) {
    (void)word;
    pthread_mutex_lock(&sleep_lock);
    pthread_cond_broadcast(&sleep_cond);
    pthread_mutex_unlock(&sleep_lock);
}
static void word_sleep_reset(void) {
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t c = PTHREAD_COND_INITIALIZER;
    sleep_lock = m;
    sleep_cond = c;
}
#endif

/* Wait until *word != value: spin, then sleep; *sleepers counts the sleepers. */
static unsigned wait_change(unsigned* word, unsigned value, unsigned* sleepers, int spins) {
    unsigned now;
    int i;
    for (i = 0; i < spins; i++) {
        now = LOAD(word);
        if (now != value) return now;
        cpu_relax();
    }
    for (;;) {
        ADD(sleepers, 1u);                    /* announce, then look again */
        now = SC_LOAD(word);
        if (now == value) word_sleep(word, value);
        ADD(sleepers, (unsigned)-1);
        now = LOAD(word);
        if (now != value) return now;
    }
}

/* After changing *word: wake its sleepers, if any. */
static void wake_if_sleeping(unsigned* word, unsigned* sleepers) {
    if (SC_LOAD(sleepers) != 0) word_wake(word);
}

/* ---- the pool */
typedef struct {
    unsigned go;              /* bumped by one for each job this worker runs */
    unsigned sleepers;
    cgru_task task;
    void* arg;
    int size;
    char pad[64 - 2 * sizeof(unsigned) - 2 * sizeof(void*) - sizeof(int)];
} __attribute__((aligned(64))) slot;

typedef struct {
    unsigned value;
    unsigned sleepers;
    char pad[64 - 2 * sizeof(unsigned)];
} __attribute__((aligned(64))) counter;

static pthread_mutex_t pool_busy = PTHREAD_MUTEX_INITIALIZER;  /* held by the
                                 caller whose job runs (trylock) */
static struct {
    int workers;              /* started: ranks 1 .. workers */
    counter pending;          /* members still running the job */
    counter arrived;          /* barrier: members arrived in this phase */
    counter phase;            /* barrier: bumped when all have arrived */
    int fork_handler;         /* pthread_atfork registered */
    slot slots[CGRU_POOL_MAX_THREADS];
} pool;

/* fork(): the child has only the forking thread.  Forget the workers (their
   slots are reused by the ones the child starts) and any job in flight. */
static void after_fork_in_child(void) {
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pool_busy = m;
    pool.workers = 0;
    memset(&pool.pending, 0, sizeof(pool.pending));
    memset(&pool.arrived, 0, sizeof(pool.arrived));
    memset(&pool.phase, 0, sizeof(pool.phase));
    memset(pool.slots, 0, sizeof(pool.slots));
    word_sleep_reset();
}

static void* worker_main(void* p) {
    slot* s = (slot*)p;
    cgru_team team;
    unsigned seen = 0;
    team.rank = (int)(s - pool.slots);
    for (;;) {
        seen = wait_change(&s->go, seen, &s->sleepers, CGRU_POOL_SPIN_IDLE);
        team.size = s->size;
        s->task(s->arg, &team);
        if (ADD(&pool.pending.value, (unsigned)-1) == 0)
            wake_if_sleeping(&pool.pending.value, &pool.pending.sleepers);
    }
    return NULL;
}

/* Start workers up to rank `want` - 1 (called with pool_busy held). */
static void grow(int want) {
    pthread_attr_t attr;
    sigset_t all, old;
    if (!pool.fork_handler) {
        if (pthread_atfork(NULL, NULL, after_fork_in_child) != 0) return;
        pool.fork_handler = 1;
    }
    if (pthread_attr_init(&attr) != 0) return;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* workers take no signals: they are delivered to the application's threads */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    while (pool.workers + 1 < want) {
        pthread_t th;
        slot* s = &pool.slots[pool.workers + 1];
        s->go = 0;
        s->sleepers = 0;
        if (pthread_create(&th, &attr, worker_main, s) != 0) break;
        pool.workers++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
}

int cgru_pool_run(int nthreads, cgru_task task, void* arg) {
    cgru_team team;
    int r, size;
    team.rank = 0;
    team.size = 1;
    if (nthreads > CGRU_POOL_MAX_THREADS) nthreads = CGRU_POOL_MAX_THREADS;
    if (nthreads <= 1 || pthread_mutex_trylock(&pool_busy) != 0) {
        task(arg, &team);               /* alone: small, or the pool is in use */
        return 1;
    }
    if (pool.workers + 1 < nthreads) grow(nthreads);
    size = pool.workers + 1 < nthreads ? pool.workers + 1 : nthreads;
    if (size > 1) {
        STORE(&pool.pending.value, (unsigned)(size - 1));
        for (r = 1; r < size; r++) {
            slot* s = &pool.slots[r];
            s->task = task;
            s->arg = arg;
            s->size = size;
            SC_STORE(&s->go, s->go + 1);  /* the worker waits for go to change */
            wake_if_sleeping(&s->go, &s->sleepers);
        }
    }
    team.size = size;
    task(arg, &team);
    if (size > 1) {
        unsigned left = LOAD(&pool.pending.value);
        while (left != 0)
            left = wait_change(&pool.pending.value, left, &pool.pending.sleepers,
                               CGRU_POOL_SPIN_SYNC);
    }
    pthread_mutex_unlock(&pool_busy);
    return size;
}

void cgru_team_barrier(cgru_team* team) {
    unsigned phase;
    if (team->size <= 1) return;
    phase = LOAD(&pool.phase.value);
    if (ADD(&pool.arrived.value, 1u) == (unsigned)team->size) {
        STORE(&pool.arrived.value, 0u);           /* before anyone can arrive again */
        SC_STORE(&pool.phase.value, phase + 1);
        wake_if_sleeping(&pool.phase.value, &pool.phase.sleepers);
        return;
    }
    while (LOAD(&pool.phase.value) == phase)
        wait_change(&pool.phase.value, phase, &pool.phase.sleepers, CGRU_POOL_SPIN_SYNC);
}

int cgru_pool_workers(void) {
    return __atomic_load_n(&pool.workers, __ATOMIC_RELAXED);
}

#endif
