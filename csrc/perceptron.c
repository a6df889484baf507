/* fastmlp C core: Rosenblatt's perceptron rule, one epoch of one binary problem per call.
 * Serial on purpose: every update depends on the one before it, and one pass over the samples in
 * a fixed order makes the result a pure function of the inputs, (seed, epoch) and nothing else.
 * The arithmetic is scikit-learn's _plain_sgd for loss="perceptron", learning_rate="constant",
 * penalty=None, operation for operation (left-to-right dot product, then + b; w += x * update),
 * so both give the same bits from the same sample order. */
#include <math.h>

#include "internal.h"

/* One epoch: reads x (n_samples x n_features, row-major), y_sign and sw; updates w and *b in
 * place; writes the epoch's mistakes and perceptron loss to *n_mistakes and *loss_sum. */
int fm_perceptron_epoch_f64(const double *x, const int8_t *y_sign, const double *sw,
                            int64_t n_samples, int64_t n_features, double *w, double *b,
                            double eta0, int fit_intercept, int shuffle, uint64_t seed,
                            uint64_t epoch, int64_t *perm, int64_t *n_mistakes, double *loss_sum)
{
    if (n_mistakes == NULL || loss_sum == NULL)
        return FM_ERR_ARG;
    *n_mistakes = 0;
    *loss_sum = 0;
    if (x == NULL || y_sign == NULL || w == NULL || b == NULL || n_samples < 1 ||
        n_features < 1 || !(eta0 > 0) || !isfinite(eta0) || (shuffle && perm == NULL))
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
        fm_permutation(seed, epoch, n_samples, perm);

    int64_t mistakes = 0;
    double loss = 0;
    for (int64_t s = 0; s < n_samples; s++) {
        const int64_t i = shuffle ? perm[s] : s;
        const double *xi = x + i * n_features;
        double score = 0;
        for (int64_t j = 0; j < n_features; j++)
            score += w[j] * xi[j];
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
        for (int64_t j = 0; j < n_features; j++)
            w[j] += xi[j] * update;
        if (fit_intercept)
            *b += update;
    }
    *n_mistakes = mistakes;
    *loss_sum = loss;
    return FM_OK;
}
