/* fastmlp C core: the thread pool and the adaptive choice of thread counts (pool.h). */
#if defined(__linux__)
#define _GNU_SOURCE /* also sched_getcpu and the thread affinity calls (place_sleeper) */
#else
#define _POSIX_C_SOURCE 200809L /* clock_gettime, nanosleep under -std=c11 */
#endif
#include "pool.h"

#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "internal.h"

int64_t fm_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The calling thread's cap (fm_pool_set_cap), and how many of its jobs had to wake sleeping
 * workers (a timing that includes a wake-up says little about the option timed). */
static _Thread_local int thread_cap = 0;
static _Thread_local unsigned thread_wakes = 0;

int fm_pool_set_cap(int cap)
{
    const int previous = thread_cap;
    thread_cap = cap;
    return previous;
}

#if defined(_OPENMP) && !defined(_WIN32)
#define FM_HAVE_POOL 1
#include <pthread.h>
#include <sched.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield")
#else
#define cpu_relax() ((void)0)
#endif
#endif

int fm_pool_threads(void)
{
#ifdef FM_HAVE_POOL
    int threads = omp_get_max_threads();
    if (thread_cap > 0 && thread_cap < threads)
        threads = thread_cap;
    return threads > 1 ? threads : 1;
#else
    return 1;
#endif
}

#ifdef FM_HAVE_POOL

/* A worker waits this long for the next job before it sleeps (the gaps between the jobs of one
 * batch are far shorter; after a call returns, this is all the CPU the workers take), and the
 * caller this long for tasks that other threads are still running. */
/* Whether the calling thread is running a task (a job started from inside a task runs on that
 * thread alone). */
static _Thread_local int in_task = 0;

#define FM_POOL_SPIN_NS 200000
#define FM_POOL_WAIT_SPIN_NS 30000
#define FM_POOL_MAX_WORKERS 255
/* The ticket: generation (22 bits), front (21 bits: the next task the caller claims), back
 * (21 bits: one past the next task a worker claims). The caller claims from the front and the
 * workers from the back, so that with two threads each keeps taking the same tasks, call after
 * call (the same columns of a layer's weights stay in its core's cache), until one falls behind
 * and the other takes over its tasks. A front of FM_POOL_CLOSED: the fields are being written,
 * nothing can be claimed. */
#define FM_POOL_TASK_BITS 21
#define FM_POOL_TASK_MASK ((1u << FM_POOL_TASK_BITS) - 1)
#define FM_POOL_CLOSED FM_POOL_TASK_MASK
#define FM_POOL_GEN(t) ((t) >> (2 * FM_POOL_TASK_BITS))
#define FM_POOL_GEN_MASK ((1u << (64 - 2 * FM_POOL_TASK_BITS)) - 1)
#define FM_POOL_FRONT(t) ((uint32_t)((t) >> FM_POOL_TASK_BITS) & FM_POOL_TASK_MASK)
#define FM_POOL_BACK(t) ((uint32_t)(t) & FM_POOL_TASK_MASK)
#define FM_POOL_TICKET(gen, front, back)                                                         \
    ((uint64_t)(gen) << (2 * FM_POOL_TASK_BITS) | (uint64_t)(front) << FM_POOL_TASK_BITS |       \
     (uint64_t)(back))

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;    /* workers sleep here between jobs */
    pthread_cond_t done_cv; /* the caller sleeps here until the job's last task ends */
    atomic_int busy;        /* a job is running */
    int n_workers;          /* started; touched only by the thread holding busy */
    /* The job: generation, front and back (FM_POOL_TICKET). A task is claimed by a compare-and-
     * swap on this word, which fails when the generation moved on, so a worker that slept
     * through the end of a job cannot claim a task of the next one with the old job's fields.
     * The caller closes the word (the next generation, front FM_POOL_CLOSED) before it writes
     * the next job's fields and opens it (front 0, back n_tasks) after: a claim read against
     * the old word can then never succeed with a new field (an exhausted old job's index below
     * the new count would otherwise pass the bound check and run a task twice). */
    _Atomic uint64_t ticket;
    _Atomic(fm_task_fn) fn;
    _Atomic(void *) ctx;
    _Atomic int64_t n_tasks;
    atomic_int allowed;      /* workers 0 .. allowed - 1 take part */
    _Atomic int64_t done;    /* tasks finished in this job */
    atomic_int sleepers;     /* workers waiting on wake */
    atomic_int main_waiting; /* the caller waits on done_cv */
    _Atomic int64_t stat_jobs, stat_worker_tasks;
    atomic_int delay_us, delay_every;
    atomic_char asleep[FM_POOL_MAX_WORKERS]; /* which workers sleep (set and cleared under lock) */
    pthread_t threads[FM_POOL_MAX_WORKERS];  /* the workers (touched by the thread holding busy) */
