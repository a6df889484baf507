/* fastmlp C core: GEMM for AVX-512F, compiled with -mavx512f -mavx2 -mfma and called only on
 * CPUs (and operating systems) that support it. Register tile: 12 rows x 2 zmm (12 x 32 floats,
 * 12 x 16 doubles): 24 accumulators, 2 vectors of B, 1 broadcast of A out of 32 registers. */
#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>

#include "../internal.h"

#define FM_BCAST_PS(p) _mm512_set1_ps(*(p))
#define FM_BCAST_PD(p) _mm512_set1_pd(*(p))

#define ISA avx512
/* About twice the AVX2 kernel's rate per core: a product needs more work before a second thread
 * pays; 2M multiply-adds per thread measured best on an AVX-512 Xeon (internal.h). */
#define FM_GEMM_PAR_MIN_WORK (4.0 * FM_PAR_MIN_WORK)
#define MR_F32 12
#define NR_F32 32
#define MR_F64 12
#define NR_F64 16

#define MRK 12
#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define ZERO _mm512_setzero_ps
#define KNAME kernel_avx512_f32
#define KNAME_ROWS kernel_rows_avx512_f32
#define KNAME_HALF kernel_half_avx512_f32
#define KNAME_ROWS_HALF kernel_rows_half_avx512_f32
#define REAL float
#define VEC __m512
#define VLEN 16
#define LOADU _mm512_loadu_ps
#define STOREU _mm512_storeu_ps
#define BCAST FM_BCAST_PS
#define FMA _mm512_fmadd_ps
#define MUL _mm512_mul_ps
#define SET1 _mm512_set1_ps
#include "kernel_x86.h"

#define ZERO _mm512_setzero_pd
#define KNAME kernel_avx512_f64
#define KNAME_ROWS kernel_rows_avx512_f64
#define KNAME_HALF kernel_half_avx512_f64
#define KNAME_ROWS_HALF kernel_rows_half_avx512_f64
#define REAL double
#define VEC __m512d
#define VLEN 8
#define LOADU _mm512_loadu_pd
#define STOREU _mm512_storeu_pd
#define BCAST FM_BCAST_PD
#define FMA _mm512_fmadd_pd
#define MUL _mm512_mul_pd
#define SET1 _mm512_set1_pd
#include "kernel_x86.h"
#undef MRK
#undef ROWS

/* A full B sliver from a column-major op(B) (B^T, the input gradients' W^T): row p of the sliver
 * is element p of NR consecutive columns b_cs apart, fetched with gathers instead of NR scalar
 * loads (the indices are 32-bit element offsets: b_cs below FM_PACK_B_COLUMNS_MAX_STRIDE). */
#define FM_PACK_B_COLUMNS
#define FM_PACK_B_COLUMNS_MAX_STRIDE (INT32_MAX / 32)
static void pack_b_columns_avx512_f32(int64_t kc, const float *b, int64_t b_cs, float *bp)
{
    const __m512i idx = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        _mm512_set1_epi32((int)b_cs));
    const float *b16 = b + 16 * b_cs;
    for (int64_t p = 0; p < kc; p++) {
        _mm512_storeu_ps(bp + p * NR_F32, _mm512_i32gather_ps(idx, b + p, 4));
        _mm512_storeu_ps(bp + p * NR_F32 + 16, _mm512_i32gather_ps(idx, b16 + p, 4));
    }
}
static void pack_b_columns_avx512_f64(int64_t kc, const double *b, int64_t b_cs, double *bp)
{
    const __m256i idx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                           _mm256_set1_epi32((int)b_cs));
    const double *b8 = b + 8 * b_cs;
    for (int64_t p = 0; p < kc; p++) {
        _mm512_storeu_pd(bp + p * NR_F64, _mm512_i32gather_pd(idx, b + p, 8));
        _mm512_storeu_pd(bp + p * NR_F64 + 8, _mm512_i32gather_pd(idx, b8 + p, 8));
    }
}

#include "gemm_instances.h"
