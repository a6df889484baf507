/* fastmlp C core: tests of the C interface on its own, built with AddressSanitizer,
 * UndefinedBehaviorSanitizer and LeakSanitizer by .ci/run (see csrc/tests/run_sanitized.sh).
 * GEMM against a naive double reference for every instruction set the CPU has, a short
 * training run, and the error paths (bad arguments, NaN input, divergence), which must free what
 * they allocated. Exits non-zero when any check fails. */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fastmlp.h"
#include "pool.h"

static int n_passed, n_failed;

#define CHECK(cond, ...)                                                                         \
    do {                                                                                         \
        if (cond) {                                                                              \
            n_passed++;                                                                          \
        } else {                                                                                 \
            n_failed++;                                                                          \
            printf("not ok: %s:%d: ", __FILE__, __LINE__);                                      \
            printf(__VA_ARGS__);                                                                 \
            printf("\n");                                                                        \
        }                                                                                        \
    } while (0)

/* fm_train_epoch with the batching spelled out, the epoch's sums in *loss_sum and *score. */
#define TRAIN_HELPER(REAL, SUF)                                                                  \
    static int train_##SUF(const fm_net *net, fm_optimizer *opt, REAL *params, REAL *state,      \
                           const REAL *x, const REAL *y, const REAL *sw, int64_t n_rows,        \
                           const int64_t *order, int64_t n_samples, int64_t batch_size,         \
                           uint64_t seed, uint64_t epoch_key, int64_t position,                 \
                           fm_workspace *ws, double *loss_sum, double *score)                   \
    {                                                                                            \
        const fm_batches b = {n_rows, order, n_samples, batch_size, seed, epoch_key, position};  \
        fm_sums sums = {*loss_sum, *score};                                                      \
        const int err = fm_train_epoch_##SUF(net, opt, params, state, x, y, sw, &b, ws, &sums);  \
        *loss_sum = sums.loss_sum;                                                               \
        *score = sums.score;                                                                     \
        return err;                                                                              \
    }
TRAIN_HELPER(float, f32)
TRAIN_HELPER(double, f64)

/* Deterministic pseudo-random values in [-1, 1). */
static double uniform(unsigned long long *state)
{
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*state >> 11) / (double)(1ULL << 53) * 2.0 - 1.0;
}

static void test_gemm(const char *isa)
{
    const int shapes[][3] = {{1, 1, 1},    {7, 63, 65},  {65, 17, 257}, {130, 513, 300},
                             {6, 16, 2},   {32, 1, 64},  {64, 1, 32},   {20, 64, 32},
                             {13, 33, 300}, {200, 100, 64}, {300, 130, 300},
                             {130, 128, 600}};
    unsigned long long rng = 42;
    for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
        const int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        for (int ta = 0; ta < 2; ta++) {
            for (int tb = 0; tb < 2; tb++) {
                double *a = malloc(sizeof(double) * m * k), *b = malloc(sizeof(double) * k * n);
                double *c = malloc(sizeof(double) * m * n), *ref = malloc(sizeof(double) * m * n);
                float *af = malloc(sizeof(float) * m * k), *bf = malloc(sizeof(float) * k * n);
                float *cf = malloc(sizeof(float) * m * n);
                for (int i = 0; i < m * k; i++)
                    af[i] = (float)(a[i] = uniform(&rng));
                for (int i = 0; i < k * n; i++)
                    bf[i] = (float)(b[i] = uniform(&rng));
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++) {
                        double sum = 0;
                        for (int p = 0; p < k; p++)
                            sum += (double)af[ta ? p * m + i : i * k + p] *
                                   (double)bf[tb ? j * k + p : p * n + j];
                        ref[i * n + j] = sum;
                        c[i * n + j] = 0;
                        cf[i * n + j] = NAN; /* beta == 0 must overwrite */
                    }
                for (int i = 0; i < m * k; i++)
                    a[i] = af[i];
                for (int i = 0; i < k * n; i++)
                    b[i] = bf[i];
                int err64 = fm_gemm_f64(ta, tb, m, n, k, 1.0, a, ta ? m : k, b, tb ? k : n, 0.0, c,
                                        n, NULL);
                int err32 = fm_gemm_f32(ta, tb, m, n, k, 1.0f, af, ta ? m : k, bf, tb ? k : n,
                                        0.0f, cf, n, NULL);
                double worst64 = 0, worst32 = 0;
                for (int i = 0; i < m * n; i++) {
                    worst64 = fmax(worst64, fabs(c[i] - ref[i]));
                    worst32 = fabs(cf[i] - ref[i]) > worst32 || isnan(cf[i])
                                  ? (isnan(cf[i]) ? INFINITY : fabs(cf[i] - ref[i]))
                                  : worst32;
                }
                CHECK(err64 == FM_OK && worst64 < 1e-12 * k, "%s gemm_f64 %dx%dx%d ta=%d tb=%d: %g",
                      isa, m, n, k, ta, tb, worst64);
                CHECK(err32 == FM_OK && worst32 < 1e-5 * k, "%s gemm_f32 %dx%dx%d ta=%d tb=%d: %g",
                      isa, m, n, k, ta, tb, worst32);
                free(a);
                free(b);
                free(c);
                free(ref);
                free(af);
                free(bf);
                free(cf);
            }
        }
    }
    CHECK(fm_gemm_f64(0, 0, 2, 2, 2, 1.0, NULL, 1, NULL, 2, 0.0, NULL, 2, NULL) == FM_ERR_ARG,
          "gemm accepted lda < k");
}

