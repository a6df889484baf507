/* fastmlp C core: helpers shared by the implementation files (not part of the interface). */
#ifndef FASTMLP_INTERNAL_H
#define FASTMLP_INTERNAL_H

#include "fastmlp.h"

#ifdef _OPENMP
#include <omp.h>
#endif
#include <stdint.h>

#include "pool.h"

/* Name pasting for the per-instruction-set, per-precision instances (a_b_c, a_b), with the
 * arguments expanded first. */
#define FM_CAT3(a, b, c) a##_##b##_##c
#define FM_XCAT3(a, b, c) FM_CAT3(a, b, c)
#define FM_CAT2(a, b) a##_##b
#define FM_XCAT2(a, b) FM_CAT2(a, b)

/* Work below which a job runs on the calling thread: handing tasks to the pool's workers costs
 * a fraction of a microsecond when they are spinning and several when they sleep, and a product
 * split between cores leaves its parts in two private caches for the code that reads it next.
 * FM_PAR_MIN_WORK counts GEMM multiply-adds per thread: a GEMM runs on at most
 * work / min_work threads (fm_team_size). FM_PAR_MIN_ELEMS counts elementwise operations. */
#define FM_PAR_MIN_WORK 131072
#define FM_PAR_MIN_ELEMS 32768

/* Threads for a GEMM of `work` multiply-adds: the pool's limit (OMP_NUM_THREADS,
 * threadpoolctl, the adaptive choice), fewer when the work is too small to share (below
 * min_work per thread); 1 runs it on the calling thread. Results do not depend on it. */
static inline int fm_team_size(double work, double min_work)
{
    const double fit = work / min_work;
    if (fit < 2)
        return 1;
    const int limit = fm_pool_threads();
    return fit >= limit ? limit : (int)fit;
}

/* Runs fn(ctx, task) for every task in [0, n_tasks): shared among the pool's threads when par
 * is nonzero, in a plain loop otherwise. */
static inline void fm_parallel(int par, int64_t n_tasks, fm_task_fn fn, void *ctx)
{
    if (par && n_tasks > 1) {
        fm_pool_run(n_tasks, fm_pool_threads(), fn, ctx);
    } else {
        for (int64_t task = 0; task < n_tasks; task++)
            fn(ctx, task);
    }
}

/* The core's floating-point mode: subnormal results flushed to zero and subnormal inputs read
 * as zero (x86 MXCSR FTZ and DAZ). On x86 every arithmetic instruction that meets a subnormal
 * (below 1.2e-38 in float32) takes a microcode assist of about a hundred cycles; a few dozen
 * weights that Adam and the L2 penalty drive into that range made tabular epochs five times
 * slower on an Intel Xeon. The public entry points (dispatch.c) enter the mode on the calling
 * thread and the pool's workers enter it when they start, so all threads compute
 * alike and results stay bitwise identical for any thread count; the caller's mode is restored
 * on the way out (numpy and the rest of the process keep IEEE subnormals); the pool's workers
 * stay in it (they only run the core). AArch64 has the same mode (FPCR.FZ); elsewhere a no-op. */
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
#elif defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
/* AArch64: FPCR.FZ flushes subnormal operands and results to zero, as FTZ + DAZ do on x86, so
 * that both compute the same bits (they differ only for a result that rounds up to the smallest
 * normal number: x86 keeps it, AArch64 flushes it). */
