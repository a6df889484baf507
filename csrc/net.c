/* fastmlp C core: network bookkeeping and the workspace (the numerics are in net_impl.h,
 * compiled once per instruction set by net_<isa>.c). */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "gemm/bf16.h"

#define FM_ALIGN 64


/* Largest element count of one buffer (2^40): keeps every size computation far from overflow. */
#define FM_MAX_COUNT ((int64_t)1 << 40)

/* a * b, or -1 when it exceeds FM_MAX_COUNT (a, b >= 0). */
static int64_t checked_mul(int64_t a, int64_t b)
{
    if (a != 0 && b > FM_MAX_COUNT / a)
        return -1;
    return a * b;
}

/* The flat parameter count of a network whose widths and pieces are in range, computed with
 * checked products and sums; -1 when it exceeds FM_MAX_COUNT. */
static int64_t fm_param_count_checked(const fm_net *net)
{
    int64_t total = 0;
    for (int l = 0; l < net->n_layers; l++) {
        const int64_t width = l < net->n_layers - 1 && net->hidden_activation == FM_ACT_MAXOUT
                                  ? checked_mul(net->units[l + 1], net->maxout_pieces)
                                  : net->units[l + 1];
        const int64_t weights = width < 0 ? -1 : checked_mul(net->units[l], width);
        /* weights, biases; for hidden layers PReLU slopes and 4 batch-norm vectors */
        const int64_t extra = l < net->n_layers - 1 ? net->units[l + 1] + 4 * width : 0;
        if (weights < 0 || extra < 0)
            return -1;
        total += weights + width + extra;
        if (total > FM_MAX_COUNT)
            return -1;
    }
    return total;
}

int fm_net_check(const fm_net *net)
{
    if (net == NULL || net->n_layers < 1 || net->units == NULL || !(net->alpha >= 0) ||
        !(net->alpha_l1 >= 0) || net->maxout_pieces < 1 || net->maxout_pieces > 1024 ||
        !(net->bn_momentum >= 0 && net->bn_momentum <= 1) || !(net->bn_eps > 0) ||
        (net->matmul_precision != FM_MATMUL_FLOAT32 && net->matmul_precision != FM_MATMUL_BFLOAT16))
        return FM_ERR_ARG;
    for (int l = 0; l <= net->n_layers; l++)
        if (net->units[l] < 1 || net->units[l] > INT32_MAX)
            return FM_ERR_ARG;
    /* Every size the core computes is at most the parameter count (or a workspace buffer,
     * checked there): bounded here, with checked products, all later arithmetic is exact. */
    if (fm_param_count_checked(net) < 0)
        return FM_ERR_ARG;
    const int hidden = net->hidden_activation;
    if (hidden < FM_ACT_IDENTITY || hidden > FM_ACT_GELU || hidden == FM_ACT_SOFTMAX ||
        hidden == FM_ACT_EXP || net->output_activation < FM_ACT_IDENTITY ||
        net->output_activation > FM_ACT_EXP || net->loss < FM_LOSS_SQUARED ||
        net->loss > FM_LOSS_PERCEPTRON)
        return FM_ERR_ARG;
    if ((net->loss == FM_LOSS_HINGE || net->loss == FM_LOSS_PERCEPTRON) &&
        net->output_activation != FM_ACT_IDENTITY)
        return FM_ERR_ARG;
    if (net->dropout != NULL)
        for (int l = 0; l < net->n_layers - 1; l++)
            if (!(net->dropout[l] >= 0 && net->dropout[l] < 1))
                return FM_ERR_ARG;
    return FM_OK;
}

int64_t fm_dense_width(const fm_net *net, int layer)
{
    const int64_t units = net->units[layer + 1];
    if (layer < net->n_layers - 1 && net->hidden_activation == FM_ACT_MAXOUT)
        return units * net->maxout_pieces;
    return units;
}

int64_t fm_weight_offset(const fm_net *net, int layer)
{
    int64_t offset = 0;
    for (int l = 0; l < layer; l++)
        offset += net->units[l] * fm_dense_width(net, l);
    return offset;
}

int64_t fm_bias_offset(const fm_net *net, int layer)
{
    int64_t offset = fm_weight_offset(net, net->n_layers);
    for (int l = 0; l < layer; l++)
        offset += fm_dense_width(net, l);
    return offset;
}

