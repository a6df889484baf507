/* fastmlp C core: layers, losses, optimizers, the epoch driver and predict for one precision.
 * Included by net_isa.h with REAL, SUF and the math macros (EXP, LOG, TANH, SQRT, REAL_EPS;
 * fastmlp's own functions, fm_math.h) defined, which are undefined again at the end, ready for
 * the next precision. EXP_ROW(z, n, a, b), when defined (float: exp_x86.h or the portable rows),
 * sets z[j] = EXP(a * z[j] - b) for a row at once, correctly rounded; the softmax, logistic and
 * exp rows use it.
 *
 * Layer l (0-based) maps acts[l] (rows x units[l]) to acts[l + 1] = f(acts[l] . W_l + b_l);
 * acts[0] is the input batch. deltas[l] is d loss / d pre-activation of layer l's output units.
 * The maths follows scikit-learn's _multilayer_perceptron.py step by step, so that float64
 * results agree with it to rounding. */

/* Softmax of one row in place, as scikit-learn's: exp(z - max) / sum. */
static void SUF(softmax_row)(REAL *zi, int64_t cols)
{
    REAL top = zi[0], sum = 0;
    for (int64_t j = 1; j < cols; j++)
        top = zi[j] > top ? zi[j] : top;
#ifdef EXP_ROW
    EXP_ROW(zi, cols, 1, top);
    for (int64_t j = 0; j < cols; j++)
        sum += zi[j];
#else
    for (int64_t j = 0; j < cols; j++) {
        zi[j] = EXP(zi[j] - top);
        sum += zi[j];
    }
#endif
    for (int64_t j = 0; j < cols; j++)
        zi[j] /= sum;
}

/* z = f(z + bias) for `rows` consecutive rows of cols values; f is the layer's activation,
 * elementwise over the whole block (a one-unit output layer's rows are one short vector each),
 * softmax row by row. */
static void SUF(bias_activation_rows)(REAL *z, const REAL *bias, int64_t rows, int64_t cols,
                                      int activation)
{
    const int64_t n = rows * cols;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++)
            z[i * cols + j] += bias[j];
    switch (activation) {
    case FM_ACT_LOGISTIC:
#ifdef EXP_ROW
        EXP_ROW(z, n, -1, 0);
        for (int64_t j = 0; j < n; j++)
            z[j] = (REAL)1 / ((REAL)1 + z[j]);
#else
        for (int64_t j = 0; j < n; j++)
            z[j] = (REAL)1 / ((REAL)1 + EXP(-z[j]));
#endif
        break;
    case FM_ACT_TANH:
        for (int64_t j = 0; j < n; j++)
            z[j] = TANH(z[j]);
        break;
    case FM_ACT_RELU:
        for (int64_t j = 0; j < n; j++)
            z[j] = z[j] > 0 ? z[j] : 0;
        break;
    case FM_ACT_EXP:
#ifdef EXP_ROW
        EXP_ROW(z, n, 1, 0);
#else
        for (int64_t j = 0; j < n; j++)
            z[j] = EXP(z[j]);
#endif
        break;
    case FM_ACT_SOFTMAX:
        for (int64_t i = 0; i < rows; i++)
            SUF(softmax_row)(z + i * cols, cols);
        break;
    default: /* FM_ACT_IDENTITY */
        break;
    }
}

/* Rows per task of the row-wise passes (activations, dropout, losses, gathers): each row's
 * values do not depend on the blocks, so neither do the results. */
#define FM_ROW_BLOCK 32
#define FM_N_ROW_BLOCKS(rows) (((rows) + FM_ROW_BLOCK - 1) / FM_ROW_BLOCK)
/* The rows [*i0, *i1) of block blk of rows. */
static inline void SUF(row_block)(int64_t blk, int64_t rows, int64_t *i0, int64_t *i1)
{
    *i0 = blk * FM_ROW_BLOCK;
    *i1 = rows - *i0 < FM_ROW_BLOCK ? rows : *i0 + FM_ROW_BLOCK;
}

typedef struct SUF(act_job) {
    REAL *z;
    const REAL *bias;
    int64_t rows, cols;
    int activation;
} SUF(act_job);

static void SUF(bias_activation_task)(void *ctx, int64_t blk)
{
    const SUF(act_job) *j = (const SUF(act_job) *)ctx;
    int64_t i0, i1;
    SUF(row_block)(blk, j->rows, &i0, &i1);
    SUF(bias_activation_rows)(j->z + i0 * j->cols, j->bias, i1 - i0, j->cols, j->activation);
}

/* z = f(z + bias) in blocks of rows, shared among threads when the work pays for it. */
static void SUF(bias_activation_forward)(REAL *z, const REAL *bias, int64_t rows, int64_t cols,
                                         int activation)
{
    SUF(act_job) job = {z, bias, rows, cols, activation};
    fm_parallel(rows * cols >= FM_PAR_MIN_ELEMS, FM_N_ROW_BLOCKS(rows),
                SUF(bias_activation_task), &job);
}

/* ---- the general path of a hidden layer (fm_layer_general): batch norm, activations whose
 * derivative needs their input, dropout. pre keeps the activation's input for backward. ---- */

/* f(y) of a hidden activation; slope is PReLU's learned slope for this unit. */
static inline REAL SUF(act_value)(int activation, REAL y, REAL slope)
{
    switch (activation) {
    case FM_ACT_LOGISTIC:
        return (REAL)1 / ((REAL)1 + EXP(-y));
    case FM_ACT_TANH:
        return TANH(y);
    case FM_ACT_RELU:
        return y > 0 ? y : 0;
    case FM_ACT_LEAKY_RELU:
        return y > 0 ? y : (REAL)FM_LEAKY_SLOPE * y;
    case FM_ACT_PRELU:
        return y > 0 ? y : slope * y;
    case FM_ACT_ELU:
        return y > 0 ? y : EXPM1(y);
    case FM_ACT_SOFTPLUS: /* PyTorch's threshold: linear past 20 */
        return y > 20 ? y : LOG1P(EXP(y));
    case FM_ACT_GELU:
        return (REAL)0.5 * y * ((REAL)1 + ERF(y * (REAL)0.70710678118654752440));
    default: /* identity */
        return y;
    }
}

/* f'(y) of a hidden activation (maxout excepted: it routes, see hidden_backward). */
static inline REAL SUF(act_derivative)(int activation, REAL y, REAL slope)
{
    switch (activation) {
    case FM_ACT_LOGISTIC: {
        const REAL s = (REAL)1 / ((REAL)1 + EXP(-y));
        return s * ((REAL)1 - s);
    }
    case FM_ACT_TANH: {
        const REAL t = TANH(y);
        return (REAL)1 - t * t;
    }
    case FM_ACT_RELU:
        return y > 0 ? 1 : 0;
    case FM_ACT_LEAKY_RELU:
        return y > 0 ? 1 : (REAL)FM_LEAKY_SLOPE;
    case FM_ACT_PRELU:
        return y > 0 ? 1 : slope;
    case FM_ACT_ELU:
        return y > 0 ? 1 : EXP(y);
    case FM_ACT_SOFTPLUS: {
        if (y > 20)
            return 1;
        const REAL z = EXP(y);
        return z / (z + 1);
    }
    case FM_ACT_GELU:
        return (REAL)0.5 * ((REAL)1 + ERF(y * (REAL)0.70710678118654752440)) +
               y * (REAL)0.39894228040143267794 * EXP((REAL)-0.5 * y * y);
    default: /* identity */
        return 1;
    }
}

/* Columns per block of the batch-norm loops: sums over rows run in row order, column blocks
 * are what threads share. */
#define FM_BN_BLOCK 16

typedef struct SUF(bn_job) {
    const fm_net *net;
    int layer;
    int64_t rows, width;
    const REAL *scale, *shift, *rmean, *rvar;
    REAL *new_mean, *new_var; /* training: the updated running statistics, or NULL */
    REAL *z, *bnx, *bnstat, *dz, *gscale, *gshift;
    int accumulate;
} SUF(bn_job);

/* Predict: rows normalized with the running statistics. */
static void SUF(bn_predict_task)(void *ctx, int64_t blk)
{
    const SUF(bn_job) *j = (const SUF(bn_job) *)ctx;
    const REAL eps = (REAL)j->net->bn_eps;
    const int64_t width = j->width;
    int64_t i0, i1;
    SUF(row_block)(blk, j->rows, &i0, &i1);
    for (int64_t i = i0; i < i1; i++)
        for (int64_t jj = 0; jj < width; jj++)
            j->z[i * width + jj] = j->scale[jj] * ((j->z[i * width + jj] - j->rmean[jj]) /
                                                   SQRT(j->rvar[jj] + eps)) + j->shift[jj];
}

/* Training: a block of FM_BN_BLOCK columns, sums over rows in row order. */
static void SUF(bn_train_task)(void *ctx, int64_t blk)
{
    const SUF(bn_job) *jb = (const SUF(bn_job) *)ctx;
    const fm_net *net = jb->net;
    const int64_t rows = jb->rows, width = jb->width;
    REAL *z = jb->z;
    const double momentum = net->bn_momentum;
    const int64_t j0 = blk * FM_BN_BLOCK;
    const int64_t nj = width - j0 < FM_BN_BLOCK ? width - j0 : FM_BN_BLOCK;
    double sum[FM_BN_BLOCK] = {0}, sq[FM_BN_BLOCK] = {0};
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < nj; j++)
            sum[j] += (double)z[i * width + j0 + j];
    for (int64_t j = 0; j < nj; j++)
        sum[j] /= (double)rows; /* the mean */
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < nj; j++) {
            const double d = (double)z[i * width + j0 + j] - sum[j];
            sq[j] += d * d;
        }
    for (int64_t j = 0; j < nj; j++) {
        const double var = sq[j] / (double)rows;
        const REAL mean = (REAL)sum[j], inv_std = (REAL)(1.0 / sqrt(var + net->bn_eps));
        jb->bnstat[j0 + j] = mean;
        jb->bnstat[width + j0 + j] = inv_std;
        if (jb->new_mean != NULL) {
            const double unbiased = rows > 1 ? var * (double)rows / (double)(rows - 1) : var;
            jb->new_mean[j0 + j] =
                (REAL)((1 - momentum) * (double)jb->rmean[j0 + j] + momentum * sum[j]);
            jb->new_var[j0 + j] =
                (REAL)((1 - momentum) * (double)jb->rvar[j0 + j] + momentum * unbiased);
        }
        for (int64_t i = 0; i < rows; i++) {
            const REAL xhat = (z[i * width + j0 + j] - mean) * inv_std;
            jb->bnx[i * width + j0 + j] = xhat;
            z[i * width + j0 + j] = jb->scale[j0 + j] * xhat + jb->shift[j0 + j];
        }
    }
}

/* Batch norm forward, in place on z (rows x width): training (bnx != NULL) normalizes with the
 * batch's statistics, keeps x-hat in bnx and the means and 1 / std in bnstat, and, when
 * new_running is not NULL, writes the updated running statistics there (laid out as the
 * parameters' block of running means then variances, fm_bn_offset(net, 0, 2) onwards; unbiased
 * variance, PyTorch's momentum rule) for the caller to keep once the batch is accepted;
 * otherwise (predict) it normalizes with the running statistics in params. */
static void SUF(batchnorm_forward)(const fm_net *net, int layer, const REAL *params,
                                   REAL *new_running, REAL *z, REAL *bnx, REAL *bnstat,
                                   int64_t rows)
{
    const int64_t width = fm_dense_width(net, layer);
    const int64_t run0 = fm_bn_offset(net, 0, 2);
    SUF(bn_job) job;
    memset(&job, 0, sizeof(job));
    job.net = net;
    job.layer = layer;
    job.rows = rows;
    job.width = width;
    job.scale = params + fm_bn_offset(net, layer, 0);
    job.shift = params + fm_bn_offset(net, layer, 1);
    job.rmean = params + fm_bn_offset(net, layer, 2);
    job.rvar = params + fm_bn_offset(net, layer, 3);
    job.z = z;
    job.bnx = bnx;
    job.bnstat = bnstat;
    const int par = rows * width >= FM_PAR_MIN_ELEMS;
    if (bnx == NULL) {
        fm_parallel(par, FM_N_ROW_BLOCKS(rows), SUF(bn_predict_task), &job);
        return;
    }
    if (new_running != NULL) {
        job.new_mean = new_running + (fm_bn_offset(net, layer, 2) - run0);
        job.new_var = new_running + (fm_bn_offset(net, layer, 3) - run0);
    }
    fm_parallel(par, (width + FM_BN_BLOCK - 1) / FM_BN_BLOCK, SUF(bn_train_task), &job);
}

static void SUF(bn_backward_task)(void *ctx, int64_t blk)
{
    const SUF(bn_job) *jb = (const SUF(bn_job) *)ctx;
    const int64_t rows = jb->rows, width = jb->width;
    REAL *dz = jb->dz;
    const REAL *bnx = jb->bnx;
    const int64_t j0 = blk * FM_BN_BLOCK;
    const int64_t nj = width - j0 < FM_BN_BLOCK ? width - j0 : FM_BN_BLOCK;
    double dscale[FM_BN_BLOCK] = {0}, dshift[FM_BN_BLOCK] = {0};
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < nj; j++) {
            const double d = (double)dz[i * width + j0 + j];
            dscale[j] += d * (double)bnx[i * width + j0 + j];
            dshift[j] += d;
        }
    for (int64_t j = 0; j < nj; j++) {
        REAL *gs = jb->gscale + j0 + j, *gh = jb->gshift + j0 + j;
        *gs = (jb->accumulate ? *gs : 0) + (REAL)dscale[j];
        *gh = (jb->accumulate ? *gh : 0) + (REAL)dshift[j];
        const REAL k = jb->scale[j0 + j] * jb->bnstat[width + j0 + j] / (REAL)rows;
        const REAL mean_shift = (REAL)dshift[j], mean_scale = (REAL)dscale[j];
        for (int64_t i = 0; i < rows; i++) {
            REAL *d = dz + i * width + j0 + j;
            *d = k * ((REAL)rows * *d - mean_shift - bnx[i * width + j0 + j] * mean_scale);
        }
    }
}