/* A network with the default options of the fields past the first six. */
static fm_net make_net(int n_layers, const int64_t *units, int hidden, int output, int loss,
                       double alpha)
{
    fm_net net = {0};
    net.n_layers = n_layers;
    net.units = units;
    net.hidden_activation = hidden;
    net.output_activation = output;
    net.loss = loss;
    net.alpha = alpha;
    net.maxout_pieces = 2;
    net.bn_momentum = 0.1;
    net.bn_eps = 1e-5;
    return net;
}

/* An optimizer with PyTorch's defaults for the fields a solver does not use. */
static fm_optimizer make_opt(int solver, double lr, double momentum, int nesterov)
{
    fm_optimizer opt = {0};
    opt.solver = solver;
    opt.learning_rate = lr;
    opt.momentum = momentum;
    opt.nesterov = nesterov;
    opt.beta_1 = 0.9;
    opt.beta_2 = 0.999;
    opt.epsilon = 1e-8;
    opt.weight_decay = 0.01;
    opt.rho = 0.9;
    return opt;
}

static void test_training(void)
{
    enum { N = 300, D = 12, H = 16, C = 3, B = 32 };
    const int64_t units[] = {D, H, H, C};
    const fm_net net = make_net(3, units, FM_ACT_RELU, FM_ACT_SOFTMAX, FM_LOSS_LOG, 1e-3);
    CHECK(fm_net_check(&net) == FM_OK, "valid net rejected");
    const int64_t n_params = fm_n_params(&net);
    CHECK(n_params == D * H + H * H + H * C + H + H + C, "n_params %lld", (long long)n_params);

    unsigned long long rng = 7;
    double *x = malloc(sizeof(double) * N * D), *y = calloc(N * C, sizeof(double));
    double *params = malloc(sizeof(double) * n_params);
    double *state = calloc(2 * n_params, sizeof(double));
    double *out = malloc(sizeof(double) * N * C);
    int64_t order[N];
    for (int i = 0; i < N; i++) {
        double score = 0;
        for (int j = 0; j < D; j++)
            score += (x[i * D + j] = uniform(&rng));
        y[i * C + (score > 0.5 ? 2 : score > -0.5 ? 1 : 0)] = 1;
    }
    for (int64_t i = 0; i < n_params; i++)
        params[i] = 0.3 * uniform(&rng);

    fm_workspace *ws = fm_workspace_new(&net, B, sizeof(double));
    CHECK(ws != NULL, "workspace allocation failed");
    fm_optimizer opt = make_opt(FM_SOLVER_ADAM, 0.01, 0.9, 1);
    double first = 0, last = 0;
    for (int epoch = 0; epoch < 30 && ws; epoch++) {
        double loss_sum = 0, score = 0;
        fm_permutation(1234, (uint64_t)epoch, N, order);
        int err = train_f64(&net, &opt, params, state, x, y, NULL, N, order, N, B,
                                     1234, (uint64_t)epoch, 0, ws, &loss_sum, &score);
        CHECK(err == FM_OK && isfinite(loss_sum), "epoch %d: err %d loss %g", epoch, err,
              loss_sum);
        if (epoch == 0)
            first = loss_sum / N;
        last = loss_sum / N;
    }
    CHECK(last < 0.7 * first, "loss did not fall: %g -> %g", first, last);
    CHECK(opt.step == 30 * ((N + B - 1) / B), "adam step %lld", (long long)opt.step);

    CHECK(fm_predict_f64(&net, params, x, N, out) == FM_OK, "predict failed");
    double worst = 0;
    for (int i = 0; i < N; i++) {
        double row = 0;
        for (int j = 0; j < C; j++)
            row += out[i * C + j];
        worst = fmax(worst, fabs(row - 1));
    }
    CHECK(worst < 1e-12, "softmax rows do not sum to 1: %g", worst);

    /* An epoch split into two calls at a batch boundary trains exactly as one call. */
    {
        double *p2 = malloc(sizeof(double) * n_params), *s2 = malloc(sizeof(double) * 2 * n_params);
        memcpy(p2, params, sizeof(double) * n_params);
        memcpy(s2, state, sizeof(double) * 2 * n_params);
        fm_optimizer o1 = opt, o2 = opt;
        double l1 = 0, c1 = 0, l2 = 0, c2 = 0;
        fm_permutation(99, 7, N, order);
        int e1 = train_f64(&net, &o1, params, state, x, y, NULL, N, order, N, B, 99, 7,
                                    0, ws, &l1, &c1);
        int e2 = train_f64(&net, &o2, p2, s2, x, y, NULL, N, order, 2 * B, B, 99, 7, 0,
                                    ws, &l2, &c2);
        int e3 = train_f64(&net, &o2, p2, s2, x, y, NULL, N, order + 2 * B, N - 2 * B, B,
                                    99, 7, 2 * B, ws, &l2, &c2);
        CHECK(e1 == FM_OK && e2 == FM_OK && e3 == FM_OK, "split epoch failed");
        CHECK(memcmp(p2, params, sizeof(double) * n_params) == 0 && l1 == l2 && c1 == c2 &&
                  o1.step == o2.step,
              "an epoch split in two calls differs from one call");
        free(p2);
        free(s2);
    }

    /* Error paths. */
    x[5] = NAN;
    CHECK(fm_predict_f64(&net, params, x, N, out) == FM_ERR_INPUT, "NaN input accepted");
    x[5] = 0;
    double loss_sum = 0, score = 0;
    CHECK(train_f64(&net, &opt, params, state, x, y, NULL, N, NULL, N, B + 1, 0, 0, 0,
                             ws, &loss_sum, &score) == FM_ERR_ARG,
          "batch larger than the workspace accepted");
    fm_workspace *ws32 = fm_workspace_new(&net, B, sizeof(float));
    CHECK(train_f64(&net, &opt, params, state, x, y, NULL, N, NULL, N, B, 0, 0, 0,
                             ws32, &loss_sum, &score) == FM_ERR_ARG,
          "float workspace accepted for double data");
    order[3] = N; /* out of range */
    CHECK(train_f64(&net, &opt, params, state, x, y, NULL, N, order, N, B, 0, 0, 0, ws,
                             &loss_sum, &score) == FM_ERR_ARG,
          "order entry past the rows accepted");
    order[3] = 3;
    fm_workspace_free(ws32);
    const int64_t bad_units[] = {D, 0, C};
    const fm_net bad = make_net(2, bad_units, FM_ACT_RELU, FM_ACT_SOFTMAX, FM_LOSS_LOG, 0);
    CHECK(fm_net_check(&bad) == FM_ERR_ARG && fm_workspace_new(&bad, B, 8) == NULL,
          "zero-width layer accepted");
    CHECK(fm_workspace_new(&net, 0, 8) == NULL, "zero-row workspace accepted");

    /* Divergence: a huge SGD step blows the loss up; the call reports it, never crashes. */
    const fm_net reg = make_net(3, units, FM_ACT_IDENTITY, FM_ACT_IDENTITY, FM_LOSS_SQUARED, 0);
    fm_optimizer sgd = make_opt(FM_SOLVER_SGD, 1e30, 0.0, 0);
    for (int i = 0; i < N * C; i++)
        y[i] *= 1e30;
    int err = FM_OK;
    for (int epoch = 0; epoch < 5 && err == FM_OK; epoch++)
        err = train_f64(&reg, &sgd, params, state, x, y, NULL, N, NULL, N, B, 0, 0, 0,
                                 ws, &loss_sum, &score);
    CHECK(err == FM_ERR_NONFINITE, "divergence not reported (err %d)", err);

    fm_workspace_free(ws);
    free(x);
    free(y);
    free(params);
    free(state);
    free(out);
}

