/* cgru's thread pool: one persistent set of worker threads per process, and
 * one way to use it, a loop of steps over items:
 *
 *     static void item(void* arg, ptrdiff_t step, ptrdiff_t i, int rank) {
 *         ... the work of item i of step `step` ...
 *     }
 *     cgru_parallel(nthreads, steps, items, item, &args);
 *
 * runs item(arg, s, i, rank) once for every s < steps and i < items, and returns
 * when all have returned.  Every item of step s starts after all items of step
 * s - 1 have returned (and sees their writes); the items of one step run in any
 * order, on any of up to nthreads threads.  `rank` (0 .. nthreads-1, 0 is the
 * calling thread) names the thread running the item, for per-thread scratch.
 *
 *   - one step of independent items: batch rows, rows of a projection;
 *   - many steps: a recurrence split by hidden units, one step per time step
 *     (each item: a range of W_hh panels, then the gates of those units).
 *
 * Items are claimed one at a time from a shared counter: the calling thread
 * starts at once and workers join when they wake, so a worker that is late (the
 * machine is busy) or absent (after fork, or the pool is in use) costs nothing
 * but its share.  A worker that keeps the caller waiting at a step boundary for
 * more than ~100 us (preempted) is left out of the rest of the call, and while
 * k other callers run alone (the pool was busy), the call's last k workers stop
 * claiming items, so that those callers get the cores.  The answer must not depend on which thread runs an item
 * (cgru's kernels compute each output the same way in every item).
 *
 * No thread is created per call: workers start the first time a call needs
 * them, then wait for the next call (polling ~100 us, then asleep on a futex or
 * a condition variable).  One caller at a time uses the workers; a concurrent
 * caller, or a call from inside an item, runs its items on its own thread.
 * After fork() the child has no workers; its first call starts new ones.
 * Without POSIX threads (or with CGRU_POOL_SERIAL) every call runs on the
 * calling thread.  The pool never touches Python; the GIL is the caller's.
 */
#ifndef CGRU_POOL_H
#define CGRU_POOL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* the most threads one call can use (the calling thread included) */
#define CGRU_POOL_MAX_THREADS 256

typedef void (*cgru_item_fn)(void* arg, ptrdiff_t step, ptrdiff_t item, int rank);

/* Run fn for every (step, item) as described above; returns the number of threads
   that ran at least one item (1 when it all ran on the calling thread). */
int cgru_parallel(int nthreads, ptrdiff_t steps, ptrdiff_t items, cgru_item_fn fn, void* arg);

/* Items [*begin, *end) of part `part` when n items are cut into `parts`
   contiguous parts whose boundaries are multiples of `align` (the last part
   ends at n): deterministic, balanced to within one align unit, empty parts
   at the end when n has fewer than `parts` units. */
void cgru_split(ptrdiff_t n, ptrdiff_t align, ptrdiff_t part, ptrdiff_t parts,
                ptrdiff_t* begin, ptrdiff_t* end);

/* Worker threads started so far in this process (0 after fork, in the child). */
int cgru_pool_workers(void);

#ifdef __cplusplus
}
#endif
#endif /* CGRU_POOL_H */
