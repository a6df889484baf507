/* fastmlp C core: a vectorized, correctly rounded expf for rows of floats, included by
 * net_avx2.c and net_avx512.c (which define FM_HAVE_EXP_ROW_F32 for net_isa.h).
 *
 * fm_exp_row_f32(z, n, a, b): z[j] = exp(a * z[j] - b) for j < n, the argument rounded to float
 * first exactly as the scalar expression would be (a is 1 or -1, so a * z[j] is exact). Used by
 * the softmax rows (exp(z - max)), the logistic rows (exp(-z)) and the exp activation, where a
 * libm call per element took about a tenth of a digits-net batch on the calling thread.
 *
 * Method: in double, x = max(-104, min(89, x)) (NaN passes through); k = round(x * 32 / ln 2)
 * and y = x - k ln 2 / 32 (|y| <= ln 2 / 64), so exp(x) = 2^(k / 32) * exp(y) with 2^(j / 32)
 * (j = k mod 32) from a table and exp(y) - 1 from its Taylor series to y^6 (truncation below
 * 4e-18); the double result is rounded to float once. Checked against (float)expl(x) on every
 * float x in [-104, 88.72] (2.24e9 values, flush-to-zero on, as in the core): equal on all of
 * them (libm's expf differs on 170,587 of them by one ulp). Below -104 the result is 0 (as the
 * true value, 6.8e-46 or less, rounds), above 88.72 it overflows to infinity, NaN gives NaN.
 *
 * The table holds bits(2^(j / 32)) - j << 47, so that adding k << 47 (two's complement, from
 * the bits of k + 1.5 * 2^52) puts k div 32 into the exponent without a signed shift. */
#include <immintrin.h>
#include <stdint.h>

#define FM_T(bits, j) ((uint64_t)(bits) - ((uint64_t)(j) << 47))
static _Alignas(64) const uint64_t fm_exp2_32[32] = {
    FM_T(0x3ff0000000000000, 0),  FM_T(0x3ff059b0d3158574, 1),  FM_T(0x3ff0b5586cf9890f, 2),
    FM_T(0x3ff11301d0125b51, 3),  FM_T(0x3ff172b83c7d517b, 4),  FM_T(0x3ff1d4873168b9aa, 5),
    FM_T(0x3ff2387a6e756238, 6),  FM_T(0x3ff29e9df51fdee1, 7),  FM_T(0x3ff306fe0a31b715, 8),
    FM_T(0x3ff371a7373aa9cb, 9),  FM_T(0x3ff3dea64c123422, 10), FM_T(0x3ff44e086061892d, 11),
    FM_T(0x3ff4bfdad5362a27, 12), FM_T(0x3ff5342b569d4f82, 13), FM_T(0x3ff5ab07dd485429, 14),
    FM_T(0x3ff6247eb03a5585, 15), FM_T(0x3ff6a09e667f3bcd, 16), FM_T(0x3ff71f75e8ec5f74, 17),
    FM_T(0x3ff7a11473eb0187, 18), FM_T(0x3ff82589994cce13, 19), FM_T(0x3ff8ace5422aa0db, 20),
    FM_T(0x3ff93737b0cdc5e5, 21), FM_T(0x3ff9c49182a3f090, 22), FM_T(0x3ffa5503b23e255d, 23),
    FM_T(0x3ffae89f995ad3ad, 24), FM_T(0x3ffb7f76f2fb5e47, 25), FM_T(0x3ffc199bdd85529c, 26),
    FM_T(0x3ffcb720dcef9069, 27), FM_T(0x3ffd5818dcfba487, 28), FM_T(0x3ffdfc97337b9b5f, 29),
    FM_T(0x3ffea4afa2a490da, 30), FM_T(0x3fff50765b6e4540, 31)};
#undef FM_T

#define FM_EXP_INV_LN2_32 0x1.71547652b82fep+5 /* 32 / ln 2 */
#define FM_EXP_LN2_32 0x1.62e42fefa39efp-6     /* ln 2 / 32 */
#define FM_EXP_SHIFT 0x1.8p52

/* exp of each lane of x (doubles holding float arguments) given t, the table entries for the
 * low 5 bits of each lane of ki (the bits of round(x * 32 / ln 2) + 1.5 * 2^52): VEC is the
 * double vector type, P its intrinsics' prefix, I that of its integers. */
