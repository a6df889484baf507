/* fastmlp C core: Rosenblatt's perceptron rule, one epoch of one binary problem per call.
 * Serial on purpose: every update depends on the one before it, and one pass over the samples in
 * a fixed order makes the result a pure function of the inputs, (seed, epoch) and nothing else.
 * The arithmetic is scikit-learn's _plain_sgd for loss="perceptron", learning_rate="constant",
 * penalty=None, operation for operation (left-to-right dot product, then + b; w += x * update),
 * so both give the same bits from the same sample order. Rows in compressed sparse row form
 * give the bits of the same rows dense: the products of their zeros, left out, add nothing. */
#include <math.h>

#include "internal.h"

/* Row i of x, dense (indptr NULL: n_features values at data + i * n_features, idx NULL) or
 * compressed sparse rows (the values data[indptr[i]:indptr[i + 1]] at columns idx). */
typedef struct {
    const double *data;
    const int64_t *indices, *indptr;
    int64_t n_features;
} rows;

static void row(const rows *x, int64_t i, const double **values, const int64_t **idx,
                int64_t *count)
{
    if (x->indptr == NULL) {
        *values = x->data + i * x->n_features;
        *idx = NULL;
        *count = x->n_features;
    } else {
        *values = x->data + x->indptr[i];
        *idx = x->indices + x->indptr[i];
        *count = x->indptr[i + 1] - x->indptr[i];
    }
}

/* w . x_i left to right over the row's stored values: a sparse row's sum is the dense row's
 * without its zeros' products, which leave a sum unchanged. */
static double row_dot(const double *w, const double *values, const int64_t *idx, int64_t count)
{
    double score = 0;
    if (idx == NULL)
        for (int64_t k = 0; k < count; k++)
            score += w[k] * values[k];
    else
        for (int64_t k = 0; k < count; k++)
            score += w[idx[k]] * values[k];
    return score;
}

static void row_update(double *w, const double *values, const int64_t *idx, int64_t count,
                       double update)
{
    if (idx == NULL)
        for (int64_t k = 0; k < count; k++)
            w[k] += values[k] * update;
    else
        for (int64_t k = 0; k < count; k++)
            w[idx[k]] += values[k] * update;
}

/* One epoch over the rows of x: reads y_sign and sw; updates w and *b in place; writes the
 * epoch's mistakes and perceptron loss to *n_mistakes and *loss_sum. */
static int epoch(const rows *x, const int8_t *y_sign, const double *sw, int64_t n_samples,
                 double *w, double *b, double eta0, int fit_intercept, int shuffle,
                 uint64_t seed, uint64_t epoch_key, int64_t *perm, int64_t *n_mistakes,
                 double *loss_sum)
{
    if (n_mistakes == NULL || loss_sum == NULL)
        return FM_ERR_ARG;
    *n_mistakes = 0;
    *loss_sum = 0;
    if (x->data == NULL || y_sign == NULL || w == NULL || b == NULL || n_samples < 1 ||
        x->n_features < 1 || !(eta0 > 0) || !isfinite(eta0) || (shuffle && perm == NULL))
        return FM_ERR_ARG;
    /* Checked before any update, so a bad label never leaves a half-trained epoch behind. */
    for (int64_t i = 0; i < n_samples; i++)
        if (y_sign[i] != 1 && y_sign[i] != -1)
            return FM_ERR_ARG;
    if (sw != NULL)
        for (int64_t i = 0; i < n_samples; i++)
            if (!(sw[i] >= 0) || !isfinite(sw[i]))
                return FM_ERR_ARG;

    if (shuffle) /* the network's epoch order: depends on (seed, epoch) only */
        fm_permutation(seed, epoch_key, n_samples, perm);

    int64_t mistakes = 0;
    double loss = 0;
    for (int64_t s = 0; s < n_samples; s++) {
        const int64_t i = shuffle ? perm[s] : s;
        const double *values;
        const int64_t *idx;
        int64_t count;
        row(x, i, &values, &idx, &count);
        double score = row_dot(w, values, idx, count);
        score += *b;
        if (!isfinite(score)) {
            *n_mistakes = mistakes;
            *loss_sum = loss;
            return FM_ERR_NONFINITE;
        }
        const double y = (double)y_sign[i];
        const double margin = y * score;
        if (margin > 0)
            continue;
        /* A zero-weight sample is misclassified but cannot be corrected: not a mistake. */
        const double update = sw != NULL ? eta0 * y * sw[i] : eta0 * y;
        loss -= margin;
        if (update == 0)
            continue;
        mistakes++;
        row_update(w, values, idx, count, update);
        if (fit_intercept)
            *b += update;
    }
    *n_mistakes = mistakes;
    *loss_sum = loss;
    return FM_OK;
}

int fm_perceptron_epoch_f64(const double *x, const int8_t *y_sign, const double *sw,
                            int64_t n_samples, int64_t n_features, double *w, double *b,
                            double eta0, int fit_intercept, int shuffle, uint64_t seed,
                            uint64_t epoch_key, int64_t *perm, int64_t *n_mistakes,
                            double *loss_sum)
{
    const rows dense = {x, NULL, NULL, n_features};
    return epoch(&dense, y_sign, sw, n_samples, w, b, eta0, fit_intercept, shuffle, seed,
                 epoch_key, perm, n_mistakes, loss_sum);
}

int fm_perceptron_epoch_csr_f64(const double *data, const int64_t *indices,
                                const int64_t *indptr, int64_t n_samples, int64_t n_features,
                                const int8_t *y_sign, const double *sw, double *w, double *b,
                                double eta0, int fit_intercept, int shuffle, uint64_t seed,
                                uint64_t epoch_key, int64_t *perm, int64_t *n_mistakes,
                                double *loss_sum)
{
    if (n_mistakes != NULL)
        *n_mistakes = 0;
    if (loss_sum != NULL)
        *loss_sum = 0;
    if (indptr == NULL || n_samples < 1 || n_features < 1 || indptr[0] != 0)
        return FM_ERR_ARG;
    /* rows in order, columns in range: checked before any update */
    for (int64_t i = 0; i < n_samples; i++)
        if (indptr[i + 1] < indptr[i])
            return FM_ERR_ARG;
    const int64_t stored = indptr[n_samples];
    if (stored > 0 && (data == NULL || indices == NULL))
        return FM_ERR_ARG;
    for (int64_t k = 0; k < stored; k++)
        if (indices[k] < 0 || indices[k] >= n_features)
            return FM_ERR_ARG;
    /* a matrix without stored values may give NULL for both: rows of no values read none */
    const double no_value = 0;
    const int64_t no_index = 0;
    const rows sparse = {stored > 0 ? data : &no_value, stored > 0 ? indices : &no_index, indptr,
                         n_features};
    return epoch(&sparse, y_sign, sw, n_samples, w, b, eta0, fit_intercept, shuffle, seed,
                 epoch_key, perm, n_mistakes, loss_sum);
}
