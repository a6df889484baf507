/* fastmlp C core: helpers shared by the implementation files (not part of the interface). */
#ifndef FASTMLP_INTERNAL_H
#define FASTMLP_INTERNAL_H

#include "fastmlp.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Work below which a loop runs on one thread: an OpenMP fork/join and its barriers cost several
 * microseconds (far more when cores are busy with other processes), more than small loops take,
 * and a product split between cores leaves its halves in two private caches for the serial code
 * that reads it next. FM_PAR_MIN_WORK counts GEMM multiply-adds per thread for an AVX2 core; a
 * GEMM runs on at most work / min_work threads (fm_team_size), so that each thread's share pays
 * for its part of the fork and the barriers. Whether that holds for the 1.3M-multiply-add
 * products of a 64-100-10 net depends on the machine (on an AVX-512 Xeon they ran slower on two
 * threads than on one, on a Zen 5 faster), so each instruction set's min_work is FM_PAR_MIN_WORK
 * or 4x it, measured once at import (fm_isa_calibrate, gemm_instances.h).
 * FM_PAR_MIN_ELEMS counts elementwise operations. */
#define FM_PAR_MIN_WORK 524288
#define FM_PAR_MIN_ELEMS 65536

/* Fork safety. GNU OpenMP's thread pool does not survive fork(): a child forked after the parent
 * has run a parallel region waits forever in its own first one. fm_threads_started is set
 * (fm_note_threads) before every parallel region; fm_after_fork_child (dispatch.c, called in a
 * forked child) sets fm_serial_only when it was, and from then on every loop and product of
 * that process runs on the calling thread: the child trains, slower, instead of hanging, with
 * the same results (they never depend on the thread count). */
extern int fm_threads_started;
extern int fm_serial_only;
static inline void fm_note_threads(void)
{
#if defined(__GNUC__)
    __atomic_store_n(&fm_threads_started, 1, __ATOMIC_RELAXED);
#else
    fm_threads_started = 1;
#endif
}

/* Threads for a GEMM of `work` multiply-adds: OpenMP's limit (OMP_NUM_THREADS, threadpoolctl),
 * fewer when the work is too small to share (below min_work per thread); 1 runs it on the
 * calling thread. Results do not depend on it. */
static inline int fm_team_size(double work, double min_work)
{
#ifdef _OPENMP
    if (fm_serial_only)
        return 1;
    const double fit = work / min_work;
    const int limit = omp_get_max_threads();
    return fit >= limit ? limit : (fit >= 2 ? (int)fit : 1);
#else
    (void)work;
    (void)min_work;
    return 1;
#endif
}

/* The core's floating-point mode: subnormal results flushed to zero and subnormal inputs read
 * as zero (x86 MXCSR FTZ and DAZ). On x86 every arithmetic instruction that meets a subnormal
 * (below 1.2e-38 in float32) takes a microcode assist of about a hundred cycles; a few dozen
 * weights that Adam and the L2 penalty drive into that range made tabular epochs five times
 * slower on an Intel Xeon. The public entry points (dispatch.c) enter the mode on the calling
 * thread and every parallel region enters it on each of its threads, so all threads compute
 * alike and results stay bitwise identical for any thread count; the caller's mode is restored
 * on the way out (numpy and the rest of the process keep IEEE subnormals). Elsewhere a no-op. */
#if defined(__SSE__) || defined(_M_X64)
#include <xmmintrin.h>
#define FM_MXCSR_FTZ_DAZ 0x8040u
static inline unsigned fm_fpmode_enter(void)
{
    const unsigned saved = _mm_getcsr();
    if ((saved & FM_MXCSR_FTZ_DAZ) != FM_MXCSR_FTZ_DAZ)
        _mm_setcsr(saved | FM_MXCSR_FTZ_DAZ);
    return saved;
}
static inline void fm_fpmode_leave(unsigned saved)
{
    if ((saved & FM_MXCSR_FTZ_DAZ) != FM_MXCSR_FTZ_DAZ)
        _mm_setcsr(saved);
}
#else
static inline unsigned fm_fpmode_enter(void)
{
    return 0;
}
static inline void fm_fpmode_leave(unsigned saved)
{
    (void)saved;
}
#endif

/* for (int64_t i = 0; i < n; i++) body, shared among the threads (static schedule) when par is
 * nonzero and a plain loop otherwise. The plain loop makes no OpenMP call: for a false
 * if-clause libgomp still builds a team of one, about half a microsecond of allocation and
 * barriers, which a small net would pay several times per batch. Each thread of the region
 * computes in the core's floating-point mode. */
