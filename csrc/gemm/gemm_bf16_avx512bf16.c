/* fastmlp C core: the bfloat16 GEMM in hardware (bf16.h), VDPBF16PS of AVX512-BF16; compiled
 * with -mavx512f -mavx512bw -mavx512bf16 -mavx2 -mfma and called only on CPUs that have them.
 * Register tile: 12 rows x 2 zmm (32 columns): per k pair, two vectors of B (16 columns x 2
 * values each) and one broadcast pair of A per row. VDPBF16PS reads the core's FTZ and DAZ
 * nowhere: it always reads subnormals as zero and flushes subnormal results, the emulations'
 * arithmetic (checked bit for bit by csrc/tests/test_core.c). */
#include <immintrin.h>
#include <stdlib.h>

#include "bf16.h"

#define BF_ISA avx512bf16
#define BF_MR 12
#define BF_NR 32
#define BF_STORAGE uint16_t
#define BF_KERNEL bf_kernel_avx512bf16
#define BF_PACK_B_ROWS bf_pack_b_rows_avx512bf16

#define BF_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
static void bf_kernel_avx512bf16(int64_t k_pairs, const uint16_t *ap, const uint16_t *bp,
                                 float *tile)
{
#define BF_DECL(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = _mm512_setzero_ps();
    BF_ROWS(BF_DECL)
#undef BF_DECL
    const int32_t *a32 = (const int32_t *)ap;
    for (int64_t q = 0; q < k_pairs; q++, a32 += BF_MR, bp += 2 * BF_NR) {
        const __m512bh b0 = (__m512bh)_mm512_load_si512((const void *)bp);
        const __m512bh b1 = (__m512bh)_mm512_load_si512((const void *)(bp + 32));
#define BF_ROW(r)                                                                                \
    {                                                                                            \
        const __m512bh a = (__m512bh)_mm512_set1_epi32(a32[r]);                                  \
        c##r##0 = _mm512_dpbf16_ps(c##r##0, a, b0);                                              \
        c##r##1 = _mm512_dpbf16_ps(c##r##1, a, b1);                                              \
    }
        BF_ROWS(BF_ROW)
#undef BF_ROW
    }
#define BF_OUT(r)                                                                                \
    _mm512_store_ps(tile + r * BF_NR, c##r##0);                                                  \
    _mm512_store_ps(tile + r * BF_NR + 16, c##r##1);
    BF_ROWS(BF_OUT)
#undef BF_OUT
}

/* A whole 32-column sliver of a row-major op(B): per k pair, rows 2q and 2q + 1 rounded by
 * VCVTNE2PS2BF16 (bf16.h's rounding) and interleaved into (row 2q, row 2q + 1) pairs. */
static void bf_pack_b_rows_avx512bf16(int64_t k, const float *b, int64_t b_rs, uint16_t *bp)
{
    const __m512i order = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9,
                                           24, 8, 23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17,
                                           1, 16, 0);
    for (int64_t p = 0; p < k; p += 2, bp += 2 * BF_NR) {
        const int odd = p + 1 < k;
        const float *r0 = b + p * b_rs, *r1 = odd ? r0 + b_rs : r0;
        for (int half = 0; half < 2; half++) {
            const __m512 lo = _mm512_loadu_ps(r0 + 16 * half);
            const __m512 hi = odd ? _mm512_loadu_ps(r1 + 16 * half) : _mm512_setzero_ps();
            const __m512i both = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
            _mm512_store_si512((void *)(bp + 32 * half), _mm512_permutexvar_epi16(order, both));
        }
    }
}

#include "gemm_bf16_impl.h"
