/* fastmlp C core: public interface.
 *
 * A network is described by an fm_net (layer widths, activations, loss, regularization). Its
 * parameters live in one flat array laid out as scikit-learn's _pack does: every weight matrix
 * first (layer 0 .. L-1, each fan_in x width, row-major, so Y = X . W), then every bias vector;
 * after them, only when the network has them: the PReLU slopes of each hidden layer, the batch-
 * norm scales of each hidden layer, then their shifts (all trainable), and last the batch-norm
 * running means, then running variances (not trainable: updated by training, used by predict).
 * A dense layer's width is its units, times maxout_pieces for a maxout hidden layer.
 * Gradients use the same layout (zero for the running statistics); optimizer state is one array
 * of 2 * n_params values (SGD velocity; Adam/AdamW m, v; AdaGrad sum; RMSprop square average;
 * Adadelta square average and update average).
 *
 * Every entry point exists for float and double (suffix _f32 / _f64) from one source
 * (net_impl.h, gemm_impl.h). Functions return FM_OK or an error code; they never print or exit.
 * Results do not depend on the number of threads: no reduction is split across threads.
 */
#ifndef FASTMLP_H
#define FASTMLP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum fm_status {
    FM_OK = 0,
    FM_ERR_ARG = 1,       /* inconsistent sizes or options */
    FM_ERR_NOMEM = 2,     /* an allocation failed */
    FM_ERR_NONFINITE = 3, /* the loss became NaN or infinite: training diverged */
    FM_ERR_INPUT = 4      /* the input holds NaN or infinite values */
};

enum fm_activation {
    FM_ACT_IDENTITY = 0,
    FM_ACT_LOGISTIC = 1,
    FM_ACT_TANH = 2,
    FM_ACT_RELU = 3,
    FM_ACT_SOFTMAX = 4, /* output only */
    FM_ACT_EXP = 5,     /* output only (Poisson regression's log link) */
    FM_ACT_LEAKY_RELU = 6, /* max(x, 0.01 x), PyTorch's leaky_relu */
    FM_ACT_PRELU = 7,      /* x > 0 ? x : a_j x, one learned slope a_j per unit */
    FM_ACT_ELU = 8,        /* x > 0 ? x : exp(x) - 1 */
    FM_ACT_MAXOUT = 9,     /* max over maxout_pieces linear pieces per unit */
    FM_ACT_SOFTPLUS = 10,  /* log(1 + exp(x)) */
    FM_ACT_GELU = 11       /* x * Phi(x), the exact (erf) form */
};

enum fm_loss {
    FM_LOSS_SQUARED = 0,    /* 0.5 * mean over outputs of the (weighted) mean squared error */
    FM_LOSS_LOG = 1,        /* softmax cross-entropy */
    FM_LOSS_BINARY_LOG = 2, /* logistic outputs: binary and multilabel */
    FM_LOSS_POISSON = 3,    /* half Poisson deviance with exp output */
    FM_LOSS_HINGE = 4,      /* PyTorch's multi_margin_loss (margin 1): the sum over wrong
                             * classes j of max(0, 1 - s_y + s_j), divided by n_classes */
    FM_LOSS_PERCEPTRON = 5  /* max_j s_j - s_y: zero for rows classified right */
};

enum fm_solver {
    FM_SOLVER_SGD = 0,     /* scikit-learn's SGD, momentum and Nesterov momentum */
    FM_SOLVER_ADAM = 1,    /* scikit-learn's Adam */
    FM_SOLVER_ADAMW = 2,   /* PyTorch's AdamW: decoupled weight decay on the weights */
    FM_SOLVER_ADAGRAD = 3, /* PyTorch's Adagrad */
    FM_SOLVER_RMSPROP = 4, /* PyTorch's RMSprop (no momentum, not centered) */
    FM_SOLVER_ADADELTA = 5 /* PyTorch's Adadelta */
};

/* The arithmetic of the dense layers' products (the forward pass, the weight and input
 * gradients) in float32 networks: float32 throughout, or bfloat16 operands with float32 sums
 * (fm_gemm_bf16; the weights, the optimizer, the loss and the elementwise maths stay float32).
 * float64 networks accept FM_MATMUL_FLOAT32 only. */
enum fm_matmul_precision { FM_MATMUL_FLOAT32 = 0, FM_MATMUL_BFLOAT16 = 1 };

/* Rate of the leaky ReLU's negative side. */
#define FM_LEAKY_SLOPE 0.01

