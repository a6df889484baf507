/* fastmlp C core: tests of the C interface on its own, built with AddressSanitizer,
 * UndefinedBehaviorSanitizer and LeakSanitizer by .ci/run (see csrc/tests/run_sanitized.sh).
 * GEMM against a naive double reference for every instruction set the CPU has, a short
 * training run, the error paths (bad arguments, NaN input, divergence), which must free what
 * they allocated, and a matrix of trainings hashed under every instruction set (the same bits
 * everywhere, on any architecture). Exits non-zero when any check fails. */
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fastmlp.h"
#include "fm_math.h"
#include "pool.h"
#ifdef _OPENMP
#include <omp.h>
#endif

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
        const fm_batches b = {n_rows, order, n_samples, batch_size, seed, epoch_key, position, 0};  \
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

    /* check_x: the call ends with FM_ERR_INPUT at the first batch whose rows of x are not
     * finite, before its update: the state as after the batches before it (those rows in order
     * or gathered); on finite x it trains the same bits as without the check. */
    {
        const size_t pb = sizeof(double) * n_params;
        double *p1 = malloc(pb), *s1 = malloc(2 * pb), *p2 = malloc(pb), *s2 = malloc(2 * pb);
        for (int with_order = 0; with_order < 2; with_order++) {
            const int64_t *ord = with_order ? order : NULL;
            fm_permutation(5, 3, N, order);
            for (int bad_batch = 0; bad_batch < 3; bad_batch++) {
                const int64_t pos = bad_batch == 2 ? N - 1 : bad_batch * 2 * B + 3;
                const int64_t done = pos / B * B; /* rows of the batches before */
                const int64_t bad_row = with_order ? order[pos] : pos;
                memcpy(p1, params, pb);
                memcpy(p2, params, pb);
                memcpy(s1, state, 2 * pb);
                memcpy(s2, state, 2 * pb);
                fm_optimizer o1 = opt, o2 = opt;
                double l1 = 0, c1 = 0;
                int e1 = done == 0 ? FM_OK
                                   : train_f64(&net, &o1, p1, s1, x, y, NULL, N, ord, done, B,
                                               5, 3, 0, ws, &l1, &c1);
                const double saved = x[bad_row * D + 4];
                x[bad_row * D + 4] = bad_batch == 1 ? INFINITY : NAN;
                const fm_batches b = {N, ord, N, B, 5, 3, 0, 1};
                fm_sums sums = {0, 0};
                int e2 = fm_train_epoch_f64(&net, &o2, p2, s2, x, y, NULL, &b, ws, &sums);
                x[bad_row * D + 4] = saved;
                CHECK(e1 == FM_OK && e2 == FM_ERR_INPUT, "check_x: err %d %d", e1, e2);
                CHECK(memcmp(p1, p2, pb) == 0 && memcmp(s1, s2, 2 * pb) == 0 &&
                          o1.step == o2.step && sums.loss_sum == l1 && sums.score == c1,
                      "check_x: the state differs from after the batches before (batch %d)",
                      bad_batch);
            }
            memcpy(p1, params, pb);
            memcpy(p2, params, pb);
            memcpy(s1, state, 2 * pb);
            memcpy(s2, state, 2 * pb);
            fm_optimizer o1 = opt, o2 = opt;
            double l1 = 0, c1 = 0;
            int e1 = train_f64(&net, &o1, p1, s1, x, y, NULL, N, ord, N, B, 5, 3, 0, ws, &l1,
                               &c1);
            const fm_batches b = {N, ord, N, B, 5, 3, 0, 1};
            fm_sums sums = {0, 0};
            int e2 = fm_train_epoch_f64(&net, &o2, p2, s2, x, y, NULL, &b, ws, &sums);
            CHECK(e1 == FM_OK && e2 == FM_OK && memcmp(p1, p2, pb) == 0 &&
                      memcmp(s1, s2, 2 * pb) == 0 && sums.loss_sum == l1 && sums.score == c1,
                  "check_x on finite x changed the training");
        }
        free(p1);
        free(s1);
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

/* ---- training digests: the same bits on every instruction set and architecture ---- */

/* The digests of the matrix below (trainings and the elementwise functions), recorded on
 * x86-64; the portable kernels (any architecture, aarch64 included: csrc/tests/run_aarch64.sh),
 * AVX2 and AVX-512 must all reproduce them. A change that alters the core's numbers on purpose
 * updates them (the test prints the new values), as tests/guard_digests.json. */
#define RECORDED_DIGEST_F32 0x4843e4e4fc05f9f1ULL
#define RECORDED_DIGEST_F64 0xbd82054fd1f09eb5ULL
/* ... and of the bfloat16 trainings (digest_bf16), with AMX where the CPU has it and without */
#define RECORDED_DIGEST_BF16 0x741d47d2ae0d15e7ULL

/* FNV-1a over bytes. */
static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = (const unsigned char *)data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

/* One training of the digest matrix in one precision: 3 epochs, then predictions of the data
 * and of its first 1, 5, 7 and 11 rows (the small GEMM paths); hashes the parameters, the
 * optimizer state, the epoch sums and the predictions into *h. Returns an fm_status. */
#define DIGEST_TRAIN(REAL, SUF)                                                                  \
    static int digest_train_##SUF(const fm_net *net, int solver, const double *xd,             \
                                  const double *yd, int64_t n, int64_t batch, uint64_t *h)      \
    {                                                                                            \
        const int64_t n_in = net->units[0], n_out = net->units[net->n_layers];                  \
        const int64_t n_params = fm_n_params(net);                                               \
        REAL *x = malloc(sizeof(REAL) * (size_t)(n * n_in));                                     \
        REAL *y = malloc(sizeof(REAL) * (size_t)(n * n_out));                                    \
        REAL *out = malloc(sizeof(REAL) * (size_t)(n * n_out));                                  \
        REAL *params = malloc(sizeof(REAL) * (size_t)n_params);                                  \
        REAL *state = calloc(2 * (size_t)n_params, sizeof(REAL));                                \
        int64_t *order = malloc(sizeof(int64_t) * (size_t)n);                                    \
        fm_workspace *ws = fm_workspace_new(net, batch, sizeof(REAL));                           \
        int err = x && y && out && params && state && order && ws ? FM_OK : FM_ERR_NOMEM;        \
        if (err == FM_OK) {                                                                      \
            unsigned long long rng = 2024;                                                       \
            for (int64_t i = 0; i < n * n_in; i++)                                               \
                x[i] = (REAL)xd[i];                                                              \
            for (int64_t i = 0; i < n * n_out; i++)                                              \
                y[i] = (REAL)yd[i];                                                              \
            const double scale = 1.0 / sqrt((double)n_in);                                       \
            for (int64_t i = 0; i < n_params; i++)                                               \
                params[i] = (REAL)(scale * uniform(&rng));                                       \
            if (net->batch_norm) /* scales 1, shifts 0, running means 0, variances 1 */         \
                for (int64_t i = fm_bn_offset(net, 0, 0); i < n_params; i++)                     \
                    params[i] = i < fm_bn_offset(net, 0, 1) || i >= fm_bn_offset(net, 0, 3)      \
                                    ? 1                                                          \
                                    : 0;                                                         \
            fm_optimizer opt = make_opt(solver, 0.02, 0.9, 1);                                   \
            for (int epoch = 0; epoch < 3 && err == FM_OK; epoch++) {                            \
                double loss = 0, score = 0;                                                      \
                fm_permutation(17, (uint64_t)epoch, n, order);                                   \
                err = train_##SUF(net, &opt, params, state, x, y, NULL, n, order, n, batch, 17,  \
                                  (uint64_t)epoch, 0, ws, &loss, &score);                        \
                *h = fnv(*h, &loss, sizeof(loss));                                               \
                *h = fnv(*h, &score, sizeof(score));                                             \
            }                                                                                    \
            *h = fnv(*h, params, sizeof(REAL) * (size_t)n_params);                               \
            *h = fnv(*h, state, sizeof(REAL) * 2 * (size_t)n_params);                            \
            const int64_t blocks[] = {n, 1, 5, 7, 11};                                           \
            for (int b = 0; b < 5 && err == FM_OK; b++) {                                        \
                err = fm_predict_##SUF(net, params, x, blocks[b], out);                          \
                *h = fnv(*h, out, sizeof(REAL) * (size_t)(blocks[b] * n_out));                   \
            }                                                                                    \
        }                                                                                        \
        fm_workspace_free(ws);                                                                   \
        free(x);                                                                                 \
        free(y);                                                                                 \
        free(out);                                                                               \
        free(params);                                                                            \
        free(state);                                                                             \
        free(order);                                                                             \
        return err;                                                                              \
    }
