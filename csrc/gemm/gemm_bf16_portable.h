/* fastmlp C core: the bfloat16 emulation's microkernel in plain C (bf16.h has its arithmetic),
 * included by gemm_bf16_generic.c and gemm_bf16_avx2.c with BF_MR, BF_NR and BF_STEP(a, b, acc)
 * (one fused step: acc + a * b rounded once, a subnormal result flushed) defined. Operands are
 * packed as float32 values (BF_STORAGE float). */
#define BF_STORAGE float
#define BF_KERNEL bf_kernel

static void bf_kernel(int64_t k_pairs, const float *ap, const float *bp, float *tile)
{
    float acc[BF_MR][BF_NR];
    for (int r = 0; r < BF_MR; r++)
        for (int j = 0; j < BF_NR; j++)
            acc[r][j] = 0;
    for (int64_t q = 0; q < k_pairs; q++, ap += 2 * BF_MR, bp += 2 * BF_NR) {
        /* the odd k of the pair first, as VDPBF16PS adds them */
        for (int r = 0; r < BF_MR; r++)
            for (int j = 0; j < BF_NR; j++)
                acc[r][j] = BF_STEP(ap[BF_MR + r], bp[BF_NR + j], acc[r][j]);
        for (int r = 0; r < BF_MR; r++)
            for (int j = 0; j < BF_NR; j++)
                acc[r][j] = BF_STEP(ap[r], bp[j], acc[r][j]);
    }
    for (int r = 0; r < BF_MR; r++)
        for (int j = 0; j < BF_NR; j++)
            tile[r * BF_NR + j] = acc[r][j];
}
