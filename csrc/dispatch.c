/* fastmlp C core: run-time choice of the instruction set.
 * The GEMM kernels (gemm/gemm_<isa>.c) and the training / prediction numerics (net_<isa>.c) are
 * compiled once per instruction set; the best set the CPU supports is chosen when the Python
 * module loads (or forced with the FASTMLP_ISA environment variable, through fm_set_isa), so one
 * build runs on any x86-64 CPU and, with the portable code, on other architectures. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define FM_GEMM_SIGNATURE(REAL)                                                                  \
    (int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, REAL alpha, const REAL *a,      \
     int64_t lda, const REAL *b, int64_t ldb, REAL beta, REAL *c, int64_t ldc, REAL *pack)

typedef int(*gemm_f32_fn) FM_GEMM_SIGNATURE(float);
typedef int(*gemm_f64_fn) FM_GEMM_SIGNATURE(double);

#define FM_TRAIN_SIGNATURE(REAL)                                                                 \
    (const fm_net *net, fm_optimizer *opt, REAL *params, REAL *opt_state, const REAL *x,         \
     const REAL *y, const REAL *sw, int64_t n_rows, const int64_t *order, int64_t n_samples,    \
     int64_t batch_size, uint64_t seed, uint64_t epoch, int64_t position, fm_workspace *ws,    \
     double *loss_sum, double *score)
#define FM_LOSS_GRAD_SIGNATURE(REAL)                                                             \
    (const fm_net *net, const REAL *params, const REAL *x, const REAL *y, const REAL *sw,        \
     int64_t n_samples, fm_workspace *ws, REAL *grad, double *loss)
#define FM_PREDICT_SIGNATURE(REAL)                                                               \
    (const fm_net *net, const REAL *params, const REAL *x, int64_t n_samples, REAL *out)

#define FM_DECLARE_ISA(isa)                                                                      \
    int fm_gemm_##isa##_f32 FM_GEMM_SIGNATURE(float);                                           \
    int fm_gemm_##isa##_f64 FM_GEMM_SIGNATURE(double);                                          \
    int fm_train_epoch_##isa##_f32 FM_TRAIN_SIGNATURE(float);                                   \
    int fm_train_epoch_##isa##_f64 FM_TRAIN_SIGNATURE(double);                                  \
    int fm_loss_grad_##isa##_f32 FM_LOSS_GRAD_SIGNATURE(float);                                 \
    int fm_loss_grad_##isa##_f64 FM_LOSS_GRAD_SIGNATURE(double);                                \
    int fm_predict_##isa##_f32 FM_PREDICT_SIGNATURE(float);                                     \
    int fm_predict_##isa##_f64 FM_PREDICT_SIGNATURE(double);                                    \
    int fm_exp_f32_##isa(float *z, int64_t n);

FM_DECLARE_ISA(generic)
#ifdef FASTMLP_HAVE_AVX2
FM_DECLARE_ISA(avx2)
#endif
#ifdef FASTMLP_HAVE_AVX512
FM_DECLARE_ISA(avx512)
#endif

typedef struct isa_kernels {
    const char *name;
    gemm_f32_fn gemm_f32;
    gemm_f64_fn gemm_f64;
    int(*train_f32) FM_TRAIN_SIGNATURE(float);
    int(*train_f64) FM_TRAIN_SIGNATURE(double);
    int(*loss_grad_f32) FM_LOSS_GRAD_SIGNATURE(float);
    int(*loss_grad_f64) FM_LOSS_GRAD_SIGNATURE(double);
    int(*predict_f32) FM_PREDICT_SIGNATURE(float);
    int(*predict_f64) FM_PREDICT_SIGNATURE(double);
    int (*exp_f32)(float *z, int64_t n);
} isa_kernels;

#define FM_ISA_ENTRY(isa)                                                                        \
    {#isa,                                                                                       \
     fm_gemm_##isa##_f32,                                                                        \
     fm_gemm_##isa##_f64,                                                                        \
     fm_train_epoch_##isa##_f32,                                                                 \
     fm_train_epoch_##isa##_f64,                                                                 \
     fm_loss_grad_##isa##_f32,                                                                   \
     fm_loss_grad_##isa##_f64,                                                                   \
     fm_predict_##isa##_f32,                                                                     \
     fm_predict_##isa##_f64,                                                                     \
     fm_exp_f32_##isa}

/* From the most to the least capable; the last entry always works. */
static const isa_kernels isas[] = {
#ifdef FASTMLP_HAVE_AVX512
    FM_ISA_ENTRY(avx512),
#endif
#ifdef FASTMLP_HAVE_AVX2
    FM_ISA_ENTRY(avx2),
#endif
    FM_ISA_ENTRY(generic),
};
#define N_ISAS ((int)(sizeof(isas) / sizeof(isas[0])))

