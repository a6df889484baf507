/* fastmlp C core: the float32 output error of the log losses 16 rows at a time with AVX-512 (8
 * with AVX2), included by net_avx512.c and net_avx2.c after exp_x86.h (they define
 * FM_HAVE_LOSS_ROWS_F32 for net_isa.h).
 *
 * fm_loss_rows_f32 does for up to 16 (8) rows what net_impl.h's loss_row does for one: the softmax
 * (when the output layer's softmax is left to the loss pass), the clip, the log terms of the
 * log loss or the binary log loss, the error p - y times the sample weight, the row's weighted
 * loss and whether it is predicted right. The lanes are rows: each lane performs its row's IEEE
 * operations in the scalar code's order (its own maximum, exp, sum over the columns in column
 * order, divisions, clip, logs in double, loss sum in column order), so the results are the
 * scalar code's bits (the core is compiled with -ffp-contract=off, and fm_math.h's exp and log
 * are fixed sequences of operations). Per row, the scalar code spent most of its time in chains
 * of dependent scalar operations (the sum, the argmax, one log per row); across 16 rows they
 * are 16 (8) times shorter.
 *
 * A group of rows holding a NaN or an infinity among its logits (or probabilities), targets or
 * sample weights is declined (nothing written): the caller computes those rows with the scalar
 * code, which defines what happens to them. */
#include <float.h>
#include <immintrin.h>
#include <stdint.h>

#include "fm_math.h"

/* The most columns this path takes (the rest: the scalar rows). */
#define FM_LOSS_MAX_COLS 32

/* fm_log's polynomial and result from f and dk (fm_math.h), VEC the double vector type and P its
 * intrinsics' prefix: the same operations in the same order. */
#define FM_LOG_TAIL(VEC, P)                                                                      \
    const VEC hfsq = P##_mul_pd(P##_mul_pd(P##_set1_pd(0.5), f), f);                             \
    const VEC s = P##_div_pd(f, P##_add_pd(P##_set1_pd(2.0), f));                                \
    const VEC z = P##_mul_pd(s, s), w = P##_mul_pd(z, z);                                        \
    const VEC t1 = P##_mul_pd(                                                                   \
        w, P##_add_pd(P##_set1_pd(3.999999999940941908e-01),                                     \
                      P##_mul_pd(w, P##_add_pd(P##_set1_pd(2.222219843214978396e-01),            \
                                               P##_mul_pd(w, P##_set1_pd(1.531383769920937332e-01))))));  \
    const VEC t2 = P##_mul_pd(                                                                   \
        z, P##_add_pd(P##_set1_pd(6.666666666666735130e-01),                                     \
                      P##_mul_pd(w, P##_add_pd(P##_set1_pd(2.857142874366239149e-01),            \
                                               P##_mul_pd(w, P##_add_pd(P##_set1_pd(1.818357216161805012e-01), \
                                                                        P##_mul_pd(w, P##_set1_pd(1.479819860511658591e-01)))))))); \
    const VEC r = P##_add_pd(t2, t1);                                                            \
    VEC y = P##_add_pd(P##_mul_pd(s, P##_add_pd(hfsq, r)),                                       \
                       P##_mul_pd(dk, P##_set1_pd(1.90821492927058770002e-10)));                 \
    y = P##_add_pd(P##_sub_pd(y, hfsq), f);                                                      \
    return P##_add_pd(y, P##_mul_pd(dk, P##_set1_pd(6.93147180369123816490e-01)));

#ifdef __AVX512F__
/* Rows per group. */
#define FM_LOSS_LANES 16

/* fm_log (fm_math.h) of each lane of x, which must be positive, finite and normal (the clipped
 * probabilities are): the same operations in the same order, without the special cases. */