#define FM_FPCR_FZ ((uint64_t)1 << 24)
static inline unsigned fm_fpmode_enter(void)
{
    uint64_t fpcr;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(fpcr));
    if (!(fpcr & FM_FPCR_FZ))
        __asm__ __volatile__("msr fpcr, %0" : : "r"(fpcr | FM_FPCR_FZ));
    return (unsigned)fpcr; /* FPCR's upper half is reserved (zero) */
}
static inline void fm_fpmode_leave(unsigned saved)
{
    if (!(saved & FM_FPCR_FZ)) {
        const uint64_t fpcr = saved;
        __asm__ __volatile__("msr fpcr, %0" : : "r"(fpcr));
    }
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

/* GEMM blocking (gemm/gemm_impl.h): KC x NC panels of B are packed, MR x KC slivers of A by the
 * task that uses them (on its stack); the register tile (MR x NR) is chosen per instruction set
 * in gemm/gemm_<isa>.c. A KC x NR sliver of B stays in L1. NC is a multiple of every NR
 * (8 .. 32). */
#define FM_GEMM_KC 256
#define FM_GEMM_NC 2048
/* Operands up to this size whose layout allows it are read by the microkernel in place, without
 * packing (the small nets' GEMMs, where packing would cost as much as the arithmetic): they stay
 * in L2. Larger ones are packed, keeping each sliver contiguous in L1 (rows a large power-of-two
 * stride apart would compete for a few cache sets), except a row-major A, whose MR rows the
 * kernel_rows microkernels read in place at any size (gemm/gemm_impl.h). */
#define FM_GEMM_DIRECT_BYTES 131072
/* The tallest register tile (MR) of any instruction set's kernels, either precision. */
#define FM_PREDICT_MR_MAX 12
/* How a GEMM reads A in place (gemm/gemm_impl.h): as columns (op(A) column-major) or as rows. */
enum fm_direct_a { FM_DIRECT_COLUMNS = 1, FM_DIRECT_ROWS = 2 };
/* A function the compiler keeps out of line: inlining the GEMM's tile step into each of its
 * loops measured up to 25% slower (register pressure in the surrounding loop). */
#if defined(__GNUC__) || defined(__clang__)
#define FM_NOINLINE __attribute__((noinline))
#else
#define FM_NOINLINE
#endif

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
    void *gbuf;         /* a general layer's output gradient, before its backward pass: rows
                         * gbuf_width apart (a row block's rows r0 onwards start at
                         * r0 * gbuf_width, whichever layer it is at) */
    int64_t gbuf_width; /* the widest hidden layer's units */
    void *ybatch;       /* gathered targets */
    void *swbatch;      /* gathered sample weights */
    void *grad;         /* n_params gradient values */
    void *pack;         /* GEMM packing scratch */
    double *partials;   /* per-chunk sums of squared weights (deterministic L2 term): */
    int64_t n_partials; /* 2 x n_partials: chunks of all parameters, or of each layer's weights */
    void *bn_running;   /* a batch's updated batch-norm running statistics, kept once the batch
                         * is accepted (the parameters' block from fm_bn_offset(net, 0, 2)) */
    double *row_stats;  /* 2 x max_rows: each row's loss and score, summed in row order */
    void *block_grads;  /* row blocks (fm_row_blocks): a gradient of n_params values for each
                         * block but the first (which writes grad), or NULL */
    void *block_pack;   /* row blocks: GEMM packing scratch of block_pack_elems per block */
    int64_t block_pack_elems;
    int64_t block_grad_stride; /* elements from one block's gradient to the next */
    int64_t max_blocks; /* fm_row_blocks of max_rows (0 or 1: the network's batches are whole) */
    void *block;        /* the single allocation everything above points into */
    int matmul_precision; /* the network's (fm_net), which sized pack */
};

/* ---- data parallelism over fixed row blocks ----
 * Small networks' products are too small to share among threads (each would take a sliver of
 * a few microseconds, and the pieces of one product would sit in two private caches for the
 * next). Their training batches are cut instead into row blocks, each taken through forward
 * pass, loss and backward pass by one task into its own rows of the workspace and its own
 * partial gradient; the partial gradients are then added in block order. The blocks' number
 * and boundaries depend only on the batch's rows and the network (never on threads or load),
 * so results are bitwise identical for any thread count. A batch of one block computes what
 * the whole-batch path computes. The rule: float32 products (the bfloat16 ones pack whole
 * batches), no batch norm (it needs whole-batch statistics), at most FM_ROW_BLOCKS_MAX_PARAMS
 * parameters (larger nets share each product's output tiles among threads instead, and every
 * block would read all the weights), blocks of at least FM_ROW_BLOCKS_MIN_ROWS rows, at most
 * FM_ROW_BLOCKS_MAX of them, each but the last the same multiple of FM_ROW_BLOCKS_ALIGN rows
 * (whole register tiles: the batch of 200 is 48 + 48 + 48 + 56, as 200 whole is 16 tiles of 12
 * rows and one of 8 on AVX-512), the last one the rest. */