typedef struct fm_net {
    int n_layers;          /* weight layers: len(hidden_layer_sizes) + 1 */
    const int64_t *units;  /* n_layers + 1 widths: n_features, hidden sizes..., n_outputs */
    int hidden_activation; /* enum fm_activation, for every hidden layer */
    int output_activation; /* enum fm_activation */
    int loss;              /* enum fm_loss */
    double alpha;          /* L2 strength, scaled as scikit-learn: 0.5 * alpha * |W|^2 / sum(w) */
    double alpha_l1;       /* L1 strength on the weights: alpha_l1 * sum |W| / sum(w) */
    int maxout_pieces;     /* linear pieces per unit of a maxout hidden layer (>= 1) */
    int batch_norm;        /* batch normalization between each hidden dense layer and its
                            * activation: scale * (z - mean) / sqrt(var + bn_eps) + shift */
    double bn_momentum;    /* running statistics: r = (1 - m) r + m * batch value (PyTorch's) */
    double bn_eps;
    const double *dropout; /* n_layers - 1 rates in [0, 1): inverted dropout on each hidden
                            * layer's output while training; NULL for none */
    uint64_t dropout_seed; /* fm_loss_grad's masks (training keys them by seed and epoch) */
    int matmul_precision;  /* enum fm_matmul_precision; FM_ERR_ARG from the float64 entry
                            * points unless FM_MATMUL_FLOAT32 */
} fm_net;

typedef struct fm_optimizer {
    int solver;           /* enum fm_solver */
    double learning_rate; /* SGD: the current rate; Adam: learning_rate_init */
    double momentum;      /* SGD */
    int nesterov;         /* SGD: Nesterov's momentum when non-zero */
    double beta_1, beta_2, epsilon; /* Adam, AdamW; epsilon for every adaptive solver */
    double weight_decay;  /* AdamW */
    double rho;           /* RMSprop's (PyTorch's alpha) and Adadelta's decay */
    int64_t step;         /* updates done so far; advanced by fm_train_epoch */
} fm_optimizer;

/* Opaque per-fit scratch memory: one batch's activations and deltas, a gradient buffer and GEMM
 * packing space. Allocated once, reused by every epoch. */
typedef struct fm_workspace fm_workspace;

/* Checks an fm_net for consistency; FM_OK or FM_ERR_ARG. */
int fm_net_check(const fm_net *net);
/* Number of values in the flat parameter array, or -1 when net is invalid. */
int64_t fm_n_params(const fm_net *net);
/* Number of trainable values: all but the batch-norm running statistics at the end. */
int64_t fm_n_trainable(const fm_net *net);
/* Width of dense layer l's output: units[l + 1], times maxout_pieces for maxout hidden layers. */
int64_t fm_dense_width(const fm_net *net, int layer);
/* Offset of layer l's weights / biases in the flat parameter array. */
int64_t fm_weight_offset(const fm_net *net, int layer);
int64_t fm_bias_offset(const fm_net *net, int layer);
/* Offset of hidden layer l's (l < n_layers - 1) PReLU slopes (units[l + 1] values) and of its
 * batch-norm values (fm_dense_width values each): what = 0 scale, 1 shift, 2 running mean,
 * 3 running variance. */
int64_t fm_prelu_offset(const fm_net *net, int layer);
int64_t fm_bn_offset(const fm_net *net, int layer, int what);

/* Allocates a workspace for batches (or fm_loss_grad chunks) of up to max_rows rows;
 * elem_size is sizeof(float) or sizeof(double). NULL when out of memory or arguments are bad. */
fm_workspace *fm_workspace_new(const fm_net *net, int64_t max_rows, size_t elem_size);
void fm_workspace_free(fm_workspace *ws);

/* Threads the core will use for work large enough to share (the OpenMP limit in force). */
int fm_max_threads(void);

/* What a call of fm_train_epoch trains on and how (the rows and the batching): rows order[i]
 * (i < n_samples) of the caller's x, y and sw, which hold n_rows rows, or, when order is NULL,
 * rows 0 .. n_samples - 1 in place; batches of batch_size rows; dropout masks keyed by (seed,
 * epoch_key, position of the row in the epoch), position being that of the call's first row,
 * so that an epoch split into calls at batch boundaries trains exactly as one call. */