/* Every hidden activation with and without batch norm and dropout, every solver and loss, in
 * both precisions: epochs, the full-batch gradient and predict run clean (the sanitizers watch
 * every buffer) and give finite values. */
static void test_options(void)
{
    enum { N = 37, D = 5, H = 6, C = 3, B = 8 };
    const int64_t units[] = {D, H, H - 1, C};
    const double rates[] = {0.3, 0.5};
    const int hidden[] = {FM_ACT_IDENTITY, FM_ACT_LOGISTIC, FM_ACT_TANH, FM_ACT_RELU,
                          FM_ACT_LEAKY_RELU, FM_ACT_PRELU, FM_ACT_ELU, FM_ACT_MAXOUT,
                          FM_ACT_SOFTPLUS, FM_ACT_GELU};
    const int losses[][2] = {{FM_ACT_SOFTMAX, FM_LOSS_LOG}, {FM_ACT_IDENTITY, FM_LOSS_HINGE},
                             {FM_ACT_IDENTITY, FM_LOSS_PERCEPTRON},
                             {FM_ACT_IDENTITY, FM_LOSS_SQUARED}};
    unsigned long long rng = 11;
    double x[N * D], y[N * C] = {0}, out[N * C];
    float xf[N * D], yf[N * C], outf[N * C];
    int64_t order[N];
    for (int i = 0; i < N * D; i++)
        xf[i] = (float)(x[i] = uniform(&rng));
    for (int i = 0; i < N; i++)
        y[i * C + i % C] = 1;
    for (int i = 0; i < N * C; i++)
        yf[i] = (float)y[i];
    int runs = 0;
    for (size_t a = 0; a < sizeof(hidden) / sizeof(hidden[0]); a++)
        for (int variant = 0; variant < 4; variant++) {
            fm_net net = make_net(3, units, hidden[a], losses[variant][0], losses[variant][1],
                                  1e-3);
            net.batch_norm = variant & 1;
            net.dropout = variant >= 2 ? rates : NULL;
            net.alpha_l1 = variant == 3 ? 1e-3 : 0;
            net.maxout_pieces = 3;
            net.dropout_seed = 5;
            CHECK(fm_net_check(&net) == FM_OK, "activation %d variant %d rejected", hidden[a],
                  variant);
            const int64_t n_params = fm_n_params(&net);
            CHECK(fm_n_trainable(&net) <= n_params, "trainable past the parameters");
            double *params = malloc(sizeof(double) * n_params);
            double *state = calloc(2 * n_params, sizeof(double));
            double *grad = malloc(sizeof(double) * n_params);
            float *pf = malloc(sizeof(float) * n_params);
            float *sf = calloc(2 * n_params, sizeof(float));
            for (int64_t i = 0; i < n_params; i++)
                pf[i] = (float)(params[i] = 0.5 * uniform(&rng));
            /* running variances must be positive */
            if (net.batch_norm)
                for (int64_t i = fm_bn_offset(&net, 0, 3); i < n_params; i++)
                    pf[i] = (float)(params[i] = 1.0);
            fm_workspace *ws = fm_workspace_new(&net, B, sizeof(double));
            fm_workspace *wsf = fm_workspace_new(&net, B, sizeof(float));
            fm_workspace *wsg = fm_workspace_new(&net, N, sizeof(double));
            CHECK(ws && wsf && wsg, "workspace allocation failed");
            for (int solver = FM_SOLVER_SGD; solver <= FM_SOLVER_ADADELTA && ws && wsf; solver++) {
                fm_optimizer opt = make_opt(solver, 0.01, 0.9, solver == FM_SOLVER_SGD);
                fm_optimizer optf = opt;
                memset(state, 0, sizeof(double) * 2 * (size_t)n_params); /* a fresh state */
                memset(sf, 0, sizeof(float) * 2 * (size_t)n_params);
                for (int epoch = 0; epoch < 2; epoch++) {
                    double loss = 0, score = 0;
                    fm_permutation(3, (uint64_t)epoch, N, order);
                    int err = train_f64(&net, &opt, params, state, x, y, NULL, N, order,
                                                 N, B, 3, (uint64_t)epoch, 0, ws, &loss, &score);
                    CHECK(err == FM_OK && isfinite(loss) && score >= 0,
                          "f64 act %d variant %d solver %d: err %d loss %g", hidden[a], variant,
                          solver, err, loss);
                    err = train_f32(&net, &optf, pf, sf, xf, yf, NULL, N, order, N, B, 3,
                                             (uint64_t)epoch, 0, wsf, &loss, &score);
                    CHECK(err == FM_OK && isfinite(loss),
                          "f32 act %d variant %d solver %d: err %d loss %g", hidden[a], variant,
                          solver, err, loss);
                    runs++;
                }
            }
            double loss = 0;
            CHECK(wsg && fm_loss_grad_f64(&net, params, x, y, NULL, N, wsg, grad, &loss) == FM_OK &&
                      isfinite(loss),
                  "loss_grad act %d variant %d", hidden[a], variant);
            CHECK(fm_predict_f64(&net, params, x, N, out) == FM_OK && isfinite(out[0]),
                  "predict act %d variant %d", hidden[a], variant);
            CHECK(fm_predict_f32(&net, pf, xf, N, outf) == FM_OK && isfinite(outf[0]),
                  "predict f32 act %d variant %d", hidden[a], variant);
            if (net.batch_norm && ws) /* batch norm's full-batch gradient needs one chunk */
                CHECK(fm_loss_grad_f64(&net, params, x, y, NULL, N, ws, grad, &loss) == FM_ERR_ARG,
                      "batch norm over several chunks accepted");
            fm_workspace_free(ws);
            fm_workspace_free(wsf);
            fm_workspace_free(wsg);
            free(params);
            free(state);
            free(grad);
            free(pf);
            free(sf);
        }
    CHECK(runs == 10 * 4 * 6 * 2, "runs %d", runs);
    fm_net bad = make_net(3, units, FM_ACT_RELU, FM_ACT_SOFTMAX, FM_LOSS_HINGE, 0);
    CHECK(fm_net_check(&bad) == FM_ERR_ARG, "hinge with softmax output accepted");
    bad = make_net(3, units, FM_ACT_SOFTMAX, FM_ACT_SOFTMAX, FM_LOSS_LOG, 0);
    CHECK(fm_net_check(&bad) == FM_ERR_ARG, "softmax hidden activation accepted");
    const double one[] = {1.0, 0.0};
    bad = make_net(3, units, FM_ACT_RELU, FM_ACT_SOFTMAX, FM_LOSS_LOG, 0);
    bad.dropout = one;
    CHECK(fm_net_check(&bad) == FM_ERR_ARG, "dropout rate 1 accepted");
}

