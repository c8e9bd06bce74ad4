/* cgru's thread pool (pool.h): persistent workers, one call at a time, items
 * claimed from a shared counter.
 *
 * Synchronisation, all through GCC/Clang __atomic builtins:
 *   - a call: `next` (items claimed) and `done` (items finished) on the caller's
 *     stack.  Item c belongs to step c / items; claims come in order, so when a
 *     member holds an item of step s, all items of step s - 1 are claimed, and it
 *     waits for done >= s * items (no one waits on a later item: no deadlock).
 *   - the gate (one 64-bit word): the call's number in the upper half, "closed"
 *     and the count of members inside in the lower half.  A worker woken for
 *     call J enters only while the gate is open for J (compare-and-swap); the
 *     caller, when done == total, closes the gate and waits for the members
 *     inside to leave.  A worker that wakes late finds the gate closed (or
 *     another call's number) and never touches the finished call's memory.
 *   - each worker has a slot (its own cache line) holding `go`, the low half of
 *     the last call number it was woken for; it waits for go to change.
 * Idle workers poll, then sleep on their go word (a futex on Linux, a
 * condition variable elsewhere).  A sleeper announces itself (seq_cst) before
 * sleeping and the waker looks (seq_cst) after its store: the wake syscall is
 * made only when somebody sleeps, and no wake-up is lost.  Waits inside a call
 * (for a step, for the gate) poll, then yield the CPU; they are short unless a
 * member was preempted, and then yielding is what lets it run.
 */
#if !defined(_WIN32) && !defined(CGRU_POOL_SERIAL)
#if !defined(_GNU_SOURCE)
#define _GNU_SOURCE 1          /* syscall(), pthread_sigmask with -std=c99 */
#endif
#endif

#include "pool.h"

#include <limits.h>

#include <stdint.h>

void cgru_split(ptrdiff_t n, ptrdiff_t align, ptrdiff_t part, ptrdiff_t parts,
                ptrdiff_t* begin, ptrdiff_t* end) {
    ptrdiff_t units, base, extra, b, e;
    if (align < 1) align = 1;
    if (parts < 1) parts = 1;
    if (n <= 0 || part < 0 || part >= parts) {
        *begin = *end = (n > 0 ? n : 0);
        return;
    }
    units = (n + align - 1) / align;            /* the last unit may be short */
    base = units / parts;
    extra = units % parts;                      /* the first `extra` parts get one more */
    b = part * base + (part < extra ? part : extra);
    e = b + base + (part < extra ? 1 : 0);
    b *= align;
    e *= align;
    *begin = b < n ? b : n;
    *end = e < n ? e : n;
}

static int run_serial(ptrdiff_t steps, ptrdiff_t items, cgru_item_fn fn, void* arg) {
    ptrdiff_t s, i;
    for (s = 0; s < steps; s++)
        for (i = 0; i < items; i++) fn(arg, s, i, 0);
    return 1;
}

#if defined(_WIN32) || defined(CGRU_POOL_SERIAL) || !(defined(__GNUC__) || defined(__clang__))
/* ------------------------------------------------ serial build: no threads */

int cgru_parallel(int nthreads, ptrdiff_t steps, ptrdiff_t items, cgru_item_fn fn, void* arg) {
    (void)nthreads;
    return run_serial(steps, items, fn, arg);
}

int cgru_pool_workers(void) { return 0; }

#else
/* ------------------------------------------------------- POSIX threads */

#include <pthread.h>
#include <sched.h>
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

/* Pause-hinted polls before a waiter sleeps or yields (a pause is 25 ns on Zen 5,
   10-40 ns elsewhere): ~100 us.  Idle workers poll for the next call that long,
   so that back-to-back calls (stream steps) find them awake. */
#ifndef CGRU_POOL_SPIN
#define CGRU_POOL_SPIN 4000
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

/* ---- the pool */
#define GATE_CLOSED 0x80000000u
#define GATE_INSIDE 0x7fffffffu

typedef struct {
    unsigned go;              /* low half of the last call number this worker was woken for */
    unsigned sleepers;        /* 1 while the worker sleeps on go */
    char pad[64 - 2 * sizeof(unsigned)];
} __attribute__((aligned(64))) slot;

typedef struct {              /* one call, on the caller's stack */
    cgru_item_fn fn;
    void* arg;
    ptrdiff_t items, total;
    int size;                 /* the members asked for */
    int used;                 /* members that ran at least one item */
    int solo;                 /* set by the caller: workers claim no more items */
    ptrdiff_t next __attribute__((aligned(64)));   /* items claimed */
    ptrdiff_t done __attribute__((aligned(64)));   /* items finished */
} call;

static pthread_mutex_t pool_busy = PTHREAD_MUTEX_INITIALIZER;  /* held by the caller
                                                                  whose call runs */
static struct {
    int workers;              /* started: ranks 1 .. workers */
    uint64_t number;          /* the last call number (the caller's, under pool_busy) */
    int fork_handler;         /* pthread_atfork registered */
    int contended;            /* callers running alone because the pool was busy */
    uint64_t gate __attribute__((aligned(64)));
    call* current;            /* the call the gate is open for */
    slot slots[CGRU_POOL_MAX_THREADS];
} pool;

/* fork(): the child has only the forking thread.  Forget the workers (their
   slots are reused by the ones the child starts) and any call in flight. */
static void after_fork_in_child(void) {
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pool_busy = m;
    pool.workers = 0;
    pool.number = 0;
    pool.contended = 0;
    pool.gate = 0;
    pool.current = NULL;
    memset(pool.slots, 0, sizeof(pool.slots));
    word_sleep_reset();
}