DIGEST_TRAIN(float, f32)
DIGEST_TRAIN(double, f64)

/* The elementwise functions (fm_math_rows: exp, log, expm1, log1p, tanh, erf) on a spread of
 * arguments, special values included, hashed into *d32 and *d64 (NaN hashed as one value: its
 * sign and payload are the hardware's). */
static void digest_math(uint64_t *d32, uint64_t *d64)
{
    enum { M = 4096 };
    static double xd[M];
    static float xf[M];
    const double special[] = {0.0, -0.0, INFINITY, -INFINITY, NAN, 1.0, -1.0, 1e-300, -1e-300,
                              1e300, 2.2250738585072014e-308, 5e-324, 709.78, -745.1, 88.72,
                              -103.97, 0.5, -0.5, 0.41, 0.55, 6.0, 22.0, -40.0};
    const int n_special = (int)(sizeof(special) / sizeof(special[0]));
    for (int fn = FM_MATH_EXP; fn <= FM_MATH_ERF; fn++) {
        unsigned long long rng = 5 + (unsigned long long)fn;
        for (int i = 0; i < M; i++) {
            /* magnitudes from 2^-27 to 2^11, both signs (exact: no libm in the arguments) */
            const double u = uniform(&rng), v = uniform(&rng);
            xd[i] = i < n_special ? special[i] : ldexp(1.0 + 0.5 * u, (int)(19 * v) - 8);
            xf[i] = (float)xd[i];
        }
        const int e64 = fm_math_rows(fn, 1, xd, M), e32 = fm_math_rows(fn, 0, xf, M);
        CHECK(e64 == FM_OK && e32 == FM_OK, "math function %d: %d %d", fn, e64, e32);
        for (int i = 0; i < M; i++) {
            const uint64_t nan_bits = 0x7ff8000000000000ULL;
            const uint32_t nan_bits32 = 0x7fc00000U;
            if (isnan(xd[i]))
                memcpy(&xd[i], &nan_bits, sizeof(nan_bits));
            if (isnan(xf[i]))
                memcpy(&xf[i], &nan_bits32, sizeof(nan_bits32));
        }
        *d64 = fnv(*d64, xd, sizeof(xd));
        *d32 = fnv(*d32, xf, sizeof(xf));
    }
    CHECK(fm_math_rows(FM_MATH_ERF + 1, 1, xd, 1) == FM_ERR_ARG, "unknown math function accepted");
}

/* The digest matrix under the active instruction set: every hidden activation with and without
 * batch norm and dropout, every solver, five output losses, in both precisions, on a small net
 * (13 and 7 hidden units: edge tiles everywhere) and a wide one (300 inputs: two KC blocks of
 * k, packed and in-place operands). */
