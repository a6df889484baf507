/* fastmlp C core: instantiates net_impl.h for float and double under one instruction set.
 * The including file defines ISA (generic, avx2, avx512); the GEMM calls inside go to the same
 * instruction set's fm_gemm_<ISA>_f32 / _f64. The elementwise functions are fastmlp's own
 * (fm_math.h), the same bits on every instruction set and platform; only sqrt (exact in IEEE
 * arithmetic) is the C library's. */
#include <float.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "fm_math.h"
#include "internal.h"
#include "gemm/bf16.h"

/* Rows per forward chunk in predict's per-layer path: bounds its scratch memory for any
 * n_samples. A last chunk of fewer rows than a register tile (FM_PREDICT_MR_MAX or fewer) takes
 * the GEMM's small path, which the blocked path keeps (net_impl.h). */
#define FM_PREDICT_CHUNK 1024


/* This instruction set's GEMM with epilogue (gemm/gemm_<ISA>.c). */
int FM_XCAT3(fm_gemm_ex, ISA, f32)(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                                   float alpha, const float *a, int64_t lda, const float *b,
                                   int64_t ldb, float beta, float *c, int64_t ldc, float *pack,
                                   const fm_epilogue *ep);
int FM_XCAT3(fm_gemm_ex, ISA, f64)(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                                   double alpha, const double *a, int64_t lda, const double *b,
                                   int64_t ldb, double beta, double *c, int64_t ldc,
                                   double *pack, const fm_epilogue *ep);

/* The float32 exp rows: this instruction set's (exp_x86.h) or the portable ones, the same
 * bits either way (fm_math.h). */
#ifdef FM_HAVE_EXP_ROW_F32
#define FM_EXP_ROW_F32 fm_exp_row_f32
#else
#define FM_EXP_ROW_F32 fm_exp_row_f32_portable
#endif

/* This instruction set's forward product for predict's row blocks (gemm/gemm_impl.h): B's
 * slivers packed once (fm_gemm_forward_pack_size elements, fm_gemm_forward_slivers slivers,
 * fm_gemm_forward_pack packing slivers [s0, s1)), then C = A . B with the epilogue on the
 * calling thread, each element's arithmetic fm_gemm_ex's. */
#define FM_FORWARD_DECLS(REAL, suf)                                                              \
    int64_t FM_XCAT3(fm_gemm_forward_pack_size, ISA, suf)(int64_t k, int64_t n);                \
    int64_t FM_XCAT3(fm_gemm_forward_slivers, ISA, suf)(int64_t k, int64_t n);                  \
    void FM_XCAT3(fm_gemm_forward_pack, ISA, suf)(int64_t k, int64_t n, const REAL *b,          \
                                                  int64_t ldb, REAL *bp, int64_t s0,            \
                                                  int64_t s1);                                  \
    int FM_XCAT3(fm_gemm_forward, ISA, suf)(int64_t m, int64_t n, int64_t k, const REAL *a,     \
                                            int64_t lda, const REAL *b, int64_t ldb,            \
                                            const REAL *packed, REAL *c, int64_t ldc,           \
                                            const fm_epilogue *ep);
FM_FORWARD_DECLS(float, f32)
FM_FORWARD_DECLS(double, f64)
#undef FM_FORWARD_DECLS

/* z[j] = exp(z[j]) for j < n in float with the exp rows. */
int FM_XCAT2(fm_exp_f32, ISA)(float *z, int64_t n);
int FM_XCAT2(fm_exp_f32, ISA)(float *z, int64_t n)
{
    if (n < 0 || (n > 0 && z == NULL))
        return FM_ERR_ARG;
    FM_EXP_ROW_F32(z, n, 1, 0);
    return FM_OK;
}

/* z[j] = f(z[j]) for j < n with one of the core's elementwise functions (enum fm_math_fn), in
 * float (f64 == 0) or double. */
