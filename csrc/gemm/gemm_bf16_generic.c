/* fastmlp C core: the bfloat16 GEMM emulated in portable C (bf16.h), for CPUs without
 * AVX-512 or AVX2 + FMA and for other architectures; needs no FMA instruction. */
#include <stdlib.h>

#include "bf16.h"

/* One fused step without relying on an FMA instruction: the product of two bfloat16 values is
 * exact in float32 unless it overflows or falls below the normal range, so then the sum rounded
 * once is the fused result (and a sum below the normal range is exact, flushed as bf16.h says);
 * those rare cases take bf16.h's exact step. */
static inline float bf_step_generic(float a, float b, float acc)
{
    const float p = a * b;
    const float ap = fabsf(p);
    const int exact = ap >= FLT_MIN ? ap <= FLT_MAX : (a == 0 || b == 0);
    return exact ? fm_bf16_flush(p + acc) : fm_bf16_step_exact(a, b, acc);
}

#define BF_ISA generic
#define BF_MR 4
#define BF_NR 16
#define BF_STORAGE float
#define BF_KERNEL bf_kernel_generic

/* One k step of a tile row: acc[j] = the fused step of a and b[j] (bf_step_generic), in a form
 * compilers vectorize: the plain sums, and only when some product of the row is not exact in
 * float32 (rare: overflow, or below the normal range), the row again step by step. */
static inline void bf_row_step(float a, const float *b, float *acc)
{
    float next[BF_NR];
    int exact = 1;
    for (int j = 0; j < BF_NR; j++) {
        const float p = a * b[j], ap = fabsf(p);
        /* a product of zero is exact; any other below FLT_MIN may not be (comparisons
         * combined without branches, so that the loop vectorizes) */
        exact &= ((ap >= FLT_MIN) & (ap <= FLT_MAX)) | (a == 0) | (b[j] == 0);
        const float r = p + acc[j];
        uint32_t u;
        memcpy(&u, &r, sizeof(u));
        u = (u & 0x7f800000u) == 0 ? u & 0x80000000u : u; /* fm_bf16_flush */
        memcpy(&next[j], &u, sizeof(u));
    }
    const int inexact = !exact;
    if (inexact)
        for (int j = 0; j < BF_NR; j++)
            next[j] = bf_step_generic(a, b[j], acc[j]);
    for (int j = 0; j < BF_NR; j++)
        acc[j] = next[j];
}

static void bf_kernel_generic(int64_t k_pairs, const float *ap, const float *bp, float *tile)
{
    float e[BF_MR][BF_NR], o[BF_MR][BF_NR];
    for (int i = 0; i < BF_MR * BF_NR; i++)
        tile[i] = 0.0f;
    for (int64_t q0 = 0; q0 < k_pairs; q0 += FM_BF16_BLOCK_PAIRS) {
        const int64_t q_end =
            k_pairs - q0 < FM_BF16_BLOCK_PAIRS ? k_pairs : q0 + FM_BF16_BLOCK_PAIRS;
        for (int r = 0; r < BF_MR; r++)
            for (int j = 0; j < BF_NR; j++)
                e[r][j] = o[r][j] = 0.0f;
        for (int64_t q = q0; q < q_end; q++, ap += 2 * BF_MR, bp += 2 * BF_NR) {
            for (int r = 0; r < BF_MR; r++)
                bf_row_step(ap[r], bp, e[r]);
            for (int r = 0; r < BF_MR; r++)
                bf_row_step(ap[BF_MR + r], bp + BF_NR, o[r]);
        }
        /* the block's sum E + O added to the tile's (sums of two floats: a result below the
         * normal range is exact, then flushed) */
        for (int r = 0; r < BF_MR; r++)
            for (int j = 0; j < BF_NR; j++) {
                const float s = fm_bf16_flush(e[r][j] + o[r][j]);
                tile[r * BF_NR + j] = fm_bf16_flush(tile[r * BF_NR + j] + s);
            }
    }
}

#include "gemm_bf16_impl.h"