#define FM_EXP_LANES_BODY(VEC, P, I)                                                             \
    const VEC z = P##_mul_pd(x, P##_set1_pd(FM_EXP_INV_LN2_32));                                 \
    const VEC kd = P##_sub_pd(P##_add_pd(z, P##_set1_pd(FM_EXP_SHIFT)), P##_set1_pd(FM_EXP_SHIFT)); \
    const VEC y = P##_mul_pd(P##_sub_pd(z, kd), P##_set1_pd(FM_EXP_LN2_32));                     \
    VEC q = P##_fmadd_pd(P##_set1_pd(1.0 / 720), y, P##_set1_pd(1.0 / 120));                     \
    q = P##_fmadd_pd(q, y, P##_set1_pd(1.0 / 24));                                               \
    q = P##_fmadd_pd(q, y, P##_set1_pd(1.0 / 6));                                                \
    q = P##_fmadd_pd(q, y, P##_set1_pd(0.5));                                                    \
    q = P##_fmadd_pd(q, y, P##_set1_pd(1.0));                                                    \
    q = P##_mul_pd(q, y);                                                                        \
    const VEC s = P##_castsi##I##_pd(P##_add_epi64(P##_castpd_si##I(t), P##_slli_epi64(ki, 47))); \
    return P##_fmadd_pd(s, q, s);

/* Clamped argument x and the bits ki of round(x * 32 / ln 2) + 1.5 * 2^52. */
#define FM_EXP_ARGUMENT(VEC, P, I)                                                               \
    x = P##_min_pd(P##_set1_pd(89.0), P##_max_pd(P##_set1_pd(-104.0), x));                      \
    ki = P##_castpd_si##I(P##_add_pd(P##_mul_pd(x, P##_set1_pd(FM_EXP_INV_LN2_32)),              \
                                     P##_set1_pd(FM_EXP_SHIFT)));

#ifdef __AVX512F__
static inline __m512d fm_exp_lanes(__m512d x, __m512i ki, __m512d t)
{
    FM_EXP_LANES_BODY(__m512d, _mm512, 512)
}
/* 8 lanes of exp: the table entries from four registers by two two-source permutes. */
static inline __m512d fm_exp_pd(__m512d x, const __m512d tab[4])
{
    __m512i ki;
    FM_EXP_ARGUMENT(__m512d, _mm512, 512)
    const __m512d t = _mm512_mask_blend_pd(_mm512_test_epi64_mask(ki, _mm512_set1_epi64(16)),
                                           _mm512_permutex2var_pd(tab[0], ki, tab[1]),
                                           _mm512_permutex2var_pd(tab[2], ki, tab[3]));
    return fm_exp_lanes(x, ki, t);
}

static void fm_exp_row_f32(float *z, int64_t n, float a, float b)
{
    const __m512d tab[4] = {_mm512_load_pd((const double *)fm_exp2_32),
                            _mm512_load_pd((const double *)fm_exp2_32 + 8),
                            _mm512_load_pd((const double *)fm_exp2_32 + 16),
                            _mm512_load_pd((const double *)fm_exp2_32 + 24)};
    const __m512 va = _mm512_set1_ps(a), vb = _mm512_set1_ps(b);
    for (int64_t j = 0; j < n; j += 16) {
        const __mmask16 k = n - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - j)) - 1);
        const __m512 x = _mm512_sub_ps(_mm512_mul_ps(va, _mm512_maskz_loadu_ps(k, z + j)), vb);
        const __m256 xlo = _mm512_castps512_ps256(x);
        const __m256 xhi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1));
        const __m256 rlo = _mm512_cvtpd_ps(fm_exp_pd(_mm512_cvtps_pd(xlo), tab));
        const __m256 rhi = _mm512_cvtpd_ps(fm_exp_pd(_mm512_cvtps_pd(xhi), tab));
        _mm512_mask_storeu_ps(z + j, k,
                              _mm512_castpd_ps(_mm512_insertf64x4(
                                  _mm512_castps_pd(_mm512_castps256_ps512(rlo)),
                                  _mm256_castps_pd(rhi), 1)));
    }
}
#else
static inline __m256d fm_exp_lanes(__m256d x, __m256i ki, __m256d t)
{
    FM_EXP_LANES_BODY(__m256d, _mm256, 256)
}
/* 4 lanes of exp: the table entries gathered. */
static inline __m256d fm_exp_pd(__m256d x)
{
    __m256i ki;
    FM_EXP_ARGUMENT(__m256d, _mm256, 256)
    const __m256d t = _mm256_i64gather_pd((const double *)fm_exp2_32,
                                          _mm256_and_si256(ki, _mm256_set1_epi64x(31)), 8);
    return fm_exp_lanes(x, ki, t);
}

static void fm_exp_row_f32(float *z, int64_t n, float a, float b)
{
    const __m256 va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b);
    for (int64_t j = 0; j < n; j += 8) {
        const int rem = n - j >= 8 ? 8 : (int)(n - j);
        const __m256i k = _mm256_cmpgt_epi32(_mm256_set1_epi32(rem),
                                             _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        const __m256 x = _mm256_sub_ps(_mm256_mul_ps(va, _mm256_maskload_ps(z + j, k)), vb);
        const __m128 rlo = _mm256_cvtpd_ps(fm_exp_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(x))));
        const __m128 rhi = _mm256_cvtpd_ps(fm_exp_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(x, 1))));
        _mm256_maskstore_ps(z + j, k, _mm256_set_m128(rhi, rlo));
    }
}
#endif

#undef FM_EXP_LANES_BODY
#undef FM_EXP_ARGUMENT
