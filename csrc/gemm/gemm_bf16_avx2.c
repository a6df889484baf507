/* fastmlp C core: the bfloat16 GEMM emulated with AVX2 + FMA (bf16.h), compiled with -mavx2
 * -mfma and called only on CPUs that have them. Register tile: 6 rows x 2 ymm (6 x 16), as the
 * float32 kernel's: 12 accumulators, 2 vectors of B, 1 broadcast of A. The flush of subnormal
 * results is the core's floating-point mode (MXCSR FTZ, in force in every entry point:
 * internal.h), which flushes exactly those results that bf16.h flushes (x86 detects tininess
 * after rounding). */
#include <immintrin.h>
#include <stdlib.h>

#include "bf16.h"

#define BF_ISA avx2
#define BF_MR 6
#define BF_NR 16
#define BF_STORAGE float
#define BF_KERNEL bf_kernel_avx2

#define BF_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
static void bf_kernel_avx2(int64_t k_pairs, const float *ap, const float *bp, float *tile)
{
#define BF_DECL(r) __m256 c##r##0 = _mm256_setzero_ps(), c##r##1 = _mm256_setzero_ps();
    BF_ROWS(BF_DECL)
#undef BF_DECL
    for (int64_t q = 0; q < k_pairs; q++, ap += 2 * BF_MR, bp += 2 * BF_NR) {
        /* the odd k of the pair first, as VDPBF16PS adds them */
        __m256 b0 = _mm256_load_ps(bp + BF_NR), b1 = _mm256_load_ps(bp + BF_NR + 8);
#define BF_ODD(r)                                                                                \
    {                                                                                            \
        const __m256 a = _mm256_broadcast_ss(ap + BF_MR + r);                                    \
        c##r##0 = _mm256_fmadd_ps(a, b0, c##r##0);                                               \
        c##r##1 = _mm256_fmadd_ps(a, b1, c##r##1);                                               \
    }
        BF_ROWS(BF_ODD)
#undef BF_ODD
        b0 = _mm256_load_ps(bp);
        b1 = _mm256_load_ps(bp + 8);
#define BF_EVEN(r)                                                                               \
    {                                                                                            \
        const __m256 a = _mm256_broadcast_ss(ap + r);                                            \
        c##r##0 = _mm256_fmadd_ps(a, b0, c##r##0);                                               \
        c##r##1 = _mm256_fmadd_ps(a, b1, c##r##1);                                               \
    }
        BF_ROWS(BF_EVEN)
#undef BF_EVEN
    }
#define BF_OUT(r)                                                                                \
    _mm256_store_ps(tile + r * BF_NR, c##r##0);                                                  \
    _mm256_store_ps(tile + r * BF_NR + 8, c##r##1);
    BF_ROWS(BF_OUT)
#undef BF_OUT
}

#include "gemm_bf16_impl.h"
