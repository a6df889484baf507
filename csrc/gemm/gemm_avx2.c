/* fastmlp C core: GEMM for AVX2 + FMA, compiled with -mavx2 -mfma and called only on CPUs that
 * have both. Register tile: 6 rows x 2 ymm (6 x 16 floats, 6 x 8 doubles): 12 accumulators,
 * 2 vectors of B, 1 broadcast of A out of 16 registers. */
#include <immintrin.h>
#include <stdlib.h>

#include "../internal.h"

#define ISA avx2
#define MR_F32 6
#define NR_F32 16
#define MR_F64 6
#define NR_F64 8

#define MRK 6
#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define ZERO _mm256_setzero_ps
#define KNAME kernel_avx2_f32
#define KNAME_ROWS kernel_rows_avx2_f32
#define KNAME_HALF kernel_half_avx2_f32
#define KNAME_ROWS_HALF kernel_rows_half_avx2_f32
#define REAL float
#define VEC __m256
#define VLEN 8
#define LOADU _mm256_loadu_ps
#define STOREU _mm256_storeu_ps
#define BCAST _mm256_broadcast_ss
#define FMA _mm256_fmadd_ps
#define MUL _mm256_mul_ps
#define SET1 _mm256_set1_ps
#include "kernel_x86.h"

#define ZERO _mm256_setzero_pd
#define KNAME kernel_avx2_f64
#define KNAME_ROWS kernel_rows_avx2_f64
#define KNAME_HALF kernel_half_avx2_f64
#define KNAME_ROWS_HALF kernel_rows_half_avx2_f64
#define REAL double
#define VEC __m256d
#define VLEN 4
#define LOADU _mm256_loadu_pd
#define STOREU _mm256_storeu_pd
#define BCAST _mm256_broadcast_sd
#define FMA _mm256_fmadd_pd
#define MUL _mm256_mul_pd
#define SET1 _mm256_set1_pd
#include "kernel_x86.h"
#undef MRK
#undef ROWS

#include "gemm_instances.h"