/* Batch norm backward, in place on dz (rows x width, d loss / d batch-norm output on entry, d
 * loss / d its input on return); writes (or adds, with accumulate) the scale and shift gradient
 * sums into grad. */
static void SUF(batchnorm_backward)(const fm_net *net, int layer, const REAL *params, REAL *grad,
                                    REAL *dz, const REAL *bnx, const REAL *bnstat, int64_t rows,
                                    int accumulate)
{
    const int64_t width = fm_dense_width(net, layer);
    SUF(bn_job) job;
    memset(&job, 0, sizeof(job));
    job.net = net;
    job.rows = rows;
    job.width = width;
    job.scale = params + fm_bn_offset(net, layer, 0);
    job.gscale = grad + fm_bn_offset(net, layer, 0);
    job.gshift = grad + fm_bn_offset(net, layer, 1);
    job.dz = dz;
    job.bnx = (REAL *)bnx;
    job.bnstat = (REAL *)bnstat;
    job.accumulate = accumulate;
    fm_parallel(rows * width >= FM_PAR_MIN_ELEMS, (width + FM_BN_BLOCK - 1) / FM_BN_BLOCK,
                SUF(bn_backward_task), &job);
}

typedef struct SUF(hidden_job) {
    const fm_net *net;
    int layer;
    int64_t rows, units, width;
    const REAL *pre, *slopes, *mask_in;
    REAL *out, *mask, *g, *dz;
    /* dropout */
    uint32_t threshold, key32;
    REAL keep_scale;
    int64_t row0;
} SUF(hidden_job);

static void SUF(dropout_task)(void *ctx, int64_t blk)
{
    const SUF(hidden_job) *j = (const SUF(hidden_job) *)ctx;
    const int64_t units = j->units;
    int64_t i0, i1;
    SUF(row_block)(blk, j->rows, &i0, &i1);
    for (int64_t i = i0; i < i1; i++) {
        const uint64_t first = (uint64_t)(j->row0 + i) * (uint64_t)units;
        REAL *oi = j->out + i * units;
        if (j->mask != NULL) {
            REAL *mi = j->mask + i * units;
            for (int64_t u = 0; u < units; u++) {
                const REAL factor = fm_dropout_bits(j->key32, first + (uint64_t)u) >= j->threshold
                                        ? j->keep_scale
                                        : 0;
                mi[u] = factor;
                oi[u] *= factor;
            }
        } else {
            for (int64_t u = 0; u < units; u++)
                oi[u] *= fm_dropout_bits(j->key32, first + (uint64_t)u) >= j->threshold
                             ? j->keep_scale
                             : 0;
        }
    }
}

/* Inverted dropout on a layer's output (rows x units), drawing the mask: each value is kept with
 * probability 1 - rate and then scaled by 1 / (1 - rate). The keep bit of (row, unit) is a
 * 32-bit hash (fm_dropout_bits) of key and its position (row0 + i) * units + j, a pure function
 * of them, so masks do not depend on threads or batch boundaries; the loop vectorizes. mask
 * (unless NULL) gets the factors for the backward pass. */
static void SUF(dropout_forward)(REAL *out, REAL *mask, int64_t rows, int64_t units, double rate,
                                 uint64_t key, int64_t row0)
{
    SUF(hidden_job) job;
    memset(&job, 0, sizeof(job));
    job.rows = rows;
    job.units = units;
    job.out = out;
    job.mask = mask;
    job.threshold = (uint32_t)(rate * 4294967296.0); /* keep when bits >= it */
    job.key32 = (uint32_t)(key ^ (key >> 32));
    job.keep_scale = (REAL)(1.0 / (1.0 - rate));
    job.row0 = row0;
    fm_parallel(rows * units >= FM_PAR_MIN_ELEMS, FM_N_ROW_BLOCKS(rows), SUF(dropout_task), &job);
}

/* The job of hidden layer l's row passes over rows rows of its activation input pre. */
static SUF(hidden_job) SUF(hidden_job_for)(const fm_net *net, int layer, const REAL *params,
                                           const REAL *pre, int64_t rows)
{
    SUF(hidden_job) job;
    memset(&job, 0, sizeof(job));
    job.net = net;
    job.layer = layer;
    job.rows = rows;
    job.units = net->units[layer + 1];
    job.width = fm_dense_width(net, layer);
    job.pre = pre;
    job.slopes =
        net->hidden_activation == FM_ACT_PRELU ? params + fm_prelu_offset(net, layer) : NULL;
    return job;
}

static void SUF(hidden_forward_task)(void *ctx, int64_t blk)
{
    const SUF(hidden_job) *jb = (const SUF(hidden_job) *)ctx;
    const int64_t units = jb->units, width = jb->width;
    const int activation = jb->net->hidden_activation, pieces = jb->net->maxout_pieces;
    int64_t i0, i1;
    SUF(row_block)(blk, jb->rows, &i0, &i1);
    for (int64_t i = i0; i < i1; i++) {
        const REAL *pi = jb->pre + i * width;
        REAL *oi = jb->out + i * units;
        if (activation == FM_ACT_MAXOUT) {
            for (int64_t j = 0; j < units; j++) {
                REAL top = pi[j * pieces];
                for (int p = 1; p < pieces; p++)
                    top = pi[j * pieces + p] > top ? pi[j * pieces + p] : top;
                oi[j] = top;
            }
        } else {
            for (int64_t j = 0; j < units; j++)
                oi[j] = SUF(act_value)(activation, pi[j], jb->slopes ? jb->slopes[j] : 0);
        }
    }
}

/* The general forward pass of hidden layer l after its GEMM: pre (rows x width) holds
 * in . W + b; batch norm (training when bnx != NULL) turns it into the activation's input in
 * place (new_running: batchnorm_forward); out (rows x units) gets the activation (maxout: the
 * largest of each unit's pieces), then dropout when mask != NULL. pre may equal out when
 * width == units (predict). */
static void SUF(hidden_forward)(const fm_net *net, int layer, const REAL *params,
                                REAL *new_running, REAL *pre, REAL *out, REAL *bnx, REAL *bnstat,
                                REAL *mask, int64_t rows, uint64_t mask_key, int64_t row0)
{
    if (net->batch_norm)
        SUF(batchnorm_forward)(net, layer, params, new_running, pre, bnx, bnstat, rows);
    SUF(hidden_job) job = SUF(hidden_job_for)(net, layer, params, pre, rows);
    job.out = out;
    fm_parallel(rows * job.width >= FM_PAR_MIN_ELEMS, FM_N_ROW_BLOCKS(rows),
                SUF(hidden_forward_task), &job);
    if (mask != NULL)
        SUF(dropout_forward)(out, mask, rows, job.units, net->dropout[layer], mask_key, row0);
}

static void SUF(hidden_backward_task)(void *ctx, int64_t blk)
{
    const SUF(hidden_job) *jb = (const SUF(hidden_job) *)ctx;
    const int64_t units = jb->units, width = jb->width;
    const int activation = jb->net->hidden_activation, pieces = jb->net->maxout_pieces;
    int64_t i0, i1;
    SUF(row_block)(blk, jb->rows, &i0, &i1);
    for (int64_t i = i0; i < i1; i++) {
        const REAL *pi = jb->pre + i * width;
        REAL *gi = jb->g + i * units;
        REAL *di = jb->dz + i * width;
        if (jb->mask_in != NULL)
            for (int64_t j = 0; j < units; j++)
                gi[j] *= jb->mask_in[i * units + j];
        if (activation == FM_ACT_MAXOUT) {
            /* the gradient goes to the first piece reaching the maximum */
            for (int64_t j = 0; j < units; j++) {
                int best = 0;
                for (int p = 1; p < pieces; p++)
                    best = pi[j * pieces + p] > pi[j * pieces + best] ? p : best;
                for (int p = 0; p < pieces; p++)
                    di[j * pieces + p] = p == best ? gi[j] : 0;
            }
        } else {
            for (int64_t j = 0; j < units; j++)
                di[j] = gi[j] *
                        SUF(act_derivative)(activation, pi[j], jb->slopes ? jb->slopes[j] : 0);
        }
    }
}

/* The general backward pass of hidden layer l: g (rows x units) is d loss / d the layer's
 * output; writes dz (rows x width) = d loss / d the dense output in . W + b, and writes (adds,
 * with accumulate) the PReLU slope and batch-norm gradient sums into grad. g is overwritten
 * (times the dropout mask). */
static void SUF(hidden_backward)(const fm_net *net, int layer, const REAL *params, REAL *grad,
                                 REAL *dz, REAL *g, const REAL *pre, const REAL *bnx,
                                 const REAL *bnstat, const REAL *mask, int64_t rows,
                                 int accumulate)
{
    SUF(hidden_job) job = SUF(hidden_job_for)(net, layer, params, pre, rows);
    const int64_t units = job.units, width = job.width;
    const REAL *slopes = job.slopes;
    job.mask_in = mask;
    job.g = g;
    job.dz = dz;
    fm_parallel(rows * width >= FM_PAR_MIN_ELEMS, FM_N_ROW_BLOCKS(rows),
                SUF(hidden_backward_task), &job);
    if (slopes != NULL) {
        /* d loss / d slope_j = sum_i g_ij * min(y_ij, 0): columns summed in row order */
        REAL *gslope = grad + fm_prelu_offset(net, layer);
        if (!accumulate)
            for (int64_t j = 0; j < units; j++)
                gslope[j] = 0;
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < units; j++) {
                const REAL y = pre[i * width + j];
                gslope[j] += y > 0 ? 0 : g[i * units + j] * y;
            }
    }
    if (net->batch_norm)
        SUF(batchnorm_backward)(net, layer, params, grad, dz, bnx, bnstat, rows, accumulate);
}

/* The dropout key of hidden layer l for a (seed, stream) pair: one stream per layer. */
static inline uint64_t SUF(dropout_key)(uint64_t seed, uint64_t stream, int layer)
{
    return fm_rng_key(seed ^ (0x5851f42d4c957f2dULL * (uint64_t)(layer + 1)), stream);
}

/* ---- a dense layer: forward and backward ---- */

typedef struct SUF(bias_job) {
    const REAL *delta;
    REAL *gb;
    int64_t rows, width;
    int accumulate;
} SUF(bias_job);

/* Bias gradient sums of a block of FM_BN_BLOCK columns, rows in order. */
static void SUF(bias_grad_task)(void *ctx, int64_t blk)
{
    const SUF(bias_job) *j = (const SUF(bias_job) *)ctx;
    const int64_t j0 = blk * 64, j1 = j->width - j0 < 64 ? j->width : j0 + 64;
    REAL *gb = j->gb;
    if (!j->accumulate)
        for (int64_t c = j0; c < j1; c++)
            gb[c] = 0;
    /* four rows per pass over gb, added in row order: each sum's additions as one row at a
     * time makes them, with a quarter of the loads and stores of gb (gb may alias nothing, but
     * the compiler cannot know) */
    const int64_t width = j->width;
    int64_t i = 0;
    for (; i + 4 <= j->rows; i += 4) {
        const REAL *d0 = j->delta + i * width, *d1 = d0 + width, *d2 = d1 + width;
        const REAL *d3 = d2 + width;
        for (int64_t c = j0; c < j1; c++)
            gb[c] = (((gb[c] + d0[c]) + d1[c]) + d2[c]) + d3[c];
    }
    for (; i < j->rows; i++) {
        const REAL *di = j->delta + i * width;
        for (int64_t c = j0; c < j1; c++)
            gb[c] += di[c];
    }
}


/* A dense layer's product in the network's matmul precision (enum fm_matmul_precision):
 * this instruction set's GEMM, or the bfloat16 one (float networks only: the float64 entry
 * points refuse bfloat16 networks before any product). */
static int SUF(product)(int precision, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                        REAL alpha, const REAL *a, int64_t lda, const REAL *b, int64_t ldb,
                        REAL beta, REAL *c, int64_t ldc, REAL *pack, const fm_epilogue *ep)
{
    if (sizeof(REAL) == sizeof(float) && precision == FM_MATMUL_BFLOAT16)
        return fm_gemm_bf16_ex(trans_a, trans_b, m, n, k, (float)alpha, (const float *)a, lda,
                               (const float *)b, ldb, (float)beta, (float *)c, ldc, pack, ep);
    return SUF(fm_gemm_ex)(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, pack,
                           ep);
}

/* Dense layer forward (rows x fan_in -> rows x width): out = f(in . W + b) with f identity or
 * ReLU applied to each tile of the product as it is finished (the GEMM's epilogue); other
 * activations are the caller's (f = identity here). Writes out. */
static int SUF(dense_forward)(REAL *out, const REAL *in, const REAL *w, const REAL *b,
                              int64_t rows, int64_t fan_in, int64_t width, int activation,
                              REAL *pack, int precision)
{
    const fm_epilogue ep = {FM_EPI_BIAS_ACT, activation, b, NULL, 0, 0};
    return SUF(product)(precision, 0, 0, rows, width, fan_in, 1, in, fan_in, w, width, 0, out,
                        width, pack, &ep);
}

/* Dense layer backward, from delta (rows x width, d loss / d the layer's pre-activation):
 * writes (accumulate: adds) the weight gradient sums in^T . delta to gw and the bias gradient
 * sums (columns of delta, rows in order) to gb; then, unless d_in is NULL, writes
 * d_in = delta . W^T (rows x fan_in), times the input's activation derivative when ep (an
 * FM_EPI_DERIV epilogue) is given. */