/* The perceptron rule: logical AND in order gives the hand-computed weights; shuffled epochs
 * reach zero mistakes on separable data, the same bits twice; bad arguments change nothing. */
static void test_perceptron(void)
{
    const double and_x[8] = {0, 0, 0, 1, 1, 0, 1, 1};
    const int8_t and_y[4] = {-1, -1, -1, 1};
    double w[2] = {0, 0}, b = 0, loss = 0;
    int64_t mistakes = 1, epoch = 0;
    int err = FM_OK;
    for (; epoch < 100 && mistakes > 0 && err == FM_OK; epoch++)
        err = fm_perceptron_epoch_f64(and_x, and_y, NULL, 4, 2, w, &b, 1.0, 1, 0, 0, 0, NULL,
                                      &mistakes, &loss);
    CHECK(err == FM_OK && mistakes == 0 && loss == 0, "AND: err %d, %lld mistakes", err,
          (long long)mistakes);
    CHECK(w[0] == 3 && w[1] == 2 && b == -4, "AND: w = (%g, %g), b = %g", w[0], w[1], b);

    enum { N = 300, F = 7 };
    double *x = malloc(sizeof(double) * N * F);
    int8_t *y = malloc(N);
    int64_t *perm = malloc(sizeof(int64_t) * N);
    double w_true[F], w1[F], w2[F], b1 = 0, b2 = 0;
    unsigned long long state = 7;
    for (int j = 0; j < F; j++)
        w_true[j] = uniform(&state);
    for (int i = 0; i < N; i++) {
        double score;
        do { /* keep a margin of 0.05 so that the data are separable with room to spare */
            score = 0.1;
            for (int j = 0; j < F; j++)
                score += w_true[j] * (x[i * F + j] = uniform(&state));
        } while (fabs(score) < 0.05);
        y[i] = score > 0 ? 1 : -1;
    }
    double *ws[2] = {w1, w2}, *bs[2] = {&b1, &b2};
    for (int run = 0; run < 2; run++) {
        memset(ws[run], 0, sizeof(double) * F);
        mistakes = 1;
        err = FM_OK;
        for (epoch = 0; epoch < 10000 && mistakes > 0 && err == FM_OK; epoch++)
            err = fm_perceptron_epoch_f64(x, y, NULL, N, F, ws[run], bs[run], 0.5, 1, 1, 42,
                                          (uint64_t)epoch, perm, &mistakes, &loss);
        CHECK(err == FM_OK && mistakes == 0, "separable: err %d, %lld mistakes after %lld epochs",
              err, (long long)mistakes, (long long)epoch);
    }
    int wrong = 0;
    for (int i = 0; i < N; i++) {
        double score = b1;
        for (int j = 0; j < F; j++)
            score += w1[j] * x[i * F + j];
        wrong += y[i] * score <= 0;
    }
    CHECK(wrong == 0, "separable: %d samples on the wrong side", wrong);
    CHECK(memcmp(w1, w2, sizeof w1) == 0 && b1 == b2, "same seed, different weights");

    /* Bad arguments: FM_ERR_ARG and the weights untouched. */
    const double w_before = w1[0], b_before = b1;
    y[N - 1] = 0;
    CHECK(fm_perceptron_epoch_f64(x, y, NULL, N, F, w1, &b1, 1.0, 1, 0, 0, 0, NULL, &mistakes,
                                  &loss) == FM_ERR_ARG, "label 0 accepted");
    y[N - 1] = 1;
    CHECK(fm_perceptron_epoch_f64(x, y, NULL, N, F, w1, &b1, 0.0, 1, 0, 0, 0, NULL, &mistakes,
                                  &loss) == FM_ERR_ARG, "eta0 = 0 accepted");
    CHECK(fm_perceptron_epoch_f64(x, y, NULL, N, F, w1, &b1, 1.0, 1, 1, 0, 0, NULL, &mistakes,
                                  &loss) == FM_ERR_ARG, "shuffle without scratch accepted");
    double sw[4] = {1, 1, -1, 1};
    CHECK(fm_perceptron_epoch_f64(and_x, and_y, sw, 4, 2, w1, &b1, 1.0, 1, 0, 0, 0, NULL,
                                  &mistakes, &loss) == FM_ERR_ARG, "negative weight accepted");
    CHECK(w1[0] == w_before && b1 == b_before, "a rejected call changed the weights");

    /* Overflow: a score of 1e200 * 1e200 is reported, never returned as a weight. */
    const double big_x[4] = {1e200, 1e200, -1e200, 1e200};
    const int8_t big_y[2] = {1, -1};
    double big_w[2] = {0, 0}, big_b = 0;
    err = fm_perceptron_epoch_f64(big_x, big_y, NULL, 2, 2, big_w, &big_b, 1.0, 1, 0, 0, 0,
                                  NULL, &mistakes, &loss);
    CHECK(err == FM_ERR_NONFINITE, "overflow not reported (err %d)", err);
    free(x);
    free(y);
    free(perm);
}

