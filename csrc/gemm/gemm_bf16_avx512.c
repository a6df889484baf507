/* fastmlp C core: the bfloat16 GEMM emulated with AVX-512F (bf16.h), for AVX-512 CPUs without
 * AMX (or with it turned off); compiled with -mavx512f -mavx2 -mfma. Register tile: 12 rows x 2
 * zmm (32 columns), as the float32 kernel's: per block of k (bf16.h), one pass over its even k
 * (the chains E, 24 accumulators, kept aside), one over its odd k (O), then E + O added to the
 * tile's sums in memory. The flush of subnormal results is the core's floating-point mode
 * (MXCSR FTZ, in force in every entry point: internal.h), which flushes exactly those results
 * that bf16.h flushes (x86 detects tininess after rounding). */
#include <immintrin.h>
#include <stdlib.h>

#include "bf16.h"

#define BF_ISA avx512
#define BF_MR 12
#define BF_NR 32
#define BF_STORAGE float
#define BF_KERNEL bf_kernel_avx512
#define BF_PACK_ACROSS bf_pack_across_avx512

/* bf16.h's rounding of 16 floats (fm_bf16_round_bits), as float32 values. */
static inline __m512 bf_round_ps(__m512 x)
{
    const __m512i u = _mm512_castps_si512(x);
    const __m512i hi = _mm512_set1_epi32((int)0xffff0000u);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    const __m512i bias = _mm512_add_epi32(_mm512_set1_epi32(0x7fff), lsb);
    __m512i r = _mm512_and_si512(_mm512_add_epi32(u, bias), hi);
    const __mmask16 small = _mm512_testn_epi32_mask(u, _mm512_set1_epi32(0x7f800000));
    r = _mm512_mask_and_epi32(r, small, u, _mm512_set1_epi32((int)0x80000000u));
    const __mmask16 nan = _mm512_cmpgt_epu32_mask(
        _mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)), _mm512_set1_epi32(0x7f800000));
    r = _mm512_mask_and_epi32(r, nan, _mm512_or_si512(u, _mm512_set1_epi32(0x00400000)), hi);
    return _mm512_castsi512_ps(r);
}

/* r[t] = column t of the 16 x 16 block of rows r[0..15]: 32-bit, then 64-bit interleaves
 * within 128-bit lanes, then two rounds of 128-bit lane shuffles. */
static inline void bf_transpose16(__m512 r[16])
{
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    __m512 u[16]; /* u[4g + c], 128-bit lane L: rows 4g .. 4g + 3 at column 4L + c */
    for (int g = 0; g < 4; g++) {
        const __m512d t0 = _mm512_castps_pd(t[4 * g]), t1 = _mm512_castps_pd(t[4 * g + 1]);
        const __m512d t2 = _mm512_castps_pd(t[4 * g + 2]), t3 = _mm512_castps_pd(t[4 * g + 3]);
        u[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
        u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
        u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
        u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
    }
    for (int c = 0; c < 4; c++) {
        const __m512 v1 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88);
        const __m512 v2 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xdd);
        const __m512 w1 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88);
        const __m512 w2 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xdd);
        r[c] = _mm512_shuffle_f32x4(v1, w1, 0x88);
        r[8 + c] = _mm512_shuffle_f32x4(v1, w1, 0xdd);
        r[4 + c] = _mm512_shuffle_f32x4(v2, w2, 0x88);
        r[12 + c] = _mm512_shuffle_f32x4(v2, w2, 0xdd);
    }
}

/* A sliver whose lanes are rows of the source (value (p, i) at src[i * stride + p]: op(A)
 * row-major, op(B) column-major) into the float layout dst[p * lanes + i]: blocks of 16 lanes
 * x 16 k values, each row of the block read, rounded, and the block transposed in registers;
 * lanes past valid and k past k `pad`. */