static int SUF(dense_backward)(REAL *gw, REAL *gb, REAL *d_in, const REAL *delta, const REAL *in,
                               const REAL *w, int64_t rows, int64_t fan_in, int64_t width,
                               int accumulate, const fm_epilogue *ep, REAL *pack, int precision)
{
    int err = SUF(product)(precision, 1, 0, fan_in, width, rows, 1, in, fan_in, delta, width,
                           accumulate ? 1 : 0, gw, width, pack, NULL);
    if (err)
        return err;
    SUF(bias_job) bias = {delta, gb, rows, width, accumulate};
    fm_parallel(rows * width >= FM_PAR_MIN_ELEMS, (width + 63) / 64, SUF(bias_grad_task), &bias);
    if (d_in == NULL)
        return FM_OK;
    return SUF(product)(precision, 0, 1, rows, fan_in, width, 1, delta, width, w, width, 0, d_in,
                        fan_in, pack, ep);
}

/* Forward pass of a batch: writes outs[l] = output of layer l (rows x units[l + 1]). Bias and an
 * identity or ReLU activation are applied by the GEMM on each tile as it is finished; other
 * activations (and softmax, which needs whole rows) in a pass of their own. With defer_softmax,
 * a softmax output layer is left as logits for the training loss pass. General hidden layers
 * (fm_layer_general) keep their activation's input in ws->pre; with train, batch norm uses the
 * batch's statistics (the updated running ones written to new_running unless it is NULL) and
 * dropout draws masks keyed by (seed, stream) for rows row0 + i. Without a workspace (predict), scratch
 * holds a maxout layer's pieces (rows x the widest dense layer). The rows are rows r0 onwards of
 * outs and of the workspace's buffers (a row block, fm_row_blocks; 0 otherwise). */
static int SUF(forward)(const fm_net *net, const REAL *params, const REAL *const *layer_w,
                        const REAL *const *layer_b, REAL *new_running, const REAL *x,
                        REAL *const *outs, fm_workspace *ws, REAL *scratch, int64_t rows,
                        REAL *pack, int defer_softmax, int train, uint64_t seed, uint64_t stream,
                        int64_t row0, int64_t r0)
{
    const int64_t *u = net->units;
    const REAL *in = x;
    REAL *o = NULL;
    for (int l = 0; l < net->n_layers; l++, in = o) {
        /* the flat array's, or (predict on arrays a user assigned) the layer's own */
        const REAL *w = layer_w ? layer_w[l] : params + fm_weight_offset(net, l);
        const REAL *b = layer_b ? layer_b[l] : params + fm_bias_offset(net, l);
        const int64_t width = fm_dense_width(net, l);
        o = outs[l] + r0 * u[l + 1];
        if (fm_layer_general(net, l)) {
            REAL *pre = ws ? (REAL *)ws->pre[l] + r0 * width : (width == u[l + 1] ? o : scratch);
            int err = SUF(dense_forward)(pre, in, w, b, rows, u[l], width, FM_ACT_IDENTITY, pack,
                                         net->matmul_precision);
            if (err)
                return err;
            const int drop = train && net->dropout != NULL && net->dropout[l] > 0;
            SUF(hidden_forward)(net, l, params, new_running, pre, o,
                                train && ws->bnx[l] ? (REAL *)ws->bnx[l] + r0 * width : NULL,
                                train ? (REAL *)ws->bnstat[l] : NULL,
                                drop ? (REAL *)ws->mask[l] + r0 * u[l + 1] : NULL, rows,
                                drop ? SUF(dropout_key)(seed, stream, l) : 0, row0);
            continue;
        }
        int activation = l == net->n_layers - 1 ? net->output_activation : net->hidden_activation;
        if (defer_softmax && activation == FM_ACT_SOFTMAX)
            activation = FM_ACT_IDENTITY; /* the loss pass applies it, row by row */
        const int fused = activation == FM_ACT_IDENTITY || activation == FM_ACT_RELU;
        int err = fused ? SUF(dense_forward)(o, in, w, b, rows, u[l], u[l + 1], activation,
                                             pack, net->matmul_precision)
                        : SUF(product)(net->matmul_precision, 0, 0, rows, u[l + 1], u[l], 1, in,
                                       u[l], w, u[l + 1], 0, o, u[l + 1], pack, NULL);
        if (err)
            return err;
        if (!fused)
            SUF(bias_activation_forward)(o, b, rows, u[l + 1], activation);
        if (train && fm_layer_dropout(net, l)) /* ReLU: the backward GEMM's epilogue masks */
            SUF(dropout_forward)(o, NULL, rows, u[l + 1], net->dropout[l],
                                 SUF(dropout_key)(seed, stream, l), row0);
    }
    return FM_OK;
}

/* Position of the largest of v[0:n) (the first one on ties). */
static inline int64_t SUF(argmax)(const REAL *v, int64_t n)
{
    int64_t best = 0;
    for (int64_t j = 1; j < n; j++)
        best = v[j] > v[best] ? j : best;
    return best;
}

/* Whether a row of outputs p predicts the row of targets y: the arg max for softmax and the
 * margin losses, every logistic output on the right side of 1/2 otherwise. */
static inline int SUF(row_correct)(int loss, const REAL *p, const REAL *y, int64_t cols)
{
    if (loss == FM_LOSS_BINARY_LOG) {
        for (int64_t j = 0; j < cols; j++)
            if ((p[j] > (REAL)0.5) != (y[j] > (REAL)0.5))
                return 0;
        return 1;
    }
    return SUF(argmax)(p, cols) == SUF(argmax)(y, cols);
}

/* Output error of one row of a margin loss (scores s, one-hot targets y): writes d and returns
 * the row's loss. Hinge: PyTorch's multi_margin_loss; perceptron: max_j s_j - s_target. */
static double SUF(margin_row)(int loss, REAL *d, const REAL *s, const REAL *y, int64_t cols)
{
    const int64_t target = SUF(argmax)(y, cols);
    double li = 0;
    for (int64_t j = 0; j < cols; j++)
        d[j] = 0;
    if (loss == FM_LOSS_HINGE) {
        const REAL share = (REAL)1 / (REAL)cols;
        int64_t active = 0;
        for (int64_t j = 0; j < cols; j++) {
            const REAL margin = (REAL)1 - s[target] + s[j];
            if (j != target && margin > 0) {
                li += (double)margin;
                d[j] = share;
                active++;
            }
        }
        d[target] = -(REAL)active * share;
        return li / (double)cols;
    }
    const int64_t top = SUF(argmax)(s, cols);
    if (top != target) {
        li = (double)s[top] - (double)s[target];
        d[top] = 1;
        d[target] = -1;
    }
    return li;
}

/* Output error: delta = d loss_i / d output pre-activation, times w_i: (p - y) * w_i for the
 * likelihood losses (canonical links), the margin losses' subgradients otherwise. Writes each
 * row's w_i * loss_i to row_loss[i], unscaled, and to row_score[i] whether it is predicted right
 * (times w_i; classification) or its weighted squared error (regression). With softmax_rows, p
 * holds logits and each row gets its softmax here, so that softmax, the cross-entropy and its
 * gradient are one pass over a row while it is in L1. Rows [i0, i1). */
typedef struct SUF(loss_job) {
    const fm_net *net;
    REAL *delta, *p;
    const REAL *y, *sw;
    int64_t rows;
    int softmax_rows;
    double *row_loss, *row_score;
} SUF(loss_job);

/* The output error of row i of a loss job (see above): the scalar code, which the row groups of
 * LOSS_ROWS reproduce bit for bit. */
static void SUF(loss_row)(const SUF(loss_job) *job, int64_t i)
{
    const fm_net *net = job->net;
    const int64_t cols = net->units[net->n_layers];
    const REAL lo = REAL_EPS, hi = (REAL)1 - REAL_EPS;
    const int regression = net->loss == FM_LOSS_SQUARED || net->loss == FM_LOSS_POISSON;
    const int margin = net->loss == FM_LOSS_HINGE || net->loss == FM_LOSS_PERCEPTRON;
    const REAL *sw = job->sw;
    REAL *pi = job->p + i * cols;
    const REAL *yi = job->y + i * cols;
    REAL *di = job->delta + i * cols;
    double li = 0, ri = 0;
    if (job->softmax_rows)
        SUF(softmax_row)(pi, cols);
    if (margin) {
        li = SUF(margin_row)(net->loss, di, pi, yi, cols);
    } else {
        for (int64_t j = 0; j < cols; j++) {
            const REAL pj = pi[j], yj = yi[j];
            const REAL pc = pj < lo ? lo : (pj > hi ? hi : pj); /* scikit-learn's clip */
            switch (net->loss) {
            case FM_LOSS_LOG:
                if (yj != 0)
                    li -= (double)yj * LOG(pc);
                break;
            case FM_LOSS_BINARY_LOG:
                if (yj != 0)
                    li -= (double)yj * LOG(pc);
                if ((REAL)1 - yj != 0)
                    li -= (double)((REAL)1 - yj) * LOG((REAL)1 - pc);
                break;
            case FM_LOSS_POISSON:
                li += (yj != 0 ? (double)yj * LOG(yj / pj) : 0.0) - (double)yj + (double)pj;
                break;
            default: /* FM_LOSS_SQUARED */
                break;
            }
            di[j] = pj - yj;
        }
    }
    if (regression) {
        for (int64_t j = 0; j < cols; j++) {
            const double e = (double)yi[j] - (double)pi[j];
            ri += e * e;
        }
        if (net->loss == FM_LOSS_SQUARED)
            li = ri;
    } else {
        ri = SUF(row_correct)(net->loss, pi, yi, cols);
    }
    if (sw) {
        for (int64_t j = 0; j < cols; j++)
            di[j] *= sw[i];
        li *= (double)sw[i];
        ri *= (double)sw[i];
    }
    job->row_loss[i] = li;
    job->row_score[i] = ri;
}

static void SUF(output_loss_task)(void *ctx, int64_t blk)
{
    const SUF(loss_job) *job = (const SUF(loss_job) *)ctx;
    int64_t i0, i1;
    SUF(row_block)(blk, job->rows, &i0, &i1);
#ifdef LOSS_ROWS
    /* the log losses in groups of LOSS_ROWS_LANES rows; a group LOSS_ROWS declines (a value
     * that is not finite) takes the scalar rows */
    const fm_net *net = job->net;
    const int64_t cols = net->units[net->n_layers];
    if ((net->loss == FM_LOSS_LOG || net->loss == FM_LOSS_BINARY_LOG) &&
        cols <= LOSS_ROWS_MAX_COLS) {
        for (int64_t i = i0; i < i1; i += LOSS_ROWS_LANES) {
            const int64_t n = i1 - i < LOSS_ROWS_LANES ? i1 - i : LOSS_ROWS_LANES;
            if (!LOSS_ROWS(net->loss == FM_LOSS_BINARY_LOG, job->softmax_rows, cols, n,
                           job->p + i * cols, job->y + i * cols, job->sw ? job->sw + i : NULL,
                           job->delta + i * cols, job->row_loss + i, job->row_score + i))
                for (int64_t k = i; k < i + n; k++)
                    SUF(loss_row)(job, k);
        }
        return;
    }
#endif
    for (int64_t i = i0; i < i1; i++)
        SUF(loss_row)(job, i);
}

/* The output error of rows p, y, sw (rows x the output width; sw may be NULL), as training
 * computes it (softmax rows for a softmax output layer, whose logits p holds on entry): writes
 * p (softmax rows), delta and each row's weighted loss and score. A test hook: the row groups
 * of LOSS_ROWS against the scalar rows (the generic instruction set). */
int SUF(fm_output_loss)(const fm_net *net, REAL *p, const REAL *y, const REAL *sw, int64_t rows,
                        REAL *delta, double *row_loss, double *row_score)
{
    if (fm_net_check(net) || rows < 0 || (rows > 0 && (p == NULL || y == NULL ||
                                                       delta == NULL || row_loss == NULL ||
                                                       row_score == NULL)))
        return FM_ERR_ARG;
    SUF(loss_job) job = {net, delta, p, y, sw, rows, net->output_activation == FM_ACT_SOFTMAX,
                         row_loss, row_score};
    for (int64_t blk = 0; blk < FM_N_ROW_BLOCKS(rows); blk++)
        SUF(output_loss_task)(&job, blk);
    return FM_OK;
}

/* The output error of rows (output_loss_task, rows shared among threads), then the sums in row
 * order: returns sum_i w_i * loss_i, unscaled, and adds the running score to *score. */
static double SUF(output_loss_backward)(const fm_net *net, REAL *delta, REAL *p, const REAL *y,
                                        const REAL *sw, int64_t rows, int softmax_rows,
                                        double *score, double *row_stats)
{
    SUF(loss_job) job = {net, delta, p, y, sw, rows, softmax_rows, row_stats, row_stats + rows};
    const int64_t cols = net->units[net->n_layers];
    fm_parallel(rows * cols >= FM_PAR_MIN_ELEMS / 4, FM_N_ROW_BLOCKS(rows),
                SUF(output_loss_task), &job);
    double total = 0, right = 0;
    for (int64_t i = 0; i < rows; i++) {
        total += job.row_loss[i];
        right += job.row_score[i];
    }
    *score += right;
    return total;
}

/* ---- the training step: penalty sums, gradient, optimizer ---- */

/* Sum of squares (squares != 0) or of absolute values of w[0:count) in double, with 8
 * interleaved accumulators added in a fixed order: a loop the compiler vectorizes (one version
 * per kind), with a result that depends on count only. */
static double SUF(sum_lanes)(const REAL *w, int64_t count, int squares)
{
    double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= count; i += 8)
        for (int l = 0; l < 8; l++) {
            const double x = (double)w[i + l];
            lanes[l] += squares ? x * x : fabs(x);
        }
    double total = 0;
    for (int l = 0; l < 8; l++)
        total += lanes[l];
    for (; i < count; i++) {
        const double x = (double)w[i];
        total += squares ? x * x : fabs(x);
    }
    return total;
}