typedef struct fm_batches {
    int64_t n_rows;
    const int64_t *order; /* NULL: the first n_samples rows in order */
    int64_t n_samples;
    int64_t batch_size;
    uint64_t seed;
    uint64_t epoch_key; /* the estimators pass the samples seen before the epoch (t_) */
    int64_t position;
    int check_x; /* nonzero: FM_ERR_INPUT, before its update, for a batch whose rows of x hold
                  * NaN or infinity (x's finiteness checked on the way instead of before) */
} fm_batches;

/* Sums over the batches of an epoch, continued from call to call (start at zero): loss_sum adds
 * batch_loss * batch_rows, score the weighted count of rows predicted right (classification
 * losses) or the weighted sum of squared errors (regression), in batch order. */
typedef struct fm_sums {
    double loss_sum;
    double score;
} fm_sums;

/* The numeric entry points, each signature written once: X(name, SUF, (parameters),
 * (arguments)) for precision REAL and its suffix SUF. The public declarations below and, in
 * dispatch.c, the per-instruction-set declarations, the dispatch table and its wrappers are
 * generated from this list; each instruction set's definitions are fm_<name>_<isa>_<SUF>
 * (fm_train_epoch_avx2_f32, fm_predict_generic_f64, ...), instantiated from gemm/gemm_impl.h
 * and net_impl.h. Every function returns FM_OK or an error code.
 *
 * gemm: C = alpha * op(A) . op(B) + beta * C, row-major; op(X) = X or X^T (trans_x != 0); pack:
 *   scratch of fm_gemm_pack_size elements, or NULL to allocate it inside.
 * train_epoch: mini-batch training (fm_batches): per batch, gather, forward, loss, backward,
 *   optimizer step; sums continue (fm_sums). A batch whose loss (data term and penalty, at the
 *   weights before its update) is not finite returns FM_ERR_NONFINITE with params, opt_state,
 *   opt->step, the batch-norm running statistics and sums as after the batch before it; with
 *   batches->check_x, FM_ERR_INPUT in the same way for a batch whose rows of x are not finite.
 * loss_grad: full-batch loss and gradient (writes grad, n_params values), processed in chunks
 *   of the workspace's max_rows; the objective scikit-learn's _backprop computes. With dropout,
 *   masks keyed by net->dropout_seed; with batch norm, the statistics of the whole batch, which
 *   must then fit in one chunk (FM_ERR_ARG otherwise).
 * predict: out (n_samples x n_outputs) gets the output activations; FM_ERR_INPUT when x holds
 *   NaN or infinity. Allocates its own scratch, so concurrent calls on one parameter array are
 *   safe.
 * predict_layers: predict with dense layer l's weights (fan_in x width, row-major) at coefs[l]
 *   and biases at intercepts[l], wherever they are (arrays a user assigned), the other
 *   parameters (PReLU slopes, batch norm) from params, which may be NULL when the network has
 *   none; coefs and intercepts NULL: predict.
 * output_loss: a test hook, training's output error of rows rows of outputs p (logits for a
 *   softmax output layer, whose softmax it writes to p) and targets y (sw: sample weights or
 *   NULL): writes delta (rows x n_outputs) and each row's weighted loss and score (row_loss,
 *   row_score: rows values each), the same bits under every instruction set. */
#define FM_NUMERIC_ENTRY_POINTS(X, REAL, SUF)                                                    \
    X(gemm, SUF,                                                                                 \
      (int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, REAL alpha, const REAL *a,    \
       int64_t lda, const REAL *b, int64_t ldb, REAL beta, REAL *c, int64_t ldc, REAL *pack),   \
      (trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, pack))                   \
    X(train_epoch, SUF,                                                                          \
      (const fm_net *net, fm_optimizer *opt, REAL *params, REAL *opt_state, const REAL *x,       \
       const REAL *y, const REAL *sw, const fm_batches *batches, fm_workspace *ws,              \
       fm_sums *sums),                                                                           \
      (net, opt, params, opt_state, x, y, sw, batches, ws, sums))                               \
    X(loss_grad, SUF,                                                                            \
      (const fm_net *net, const REAL *params, const REAL *x, const REAL *y, const REAL *sw,      \
       int64_t n_samples, fm_workspace *ws, REAL *grad, double *loss),                          \
      (net, params, x, y, sw, n_samples, ws, grad, loss))                                       \
    X(predict, SUF,                                                                              \
      (const fm_net *net, const REAL *params, const REAL *x, int64_t n_samples, REAL *out),      \
      (net, params, x, n_samples, out))                                                         \
    X(predict_layers, SUF,                                                                       \
      (const fm_net *net, const REAL *params, const REAL *const *coefs,                         \
       const REAL *const *intercepts, const REAL *x, int64_t n_samples, REAL *out),             \
      (net, params, coefs, intercepts, x, n_samples, out))                                      \
    X(output_loss, SUF,                                                                          \
      (const fm_net *net, REAL *p, const REAL *y, const REAL *sw, int64_t rows, REAL *delta,     \
       double *row_loss, double *row_score),                                                     \
      (net, p, y, sw, rows, delta, row_loss, row_score))