static void digest_matrix(uint64_t *d32, uint64_t *d64)
{
    enum { N = 90, D = 9, C = 3, B = 16, NW = 48, DW = 300, CW = 4 };
    const int hidden[] = {FM_ACT_IDENTITY, FM_ACT_LOGISTIC, FM_ACT_TANH, FM_ACT_RELU,
                          FM_ACT_LEAKY_RELU, FM_ACT_PRELU, FM_ACT_ELU, FM_ACT_MAXOUT,
                          FM_ACT_SOFTPLUS, FM_ACT_GELU};
    const int outputs[][2] = {{FM_ACT_SOFTMAX, FM_LOSS_LOG}, {FM_ACT_IDENTITY, FM_LOSS_SQUARED},
                              {FM_ACT_EXP, FM_LOSS_POISSON}, {FM_ACT_LOGISTIC, FM_LOSS_BINARY_LOG},
                              {FM_ACT_IDENTITY, FM_LOSS_HINGE}};
    const double rates[] = {0.25, 0.1};
    static double x[NW * DW], y[N * C + NW * CW];
    unsigned long long rng = 99;
    *d32 = *d64 = 0xcbf29ce484222325ULL;
    for (int i = 0; i < N * D; i++)
        x[i] = uniform(&rng);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < C; j++)
            y[i * C + j] = (i * 7 + i / 5) % C == j;
    digest_math(d32, d64);
    const int64_t units[] = {D, 13, 7, C};
    int k = 0;
    for (size_t a = 0; a < sizeof(hidden) / sizeof(hidden[0]); a++)
        for (int variant = 0; variant < 4; variant++, k++) {
            fm_net net = make_net(3, units, hidden[a], outputs[k % 5][0], outputs[k % 5][1],
                                  1e-3);
            net.batch_norm = variant & 1;
            net.dropout = variant >= 2 ? rates : NULL;
            net.alpha_l1 = variant == 3 ? 1e-4 : 0;
            net.maxout_pieces = 2;
            net.dropout_seed = 5;
            const int solver = k % 6;
            int e32 = digest_train_f32(&net, solver, x, y, N, B, d32);
            int e64 = digest_train_f64(&net, solver, x, y, N, B, d64);
            CHECK(e32 == FM_OK && e64 == FM_OK, "digest training act %d variant %d: %d %d",
                  hidden[a], variant, e32, e64);
        }
    /* batches of all 90 rows, cut into row blocks (44 and 46 rows, fm_row_blocks): fused ReLU
     * with dropout, general layers with dropout (tanh, PReLU, maxout), each solver */
    const int block_acts[] = {FM_ACT_RELU, FM_ACT_TANH, FM_ACT_PRELU, FM_ACT_MAXOUT};
    for (int solver = FM_SOLVER_SGD; solver <= FM_SOLVER_ADADELTA; solver++) {
        fm_net net = make_net(3, units, block_acts[solver % 4], outputs[solver % 5][0],
                              outputs[solver % 5][1], 1e-3);
        net.dropout = rates;
        net.alpha_l1 = solver % 2 ? 1e-4 : 0;
        net.maxout_pieces = 2;
        net.dropout_seed = 7;
        int e32 = digest_train_f32(&net, solver, x, y, N, N, d32);
        int e64 = digest_train_f64(&net, solver, x, y, N, N, d64);
        CHECK(e32 == FM_OK && e64 == FM_OK, "row-block digest training solver %d: %d %d",
              solver, e32, e64);
    }
    /* the wide net, each solver */
    for (int i = 0; i < NW * DW; i++)
        x[i] = uniform(&rng);
    for (int i = 0; i < NW; i++)
        for (int j = 0; j < CW; j++)
            y[i * CW + j] = (i * 3 + i / 7) % CW == j;
    const int64_t wide[] = {DW, 70, CW};
    for (int solver = FM_SOLVER_SGD; solver <= FM_SOLVER_ADADELTA; solver++) {
        fm_net net = make_net(2, wide, solver % 2 ? FM_ACT_TANH : FM_ACT_RELU, FM_ACT_SOFTMAX,
                              FM_LOSS_LOG, 1e-4);
        int e32 = digest_train_f32(&net, solver, x, y, NW, 24, d32);
        int e64 = digest_train_f64(&net, solver, x, y, NW, 24, d64);
        CHECK(e32 == FM_OK && e64 == FM_OK, "wide digest training solver %d: %d %d", solver, e32,
              e64);
    }
}

/* float32 trainings with bfloat16 products (bf16.h) hashed into *d16: a small net (k of 9, 13
 * and 7: short blocks) and a wide one (300 inputs: ten blocks of 32, one short), two solvers
 * each. */
static void digest_bf16(uint64_t *d16)
{
    enum { N = 90, D = 9, C = 3, B = 16, NW = 48, DW = 300, CW = 4 };
    static double x[NW * DW], y[N * C + NW * CW];
    unsigned long long rng = 77;
    *d16 = 0xcbf29ce484222325ULL;
    for (int i = 0; i < NW * DW; i++)
        x[i] = uniform(&rng);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < C; j++)
            y[i * C + j] = (i * 7 + i / 5) % C == j;
    const int64_t units[] = {D, 13, 7, C};
    for (int solver = FM_SOLVER_SGD; solver <= FM_SOLVER_ADAM; solver++) {
        fm_net net = make_net(3, units, FM_ACT_RELU, FM_ACT_SOFTMAX, FM_LOSS_LOG, 1e-3);
        net.matmul_precision = FM_MATMUL_BFLOAT16;
        const int err = digest_train_f32(&net, solver, x, y, N, B, d16);
        CHECK(err == FM_OK, "bfloat16 digest training solver %d: %d", solver, err);
    }
    for (int i = 0; i < NW; i++)
        for (int j = 0; j < CW; j++)
            y[i * CW + j] = (i * 3 + i / 7) % CW == j;
    const int64_t wide[] = {DW, 70, CW};
    for (int solver = FM_SOLVER_SGD; solver <= FM_SOLVER_ADAM; solver++) {
        fm_net net = make_net(2, wide, solver % 2 ? FM_ACT_TANH : FM_ACT_RELU, FM_ACT_SOFTMAX,
                              FM_LOSS_LOG, 1e-4);
        net.matmul_precision = FM_MATMUL_BFLOAT16;
        const int err = digest_train_f32(&net, solver, x, y, NW, 24, d16);
        CHECK(err == FM_OK, "wide bfloat16 digest training solver %d: %d", solver, err);
    }
}

/* The digest matrix under every instruction set: the same bits under each, equal to the
 * recorded ones. */
