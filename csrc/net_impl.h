/* fastmlp C core: layers, losses, optimizers, the epoch driver and predict for one precision.
 * Included by net_isa.h with REAL, SUF and the math macros (EXP, LOG, TANH, SQRT, REAL_EPS)
 * defined, which are undefined again at the end, ready for the next precision.
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
    for (int64_t j = 0; j < cols; j++) {
        zi[j] = EXP(zi[j] - top);
        sum += zi[j];
    }
    for (int64_t j = 0; j < cols; j++)
        zi[j] /= sum;
}

/* z = f(z + bias) for one row of cols values; f is the layer's activation (softmax: the row). */
static void SUF(bias_activation_row)(REAL *zi, const REAL *bias, int64_t cols, int activation)
{
    for (int64_t j = 0; j < cols; j++)
        zi[j] += bias[j];
    switch (activation) {
    case FM_ACT_LOGISTIC:
        for (int64_t j = 0; j < cols; j++)
            zi[j] = (REAL)1 / ((REAL)1 + EXP(-zi[j]));
        break;
    case FM_ACT_TANH:
        for (int64_t j = 0; j < cols; j++)
            zi[j] = TANH(zi[j]);
        break;
    case FM_ACT_RELU:
        for (int64_t j = 0; j < cols; j++)
            zi[j] = zi[j] > 0 ? zi[j] : 0;
        break;
    case FM_ACT_EXP:
        for (int64_t j = 0; j < cols; j++)
            zi[j] = EXP(zi[j]);
        break;
    case FM_ACT_SOFTMAX:
        SUF(softmax_row)(zi, cols);
        break;
    default: /* FM_ACT_IDENTITY */
        break;
    }
}

/* z = f(z + bias) row by row, on several threads only when the work pays for the fork. */
static void SUF(bias_activation_forward)(REAL *z, const REAL *bias, int64_t rows, int64_t cols,
                                         int activation)
{
    if (rows * cols >= FM_PAR_MIN_ELEMS) {
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < rows; i++)
            SUF(bias_activation_row)(z + i * cols, bias, cols, activation);
    } else {
        for (int64_t i = 0; i < rows; i++)
            SUF(bias_activation_row)(z + i * cols, bias, cols, activation);
    }
}

/* Forward pass of a batch: writes outs[l] = output of layer l (rows x units[l + 1]). Bias and an
 * identity or ReLU activation are applied by the GEMM on each tile as it is finished; other
 * activations (and softmax, which needs whole rows) in a pass of their own. With defer_softmax,
 * a softmax output layer is left as logits for the training loss pass. */
static int SUF(forward)(const fm_net *net, const REAL *params, const REAL *x, REAL *const *outs,
                        int64_t rows, REAL *pack, int defer_softmax)
{
    const int64_t *u = net->units;
    const REAL *in = x;
    for (int l = 0; l < net->n_layers; l++) {
        const REAL *w = params + fm_weight_offset(net, l);
        const REAL *b = params + fm_bias_offset(net, l);
        int activation = l == net->n_layers - 1 ? net->output_activation : net->hidden_activation;
        if (defer_softmax && activation == FM_ACT_SOFTMAX)
            activation = FM_ACT_IDENTITY; /* the loss pass applies it, row by row */
        const int fused = activation == FM_ACT_IDENTITY || activation == FM_ACT_RELU;
        const fm_epilogue ep = {FM_EPI_BIAS_ACT, activation, b, NULL, 0};
        int err = SUF(fm_gemm_ex)(0, 0, rows, u[l + 1], u[l], 1, in, u[l], w, u[l + 1], 0,
                                  outs[l], u[l + 1], pack, fused ? &ep : NULL);
        if (err)
            return err;
        if (!fused)
            SUF(bias_activation_forward)(outs[l], b, rows, u[l + 1], activation);
        in = outs[l];
    }
    return FM_OK;
}

/* Output error: delta = (p - y) * w_i, the gradient of every loss here with respect to the
 * output pre-activation (canonical links). Returns sum_i w_i * loss_i, unscaled. With
 * softmax_rows, p holds logits and each row gets its softmax here, so that softmax, the
 * cross-entropy and its gradient are one pass over a row while it is in L1. */