static const isa_kernels *active = &isas[N_ISAS - 1];

int fm_isa_supported(const char *name)
{
    if (name == NULL)
        return 0;
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __builtin_cpu_init();
    if (strcmp(name, "avx512") == 0)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
               __builtin_cpu_supports("fma");
    if (strcmp(name, "avx2") == 0)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    return strcmp(name, "generic") == 0;
}

int fm_set_isa(const char *name)
{
    const int automatic = name == NULL || name[0] == '\0' || strcmp(name, "auto") == 0;
    for (int i = 0; i < N_ISAS; i++) {
        const int wanted = automatic || strcmp(name, isas[i].name) == 0;
        if (wanted && fm_isa_supported(isas[i].name)) {
            active = &isas[i];
            return FM_OK;
        }
    }
    return FM_ERR_ARG;
}

const char *fm_isa_name(void)
{
    return active->name;
}

const char *fm_isa_compiled(int index)
{
    return index >= 0 && index < N_ISAS ? isas[index].name : NULL;
}

size_t fm_gemm_pack_size(void)
{
    return (size_t)FM_GEMM_KC * (FM_GEMM_NC + 32); /* a B panel (NR <= 32) */
}

void *fm_aligned_alloc(size_t bytes)
{
    /* Over-allocate, align, and keep the original pointer just below the aligned block. */
    char *raw = (char *)malloc(bytes + 64 + sizeof(void *));
    if (raw == NULL)
        return NULL;
    uintptr_t start = (uintptr_t)(raw + sizeof(void *));
    char *aligned = (char *)((start + 63) & ~(uintptr_t)63);
    ((void **)aligned)[-1] = raw;
    return aligned;
}

void fm_aligned_free(void *ptr)
{
    if (ptr != NULL)
        free(((void **)ptr)[-1]);
}

/* The numeric entry points run the active kernels in the core's floating-point mode
 * (internal.h: subnormals flushed to zero) and give the caller its own mode back. */
#define FM_RETURN_IN_CORE_MODE(call)                                                             \
    do {                                                                                         \
        const unsigned saved_mode = fm_fpmode_enter();                                           \
        const int err = (call);                                                                  \
        fm_fpmode_leave(saved_mode);                                                             \
        return err;                                                                              \
    } while (0)

int fm_exp_f32(float *z, int64_t n)
{
    FM_RETURN_IN_CORE_MODE(active->exp_f32(z, n));
}

int fm_gemm_f32 FM_GEMM_SIGNATURE(float)
{
    FM_RETURN_IN_CORE_MODE(
        active->gemm_f32(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, pack));
}

int fm_gemm_f64 FM_GEMM_SIGNATURE(double)
{
    FM_RETURN_IN_CORE_MODE(
        active->gemm_f64(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, pack));
}

int fm_train_epoch_f32 FM_TRAIN_SIGNATURE(float)
{
    FM_RETURN_IN_CORE_MODE(active->train_f32(net, opt, params, opt_state, x, y, sw, n_rows, order,
                                             n_samples, batch_size, seed, epoch, position, ws,
                                             loss_sum, score));
}

int fm_train_epoch_f64 FM_TRAIN_SIGNATURE(double)
{
    FM_RETURN_IN_CORE_MODE(active->train_f64(net, opt, params, opt_state, x, y, sw, n_rows, order,
                                             n_samples, batch_size, seed, epoch, position, ws,
                                             loss_sum, score));
}

int fm_loss_grad_f32 FM_LOSS_GRAD_SIGNATURE(float)
{
    FM_RETURN_IN_CORE_MODE(active->loss_grad_f32(net, params, x, y, sw, n_samples, ws, grad, loss));
}

int fm_loss_grad_f64 FM_LOSS_GRAD_SIGNATURE(double)
{
    FM_RETURN_IN_CORE_MODE(active->loss_grad_f64(net, params, x, y, sw, n_samples, ws, grad, loss));
}

int fm_predict_f32 FM_PREDICT_SIGNATURE(float)
{
    FM_RETURN_IN_CORE_MODE(active->predict_f32(net, params, x, n_samples, out));
}

int fm_predict_f64 FM_PREDICT_SIGNATURE(double)
{
    FM_RETURN_IN_CORE_MODE(active->predict_f64(net, params, x, n_samples, out));
}