static void test_digests(const char *const *names, int n_names)
{
    uint64_t first32 = 0, first64 = 0, first16 = 0;
    for (int i = 0; i < n_names; i++) {
        uint64_t d32, d64, d16, d16_emulated;
        CHECK(fm_set_isa(names[i]) == FM_OK, "cannot select %s", names[i]);
        digest_matrix(&d32, &d64);
        const int mode = fm_bf16_hardware(2); /* AMX where the CPU has it */
        digest_bf16(&d16);
        fm_bf16_hardware(0); /* the instruction set's emulation */
        digest_bf16(&d16_emulated);
        fm_bf16_hardware(mode);
        printf("training digest %s: float32 %016llx float64 %016llx bfloat16 %016llx\n",
               names[i], (unsigned long long)d32, (unsigned long long)d64,
               (unsigned long long)d16);
        CHECK(d16 == d16_emulated, "%s: bfloat16 training with AMX %016llx, emulated %016llx",
              names[i], (unsigned long long)d16, (unsigned long long)d16_emulated);
        if (i == 0) {
            first32 = d32;
            first64 = d64;
            first16 = d16;
        }
        CHECK(d32 == first32 && d64 == first64 && d16 == first16,
              "%s trains other bits than %s", names[i], names[0]);
    }
    CHECK(first32 == RECORDED_DIGEST_F32 && first64 == RECORDED_DIGEST_F64,
          "training digests %016llx %016llx differ from the recorded %016llx %016llx (update "
          "RECORDED_DIGEST_F32 / _F64 in csrc/tests/test_core.c when the change is meant)",
          (unsigned long long)first32, (unsigned long long)first64,
          (unsigned long long)RECORDED_DIGEST_F32, (unsigned long long)RECORDED_DIGEST_F64);
    CHECK(first16 == RECORDED_DIGEST_BF16,
          "bfloat16 training digest %016llx differs from the recorded %016llx (update "
          "RECORDED_DIGEST_BF16 in csrc/tests/test_core.c when the change is meant)",
          (unsigned long long)first16, (unsigned long long)RECORDED_DIGEST_BF16);
    fm_set_isa(NULL);
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

    /* Compressed sparse rows: x with about half its values zeroed, stored without them, gives
     * the dense epochs' bits, shuffled and weighted; malformed rows change nothing. */
    double *data = malloc(sizeof(double) * N * F), *sw_n = malloc(sizeof(double) * N);
    int64_t *indices = malloc(sizeof(int64_t) * N * F), *indptr = malloc(sizeof(int64_t) * (N + 1));
    int64_t stored = 0;
    indptr[0] = 0;
    for (int i = 0; i < N; i++) {
        sw_n[i] = 1.0 + 0.5 * uniform(&state);
        for (int j = 0; j < F; j++) {
            if (uniform(&state) < 0)
                x[i * F + j] = 0;
            else {
                data[stored] = x[i * F + j];
                indices[stored++] = j;
            }
        }
        indptr[i + 1] = stored;
    }
    int32_t *indices32 = malloc(sizeof(int32_t) * N * F);
    for (int64_t k = 0; k < stored; k++)
        indices32[k] = (int32_t)indices[k];
    double wd[F] = {0}, wc[F] = {0}, w32[F] = {0}, bd = 0, bc = 0, b32 = 0, loss_c = 0;
    int64_t mistakes_c = 0;
    int same = 1;
    for (epoch = 0; epoch < 20; epoch++) {
        const int shuffle = epoch % 2;
        const int err_d = fm_perceptron_epoch_f64(x, y, sw_n, N, F, wd, &bd, 0.5, 1, shuffle, 9,
                                                  (uint64_t)epoch, perm, &mistakes, &loss);
        const int err_c = fm_perceptron_epoch_csr_f64(data, indices, 8, indptr, N, F, y, sw_n,
                                                      wc, &bc, 0.5, 1, shuffle, 9,
                                                      (uint64_t)epoch, perm, &mistakes_c,
                                                      &loss_c);
        same &= err_d == FM_OK && err_c == FM_OK && mistakes == mistakes_c && loss == loss_c;
        /* and with 32-bit column indices */
        const int err_32 = fm_perceptron_epoch_csr_f64(data, indices32, 4, indptr, N, F, y, sw_n,
                                                       w32, &b32, 0.5, 1, shuffle, 9,
                                                       (uint64_t)epoch, perm, &mistakes_c,
                                                       &loss_c);
        same &= err_32 == FM_OK && mistakes == mistakes_c && loss == loss_c;
    }
    CHECK(same && memcmp(wd, wc, sizeof wd) == 0 && bd == bc && wd[0] != 0 &&
              memcmp(wd, w32, sizeof wd) == 0 && bd == b32,
          "compressed rows: not the dense rows' bits");
    indices[3] = F; /* a column out of range */
    indices32[stored - 1] = -1;
    CHECK(fm_perceptron_epoch_csr_f64(data, indices, 8, indptr, N, F, y, NULL, wc, &bc, 1.0, 1,
                                      0, 0, 0, NULL, &mistakes, &loss) == FM_ERR_ARG,
          "column out of range accepted");
    CHECK(fm_perceptron_epoch_csr_f64(data, indices32, 4, indptr, N, F, y, NULL, wc, &bc, 1.0,
                                      1, 0, 0, 0, NULL, &mistakes, &loss) == FM_ERR_ARG,
          "negative 32-bit column accepted");
    indices[3] = 0;
    CHECK(fm_perceptron_epoch_csr_f64(data, indices, 2, indptr, N, F, y, NULL, wc, &bc, 1.0, 1,
                                      0, 0, 0, NULL, &mistakes, &loss) == FM_ERR_ARG,
          "index size 2 accepted");
    indptr[5] = indptr[4] - 1; /* rows out of order */
    CHECK(fm_perceptron_epoch_csr_f64(data, indices, 8, indptr, N, F, y, NULL, wc, &bc, 1.0, 1,
                                      0, 0, 0, NULL, &mistakes, &loss) == FM_ERR_ARG,
          "indptr out of order accepted");
    CHECK(memcmp(wd, wc, sizeof wd) == 0 && bd == bc, "a rejected call changed the weights");
    /* no stored value at all: NULL data and indices serve */
    int64_t empty_ptr[3] = {0, 0, 0};
    const int8_t two_y[2] = {1, -1};
    double w0[F] = {0}, b0 = 0;
    err = fm_perceptron_epoch_csr_f64(NULL, NULL, 4, empty_ptr, 2, F, two_y, NULL, w0, &b0, 1.0,
                                      1, 0, 0, 0, NULL, &mistakes, &loss);
    CHECK(err == FM_OK && mistakes == 2 && loss == 1 && b0 == 0 && w0[0] == 0,
          "rows without values: err %d, %lld mistakes, loss %g", err, (long long)mistakes, loss);
    free(data);
    free(sw_n);
    free(indices);
    free(indices32);
    free(indptr);
    free(x);
    free(y);
    free(perm);
}

/* Products of fewer rows than a register tile (one-row predictions) shared among threads by KC
 * blocks of k as well as by columns give the bits of the one-thread path: k of one to eight KC
 * blocks (the last one short), alpha and beta that are not powers of 2, and KC-block sums too
 * many for the stack scratch (the split by columns alone). */