static inline __m512d fm_log_pd(__m512d x)
{
    const __m512i ix = _mm512_castpd_si512(x);
    __m512i hx = _mm512_add_epi64(_mm512_srli_epi64(ix, 32),
                                  _mm512_set1_epi64(0x3ff00000 - 0x3fe6a09e));
    const __m512i k = _mm512_sub_epi64(_mm512_srli_epi64(hx, 20), _mm512_set1_epi64(0x3ff));
    hx = _mm512_add_epi64(_mm512_and_epi64(hx, _mm512_set1_epi64(0x000fffff)),
                          _mm512_set1_epi64(0x3fe6a09e));
    const __m512i fx = _mm512_or_epi64(_mm512_slli_epi64(hx, 32),
                                       _mm512_and_epi64(ix, _mm512_set1_epi64(0xffffffffLL)));
    const __m512d f = _mm512_sub_pd(_mm512_castsi512_pd(fx), _mm512_set1_pd(1.0));
    const __m512d dk = _mm512_cvtepi32_pd(_mm512_cvtepi64_epi32(k)); /* |k| < 2^11: exact */
    FM_LOG_TAIL(__m512d, _mm512)
}

/* The low and high 8 lanes of v as doubles, and back (rounded to float). */
static inline __m512d fm_lanes_lo_pd(__m512 v)
{
    return _mm512_cvtps_pd(_mm512_castps512_ps256(v));
}
static inline __m512d fm_lanes_hi_pd(__m512 v)
{
    return _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}
static inline __m512 fm_lanes_join_ps(__m512d lo, __m512d hi)
{
    return _mm512_castpd_ps(_mm512_insertf64x4(
        _mm512_castps_pd(_mm512_castps256_ps512(_mm512_cvtpd_ps(lo))),
        _mm256_castps_pd(_mm512_cvtpd_ps(hi)), 1));
}

/* fm_expf_of (fm_math.h) of 16 float arguments. */
static inline __m512 fm_expf_ps(__m512 x, const __m512d tab[4])
{
    return fm_lanes_join_ps(fm_exp_pd(fm_lanes_lo_pd(x), tab), fm_exp_pd(fm_lanes_hi_pd(x), tab));
}

/* fm_logf (fm_math.h) of 16 float arguments in [FLT_EPSILON, 1]. */
static inline __m512 fm_logf_ps(__m512 x)
{
    return fm_lanes_join_ps(fm_log_pd(fm_lanes_lo_pd(x)), fm_log_pd(fm_lanes_hi_pd(x)));
}

/* li -= (double)wt * (double)logf(x) in the lanes of mask m (li as two halves of 8 lanes). */
static inline void fm_loss_sub_log(__m512d li[2], __mmask16 m, __m512 wt, __m512 x)
{
    const __m512 lg = fm_logf_ps(x);
    li[0] = _mm512_mask_sub_pd(li[0], (__mmask8)m, li[0],
                               _mm512_mul_pd(fm_lanes_lo_pd(wt), fm_lanes_lo_pd(lg)));
    li[1] = _mm512_mask_sub_pd(li[1], (__mmask8)(m >> 8), li[1],
                               _mm512_mul_pd(fm_lanes_hi_pd(wt), fm_lanes_hi_pd(lg)));
}

/* Whether each lane of v is finite (v - v == 0), within the lanes of m. */
static inline __mmask16 fm_lanes_finite(__mmask16 m, __m512 v)
{
    return _mm512_mask_cmp_ps_mask(m, _mm512_sub_ps(v, v), _mm512_setzero_ps(), _CMP_EQ_OQ);
}

/* The output error of n rows (1 <= n <= 16, cols <= FM_LOSS_MAX_COLS) of the log loss
 * (binary == 0: p is the softmax's output, or its logits when softmax_rows) or the binary log
 * loss (binary == 1): writes p (softmax_rows), d = (p - y) * sw, row_loss = sw * loss and
 * row_score = sw * correct, as net_impl.h's loss_row does row by row (sw == NULL: weights 1).
 * Returns 0, having written nothing, when the rows hold a value that is not finite. */