static double SUF(output_loss_backward)(const fm_net *net, REAL *delta, REAL *p, const REAL *y,
                                        const REAL *sw, int64_t rows, int softmax_rows)
{
    const int64_t cols = net->units[net->n_layers];
    const REAL lo = REAL_EPS, hi = (REAL)1 - REAL_EPS;
    double total = 0;
    for (int64_t i = 0; i < rows; i++) {
        REAL *pi = p + i * cols;
        const REAL *yi = y + i * cols;
        REAL *di = delta + i * cols;
        double li = 0;
        if (softmax_rows)
            SUF(softmax_row)(pi, cols);

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
            default: { /* FM_LOSS_SQUARED */
                const double e = (double)yj - (double)pj;
                li += e * e;
                break;
            }
            }
            di[j] = pj - yj;
        }
        if (sw) {
            for (int64_t j = 0; j < cols; j++)
                di[j] *= sw[i];
            li *= (double)sw[i];
        }
        total += li;
    }
    return total;
}

/* Forward, loss and backward of one chunk of rows. grad gets (or, when accumulate != 0, adds)
 * the unnormalized gradient sums: sum_i x_i^T delta_i for weights, sum_i delta_i for biases.
 * Returns the unscaled weighted loss sum through *raw_loss. */
static int SUF(chunk_loss_grad)(const fm_net *net, const REAL *params, const REAL *x,
                                const REAL *y, const REAL *sw, int64_t rows, fm_workspace *ws,
                                REAL *grad, int accumulate, double *raw_loss)
{
    const int L = net->n_layers;
    const int64_t *u = net->units;
    REAL *const *acts = (REAL *const *)ws->acts;   /* acts[l], l = 1..L */
    REAL *const *deltas = (REAL *const *)ws->deltas; /* deltas[l], l = 1..L */
    REAL *pack = (REAL *)ws->pack;
    const int softmax_in_loss = net->output_activation == FM_ACT_SOFTMAX;
    int err = SUF(forward)(net, params, x, acts + 1, rows, pack, softmax_in_loss);
    if (err)
        return err;
    *raw_loss = SUF(output_loss_backward)(net, deltas[L], acts[L], y, sw, rows, softmax_in_loss);
    const REAL beta = accumulate ? 1 : 0;
    for (int l = L - 1; l >= 0; l--) {
        const REAL *in = l == 0 ? x : acts[l];
        const REAL *w = params + fm_weight_offset(net, l);
        REAL *gw = grad + fm_weight_offset(net, l);
        REAL *gb = grad + fm_bias_offset(net, l);
        err = SUF(fm_gemm_ex)(1, 0, u[l], u[l + 1], rows, 1, in, u[l], deltas[l + 1], u[l + 1],
                              beta, gw, u[l + 1], pack, NULL);
        if (err)
            return err;
        /* Bias gradient: column sums, rows in order (never split across threads). */
        if (!accumulate)
            for (int64_t j = 0; j < u[l + 1]; j++)
                gb[j] = 0;
        for (int64_t i = 0; i < rows; i++) {
            const REAL *di = deltas[l + 1] + i * u[l + 1];
            for (int64_t j = 0; j < u[l + 1]; j++)
                gb[j] += di[j];
        }
        if (l > 0) {
            /* deltas[l] = (deltas[l + 1] . W_l^T) * f'(acts[l]), the derivative applied by the
             * GEMM on each finished tile */
            const fm_epilogue ep = {FM_EPI_DERIV, net->hidden_activation, NULL, acts[l], u[l]};
            err = SUF(fm_gemm_ex)(0, 1, rows, u[l], u[l + 1], 1, deltas[l + 1], u[l + 1], w,
                                  u[l + 1], 0, deltas[l], u[l], pack, &ep);
            if (err)
                return err;
        }
    }
    return FM_OK;
}

/* Sum of squares of w[0:count) in double, with 8 interleaved accumulators added in a fixed
 * order: a loop the compiler vectorizes, with a result that depends on count only. */
static double SUF(sum_squares)(const REAL *w, int64_t count)
{
    double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= count; i += 8)
        for (int l = 0; l < 8; l++)
            lanes[l] += (double)w[i + l] * (double)w[i + l];
    double total = 0;
    for (int l = 0; l < 8; l++)
        total += lanes[l];
    for (; i < count; i++)
        total += (double)w[i] * (double)w[i];
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