#ifdef _OPENMP
#define FM_PARALLEL_FOR(par, i, n, ...)                                                          \
    do {                                                                                         \
        const int64_t fm_count_ = (n);                                                           \
        if ((par) && !fm_serial_only) {                                                          \
            fm_note_threads();                                                                   \
            _Pragma("omp parallel")                                                              \
            {                                                                                    \
                const unsigned fm_saved_mode_ = fm_fpmode_enter();                               \
                _Pragma("omp for schedule(static)")                                              \
                for (int64_t i = 0; i < fm_count_; i++) __VA_ARGS__                              \
                fm_fpmode_leave(fm_saved_mode_);                                                 \
            }                                                                                    \
        } else {                                                                                 \
            for (int64_t i = 0; i < fm_count_; i++) __VA_ARGS__                                  \
        }                                                                                        \
    } while (0)
#else
#define FM_PARALLEL_FOR(par, i, n, ...)                                                          \
    do {                                                                                         \
        const int64_t fm_count_ = (n);                                                           \
        (void)(par);                                                                             \
        for (int64_t i = 0; i < fm_count_; i++) __VA_ARGS__                                      \
    } while (0)
#endif

/* GEMM blocking (gemm/gemm_impl.h): KC x NC panels of B and MC x KC blocks of A are packed; the
 * register tile (MR x NR) is chosen per instruction set in gemm/gemm_<isa>.c. A KC x NR sliver of
 * B stays in L1, an MC x KC block of A in L2. MC is a multiple of every MR (4, 6, 12), NC of
 * every NR (8 .. 32). */
#define FM_GEMM_KC 256
#define FM_GEMM_MC 144
#define FM_GEMM_NC 2048
/* Operands up to this size whose layout allows it are read by the microkernel in place, without
 * packing (the small nets' GEMMs, where packing would cost as much as the arithmetic): they stay
 * in L2. Larger ones are packed, keeping each sliver contiguous in L1 (rows a large power-of-two
 * stride apart would compete for a few cache sets). */
#define FM_GEMM_DIRECT_BYTES 131072
/* How a GEMM reads A in place (gemm/gemm_impl.h): as columns (op(A) column-major) or as rows. */
enum fm_direct_a { FM_DIRECT_COLUMNS = 1, FM_DIRECT_ROWS = 2 };
/* A function the compiler keeps out of line: inlining the GEMM's tile step into each of its
 * loops measured up to 25% slower (register pressure in the surrounding loop). */
#if defined(__GNUC__) || defined(__clang__)
#define FM_NOINLINE __attribute__((noinline))
#else
#define FM_NOINLINE
#endif
/* How a team shares a GEMM's tiles (gemm/gemm_impl.h). */
enum fm_gemm_split { FM_SPLIT_BLOCKS = 0, FM_SPLIT_ROWS = 1, FM_SPLIT_SLIVERS = 2 };

/* What a GEMM does to each tile of C once it is final, while the tile is still in cache:
 * FM_EPI_BIAS_ACT: c = f(c + bias[col]) for f identity or relu (a dense layer's forward pass);
 * FM_EPI_DERIV:    c *= f'(.) expressed through z, the activation's output at the same position
 *                  (z[row * ldz + col]), for f identity, logistic, tanh or relu (backward);
 *                  for relu with dropout_scale != 0, z is the output after inverted dropout and
 *                  c = z == 0 ? 0 : c * dropout_scale covers both the mask and the derivative. */
enum fm_epilogue_kind { FM_EPI_NONE = 0, FM_EPI_BIAS_ACT = 1, FM_EPI_DERIV = 2 };
typedef struct fm_epilogue {
    int kind;
    int activation;   /* enum fm_activation */
    const void *bias; /* FM_EPI_BIAS_ACT: n values of the GEMM's precision */
    const void *z;    /* FM_EPI_DERIV: m x n values, row stride ldz */
    int64_t ldz;
    double dropout_scale; /* FM_EPI_DERIV with relu: 1 / (1 - rate) of inverted dropout, or 0 */
} fm_epilogue;

/* 64-byte aligned heap memory (for pack buffers allocated outside a workspace). */
void *fm_aligned_alloc(size_t bytes);
void fm_aligned_free(void *ptr);

/* Elements per chunk of the parameter passes: chunks are what threads share, and per-chunk
 * partial sums are added in chunk order, so sums do not depend on the thread count. */
#define FM_PARAM_CHUNK 8192