/* The data term of the loss: scikit-learn's scaling of the weighted per-sample losses. */
static double SUF(data_loss)(const fm_net *net, double raw_loss, double sw_sum)
{
    double loss = raw_loss / sw_sum;
    if (net->loss == FM_LOSS_SQUARED)
        loss = 0.5 * loss / (double)net->units[net->n_layers];
    return loss;
}

/* The penalty terms of the loss from per-chunk sums of squared and absolute weights (partials[c]
 * and partials[n_chunks + c]), added in chunk order. */
static double SUF(penalty_sums)(const fm_net *net, const double *sq_parts,
                                const double *abs_parts, int64_t n_chunks, double sw_sum)
{
    double sq = 0, abs_sum = 0;
    for (int64_t c = 0; c < n_chunks; c++) {
        sq += sq_parts[c];
        abs_sum += abs_parts[c];
    }
    double penalty = 0;
    if (net->alpha != 0)
        penalty += 0.5 * net->alpha * sq / sw_sum;
    if (net->alpha_l1 != 0)
        penalty += net->alpha_l1 * abs_sum / sw_sum;
    return penalty;
}

static double SUF(penalty)(const fm_net *net, const double *partials, int64_t n_chunks,
                           double sw_sum)
{
    return SUF(penalty_sums)(net, partials, partials + n_chunks, n_chunks, sw_sum);
}

/* Per-chunk penalty sums of the weights in [lo, w_hi). */
static inline void SUF(chunk_penalty)(const fm_net *net, const REAL *params, int64_t lo,
                                      int64_t w_hi, double *sq, double *abs_sum)
{
    *sq = net->alpha != 0 ? SUF(sum_lanes)(params + lo, w_hi - lo, 1) : 0.0;
    *abs_sum = net->alpha_l1 != 0 ? SUF(sum_lanes)(params + lo, w_hi - lo, 0) : 0.0;
}
/* The objective's gradient at i from its sum: (sum + alpha * w + alpha_l1 * sign(w)) / scale for
 * a weight, sum / scale otherwise. The division is a multiplication by 1 / scale (exact for a
 * power-of-two batch, within an ulp otherwise): Adam's square root and division already keep
 * the divider busy, and a third operation there cost ~3% of a ref-net epoch. */
static inline REAL SUF(gradient_at)(const REAL *grad, const REAL *params, int64_t i,
                                    int is_weight, REAL alpha, REAL l1, REAL scale)
{
    if (!is_weight)
        return grad[i] * ((REAL)1 / scale);
    REAL g = grad[i] + alpha * params[i];
    if (l1 != 0)
        g += l1 * (REAL)((params[i] > 0) - (params[i] < 0));
    return g * ((REAL)1 / scale);
}

/* Penalty slot s of a training batch: the weights of the layers from the last to the first, each
 * in chunks of FM_PARAM_CHUNK; [*lo, *hi) in the flat parameters. Returns 0 past the last. */
static int SUF(penalty_slot)(const fm_net *net, int64_t s, int64_t *lo, int64_t *hi)
{
    for (int l = net->n_layers - 1; l >= 0; l--) {
        const int64_t w0 = fm_weight_offset(net, l), count = net->units[l] * fm_dense_width(net, l);
        const int64_t chunks = (count + FM_PARAM_CHUNK - 1) / FM_PARAM_CHUNK;
        if (s < chunks) {
            *lo = w0 + s * FM_PARAM_CHUNK;
            *hi = count - s * FM_PARAM_CHUNK < FM_PARAM_CHUNK ? w0 + count : *lo + FM_PARAM_CHUNK;
            return 1;
        }
        s -= chunks;
    }
    return 0;
}

static int64_t SUF(n_penalty_slots)(const fm_net *net)
{
    int64_t n = 0;
    for (int l = 0; l < net->n_layers; l++)
        n += (net->units[l] * fm_dense_width(net, l) + FM_PARAM_CHUNK - 1) / FM_PARAM_CHUNK;
    return n;
}

typedef struct SUF(finish_job) {
    const fm_net *net;
    const REAL *params;
    REAL *grad;
    double *partials;
    int64_t n_chunks, n_trainable, n_weights;
    REAL alpha, l1, scale;
} SUF(finish_job);

static void SUF(finish_task)(void *ctx, int64_t c)
{
    const SUF(finish_job) *j = (const SUF(finish_job) *)ctx;
    int64_t lo, hi, w_hi;
    fm_param_chunk(c, j->n_trainable, j->n_weights, &lo, &hi, &w_hi);
    SUF(chunk_penalty)(j->net, j->params, lo, w_hi, j->partials + c,
                       j->partials + j->n_chunks + c);
    for (int64_t i = lo; i < w_hi; i++)
        j->grad[i] = SUF(gradient_at)(j->grad, j->params, i, 1, j->alpha, j->l1, j->scale);
    for (int64_t i = w_hi; i < hi; i++)
        j->grad[i] /= j->scale;
}

/* Turns gradient sums into the objective's gradient (gradient_at; zero for the running
 * statistics) and returns the loss: the scaled data term plus the penalty terms. */
static double SUF(finish_loss_grad)(const fm_net *net, const REAL *params, REAL *grad,
                                    double raw_loss, double sw_sum, double *partials)
{
    const int64_t n_trainable = fm_n_trainable(net), n_params = fm_n_params(net);
    SUF(finish_job) job = {net, params, grad, partials,
                           (n_trainable + FM_PARAM_CHUNK - 1) / FM_PARAM_CHUNK, n_trainable,
                           fm_bias_offset(net, 0), (REAL)net->alpha, (REAL)net->alpha_l1,
                           (REAL)sw_sum};
    fm_parallel(n_trainable >= FM_PAR_MIN_ELEMS, job.n_chunks, SUF(finish_task), &job);
    for (int64_t i = n_trainable; i < n_params; i++)
        grad[i] = 0;
    return SUF(data_loss)(net, raw_loss, sw_sum) +
           SUF(penalty)(net, partials, job.n_chunks, sw_sum);
}

/* Learning rates of one step, computed once per batch. */
typedef struct SUF(step_rates) {
    REAL lr;          /* the step's rate (scikit-learn's Adam: bias corrections folded in) */
    REAL decay;       /* AdamW: 1 - lr * weight_decay for the weights */
    REAL bc2_sqrt;    /* AdamW: sqrt(1 - beta_2 ** t) */
    REAL bc1;         /* AdamW: 1 - beta_1 ** t */
} SUF(step_rates);

/* Optimizer update of params[lo:hi) from gradient sums (gradient_at); m and v are the two
 * halves of the optimizer state. Each rule follows its reference's operation order. */
static inline void SUF(step_range)(const fm_optimizer *opt, SUF(step_rates) r, REAL *params,
                                   REAL *m, REAL *v, const REAL *grad, int64_t lo, int64_t hi,
                                   int is_weight, REAL alpha, REAL l1, REAL scale)
{
    const REAL b1 = (REAL)opt->beta_1, b2 = (REAL)opt->beta_2, eps = (REAL)opt->epsilon;
    const REAL mu = (REAL)opt->momentum, rho = (REAL)opt->rho, lr = r.lr;
    /* 1 - beta and 1 - rho in double, then rounded, as the references compute them (Python
     * floats): (REAL)1 - b2 in float is 1 - 1.3e-5 times float(0.001), which makes every float32
     * Adam step 6e-6 larger than float64's, the same way each time (issue: 1.8e-3 float32-vs-
     * float64 weight difference on digits, against scikit-learn's 1.2e-6). */
    const REAL w1 = (REAL)(1 - opt->beta_1), w2 = (REAL)(1 - opt->beta_2);
    const REAL w_rho = (REAL)(1 - opt->rho);
#define FM_G SUF(gradient_at)(grad, params, i, is_weight, alpha, l1, scale)
    switch (opt->solver) {
    case FM_SOLVER_ADAM: /* scikit-learn's AdamOptimizer */
        for (int64_t i = lo; i < hi; i++) {
            const REAL g = FM_G;
            m[i] = b1 * m[i] + w1 * g;
            v[i] = b2 * v[i] + w2 * (g * g);
            params[i] += -lr * m[i] / (SQRT(v[i]) + eps);
        }
        break;
    case FM_SOLVER_ADAMW: { /* torch.optim.AdamW */
        const REAL decay = is_weight ? r.decay : 1;
        const REAL step = lr / r.bc1;
        for (int64_t i = lo; i < hi; i++) {
            const REAL g = FM_G;
            params[i] *= decay;
            m[i] += w1 * (g - m[i]);
            v[i] = v[i] * b2 + g * g * w2;
            params[i] += -step * (m[i] / (SQRT(v[i]) / r.bc2_sqrt + eps));
        }
        break;
    }
    case FM_SOLVER_ADAGRAD: /* torch.optim.Adagrad */
        for (int64_t i = lo; i < hi; i++) {
            const REAL g = FM_G;
            m[i] += g * g;
            params[i] += -lr * (g / (SQRT(m[i]) + eps));
        }
        break;
    case FM_SOLVER_RMSPROP: /* torch.optim.RMSprop */
        for (int64_t i = lo; i < hi; i++) {
            const REAL g = FM_G;
            m[i] = m[i] * rho + g * g * w_rho;
            params[i] += -lr * (g / (SQRT(m[i]) + eps));
        }
        break;
    case FM_SOLVER_ADADELTA: /* torch.optim.Adadelta */
        for (int64_t i = lo; i < hi; i++) {
            const REAL g = FM_G;
            m[i] = m[i] * rho + g * g * w_rho;
            const REAL delta = SQRT(v[i] + eps) / SQRT(m[i] + eps) * g;
            v[i] = v[i] * rho + delta * delta * w_rho;
            params[i] += -lr * delta;
        }
        break;
    default: /* scikit-learn's SGDOptimizer */
        if (opt->nesterov) {
            for (int64_t i = lo; i < hi; i++) {
                const REAL g = FM_G;
                m[i] = mu * m[i] - lr * g;
                params[i] += mu * m[i] - lr * g;
            }
        } else {
            for (int64_t i = lo; i < hi; i++) {
                const REAL g = FM_G;
                m[i] = mu * m[i] - lr * g;
                params[i] += m[i];
            }
        }
        break;
    }
#undef FM_G
}

/* A batch's optimizer step. Each dense layer's weights and biases are stepped in the backward
 * pass (chunk_loss_grad) right after its gradient is final and its weights have passed the
 * gradient on, while they are still in cache; the PReLU slopes and batch-norm parameters once
 * the backward pass is done (fm_train_epoch). The penalty sums of the weights before the step
 * are taken at the start of the batch (batch_start_task), in penalty_slot order. */
typedef struct SUF(stepper) {
    const fm_optimizer *opt;
    SUF(step_rates) rates;
    REAL *params, *m, *v;
    REAL alpha, l1, scale;
    double sw_sum;
    double *sq_parts, *abs_parts; /* per penalty slot */
    int64_t n_parts;
    /* the batch runs on the calling thread alone: step_layer (whole batches) or
     * blocks_step_fused (row blocks) steps each penalty slot's weights and replaces the slot's
     * sums with those of the stepped weights, the next batch's penalty sums, taken while the
     * step waits on its divisions and square roots (this batch's penalty is taken from the sums
     * before the step) */
    int fuse_penalty;
    int sums_ready; /* the sums already hold the current weights' (the last step's) */
} SUF(stepper);

/* Elements per task of the optimizer step: elementwise, so the split never changes a value. */
#define FM_STEP_TASK 2048

typedef struct SUF(step_job) {
    const SUF(stepper) *st;
    const REAL *grad;
    int64_t lo, hi;
    int is_weight;
} SUF(step_job);

static void SUF(step_task)(void *ctx, int64_t task)
{
    const SUF(step_job) *j = (const SUF(step_job) *)ctx;
    const SUF(stepper) *st = j->st;
    const int64_t lo = j->lo + task * FM_STEP_TASK;
    const int64_t hi = j->hi - lo < FM_STEP_TASK ? j->hi : lo + FM_STEP_TASK;
    SUF(step_range)(st->opt, st->rates, st->params, st->m, st->v, j->grad, lo, hi, j->is_weight,
                    st->alpha, st->l1, st->scale);
}

/* Steps params[lo:hi) (weights when is_weight), shared among the threads when large. */
static void SUF(step_params)(const SUF(stepper) *st, const REAL *grad, int64_t lo, int64_t hi,
                             int is_weight)
{
    SUF(step_job) job = {st, grad, lo, hi, is_weight};
    fm_parallel(hi - lo >= 2 * FM_STEP_TASK, (hi - lo + FM_STEP_TASK - 1) / FM_STEP_TASK,
                SUF(step_task), &job);
}

/* Weights per piece of step_penalty_range: a piece's sums (chains of dependent additions) run
 * while the next piece's step waits on the divider. A multiple of 8. */
#define FM_PENALTY_PIECE 128

/* Steps the weights params[lo:hi) (one penalty slot), then writes the penalty sums of the
 * stepped weights to *sq and *abs_sum: chunk_penalty's values (sum_lanes's 8 lanes, added in
 * the same order), computed a piece at a time behind the step. */