/* The pool runs every task of a job exactly once, before fm_pool_run returns, however the jobs
 * follow each other: the same context and task function for jobs of varying sizes (a claim
 * made against an exhausted job's ticket once ran a task of the next job twice). */
/* predict of many rows (the blocked path: rows in blocks through every layer, shared among
 * threads) gives each row the bits that predicting it among fewer rows gives (the per-layer path,
 * 100 rows at a time), a last chunk of fewer rows than a register tile included (5 rows past
 * 1024: the small path in both); a NaN in any block is refused. Layers of more than one KC
 * block of k, widths that are not multiples of the tile, one-unit and softmax outputs. */
#define PREDICT_BLOCKS_TEST(REAL, SUF)                                                           \
    static void test_predict_blocks_##SUF(const char *isa)                                      \
    {                                                                                            \
        static const int64_t one_unit[4] = {300, 70, 33, 1}, softmax[3] = {300, 40, 10};       \
        enum { N = 1029, PIECE = 100 };                                                          \
        for (int s = 0; s < 2; s++) {                                                            \
            const int L = s == 0 ? 3 : 2;                                                        \
            fm_net net = s == 0 ? make_net(L, one_unit, FM_ACT_RELU, FM_ACT_LOGISTIC,            \
                                           FM_LOSS_BINARY_LOG, 0)                                \
                                : make_net(L, softmax, FM_ACT_TANH, FM_ACT_SOFTMAX, FM_LOSS_LOG, \
                                           0);                                                   \
            const int64_t n_params = fm_n_params(&net), n_in = 300;                              \
            const int64_t n_out = net.units[L];                                                  \
            REAL *params = malloc(sizeof(REAL) * (size_t)n_params);                              \
            REAL *x = malloc(sizeof(REAL) * (size_t)(N * n_in));                                 \
            REAL *all = malloc(sizeof(REAL) * (size_t)(N * n_out));                              \
            REAL *pieces = malloc(sizeof(REAL) * (size_t)(N * n_out));                           \
            unsigned long long state = 7;                                                        \
            for (int64_t i = 0; i < n_params; i++)                                               \
                params[i] = (REAL)(0.1 * uniform(&state));                                       \
            for (int64_t i = 0; i < N * n_in; i++)                                               \
                x[i] = (REAL)uniform(&state);                                                    \
            int err = fm_predict_##SUF(&net, params, x, N, all);                                 \
            for (int64_t start = 0, end; start < N && err == FM_OK; start = end) {              \
                end = start + PIECE < 1024 ? start + PIECE : start < 1024 ? 1024 : N;            \
                err = fm_predict_##SUF(&net, params, x + start * n_in, end - start,              \
                                       pieces + start * n_out);                                  \
            }                                                                                    \
            CHECK(err == FM_OK && memcmp(all, pieces, sizeof(REAL) * (size_t)(N * n_out)) == 0,  \
                  "%s " #SUF " predict net %d: blocks of rows change the bits (err %d)", isa, s, \
                  err);                                                                          \
            x[700 * n_in + 5] = (REAL)NAN;                                                       \
            CHECK(fm_predict_##SUF(&net, params, x, N, all) == FM_ERR_INPUT,                     \
                  "%s " #SUF " predict net %d: NaN accepted", isa, s);                           \
            free(params);                                                                        \
            free(x);                                                                             \
            free(all);                                                                           \
            free(pieces);                                                                        \
        }                                                                                        \
    }