#define SMALL_SPLIT_TEST(REAL, SUF)                                                              \
    static void test_gemm_small_split_##SUF(const char *isa)                                    \
    {                                                                                            \
        static const int shapes[][3] = {{1, 512, 784}, {1, 256, 512}, {3, 300, 600},             \
                                        {2, 130, 257}, {5, 40, 2000}, {1, 4000, 1100},           \
                                        {1, 100, 300}};                                          \
        unsigned long long rng = 7;                                                              \
        for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {                        \
            const int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];                      \
            REAL *a = malloc(sizeof(REAL) * (size_t)(m * k));                                    \
            REAL *b = malloc(sizeof(REAL) * (size_t)(k * n));                                    \
            REAL *c1 = malloc(sizeof(REAL) * (size_t)(m * n));                                   \
            REAL *c = malloc(sizeof(REAL) * (size_t)(m * n));                                    \
            for (int i = 0; i < m * k; i++)                                                      \
                a[i] = (REAL)uniform(&rng);                                                      \
            for (int i = 0; i < k * n; i++)                                                      \
                b[i] = (REAL)uniform(&rng);                                                      \
            for (int beta = 0; beta < 2; beta++) {                                               \
                for (int threads = 1; threads <= 3; threads++) {                                 \
                    REAL *out = threads == 1 ? c1 : c;                                           \
                    for (int i = 0; i < m * n; i++)                                              \
                        out[i] = (REAL)(0.25 + 0.001 * i);                                       \
                    const int cap = fm_pool_set_cap(threads);                                    \
                    const int err = fm_gemm_##SUF(0, 0, m, n, k, (REAL)0.7, a, k, b, n,          \
                                                  beta ? (REAL)0.3 : (REAL)0, out, n, NULL);     \
                    fm_pool_set_cap(cap);                                                        \
                    CHECK(err == FM_OK, "%s small split " #SUF " %dx%dx%d: error %d", isa, m,   \
                          n, k, err);                                                            \
                    if (threads > 1)                                                             \
                        CHECK(memcmp(c, c1, sizeof(REAL) * (size_t)(m * n)) == 0,                \
                              "%s small split " #SUF " %dx%dx%d beta=%d: %d threads differ from " \
                              "one",                                                             \
                              isa, m, n, k, beta, threads);                                      \
                }                                                                                \
            }                                                                                    \
            free(a);                                                                             \
            free(b);                                                                             \
            free(c1);                                                                            \
            free(c);                                                                             \
        }                                                                                        \
    }
SMALL_SPLIT_TEST(float, f32)
SMALL_SPLIT_TEST(double, f64)

/* The pool runs every task of a job exactly once, before fm_pool_run returns, however the jobs
 * follow each other: the same context and task function for jobs of varying sizes (a claim
 * made against an exhausted job's ticket once ran a task of the next job twice). */
/* predict of many rows (the blocked path: rows in blocks through every layer, shared among
 * threads) gives each row the bits that predicting it among fewer rows gives (the per-layer path,
 * 100 rows at a time), a last chunk of fewer rows than a register tile included (5 rows past
 * 3072: the small path in both); a NaN in any block is refused. 3072 rows make 12 or more
 * blocks, so that with two threads the last ones are half blocks. Layers of more than one KC
 * block of k, widths that are not multiples of the tile, one-unit and softmax outputs, and
 * weights too large to be read in place (every sliver packed, each product asking for the next
 * panel while it runs). */
#define PREDICT_BLOCKS_TEST(REAL, SUF)                                                           \
    static void test_predict_blocks_##SUF(const char *isa)                                      \
    {                                                                                            \
        static const int64_t one_unit[4] = {300, 70, 33, 1}, softmax[3] = {300, 40, 10};       \
        static const int64_t packed[4] = {300, 150, 70, 10};                                   \
        enum { N = 3077, TAIL_AT = 3072, PIECE = 100 };                                          \
        for (int s = 0; s < 3; s++) {                                                            \
            const int L = s == 1 ? 2 : 3;                                                        \
            fm_net net = s == 0   ? make_net(L, one_unit, FM_ACT_RELU, FM_ACT_LOGISTIC,          \
                                             FM_LOSS_BINARY_LOG, 0)                              \
                         : s == 1 ? make_net(L, softmax, FM_ACT_TANH, FM_ACT_SOFTMAX,            \
                                             FM_LOSS_LOG, 0)                                     \
                                  : make_net(L, packed, FM_ACT_RELU, FM_ACT_SOFTMAX,             \
                                             FM_LOSS_LOG, 0);                                    \
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
                end = start + PIECE < TAIL_AT ? start + PIECE : start < TAIL_AT ? TAIL_AT : N;   \
                err = fm_predict_##SUF(&net, params, x + start * n_in, end - start,              \
                                       pieces + start * n_out);                                  \
            }                                                                                    \
            CHECK(err == FM_OK && memcmp(all, pieces, sizeof(REAL) * (size_t)(N * n_out)) == 0,  \
                  "%s " #SUF " predict net %d: blocks of rows change the bits (err %d)", isa, s, \
                  err);                                                                          \
            x[2900 * n_in + 5] = (REAL)NAN;                                                      \
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

/* The adaptive thread choice fed synthetic timings (ns per unit) through its test hook: one
 * thread (option 0) against all of them (option 1) on an idle machine, then on a busy one where
 * every threaded timing wakes sleeping workers and some wait out a descheduled worker, then idle
 * again. Deterministic: the timings come from a fixed generator, not from a clock. */
static double adapt_timing(unsigned long long *state, double typical, double stall_rate,
                           double stall)
{
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    const double u = (double)(*state >> 11) / 9007199254740992.0;
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    const double v = (double)(*state >> 11) / 9007199254740992.0;
    return typical * (0.95 + 0.1 * u) + (v < stall_rate ? stall : 0);
}

typedef struct adapt_phase {
    double typical[2], stall_rate[2], stall;
    int threaded_woke; /* every threaded timing woke workers (else: the first of every 100) */
} adapt_phase;

/* Runs n choices of phase p; returns the mean timing of the last `counted` over the mean of the
 * option that is faster on average in p (1: as good as always choosing it). */
static double adapt_run(uint64_t key, const adapt_phase *p, int n, int counted,
                        unsigned long long *state)
{
    double sum = 0;
    for (int i = 0; i < n; i++) {
        const fm_adapt_choice c = fm_adapt_choose_gain(key, 0.8);
        const int o = c.option;
        const int woke = o == 1 && (p->threaded_woke || i % 100 == 0);
        double x = adapt_timing(state, p->typical[o], p->stall_rate[o], p->stall);
        if (woke && !p->threaded_woke)
            x += 0.5 * p->typical[1]; /* waking a worker after a pause */
        fm_adapt_test_record(c, x, woke);
        if (i >= n - counted)
            sum += x;
    }
    const double mean0 = p->typical[0] + p->stall_rate[0] * p->stall;
    const double mean1 = p->typical[1] + p->stall_rate[1] * p->stall;
    return sum / counted / (mean0 < mean1 ? mean0 : mean1);
}

/* The choices cost at most 1/0.9 of the better option's mean (the thread count that pays, at
 * 0.9 of its speed or better, exploring the other included). */