#if defined(__linux__)
    /* place_sleeper: a worker woken off the caller's CPU, and the mask it takes back (under
     * lock) */
    char placed[FM_POOL_MAX_WORKERS];
    cpu_set_t restore[FM_POOL_MAX_WORKERS];
#endif
    _Atomic int64_t stat_placed;
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER,
          .done_cv = PTHREAD_COND_INITIALIZER};

static void test_delay(int64_t *claimed)
{
    const int every = atomic_load_explicit(&pool.delay_every, memory_order_relaxed);
    if (every > 0 && ++*claimed % every == 0) {
        const int us = atomic_load_explicit(&pool.delay_us, memory_order_relaxed);
        struct timespec ts = {us / 1000000, (long)(us % 1000000) * 1000};
        nanosleep(&ts, NULL);
    }
}

/* Claims and runs the tasks of generation gen until none is left, from the back for a worker,
 * from the front for the caller; returns the tasks run. */
static int64_t run_claimed(uint64_t gen, int is_worker, int64_t *claimed)
{
    int64_t ran = 0;
    for (;;) {
        uint64_t t = atomic_load(&pool.ticket);
        if (FM_POOL_GEN(t) != gen)
            break;
        const int64_t n = atomic_load_explicit(&pool.n_tasks, memory_order_relaxed);
        const fm_task_fn fn = atomic_load_explicit(&pool.fn, memory_order_relaxed);
        void *ctx = atomic_load_explicit(&pool.ctx, memory_order_relaxed);
        const uint32_t front = FM_POOL_FRONT(t), back = FM_POOL_BACK(t);
        if (front == FM_POOL_CLOSED) { /* the fields are being written: open in a moment */
            cpu_relax();
            continue;
        }
        if (front >= back)
            break;
        const int64_t task = is_worker ? (int64_t)back - 1 : (int64_t)front;
        const uint64_t next = is_worker ? t - 1 : t + ((uint64_t)1 << FM_POOL_TASK_BITS);
        /* Success means the ticket never left its value since it was read (within a
         * generation, the front only grows and the back only shrinks), so the fields read
         * above are this job's. */
        if (!atomic_compare_exchange_weak(&pool.ticket, &t, next))
            continue;
        if (is_worker)
            test_delay(claimed);
        fn(ctx, task);
        ran++;
        if (atomic_fetch_add(&pool.done, 1) + 1 == n && is_worker &&
            atomic_load(&pool.main_waiting)) {
            pthread_mutex_lock(&pool.lock);
            pthread_cond_signal(&pool.done_cv);
            pthread_mutex_unlock(&pool.lock);
        }
    }
    return ran;
}

/* ---- waking a worker off the caller's CPU ----
 * Linux may wake a sleeping worker on the CPU of the thread that wakes it when the other CPUs
 * look unavailable, as the idle vCPUs of a virtual machine do once the host has descheduled
 * them. There the worker can only take turns with the caller, which keeps the CPU until its time
 * slice ends: on a 2-vCPU guest, after an idle pause, a woken worker ran no task during 20
 * training batches (6 ms) of a small net while the caller did all the work, and the adaptive
 * choice, timing that, settled on one thread. So the caller, before it wakes a sleeping worker,
 * takes its own CPU out of the worker's affinity (when that leaves one: the user's mask is
 * otherwise kept), and the worker, once it runs, takes its mask back at once, leaving the
 * scheduler free to move it from then on. Two affinity calls per wake-up, which comes after at
 * least FM_POOL_SPIN_NS of idle spinning. */
