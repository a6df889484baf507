/* fastmlp C core: Rosenblatt's perceptron rule, one epoch of one binary problem per call.
 * Serial on purpose: every update depends on the one before it, and one pass over the samples in
 * a fixed order makes the result a pure function of the inputs, (seed, epoch) and nothing else.
 * The arithmetic is scikit-learn's _plain_sgd for loss="perceptron", learning_rate="constant",
 * penalty=None, operation for operation (left-to-right dot product, then + b; w += x * update),
 * so both give the same bits from the same sample order. Rows in compressed sparse row form
 * give the bits of the same rows dense: the products of their zeros, left out, add nothing. */
#include <math.h>

#include "internal.h"

/* Row i of x: dense (indptr NULL: n_features values at data + i * n_features) or compressed
 * sparse rows (the values data[indptr[i]:indptr[i + 1]] at the columns of the same entries of
 * idx32 or idx64, whichever is not NULL). */
typedef struct {
    const double *data;
    const int32_t *idx32;
    const int64_t *idx64, *indptr;
    int64_t n_features;
} rows;

/* A row's stored values (count of them; dense: every column) and their first index entry. */
typedef struct {
    const double *values;
    int64_t first, count;
} row_span;

static row_span row(const rows *x, int64_t i)
{
    row_span r;
    if (x->indptr == NULL) {
        r.values = x->data + i * x->n_features;
        r.first = -1;
        r.count = x->n_features;
    } else {
        r.values = x->data + x->indptr[i];
        r.first = x->indptr[i];
        r.count = x->indptr[i + 1] - x->indptr[i];
    }
    return r;
}

/* w . x_i left to right over the row's stored values: a sparse row's sum is the dense row's
 * without its zeros' products, which leave a sum unchanged. */
static double row_dot(const rows *x, const double *w, row_span r)
{
    double score = 0;
    if (r.first < 0)
        for (int64_t k = 0; k < r.count; k++)
            score += w[k] * r.values[k];
    else if (x->idx32 != NULL)
        for (int64_t k = 0; k < r.count; k++)
            score += w[x->idx32[r.first + k]] * r.values[k];
    else
        for (int64_t k = 0; k < r.count; k++)
            score += w[x->idx64[r.first + k]] * r.values[k];
    return score;
}

static void row_update(const rows *x, double *w, row_span r, double update)
{
    if (r.first < 0)
        for (int64_t k = 0; k < r.count; k++)
            w[k] += r.values[k] * update;
    else if (x->idx32 != NULL)
        for (int64_t k = 0; k < r.count; k++)
            w[x->idx32[r.first + k]] += r.values[k] * update;
    else
        for (int64_t k = 0; k < r.count; k++)
            w[x->idx64[r.first + k]] += r.values[k] * update;
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
        const row_span r = row(x, i);
        double score = row_dot(x, w, r);
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
        row_update(x, w, r, update);
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
    const rows dense = {x, NULL, NULL, NULL, n_features};
    return epoch(&dense, y_sign, sw, n_samples, w, b, eta0, fit_intercept, shuffle, seed,
                 epoch_key, perm, n_mistakes, loss_sum);
}

/* Whether the stored column indices (of type T) all lie in [0, n_features). */
#define COLUMNS_IN_RANGE(T)                                                                     \
    static int columns_in_range_##T(const void *indices, int64_t stored, int64_t n_features)   \
    {                                                                                           \
        const T *idx = (const T *)indices;                                                      \
        int bad = 0;                                                                            \
        for (int64_t k = 0; k < stored; k++)                                                    \
            bad |= idx[k] < 0 || idx[k] >= n_features;                                          \
        return !bad;                                                                            \
    }
COLUMNS_IN_RANGE(int32_t)
COLUMNS_IN_RANGE(int64_t)
#undef COLUMNS_IN_RANGE

int fm_perceptron_epoch_csr_f64(const double *data, const void *indices, int index_size,
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
    if (indptr == NULL || n_samples < 1 || n_features < 1 || indptr[0] != 0 ||
        (index_size != 4 && index_size != 8))
        return FM_ERR_ARG;
    /* rows in order, columns in range: checked before any update */
    for (int64_t i = 0; i < n_samples; i++)
        if (indptr[i + 1] < indptr[i])
            return FM_ERR_ARG;
    const int64_t stored = indptr[n_samples];
    if (stored > 0 && (data == NULL || indices == NULL))
        return FM_ERR_ARG;
    /* a matrix without stored values may give NULL for both: rows of no values read none */
    static const double no_value = 0;
    static const int64_t no_index = 0;
    rows sparse = {stored > 0 ? data : &no_value, NULL, &no_index, indptr, n_features};
    if (stored > 0 && index_size == 4) {
        if (!columns_in_range_int32_t(indices, stored, n_features))
            return FM_ERR_ARG;
        sparse.idx32 = (const int32_t *)indices;
        sparse.idx64 = NULL;
    } else if (stored > 0) {
        if (!columns_in_range_int64_t(indices, stored, n_features))
            return FM_ERR_ARG;
        sparse.idx64 = (const int64_t *)indices;
    }
    return epoch(&sparse, y_sign, sw, n_samples, w, b, eta0, fit_intercept, shuffle, seed,
                 epoch_key, perm, n_mistakes, loss_sum);
}