/* Turns gradient sums into scikit-learn's gradient, (sum + alpha * W) / sw_sum for weights and
 * sum / sw_sum for biases, and returns the loss: the scaled data term plus the L2 term. The
 * squared norm is summed chunk by chunk (FM_PARAM_CHUNK) and the chunks added in order. */
static double SUF(finish_loss_grad)(const fm_net *net, const REAL *params, REAL *grad,
                                    double raw_loss, double sw_sum, double *partials)
{
    const int64_t n_weights = fm_bias_offset(net, 0);
    const int64_t n_params = fm_n_params(net);
    const int64_t n_chunks = (n_params + FM_PARAM_CHUNK - 1) / FM_PARAM_CHUNK;
    const REAL alpha = (REAL)net->alpha, scale = (REAL)sw_sum;
#pragma omp parallel for schedule(static) if (n_params >= FM_PAR_MIN_ELEMS)
    for (int64_t c = 0; c < n_chunks; c++) {
        int64_t lo, hi, w_hi;
        fm_param_chunk(c, n_params, n_weights, &lo, &hi, &w_hi);
        partials[c] = SUF(sum_squares)(params + lo, w_hi - lo);
        for (int64_t i = lo; i < w_hi; i++)
            grad[i] = (grad[i] + alpha * params[i]) / scale;
        for (int64_t i = w_hi; i < hi; i++)
            grad[i] /= scale;
    }
    double sq = 0;
    for (int64_t c = 0; c < n_chunks; c++)
        sq += partials[c];
    double loss = SUF(data_loss)(net, raw_loss, sw_sum);
    if (net->alpha != 0)
        loss += 0.5 * net->alpha * sq / sw_sum;
    return loss;
}

/* Optimizer update of params[lo:hi) from gradient sums: g = (sum + alpha * w) / scale for
 * weights (is_weight), sum / scale for biases. */
static inline void SUF(step_range)(const fm_optimizer *opt, int adam, REAL lr, REAL *params,
                                   REAL *m, REAL *v, const REAL *grad, int64_t lo, int64_t hi,
                                   int is_weight, REAL alpha, REAL scale)
{
    const REAL b1 = (REAL)opt->beta_1, b2 = (REAL)opt->beta_2, eps = (REAL)opt->epsilon;
    const REAL mu = (REAL)opt->momentum;
    if (adam) {
        for (int64_t i = lo; i < hi; i++) {
            const REAL g = is_weight ? (grad[i] + alpha * params[i]) / scale : grad[i] / scale;
            m[i] = b1 * m[i] + ((REAL)1 - b1) * g;
            v[i] = b2 * v[i] + ((REAL)1 - b2) * (g * g);
            params[i] += -lr * m[i] / (SQRT(v[i]) + eps);
        }
    } else if (opt->nesterov) {
        for (int64_t i = lo; i < hi; i++) {
            const REAL g = is_weight ? (grad[i] + alpha * params[i]) / scale : grad[i] / scale;
            m[i] = mu * m[i] - lr * g;
            params[i] += mu * m[i] - lr * g;
        }
    } else {
        for (int64_t i = lo; i < hi; i++) {
            const REAL g = is_weight ? (grad[i] + alpha * params[i]) / scale : grad[i] / scale;
            m[i] = mu * m[i] - lr * g;
            params[i] += m[i];
        }
    }
}

/* The training step after a batch's backward pass, in one pass over the parameters: finishes
 * the gradient as finish_loss_grad does, then applies scikit-learn's SGDOptimizer (momentum,
 * Nesterov) or AdamOptimizer update. Returns the L2 term of the loss (before the update). */
