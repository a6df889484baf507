/* fastmlp C core: the portable GEMM (the target's baseline instruction set, e.g. SSE2 on
 * x86-64, NEON on aarch64): 4 x 64-byte register tiles in plain C that compilers vectorize.
 *
 * Each element of C gets exactly the x86 kernels' arithmetic (kernel_body_x86.h): a fused
 * multiply-add per k step in k order from zero, within the same KC blocks, then alpha * acc
 * (beta == 0) or fma(beta, c, alpha * acc); so the product's bits do not depend on the
 * instruction set, only the tile shapes do. fma() is one instruction where the target has one
 * (aarch64); on baseline x86-64 it is a C library call, which the kernels avoid on CPUs with FMA
 * through an FMA clone (FM_KERNEL_CLONES below); CPUs without FMA pay a call per multiply-add. */
#include <math.h>
#include <stdlib.h>

#include "../internal.h"

#define ISA generic
#define MR_F32 4
#define NR_F32 16
#define MR_F64 4
#define NR_F64 8

/* An MR x NR tile in plain C. A_AT(r) is A's value (r, p) at step p and A_ADVANCE how far a moves
 * per step: FM_A_SLIVER with a_arg as the step (a packed sliver, or a column-major A: value
 * (r, p) at a[p * a_arg + r]), FM_A_ROWS with a_arg as the leading dimension (MR rows of a
 * row-major A read in place: a[r * a_arg + p]). */
/* On x86-64 the baseline has no FMA instruction: each kernel is also compiled for CPUs that have
 * one (GCC / Clang function multiversioning, chosen when the library loads), where fma() becomes
 * one vectorized instruction instead of a library call. fma() is exact either way, so both give
 * the same bits; only the speed differs. */
#if defined(__x86_64__) && !defined(__FMA__) && defined(__GNUC__) && defined(__ELF__) &&         \
    !defined(__SANITIZE_ADDRESS__)
#define FM_KERNEL_CLONES __attribute__((target_clones("fma", "default")))
#else
#define FM_KERNEL_CLONES
#endif

#define FM_A_SLIVER(r) a[r]
#define FM_A_SLIVER_ADVANCE a_arg
#define FM_A_ROWS(r) a[r * a_arg + p]
#define FM_A_ROWS_ADVANCE 0
#define FM_PORTABLE_KERNEL(REAL, FMA, NAME, MR, NR, A_AT, A_ADVANCE)                           \
    FM_KERNEL_CLONES static void NAME(int64_t kc, const REAL *a, int64_t a_arg, const REAL *bp,  \
                                      int64_t b_step, REAL *c, int64_t ldc, REAL alpha,          \
                                      REAL beta)                                                 \
    {                                                                                            \
        REAL acc[MR][NR];                                                                        \
        for (int r = 0; r < MR; r++)                                                             \
            for (int j = 0; j < NR; j++)                                                         \
                acc[r][j] = 0;                                                                   \
        for (int64_t p = 0; p < kc; p++, a += A_ADVANCE, bp += b_step)                           \
            for (int r = 0; r < MR; r++)                                                         \
                for (int j = 0; j < NR; j++)                                                     \
                    acc[r][j] = FMA(A_AT(r), bp[j], acc[r][j]);                           \
        for (int r = 0; r < MR; r++)                                                             \
            for (int j = 0; j < NR; j++)                                                         \
                c[r * ldc + j] = beta == 0 ? alpha * acc[r][j]                                   \
                                           : FMA(beta, c[r * ldc + j], alpha * acc[r][j]);       \
    }
/* The full tile and the half-width one (slivers of C at most NR / 2 wide, gemm_impl.h), for
 * both A layouts. */
#define FM_PORTABLE_KERNELS(REAL, FMA, SUFFIX, MR, NR)                                           \
    FM_PORTABLE_KERNEL(REAL, FMA, kernel_generic_##SUFFIX, MR, NR, FM_A_SLIVER,                  \
                       FM_A_SLIVER_ADVANCE)                                                      \
    FM_PORTABLE_KERNEL(REAL, FMA, kernel_rows_generic_##SUFFIX, MR, NR, FM_A_ROWS,               \
                       FM_A_ROWS_ADVANCE)                                                        \
    FM_PORTABLE_KERNEL(REAL, FMA, kernel_half_generic_##SUFFIX, MR, NR / 2, FM_A_SLIVER,         \
                       FM_A_SLIVER_ADVANCE)                                                      \
    FM_PORTABLE_KERNEL(REAL, FMA, kernel_rows_half_generic_##SUFFIX, MR, NR / 2, FM_A_ROWS,      \
                       FM_A_ROWS_ADVANCE)

FM_PORTABLE_KERNELS(float, fmaf, f32, MR_F32, NR_F32)
FM_PORTABLE_KERNELS(double, fma, f64, MR_F64, NR_F64)

#include "gemm_instances.h"