static int fm_loss_rows_f32(int binary, int softmax_rows, int64_t cols, int64_t n, float *p,
                            const float *y, const float *sw, float *d, double *row_loss,
                            double *row_score)
{
    const __mmask16 act = n >= FM_LOSS_LANES ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
    const __m512i at = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        _mm512_set1_epi32((int)cols));
    const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f);
    __m512 pv[FM_LOSS_MAX_COLS], yv[FM_LOSS_MAX_COLS];
    __mmask16 finite = act;
    __m512 top = zero;
    for (int64_t j = 0; j < cols; j++) {
        pv[j] = _mm512_mask_i32gather_ps(zero, act, at, p + j, 4);
        yv[j] = _mm512_mask_i32gather_ps(zero, act, at, y + j, 4);
        finite = fm_lanes_finite(finite, pv[j]);
        finite = fm_lanes_finite(finite, yv[j]);
        /* softmax_row's maximum: the first column, then each larger one */
        top = j == 0 ? pv[0]
                     : _mm512_mask_blend_ps(_mm512_cmp_ps_mask(pv[j], top, _CMP_GT_OQ), top,
                                            pv[j]);
    }
    const __m512 wv = sw ? _mm512_mask_loadu_ps(one, act, sw) : one;
    if (sw)
        finite = fm_lanes_finite(finite, wv);
    if (finite != act)
        return 0;
    if (softmax_rows) { /* softmax_row: exp(z - max), their sum in column order, divisions */
        const __m512d tab[4] = {_mm512_load_pd((const double *)fm_exp2_32),
                                _mm512_load_pd((const double *)fm_exp2_32 + 8),
                                _mm512_load_pd((const double *)fm_exp2_32 + 16),
                                _mm512_load_pd((const double *)fm_exp2_32 + 24)};
        __m512 sum = zero;
        for (int64_t j = 0; j < cols; j++) {
            pv[j] = fm_expf_ps(_mm512_sub_ps(_mm512_mul_ps(one, pv[j]), top), tab);
            sum = _mm512_add_ps(sum, pv[j]);
        }
        for (int64_t j = 0; j < cols; j++) {
            pv[j] = _mm512_div_ps(pv[j], sum);
            _mm512_mask_i32scatter_ps(p + j, act, at, pv[j], 4);
        }
    }
    const __m512 lo = _mm512_set1_ps(FLT_EPSILON), hi = _mm512_set1_ps(1.0f - FLT_EPSILON);
    const __m512 half = _mm512_set1_ps(0.5f);
    __m512d li[2] = {_mm512_setzero_pd(), _mm512_setzero_pd()};
    /* the log loss: the first nonzero target of each row, and whether a row has more */
    __mmask16 seen = 0, more = 0, right = act;
    __m512 p_first = one, y_first = zero, p_top = zero, y_top = zero;
    __m512i p_arg = _mm512_setzero_si512(), y_arg = _mm512_setzero_si512();
    for (int64_t j = 0; j < cols; j++) {
        const __m512 pj = pv[j], yj = yv[j];
        /* scikit-learn's clip: pj < lo ? lo : (pj > hi ? hi : pj) */
        const __m512 pc = _mm512_mask_blend_ps(
            _mm512_cmp_ps_mask(pj, lo, _CMP_LT_OQ),
            _mm512_mask_blend_ps(_mm512_cmp_ps_mask(pj, hi, _CMP_GT_OQ), pj, hi), lo);
        __m512 dj = _mm512_sub_ps(pj, yj);
        if (sw)
            dj = _mm512_mul_ps(dj, wv);
        _mm512_mask_i32scatter_ps(d + j, act, at, dj, 4);
        const __mmask16 nz = _mm512_mask_cmp_ps_mask(act, yj, zero, _CMP_NEQ_UQ);
        if (binary) {
            const __m512 y1 = _mm512_sub_ps(one, yj);
            const __mmask16 nz1 = _mm512_mask_cmp_ps_mask(act, y1, zero, _CMP_NEQ_UQ);
            if ((nz & nz1) == 0) { /* hard targets: one term per row, one log */
                const __m512 wt = _mm512_mask_blend_ps(nz, y1, yj);
                fm_loss_sub_log(li, nz | nz1, wt, _mm512_mask_blend_ps(nz, _mm512_sub_ps(one, pc), pc));
            } else { /* the y term, then the (1 - y) term */
                fm_loss_sub_log(li, nz, yj, pc);
                fm_loss_sub_log(li, nz1, y1, _mm512_sub_ps(one, pc));
            }
            /* row_correct: every output on the target's side of 1/2 */
            right &= ~(_mm512_cmp_ps_mask(pj, half, _CMP_GT_OQ) ^
                       _mm512_cmp_ps_mask(yj, half, _CMP_GT_OQ));
        } else {
            const __mmask16 first = nz & (__mmask16)~seen;
            p_first = _mm512_mask_blend_ps(first, p_first, pc);
            y_first = _mm512_mask_blend_ps(first, y_first, yj);
            more |= nz & seen;
            seen |= nz;
            pv[j] = pc; /* for the rows with more than one term */
            /* row_correct: the arg maxes of p and y (the first largest) */
            if (j == 0) {
                p_top = pj;
                y_top = yj;
            } else {
                const __mmask16 gp = _mm512_cmp_ps_mask(pj, p_top, _CMP_GT_OQ);
                const __mmask16 gy = _mm512_cmp_ps_mask(yj, y_top, _CMP_GT_OQ);
                p_top = _mm512_mask_blend_ps(gp, p_top, pj);
                y_top = _mm512_mask_blend_ps(gy, y_top, yj);
                p_arg = _mm512_mask_mov_epi32(p_arg, gp, _mm512_set1_epi32((int)j));
                y_arg = _mm512_mask_mov_epi32(y_arg, gy, _mm512_set1_epi32((int)j));
            }
        }
    }
    if (!binary) {
        if (more == 0) { /* one-hot targets: li = 0 - y * log(p) where a target is nonzero */
            fm_loss_sub_log(li, seen, y_first, p_first);
        } else { /* soft targets: the terms in column order */
            for (int64_t j = 0; j < cols; j++) {
                const __mmask16 nz = _mm512_mask_cmp_ps_mask(act, yv[j], zero, _CMP_NEQ_UQ);
                if (nz)
                    fm_loss_sub_log(li, nz, yv[j], pv[j]);
            }
        }
        right = _mm512_mask_cmpeq_epi32_mask(act, p_arg, y_arg);
    }
    __m512d ri[2] = {_mm512_maskz_mov_pd((__mmask8)right, _mm512_set1_pd(1.0)),
                     _mm512_maskz_mov_pd((__mmask8)(right >> 8), _mm512_set1_pd(1.0))};
    if (sw) {
        const __m512d w_lo = fm_lanes_lo_pd(wv), w_hi = fm_lanes_hi_pd(wv);
        li[0] = _mm512_mul_pd(li[0], w_lo);
        li[1] = _mm512_mul_pd(li[1], w_hi);
        ri[0] = _mm512_mul_pd(ri[0], w_lo);
        ri[1] = _mm512_mul_pd(ri[1], w_hi);
    }
    _mm512_mask_storeu_pd(row_loss, (__mmask8)act, li[0]);
    _mm512_mask_storeu_pd(row_loss + 8, (__mmask8)(act >> 8), li[1]);
    _mm512_mask_storeu_pd(row_score, (__mmask8)act, ri[0]);
    _mm512_mask_storeu_pd(row_score + 8, (__mmask8)(act >> 8), ri[1]);
    return 1;
}
#else
/* Rows per group. */
#define FM_LOSS_LANES 8