PREDICT_BLOCKS_TEST(float, f32)
PREDICT_BLOCKS_TEST(double, f64)

static _Atomic int pool_counts[32];
static void pool_count_task(void *ctx, int64_t task)
{
    (void)ctx;
    atomic_fetch_add(&pool_counts[task], 1);
    volatile double spin = 0;
    for (int i = 0; i < (int)(task * 37 % 500); i++)
        spin += i;
}

static void test_pool(void)
{
    long wrong = 0;
    for (int job = 0; job < 60000; job++) {
        const int n = 1 + job % 23;
        for (int i = 0; i < n; i++)
            atomic_store(&pool_counts[i], 0);
        fm_pool_run(n, 3, pool_count_task, NULL);
        for (int i = 0; i < n; i++)
            wrong += atomic_load(&pool_counts[i]) != 1;
    }
    CHECK(wrong == 0, "%ld tasks did not run exactly once", wrong);
}

int main(void)
{
    test_pool();
    const char *names[8];
    int n_names = 0;
    for (int i = 0; fm_isa_compiled(i) != NULL && n_names < 8; i++)
        if (fm_isa_supported(fm_isa_compiled(i)))
            names[n_names++] = fm_isa_compiled(i);
    for (int i = 0; i < n_names; i++) {
        CHECK(fm_set_isa(names[i]) == FM_OK, "cannot select %s", names[i]);
        test_gemm(names[i]);
        test_training();
        test_options();
        test_predict_blocks_f32(names[i]);
        test_predict_blocks_f64(names[i]);
    }
    CHECK(fm_set_isa("no-such-isa") == FM_ERR_ARG, "unknown ISA accepted");
    test_perceptron();
    printf("%d passed, %d failed\n", n_passed, n_failed);
    return n_failed == 0 ? 0 : 1;
}