static void test_adapt(void)
{
#ifdef _OPENMP
    omp_set_num_threads(2);
#endif
    if (fm_pool_threads() < 2)
        return; /* a serial build: every choice is one thread */
    fm_adapt_reset();
    const uint64_t key = 12345;
    unsigned long long state = 99;
    const adapt_phase idle = {{100, 65}, {0, 0}, 0, 0};
    /* threaded timings typically faster, but 5% of them wait 3,000 (means 100, 216) */
    const adapt_phase busy_tails = {{100, 70}, {0, 0.05}, 3000, 1};
    /* both options stall now and then (the calling thread descheduled too): means 220, 300 */
    const adapt_phase busy_both = {{120, 150}, {0.02, 0.03}, 5000, 1};
    const struct {
        const char *name;
        const adapt_phase *phase;
        int n, counted;
    } runs[4] = {{"idle", &idle, 5000, 4000},
                 {"busy, threaded stalls", &busy_tails, 10000, 8000},
                 {"idle again", &idle, 3000, 1000},
                 {"busy, stalls in both", &busy_both, 10000, 8000}};
    for (int r = 0; r < 4; r++) {
        const double cost = adapt_run(key, runs[r].phase, runs[r].n, runs[r].counted, &state);
        CHECK(cost <= 1 / 0.9, "adaptive threads, %s: %.3f times the better option's mean",
              runs[r].name, cost);
    }
    fm_adapt_reset();
}

/* bfloat16 reference (csrc/gemm/bf16.h, TDPBF16PS's arithmetic), written independently of the
 * kernels: the rounding to bfloat16 and each sum by integer arithmetic. */
static float bf16_ref_round(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7f800000u) == 0)
        u &= 0x80000000u;
    else if ((u & 0x7fffffffu) > 0x7f800000u)
        u = (u | 0x00400000u) & 0xffff0000u;
    else
        u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    memcpy(&x, &u, 4);
    return x;
}

static int bf16_ref_bits(unsigned __int128 v)
{
    int n = 0;
    while (v != 0) {
        v >>= 1;
        n++;
    }
    return n;
}

/* acc + a * b for finite float32 values (normal or zero), exactly, then rounded once to 24 bits
 * with an unbounded exponent (to nearest, ties to even), a result below 2^-126 flushed to a
 * zero of its sign, above the float32 range infinite: the step of a chain (b = 1: a plain sum). */
static float bf16_ref_fused(float acc, float a, float b)
{
    if (!isfinite(acc) || !isfinite(a) || !isfinite(b))
        return (float)((double)acc + (double)a * (double)b);
    int ea, eb, ec;
    /* value = m * 2^e with integer m (24 bits each, 48 for the product) */
    const int64_t ma = (int64_t)ldexpf(frexpf(a, &ea), 24);
    const int64_t mb = (int64_t)ldexpf(frexpf(b, &eb), 24);
    const int64_t mc = (int64_t)ldexpf(frexpf(acc, &ec), 24);
    __int128 mp = (__int128)ma * mb, mq = mc;
    int ep = ea + eb - 48, eq = ec - 24;
    if (mp == 0 || mq == 0) {
        if (mp == 0 && mq == 0) /* zeros: -0 only from -0 + -0 */
            return signbit(acc) && signbit(a) != signbit(b) ? -0.0f : 0.0f;
        if (mp == 0) { /* the sum is acc's value: rounded as any other */
            mp = mq;
            ep = eq;
        }
        mq = 0;
        eq = ep;
    }
    /* the term of lower magnitude, more than 2^60 below, as a sticky 1 (it moves the exact sum
     * within an interval that holds no rounding boundary) */
    if (mq != 0) {
        const int tp = ep + bf16_ref_bits(mp < 0 ? -mp : mp);
        const int tq = eq + bf16_ref_bits(mq < 0 ? -mq : mq);
        if (tp - tq > 60) {
            mq = mq < 0 ? -1 : 1;
            eq = tp - 61;
        } else if (tq - tp > 60) {
            mp = mp < 0 ? -1 : 1;
            ep = tq - 61;
        }
    }
    const int e0 = ep < eq ? ep : eq;
    /* magnitudes at the common exponent e0 (< 2^110), then the signed sum */
    const unsigned __int128 up = (unsigned __int128)(mp < 0 ? -mp : mp) << (ep - e0);
    const unsigned __int128 uq = (unsigned __int128)(mq < 0 ? -mq : mq) << (eq - e0);
    const int same = (mp < 0) == (mq < 0);
    const int negative = same ? mp < 0 : (up > uq ? mp < 0 : mq < 0);
    unsigned __int128 mag = same ? up + uq : (up > uq ? up - uq : uq - up);
    if (mag == 0)
        return 0.0f;
    const int sum = negative ? -1 : 1;
    int e = e0;
    const int n = bf16_ref_bits(mag);
    if (n > 24) {
        const int shift = n - 24;
        const unsigned __int128 rem = mag & (((unsigned __int128)1 << shift) - 1);
        const unsigned __int128 half = (unsigned __int128)1 << (shift - 1);
        mag >>= shift;
        e += shift;
        if (rem > half || (rem == half && (mag & 1)))
            mag++;
    }
    /* the value mag * 2^e, mag < 2^25 */
    const double value = ldexp((double)mag, e) * (sum < 0 ? -1.0 : 1.0);
    if (fabs(value) < 0x1p-126)
        return sum < 0 ? -0.0f : 0.0f;
    if (fabs(value) >= 0x1p128)
        return sum < 0 ? -INFINITY : INFINITY;
    return (float)value; /* exact */
}

/* A value for the bfloat16 tests: mostly in [-1, 1), some tiny (near and below float32's
 * normal range, where the rounding and the flushes act), some zero. */
static float bf16_test_value(unsigned long long *state)
{
    const double u = uniform(state);
    const double kind = uniform(state);
    if (kind < -0.8)
        return (float)(u * 3e-38);
    if (kind < -0.7)
        return (float)(u * 1e-20);
    if (kind < -0.65)
        return 0.0f;
    return (float)u;
}

/* Every bfloat16 kernel this CPU runs against the reference, bit for bit, for both layouts of
 * A and B, odd and even k, edge tiles, alpha and beta. */
