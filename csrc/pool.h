/* fastmlp C core: the thread pool that shares work among threads (not part of the interface).
 *
 * A job is n_tasks independent tasks: fm_pool_run(n_tasks, threads, fn, ctx) calls
 * fn(ctx, task) once for every task in [0, n_tasks) and returns when all have run. The calling
 * thread takes part; up to threads - 1 persistent workers join it. Tasks are claimed one at a
 * time from a shared counter, so a thread that the operating system has descheduled holds back
 * no task it has not started: the running threads take the rest. What a task computes must not
 * depend on which thread runs it (it never does in the core: every task owns its outputs and
 * sums in a fixed order), so results are bitwise identical for any thread count and any load.
 *
 * Waiting gives the CPU back: a worker spins for at most FM_POOL_SPIN_NS on the next job, then
 * sleeps on a condition variable; the caller spins for at most FM_POOL_WAIT_SPIN_NS on tasks
 * still running elsewhere, then sleeps until the last one ends.
 *
 * Calls from several threads at once are safe: the pool runs one job at a time, and a caller
 * that finds it busy (another thread's job, or a call from inside a task) runs its job alone.
 * A forked child starts with no workers and makes new ones when it needs them.
 *
 * Without OpenMP (a serial build) there is no pool: every job runs on the calling thread. */
#ifndef FASTMLP_POOL_H
#define FASTMLP_POOL_H

#include <stdint.h>

typedef void (*fm_task_fn)(void *ctx, int64_t task);

/* Runs fn(ctx, task) for task = 0 .. n_tasks - 1 on up to `threads` threads. */
void fm_pool_run(int64_t n_tasks, int threads, fm_task_fn fn, void *ctx);

/* Threads a job may use now: the OpenMP limit of the calling thread (OMP_NUM_THREADS,
 * threadpoolctl), lowered by fm_pool_set_cap; 1 in a serial build. */
int fm_pool_threads(void);

/* The calling thread's cap on threads (0: none), set by the adaptive choice for the work at
 * hand (fm_adapt_*); returns the previous cap. */
int fm_pool_set_cap(int cap);

/* Monotonic time in nanoseconds. */
int64_t fm_now_ns(void);

/* ---- adaptive thread counts ----
 * Whether a kind of work (a network's training batches, a prediction of a given size) runs
 * faster on all the threads allowed or on one is measured while it runs: fm_adapt_choose picks
 * the candidate whose recent time per unit of work is lower, and now and then the other one so
 * that its estimate follows the machine's load; fm_adapt_record adds a measurement. Keys name
 * the kind of work; a small table keeps the most recent kinds. A timing is kept only when the
 * choice repeats the previous one and none of its jobs had to wake sleeping workers. Only the
 * speed depends on it. */
typedef struct fm_adapt_choice {
    uint64_t key;
    int slot;    /* table entry (-1: nothing to record) */
    int option;  /* 0: one thread, 1: all the threads allowed */
    int threads; /* the threads this choice allows */
    int warm;    /* the previous choice of this kind was the same: its timing is recorded */
    int exploring; /* the timed choice of an exploration of the option not in favour */
    unsigned wakes; /* the caller's count of jobs that woke sleeping workers, at the choice */
    int64_t start_ns;
} fm_adapt_choice;

fm_adapt_choice fm_adapt_choose(uint64_t key);
/* The same, all the threads chosen only when their estimate is below gain times one thread's:
 * for work whose timings on all threads miss costs they only sometimes pay (a worker
 * descheduled while it holds a large task, which the calling thread then waits for). */
fm_adapt_choice fm_adapt_choose_gain(uint64_t key, double gain);
/* No choice: all the threads allowed, nothing recorded. */
static inline fm_adapt_choice fm_adapt_none(void)
{
    fm_adapt_choice c = {0, -1, 1, 0, 0, 0, 0, 0};
    return c;
}
void fm_adapt_record(fm_adapt_choice choice, double units);
/* Test hook: records x nanoseconds per unit of work as choice's timing, as if its jobs had
 * (woke) or had not woken sleeping workers. */
void fm_adapt_test_record(fm_adapt_choice choice, double x, int woke);

/* Statistics and test hooks (fastmlp._core): jobs run, tasks run by workers, workers started,
 * wake-ups that took a sleeping worker off the waking caller's CPU (pool.c);
 * fm_pool_test_delay(us, every) makes a worker sleep `us` microseconds before every `every`-th
 * task it claims (0: never), as if the operating system had descheduled it mid-job. */
void fm_pool_stats(int64_t *jobs, int64_t *worker_tasks, int *workers, int64_t *placed);
void fm_pool_test_delay(int us, int every);
/* The adaptive table's entry for key: estimates (ns per unit, 0 when not measured) of one
 * thread and of all of them, and the number of choices made. 0 when the key is not there. */
int fm_adapt_peek(uint64_t key, double *one, double *all, int64_t *choices);
void fm_adapt_reset(void);
/* fm_adapt_enable(0) makes every choice all the threads allowed (measuring what threads give);
 * fm_adapt_enable(1) restores the adaptive choice. */
void fm_adapt_enable(int on);

#endif