/* fm_log (fm_math.h) of each lane of x, positive, finite and normal (see the AVX-512 one). */
static inline __m256d fm_log_pd(__m256d x)
{
    const __m256i ix = _mm256_castpd_si256(x);
    __m256i hx = _mm256_add_epi64(_mm256_srli_epi64(ix, 32),
                                  _mm256_set1_epi64x(0x3ff00000 - 0x3fe6a09e));
    const __m256i k = _mm256_sub_epi64(_mm256_srli_epi64(hx, 20), _mm256_set1_epi64x(0x3ff));
    hx = _mm256_add_epi64(_mm256_and_si256(hx, _mm256_set1_epi64x(0x000fffff)),
                          _mm256_set1_epi64x(0x3fe6a09e));
    const __m256i fx = _mm256_or_si256(_mm256_slli_epi64(hx, 32),
                                       _mm256_and_si256(ix, _mm256_set1_epi64x(0xffffffffLL)));
    const __m256d f = _mm256_sub_pd(_mm256_castsi256_pd(fx), _mm256_set1_pd(1.0));
    /* the low 32 bits of each k (|k| < 2^11), converted exactly */
    const __m256i k32 = _mm256_permutevar8x32_epi32(k, _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6));
    const __m256d dk = _mm256_cvtepi32_pd(_mm256_castsi256_si128(k32));
    FM_LOG_TAIL(__m256d, _mm256)
}