static void test_gemm_bf16(void)
{
    static const char *kernels[] = {"amx", "avx512", "avx2", "generic"};
    static const int64_t shapes[][3] = {{1, 1, 1}, {13, 33, 7}, {30, 70, 64}, {25, 40, 129},
                                        {12, 32, 0}, {40, 33, 95}};
    unsigned long long state = 11;
    int n_kernels = 0;
    for (int ki = 0; ki < 4; ki++) {
        if (!fm_bf16_supported(kernels[ki]))
            continue;
        n_kernels++;
        for (int si = 0; si < 6; si++) {
            for (int t = 0; t < 4; t++) {
                const int ta = t & 1, tb = t >> 1;
                const int64_t m = shapes[si][0], n = shapes[si][1], k = shapes[si][2];
                const float alpha = t == 3 ? 0.5f : 1.0f, beta = t == 3 ? 0.25f : 0.0f;
                float *a = malloc(sizeof(float) * (size_t)(m * k + 1));
                float *b = malloc(sizeof(float) * (size_t)(k * n + 1));
                float *c = malloc(sizeof(float) * (size_t)(m * n));
                float *ref = malloc(sizeof(float) * (size_t)(m * n));
                for (int64_t i = 0; i < m * k; i++)
                    a[i] = bf16_test_value(&state);
                for (int64_t i = 0; i < k * n; i++)
                    b[i] = bf16_test_value(&state);
                for (int64_t i = 0; i < m * n; i++)
                    c[i] = ref[i] = (float)uniform(&state);
                for (int64_t i = 0; i < m; i++) {
                    for (int64_t j = 0; j < n; j++) {
                        float acc = 0.0f;
                        for (int64_t p0 = 0; p0 < k; p0 += 32) { /* blocks of 32 k */
                            float chain[2] = {0.0f, 0.0f}; /* the even and the odd k */
                            for (int64_t p = p0; p < p0 + 32 && p < k; p++) {
                                const float av = bf16_ref_round(ta ? a[p * m + i] : a[i * k + p]);
                                const float bv = bf16_ref_round(tb ? b[j * k + p] : b[p * n + j]);
                                chain[p % 2] = bf16_ref_fused(chain[p % 2], av, bv);
                            }
                            acc = bf16_ref_fused(acc, bf16_ref_fused(chain[0], chain[1], 1.0f),
                                                 1.0f);
                        }
                        if (beta == 0) {
                            ref[i * n + j] = alpha * acc;
                        } else {
                            const float scaled = beta * ref[i * n + j], added = alpha * acc;
                            ref[i * n + j] = scaled + added;
                        }
                    }
                }
                const int err = fm_gemm_bf16(kernels[ki], ta, tb, m, n, k, alpha, a, ta ? m : k,
                                             b, tb ? k : n, beta, c, n);
                CHECK(err == FM_OK, "bf16 %s returned %d", kernels[ki], err);
                int64_t bad = 0;
                for (int64_t i = 0; i < m * n; i++)
                    bad += memcmp(&c[i], &ref[i], sizeof(float)) != 0;
                CHECK(bad == 0, "bf16 %s %dx%dx%d trans %d%d: %d of %d differ from the reference",
                      kernels[ki], (int)m, (int)n, (int)k, ta, tb, (int)bad, (int)(m * n));
                free(a);
                free(b);
                free(c);
                free(ref);
            }
        }
    }
    CHECK(n_kernels >= 1, "no bfloat16 kernel runs here");
    CHECK(fm_bf16_supported("generic"), "the portable bfloat16 kernel is missing");
    CHECK(!fm_bf16_supported("no-such-kernel"), "unknown bfloat16 kernel accepted");
    float one = 1.0f;
    CHECK(fm_gemm_bf16("no-such-kernel", 0, 0, 1, 1, 1, 1, &one, 1, &one, 1, 0, &one, 1) ==
              FM_ERR_ARG, "unknown bfloat16 kernel ran");
    CHECK(fm_gemm_bf16(NULL, 0, 0, 1, 1, 2, 1, &one, 1, &one, 1, 0, &one, 1) == FM_ERR_ARG,
          "bad lda accepted");
}

/* A float32 network with bfloat16 products trains (the loss falls) and predicts; its workspace
 * and the float64 entry points refuse mismatched precisions; it frees what it allocated. */
static void test_training_bf16(void)
{
    enum { N = 200, D = 40, H = 48, C = 3, B = 32 };
    const int64_t units[] = {D, H, C};
    fm_net net = make_net(2, units, FM_ACT_RELU, FM_ACT_SOFTMAX, FM_LOSS_LOG, 1e-4);
    net.matmul_precision = FM_MATMUL_BFLOAT16;
    CHECK(fm_net_check(&net) == FM_OK, "bfloat16 net rejected");
    fm_net bad = net;
    bad.matmul_precision = 7;
    CHECK(fm_net_check(&bad) == FM_ERR_ARG, "unknown matmul precision accepted");
    const int64_t n_params = fm_n_params(&net);
    unsigned long long rng = 5;
    float *x = malloc(sizeof(float) * N * D), *y = calloc(N * C, sizeof(float));
    float *params = malloc(sizeof(float) * n_params), *state = calloc(2 * n_params, sizeof(float));
    float *out = malloc(sizeof(float) * N * C);
    for (int i = 0; i < N; i++) {
        double score = 0;
        for (int j = 0; j < D; j++)
            score += (x[i * D + j] = (float)uniform(&rng));
        y[i * C + (score > 1 ? 2 : score > -1 ? 1 : 0)] = 1;
    }
    for (int64_t i = 0; i < n_params; i++)
        params[i] = (float)(0.2 * uniform(&rng));
    CHECK(fm_workspace_new(&net, B, sizeof(double)) == NULL, "float64 bfloat16 workspace made");
    fm_net f32 = net;
    f32.matmul_precision = FM_MATMUL_FLOAT32;
    fm_workspace *ws = fm_workspace_new(&net, B, sizeof(float));
    fm_workspace *ws32 = fm_workspace_new(&f32, B, sizeof(float));
    CHECK(ws != NULL && ws32 != NULL, "workspace allocation failed");
    fm_optimizer opt = make_opt(FM_SOLVER_ADAM, 0.01, 0.9, 1);
    double loss_sum = 0, score = 0;
    CHECK(train_f32(&net, &opt, params, state, x, y, NULL, N, NULL, N, B, 1, 0, 0, ws32,
                    &loss_sum, &score) == FM_ERR_ARG,
          "a float32 workspace trained a bfloat16 net");
    double first = 0, last = 0;
    for (int epoch = 0; epoch < 20 && ws; epoch++) {
        loss_sum = score = 0;
        const int err = train_f32(&net, &opt, params, state, x, y, NULL, N, NULL, N, B, 1,
                                  (uint64_t)epoch, 0, ws, &loss_sum, &score);
        CHECK(err == FM_OK && isfinite(loss_sum), "bf16 epoch %d: err %d", epoch, err);
        if (epoch == 0)
            first = loss_sum / N;
        last = loss_sum / N;
    }
    CHECK(last < 0.7 * first, "bfloat16 loss did not fall: %g -> %g", first, last);
    CHECK(fm_predict_f32(&net, params, x, N, out) == FM_OK, "bfloat16 predict failed");
    double *xd = malloc(sizeof(double) * N * D), *pd = malloc(sizeof(double) * n_params);
    double *outd = malloc(sizeof(double) * N * C);
    for (int i = 0; i < N * D; i++)
        xd[i] = x[i];
    for (int64_t i = 0; i < n_params; i++)
        pd[i] = params[i];
    CHECK(fm_predict_f64(&net, pd, xd, N, outd) == FM_ERR_ARG, "float64 bfloat16 predict ran");
    fm_workspace_free(ws);
    fm_workspace_free(ws32);
    free(x);
    free(y);
    free(params);
    free(state);
    free(out);
    free(xd);
    free(pd);
    free(outd);
}