#if defined(__linux__)
static int current_cpu(void)
{
    return sched_getcpu();
}

/* Called holding lock, for a sleeping worker w that the job being opened on `cpu` wakes. */
static void place_sleeper(int w, int cpu)
{
    cpu_set_t mask;
    if (pool.placed[w] || cpu < 0 || cpu >= CPU_SETSIZE ||
        pthread_getaffinity_np(pool.threads[w], sizeof mask, &mask) != 0 ||
        !CPU_ISSET(cpu, &mask) || CPU_COUNT(&mask) < 2)
        return;
    pool.restore[w] = mask;
    CPU_CLR(cpu, &mask);
    if (pthread_setaffinity_np(pool.threads[w], sizeof mask, &mask) == 0) {
        pool.placed[w] = 1;
        atomic_fetch_add_explicit(&pool.stat_placed, 1, memory_order_relaxed);
    }
}

typedef struct placement {
    int placed;
    cpu_set_t mask;
} placement;

/* Called holding lock by worker id as it leaves its sleep: what it takes back (take_back). */
static placement leave_placement(int id)
{
    placement p;
    p.placed = pool.placed[id];
    if (p.placed) {
        p.mask = pool.restore[id];
        pool.placed[id] = 0;
    }
    return p;
}

static void take_back(const placement *p)
{
    if (p->placed)
        (void)pthread_setaffinity_np(pthread_self(), sizeof p->mask, &p->mask);
}
#else
static int current_cpu(void)
{
    return -1;
}
static void place_sleeper(int w, int cpu)
{
    (void)w;
    (void)cpu;
}
typedef struct placement {
    int placed;
} placement;
static placement leave_placement(int id)
{
    (void)id;
    placement p = {0};
    return p;
}
static void take_back(const placement *p)
{
    (void)p;
}
#endif

typedef struct worker_start {
    int id;
    uint64_t gen; /* the generation it has seen: the job before the one it was started for */
} worker_start;
static worker_start starts[FM_POOL_MAX_WORKERS];

/* Whether the job of ticket t (open: fields written) takes worker id. */
static int takes_worker(uint64_t t, int id)
{
    return FM_POOL_FRONT(t) != FM_POOL_CLOSED &&
           id < atomic_load_explicit(&pool.allowed, memory_order_relaxed);
}

static void *worker_main(void *arg)
{
    const worker_start *start = (const worker_start *)arg;
    const int id = start->id;
    uint64_t seen = start->gen;
    int64_t claimed = 0;
    (void)fm_fpmode_enter(); /* workers only ever run the core: its mode for good */
    in_task = 1;
    /* A job that takes fewer threads than there are workers (a smaller product, a lower
     * threadpoolctl limit) leaves the ones past its count alone: they keep the spin they are in
     * and then sleep until a job takes them, rather than spinning anew after every job they
     * skip (with three threads' workers and two-thread jobs, the third thread spun through
     * every one-row prediction and took half of a core from the two that worked). */
    int64_t spin_start = 0;
    for (;;) {
        /* wait for the next job that takes this worker: spin a while, then sleep */
        uint64_t t;
        for (unsigned spins = 1;; spins++) {
            t = atomic_load(&pool.ticket);
            if (FM_POOL_GEN(t) != seen && FM_POOL_FRONT(t) != FM_POOL_CLOSED) {
                seen = FM_POOL_GEN(t);
                if (takes_worker(t, id))
                    break;
            }
            if (spins % 64 == 0) {
                const int64_t now = fm_now_ns();
                if (spin_start == 0) {
                    spin_start = now;
                } else if (now - spin_start > FM_POOL_SPIN_NS) {
                    pthread_mutex_lock(&pool.lock);
                    atomic_fetch_add(&pool.sleepers, 1);
                    atomic_store(&pool.asleep[id], 1);
                    for (;;) {
                        t = atomic_load(&pool.ticket);
                        if (FM_POOL_GEN(t) != seen && FM_POOL_FRONT(t) != FM_POOL_CLOSED) {
                            seen = FM_POOL_GEN(t);
                            if (takes_worker(t, id))
                                break;
                        }
                        pthread_cond_wait(&pool.wake, &pool.lock);
                    }
                    atomic_store(&pool.asleep[id], 0);
                    atomic_fetch_sub(&pool.sleepers, 1);
                    const placement back = leave_placement(id);
                    pthread_mutex_unlock(&pool.lock);
                    take_back(&back);
                    break; /* woken by a job that takes it */
                }
            }
            cpu_relax();
        }
        spin_start = 0;
        const int64_t ran = run_claimed(seen, 1, &claimed);
        atomic_fetch_add_explicit(&pool.stat_worker_tasks, ran, memory_order_relaxed);
    }
    return NULL;
}