static double SUF(finish_and_step)(const fm_net *net, fm_optimizer *opt, REAL *params,
                                   REAL *state, const REAL *grad, double sw_sum,
                                   double *partials)
{
    const int64_t n_weights = fm_bias_offset(net, 0);
    const int64_t n_params = fm_n_params(net);
    const int64_t n_chunks = (n_params + FM_PARAM_CHUNK - 1) / FM_PARAM_CHUNK;
    const REAL alpha = (REAL)net->alpha, scale = (REAL)sw_sum;
    const int adam = opt->solver == FM_SOLVER_ADAM;
    REAL lr;
    if (adam) {
        opt->step += 1;
        const double t = (double)opt->step;
        lr = (REAL)(opt->learning_rate * sqrt(1 - pow(opt->beta_2, t)) /
                    (1 - pow(opt->beta_1, t)));
    } else {
        lr = (REAL)opt->learning_rate;
    }
    REAL *m = state, *v = state + n_params; /* Adam's moments; SGD's velocity is m */
#pragma omp parallel for schedule(static) if (n_params >= FM_PAR_MIN_ELEMS)
    for (int64_t c = 0; c < n_chunks; c++) {
        int64_t lo, hi, w_hi;
        fm_param_chunk(c, n_params, n_weights, &lo, &hi, &w_hi);
        partials[c] = SUF(sum_squares)(params + lo, w_hi - lo);
        SUF(step_range)(opt, adam, lr, params, m, v, grad, lo, w_hi, 1, alpha, scale);
        SUF(step_range)(opt, adam, lr, params, m, v, grad, w_hi, hi, 0, alpha, scale);
    }
    double sq = 0;
    for (int64_t c = 0; c < n_chunks; c++)
        sq += partials[c];
    return net->alpha != 0 ? 0.5 * net->alpha * sq / sw_sum : 0.0;
}

static double SUF(weight_sum)(const REAL *sw, int64_t rows)
{
    double total = 0;
    for (int64_t i = 0; i < rows; i++)
        total += (double)sw[i];
    return total;
}

int SUF(fm_train_epoch)(const fm_net *net, fm_optimizer *opt, REAL *params, REAL *opt_state,
                        const REAL *x, const REAL *y, const REAL *sw, int64_t n_samples,
                        int64_t batch_size, int shuffle, uint64_t seed, uint64_t epoch,
                        fm_workspace *ws, double *loss_sum)
{
    *loss_sum = 0;
    if (fm_net_check(net) || ws == NULL || ws->elem_size != sizeof(REAL) || batch_size < 1 ||
        batch_size > ws->max_rows || n_samples > ws->n_samples || n_samples < 1 ||
        ws->n_params != fm_n_params(net))
        return FM_ERR_ARG;
    const int64_t n_in = net->units[0], n_out = net->units[net->n_layers];
    int64_t *perm = ws->perm;
    if (shuffle) {
        /* Fisher-Yates from the identity: the permutation depends on (seed, epoch) only. */
        for (int64_t i = 0; i < n_samples; i++)
            perm[i] = i;
        for (int64_t i = n_samples - 1; i > 0; i--) {
            const int64_t j = (int64_t)fm_rng_below(fm_rng_u64(seed, epoch, (uint64_t)i),
                                                    (uint64_t)i + 1);
            const int64_t tmp = perm[i];
            perm[i] = perm[j];
            perm[j] = tmp;
        }
    }
    REAL *grad = (REAL *)ws->grad;
    double total = 0;
    for (int64_t start = 0; start < n_samples; start += batch_size) {
        const int64_t rows = n_samples - start < batch_size ? n_samples - start : batch_size;
        const REAL *xb, *yb, *swb = NULL;
        if (shuffle) {
            REAL *xg = (REAL *)ws->acts[0], *yg = (REAL *)ws->ybatch, *swg = (REAL *)ws->swbatch;
            const int64_t *idx = perm + start;
#pragma omp parallel for schedule(static) if (rows * n_in >= FM_PAR_MIN_ELEMS)
            for (int64_t i = 0; i < rows; i++) {
                memcpy(xg + i * n_in, x + idx[i] * n_in, (size_t)n_in * sizeof(REAL));
                memcpy(yg + i * n_out, y + idx[i] * n_out, (size_t)n_out * sizeof(REAL));
                if (sw)
                    swg[i] = sw[idx[i]];
            }
            xb = xg;
            yb = yg;
            swb = sw ? swg : NULL;
        } else {
            xb = x + start * n_in;
            yb = y + start * n_out;
            swb = sw ? sw + start : NULL;
        }
        double raw;
        int err = SUF(chunk_loss_grad)(net, params, xb, yb, swb, rows, ws, grad, 0, &raw);
        if (err)
            return err;
        const double sw_sum = swb ? SUF(weight_sum)(swb, rows) : (double)rows;
        double loss = SUF(data_loss)(net, raw, sw_sum);
        if (!isfinite(loss))
            return FM_ERR_NONFINITE; /* before this batch's update */
        loss += SUF(finish_and_step)(net, opt, params, opt_state, grad, sw_sum, ws->partials);
        if (!isfinite(loss))
            return FM_ERR_NONFINITE;
        total += loss * (double)rows;
        *loss_sum = total;
    }
    return FM_OK;
}

