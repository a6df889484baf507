/* fastmlp C core: GEMM for AVX-512F, compiled with -mavx512f -mavx2 -mfma and called only on
 * CPUs (and operating systems) that support it. Register tile: 12 rows x 2 zmm (12 x 32 floats,
 * 12 x 16 doubles): 24 accumulators, 2 vectors of B, 1 broadcast of A out of 32 registers. */
#include <immintrin.h>
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

#include "gemm_instances.h"