/* fm_powi2 (both bias corrections of a step at once) gives fm_powi's bits for each power. */
static void test_powi2(void)
{
    const double bases[] = {0.9, 0.999, 0.99, 0.5, 1.0, 0.0, 1.5, -0.7, 0.9999999};
    const int n_bases = (int)(sizeof(bases) / sizeof(bases[0]));
    for (int i = 0; i < n_bases; i++)
        for (int k = 0; k < n_bases; k++)
            for (int64_t n = 0; n < 5000; n = n < 40 ? n + 1 : n * 3 + 7) {
                double pa = -1, pb = -1;
                fm_powi2(bases[i], bases[k], n, &pa, &pb);
                const double ra = fm_powi(bases[i], n), rb = fm_powi(bases[k], n);
                CHECK(memcmp(&pa, &ra, sizeof(double)) == 0 &&
                          memcmp(&pb, &rb, sizeof(double)) == 0,
                      "fm_powi2(%g, %g, %lld) = %a, %a; fm_powi %a, %a", bases[i], bases[k],
                      (long long)n, pa, pb, ra, rb);
            }
}

/* The penalty sums a step takes for the next batch (several slots of a layer, a tail of fewer
 * than 8 weights, L1 and L2; whole batches and row blocks) give the batch losses of sums taken
 * afresh: an epoch in one call against the same epoch a batch per call (each call's first batch
 * takes them afresh), for both precisions, with and without L1. */
#define PENALTY_SPLIT_TEST(REAL, SUF)                                                            \
    static void test_penalty_split_##SUF(double alpha_l1, int B)                                \
    {                                                                                            \
        enum { N = 192, D = 101, H = 90, C = 3 };                                                \
        const int64_t units[] = {D, H, 7, C};                                                   \
        fm_net net = make_net(3, units, FM_ACT_RELU, FM_ACT_SOFTMAX, FM_LOSS_LOG, 1e-3);        \
        net.alpha_l1 = alpha_l1;                                                                 \
        const int64_t n_params = fm_n_params(&net);                                             \
        unsigned long long rng = 11;                                                             \
        REAL *x = malloc(sizeof(REAL) * N * D), *y = calloc(N * C, sizeof(REAL));               \
        REAL *p1 = malloc(sizeof(REAL) * n_params), *p2 = malloc(sizeof(REAL) * n_params);      \
        REAL *s1 = calloc(2 * n_params, sizeof(REAL)), *s2 = calloc(2 * n_params, sizeof(REAL)); \
        int64_t order[N];                                                                        \
        for (int i = 0; i < N * D; i++)                                                          \
            x[i] = (REAL)uniform(&rng);                                                          \
        for (int i = 0; i < N; i++)                                                              \
            y[i * C + i % C] = 1;                                                                \
        for (int64_t i = 0; i < n_params; i++)                                                   \
            p1[i] = p2[i] = (REAL)(0.2 * uniform(&rng));                                         \
        fm_permutation(5, 1, N, order);                                                          \
        fm_workspace *ws = fm_workspace_new(&net, B, sizeof(REAL));                              \
        fm_optimizer o1 = make_opt(FM_SOLVER_ADAM, 0.01, 0.9, 1), o2 = o1;                      \
        double l1 = 0, c1 = 0, l2 = 0, c2 = 0;                                                   \
        int err = ws == NULL;                                                                    \
        for (int epoch = 0; epoch < 2 && !err; epoch++) {                                        \
            err |= train_##SUF(&net, &o1, p1, s1, x, y, NULL, N, order, N, B, 5, 1, 0, ws, &l1,  \
                               &c1);                                                             \
            for (int start = 0; start < N && !err; start += B)                                   \
                err |= train_##SUF(&net, &o2, p2, s2, x, y, NULL, N, order + start, B, B, 5, 1,  \
                                   start, ws, &l2, &c2);                                         \
        }                                                                                        \
        CHECK(!err && memcmp(p1, p2, sizeof(REAL) * n_params) == 0 && l1 == l2 && c1 == c2,     \
              #SUF " penalty sums from the step differ from fresh ones (l1 %g, batch %d): "      \
                   "%.17g vs %.17g",                                                             \
              alpha_l1, B, l1, l2);                                                              \
        fm_workspace_free(ws);                                                                   \
        free(x);                                                                                 \
        free(y);                                                                                 \
        free(p1);                                                                                \
        free(p2);                                                                                \
        free(s1);                                                                                \
        free(s2);                                                                                \
    }
PENALTY_SPLIT_TEST(float, f32)
PENALTY_SPLIT_TEST(double, f64)

int main(void)
{
    test_pool();
    test_adapt();
    test_powi2();
    const char *names[8];
    int n_names = 0;
    for (int i = 0; fm_isa_compiled(i) != NULL && n_names < 8; i++)
        if (fm_isa_supported(fm_isa_compiled(i)))
            names[n_names++] = fm_isa_compiled(i);
    for (int i = 0; i < n_names; i++) {
        CHECK(fm_set_isa(names[i]) == FM_OK, "cannot select %s", names[i]);
        test_gemm(names[i]);
        test_gemm_small_split_f32(names[i]);
        test_gemm_small_split_f64(names[i]);
        test_training();
        test_options();
        test_predict_blocks_f32(names[i]);
        test_predict_blocks_f64(names[i]);
        for (int b = 16; b <= 64; b *= 4) { /* whole batches; row blocks */
            test_penalty_split_f32(0.0, b);
            test_penalty_split_f32(1e-3, b);
            test_penalty_split_f64(0.0, b);
            test_penalty_split_f64(1e-3, b);
        }
    }
    CHECK(fm_set_isa("no-such-isa") == FM_ERR_ARG, "unknown ISA accepted");
    test_digests(names, n_names);
    test_gemm_bf16();
    for (int i = 0; i < n_names; i++) {
        fm_set_isa(names[i]);
        test_training_bf16();
    }
    test_perceptron();
    printf("%d passed, %d failed\n", n_passed, n_failed);
    return n_failed == 0 ? 0 : 1;
}