int FM_XCAT2(fm_math_rows, ISA)(int fn, int f64, void *z, int64_t n);
int FM_XCAT2(fm_math_rows, ISA)(int fn, int f64, void *z, int64_t n)
{
    if (n < 0 || (n > 0 && z == NULL) || fn < FM_MATH_EXP || fn > FM_MATH_ERF)
        return FM_ERR_ARG;
    if (f64) {
        double *d = (double *)z;
        for (int64_t j = 0; j < n; j++) {
            const double x = d[j];
            d[j] = fn == FM_MATH_EXP     ? fm_exp(x)
                   : fn == FM_MATH_LOG   ? fm_log(x)
                   : fn == FM_MATH_EXPM1 ? fm_expm1(x)
                   : fn == FM_MATH_LOG1P ? fm_log1p(x)
                   : fn == FM_MATH_TANH  ? fm_tanh(x)
                                         : fm_erf(x);
        }
        return FM_OK;
    }
    float *f = (float *)z;
    if (fn == FM_MATH_EXP) {
        FM_EXP_ROW_F32(f, n, 1, 0);
        return FM_OK;
    }
    for (int64_t j = 0; j < n; j++) {
        const float x = f[j];
        f[j] = fn == FM_MATH_LOG     ? fm_logf(x)
               : fn == FM_MATH_EXPM1 ? fm_expm1f(x)
               : fn == FM_MATH_LOG1P ? fm_log1pf(x)
               : fn == FM_MATH_TANH  ? fm_tanhf(x)
                                     : fm_erff(x);
    }
    return FM_OK;
}

/* fm_fma_loop (fastmlp.h) for this instruction set: n rounds of FM_FMA_PEAK_N independent
 * float32 multiply-adds on FM_FMA_PEAK_LANES-lane vectors (the including file defines them;
 * none for the portable code: 0 operations). */
int64_t FM_XCAT2(fm_fma_loop, ISA)(int64_t n, float b, float c, float *sum);
int64_t FM_XCAT2(fm_fma_loop, ISA)(int64_t n, float b, float c, float *sum)
{
    *sum = 0;
#ifdef FM_FMA_PEAK_LANES
    if (n <= 0)
        return 0;
    /* each accumulator's chain waits only on itself: acc = acc * b + c */
    const FM_FMA_PEAK_VEC vb = FM_FMA_PEAK_SET1(b), vc = FM_FMA_PEAK_SET1(c);
#define FM_PEAK_DECL(i) FM_FMA_PEAK_VEC acc##i = FM_FMA_PEAK_SET1((float)(i));
#define FM_PEAK_STEP(i) acc##i = FM_FMA_PEAK_FMA(acc##i, vb, vc);
#define FM_PEAK_ADD(i) total = FM_FMA_PEAK_ADD(total, acc##i);
    FM_FMA_PEAK_ACCS(FM_PEAK_DECL)
    for (int64_t it = 0; it < n; it++) {
        FM_FMA_PEAK_ACCS(FM_PEAK_STEP)
    }
    FM_FMA_PEAK_VEC total = FM_FMA_PEAK_SET1(0.0f);
    FM_FMA_PEAK_ACCS(FM_PEAK_ADD)
#undef FM_PEAK_DECL
#undef FM_PEAK_STEP
#undef FM_PEAK_ADD
    float lanes[FM_FMA_PEAK_LANES];
    FM_FMA_PEAK_STORE(lanes, total);
    for (int i = 0; i < FM_FMA_PEAK_LANES; i++)
        *sum += lanes[i];
    return n * FM_FMA_PEAK_N * FM_FMA_PEAK_LANES * 2;
#else
    (void)n;
    (void)b;
    (void)c;
    return 0;
#endif
}

#define REAL float
#define SUF(name) FM_XCAT3(name, ISA, f32)
#define EXP_ROW FM_EXP_ROW_F32
#ifdef FM_HAVE_LOSS_ROWS_F32 /* the log losses' rows in groups (loss_x86.h) */
#define LOSS_ROWS fm_loss_rows_f32
#define LOSS_ROWS_LANES FM_LOSS_LANES
#define LOSS_ROWS_MAX_COLS FM_LOSS_MAX_COLS
#endif
#define EXP fm_expf
#define LOG fm_logf
#define TANH fm_tanhf
#define SQRT sqrtf
#define EXPM1 fm_expm1f
#define LOG1P fm_log1pf
#define ERF fm_erff
#define REAL_EPS FLT_EPSILON
#include "net_impl.h"

#define REAL double
#define SUF(name) FM_XCAT3(name, ISA, f64)
#define EXP fm_exp
#define LOG fm_log
#define TANH fm_tanh
#define SQRT sqrt
#define EXPM1 fm_expm1
#define LOG1P fm_log1p
#define ERF fm_erf
#define REAL_EPS DBL_EPSILON
#include "net_impl.h"