/* A forked child has only the thread that forked: it starts over with no workers. */
static void after_fork_child(void)
{
    pthread_mutex_init(&pool.lock, NULL);
    pthread_cond_init(&pool.wake, NULL);
    pthread_cond_init(&pool.done_cv, NULL);
    pool.n_workers = 0;
    atomic_store(&pool.busy, 0);
    atomic_store(&pool.sleepers, 0);
    for (int w = 0; w < FM_POOL_MAX_WORKERS; w++) {
        atomic_store(&pool.asleep[w], 0);
#if defined(__linux__)
        pool.placed[w] = 0;
#endif
    }
    atomic_store(&pool.main_waiting, 0);
    in_task = 0;
}

static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static void register_fork_handler(void)
{
    pthread_atfork(NULL, NULL, after_fork_child);
}

/* Starts workers until there are `wanted` (called holding busy); returns how many there are. */
static int ensure_workers(int wanted, uint64_t gen)
{
    pthread_once(&fork_once, register_fork_handler);
    if (wanted > FM_POOL_MAX_WORKERS)
        wanted = FM_POOL_MAX_WORKERS;
    while (pool.n_workers < wanted) {
        pthread_attr_t attr;
        pthread_t thread;
        worker_start *s = &starts[pool.n_workers];
        s->id = pool.n_workers;
        s->gen = gen;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        const int err = pthread_create(&thread, &attr, worker_main, s);
        pthread_attr_destroy(&attr);
        if (err)
            break; /* fewer threads: slower, the same results */
        pool.threads[pool.n_workers] = thread;
        pool.n_workers++;
    }
    return pool.n_workers;
}