int64_t fm_prelu_offset(const fm_net *net, int layer)
{
    int64_t offset = fm_bias_offset(net, net->n_layers);
    if (net->hidden_activation == FM_ACT_PRELU)
        for (int l = 0; l < layer; l++)
            offset += net->units[l + 1];
    return offset;
}

int64_t fm_bn_offset(const fm_net *net, int layer, int what)
{
    const int hidden = net->n_layers - 1;
    int64_t per_kind = 0, before = 0; /* values of one kind over all hidden layers, before layer */
    for (int l = 0; l < hidden; l++) {
        if (l < layer)
            before += fm_dense_width(net, l);
        per_kind += fm_dense_width(net, l);
    }
    if (!net->batch_norm)
        per_kind = before = 0;
    return fm_prelu_offset(net, hidden) + what * per_kind + before;
}

int64_t fm_n_params(const fm_net *net)
{
    if (fm_net_check(net))
        return -1;
    return fm_bn_offset(net, 0, 4); /* past the running variances */
}

int64_t fm_n_trainable(const fm_net *net)
{
    if (fm_net_check(net))
        return -1;
    return fm_bn_offset(net, 0, 2); /* the running statistics start here */
}

int fm_max_threads(void)
{
    return fm_pool_threads();
}

void fm_threading_stats(int64_t *jobs, int64_t *worker_tasks, int *workers, int64_t *placed)
{
    fm_pool_stats(jobs, worker_tasks, workers, placed);
}

void fm_threading_test_delay(int us, int every)
{
    fm_pool_test_delay(us, every);
}

int fm_threading_adaptive(const fm_net *net, int train, int64_t rows, size_t elem_size,
                          double *one, double *all, int64_t *choices)
{
    *one = *all = 0;
    *choices = 0;
    if (fm_net_check(net))
        return 0;
    const uint64_t key =
        fm_work_key(train, fm_net_key(net), train ? rows : fm_rows_bucket(rows), elem_size);
    return fm_adapt_peek(key, one, all, choices);
}

void fm_threading_adapt(int on)
{
    fm_adapt_enable(on);
}

void fm_threading_reset(void)
{
    fm_adapt_reset();
}

/* Bytes of a region of count elements, rounded up to the alignment (count checked by caller). */
static size_t region(int64_t count, size_t elem_size)
{
    size_t bytes = (size_t)count * elem_size;
    return (bytes + FM_ALIGN - 1) / FM_ALIGN * FM_ALIGN;
}

size_t fm_bf16_net_pack_bytes(const fm_net *net, int64_t rows)
{
    size_t most = 0;
    for (int l = 0; l < net->n_layers; l++) {
        const int64_t fan_in = net->units[l], width = fm_dense_width(net, l);
        const size_t sizes[3] = {fm_gemm_bf16_pack_bytes(rows, width, fan_in),  /* forward */
                                 fm_gemm_bf16_pack_bytes(fan_in, width, rows),  /* weights' */
                                 fm_gemm_bf16_pack_bytes(rows, fan_in, width)}; /* input's */
        for (int i = 0; i < 3; i++)
            most = sizes[i] > most ? sizes[i] : most;
    }
    return most;
}