/* The low and high 4 lanes of v as doubles, and back (rounded to float). */
static inline __m256d fm_lanes_lo_pd(__m256 v)
{
    return _mm256_cvtps_pd(_mm256_castps256_ps128(v));
}
static inline __m256d fm_lanes_hi_pd(__m256 v)
{
    return _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
}
static inline __m256 fm_lanes_join_ps(__m256d lo, __m256d hi)
{
    return _mm256_set_m128(_mm256_cvtpd_ps(hi), _mm256_cvtpd_ps(lo));
}
/* A lane mask of 8 floats as two masks of 4 doubles. */
static inline __m256d fm_mask_lo_pd(__m256 m)
{
    return _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm256_castsi256_si128(_mm256_castps_si256(m))));
}
static inline __m256d fm_mask_hi_pd(__m256 m)
{
    return _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm256_extracti128_si256(_mm256_castps_si256(m), 1)));
}

static inline __m256 fm_expf_ps(__m256 x)
{
    return fm_lanes_join_ps(fm_exp_pd(fm_lanes_lo_pd(x)), fm_exp_pd(fm_lanes_hi_pd(x)));
}
static inline __m256 fm_logf_ps(__m256 x)
{
    return fm_lanes_join_ps(fm_log_pd(fm_lanes_lo_pd(x)), fm_log_pd(fm_lanes_hi_pd(x)));
}

/* li -= (double)wt * (double)logf(x) in the lanes of mask m. */
static inline void fm_loss_sub_log(__m256d li[2], __m256 m, __m256 wt, __m256 x)
{
    const __m256 lg = fm_logf_ps(x);
    li[0] = _mm256_blendv_pd(li[0], _mm256_sub_pd(li[0], _mm256_mul_pd(fm_lanes_lo_pd(wt),
                                                                       fm_lanes_lo_pd(lg))),
                             fm_mask_lo_pd(m));
    li[1] = _mm256_blendv_pd(li[1], _mm256_sub_pd(li[1], _mm256_mul_pd(fm_lanes_hi_pd(wt),
                                                                       fm_lanes_hi_pd(lg))),
                             fm_mask_hi_pd(m));
}

/* Bits of the lanes of v that are finite. */
static inline int fm_lanes_finite(__m256 v)
{
    return _mm256_movemask_ps(_mm256_cmp_ps(_mm256_sub_ps(v, v), _mm256_setzero_ps(), _CMP_EQ_OQ));
}

/* v's lanes l < n to base[l * cols] (AVX2 has no scatter). */
static inline void fm_lanes_store(float *base, int64_t cols, int64_t n, __m256 v)
{
    float lanes[8];
    _mm256_storeu_ps(lanes, v);
    for (int64_t l = 0; l < n; l++)
        base[l * cols] = lanes[l];
}