#define FM_ROW_BLOCKS_MAX_PARAMS 65536
#define FM_ROW_BLOCKS_MIN_ROWS 32
#define FM_ROW_BLOCKS_MAX 4
#define FM_ROW_BLOCKS_ALIGN 4
/* The adaptive choice takes all the threads for batches in row blocks only when their timings
 * are below this fraction of one thread's: a block is a quarter of a batch, and a worker that
 * the operating system deschedules while it holds one makes the batch wait for it (timings
 * that woke sleeping workers are not kept, so a busy machine's worst batches are not in the
 * estimate). */
#define FM_ROW_BLOCKS_GAIN 0.8

/* Number of row blocks of a training batch of `rows` rows of the network (1: not cut), and the
 * rows of each block but the last (*block_rows, may be NULL). */
static inline int64_t fm_row_blocks(const fm_net *net, int64_t n_params, int64_t rows,
                                    int64_t *block_rows)
{
    if (block_rows != NULL)
        *block_rows = rows;
    if (net->matmul_precision != FM_MATMUL_FLOAT32 || net->batch_norm ||
        n_params > FM_ROW_BLOCKS_MAX_PARAMS || rows < 2 * FM_ROW_BLOCKS_MIN_ROWS)
        return 1;
    int64_t n = rows / FM_ROW_BLOCKS_MIN_ROWS;
    n = n < FM_ROW_BLOCKS_MAX ? n : FM_ROW_BLOCKS_MAX;
    if (block_rows != NULL) /* rounded down: the last block takes the rest */
        *block_rows = rows / n / FM_ROW_BLOCKS_ALIGN * FM_ROW_BLOCKS_ALIGN;
    return n;
}

/* Bytes of packing space the bfloat16 products of a network's batch of `rows` rows need (the
 * largest of its layers' three products: forward, weight gradient, input gradient). */
size_t fm_bf16_net_pack_bytes(const fm_net *net, int64_t rows);

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

/* What sets a network's cost per row, as one number: its widths, activations, loss, maxout
 * pieces, batch norm, which layers have dropout and its matmul precision. Two networks of the
 * same parameter count may differ in all of these (a bfloat16 model and a float32 model of one
 * shape: one's batches take twice the other's, and gain nothing from a second thread where the
 * other gains 1.7x), so the adaptive choice keeps them apart. */
static inline uint64_t fm_net_key(const fm_net *net)
{
    uint64_t h = fm_mix64((uint64_t)net->n_layers ^ (uint64_t)net->matmul_precision << 8 ^
                          (uint64_t)net->hidden_activation << 16 ^
                          (uint64_t)net->output_activation << 24 ^ (uint64_t)net->loss << 32 ^
                          (uint64_t)net->maxout_pieces << 40 ^ (uint64_t)(net->batch_norm != 0)
                                                                   << 56);
    for (int l = 0; l <= net->n_layers; l++)
        h = fm_mix64(h ^ (uint64_t)net->units[l]);
    for (int l = 0; net->dropout != NULL && l < net->n_layers - 1; l++)
        if (net->dropout[l] > 0)
            h = fm_mix64(h ^ 0x9e3779b97f4a7c15ULL * (uint64_t)(l + 1));
    return h;
}

/* Key of the adaptive thread choice (pool.h) for a kind of work: training batches of `rows` rows
 * (train = 1) or predictions of about `rows` rows (train = 0: fm_rows_bucket of the count) of
 * the network of key net_key (fm_net_key) in one precision; train = 2: fm_all_finite's pass over
 * about `rows` bytes (net_key 0). */
static inline uint64_t fm_work_key(int train, uint64_t net_key, int64_t rows, size_t elem_size)
{
    return fm_mix64(net_key * 0x9e3779b97f4a7c15ULL ^ (uint64_t)rows << 8 ^
                    (uint64_t)train << 1 ^ (uint64_t)(elem_size == 8));
}
static inline int64_t fm_rows_bucket(int64_t rows)
{
    int64_t bits = 0;
    while (bits < 62 && ((int64_t)1 << bits) < rows)
        bits++;
    return bits;
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
/* Uniform integer in [0, bound) from one 64-bit draw: Lemire's multiply-shift, the high 32
 * bits of draw scaled to [0, bound); a modulo for bounds past 2^32, where its bias
 * (< bound / 2^64) does not matter. */
static inline uint64_t fm_rng_below(uint64_t draw, uint64_t bound)
{
    if (bound >> 32)
        return draw % bound;
    return ((draw >> 32) * bound) >> 32;
}

#endif