#define FM_DECLARE_PUBLIC(name, SUF, params, args) int fm_##name##_##SUF params;
FM_NUMERIC_ENTRY_POINTS(FM_DECLARE_PUBLIC, float, f32)
FM_NUMERIC_ENTRY_POINTS(FM_DECLARE_PUBLIC, double, f64)
#undef FM_DECLARE_PUBLIC

/* The epoch's sample order: a Fisher-Yates permutation of 0 .. n - 1 from the counter-based
 * generator, a pure function of (seed, epoch). */
void fm_permutation(uint64_t seed, uint64_t epoch, int64_t n, int64_t *out);

/* Elements of GEMM packing scratch that fm_gemm_* needs (the same for both precisions). */
size_t fm_gemm_pack_size(void);

/* bfloat16 products (matmul_precision "bfloat16"; csrc/gemm/bf16.h has the arithmetic):
 * C = alpha * op(A) . op(B) + beta * C with the operands rounded to bfloat16 and float32 sums,
 * the same bits from every kernel. kernel: NULL for the one the networks use (fm_bf16_kernel),
 * or "amx" (TDPBF16PS), "avx512", "avx2", "generic" (emulations); FM_ERR_ARG when this build
 * or this CPU lacks it. fm_bf16_kernel names the networks' kernel: the active instruction set's
 * emulation, or AMX when the active set is AVX-512, the CPU has AMX-BF16, the operating system
 * grants the tile state and (fm_set_isa measures it) it runs faster than the emulation.
 * fm_bf16_hardware(mode): 0 never AMX, 1 when faster (the default), 2 always
 * where the CPU has it (a testing hook; returns the previous mode). fm_bf16_supported(kernel):
 * whether fm_gemm_bf16 can run that kernel. */
int fm_gemm_bf16(const char *kernel, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                 float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
                 float beta, float *c, int64_t ldc);
const char *fm_bf16_kernel(void);
int fm_bf16_hardware(int mode);
int fm_bf16_supported(const char *kernel);

/* Instruction set: fm_set_isa(NULL, "" or "auto") picks the best the CPU supports; a name
 * ("avx512", "avx2", "generic") forces that kernel; FM_ERR_ARG when it is unknown to this build
 * or unsupported by the CPU (the choice is then unchanged). Not to be called while another
 * thread runs the core. fm_isa_compiled(i) lists the kernels of this build (NULL past the end). */
int fm_set_isa(const char *name);
const char *fm_isa_name(void);
int fm_isa_supported(const char *name);
const char *fm_isa_compiled(int index);

/* Threading (csrc/pool.h): the core shares work among persistent threads of its own, which
 * claim tasks one at a time, so that a thread the operating system has descheduled holds back
 * no work it has not started; whether a kind of work runs on all the threads allowed or on one
 * is decided from measurements taken while it runs. Results never depend on either.
 * fm_threading_stats: jobs handed to the pool, tasks its workers ran, workers started, and
 * wake-ups that took a sleeping worker off the CPU of the thread waking it (Linux).
 * fm_threading_test_delay(us, every): a test hook making each worker sleep `us` microseconds
 * before every `every`-th task it claims (0: off). fm_threading_adaptive(net, train, rows,
 * elem_size, ...) reads the adaptive choice's estimates for a kind of work of the network net
 * (ns per row of one thread and of all threads; 0 until measured) and returns 0 when none is
 * kept (networks that differ in shape, activation, dropout, precision... are kept apart);
 * fm_threading_reset forgets them. */
void fm_threading_stats(int64_t *jobs, int64_t *worker_tasks, int *workers, int64_t *placed);
void fm_threading_test_delay(int us, int every);
int fm_threading_adaptive(const fm_net *net, int train, int64_t rows, size_t elem_size,
                          double *one, double *all, int64_t *choices);