static void SUF(step_penalty_range)(const fm_net *net, const SUF(stepper) *st, const REAL *grad,
                                    int64_t lo, int64_t hi, double *sq, double *abs_sum)
{
    const int want_sq = net->alpha != 0, want_abs = net->alpha_l1 != 0;
    const REAL *w = st->params;
    double lsq[8] = {0, 0, 0, 0, 0, 0, 0, 0}, labs[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    const int64_t whole = lo + (hi - lo) / 8 * 8; /* the lanes' part; the rest is the tail */
    for (int64_t i = lo; i < hi; i += FM_PENALTY_PIECE) {
        const int64_t e = hi - i < FM_PENALTY_PIECE ? hi : i + FM_PENALTY_PIECE;
        SUF(step_range)(st->opt, st->rates, st->params, st->m, st->v, grad, i, e, 1, st->alpha,
                        st->l1, st->scale);
        const int64_t e8 = e < whole ? e : whole;
        if (want_sq)
            for (int64_t k = i; k + 8 <= e8; k += 8)
                for (int l = 0; l < 8; l++) {
                    const double x = (double)w[k + l];
                    lsq[l] += x * x;
                }
        if (want_abs)
            for (int64_t k = i; k + 8 <= e8; k += 8)
                for (int l = 0; l < 8; l++)
                    labs[l] += fabs((double)w[k + l]);
    }
    double total_sq = 0, total_abs = 0;
    for (int l = 0; l < 8; l++) {
        total_sq += lsq[l];
        total_abs += labs[l];
    }
    for (int64_t k = whole; k < hi; k++) {
        const double x = (double)w[k];
        total_sq += x * x;
        total_abs += fabs(x);
    }
    *sq = want_sq ? total_sq : 0.0;
    *abs_sum = want_abs ? total_abs : 0.0;
}

/* Dense layer l's weights, then its biases; with fuse_penalty, the weights slot by slot on the
 * calling thread, each slot's sums replaced by the stepped weights' (penalty_slot order: the
 * layers from the last to the first, each in chunks of FM_PARAM_CHUNK). */
static void SUF(step_layer)(const fm_net *net, const SUF(stepper) *st, const REAL *grad, int l)
{
    const int64_t w0 = fm_weight_offset(net, l), width = fm_dense_width(net, l);
    const int64_t b0 = fm_bias_offset(net, l), count = net->units[l] * width;
    if (st->fuse_penalty) {
        int64_t slot = 0; /* the first slot of layer l */
        for (int k = net->n_layers - 1; k > l; k--)
            slot += (net->units[k] * fm_dense_width(net, k) + FM_PARAM_CHUNK - 1) / FM_PARAM_CHUNK;
        for (int64_t lo = w0; lo < w0 + count; lo += FM_PARAM_CHUNK, slot++) {
            const int64_t hi = w0 + count - lo < FM_PARAM_CHUNK ? w0 + count : lo + FM_PARAM_CHUNK;
            SUF(step_penalty_range)(net, st, grad, lo, hi, st->sq_parts + slot,
                                    st->abs_parts + slot);
        }
    } else {
        SUF(step_params)(st, grad, w0, w0 + count, 1);
    }
    SUF(step_params)(st, grad, b0, b0 + width, 0);
}

/* The stepper of the optimizer's next step (opt->step is advanced by the caller once the step
 * is taken); its penalty sums are still to be taken. */
static SUF(stepper) SUF(stepper_for)(const fm_net *net, const fm_optimizer *opt, REAL *params,
                                     REAL *state, double sw_sum, double *partials,
                                     int64_t n_slots)
{
    const int64_t n_params = fm_n_params(net);
    const int64_t t = (int64_t)opt->step + 1;
    SUF(stepper) st;
    st.opt = opt;
    st.rates.lr = (REAL)opt->learning_rate;
    st.rates.decay = 1;
    st.rates.bc2_sqrt = 1;
    st.rates.bc1 = 1;
    /* beta ** t: fm_powi (fm_math.h), the same bits on every platform */
    double pow1 = 0, pow2 = 0;
    if (opt->solver == FM_SOLVER_ADAM || opt->solver == FM_SOLVER_ADAMW)
        fm_powi2(opt->beta_1, opt->beta_2, t, &pow1, &pow2);
    if (opt->solver == FM_SOLVER_ADAM)
        st.rates.lr = (REAL)(opt->learning_rate * sqrt(1 - pow2) / (1 - pow1));
    if (opt->solver == FM_SOLVER_ADAMW) {
        st.rates.decay = (REAL)(1 - opt->learning_rate * opt->weight_decay);
        st.rates.bc2_sqrt = (REAL)sqrt(1 - pow2);
        st.rates.bc1 = (REAL)(1 - pow1);
    }
    st.params = params;
    st.m = state;
    st.v = state + n_params;
    st.alpha = (REAL)net->alpha;
    st.l1 = (REAL)net->alpha_l1;
    st.scale = (REAL)sw_sum;
    st.sw_sum = sw_sum;
    st.sq_parts = partials;
    st.abs_parts = partials + n_slots;
    st.n_parts = SUF(n_penalty_slots)(net);
    st.fuse_penalty = 0;
    st.sums_ready = 0;
    return st;
}

/* Whether a batch's loss, its data term and the penalty of the weights before its update, is
 * finite: the condition for applying its update. */
static int SUF(stepper_loss_ok)(const fm_net *net, const SUF(stepper) *st, double raw_loss)
{
    return isfinite(SUF(data_loss)(net, raw_loss, st->sw_sum) +
                    SUF(penalty_sums)(net, st->sq_parts, st->abs_parts, st->n_parts,
                                      st->sw_sum));
}

/* ---- forward, loss and backward of a chunk of rows ---- */

/* The backward pass of rows rows (rows r0 onwards of the workspace's buffers, whose forward pass
 * and output error are there; x: their input), GEMMs packing in pack. grad gets (accumulate:
 * adds) the gradient sums; with a stepper, each dense layer's weights and biases take their
 * optimizer step as soon as its gradient is final and its weights have passed the gradient on,
 * while they are still in cache. */
static int SUF(rows_backward)(const fm_net *net, const REAL *params, const REAL *x, int64_t rows,
                              fm_workspace *ws, int64_t r0, REAL *pack, REAL *grad,
                              int accumulate, const SUF(stepper) *st)
{
    const int L = net->n_layers;
    const int64_t *u = net->units;
    REAL *const *acts = (REAL *const *)ws->acts;     /* acts[l], l = 1..L */
    REAL *const *deltas = (REAL *const *)ws->deltas; /* deltas[l], l = 1..L */
    for (int l = L - 1; l >= 0; l--) {
        const REAL *w = params + fm_weight_offset(net, l);
        const int general_below = l > 0 && fm_layer_general(net, l - 1);
        const int64_t width = fm_dense_width(net, l);
        REAL *in = l > 0 ? acts[l] + r0 * u[l] : NULL;
        /* d loss / d the input of layer l: for a general layer below, its output's gradient
         * (its own backward pass follows); for a fused one, times its activation derivative
         * (a function of its output acts[l]) in the product's epilogue, dropout's mask and
         * scale included for ReLU */
        const double scale =
            l > 0 && fm_layer_dropout(net, l - 1) ? 1.0 / (1.0 - net->dropout[l - 1]) : 0;
        const fm_epilogue ep = {FM_EPI_DERIV, net->hidden_activation, NULL, in, u[l], scale};
        REAL *d_in = l == 0           ? NULL
                     : general_below ? (REAL *)ws->gbuf + r0 * ws->gbuf_width
                                     : deltas[l] + r0 * u[l];
        int err = SUF(dense_backward)(grad + fm_weight_offset(net, l),
                                      grad + fm_bias_offset(net, l), d_in,
                                      deltas[l + 1] + r0 * width, l == 0 ? x : in, w, rows, u[l],
                                      width, accumulate, general_below ? NULL : &ep, pack,
                                      net->matmul_precision);
        if (err)
            return err;
        if (general_below) {
            const int64_t below = fm_dense_width(net, l - 1);
            const REAL *mask = (const REAL *)ws->mask[l - 1];
            const REAL *bnx = (const REAL *)ws->bnx[l - 1];
            SUF(hidden_backward)(net, l - 1, params, grad, deltas[l] + r0 * below, d_in,
                                 (const REAL *)ws->pre[l - 1] + r0 * below,
                                 bnx ? bnx + r0 * below : NULL, (const REAL *)ws->bnstat[l - 1],
                                 mask ? mask + r0 * u[l] : NULL, rows, accumulate);
        }
        /* the layer's weights have passed the gradient on: its optimizer step, in cache */
        if (st != NULL)
            SUF(step_layer)(net, st, grad, l);
    }
    return FM_OK;
}

/* Forward, loss and backward of one chunk of rows (training mode: batch statistics, dropout
 * masks keyed by (seed, stream) for rows row0 + i; with a stepper, the updated batch-norm
 * running statistics go to ws->bn_running). grad gets (or, when accumulate != 0, adds) the
 * unnormalized gradient sums: sum_i x_i^T delta_i for weights, sum_i delta_i for biases,
 * likewise for PReLU slopes and batch-norm scales and shifts. Returns the unscaled weighted
 * loss sum through *raw_loss and adds the running score to *score.
 * With a stepper (training; accumulate == 0), a non-finite loss returns FM_ERR_NONFINITE before
 * anything is updated, and each dense layer's weights and biases take their optimizer step in
 * the backward pass (rows_backward); the caller steps the rest. */
static int SUF(chunk_loss_grad)(const fm_net *net, const REAL *params, const REAL *x,
                                const REAL *y, const REAL *sw, int64_t rows, fm_workspace *ws,
                                REAL *grad, int accumulate, double *raw_loss, double *score,
                                uint64_t seed, uint64_t stream, int64_t row0,
                                const SUF(stepper) *st)
{
    const int L = net->n_layers;
    REAL *const *acts = (REAL *const *)ws->acts;   /* acts[l], l = 1..L */
    REAL *const *deltas = (REAL *const *)ws->deltas; /* deltas[l], l = 1..L */
    REAL *pack = (REAL *)ws->pack;
    const int softmax_in_loss = net->output_activation == FM_ACT_SOFTMAX;
    int err = SUF(forward)(net, params, NULL, NULL, st != NULL ? (REAL *)ws->bn_running : NULL, x,
                           acts + 1, ws, NULL, rows, pack, softmax_in_loss, 1, seed, stream, row0,
                           0);
    if (err)
        return err;
    *raw_loss = SUF(output_loss_backward)(net, deltas[L], acts[L], y, sw, rows, softmax_in_loss,
                                          score, ws->row_stats);
    if (st != NULL && !SUF(stepper_loss_ok)(net, st, *raw_loss))
        return FM_ERR_NONFINITE; /* before this batch's update */
    return SUF(rows_backward)(net, params, x, rows, ws, 0, pack, grad, accumulate, st);
}

static double SUF(weight_sum)(const REAL *sw, int64_t rows)
{
    double total = 0;
    for (int64_t i = 0; i < rows; i++)
        total += (double)sw[i];
    return total;
}

/* ---- the epoch driver ---- */

/* Rows ahead of the copy whose first cache lines the gather asks for (at most 8 lines a row):
 * the batch's rows lie anywhere in the data, mostly beyond the private caches, and the copies
 * themselves are short. */
#define FM_GATHER_AHEAD 4

/* Asks for the first cache lines (at most 8) of a row of bytes bytes at row, and of its target
 * row. */
static inline void SUF(prefetch_row)(const REAL *row, size_t bytes, const REAL *target)
{
#if defined(__GNUC__) || defined(__clang__)
    for (size_t b = 0; b < bytes && b < 512; b += 64)
        __builtin_prefetch((const char *)row + b);
    __builtin_prefetch(target);
#else
    (void)row;
    (void)bytes;
    (void)target;
#endif
}

/* dst[i] = src[idx[i]] for the rows i < rows of n values (and of n_y values for y, and one
 * weight when sw is not NULL); asks for the rows later[0:n_later) on the way (the next
 * gather's: they arrive while this block is computed). */
static void SUF(gather_rows)(REAL *dst, REAL *ydst, REAL *swdst, const REAL *src, const REAL *y,
                             const REAL *sw, const int64_t *idx, int64_t rows, int64_t n,
                             int64_t n_y, const int64_t *later, int64_t n_later)
{
    const size_t bytes = (size_t)n * sizeof(REAL);
    for (int64_t i = 0; i < rows; i++) {
        if (i + FM_GATHER_AHEAD < rows)
            SUF(prefetch_row)(src + idx[i + FM_GATHER_AHEAD] * n, bytes,
                              y + idx[i + FM_GATHER_AHEAD] * n_y);
        if (i < n_later)
            SUF(prefetch_row)(src + later[i] * n, bytes, y + later[i] * n_y);
        const int64_t r = idx[i];
        memcpy(dst + i * n, src + r * n, bytes);
        if (n_y == 1) /* one output (binary targets, one regression target): no call */
            ydst[i] = y[r];
        else
            memcpy(ydst + i * n_y, y + r * n_y, (size_t)n_y * sizeof(REAL));
        if (sw)
            swdst[i] = sw[r];
    }
    for (int64_t i = rows; i < n_later; i++)
        SUF(prefetch_row)(src + later[i] * n, bytes, y + later[i] * n_y);
}

/* The first job of a training batch: its rows gathered (tasks [0, n_gather)), and the penalty
 * sums of the weights before the step (the rest: one task per penalty slot). */
typedef struct SUF(batch_job) {
    const fm_net *net;
    const REAL *params, *x, *y, *sw;
    const int64_t *idx;
    REAL *xg, *yg, *swg;
    int64_t rows, n_in, n_out, n_gather;
    double *sq_parts, *abs_parts;
    int64_t n_after; /* rows of the order after the batch's (at idx + rows): the next batch's */
} SUF(batch_job);

static void SUF(batch_start_task)(void *ctx, int64_t task)
{
    const SUF(batch_job) *j = (const SUF(batch_job) *)ctx;
    if (task < j->n_gather) {
        int64_t i0, i1;
        SUF(row_block)(task, j->rows, &i0, &i1);
        const int64_t n_in = j->n_in, n_out = j->n_out;
        /* the next batch's rows of the same positions, asked for on the way */
        const int64_t later = j->n_after < i0 ? 0 : j->n_after - i0;
        SUF(gather_rows)(j->xg + i0 * n_in, j->yg + i0 * n_out, j->sw ? j->swg + i0 : NULL, j->x,
                         j->y, j->sw, j->idx + i0, i1 - i0, n_in, n_out, j->idx + j->rows + i0,
                         later < i1 - i0 ? later : i1 - i0);
        return;
    }
    const int64_t slot = task - j->n_gather;
    int64_t lo = 0, hi = 0; /* set by penalty_slot: slot < n_penalty_slots */
    SUF(penalty_slot)(j->net, slot, &lo, &hi);
    SUF(chunk_penalty)(j->net, j->params, lo, hi, j->sq_parts + slot, j->abs_parts + slot);
}

/* Multiply-adds of the largest layer's product over rows rows: below 2 FM_PAR_MIN_WORK no
 * product is shared among threads, so the whole batch (or prediction) runs on the calling
 * thread, without the adaptive choice. */
static double SUF(largest_product)(const fm_net *net, int64_t rows)
{
    double work = 0;
    for (int l = 0; l < net->n_layers; l++) {
        const double layer = (double)net->units[l] * (double)fm_dense_width(net, l);
        work = layer > work ? layer : work;
    }
    return work * (double)rows;
}

/* ---- a training batch in row blocks (fm_row_blocks) ----
 * One job takes each block through gather, forward pass, output error and backward pass (a
 * task per block, on the calling thread's cap of one so that its products and passes run
 * there) and the penalty sums of the weights before the step (the first tasks); once the loss
 * is known to be finite, a second job adds the blocks' gradients in block order and takes the
 * optimizer step, a task per FM_STEP_TASK parameters. */
typedef struct SUF(blocks_job) {
    const fm_net *net;
    const REAL *params, *x, *y, *sw; /* the batch's rows (x, y, sw: of the data when idx) */
    const int64_t *idx;              /* the batch's rows in the data, or NULL */
    int64_t n_after;                 /* rows of the order after the batch's (at idx + rows) */
    fm_workspace *ws;
    REAL *grad;
    int64_t rows, n_blocks, block_rows;
    uint64_t seed, stream;
    int64_t row0;
    double *sq_parts, *abs_parts;
    int64_t n_slots; /* penalty slots whose sums the first job takes */
    const SUF(stepper) *st;
    int check_x;       /* each block checks its rows of x once gathered (in its core's cache) */
    atomic_int x_bad;  /* and one that found NaN or infinity says so here */
    atomic_int err;
} SUF(blocks_job);

static int SUF(all_finite)(const REAL *x, int64_t count);

/* Task of the first job: the penalty slots' sums first (n_slots of them, 0 when the sums are
 * ready), then the blocks. The calling thread claims tasks from the front and the other thread
 * from the back (pool.c), so the caller takes the sums before its first block while the other
 * thread starts on the last block at once: with the sums last, the other thread took them
 * first and started its blocks 3 us late, and the caller then waited for it at the end of
 * every batch (64-100-10 net, two threads). */
static void SUF(block_task)(void *ctx, int64_t task)
{
    SUF(blocks_job) *j = (SUF(blocks_job) *)ctx;
    const fm_net *net = j->net;
    fm_workspace *ws = j->ws;
    if (task < j->n_slots) {
        int64_t lo = 0, hi = 0; /* set by penalty_slot: task < n_penalty_slots */
        SUF(penalty_slot)(net, task, &lo, &hi);
        SUF(chunk_penalty)(net, j->params, lo, hi, j->sq_parts + task, j->abs_parts + task);
        return;
    }
    task -= j->n_slots;
    const int L = net->n_layers;
    const int64_t n_in = net->units[0], n_out = net->units[L];
    const int64_t r0 = task * j->block_rows;
    const int64_t rows = task == j->n_blocks - 1 ? j->rows - r0 : j->block_rows;
    REAL *x = (REAL *)ws->acts[0] + r0 * n_in, *y = (REAL *)ws->ybatch + r0 * n_out;
    REAL *sw = j->sw ? (REAL *)ws->swbatch + r0 : NULL;
    if (j->idx != NULL) {
        /* the next block's rows, or the next batch's first block's, asked for on the way */
        const int64_t next0 = r0 + rows;
        const int64_t n_next = task + 1 < j->n_blocks
                                   ? (task + 1 == j->n_blocks - 1 ? j->rows - next0 : j->block_rows)
                                   : (j->n_after < j->block_rows ? j->n_after : j->block_rows);
        SUF(gather_rows)(x, y, sw, j->x, j->y, j->sw, j->idx + r0, rows, n_in, n_out,
                         j->idx + next0, n_next);
    } else {
        x = (REAL *)j->x + r0 * n_in;
        y = (REAL *)j->y + r0 * n_out;
        sw = j->sw ? (REAL *)j->sw + r0 : NULL;
    }
    if (j->check_x && !SUF(all_finite)(x, rows * n_in))
        atomic_store(&j->x_bad, 1); /* the batch ends before its update; the rest is unused */
    const int cap = fm_pool_set_cap(1);
    REAL *pack = (REAL *)ws->block_pack + task * ws->block_pack_elems;
    REAL *grad = task == 0 ? j->grad : (REAL *)ws->block_grads + (task - 1) * ws->block_grad_stride;
    REAL *const *acts = (REAL *const *)ws->acts;
    REAL *const *deltas = (REAL *const *)ws->deltas;
    const int softmax_in_loss = net->output_activation == FM_ACT_SOFTMAX;
    int err = SUF(forward)(net, j->params, NULL, NULL, NULL, x, acts + 1, ws, NULL, rows, pack,
                           softmax_in_loss, 1, j->seed, j->stream, j->row0 + r0, r0);
    if (err == FM_OK) {
        /* each row's loss and score, in the batch's row_stats (summed in row order) */
        SUF(loss_job) lj = {net,
                            deltas[L] + r0 * n_out,
                            acts[L] + r0 * n_out,
                            y,
                            sw,
                            rows,
                            softmax_in_loss,
                            ws->row_stats + r0,
                            ws->row_stats + j->rows + r0};
        for (int64_t blk = 0; blk < FM_N_ROW_BLOCKS(rows); blk++)
            SUF(output_loss_task)(&lj, blk);
        err = SUF(rows_backward)(net, j->params, x, rows, ws, r0, pack, grad, 0, NULL);
    }
    fm_pool_set_cap(cap);
    if (err) {
        int none = FM_OK;
        atomic_compare_exchange_strong(&j->err, &none, err);
    }
}

/* Task of the second job: parameters [task FM_STEP_TASK, +FM_STEP_TASK) of the trainable ones:
 * the blocks' gradients added in block order into grad, then the optimizer step. */
/* The blocks' gradients of parameters [lo, hi) added into grad in block order. */
static void SUF(add_block_grads)(const SUF(blocks_job) *j, int64_t lo, int64_t hi)
{
    REAL *grad = j->grad;
    const REAL *parts = (const REAL *)j->ws->block_grads;
    const int64_t stride = j->ws->block_grad_stride;
    if (j->n_blocks == 4) { /* one pass, each sum's additions in block order as below */
        const REAL *p1 = parts, *p2 = parts + stride, *p3 = parts + 2 * stride;
        for (int64_t i = lo; i < hi; i++)
            grad[i] = ((grad[i] + p1[i]) + p2[i]) + p3[i];
    } else {
        for (int64_t b = 1; b < j->n_blocks; b++) {
            const REAL *part = parts + (b - 1) * stride;
            for (int64_t i = lo; i < hi; i++)
                grad[i] += part[i];
        }
    }
}

static void SUF(block_step_task)(void *ctx, int64_t task)
{
    const SUF(blocks_job) *j = (const SUF(blocks_job) *)ctx;
    const int64_t n_trainable = fm_n_trainable(j->net), n_weights = fm_bias_offset(j->net, 0);
    const int64_t lo = task * FM_STEP_TASK;
    const int64_t hi = n_trainable - lo < FM_STEP_TASK ? n_trainable : lo + FM_STEP_TASK;
    REAL *grad = j->grad;
    SUF(add_block_grads)(j, lo, hi);
    const SUF(stepper) *st = j->st;
    const int64_t w_hi = n_weights < lo ? lo : (n_weights > hi ? hi : n_weights);
    if (w_hi > lo)
        SUF(step_range)(st->opt, st->rates, st->params, st->m, st->v, grad, lo, w_hi, 1,
                        st->alpha, st->l1, st->scale);
    if (hi > w_hi)
        SUF(step_range)(st->opt, st->rates, st->params, st->m, st->v, grad, w_hi, hi, 0,
                        st->alpha, st->l1, st->scale);
}

/* The second job's work on the calling thread alone, with fuse_penalty: each penalty slot's
 * weights (the blocks' gradients added, then stepped), whose sums are replaced by the stepped
 * weights' (step_penalty_range), then the other trainable parameters. The same values as
 * block_step_task's. */
static void SUF(blocks_step_fused)(const SUF(blocks_job) *j)
{
    const fm_net *net = j->net;
    const SUF(stepper) *st = j->st;
    const int64_t n_trainable = fm_n_trainable(net), n_weights = fm_bias_offset(net, 0);
    int64_t lo = 0, hi = 0;
    for (int64_t slot = 0; SUF(penalty_slot)(net, slot, &lo, &hi); slot++) {
        SUF(add_block_grads)(j, lo, hi);
        SUF(step_penalty_range)(net, st, j->grad, lo, hi, st->sq_parts + slot,
                                st->abs_parts + slot);
    }
    SUF(add_block_grads)(j, n_weights, n_trainable);
    SUF(step_range)(st->opt, st->rates, st->params, st->m, st->v, j->grad, n_weights, n_trainable,
                    0, st->alpha, st->l1, st->scale);
}

/* A training batch of rows rows in n_blocks row blocks of block_rows (the last: the rest):
 * gathered through idx unless it is NULL (n_after rows of the order follow at idx + rows: the
 * last block asks for the next batch's first rows). Returns the unscaled weighted loss sum through
 * *raw_loss, adds the running score to *score, and steps the parameters (the caller advances
 * opt->step). FM_ERR_NONFINITE before any update when the loss is not finite; with check_x,
 * FM_ERR_INPUT before any update when the batch's rows of x are not (checked once gathered). */
static int SUF(blocks_train_batch)(const fm_net *net, SUF(stepper) *st, REAL *params,
                                   const REAL *x, const REAL *y, const REAL *sw,
                                   const int64_t *idx, int64_t n_after, int64_t rows,
                                   int64_t n_blocks, int64_t block_rows, fm_workspace *ws,
                                   uint64_t seed, uint64_t stream, int64_t row0,
                                   double *raw_loss, double *score, double *sw_sum,
                                   double *penalty, int check_x)
{
    SUF(blocks_job) j;
    memset(&j, 0, sizeof(j));
    j.n_after = idx != NULL ? n_after : 0;
    j.net = net;
    j.params = params;
    j.x = x;
    j.y = y;
    j.sw = sw;
    j.idx = idx;
    j.ws = ws;
    j.grad = (REAL *)ws->grad;
    j.rows = rows;
    j.n_blocks = n_blocks;
    j.block_rows = block_rows;
    j.seed = seed;
    j.stream = stream;
    j.row0 = row0;
    j.sq_parts = st->sq_parts;
    j.abs_parts = st->abs_parts;
    j.st = st;
    j.n_slots = st->sums_ready ? 0 : st->n_parts;
    j.check_x = check_x;
    atomic_init(&j.x_bad, 0);
    atomic_init(&j.err, FM_OK);
    fm_parallel(1, j.n_slots + n_blocks, SUF(block_task), &j);
    if (atomic_load(&j.x_bad))
        return FM_ERR_INPUT;
    int err = atomic_load(&j.err);
    if (err)
        return err;
    const REAL *swb = sw == NULL ? NULL : idx != NULL ? (const REAL *)ws->swbatch : sw;
    *sw_sum = swb ? SUF(weight_sum)(swb, rows) : (double)rows;
    st->scale = (REAL)*sw_sum;
    st->sw_sum = *sw_sum;
    double total = 0, right = 0;
    for (int64_t i = 0; i < rows; i++) {
        total += ws->row_stats[i];
        right += ws->row_stats[rows + i];
    }
    *raw_loss = total;
    if (!SUF(stepper_loss_ok)(net, st, total))
        return FM_ERR_NONFINITE; /* before this batch's update */
    *score += right;
    /* the penalty of the weights before the step (which may replace the sums) */
    *penalty = SUF(penalty_sums)(net, st->sq_parts, st->abs_parts, st->n_parts, *sw_sum);
    const int64_t n_trainable = fm_n_trainable(net);
    if (st->fuse_penalty)
        SUF(blocks_step_fused)(&j);
    else
        fm_parallel(1, (n_trainable + FM_STEP_TASK - 1) / FM_STEP_TASK, SUF(block_step_task),
                    &j);
    return FM_OK;
}

int SUF(fm_train_epoch)(const fm_net *net, fm_optimizer *opt, REAL *params, REAL *opt_state,
                        const REAL *x, const REAL *y, const REAL *sw, const fm_batches *batches,
                        fm_workspace *ws, fm_sums *sums)
{
    if (batches == NULL || sums == NULL)
        return FM_ERR_ARG;
    const int64_t n_rows = batches->n_rows, n_samples = batches->n_samples;
    const int64_t batch_size = batches->batch_size, position = batches->position;
    const int64_t *order = batches->order;
    const uint64_t seed = batches->seed, epoch_key = batches->epoch_key;
    if (fm_net_check(net) || ws == NULL || ws->elem_size != sizeof(REAL) || batch_size < 1 ||
        batch_size > ws->max_rows || n_samples < 1 || position < 0 ||
        (order == NULL && n_samples > n_rows) || ws->n_params != fm_n_params(net) ||
        ws->matmul_precision != net->matmul_precision ||
        opt->solver < FM_SOLVER_SGD || opt->solver > FM_SOLVER_ADADELTA)
        return FM_ERR_ARG;
    if (order != NULL)
        for (int64_t i = 0; i < n_samples; i++)
            if (order[i] < 0 || order[i] >= n_rows)
                return FM_ERR_ARG;
    const int64_t n_in = net->units[0], n_out = net->units[net->n_layers];
    const int64_t run0 = fm_bn_offset(net, 0, 2), n_running = fm_n_params(net) - run0;
    REAL *grad = (REAL *)ws->grad;
    /* batches in row blocks (fm_row_blocks), or whole: the products shared among threads when
     * they are large enough, on the calling thread otherwise */
    const int blocked = fm_row_blocks(net, fm_n_params(net), batch_size, NULL) > 1;
    const int adaptive =
        blocked || SUF(largest_product)(net, batch_size) >= 2 * FM_PAR_MIN_WORK;
    const uint64_t key = fm_work_key(1, fm_net_key(net), batch_size, sizeof(REAL));
    int err = FM_OK;
    /* whether ws->partials holds the penalty sums of the current weights (the stepper's
     * fuse_penalty: a batch on the calling thread alone took them in its step) */
    int penalty_ready = 0;
    for (int64_t start = 0; start < n_samples && err == FM_OK; start += batch_size) {
        const int64_t rows = n_samples - start < batch_size ? n_samples - start : batch_size;
        const fm_adapt_choice choice =
            !adaptive ? fm_adapt_none()
            : blocked ? fm_adapt_choose_gain(key, FM_ROW_BLOCKS_GAIN)
                      : fm_adapt_choose(key);
        const int cap = fm_pool_set_cap(adaptive ? choice.threads : 1);
        const REAL *xb = x + start * n_in, *yb = y + start * n_out;
        const REAL *swb = sw ? sw + start : NULL;
        SUF(stepper) st = SUF(stepper_for)(net, opt, params, opt_state, 0, ws->partials,
                                           ws->n_partials);
        st.sums_ready = penalty_ready;
        st.fuse_penalty = (adaptive ? choice.threads : 1) <= 1;
        int64_t block_rows;
        const int64_t n_blocks = fm_row_blocks(net, fm_n_params(net), rows, &block_rows);
        if (n_blocks > 1 && n_blocks <= ws->max_blocks) {
            double raw, sw_sum, penalty, batch_score = 0;
            err = SUF(blocks_train_batch)(net, &st, params, order ? x : xb, order ? y : yb,
                                          order ? sw : swb, order ? order + start : NULL,
                                          n_samples - start - rows, rows, n_blocks, block_rows,
                                          ws, seed, epoch_key, position + start, &raw,
                                          &batch_score, &sw_sum, &penalty, batches->check_x);
            if (err == FM_OK) {
                opt->step += 1;
                const double loss = SUF(data_loss)(net, raw, sw_sum) + penalty;
                sums->loss_sum = fma(loss, (double)rows, sums->loss_sum);
                sums->score += batch_score;
            }
            penalty_ready = err == FM_OK && st.fuse_penalty;
            fm_pool_set_cap(cap);
            fm_adapt_record(choice, (double)rows);
            continue;
        }
        SUF(batch_job) bj = {net,  params, x,    y,    sw,           order ? order + start : NULL,
                             (REAL *)ws->acts[0], (REAL *)ws->ybatch, (REAL *)ws->swbatch, rows,
                             n_in, n_out, order ? FM_N_ROW_BLOCKS(rows) : 0, st.sq_parts,
                             st.abs_parts, n_samples - start - rows};
        fm_parallel(order != NULL ? rows * n_in >= FM_PAR_MIN_ELEMS
                                  : st.n_parts * FM_PARAM_CHUNK >= 2 * FM_PAR_MIN_ELEMS,
                    bj.n_gather + (penalty_ready ? 0 : st.n_parts), SUF(batch_start_task), &bj);
        if (order != NULL) {
            xb = bj.xg;
            yb = bj.yg;
            swb = sw ? bj.swg : NULL;
        }
        if (batches->check_x && !SUF(all_finite)(xb, rows * n_in)) {
            err = FM_ERR_INPUT; /* before this batch's update */
            fm_pool_set_cap(cap);
            break;
        }
        const double sw_sum = swb ? SUF(weight_sum)(swb, rows) : (double)rows;
        st.scale = (REAL)sw_sum;
        st.sw_sum = sw_sum;
        /* the penalty of the weights before the step, taken before the step replaces the sums
         * (fuse_penalty) */
        const double penalty = SUF(penalty_sums)(net, st.sq_parts, st.abs_parts, st.n_parts,
                                                 sw_sum);
        double raw, batch_score = 0;
        err = SUF(chunk_loss_grad)(net, params, xb, yb, swb, rows, ws, grad, 0, &raw,
                                   &batch_score, seed, epoch_key, position + start, &st);
        penalty_ready = err == FM_OK && st.fuse_penalty;
        if (err == FM_OK) {
            /* the PReLU slopes and batch-norm parameters, past the dense layers' biases; then
             * the running statistics the batch computed */
            SUF(step_params)(&st, grad, fm_bias_offset(net, net->n_layers), fm_n_trainable(net),
                             0);
            if (n_running > 0)
                memcpy(params + run0, ws->bn_running, (size_t)n_running * sizeof(REAL));
            opt->step += 1;
            const double loss = SUF(data_loss)(net, raw, sw_sum) + penalty;
            /* one fused multiply-add, on every instruction set (fma() is one instruction
             * where the hardware has it) */
            sums->loss_sum = fma(loss, (double)rows, sums->loss_sum);
            sums->score += batch_score;
        }
        fm_pool_set_cap(cap);
        fm_adapt_record(choice, (double)rows);
    }
    return err;
}

int SUF(fm_loss_grad)(const fm_net *net, const REAL *params, const REAL *x, const REAL *y,
                      const REAL *sw, int64_t n_samples, fm_workspace *ws, REAL *grad,
                      double *loss)
{
    *loss = NAN;
    if (fm_net_check(net) || ws == NULL || ws->elem_size != sizeof(REAL) || n_samples < 1 ||
        ws->n_params != fm_n_params(net) || ws->matmul_precision != net->matmul_precision ||
        (net->batch_norm && n_samples > ws->max_rows))
        return FM_ERR_ARG;
    const int64_t n_in = net->units[0], n_out = net->units[net->n_layers];
    double raw_total = 0, score = 0;
    for (int64_t start = 0; start < n_samples; start += ws->max_rows) {
        const int64_t rows = n_samples - start < ws->max_rows ? n_samples - start : ws->max_rows;
        double raw;
        int err = SUF(chunk_loss_grad)(net, params, x + start * n_in, y + start * n_out,
                                       sw ? sw + start : NULL, rows, ws, grad, start > 0, &raw,
                                       &score, net->dropout_seed, 0, start, NULL);
        if (err)
            return err;
        raw_total += raw;
    }
    const double sw_sum = sw ? SUF(weight_sum)(sw, n_samples) : (double)n_samples;
    *loss = SUF(finish_loss_grad)(net, params, grad, raw_total, sw_sum, ws->partials);
    return FM_OK;
}

/* Whether x[0:count) holds only finite values: x - x is 0 for finite x and NaN otherwise, a
 * compare and an or per element, which vectorize (a sum of x * 0 in 8 lanes had the compiler
 * transpose blocks of x first). */
static int SUF(all_finite)(const REAL *x, int64_t count)
{
    int bad = 0;
    for (int64_t i = 0; i < count; i++)
        bad |= !(x[i] - x[i] == 0);
    return !bad;
}

/* Bytes of count elements of size bytes, rounded up to 64 (predict's scratch regions). */
static size_t SUF(aligned_bytes)(size_t count, size_t size)
{
    return (count * size + 63) / 64 * 64;
}

/* ---- predict's blocked path: blocks of rows through every layer while they are in cache ----
 * For networks of dense layers only (no general layer) whose packed weights take at most
 * FM_PREDICT_PACKED_MAX_BYTES, from FM_PREDICT_BLOCKED_MIN rows per thread allowed: each
 * layer's weights are packed once for the call (fm_gemm_forward_pack, by the pool's threads),
 * then blocks of rows (FM_PREDICT_BLOCK_BYTES of the largest layer's input and output) go
 * through all the layers, a block's hidden values in two buffers of its own (in L2), the
 * softmax or other activation applied while the block is there. The blocks are the threads'
 * tasks: each thread (a slot with its own buffers) takes the next block until none are left.
 * Each row's values are those of the per-layer path (fm_gemm_forward does fm_gemm_ex's
 * arithmetic; every block has at least a register tile's height), and the rows of a last
 * FM_PREDICT_CHUNK chunk too short for the register tile, which take the GEMM's small path
 * there, are a block of their own here. */
#define FM_PREDICT_BLOCKED_MIN 256
/* Packed weights beyond this size (a copy made at every call) leave large networks to the
 * per-layer path, whose 1,024-row chunks also read each weight from memory fewer times. */
#define FM_PREDICT_PACKED_MAX_BYTES (32.0 * 1024 * 1024)
/* Bytes of a block's input and output values at its largest layer, which stay in L2 (at least
 * 4 FM_PREDICT_MR_MAX rows, at most FM_PREDICT_BLOCK_MAX_ROWS: larger blocks gain nothing on
 * small nets, and smaller ones leave less to wait for when a thread is descheduled). */
#define FM_PREDICT_BLOCK_BYTES (512 * 1024)
#define FM_PREDICT_BLOCK_MAX_ROWS 256

typedef struct SUF(predict_job) {
    const fm_net *net;
    const REAL *const *w, *const *b; /* each layer's weights and biases */
    REAL *const *packed;             /* each layer's packed slivers of its weights */
    const REAL *x;
    REAL *out;
    int64_t rows, n_blocks, block_rows; /* the rows cut into blocks: their number, rows of each
                                         * of the first n_big */
    int64_t n_big, tail_rows; /* then blocks of tail_rows (the last: the rest) */
    REAL *buf;              /* per slot, two buffers of buf_elems */
    int64_t buf_elems;
    atomic_llong next;      /* the next block to take */
    atomic_int err;
} SUF(predict_job);

/* Row stride of a block's hidden values of width n: a multiple of 512 bytes gets a cache line
 * more, so that the register tile's rows (read in place by the next product) do not fall into
 * a few L1 sets. */
static int64_t SUF(predict_ld)(int64_t n)
{
    return n * (int64_t)sizeof(REAL) % 512 == 0 ? n + 64 / (int64_t)sizeof(REAL) : n;
}

/* The rows of block blk: [*i0, *i1). */
static void SUF(predict_block_rows)(const SUF(predict_job) *j, int64_t blk, int64_t *i0,
                                    int64_t *i1)
{
    *i0 = blk < j->n_big ? blk * j->block_rows
                         : j->n_big * j->block_rows + (blk - j->n_big) * j->tail_rows;
    *i1 = blk == j->n_blocks - 1 ? j->rows
                                 : *i0 + (blk < j->n_big ? j->block_rows : j->tail_rows);
}

/* Output-layer values of rows rows at x to out, through every layer, the hidden values in
 * bufs[0] and bufs[1]. FM_ERR_INPUT (nothing written to out) when x holds NaN or infinity. */
static int SUF(predict_block)(const SUF(predict_job) *j, const REAL *x, REAL *out, int64_t rows,
                              REAL *const *bufs)
{
    const fm_net *net = j->net;
    const int64_t *u = net->units;
    const REAL *in = x;
    int64_t ld_in = u[0];
    /* The check reads the block after the first product has brought it into cache (checked
     * first, the check's pass fetched it from memory: 784-512-256-10 at 4,096 rows ran 1%
     * slower on one and on two threads), unless that product writes out (no hidden layer). */
    const int check_at = net->n_layers > 1;
    for (int l = 0; l < net->n_layers; l++) {
        if (l == check_at && !SUF(all_finite)(x, rows * u[0]))
            return FM_ERR_INPUT;
        const int last = l == net->n_layers - 1;
        REAL *o = last ? out : bufs[l % 2];
        const int64_t ld_out = last ? u[l + 1] : SUF(predict_ld)(u[l + 1]);
        const int activation = last ? net->output_activation : net->hidden_activation;
        const int fused = activation == FM_ACT_IDENTITY || activation == FM_ACT_RELU;
        const fm_epilogue ep = {FM_EPI_BIAS_ACT, activation, j->b[l], NULL, 0, 0};
        const int err = SUF(fm_gemm_forward)(rows, u[l + 1], u[l], in, ld_in, j->w[l], u[l + 1],
                                             j->packed[l], o, ld_out, fused ? &ep : NULL);
        if (err)
            return err;
        if (!fused && ld_out == u[l + 1])
            SUF(bias_activation_rows)(o, j->b[l], rows, u[l + 1], activation);
        else if (!fused)
            for (int64_t i = 0; i < rows; i++)
                SUF(bias_activation_rows)(o + i * ld_out, j->b[l], 1, u[l + 1], activation);
        in = o;
        ld_in = ld_out;
    }
    return FM_OK;
}

/* Task of the blocked path: slot takes blocks until none are left. */
static void SUF(predict_slot_task)(void *ctx, int64_t slot)
{
    SUF(predict_job) *j = (SUF(predict_job) *)ctx;
    REAL *const bufs[2] = {j->buf + 2 * slot * j->buf_elems,
                           j->buf + (2 * slot + 1) * j->buf_elems};
    const int64_t n_in = j->net->units[0], n_out = j->net->units[j->net->n_layers];
    for (;;) {
        const int64_t blk = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (blk >= j->n_blocks)
            return;
        int64_t i0, i1;
        SUF(predict_block_rows)(j, blk, &i0, &i1);
        const int err = SUF(predict_block)(j, j->x + i0 * n_in, j->out + i0 * n_out, i1 - i0,
                                           bufs);
        if (err) {
            int none = FM_OK;
            atomic_compare_exchange_strong(&j->err, &none, err);
        }
    }
}

/* Task of the blocked path's packing: the weights' packed sliver q, counted over all layers. */
static void SUF(predict_pack_task)(void *ctx, int64_t q)
{
    const SUF(predict_job) *j = (const SUF(predict_job) *)ctx;
    const int64_t *u = j->net->units;
    for (int l = 0; l < j->net->n_layers; l++) {
        const int64_t slivers = SUF(fm_gemm_forward_slivers)(u[l], u[l + 1]);
        if (q < slivers) {
            SUF(fm_gemm_forward_pack)(u[l], u[l + 1], j->w[l], u[l + 1], j->packed[l], q, q + 1);
            return;
        }
        q -= slivers;
    }
}

/* Whether the blocked path serves this prediction: dense layers only, float32 or float64
 * products (bfloat16 ones take the per-layer path, whose products pack to bfloat16), enough
 * rows for each thread allowed (with fewer, the per-layer path's products shared by columns of
 * the weights do better: each thread reads only its part of them). */
static int SUF(predict_blocked_fits)(const fm_net *net, int64_t n_samples)
{
    if (net->matmul_precision != FM_MATMUL_FLOAT32 ||
        n_samples < FM_PREDICT_BLOCKED_MIN * (int64_t)fm_pool_threads())
        return 0;
    double packed_bytes = 0;
    for (int l = 0; l < net->n_layers; l++) {
        if (fm_layer_general(net, l) || fm_dense_width(net, l) != net->units[l + 1])
            return 0;
        packed_bytes += (double)SUF(fm_gemm_forward_pack_size)(net->units[l], net->units[l + 1]) *
                        sizeof(REAL);
    }
    return packed_bytes <= FM_PREDICT_PACKED_MAX_BYTES;
}

/* The blocked path (see above) on up to `threads` threads. */
static int SUF(predict_blocked)(const fm_net *net, const REAL *params, const REAL *const *coefs,
                                const REAL *const *intercepts, const REAL *x, int64_t n_samples,
                                REAL *out, int threads)
{
    const int L = net->n_layers;
    const int64_t *u = net->units;
    /* Rows past the last whole FM_PREDICT_CHUNK, when too few for any register tile, keep the
     * small path they take in the per-layer path: a block of their own. */
    const int64_t tail = n_samples > FM_PREDICT_CHUNK &&
                                 n_samples % FM_PREDICT_CHUNK < FM_PREDICT_MR_MAX
                             ? n_samples % FM_PREDICT_CHUNK
                             : 0;
    const int64_t rows = n_samples - tail;
    int64_t widest = 1, row_bytes = 1;
    for (int l = 0; l < L; l++) {
        if (l > 0)
            widest = SUF(predict_ld)(u[l]) > widest ? SUF(predict_ld)(u[l]) : widest;
        const int64_t bytes = (u[l] + u[l + 1]) * (int64_t)sizeof(REAL);
        row_bytes = bytes > row_bytes ? bytes : row_bytes;
    }
    /* tall enough for every instruction set's register tile, whatever the last block gets */
    int64_t per_block = FM_PREDICT_BLOCK_BYTES / row_bytes;
    per_block = per_block < 4 * FM_PREDICT_MR_MAX ? 4 * FM_PREDICT_MR_MAX : per_block;
    per_block = per_block > FM_PREDICT_BLOCK_MAX_ROWS ? FM_PREDICT_BLOCK_MAX_ROWS : per_block;
    /* blocks of whole tiles' heights (12 is a multiple of every MR), the rows shared evenly,
     * the last block taking what is left (from one tile's height less to as many more) */
    int64_t n_blocks = (rows + per_block - 1) / per_block;
    /* few blocks: as many for each thread */
    if (threads > 1 && n_blocks < 4 * threads)
        n_blocks = (n_blocks + threads - 1) / threads * threads;
    int64_t block_rows = (rows + n_blocks - 1) / n_blocks;
    block_rows = (block_rows + FM_PREDICT_MR_MAX - 1) / FM_PREDICT_MR_MAX * FM_PREDICT_MR_MAX;
    n_blocks = rows / block_rows;
    if (n_blocks == 0 || rows - n_blocks * block_rows >= FM_PREDICT_MR_MAX)
        n_blocks++;
    /* With several threads, the last threads blocks' rows and the rest go in half blocks (at
     * least 4 register tiles tall): a thread that finds no block left waits for the others'
     * last ones, on average half a block; half blocks halve that (784-512-256-10, 4,096 rows,
     * two threads: 38 blocks of 108 rows, each about 0.55 ms; in-process A/B, 60 rounds twice,
     * the quartile call 2-3% faster). Which block holds a row changes none of its values. */
    int64_t n_big = n_blocks - 1, tail_rows = block_rows;
    if (threads > 1 && n_blocks >= 4 * threads) {
        n_big = n_blocks - 1 - threads;
        tail_rows = (block_rows / 2 + FM_PREDICT_MR_MAX - 1) / FM_PREDICT_MR_MAX *
                    FM_PREDICT_MR_MAX;
        tail_rows = tail_rows < 4 * FM_PREDICT_MR_MAX ? 4 * FM_PREDICT_MR_MAX : tail_rows;
        const int64_t region = rows - n_big * block_rows;
        int64_t n_tail = region / tail_rows;
        if (region - n_tail * tail_rows >= FM_PREDICT_MR_MAX)
            n_tail++;
        n_blocks = n_big + n_tail;
    }
    const int slots = threads < n_blocks ? threads : (int)n_blocks;
    /* one allocation: the layers' weights, biases and packed slivers (pointers, then the
     * slivers), then each slot's buffers */
    const size_t table = SUF(aligned_bytes)(3 * (size_t)L, sizeof(REAL *));
    size_t bytes = table;
    for (int l = 0; l < L; l++)
        bytes += SUF(aligned_bytes)((size_t)SUF(fm_gemm_forward_pack_size)(u[l], u[l + 1]),
                                    sizeof(REAL));
    const size_t buf_at = bytes;
    const int64_t most_rows = /* the last block's */
        rows - n_big * block_rows - (n_blocks - 1 - n_big) * tail_rows;
    const int64_t buf_rows = most_rows > block_rows ? most_rows : block_rows;
    const int64_t buf_elems = (int64_t)SUF(aligned_bytes)((size_t)(buf_rows * widest),
                                                          sizeof(REAL)) / (int64_t)sizeof(REAL);
    bytes += (size_t)(2 * slots) * (size_t)buf_elems * sizeof(REAL);
    char *mem = (char *)fm_aligned_alloc(bytes);
    if (mem == NULL)
        return FM_ERR_NOMEM;
    REAL **packed = (REAL **)mem;
    const REAL **w = (const REAL **)(packed + L), **b = w + L;
    size_t at = table;
    int64_t n_slivers = 0;
    for (int l = 0; l < L; l++) {
        /* the flat array's, or (arrays a user assigned) the layer's own */
        w[l] = coefs ? coefs[l] : params + fm_weight_offset(net, l);
        b[l] = coefs ? intercepts[l] : params + fm_bias_offset(net, l);
        const int64_t size = SUF(fm_gemm_forward_pack_size)(u[l], u[l + 1]);
        packed[l] = size > 0 ? (REAL *)(mem + at) : NULL;
        at += SUF(aligned_bytes)((size_t)size, sizeof(REAL));
        n_slivers += SUF(fm_gemm_forward_slivers)(u[l], u[l + 1]);
    }
    SUF(predict_job) job = {net, (const REAL *const *)w, (const REAL *const *)b,
                            (REAL *const *)packed, x, out, rows, n_blocks, block_rows,
                            n_big, tail_rows,
                            (REAL *)(mem + buf_at), buf_elems, 0, FM_OK};
    /* the weights' slivers, shared among the threads that then share the blocks */
    fm_parallel(slots > 1, n_slivers, SUF(predict_pack_task), &job);
    if (slots > 1)
        fm_pool_run(slots, slots, SUF(predict_slot_task), &job);
    else
        SUF(predict_slot_task)(&job, 0);
    int err = atomic_load(&job.err);
    if (err == FM_OK && tail > 0) {
        REAL *const bufs[2] = {job.buf, job.buf + buf_elems};
        err = SUF(predict_block)(&job, x + rows * u[0], out + rows * u[L], tail, bufs);
    }
    fm_aligned_free(mem);
    return err;
}

int SUF(fm_predict_layers)(const fm_net *net, const REAL *params, const REAL *const *coefs,
                           const REAL *const *intercepts, const REAL *x, int64_t n_samples,
                           REAL *out)
{
    if (fm_net_check(net) || n_samples < 0 || (coefs == NULL) != (intercepts == NULL) ||
        (sizeof(REAL) != sizeof(float) && net->matmul_precision != FM_MATMUL_FLOAT32) ||
        (params == NULL &&
         (coefs == NULL || fm_n_params(net) != fm_bias_offset(net, net->n_layers))))
        return FM_ERR_ARG;
    if (coefs != NULL)
        for (int l = 0; l < net->n_layers; l++)
            if (coefs[l] == NULL || intercepts[l] == NULL)
                return FM_ERR_ARG;
    if (n_samples == 0)
        return FM_OK;
    const int L = net->n_layers;
    const int64_t n_in = net->units[0], n_out = net->units[L];
    /* Refuse NaN or infinite inputs (the caller then reports which): a cheap pass next to the
     * forward pass, and it lets callers skip a separate validation of well-formed arrays. */
    const int blocked = SUF(predict_blocked_fits)(net, n_samples);
    if (!blocked && !SUF(all_finite)(x, n_samples * n_in))
        return FM_ERR_INPUT;
    int64_t widest = 1, widest_pieces = 0, widest_dense = 1;
    for (int l = 1; l < L; l++) {
        widest = net->units[l] > widest ? net->units[l] : widest;
        if (fm_dense_width(net, l - 1) > net->units[l] && fm_dense_width(net, l - 1) > widest_pieces)
            widest_pieces = fm_dense_width(net, l - 1);
    }
    for (int l = 0; l < L; l++)
        widest_dense =
            fm_dense_width(net, l) > widest_dense ? fm_dense_width(net, l) : widest_dense;
    const int64_t chunk = n_samples < FM_PREDICT_CHUNK ? n_samples : FM_PREDICT_CHUNK;
    /* Whether this prediction runs on several threads is measured like training's batches. */
    /* one-row products are shared from a quarter of that (gemm_impl.h's small path) */
    const int adaptive = SUF(largest_product)(net, chunk) >= FM_PAR_MIN_WORK / 2;
    const uint64_t key = fm_work_key(0, fm_net_key(net), fm_rows_bucket(n_samples), sizeof(REAL));
    if (blocked) {
        const fm_adapt_choice choice = adaptive ? fm_adapt_choose(key) : fm_adapt_none();
        const int cap = fm_pool_set_cap(adaptive ? choice.threads : 1);
        const int err = SUF(predict_blocked)(net, params, coefs, intercepts, x, n_samples, out,
                                             fm_pool_threads());
        fm_pool_set_cap(cap);
        fm_adapt_record(choice, (double)n_samples);
        return err;
    }
    /* One 64-byte aligned block: the pointer table, two ping-pong buffers for hidden layers,
     * maxout's pieces, and (for chunks of a register tile's height or more) the GEMM's B panel,
     * allocated once per call rather than by every product. */
    const size_t buf_elems = (size_t)chunk * (size_t)widest;
    const size_t piece_elems = (size_t)chunk * (size_t)widest_pieces;
    const size_t panel_cols = (size_t)(widest_dense < FM_GEMM_NC ? widest_dense : FM_GEMM_NC) + 32;
    size_t pack_elems = chunk >= 4 ? (size_t)FM_GEMM_KC * panel_cols : 0;
    if (net->matmul_precision == FM_MATMUL_BFLOAT16) {
        const size_t bf16_elems = (fm_bf16_net_pack_bytes(net, chunk) + sizeof(REAL) - 1) /
                                  sizeof(REAL);
        pack_elems = bf16_elems > pack_elems ? bf16_elems : pack_elems;
    }
    const size_t table = SUF(aligned_bytes)((size_t)L, sizeof(REAL *));
    const size_t bufs = SUF(aligned_bytes)(2 * buf_elems, sizeof(REAL));
    const size_t pieces_bytes = SUF(aligned_bytes)(piece_elems, sizeof(REAL));
    char *mem = (char *)fm_aligned_alloc(table + bufs + pieces_bytes + pack_elems * sizeof(REAL));
    if (mem == NULL)
        return FM_ERR_NOMEM;
    REAL **outs = (REAL **)mem;
    REAL *buf = (REAL *)(mem + table);
    REAL *pieces = (REAL *)(mem + table + bufs);
    REAL *pack = pack_elems ? (REAL *)(mem + table + bufs + pieces_bytes) : NULL;
    const fm_adapt_choice choice = adaptive ? fm_adapt_choose(key) : fm_adapt_none();
    const int cap = fm_pool_set_cap(adaptive ? choice.threads : 1);
    int err = FM_OK;
    for (int64_t start = 0; start < n_samples && err == FM_OK; start += chunk) {
        const int64_t rows = n_samples - start < chunk ? n_samples - start : chunk;
        for (int l = 0; l < L - 1; l++)
            outs[l] = buf + (size_t)(l % 2) * buf_elems;
        outs[L - 1] = out + start * n_out;
        err = SUF(forward)(net, params, coefs, intercepts, NULL, x + start * n_in, outs, NULL,
                           pieces, rows, pack, 0,
                           0, 0, 0, 0, 0);
    }
    fm_pool_set_cap(cap);
    fm_adapt_record(choice, (double)n_samples);
    fm_aligned_free(mem);
    return err;
}

int SUF(fm_predict)(const fm_net *net, const REAL *params, const REAL *x, int64_t n_samples,
                    REAL *out)
{
    if (params == NULL)
        return FM_ERR_ARG;
    return SUF(fm_predict_layers)(net, params, NULL, NULL, x, n_samples, out);
}

#undef REAL
#undef SUF
#undef EXP
#undef EXP_ROW
#undef LOSS_ROWS
#undef LOG
#undef TANH
#undef SQRT
#undef REAL_EPS
#undef EXPM1
#undef LOG1P
#undef ERF
#undef FM_ACT_ROWS
