/* fastmlp C core: the float32 exp rows with AVX2 or AVX-512 intrinsics, included by net_avx2.c
 * and net_avx512.c (which define FM_HAVE_EXP_ROW_F32 for net_isa.h).
 *
 * fm_exp_row_f32(z, n, a, b): z[j] = exp(a * z[j] - b) for j < n, the argument rounded to float
 * first exactly as the scalar expression would be (a is 1 or -1, so a * z[j] is exact). Used by
 * the softmax rows (exp(z - max)), the logistic rows (exp(-z)) and the exp activation, where a
 * scalar call per element took about a tenth of a digits-net batch on the calling thread.
 *
 * The algorithm, its table and its accuracy (correctly rounded on every float) are fm_math.h's
 * fm_expf_of: these are the very same operations, 4 (AVX2) or 8 (AVX-512) doubles at a time, so
 * the portable rows (fm_exp_row_f32_portable) give the same bits. */
#include <immintrin.h>
#include <stdint.h>

#include "fm_math.h"

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