fm_workspace *fm_workspace_new(const fm_net *net, int64_t max_rows, size_t elem_size)
{
    if (fm_net_check(net) || max_rows < 1 ||
        (elem_size != sizeof(float) && elem_size != sizeof(double)))
        return NULL;
    const int L = net->n_layers;
    const int64_t *u = net->units;
    const int64_t n_params = fm_n_params(net);
    if (max_rows > FM_MAX_COUNT || n_params > FM_MAX_COUNT)
        return NULL;
    /* Penalty partial sums: one slot per FM_PARAM_CHUNK of all parameters, or of each layer's
     * weights (a layer's last chunk may be short: at most one more slot per layer). */
    const int64_t n_partials = (n_params + FM_PARAM_CHUNK - 1) / FM_PARAM_CHUNK + L;
    int64_t widest = 1; /* the widest hidden layer output (gbuf) */
    for (int l = 0; l <= L; l++)
        if (u[l] > FM_MAX_COUNT / max_rows)
            return NULL;
    for (int l = 0; l < L; l++) {
        if (fm_dense_width(net, l) > FM_MAX_COUNT / max_rows)
            return NULL;
        if (l < L - 1 && u[l + 1] > widest)
            widest = u[l + 1];
    }
    if (net->matmul_precision != FM_MATMUL_FLOAT32 && elem_size != sizeof(float))
        return NULL;
    /* GEMM packing: a float product's B panel, or a bfloat16 product's packed operands */
    int64_t pack_elems = (int64_t)fm_gemm_pack_size();
    if (net->matmul_precision == FM_MATMUL_BFLOAT16) {
        const int64_t bf16_elems =
            (int64_t)((fm_bf16_net_pack_bytes(net, max_rows) + elem_size - 1) / elem_size);
        pack_elems = bf16_elems > pack_elems ? bf16_elems : pack_elems;
    }
    /* Row blocks (internal.h): a gradient for each block but the first, and packing space for
     * each block: a B panel of the widest product's columns (a layer's width or fan-in). */
    int64_t max_blocks = 1, block_pack_elems = 0;
    if (fm_row_blocks(net, n_params, max_rows, NULL) > 1) {
        max_blocks = max_rows / FM_ROW_BLOCKS_MIN_ROWS;
        max_blocks = max_blocks < FM_ROW_BLOCKS_MAX ? max_blocks : FM_ROW_BLOCKS_MAX;
        int64_t cols = 1;
        for (int l = 0; l < L; l++) {
            cols = u[l] > cols ? u[l] : cols;
            cols = fm_dense_width(net, l) > cols ? fm_dense_width(net, l) : cols;
        }
        cols = cols < FM_GEMM_NC ? cols : FM_GEMM_NC;
        block_pack_elems = (int64_t)FM_GEMM_KC * (cols + 32);
    }
    /* Two passes over the same list of regions: the first adds up the size, the second carves
     * the single block (the targets are only evaluated, and written, in the second). */
    char *block = NULL, *base = NULL;
    fm_workspace *ws = NULL;
    void *dummy = NULL; /* regions that follow one already pointed to */
    for (int pass = 0; pass < 2; pass++) {
        size_t used = 0;
#define TAKE(target, count, size)                   \
    do {                                           \
        if (pass)                                  \
            (target) = (void *)(base + used);      \
        used += region((count), (size));           \
    } while (0)
        TAKE(ws->acts, 6 * (int64_t)(L + 1), sizeof(void *));
        if (pass) {
            ws->deltas = ws->acts + (L + 1);
            ws->pre = ws->deltas + (L + 1);
            ws->bnx = ws->pre + (L + 1);
            ws->bnstat = ws->bnx + (L + 1);
            ws->mask = ws->bnstat + (L + 1);
            for (int i = 0; i < 6 * (L + 1); i++)
                ws->acts[i] = NULL;
        }
        for (int l = 0; l <= L; l++)
            TAKE(ws->acts[l], max_rows * u[l], elem_size);
        for (int l = 1; l <= L; l++)
            TAKE(ws->deltas[l], max_rows * fm_dense_width(net, l - 1), elem_size);
        for (int l = 0; l < L - 1; l++) {
            if (!fm_layer_general(net, l))
                continue;
            const int64_t width = fm_dense_width(net, l);
            TAKE(ws->pre[l], max_rows * width, elem_size);
            if (net->batch_norm) {
                TAKE(ws->bnx[l], max_rows * width, elem_size);
                TAKE(ws->bnstat[l], 2 * width, elem_size);
            }
            if (net->dropout != NULL && net->dropout[l] > 0)
                TAKE(ws->mask[l], max_rows * u[l + 1], elem_size);
        }
        TAKE(ws->gbuf, max_rows * widest, elem_size);
        TAKE(ws->ybatch, max_rows * u[L], elem_size);
        TAKE(ws->swbatch, max_rows, elem_size);
        TAKE(ws->grad, n_params, elem_size);
        TAKE(ws->pack, pack_elems, elem_size);
        TAKE(ws->partials, 2 * n_partials, sizeof(double));
        TAKE(ws->bn_running, n_params - fm_bn_offset(net, 0, 2), elem_size);
        TAKE(ws->row_stats, 2 * max_rows, sizeof(double));
        if (max_blocks > 1) {
            /* each block's own region, so that no two threads share a cache line */
            for (int64_t b = 1; b < max_blocks; b++)
                TAKE(*(b > 1 ? &dummy : &ws->block_grads), n_params, elem_size);
            for (int64_t b = 0; b < max_blocks; b++)
                TAKE(*(b > 0 ? &dummy : &ws->block_pack), block_pack_elems, elem_size);
        }
#undef TAKE
        if (!pass) {
            block = (char *)malloc(sizeof(fm_workspace) + FM_ALIGN + used);
            if (block == NULL)
                return NULL;
            ws = (fm_workspace *)block;
            memset(ws, 0, sizeof(*ws));
            base = block + sizeof(fm_workspace);
            base += (FM_ALIGN - (uintptr_t)base % FM_ALIGN) % FM_ALIGN;
        }
    }
    ws->elem_size = elem_size;
    ws->n_layers = L;
    ws->max_rows = max_rows;
    ws->n_params = n_params;
    ws->n_partials = n_partials;
    ws->max_blocks = max_blocks;
    ws->gbuf_width = widest;
    ws->block_pack_elems = block_pack_elems;
    ws->block_grad_stride = (int64_t)(region(n_params, elem_size) / elem_size);
    (void)dummy;
    ws->matmul_precision = net->matmul_precision;
    ws->block = block;
    return ws;
}