/* Chunk c of a flat parameter array: [*lo, *hi), whose weights (the array's first n_weights
 * values) end at *w_hi, clamped to [*lo, *hi]. */
static inline void fm_param_chunk(int64_t c, int64_t n_params, int64_t n_weights, int64_t *lo,
                                  int64_t *hi, int64_t *w_hi)
{
    *lo = c * FM_PARAM_CHUNK;
    *hi = *lo + FM_PARAM_CHUNK < n_params ? *lo + FM_PARAM_CHUNK : n_params;
    *w_hi = n_weights < *lo ? *lo : (n_weights > *hi ? *hi : n_weights);
}

struct fm_workspace {
    size_t elem_size;   /* sizeof(float) or sizeof(double) */
    int n_layers;
    int64_t max_rows;   /* the largest batch (or chunk) the buffers hold */
    int64_t n_params;
    void **acts;        /* acts[0]: gathered input batch; acts[l]: layer l's output, l = 1..L */
    void **deltas;      /* deltas[l], l = 1..L (deltas[0] unused): fm_dense_width(l - 1) wide */
    void **pre;         /* pre[l], l < L - 1, for general layers (fm_layer_general): the input
                         * of the activation (after batch norm); NULL for the others */
    void **bnx;         /* bnx[l]: batch norm's normalized values (x-hat), or NULL */
    void **bnstat;      /* bnstat[l]: the batch's means then 1 / sqrt(var + eps), or NULL */
    void **mask;        /* mask[l]: the dropout factors (0 or 1 / (1 - p)), or NULL */
    void *gbuf;         /* a general layer's output gradient, before its backward pass */
    void *ybatch;       /* gathered targets */
    void *swbatch;      /* gathered sample weights */
    void *grad;         /* n_params gradient values */
    void *pack;         /* GEMM packing scratch */
    double *partials;   /* per-chunk sums of squared weights (deterministic L2 term): */
    int64_t n_partials; /* 2 x n_partials: chunks of all parameters, or of each layer's weights */
    void *block;        /* the single allocation everything above points into */
};

/* Whether hidden layer l (l < n_layers - 1) takes the general path, which keeps the activation's
 * input for the backward pass: activations whose derivative is not a function of their output,
 * batch norm, dropout. The others fuse bias, activation and derivative into the GEMMs. */
static inline int fm_layer_dropout(const fm_net *net, int layer)
{
    return layer < net->n_layers - 1 && net->dropout != NULL && net->dropout[layer] > 0;
}
static inline int fm_layer_general(const fm_net *net, int layer)
{
    if (layer >= net->n_layers - 1)
        return 0;
    /* ReLU with dropout stays fused: a value is zero after both exactly when its gradient is */
    return net->hidden_activation > FM_ACT_EXP || net->batch_norm ||
           (fm_layer_dropout(net, layer) && net->hidden_activation != FM_ACT_RELU);
}

/* splitmix64's finalizer: a bijective 64-bit mixer with full avalanche. */
static inline uint64_t fm_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* The key of a (seed, stream) pair, and a draw from a key and a counter: fm_rng_u64 split in
 * two so that loops drawing many values of one stream compute the key once. */
static inline uint64_t fm_rng_key(uint64_t seed, uint64_t stream)
{
    return fm_mix64(seed + 0x9e3779b97f4a7c15ULL * (stream + 1));
}
static inline uint64_t fm_rng_draw(uint64_t key, uint64_t counter)
{
    return fm_mix64(fm_mix64(counter * 0xd1342543de82ef95ULL + key) ^ key);
}

/* 32 random bits for dropout from a 32-bit key and a 64-bit position: murmur3's 32-bit
 * finalizer over the folded position, cheap enough (32-bit multiplies) for the mask loops to
 * vectorize. */
static inline uint32_t fm_dropout_bits(uint32_t key, uint64_t position)
{
    uint32_t h = ((uint32_t)position ^ (uint32_t)(position >> 32) * 0x27d4eb2fU) * 0x9e3779b9U;
    h ^= key;
    h ^= h >> 16;
    h *= 0x85ebca6bU;
    h ^= h >> 13;
    h *= 0xc2b2ae35U;
    h ^= h >> 16;
    return h;
}

/* Counter-based random numbers: a 64-bit value from (seed, stream, counter), independent of the
 * order or thread in which it is drawn. */
uint64_t fm_rng_u64(uint64_t seed, uint64_t stream, uint64_t counter);
/* Uniform integer in [0, bound) from one 64-bit draw. */
uint64_t fm_rng_below(uint64_t draw, uint64_t bound);

#endif
