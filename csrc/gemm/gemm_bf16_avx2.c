/* fastmlp C core: the bfloat16 GEMM emulated with AVX2 + FMA (bf16.h), compiled with -mavx2
 * -mfma and called only on CPUs that have them. Register tile: 3 rows x 2 ymm (3 x 16), each
 * with two chains (the even and the odd k of a block, bf16.h): 12 accumulators, 2 vectors of B,
 * 1 broadcast of A. The sums across blocks are kept in the tile in memory. The flush of
 * subnormal results is the core's floating-point mode (MXCSR FTZ, in force in every entry point:
 * internal.h), which flushes exactly those results that bf16.h flushes (x86 detects tininess
 * after rounding). */
#include <immintrin.h>
#include <stdlib.h>

#include "bf16.h"

#define BF_ISA avx2
#define BF_MR 3
#define BF_NR 16
#define BF_STORAGE float
#define BF_KERNEL bf_kernel_avx2

#define BF_ROWS(X) X(0) X(1) X(2)
static void bf_kernel_avx2(int64_t k_pairs, const float *ap, const float *bp, float *tile)
{
    for (int i = 0; i < BF_MR * BF_NR; i++)
        tile[i] = 0.0f;
    for (int64_t q0 = 0; q0 < k_pairs; q0 += FM_BF16_BLOCK_PAIRS) {
        const int64_t q_end =
            k_pairs - q0 < FM_BF16_BLOCK_PAIRS ? k_pairs : q0 + FM_BF16_BLOCK_PAIRS;
#define BF_DECL(r)                                                                                 \
    __m256 e##r##0 = _mm256_setzero_ps(), e##r##1 = _mm256_setzero_ps();                           \
    __m256 o##r##0 = _mm256_setzero_ps(), o##r##1 = _mm256_setzero_ps();
        BF_ROWS(BF_DECL)
#undef BF_DECL
        for (int64_t q = q0; q < q_end; q++, ap += 2 * BF_MR, bp += 2 * BF_NR) {
            __m256 b0 = _mm256_load_ps(bp), b1 = _mm256_load_ps(bp + 8);
#define BF_EVEN(r)                                                                                 \
    {                                                                                              \
        const __m256 a = _mm256_broadcast_ss(ap + r);                                              \
        e##r##0 = _mm256_fmadd_ps(a, b0, e##r##0);                                                 \
        e##r##1 = _mm256_fmadd_ps(a, b1, e##r##1);                                                 \
    }
            BF_ROWS(BF_EVEN)
#undef BF_EVEN
            b0 = _mm256_load_ps(bp + BF_NR);
            b1 = _mm256_load_ps(bp + BF_NR + 8);
#define BF_ODD(r)                                                                                  \
    {                                                                                              \
        const __m256 a = _mm256_broadcast_ss(ap + BF_MR + r);                                      \
        o##r##0 = _mm256_fmadd_ps(a, b0, o##r##0);                                                 \
        o##r##1 = _mm256_fmadd_ps(a, b1, o##r##1);                                                 \
    }
            BF_ROWS(BF_ODD)
#undef BF_ODD
        }
        /* the block's sum E + O added to the tile's */
#define BF_ADD(r)                                                                                  \
    {                                                                                              \
        float *t = tile + r * BF_NR;                                                               \
        _mm256_store_ps(t, _mm256_add_ps(_mm256_load_ps(t), _mm256_add_ps(e##r##0, o##r##0)));     \
        _mm256_store_ps(t + 8,                                                                     \
                        _mm256_add_ps(_mm256_load_ps(t + 8), _mm256_add_ps(e##r##1, o##r##1)));    \
    }
        BF_ROWS(BF_ADD)
#undef BF_ADD
    }
}

#include "gemm_bf16_impl.h"
