/* fastmlp C core: the portable GEMM (the target's baseline instruction set, e.g. SSE2 on
 * x86-64): 4 x 64-byte register tiles in plain C that compilers vectorize. */
#include <stdlib.h>

#include "../internal.h"

#define ISA generic
#define MR_F32 4
#define NR_F32 16
#define MR_F64 4
#define NR_F64 8

#define FM_PORTABLE_KERNEL(REAL, NAME, MR, NR)                                                   \
    static void NAME(int64_t kc, const REAL *ap, int64_t a_step, const REAL *bp, int64_t b_step, \
                     REAL *c, int64_t ldc, REAL alpha, REAL beta)                                \
    {                                                                                            \
        REAL acc[MR][NR];                                                                        \
        for (int r = 0; r < MR; r++)                                                             \
            for (int j = 0; j < NR; j++)                                                         \
                acc[r][j] = 0;                                                                   \
        for (int64_t p = 0; p < kc; p++, ap += a_step, bp += b_step)                             \
            for (int r = 0; r < MR; r++)                                                         \
                for (int j = 0; j < NR; j++)                                                     \
                    acc[r][j] += ap[r] * bp[j];                                                  \
        for (int r = 0; r < MR; r++)                                                             \
            for (int j = 0; j < NR; j++)                                                         \
                c[r * ldc + j] = beta == 0 ? alpha * acc[r][j]                                   \
                                           : beta * c[r * ldc + j] + alpha * acc[r][j];          \
    }

/* MR rows of a row-major A read in place: value (r, p) at a[r * lda + p]. */
#define FM_PORTABLE_KERNEL_ROWS(REAL, NAME, MR, NR)                                              \
    static void NAME(int64_t kc, const REAL *a, int64_t lda, const REAL *bp, int64_t b_step,     \
                     REAL *c, int64_t ldc, REAL alpha, REAL beta)                                \
    {                                                                                            \
        REAL acc[MR][NR];                                                                        \
        for (int r = 0; r < MR; r++)                                                             \
            for (int j = 0; j < NR; j++)                                                         \
                acc[r][j] = 0;                                                                   \
        for (int64_t p = 0; p < kc; p++, bp += b_step)                                           \
            for (int r = 0; r < MR; r++)                                                         \
                for (int j = 0; j < NR; j++)                                                     \
                    acc[r][j] += a[r * lda + p] * bp[j];                                         \
        for (int r = 0; r < MR; r++)                                                             \
            for (int j = 0; j < NR; j++)                                                         \
                c[r * ldc + j] = beta == 0 ? alpha * acc[r][j]                                   \
                                           : beta * c[r * ldc + j] + alpha * acc[r][j];          \
    }

FM_PORTABLE_KERNEL(float, kernel_generic_f32, MR_F32, NR_F32)
FM_PORTABLE_KERNEL_ROWS(float, kernel_rows_generic_f32, MR_F32, NR_F32)
FM_PORTABLE_KERNEL_ROWS(double, kernel_rows_generic_f64, MR_F64, NR_F64)
FM_PORTABLE_KERNEL(double, kernel_generic_f64, MR_F64, NR_F64)
/* Half-width tiles for slivers of C at most NR / 2 wide (gemm_impl.h). */
FM_PORTABLE_KERNEL(float, kernel_half_generic_f32, MR_F32, NR_F32 / 2)
FM_PORTABLE_KERNEL_ROWS(float, kernel_rows_half_generic_f32, MR_F32, NR_F32 / 2)
FM_PORTABLE_KERNEL_ROWS(double, kernel_rows_half_generic_f64, MR_F64, NR_F64 / 2)
FM_PORTABLE_KERNEL(double, kernel_half_generic_f64, MR_F64, NR_F64 / 2)

#include "gemm_instances.h"
