/* fastmlp C core: tests of the C interface on its own, built with AddressSanitizer,
 * UndefinedBehaviorSanitizer and LeakSanitizer by .ci/run (see csrc/tests/run_sanitized.sh).
 * GEMM against a naive double reference for every instruction set the CPU has, a short
 * training run, and the error paths (bad arguments, NaN input, divergence), which must free what
 * they allocated. Exits non-zero when any check fails. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fastmlp.h"

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

/* Deterministic pseudo-random values in [-1, 1). */
static double uniform(unsigned long long *state)
{
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*state >> 11) / (double)(1ULL << 53) * 2.0 - 1.0;
}

static void test_gemm(const char *isa)
{
    const int shapes[][3] = {{1, 1, 1}, {7, 63, 65}, {65, 17, 257}, {130, 513, 300}, {6, 16, 2}};
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
    for (int i = 0; i < N; i++) {
        double score = 0;
        for (int j = 0; j < D; j++)
            score += (x[i * D + j] = uniform(&rng));
        y[i * C + (score > 0.5 ? 2 : score > -0.5 ? 1 : 0)] = 1;
    }
    for (int64_t i = 0; i < n_params; i++)
        params[i] = 0.3 * uniform(&rng);

    fm_workspace *ws = fm_workspace_new(&net, B, N, sizeof(double));
    CHECK(ws != NULL, "workspace allocation failed");
    fm_optimizer opt = make_opt(FM_SOLVER_ADAM, 0.01, 0.9, 1);
    double first = 0, last = 0;
    for (int epoch = 0; epoch < 30 && ws; epoch++) {
        double loss_sum = 0, score = 0;
        int err = fm_train_epoch_f64(&net, &opt, params, state, x, y, NULL, N, B, 1, 1234,
                                     (uint64_t)epoch, ws, &loss_sum, &score);
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

    /* Error paths. */
    x[5] = NAN;
    CHECK(fm_predict_f64(&net, params, x, N, out) == FM_ERR_INPUT, "NaN input accepted");
    x[5] = 0;
    double loss_sum = 0, score = 0;
    CHECK(fm_train_epoch_f64(&net, &opt, params, state, x, y, NULL, N, B + 1, 0, 0, 0, ws,
                             &loss_sum, &score) == FM_ERR_ARG,
          "batch larger than the workspace accepted");
    fm_workspace *ws32 = fm_workspace_new(&net, B, N, sizeof(float));
    CHECK(fm_train_epoch_f64(&net, &opt, params, state, x, y, NULL, N, B, 0, 0, 0, ws32,
                             &loss_sum, &score) == FM_ERR_ARG,
          "float workspace accepted for double data");
    fm_workspace_free(ws32);
    const int64_t bad_units[] = {D, 0, C};
    const fm_net bad = make_net(2, bad_units, FM_ACT_RELU, FM_ACT_SOFTMAX, FM_LOSS_LOG, 0);
    CHECK(fm_net_check(&bad) == FM_ERR_ARG && fm_workspace_new(&bad, B, N, 8) == NULL,
          "zero-width layer accepted");
    CHECK(fm_workspace_new(&net, 0, N, 8) == NULL, "zero-row workspace accepted");

    /* Divergence: a huge SGD step blows the loss up; the call reports it, never crashes. */
    const fm_net reg = make_net(3, units, FM_ACT_IDENTITY, FM_ACT_IDENTITY, FM_LOSS_SQUARED, 0);
    fm_optimizer sgd = make_opt(FM_SOLVER_SGD, 1e30, 0.0, 0);
    for (int i = 0; i < N * C; i++)
        y[i] *= 1e30;
    int err = FM_OK;
    for (int epoch = 0; epoch < 5 && err == FM_OK; epoch++)
        err = fm_train_epoch_f64(&reg, &sgd, params, state, x, y, NULL, N, B, 0, 0, 0, ws,
                                 &loss_sum, &score);
    CHECK(err == FM_ERR_NONFINITE, "divergence not reported (err %d)", err);

    fm_workspace_free(ws);
    free(x);
    free(y);
    free(params);
    free(state);
    free(out);
}

int main(void)
{
    const char *names[8];
    int n_names = 0;
    for (int i = 0; fm_isa_compiled(i) != NULL && n_names < 8; i++)
        if (fm_isa_supported(fm_isa_compiled(i)))
            names[n_names++] = fm_isa_compiled(i);
    for (int i = 0; i < n_names; i++) {
        CHECK(fm_set_isa(names[i]) == FM_OK, "cannot select %s", names[i]);
        test_gemm(names[i]);
        test_training();
    }
    CHECK(fm_set_isa("no-such-isa") == FM_ERR_ARG, "unknown ISA accepted");
    printf("%d passed, %d failed\n", n_passed, n_failed);
    return n_failed == 0 ? 0 : 1;
}