int SUF(fm_loss_grad)(const fm_net *net, const REAL *params, const REAL *x, const REAL *y,
                      const REAL *sw, int64_t n_samples, fm_workspace *ws, REAL *grad,
                      double *loss)
{
    *loss = NAN;
    if (fm_net_check(net) || ws == NULL || ws->elem_size != sizeof(REAL) || n_samples < 1 ||
        ws->n_params != fm_n_params(net))
        return FM_ERR_ARG;
    const int64_t n_in = net->units[0], n_out = net->units[net->n_layers];
    double raw_total = 0;
    for (int64_t start = 0; start < n_samples; start += ws->max_rows) {
        const int64_t rows = n_samples - start < ws->max_rows ? n_samples - start : ws->max_rows;
        double raw;
        int err = SUF(chunk_loss_grad)(net, params, x + start * n_in, y + start * n_out,
                                       sw ? sw + start : NULL, rows, ws, grad, start > 0, &raw);
        if (err)
            return err;
        raw_total += raw;
    }
    const double sw_sum = sw ? SUF(weight_sum)(sw, n_samples) : (double)n_samples;
    *loss = SUF(finish_loss_grad)(net, params, grad, raw_total, sw_sum, ws->partials);
    return FM_OK;
}

/* Whether x[0:count) holds only finite values: x * 0 is 0 for finite x and NaN otherwise,
 * summed in 8 lanes so that the loop vectorizes. */
static int SUF(all_finite)(const REAL *x, int64_t count)
{
    REAL lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= count; i += 8)
        for (int l = 0; l < 8; l++)
            lanes[l] += x[i + l] * 0;
    for (; i < count; i++)
        lanes[0] += x[i] * 0;
    REAL probe = 0;
    for (int l = 0; l < 8; l++)
        probe += lanes[l];
    return probe == 0;
}

int SUF(fm_predict)(const fm_net *net, const REAL *params, const REAL *x, int64_t n_samples,
                    REAL *out)
{
    if (fm_net_check(net) || n_samples < 0)
        return FM_ERR_ARG;
    if (n_samples == 0)
        return FM_OK;
    const int L = net->n_layers;
    const int64_t n_in = net->units[0], n_out = net->units[L];
    /* Refuse NaN or infinite inputs (the caller then reports which): a cheap pass next to the
     * forward pass, and it lets callers skip a separate validation of well-formed arrays. */
    if (!SUF(all_finite)(x, n_samples * n_in))
        return FM_ERR_INPUT;
    int64_t widest = 1;
    for (int l = 1; l < L; l++)
        widest = net->units[l] > widest ? net->units[l] : widest;
    const int64_t chunk = n_samples < FM_PREDICT_CHUNK ? n_samples : FM_PREDICT_CHUNK;
    /* Two ping-pong buffers for hidden layers, then the pointer table. */
    const size_t buf_elems = (size_t)chunk * (size_t)widest;
    char *mem = (char *)malloc(2 * buf_elems * sizeof(REAL) + (size_t)L * sizeof(REAL *));
    if (mem == NULL)
        return FM_ERR_NOMEM;
    REAL *buf = (REAL *)mem;
    REAL **outs = (REAL **)(mem + 2 * buf_elems * sizeof(REAL));
    int err = FM_OK;
    for (int64_t start = 0; start < n_samples && err == FM_OK; start += chunk) {
        const int64_t rows = n_samples - start < chunk ? n_samples - start : chunk;
        for (int l = 0; l < L - 1; l++)
            outs[l] = buf + (size_t)(l % 2) * buf_elems;
        outs[L - 1] = out + start * n_out;
        err = SUF(forward)(net, params, x + start * n_in, outs, rows, NULL, 0);
    }
    free(mem);
    return err;
}

#undef REAL
#undef SUF
#undef EXP
#undef LOG
#undef TANH
#undef SQRT
#undef REAL_EPS