/* As the AVX-512 fm_loss_rows_f32 above, for up to 8 rows. */
static int fm_loss_rows_f32(int binary, int softmax_rows, int64_t cols, int64_t n, float *p,
                            const float *y, const float *sw, float *d, double *row_loss,
                            double *row_score)
{
    const int act = n >= FM_LOSS_LANES ? 0xFF : (int)((1u << n) - 1);
    const __m256 actv = _mm256_castsi256_ps(
        _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
    const __m256i at = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                          _mm256_set1_epi32((int)cols));
    const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
    __m256 pv[FM_LOSS_MAX_COLS], yv[FM_LOSS_MAX_COLS];
    int finite = act;
    __m256 top = zero;
    for (int64_t j = 0; j < cols; j++) {
        pv[j] = _mm256_mask_i32gather_ps(zero, p + j, at, actv, 4);
        yv[j] = _mm256_mask_i32gather_ps(zero, y + j, at, actv, 4);
        finite &= fm_lanes_finite(pv[j]) & fm_lanes_finite(yv[j]);
        /* softmax_row's maximum: the first column, then each larger one */
        top = j == 0 ? pv[0] : _mm256_blendv_ps(top, pv[j], _mm256_cmp_ps(pv[j], top, _CMP_GT_OQ));
    }
    const __m256 wv = sw ? _mm256_blendv_ps(one, _mm256_maskload_ps(sw, _mm256_castps_si256(actv)),
                                            actv)
                         : one;
    if (sw)
        finite &= fm_lanes_finite(wv);
    if ((finite & act) != act)
        return 0;
    if (softmax_rows) { /* softmax_row: exp(z - max), their sum in column order, divisions */
        __m256 sum = zero;
        for (int64_t j = 0; j < cols; j++) {
            pv[j] = fm_expf_ps(_mm256_sub_ps(_mm256_mul_ps(one, pv[j]), top));
            sum = _mm256_add_ps(sum, pv[j]);
        }
        for (int64_t j = 0; j < cols; j++) {
            pv[j] = _mm256_div_ps(pv[j], sum);
            fm_lanes_store(p + j, cols, n, pv[j]);
        }
    }
    const __m256 lo = _mm256_set1_ps(FLT_EPSILON), hi = _mm256_set1_ps(1.0f - FLT_EPSILON);
    const __m256 half = _mm256_set1_ps(0.5f);
    __m256d li[2] = {_mm256_setzero_pd(), _mm256_setzero_pd()};
    __m256 seen = zero, more = zero, right = actv; /* lane masks */
    __m256 p_first = one, y_first = zero, p_top = zero, y_top = zero;
    __m256 p_arg = zero, y_arg = zero; /* column numbers, as bits */
    for (int64_t j = 0; j < cols; j++) {
        const __m256 pj = pv[j], yj = yv[j];
        /* scikit-learn's clip: pj < lo ? lo : (pj > hi ? hi : pj) */
        const __m256 pc = _mm256_blendv_ps(
            _mm256_blendv_ps(pj, hi, _mm256_cmp_ps(pj, hi, _CMP_GT_OQ)), lo,
            _mm256_cmp_ps(pj, lo, _CMP_LT_OQ));
        __m256 dj = _mm256_sub_ps(pj, yj);
        if (sw)
            dj = _mm256_mul_ps(dj, wv);
        fm_lanes_store(d + j, cols, n, dj);
        const __m256 nz = _mm256_and_ps(actv, _mm256_cmp_ps(yj, zero, _CMP_NEQ_UQ));
        if (binary) {
            const __m256 y1 = _mm256_sub_ps(one, yj);
            const __m256 nz1 = _mm256_and_ps(actv, _mm256_cmp_ps(y1, zero, _CMP_NEQ_UQ));
            if (_mm256_movemask_ps(_mm256_and_ps(nz, nz1)) == 0) { /* one term per row */
                const __m256 wt = _mm256_blendv_ps(y1, yj, nz);
                fm_loss_sub_log(li, _mm256_or_ps(nz, nz1), wt,
                                _mm256_blendv_ps(_mm256_sub_ps(one, pc), pc, nz));
            } else { /* the y term, then the (1 - y) term */
                fm_loss_sub_log(li, nz, yj, pc);
                fm_loss_sub_log(li, nz1, y1, _mm256_sub_ps(one, pc));
            }
            /* row_correct: every output on the target's side of 1/2 */
            right = _mm256_andnot_ps(_mm256_xor_ps(_mm256_cmp_ps(pj, half, _CMP_GT_OQ),
                                                   _mm256_cmp_ps(yj, half, _CMP_GT_OQ)),
                                     right);
        } else {
            const __m256 first = _mm256_andnot_ps(seen, nz);
            p_first = _mm256_blendv_ps(p_first, pc, first);
            y_first = _mm256_blendv_ps(y_first, yj, first);
            more = _mm256_or_ps(more, _mm256_and_ps(nz, seen));
            seen = _mm256_or_ps(seen, nz);
            pv[j] = pc; /* for the rows with more than one term */
            /* row_correct: the arg maxes of p and y (the first largest) */
            if (j == 0) {
                p_top = pj;
                y_top = yj;
            } else {
                const __m256 gp = _mm256_cmp_ps(pj, p_top, _CMP_GT_OQ);
                const __m256 gy = _mm256_cmp_ps(yj, y_top, _CMP_GT_OQ);
                const __m256 col = _mm256_castsi256_ps(_mm256_set1_epi32((int)j));
                p_top = _mm256_blendv_ps(p_top, pj, gp);
                y_top = _mm256_blendv_ps(y_top, yj, gy);
                p_arg = _mm256_blendv_ps(p_arg, col, gp);
                y_arg = _mm256_blendv_ps(y_arg, col, gy);
            }
        }
    }
    if (!binary) {
        if (_mm256_movemask_ps(more) == 0) { /* one-hot targets: li = 0 - y * log(p) */
            fm_loss_sub_log(li, seen, y_first, p_first);
        } else { /* soft targets: the terms in column order */
            for (int64_t j = 0; j < cols; j++) {
                const __m256 nz = _mm256_and_ps(actv, _mm256_cmp_ps(yv[j], zero, _CMP_NEQ_UQ));
                if (_mm256_movemask_ps(nz))
                    fm_loss_sub_log(li, nz, yv[j], pv[j]);
            }
        }
        right = _mm256_and_ps(actv, _mm256_castsi256_ps(_mm256_cmpeq_epi32(
                                        _mm256_castps_si256(p_arg), _mm256_castps_si256(y_arg))));
    }
    __m256d ri[2] = {_mm256_and_pd(fm_mask_lo_pd(right), _mm256_set1_pd(1.0)),
                     _mm256_and_pd(fm_mask_hi_pd(right), _mm256_set1_pd(1.0))};
    if (sw) {
        const __m256d w_lo = fm_lanes_lo_pd(wv), w_hi = fm_lanes_hi_pd(wv);
        li[0] = _mm256_mul_pd(li[0], w_lo);
        li[1] = _mm256_mul_pd(li[1], w_hi);
        ri[0] = _mm256_mul_pd(ri[0], w_lo);
        ri[1] = _mm256_mul_pd(ri[1], w_hi);
    }
    const __m256i store_lo = _mm256_castpd_si256(fm_mask_lo_pd(actv));
    const __m256i store_hi = _mm256_castpd_si256(fm_mask_hi_pd(actv));
    _mm256_maskstore_pd(row_loss, store_lo, li[0]);
    _mm256_maskstore_pd(row_loss + 4, store_hi, li[1]);
    _mm256_maskstore_pd(row_score, store_lo, ri[0]);
    _mm256_maskstore_pd(row_score + 4, store_hi, ri[1]);
    return 1;
}
#endif

#undef FM_LOG_TAIL