static void bf_pack_across_avx512(int64_t k, int64_t k_pairs, const float *src, int64_t stride,
                                  int64_t valid, int64_t lanes, float pad, float *dst)
{
    for (int64_t i0 = 0; i0 < lanes; i0 += 16) {
        const int64_t n_lanes = lanes - i0 < 16 ? lanes - i0 : 16;
        const __mmask16 store = (__mmask16)(n_lanes == 16 ? 0xffffu : (1u << n_lanes) - 1u);
        for (int64_t p0 = 0; p0 < 2 * k_pairs; p0 += 16) {
            const int64_t n_steps = 2 * k_pairs - p0 < 16 ? 2 * k_pairs - p0 : 16;
            const int64_t left = k - p0;
            const __mmask16 load = (__mmask16)(left >= 16 ? 0xffffu : (1u << left) - 1u);
            const __m512 padv = _mm512_set1_ps(pad);
            __m512 r[16];
            for (int l = 0; l < 16; l++)
                r[l] = i0 + l < valid
                           ? _mm512_mask_mov_ps(padv, load,
                                                bf_round_ps(_mm512_maskz_loadu_ps(
                                                    load, src + (i0 + l) * stride + p0)))
                           : padv;
            bf_transpose16(r);
            for (int64_t t = 0; t < n_steps; t++)
                _mm512_mask_storeu_ps(dst + (p0 + t) * lanes + i0, store, r[t]);
        }
    }
}

#define BF_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define BF_DECL(r) __m512 c##r##0, c##r##1;
#define BF_ZERO(r)                                                                                 \
    c##r##0 = _mm512_setzero_ps();                                                                 \
    c##r##1 = _mm512_setzero_ps();
#define BF_STEP(r)                                                                                 \
    {                                                                                              \
        const __m512 av = _mm512_set1_ps(a[r]);                                                    \
        c##r##0 = _mm512_fmadd_ps(av, b0, c##r##0);                                                \
        c##r##1 = _mm512_fmadd_ps(av, b1, c##r##1);                                                \
    }
/* One chain per accumulator over `steps` k steps of one parity (a and b at that parity's first
 * step; a step further is 2 MR values of A and 2 NR of B on). */
#define BF_PASS(A, B)                                                                              \
    {                                                                                              \
        const float *a = (A), *b = (B);                                                            \
        BF_ROWS(BF_ZERO)                                                                           \
        for (int64_t q = 0; q < steps; q++, a += 2 * BF_MR, b += 2 * BF_NR) {                      \
            const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);                      \
            BF_ROWS(BF_STEP)                                                                       \
        }                                                                                          \
    }
#define BF_KEEP(r)                                                                                 \
    e##r##0 = c##r##0;                                                                             \
    e##r##1 = c##r##1;
/* the block's sum E + O added to the tile's */
#define BF_ADD(r)                                                                                  \
    {                                                                                              \
        float *t = tile + r * BF_NR;                                                               \
        _mm512_store_ps(t, _mm512_add_ps(_mm512_load_ps(t), _mm512_add_ps(e##r##0, c##r##0)));     \
        _mm512_store_ps(t + 16,                                                                    \
                        _mm512_add_ps(_mm512_load_ps(t + 16), _mm512_add_ps(e##r##1, c##r##1)));   \
    }
#define BF_DECL_E(r) __m512 e##r##0, e##r##1;
static void bf_kernel_avx512(int64_t k_pairs, const float *ap, const float *bp, float *tile)
{
    for (int i = 0; i < BF_MR * BF_NR; i++)
        tile[i] = 0.0f;
    BF_ROWS(BF_DECL)
    BF_ROWS(BF_DECL_E) /* the even chains while the odd ones run (the compiler spills them) */
    for (int64_t q0 = 0; q0 < k_pairs; q0 += FM_BF16_BLOCK_PAIRS) {
        const int64_t steps = k_pairs - q0 < FM_BF16_BLOCK_PAIRS ? k_pairs - q0
                                                                 : FM_BF16_BLOCK_PAIRS;
        BF_PASS(ap, bp)
        BF_ROWS(BF_KEEP)
        BF_PASS(ap + BF_MR, bp + BF_NR)
        BF_ROWS(BF_ADD)
        ap += 2 * BF_MR * steps;
        bp += 2 * BF_NR * steps;
    }
}
#undef BF_DECL
#undef BF_DECL_E
#undef BF_ZERO
#undef BF_STEP
#undef BF_PASS
#undef BF_KEEP
#undef BF_ADD

#include "gemm_bf16_impl.h"