/* Poll until *word >= target, then yield between polls; returns 1 when the
   wait outlasted the polls (~100 us). */
static int wait_done(ptrdiff_t* word, ptrdiff_t target) {
    int i;
    for (i = 0; LOAD(word) < target; i++) {
        if (i < CGRU_POOL_SPIN) cpu_relax();
        else sched_yield();
    }
    return i >= CGRU_POOL_SPIN;
}

static void wait_drained(void) {
    int i;
    for (i = 0; (LOAD(&pool.gate) & GATE_INSIDE) != 0; i++) {
        if (i < CGRU_POOL_SPIN) cpu_relax();
        else sched_yield();
    }
}

/* A worker that keeps the caller waiting at a step boundary for longer than the
   polls (it was preempted: the machine has fewer free cores than the call has
   threads) would stall every later step too: the caller then goes on alone
   (`solo`), and the worker stops claiming items once it runs again.  Likewise,
   while k other callers run their calls alone because the pool is busy, the
   last k workers of the running call stop claiming: the cores stay one thread
   each. */
static void run_items(call* c, int rank) {
    ptrdiff_t k, s;
    int ran = 0;
    for (;;) {
        if (rank != 0 && (__atomic_load_n(&c->solo, __ATOMIC_RELAXED) ||
                          rank >= c->size - __atomic_load_n(&pool.contended, __ATOMIC_RELAXED)))
            break;
        k = __atomic_fetch_add(&c->next, 1, __ATOMIC_ACQ_REL);
        if (k >= c->total) break;
        s = k / c->items;
        if (LOAD(&c->done) < s * c->items && wait_done(&c->done, s * c->items) && rank == 0)
            __atomic_store_n(&c->solo, 1, __ATOMIC_RELAXED);
        c->fn(c->arg, s, k - s * c->items, rank);
        ADD(&c->done, 1);
        ran = 1;
    }
    if (ran) ADD(&c->used, 1);
}

static void* worker_main(void* p) {
    slot* s = (slot*)p;
    int rank = (int)(s - pool.slots), i;
    unsigned seen = 0;
    uint64_t g;
    for (;;) {
        /* wait for go to change: poll, then sleep */
        for (i = 0; LOAD(&s->go) == seen; i++) {
            if (i < CGRU_POOL_SPIN) {
                cpu_relax();
                continue;
            }
            SC_STORE(&s->sleepers, 1u);           /* announce, then look again */
            if (SC_LOAD(&s->go) == seen) word_sleep(&s->go, seen);
            STORE(&s->sleepers, 0u);
        }
        seen = LOAD(&s->go);
        /* enter while the gate is open for that call */
        g = LOAD(&pool.gate);
        while (!(g & GATE_CLOSED) && (unsigned)(g >> 32) == seen) {
            if (__atomic_compare_exchange_n(&pool.gate, &g, g + 1, 0, __ATOMIC_ACQ_REL,
                                            __ATOMIC_ACQUIRE)) {
                run_items(__atomic_load_n(&pool.current, __ATOMIC_ACQUIRE), rank);
                __atomic_sub_fetch(&pool.gate, 1, __ATOMIC_RELEASE);
                break;
            }
        }
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
        __atomic_store_n(&pool.workers, pool.workers + 1, __ATOMIC_RELAXED);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
}

int cgru_parallel(int nthreads, ptrdiff_t steps, ptrdiff_t items, cgru_item_fn fn, void* arg) {
    call c;
    int r, size;
    unsigned number;
    if (steps <= 0 || items <= 0) return 1;
    if (nthreads > CGRU_POOL_MAX_THREADS) nthreads = CGRU_POOL_MAX_THREADS;
    if (nthreads > items) nthreads = (int)items;  /* more members than items per step idle */
    if (nthreads <= 1)
        return run_serial(steps, items, fn, arg);  /* alone: small */
    if (pthread_mutex_trylock(&pool_busy) != 0) {  /* alone: the pool is in use */
        __atomic_add_fetch(&pool.contended, 1, __ATOMIC_RELAXED);
        run_serial(steps, items, fn, arg);
        __atomic_sub_fetch(&pool.contended, 1, __ATOMIC_RELAXED);
        return 1;
    }
    if (pool.workers + 1 < nthreads) grow(nthreads);
    size = pool.workers + 1 < nthreads ? pool.workers + 1 : nthreads;
    if (size <= 1) {
        pthread_mutex_unlock(&pool_busy);
        return run_serial(steps, items, fn, arg);
    }
    memset(&c, 0, sizeof(c));
    c.fn = fn;
    c.arg = arg;
    c.items = items;
    c.total = steps * items;
    c.size = size;
    if ((unsigned)++pool.number == 0) ++pool.number;   /* 0 is the workers' start value */
    number = (unsigned)pool.number;
    __atomic_store_n(&pool.current, &c, __ATOMIC_RELEASE);
    STORE(&pool.gate, (uint64_t)number << 32);           /* open, nobody inside */
    for (r = 1; r < size; r++) {
        slot* s = &pool.slots[r];
        SC_STORE(&s->go, number);
        if (SC_LOAD(&s->sleepers)) word_wake(&s->go);
    }
    run_items(&c, 0);
    wait_done(&c.done, c.total);
    __atomic_fetch_or(&pool.gate, (uint64_t)GATE_CLOSED, __ATOMIC_ACQ_REL);
    wait_drained();                                      /* nobody still reads c */
    pthread_mutex_unlock(&pool_busy);
    r = LOAD(&c.used);
    return r > 1 ? r : 1;
}

int cgru_pool_workers(void) {
    return __atomic_load_n(&pool.workers, __ATOMIC_RELAXED);
}

#endif