void fm_pool_run(int64_t n_tasks, int threads, fm_task_fn fn, void *ctx)
{
    if (n_tasks <= 0)
        return;
    if (thread_cap > 0 && threads > thread_cap)
        threads = thread_cap;
    if (threads > n_tasks)
        threads = (int)n_tasks;
    if (threads <= 1 || in_task || n_tasks >= FM_POOL_CLOSED || atomic_exchange(&pool.busy, 1)) {
        for (int64_t task = 0; task < n_tasks; task++)
            fn(ctx, task);
        return;
    }
    const uint64_t last = FM_POOL_GEN(atomic_load(&pool.ticket));
    const uint64_t gen = (last + 1) & FM_POOL_GEN_MASK;
    atomic_store(&pool.ticket, FM_POOL_TICKET(gen, FM_POOL_CLOSED, 0));
    const int workers = ensure_workers(threads - 1, last);
    atomic_store_explicit(&pool.fn, fn, memory_order_relaxed);
    atomic_store_explicit(&pool.ctx, ctx, memory_order_relaxed);
    atomic_store_explicit(&pool.n_tasks, n_tasks, memory_order_relaxed);
    atomic_store_explicit(&pool.allowed, workers < threads - 1 ? workers : threads - 1,
                          memory_order_relaxed);
    atomic_store(&pool.done, 0);
    atomic_store(&pool.ticket, FM_POOL_TICKET(gen, 0, n_tasks)); /* publishes the fields */
    if (atomic_load(&pool.sleepers) > 0) {
        /* wake the sleepers only when this job takes one of them */
        const int allowed = atomic_load_explicit(&pool.allowed, memory_order_relaxed);
        int wanted = 0;
        for (int w = 0; w < allowed && !wanted; w++)
            wanted = atomic_load(&pool.asleep[w]);
        if (wanted) {
            thread_wakes++;
            const int cpu = current_cpu();
            pthread_mutex_lock(&pool.lock);
            for (int w = 0; w < allowed; w++)
                if (atomic_load(&pool.asleep[w]))
                    place_sleeper(w, cpu);
            pthread_cond_broadcast(&pool.wake);
            pthread_mutex_unlock(&pool.lock);
        }
    }
    in_task = 1;
    run_claimed(gen, 0, NULL);
    in_task = 0;
    /* Wait for the tasks other threads are running: briefly spinning, then asleep. */
    int64_t spin_start = 0;
    for (unsigned spins = 1; atomic_load(&pool.done) < n_tasks; spins++) {
        if (spins % 64 == 0) {
            const int64_t now = fm_now_ns();
            if (spin_start == 0) {
                spin_start = now;
            } else if (now - spin_start > FM_POOL_WAIT_SPIN_NS) {
                pthread_mutex_lock(&pool.lock);
                atomic_store(&pool.main_waiting, 1);
                while (atomic_load(&pool.done) < n_tasks)
                    pthread_cond_wait(&pool.done_cv, &pool.lock);
                atomic_store(&pool.main_waiting, 0);
                pthread_mutex_unlock(&pool.lock);
                break;
            }
        }
        cpu_relax();
    }
    atomic_fetch_add_explicit(&pool.stat_jobs, 1, memory_order_relaxed);
    atomic_store(&pool.busy, 0);
}

void fm_pool_stats(int64_t *jobs, int64_t *worker_tasks, int *workers, int64_t *placed)
{
    *jobs = atomic_load(&pool.stat_jobs);
    *worker_tasks = atomic_load(&pool.stat_worker_tasks);
    *workers = pool.n_workers;
    *placed = atomic_load(&pool.stat_placed);
}

void fm_pool_test_delay(int us, int every)
{
    atomic_store(&pool.delay_us, us < 0 ? 0 : us);
    atomic_store(&pool.delay_every, every < 0 ? 0 : every);
}

#else /* no pool: every job on the calling thread */

void fm_pool_run(int64_t n_tasks, int threads, fm_task_fn fn, void *ctx)
{
    (void)threads;
    for (int64_t task = 0; task < n_tasks; task++)
        fn(ctx, task);
}

void fm_pool_stats(int64_t *jobs, int64_t *worker_tasks, int *workers, int64_t *placed)
{
    *jobs = 0;
    *worker_tasks = 0;
    *workers = 0;
    *placed = 0;
}

void fm_pool_test_delay(int us, int every)
{
    (void)us;
    (void)every;
}

#endif

/* ---- adaptive thread counts ---- */

#define FM_ADAPT_SLOTS 16
/* The candidate that is not the best is tried (two choices in a row: the first pays for the
 * switch) after FM_ADAPT_EXPLORE choices, then after twice as many each time it loses again, up
 * to FM_ADAPT_EXPLORE_MAX: on a busy machine a threaded batch can wait out a descheduled
 * worker's time slice, and trying it often would cost more than it finds. */
#define FM_ADAPT_EXPLORE 16
#define FM_ADAPT_EXPLORE_MAX 1024
/* Fair timings an exploration takes: its estimate is their median (of two, their mean), which
 * one interrupted timing does not move and which, unlike their minimum, is not biased below the
 * running mean that the option in use is judged by (against which the minimum of two had made
 * one thread look 10-15% faster than it is, and win a third of a small net's batches). */
