/* cgru's thread pool: one persistent set of worker threads per process.
 *
 * A job is one function run by a team of threads at once, the calling thread
 * being member 0:
 *
 *     static void task(void* arg, cgru_team* team) {
 *         ptrdiff_t b, e;
 *         cgru_split(n, 4, cgru_team_rank(team), cgru_team_size(team), &b, &e);
 *         ... work on items [b, e) ...
 *         cgru_team_barrier(team);       (all members reach it, or none)
 *         ...
 *     }
 *     int used = cgru_pool_run(nthreads, task, &args);
 *
 * cgru_pool_run returns when every member has returned from the task.  No thread
 * is created per call: workers are started the first time a team needs them and
 * then wait for the next job (spinning briefly, then asleep on a futex or a
 * condition variable).  The team can be smaller than asked for, and the task
 * must give the same answer for any team size:
 *   - one caller at a time uses the pool; a caller that finds it busy (another
 *     thread's job, or a task calling cgru_pool_run) runs its job alone (size 1);
 *   - after fork() the child has no workers; its first job starts new ones;
 *   - if threads cannot be started, the team is the ones that could;
 *   - without POSIX threads (CGRU_POOL_SERIAL, or not a POSIX system) every job
 *     runs on the calling thread.
 * The pool never touches Python; the GIL is the caller's business.
 */
#ifndef CGRU_POOL_H
#define CGRU_POOL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* the most threads one job can use (the calling thread included) */
#define CGRU_POOL_MAX_THREADS 256

typedef struct cgru_team cgru_team;          /* the members of one running job */
typedef void (*cgru_task)(void* arg, cgru_team* team);

/* Run task(arg, team) on up to nthreads threads (this one included), wait for
   all of them; returns the team size that ran it (>= 1). */
int cgru_pool_run(int nthreads, cgru_task task, void* arg);

int cgru_team_rank(const cgru_team* team);   /* 0 .. size-1; 0 is the caller */
int cgru_team_size(const cgru_team* team);

/* Wait until every member of the team has called it (a no-op for size 1).
   Writes made before it by any member are visible to all members after it. */
void cgru_team_barrier(cgru_team* team);

/* Items [*begin, *end) of part `rank` when n items are split into `size`
   contiguous parts whose boundaries are multiples of `align` (the last part
   ends at n): deterministic, balanced to within one align unit, empty parts
   at the end when n has fewer than `size` units. */
void cgru_split(ptrdiff_t n, ptrdiff_t align, int rank, int size,
                ptrdiff_t* begin, ptrdiff_t* end);

/* Worker threads started so far in this process (0 after fork, in the child). */
int cgru_pool_workers(void);

#ifdef __cplusplus
}
#endif
#endif /* CGRU_POOL_H */