void fm_workspace_free(fm_workspace *ws)
{
    if (ws != NULL)
        free(ws->block);
}

/* ---- fm_all_finite: tasks of FM_FINITE_CHUNK bytes ---- */

#define FM_FINITE_CHUNK (64 * 1024)

typedef struct finite_job {
    const char *x;
    int64_t bytes;
    int f64;
    atomic_int bad;
} finite_job;

/* x - x is 0 for finite x and NaN for NaN or infinity: one subtraction, compare and or per
 * value, a loop the compiler vectorizes. */
static int finite_f32(const float *x, int64_t n)
{
    int bad = 0;
    for (int64_t i = 0; i < n; i++)
        bad |= !(x[i] - x[i] == 0);
    return !bad;
}

static int finite_f64(const double *x, int64_t n)
{
    int bad = 0;
    for (int64_t i = 0; i < n; i++)
        bad |= !(x[i] - x[i] == 0);
    return !bad;
}

static void finite_task(void *ctx, int64_t task)
{
    finite_job *job = (finite_job *)ctx;
    if (atomic_load_explicit(&job->bad, memory_order_relaxed))
        return;
    const int64_t at = task * FM_FINITE_CHUNK;
    const int64_t bytes = job->bytes - at < FM_FINITE_CHUNK ? job->bytes - at : FM_FINITE_CHUNK;
    const int ok = job->f64 ? finite_f64((const double *)(job->x + at), bytes / 8)
                            : finite_f32((const float *)(job->x + at), bytes / 4);
    if (!ok)
        atomic_store_explicit(&job->bad, 1, memory_order_relaxed);
}

int fm_all_finite(const void *x, int64_t n, int f64)
{
    if (n < 0 || (n > 0 && x == NULL))
        return FM_ERR_ARG;
    finite_job job = {(const char *)x, n * (f64 ? 8 : 4), f64, 0};
    const int64_t tasks = (job.bytes + FM_FINITE_CHUNK - 1) / FM_FINITE_CHUNK;
    /* FM_FINITE_CHUNK is a multiple of both element sizes: tasks split no value */
    if (job.bytes < 8 * FM_FINITE_CHUNK) {
        fm_parallel(0, tasks, finite_task, &job);
        return !atomic_load(&job.bad);
    }
    /* on the threads that pay now (on a busy machine a pass this short loses to one descheduled
     * worker) */
    const fm_adapt_choice choice =
        fm_adapt_choose(fm_work_key(2, 0, fm_rows_bucket(job.bytes), (size_t)(f64 ? 8 : 4)));
    const int cap = fm_pool_set_cap(choice.threads);
    fm_parallel(1, tasks, finite_task, &job);
    fm_pool_set_cap(cap);
    fm_adapt_record(choice, (double)job.bytes);
    return !atomic_load(&job.bad);
}