#define FM_ADAPT_EXPLORE_FAIR 3
/* Stalls: the time that the estimate leaves out (fm_adapt_record) is charged to its option as a
 * mean over about this many of its timings. On a busy machine threaded batches wait for workers that
 * were descheduled (a time slice: milliseconds, against tens of microseconds a batch) or that
 * slept meanwhile: with two or three competing processes on two cores, a small net's threaded
 * batches took 270 us on average and one thread's 125 us, while the fair timings alone (5 in 6
 * threaded batches had woken a worker) put the threaded ones at 121 us. */
#define FM_ADAPT_STALL_WINDOW 64.0
/* The estimate of the option in use moves 1/FM_ADAPT_EST_WINDOW of the way to each fair timing,
 * counted at most FM_ADAPT_CAP times the estimate: a lone slow batch (the first after a pause,
 * with its data out of the caches, took 2-3 times the others) must not undo a lead of 20-30%. */
#define FM_ADAPT_EST_WINDOW 8.0
#define FM_ADAPT_CAP 1.5

typedef struct adapt_slot {
    uint64_t key;
    int used;
    double est[2];  /* ns per unit of work: one thread, all threads */
    int64_t n[2];   /* fair measurements of each */
    int64_t n_woke[2]; /* woken ones, which stand in while there is no fair one */
    double any[2];  /* the last timing of each, fair or not (a wake-up in it) */
    double stall[2]; /* the stalls' cost per unit of work (FM_ADAPT_STALL_WINDOW) */
    int64_t tries[2]; /* choices of each while it had fewer than two fair timings */
    int64_t choices;
    int64_t interval, next_explore; /* exploration schedule */
    int explore_left, explore_option, explored, explore_tries;
    int explore_fair; /* fair timings the current exploration has had */
    double explore_x[FM_ADAPT_EXPLORE_FAIR]; /* and their values */
    int explore_timed;     /* its timings (fair or woken) */
    double explore_excess; /* and their stalls' sum */
    int last_best;    /* the option judged best at the previous choice (-1: none yet) */
    int64_t best_since; /* the choice at which it became the best */
    int last_option; /* of the previous choice (-1: none) */
    int64_t last;   /* for replacing the least recently used entry */
} adapt_slot;

static adapt_slot adapt_table[FM_ADAPT_SLOTS];
static int64_t adapt_clock;
static atomic_int adapt_off; /* fm_adapt_enable(0): every choice is all the threads allowed */

void fm_adapt_enable(int on)
{
    atomic_store(&adapt_off, !on);
}
#ifdef FM_HAVE_POOL
static pthread_mutex_t adapt_lock = PTHREAD_MUTEX_INITIALIZER;
#define ADAPT_LOCK() pthread_mutex_lock(&adapt_lock)
#define ADAPT_UNLOCK() pthread_mutex_unlock(&adapt_lock)
#else
#define ADAPT_LOCK() ((void)0)
#define ADAPT_UNLOCK() ((void)0)
#endif

static int adapt_find(uint64_t key)
{
    for (int i = 0; i < FM_ADAPT_SLOTS; i++)
        if (adapt_table[i].used && adapt_table[i].key == key)
            return i;
    return -1;
}

/* A timing as the estimate takes it: at most FM_ADAPT_CAP times the estimate e (the rest is
 * charged as stalls). */
static double adapt_cap(double x, double e)
{
    return x < FM_ADAPT_CAP * e ? x : FM_ADAPT_CAP * e;
}

/* The median of x[0 .. k), k = 1, 2 or 3 (of two: their mean). */
static double adapt_median(const double *x, int k)
{
    if (k == 1)
        return x[0];
    if (k == 2)
        return 0.5 * (x[0] + x[1]);
    const double lo = x[0] < x[1] ? x[0] : x[1], hi = x[0] < x[1] ? x[1] : x[0];
    return x[2] < lo ? lo : x[2] > hi ? hi : x[2];
}

fm_adapt_choice fm_adapt_choose(uint64_t key)
{
    return fm_adapt_choose_gain(key, 1.0);
}

