/* fastmlp C core: bfloat16 products (matmul_precision "bfloat16"), the parts shared by every
 * instruction set.
 *
 * C = alpha * op(A) . op(B) + beta * C in float32, where every operand is first rounded to
 * bfloat16 the way VCVTNE2PS2BF16 rounds it: to nearest, ties to even; zero and subnormal inputs
 * to a zero of their sign (they would be read as zero anyway); NaN stays a quiet NaN. Each
 * element of the product then adds its k products in float32 the way AMX's TDPBF16PS adds them
 * (bench/amx_bf16_probe.c derives this from the hardware and checks it on 13 million results):
 * k is cut into blocks of 32 (16 pairs), from k = 0; the last block may be shorter. In a block,
 * two chains, E over the even k and O over the odd k, each start at +0 and add their products in
 * ascending k, each step a fused multiply-add (the product of two bfloat16 values is exact)
 * rounded once to nearest even, a result below 2^-126 flushed to a zero of its sign (tininess
 * after rounding, as on x86). Then s = E + O and sum = sum + s (the sum starts at +0), each
 * rounded to nearest even, a subnormal flushed to a zero of its sign. An odd k is padded with a
 * product of -0 * +0, which changes no result; so does any padding of op(A) with -0 and op(B)
 * with +0. Finally c = beta == 0 ? alpha * sum : beta * c + alpha * sum, in float32 (with
 * alpha == 1 and beta == 0, the sum itself). A NaN operand gives a NaN (its payload may differ
 * between kernels).
 *
 * Where the CPU has AMX-BF16 (and the operating system grants the tile state), TDPBF16PS
 * computes this in hardware; the other kernels (AVX-512F, AVX2, the portable code) emulate it
 * with the same operations in the same order, so a product, and a network trained with it, has
 * the same bits everywhere (csrc/tests/test_core.c and tests/test_bf16.py check it). */
#ifndef FASTMLP_BF16_H
#define FASTMLP_BF16_H

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "../internal.h"

/* float32 bits -> the float32 bits of their bfloat16 rounding, as VCVTNE2PS2BF16 rounds (see
 * above); selects rather than branches, so that packing loops vectorize. */
static inline uint32_t fm_bf16_round_bits(uint32_t u)
{
    const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    const uint32_t zero = u & 0x80000000u;           /* zero or subnormal: a signed zero */
    const uint32_t quiet = (u | 0x00400000u) & 0xffff0000u; /* NaN: quieted */
    const uint32_t r = (u & 0x7f800000u) == 0 ? zero : rounded;
    return (u & 0x7fffffffu) > 0x7f800000u ? quiet : r;
}

/* float32 -> bfloat16 bits. */
static inline uint16_t fm_bf16_round(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof(u));
    return (uint16_t)(fm_bf16_round_bits(u) >> 16);
}

/* bfloat16 bits -> the float32 of the same value. */
static inline float fm_bf16_value(uint16_t h)
{
    const uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, sizeof(x));
    return x;
}

/* A subnormal float32 result flushed to a zero of its sign. */
static inline float fm_bf16_flush(float r)
{
    return fabsf(r) < FLT_MIN ? copysignf(0.0f, r) : r;
}

/* The fused step of a chain (above) for any float32 acc and bfloat16 values a and b (as
 * float32, subnormals already zero), in portable C: exact for every input, whatever the
 * floating-point mode, without an FMA instruction. The product is exact in double; the sum is
 * rounded to odd in double (53 bits, so that rounding it again to float32's 24 is the single
 * rounding of the exact sum), then to float32 with an unbounded exponent. */
static inline float fm_bf16_step_exact(float a, float b, float acc)
{
    const double p = (double)a * (double)b, x = (double)acc;
    double s = x + p;
    if (!isfinite(s) || !isfinite(p) || !isfinite(x))
        return (float)s; /* an infinity or NaN: no rounding to care about */
    const double bv = s - x, err = (x - (s - bv)) + (p - bv); /* s + err == x + p exactly */
    if (err != 0) {
        uint64_t u;
        memcpy(&u, &s, sizeof(u));
        if ((u & 1u) == 0) /* round to odd: toward the exact sum, onto an odd last bit */
            u = ((err > 0) == (s > 0)) ? u + 1 : u - 1;
        memcpy(&s, &u, sizeof(u));
    }
    if (fabs(s) >= 0x1.ffffffp127) /* FLT_MAX + half an ulp and above: infinite */
        return copysignf(INFINITY, (float)(s > 0 ? 1 : -1));
    if (fabs(s) >= (double)FLT_MIN)
        return (float)s;
    /* below the normal range: round as if the exponent went on (scaled into float32's normal
     * range), then flush what stays below 2^-126 */
    const float scaled = (float)(s * 0x1p64);
    return fabsf(scaled) < 0x1p-62f ? copysignf(0.0f, scaled) : scaled * 0x1p-64f;
}

/* Register tiles are at most FM_BF16_MR_MAX x FM_BF16_NR_MAX (the packing space's bound). */
#define FM_BF16_MR_MAX 32
#define FM_BF16_NR_MAX 32
/* k pairs per block of the sums (above). */
#define FM_BF16_BLOCK_PAIRS 16

/* Bytes of packing space a bfloat16 product of m x n x k needs (whole op(A) and op(B), packed
 * once each, in any instruction set's layout), 64-byte alignment included. */
static inline size_t fm_gemm_bf16_pack_bytes(int64_t m, int64_t n, int64_t k)
{
    const size_t k_blocks = (size_t)(k + 2 * FM_BF16_BLOCK_PAIRS - 1) / (2 * FM_BF16_BLOCK_PAIRS);
    const size_t k_padded = k_blocks * 2 * FM_BF16_BLOCK_PAIRS;
    return ((size_t)(m + FM_BF16_MR_MAX) + (size_t)(n + FM_BF16_NR_MAX)) * k_padded * 4 + 192;
}

/* One instruction set's bfloat16 GEMM (gemm_bf16_<isa>.c), with an optional epilogue applied to
 * C once it is final; pack: fm_gemm_bf16_pack_bytes(m, n, k) bytes, 64-byte aligned, or NULL to
 * allocate it inside. The caller has the core's floating-point mode in force (FTZ, DAZ). */
#define FM_GEMM_BF16_PARAMS                                                                      \
    (int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a,     \
     int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc, void *pack,    \
     const fm_epilogue *ep)
typedef int(*fm_gemm_bf16_fn) FM_GEMM_BF16_PARAMS;
int fm_gemm_bf16_generic FM_GEMM_BF16_PARAMS;
int fm_gemm_bf16_avx2 FM_GEMM_BF16_PARAMS;
int fm_gemm_bf16_avx512 FM_GEMM_BF16_PARAMS;
int fm_gemm_bf16_amx FM_GEMM_BF16_PARAMS;

/* The bfloat16 GEMM of the active instruction set (dispatch.c): AMX where the CPU has it and
 * the active set is AVX-512, the active set's emulation otherwise. */
int fm_gemm_bf16_ex FM_GEMM_BF16_PARAMS;

#endif /* FASTMLP_BF16_H */