void fm_threading_reset(void);
/* fm_threading_adapt(0): every kind of work on all the threads allowed, no timing (to measure
 * what threads give); fm_threading_adapt(1): the adaptive choice (the default). */
void fm_threading_adapt(int on);

/* 1 when the n values at x (float32 when f64 == 0, else float64) are all finite (no NaN, no
 * infinity), 0 when one is not, FM_ERR_ARG for n < 0. Large arrays are read by the pool's
 * threads, a share each (a pass bound by memory bandwidth, which one core does not saturate). */
int fm_all_finite(const void *x, int64_t n, int f64);

/* z[j] = exp(z[j]) for j < n in float32, as the core's softmax and logistic rows compute it
 * (correctly rounded, the same bits on every instruction set). A test hook; FM_ERR_ARG for
 * n < 0. */
int fm_exp_f32(float *z, int64_t n);

/* The core's elementwise functions (csrc/fm_math.h: fastmlp's own, the same bits on every
 * instruction set and platform): z[j] = f(z[j]) for j < n, float (f64 == 0) or double, in the
 * core's floating-point mode. A test hook; FM_ERR_ARG for an unknown fn or n < 0. */
enum fm_math_fn {
    FM_MATH_EXP = 0,
    FM_MATH_LOG = 1,
    FM_MATH_EXPM1 = 2,
    FM_MATH_LOG1P = 3,
    FM_MATH_TANH = 4,
    FM_MATH_ERF = 5
};
int fm_math_rows(int fn, int f64, void *z, int64_t n);

/* A benchmark hook, the multiply-add peak of the active instruction set: n rounds of
 * independent float32 multiply-adds (acc = acc * b + c) on its widest vectors, as many
 * accumulators as keep its FMA units busy, no memory operands; *sum gets the accumulators' sum.
 * Returns the floating-point operations done (2 per lane and multiply-add), 0 for n <= 0 and
 * for the portable code (which has no vector multiply-add of its own). */
int64_t fm_fma_loop(int64_t n, float b, float c, float *sum);

/* The perceptron (Rosenblatt's rule): one epoch over one binary problem, float64, serial.
 * For each sample i, in order or (shuffle != 0) in a permutation keyed by (seed, epoch):
 * score = w . x_i + *b; when y_sign[i] * score <= 0, update = eta0 * y_sign[i] * sw[i] and
 * w += update * x_i, *b += update (only when fit_intercept). x is n_samples x n_features,
 * row-major; y_sign holds +1 or -1; sw (non-negative, finite) may be NULL for weights 1; perm is
 * n_samples values of scratch (NULL allowed without shuffle). *n_mistakes gets the number of
 * updates made, *loss_sum the sum of max(0, -y_i * score) (scikit-learn's perceptron loss).
 * FM_ERR_ARG for bad sizes, labels, weights or eta0 (nothing updated); FM_ERR_NONFINITE when a
 * score is not finite (w, *b then hold the updates of the samples before it). */
int fm_perceptron_epoch_f64(const double *x, const int8_t *y_sign, const double *sw,
                            int64_t n_samples, int64_t n_features, double *w, double *b,
                            double eta0, int fit_intercept, int shuffle, uint64_t seed,
                            uint64_t epoch, int64_t *perm, int64_t *n_mistakes, double *loss_sum);

/* fm_perceptron_epoch_f64 on x in compressed sparse row form: row i's values
 * data[indptr[i]:indptr[i + 1]] at the columns of the same entries of indices, index_size (4
 * or 8) bytes each (int32_t or int64_t, any order; indptr has n_samples + 1 entries, from 0,
 * non-decreasing; data and indices may be NULL when no value is stored). The same bits as
 * fm_perceptron_epoch_f64 on the same rows dense, stored values in column order. FM_ERR_ARG
 * also for indptr out of order, a column outside [0, n_features) or another index_size
 * (nothing updated). */
int fm_perceptron_epoch_csr_f64(const double *data, const void *indices, int index_size,
                                const int64_t *indptr, int64_t n_samples, int64_t n_features,
                                const int8_t *y_sign, const double *sw, double *w, double *b,
                                double eta0, int fit_intercept, int shuffle, uint64_t seed,
                                uint64_t epoch_key, int64_t *perm, int64_t *n_mistakes,
                                double *loss_sum);

#ifdef __cplusplus
}
#endif
#endif /* FASTMLP_H */