fm_adapt_choice fm_adapt_choose_gain(uint64_t key, double gain)
{
    fm_adapt_choice c = {key, -1, 0, 1, 0, 0, 0, 0};
    const int threads = fm_pool_threads();
    if (threads <= 1)
        return c;
    if (atomic_load(&adapt_off)) {
        c.threads = threads;
        c.option = 1;
        return c;
    }
    ADAPT_LOCK();
    int s = adapt_find(key);
    if (s < 0) {
        s = 0;
        for (int i = 1; i < FM_ADAPT_SLOTS; i++)
            if (!adapt_table[i].used ||
                (adapt_table[s].used && adapt_table[i].last < adapt_table[s].last))
                s = i;
        adapt_slot fresh;
        memset(&fresh, 0, sizeof(fresh));
        fresh.key = key;
        fresh.used = 1;
        fresh.interval = fresh.next_explore = FM_ADAPT_EXPLORE;
        fresh.last_best = fresh.last_option = -1;
        adapt_table[s] = fresh;
    }
    adapt_slot *a = &adapt_table[s];
    a->last = ++adapt_clock;
    /* All threads first (no calibration before the first fit), then one, until each has two
     * timings; then the faster, and now and then the other (FM_ADAPT_EXPLORE). Only a choice
     * that repeats the previous one is timed: the first after a switch pays for the switch
     * (workers woken from sleep, caches moved), not for the option. */
    int option;
    /* (a few tries each: on a loaded machine every threaded timing may include a wake-up) */
    if (a->n[1] < 2 && a->tries[1] < 6) {
        option = 1;
        a->tries[1]++;
    } else if (a->n[0] < 2 && a->tries[0] < 6) {
        option = 0;
        a->tries[0]++;
    } else if (a->explore_left > 0) {
        option = a->explore_option;
        a->explore_left--;
        c.exploring = 1; /* the timed one of the two */
    } else {
        /* an option without a timing of the estimate's is judged by its last one; stalls count */
        const double e0 = a->n[0] || a->n_woke[0] ? a->est[0] + a->stall[0] : a->any[0];
        const double e1 = a->n[1] || a->n_woke[1] ? a->est[1] + a->stall[1] : a->any[1];
        const int best = e1 > 0 && (e0 <= 0 || e1 < gain * e0) ? 1 : 0;
        const int64_t doubled =
            2 * a->interval < FM_ADAPT_EXPLORE_MAX ? 2 * a->interval : FM_ADAPT_EXPLORE_MAX;
        if (a->explored) { /* an exploration just ended: back off while the other keeps losing */
            if (best != a->explore_option)
                a->interval = doubled;
            a->explored = 0;
        } else if (a->last_best >= 0 && best != a->last_best) {
            /* the option in use lost its lead to its own timings: after a long use (the
             * machine's load changed, or an outlier) check the other one again soon; soon after
             * an exploration chose it (a lucky run of timings on a busy machine) back off as if
             * the exploration had lost */
            a->interval = a->choices - a->best_since < 4 * FM_ADAPT_EXPLORE ? doubled
                                                                           : FM_ADAPT_EXPLORE;
            a->next_explore = a->choices + a->interval;
        }
        if (best != a->last_best)
            a->best_since = a->choices;
        a->last_best = best;
        option = best;
        if (a->choices >= a->next_explore) {
            option = a->explore_option = !best;
            a->explore_left = 1;
            a->explore_tries = 0;
            a->explore_fair = 0;
            a->explore_timed = 0;
            a->explore_excess = 0;
            a->explored = 1;
            a->next_explore = a->choices + a->interval;
        }
    }
    c.warm = a->last_option == option;
    c.wakes = thread_wakes;
    a->last_option = option;
    a->choices++;
    ADAPT_UNLOCK();
    c.slot = s;
    c.option = option;
    c.threads = option ? threads : 1;
    c.start_ns = fm_now_ns();
    return c;
}

static void adapt_update(fm_adapt_choice c, double x, int woke);

void fm_adapt_record(fm_adapt_choice c, double units)
{
    if (c.slot < 0 || !(units > 0))
        return;
    adapt_update(c, (double)(fm_now_ns() - c.start_ns) / units, thread_wakes != c.wakes);
}

void fm_adapt_test_record(fm_adapt_choice c, double x, int woke)
{
    if (c.slot >= 0)
        adapt_update(c, x, woke);
}

/* Adds timing x (ns per unit of work) of choice c, whose jobs woke sleeping workers if woke. */
static void adapt_update(fm_adapt_choice c, double x, int woke)
{
    const int fair = c.warm && !woke;
    ADAPT_LOCK();
    adapt_slot *a = &adapt_table[c.slot];
    if (!a->used || a->key != c.key) {
        ADAPT_UNLOCK();
        return;
    }
    const int o = c.option;
    a->any[o] = x;
    /* The estimate takes fair timings only: not the first choice after the other option (it
     * pays for the switch: the exploration's cost), nor one whose jobs woke sleeping workers.
     * An exploration's fair timings replace it (the old one is as old as the last exploration,
     * and the machine's load may have changed since) by their median (adapt_median: one
     * interrupted or preempted timing would otherwise keep the option out for a whole
     * exploration interval); the fair timings of the choice in use move it a quarter of the
     * way, each counted at most twice the estimate (a lone outlier moves it a quarter, a
     * changed load in a few steps). */
    if (c.exploring && fair && a->explore_fair < FM_ADAPT_EXPLORE_FAIR) {
        const int k = a->explore_fair++;
        a->explore_x[k] = x;
        a->est[o] = adapt_median(a->explore_x, k + 1);
        a->n[o]++;
        if (k + 1 < FM_ADAPT_EXPLORE_FAIR)
            a->explore_left = 1; /* one more fair timing of the explored option */
    } else if (c.exploring && !fair && ++a->explore_tries < 4) {
        a->explore_left = 1; /* not a fair timing: the exploration goes on (up to 4 tries) */
    } else if (!c.exploring && fair) {
        const double e = a->est[o];
        a->est[o] = a->n[o]++ == 0 ? x : e + (adapt_cap(x, e) - e) / FM_ADAPT_EST_WINDOW;
    }
    if (c.warm && woke && a->n[o] == 0) {
        /* no fair timing yet: the woken ones stand in (on a busy machine a threaded option may
         * never have another kind) */
        const double e = a->est[o];
        a->est[o] = a->n_woke[o]++ == 0 ? x : e + (adapt_cap(x, e) - e) / FM_ADAPT_EST_WINDOW;
    }
    /* What the estimate leaves out is charged as stalls (FM_ADAPT_STALL_WINDOW): a timing that
     * woke workers beyond the estimate of fair ones, another beyond the twice the estimate it
     * counts at most; not a switch. An exploration's timings replace the charge by their mean. */
    if (c.warm && (a->n[o] > 0 || a->n_woke[o] > 0)) {
        const double typical = (woke && a->n[o] > 0 ? 1 : FM_ADAPT_CAP) * a->est[o];
        const double excess = x > typical ? x - typical : 0;
        if (c.exploring) {
            a->explore_excess += excess;
            a->stall[o] = a->explore_excess / ++a->explore_timed;
        } else {
            a->stall[o] += (excess - a->stall[o]) / FM_ADAPT_STALL_WINDOW;
        }
    }
    ADAPT_UNLOCK();
}

int fm_adapt_peek(uint64_t key, double *one, double *all, int64_t *choices)
{
    ADAPT_LOCK();
    const int s = adapt_find(key);
    if (s >= 0) {
        *one = adapt_table[s].est[0];
        *all = adapt_table[s].est[1];
        *choices = adapt_table[s].choices;
    }
    ADAPT_UNLOCK();
    return s >= 0;
}

void fm_adapt_reset(void)
{
    ADAPT_LOCK();
    for (int i = 0; i < FM_ADAPT_SLOTS; i++)
        adapt_table[i].used = 0;
    ADAPT_UNLOCK();
}
