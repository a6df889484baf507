/* fastmlp C core: the elementwise functions of training and prediction (exp, log, tanh, erf,
 * expm1, log1p in float and double, and integer powers), fastmlp's own rather than the C
 * library's, so that every platform (glibc, musl, macOS, Windows; x86 or aarch64) and every
 * instruction set computes the same bits. Each is a fixed sequence of IEEE operations, with
 * fused multiply-adds written as fma() (the core is compiled with -ffp-contract=off): the same
 * result wherever fma() is one instruction or a library call.
 *
 * Accuracy (tests/test_fm_math.py measures it against mpmath): double exp, log, expm1, log1p
 * and tanh within about 1 ulp, erf within about 2 ulp; the float functions are the double ones
 * rounded once (within 1 ulp, nearly always correctly rounded), except exp, which is the float32
 * exp rows' algorithm (below: correctly rounded on every float). Special values follow C99:
 * exp(-inf) = 0, exp(inf) = inf, log(0) = -inf, log(x < 0) = NaN, tanh(+-inf) = +-1,
 * erf(+-inf) = +-1, signed zeros kept, NaN in NaN out. In the core's floating-point mode
 * (internal.h: subnormals flushed to zero) a subnormal argument counts as zero.
 *
 * Included by net_isa.h (every instruction set) and exp_x86.h (the table). */
#ifndef FASTMLP_FM_MATH_H
#define FASTMLP_FM_MATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t fm_as_bits(double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof(u));
    return u;
}
static inline double fm_from_bits(uint64_t u)
{
    double x;
    memcpy(&x, &u, sizeof(x));
    return x;
}

/* ---- float exp: z[j] = exp(a * z[j] - b), the float32 exp rows ----
 * In double, x = max(-104, min(89, x)) (NaN passes through); k = round(x * 32 / ln 2) and
 * y = x - k ln 2 / 32 (|y| <= ln 2 / 64), so exp(x) = 2^(k / 32) * exp(y) with 2^(j / 32)
 * (j = k mod 32) from a table and exp(y) - 1 from its Taylor series to y^6 (truncation below
 * 4e-18); the double result is rounded to float once. Checked against (float)expl(x) on every
 * float x in [-104, 88.72] (flush-to-zero on, as in the core): equal on all of them. Below -104
 * the result is 0 (as the true value, 6.8e-46 or less, rounds), above 88.72 it overflows to
 * infinity, NaN gives NaN. exp_x86.h computes the very same operations with AVX2 / AVX-512
 * intrinsics, 4 or 8 lanes at a time.
 *
 * The table holds bits(2^(j / 32)) - j << 47, so that adding k << 47 (two's complement, from
 * the bits of k + 1.5 * 2^52) puts k div 32 into the exponent without a signed shift. */
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

/* exp of a float argument (given as a double), rounded to float. */
static inline float fm_expf_of(double x)
{
    x = x < -104.0 ? -104.0 : x; /* comparisons false for NaN: it passes through */
    x = x > 89.0 ? 89.0 : x;
    const double z = x * FM_EXP_INV_LN2_32;
    const double kz = z + FM_EXP_SHIFT;
    const uint64_t ki = fm_as_bits(kz);
    const double kd = kz - FM_EXP_SHIFT;
    const double y = (z - kd) * FM_EXP_LN2_32;
    double q = fma(1.0 / 720, y, 1.0 / 120);
    q = fma(q, y, 1.0 / 24);
    q = fma(q, y, 1.0 / 6);
    q = fma(q, y, 0.5);
    q = fma(q, y, 1.0);
    q = q * y;
    const double s = fm_from_bits(fm_exp2_32[ki & 31] + (ki << 47));
    return (float)fma(s, q, s);
}

static inline float fm_expf(float x)
{
    return fm_expf_of((double)x);
}

/* z[j] = exp(a * z[j] - b) for j < n (a is 1 or -1, so a * z[j] is exact). */
static inline void fm_exp_row_f32_portable(float *z, int64_t n, float a, float b)
{
    for (int64_t j = 0; j < n; j++) {
        const float x = a * z[j] - b;
        z[j] = fm_expf_of((double)x);
    }
}

/* ---- double exp ----
 * k = round(x * 64 / ln 2), r = x - k ln 2 / 64 in two fused steps (|r| <= ln 2 / 128 plus a
 * rounding), exp(r) - 1 from its Taylor series to r^6 (truncation below 3e-20), times
 * 2^(j / 64) (j = k mod 64) held as a double and its remainder, then 2^(k div 64) applied as
 * two exact powers of two (the second multiplication rounds a subnormal result once, or
 * overflows). */
static const double fm_exp2_64[128] = {
    0x1.0000000000000p+0, 0x0.0p+0, 0x1.02c9a3e778061p+0, -0x1.19083535b085dp-56,
    0x1.059b0d3158574p+0, 0x1.d73e2a475b465p-55, 0x1.0874518759bc8p+0, 0x1.186be4bb284ffp-57,
    0x1.0b5586cf9890fp+0, 0x1.8a62e4adc610bp-54, 0x1.0e3ec32d3d1a2p+0, 0x1.03a1727c57b53p-59,
    0x1.11301d0125b51p+0, -0x1.6c51039449b3ap-54, 0x1.1429aaea92de0p+0, -0x1.32fbf9af1369ep-54,
    0x1.172b83c7d517bp+0, -0x1.19041b9d78a76p-55, 0x1.1a35beb6fcb75p+0, 0x1.e5b4c7b4968e4p-55,
    0x1.1d4873168b9aap+0, 0x1.e016e00a2643cp-54, 0x1.2063b88628cd6p+0, 0x1.dc775814a8495p-55,
    0x1.2387a6e756238p+0, 0x1.9b07eb6c70573p-54, 0x1.26b4565e27cddp+0, 0x1.2bd339940e9d9p-55,
    0x1.29e9df51fdee1p+0, 0x1.612e8afad1255p-55, 0x1.2d285a6e4030bp+0, 0x1.0024754db41d5p-54,
    0x1.306fe0a31b715p+0, 0x1.6f46ad23182e4p-55, 0x1.33c08b26416ffp+0, 0x1.32721843659a6p-54,
    0x1.371a7373aa9cbp+0, -0x1.63aeabf42eae2p-54, 0x1.3a7db34e59ff7p+0, -0x1.5e436d661f5e3p-56,
    0x1.3dea64c123422p+0, 0x1.ada0911f09ebcp-55, 0x1.4160a21f72e2ap+0, -0x1.ef3691c309278p-58,
    0x1.44e086061892dp+0, 0x1.89b7a04ef80d0p-59, 0x1.486a2b5c13cd0p+0, 0x1.3c1a3b69062f0p-56,
    0x1.4bfdad5362a27p+0, 0x1.d4397afec42e2p-56, 0x1.4f9b2769d2ca7p+0, -0x1.4b309d25957e3p-54,
    0x1.5342b569d4f82p+0, -0x1.07abe1db13cadp-55, 0x1.56f4736b527dap+0, 0x1.9bb2c011d93adp-54,
    0x1.5ab07dd485429p+0, 0x1.6324c054647adp-54, 0x1.5e76f15ad2148p+0, 0x1.ba6f93080e65ep-54,
    0x1.6247eb03a5585p+0, -0x1.383c17e40b497p-54, 0x1.6623882552225p+0, -0x1.bb60987591c34p-54,
    0x1.6a09e667f3bcdp+0, -0x1.bdd3413b26456p-54, 0x1.6dfb23c651a2fp+0, -0x1.bbe3a683c88abp-57,
    0x1.71f75e8ec5f74p+0, -0x1.16e4786887a99p-55, 0x1.75feb564267c9p+0, -0x1.0245957316dd3p-54,
    0x1.7a11473eb0187p+0, -0x1.41577ee04992fp-55, 0x1.7e2f336cf4e62p+0, 0x1.05d02ba15797ep-56,
    0x1.82589994cce13p+0, -0x1.d4c1dd41532d8p-54, 0x1.868d99b4492edp+0, -0x1.fc6f89bd4f6bap-54,
    0x1.8ace5422aa0dbp+0, 0x1.6e9f156864b27p-54, 0x1.8f1ae99157736p+0, 0x1.5cc13a2e3976cp-55,
    0x1.93737b0cdc5e5p+0, -0x1.75fc781b57ebcp-57, 0x1.97d829fde4e50p+0, -0x1.d185b7c1b85d1p-54,
    0x1.9c49182a3f090p+0, 0x1.c7c46b071f2bep-56, 0x1.a0c667b5de565p+0, -0x1.359495d1cd533p-54,
    0x1.a5503b23e255dp+0, -0x1.d2f6edb8d41e1p-54, 0x1.a9e6b5579fdbfp+0, 0x1.0fac90ef7fd31p-54,
    0x1.ae89f995ad3adp+0, 0x1.7a1cd345dcc81p-54, 0x1.b33a2b84f15fbp+0, -0x1.2805e3084d708p-57,
    0x1.b7f76f2fb5e47p+0, -0x1.5584f7e54ac3bp-56, 0x1.bcc1e904bc1d2p+0, 0x1.23dd07a2d9e84p-55,
    0x1.c199bdd85529cp+0, 0x1.11065895048ddp-55, 0x1.c67f12e57d14bp+0, 0x1.2884dff483cadp-54,
    0x1.cb720dcef9069p+0, 0x1.503cbd1e949dbp-56, 0x1.d072d4a07897cp+0, -0x1.cbc3743797a9cp-54,
    0x1.d5818dcfba487p+0, 0x1.2ed02d75b3707p-55, 0x1.da9e603db3285p+0, 0x1.c2300696db532p-54,
    0x1.dfc97337b9b5fp+0, -0x1.1a5cd4f184b5cp-54, 0x1.e502ee78b3ff6p+0, 0x1.39e8980a9cc8fp-55,
    0x1.ea4afa2a490dap+0, -0x1.e9c23179c2893p-54, 0x1.efa1bee615a27p+0, 0x1.dc7f486a4b6b0p-54,
    0x1.f50765b6e4540p+0, 0x1.9d3e12dd8a18bp-54, 0x1.fa7c1819e90d8p+0, 0x1.74853f3a5931ep-55,
};
#define FM_EXP_INV_LN2_64 0x1.71547652b82fep+6
#define FM_EXP_LN2_64_HI 0x1.62e42fefa39efp-7
#define FM_EXP_LN2_64_LO 0x1.abc9e3b39803fp-62

/* 2^e for -1022 <= e <= 1023. */
static inline double fm_pow2(int64_t e)
{
    return fm_from_bits((uint64_t)(e + 1023) << 52);
}

/* The parts of exp(x) for x in [-746, 710] (NaN passes): exp(x) = 2^e * (t + tail), t the
 * table's 2^(j / 64) and tail = t * (exp(r) - 1) + the table's remainder. */
static inline void fm_exp_parts(double x, double *t, double *tail, int64_t *e)
{
    const double kz = x * FM_EXP_INV_LN2_64 + FM_EXP_SHIFT;
    const double kd = kz - FM_EXP_SHIFT;
    const int64_t k = (int64_t)(fm_as_bits(kz) - fm_as_bits(FM_EXP_SHIFT));
    double r = fma(-kd, FM_EXP_LN2_64_HI, x);
    r = fma(-kd, FM_EXP_LN2_64_LO, r);
    double q = fma(1.0 / 720, r, 1.0 / 120);
    q = fma(q, r, 1.0 / 24);
    q = fma(q, r, 1.0 / 6);
    q = fma(q, r, 0.5);
    const double p = fma(q, r * r, r); /* exp(r) - 1 */
    const int64_t j = k & 63;
    *t = fm_exp2_64[2 * j];
    *tail = fma(*t, p, fm_exp2_64[2 * j + 1]);
    *e = (k - j) / 64;
}

static inline double fm_exp(double x)
{
    x = x < -746.0 ? -746.0 : x; /* NaN passes */
    x = x > 710.0 ? 710.0 : x;
    double t, tail;
    int64_t e;
    fm_exp_parts(x, &t, &tail, &e);
    const int64_t e1 = e / 2;
    return (t + tail) * fm_pow2(e1) * fm_pow2(e - e1);
}

/* ---- double log ----
 * x = 2^k (1 + f) with 1 + f in [sqrt(2) / 2, sqrt(2)); log(1 + f) = f - f^2 / 2 + s (f^2 / 2
 * + R(s^2)) with s = f / (2 + f) and R the classic minimax polynomial (fdlibm's e_log.c, error
 * below 1 ulp); k ln 2 in two parts. */
static inline double fm_log(double x)
{
    if (!(x > 0) || x == INFINITY) {
        if (x == 0)
            return -INFINITY;
        return x == INFINITY ? x : (x < 0 ? NAN : x + x); /* x < 0: NaN; NaN: NaN */
    }
    int64_t k = 0;
    uint64_t ix = fm_as_bits(x);
    if (ix < 0x0010000000000000ULL) { /* subnormal (when not flushed to zero) */
        ix = fm_as_bits(x * 0x1p54);
        k = -54;
    }
    uint64_t hx = (ix >> 32) + (0x3ff00000 - 0x3fe6a09e);
    k += (int64_t)(hx >> 20) - 0x3ff;
    hx = (hx & 0x000fffff) + 0x3fe6a09e;
    const double f = fm_from_bits(hx << 32 | (ix & 0xffffffffULL)) - 1.0;
    const double hfsq = 0.5 * f * f;
    const double s = f / (2.0 + f);
    const double z = s * s, w = z * z;
    const double t1 = w * (3.999999999940941908e-01 +
                           w * (2.222219843214978396e-01 + w * 1.531383769920937332e-01));
    const double t2 = z * (6.666666666666735130e-01 +
                           w * (2.857142874366239149e-01 +
                                w * (1.818357216161805012e-01 + w * 1.479819860511658591e-01)));
    const double r = t2 + t1, dk = (double)k;
    return s * (hfsq + r) + dk * 1.90821492927058770002e-10 - hfsq + f +
           dk * 6.93147180369123816490e-01;
}

/* ---- double log1p: log(u) + (x - (u - 1)) / u with u = 1 + x rounded (the correction
 * restores what the rounding of u lost) ---- */
static inline double fm_log1p(double x)
{
    const double u = 1.0 + x;
    if (u == 1.0)
        return x; /* |x| below 2^-53: log1p(x) rounds to x; keeps -0 */
    if (!(u > 0) || u == INFINITY)
        return fm_log(u); /* -1: -inf; below: NaN; inf, NaN */
    return fm_log(u) + (x - (u - 1.0)) / u;
}

/* ---- double expm1 ----
 * |x| < 0.41: the Taylor series to x^15 (truncation below 2^-58 relative), x + x^2 q(x);
 * beyond it, exp's parts: 2^e t - 1 exactly as a sum of two doubles (TwoSum), plus 2^e tail. */
static const double fm_expm1_taylor[14] = {
    1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720, 1.0 / 5040, 1.0 / 40320, 1.0 / 362880,
    1.0 / 3628800, 1.0 / 39916800, 1.0 / 479001600, 1.0 / 6227020800.0,
    1.0 / 87178291200.0, 1.0 / 1307674368000.0};

static inline double fm_expm1(double x)
{
    if (fabs(x) < 0x1p-54)
        return x; /* expm1(x) rounds to x; keeps -0 */
    if (fabs(x) < 0.41) {
        double q = fm_expm1_taylor[13];
        for (int i = 12; i >= 0; i--)
            q = fma(q, x, fm_expm1_taylor[i]);
        return fma(x * x, q, x);
    }
    if (x < -40.0)
        return -1.0; /* exp(x) below 2^-57: -1 + exp(x) rounds to -1 */
    if (!(x < 700.0))
        return fm_exp(x) - 1.0; /* large, inf, NaN */
    double t, tail;
    int64_t e;
    fm_exp_parts(x, &t, &tail, &e);
    const double scale = fm_pow2(e);
    const double a = t * scale, lo = tail * scale;
    const double u = a - 1.0, av = u + 1.0, bv = u - av; /* TwoSum(a, -1) */
    const double err = (a - av) + (-1.0 - bv);
    return u + (err + lo);
}

/* ---- double tanh ----
 * |x| < 0.55: the Taylor series (odd powers to x^41, truncation below 2^-58 relative),
 * x + x^3 P(x^2); beyond it 1 - 2 / (exp(2 |x|) + 1) with the sign of x (1 from |x| > 22). */
static const double fm_tanh_taylor[20] = {
    -0x1.5555555555555p-2, 0x1.1111111111111p-3, -0x1.ba1ba1ba1ba1cp-5,
    0x1.664f4882c10fap-6, -0x1.226e355e6c23dp-7, 0x1.d6d3d0e157de0p-9,
    -0x1.7da36452b75e3p-10, 0x1.3558248036744p-11, -0x1.f57d7734d1664p-13,
    0x1.967e18afcafadp-14, -0x1.497d8eea25259p-15, 0x1.0b132d39a6050p-16,
    -0x1.b0f72d3ee24e9p-18, 0x1.5ef2da474e5b7p-19, -0x1.1c77df95c1c0dp-20,
    0x1.cd299de4ae6bbp-22, -0x1.75cde6563fed9p-23, 0x1.2efe8db3aff1fp-24,
    -0x1.eb3229047434cp-26, 0x1.8e25ff9327e2cp-27};

static inline double fm_tanh(double x)
{
    const double ax = fabs(x);
    if (ax < 0x1p-28)
        return x; /* the x^3 term is below 2^-56 x; keeps -0 */
    if (ax < 0.55) {
        const double w = x * x;
        double q = fm_tanh_taylor[19];
        for (int i = 18; i >= 0; i--)
            q = fma(q, w, fm_tanh_taylor[i]);
        return fma(x * w, q, x);
    }
    if (!(ax <= 22.0))
        return ax > 22.0 ? copysign(1.0, x) : x + x; /* NaN: NaN */
    const double t = 1.0 - 2.0 / (fm_exp(2.0 * ax) + 1.0);
    return copysign(t, x);
}

/* ---- double erf ----
 * |x| < 0.5: the Taylor series at 0 to x^27 (alternating, truncation below 2^-58 relative);
 * 0.5 <= |x| < 6: the Taylor series of erf at the middle a of the 0.25-wide interval holding |x|,
 * to h^15 (h = |x| - a, |h| <= 1/8; truncation below 2^-62 relative), with erf(a) held as two
 * doubles (coefficients from mpmath at 150 bits); from 6 on, +-1 (1 - erf(6) < 2^-54). */
static const double fm_erf_taylor[14] = {
    0x1.0000000000000p+0, -0x1.5555555555555p-2, 0x1.999999999999ap-4,
    -0x1.8618618618618p-6, 0x1.2f684bda12f68p-8, -0x1.8d3018d3018d3p-11,
    0x1.c01c01c01c01cp-14, -0x1.bbd779334ef0bp-17, 0x1.87a00187a0018p-20,
    -0x1.3777c55568ccdp-23, 0x1.c2e3054870b38p-27, -0x1.2b67310aa9f3ap-30,
    0x1.6f448e13e85e1p-34, -0x1.a289ee7e40f74p-38};
#define FM_ERF_C 0x1.20dd750429b6dp+0 /* 2 / sqrt(pi) */
#define FM_ERF_C_LO 0x1.1ae3a914fed80p-56
#define FM_ERF_DEGREE 15
/* Per interval: erf(a) (two doubles), then the Taylor coefficients of h^1 .. h^15. */
static const double fm_erf_centers[22][FM_ERF_DEGREE + 2] = {
    {/* a = 0.625 */
     0x1.3f196dcd0f135p-1, -0x1.f25f4f6fdf70bp-56, 0x1.86e9694134b9ep-1,
     -0x1.e8a3c39181e85p-2, -0x1.c8105021682e3p-5, 0x1.6963c8a39d692p-3,
     -0x1.c1242dfffc503p-6, -0x1.52b2668e8627dp-5, 0x1.c7cd9c1ca7367p-7,
     0x1.b62f4a7484034p-8, -0x1.dc3b46fdc32b4p-9, -0x1.81148d81da2abp-11,
     0x1.63796d17c397ep-11, 0x1.55121d5901343p-15, -0x1.a17211d2c836ep-14,
     0x1.d91470c8a466fp-19, 0x1.939d347c232ffp-17},
    {/* a = 0.875 */
     0x1.91724951b8fc6p-1, -0x1.27912dd352f8bp-55, 0x1.0cab61f084b93p-1,
     -0x1.d62beb64e8441p-2, 0x1.7c9d756a115bbp-4, 0x1.cc60567d78c2bp-4,
     -0x1.1350f4b222ac7p-4, -0x1.53bb4a5af4fbep-7, 0x1.30ac21937fa54p-6,
     -0x1.e3f4d17a9ac97p-10, -0x1.aae22e15f782dp-9, 0x1.d6e44e4c09455p-11,
     0x1.9900077d94d8ap-12, -0x1.94ae412712f8bp-13, -0x1.e70fe4fe69605p-16,
     0x1.e7cc73fe79191p-16, 0x1.b2508d667800cp-23},
    {/* a = 1.125 */
     0x1.c6dad2829ec62p-1, -0x1.ab76d4cba3d05p-57, 0x1.45e99bcbb7915p-2,
     -0x1.6ea6cf452e838p-2, 0x1.4cb3cf0aa0b9bp-3, 0x1.ca5083167a246p-6,
     -0x1.f65d15f1cf8d7p-5, 0x1.fd1c6c11eda72p-7, 0x1.3acc78420e9d3p-7,
     -0x1.8b43c43f205b7p-8, -0x1.79b04d104b47ap-12, 0x1.2e527649b7b04p-10,
     -0x1.731a0a163486bp-13, -0x1.28de963721690p-13, 0x1.9edd4cdd5c251p-15,
     0x1.67a9d4aaf087dp-17, -0x1.0367fc36cf467p-17},
    {/* a = 1.375 */
     0x1.e5768c3b4a3fcp-1, 0x1.8b62674f89890p-57, 0x1.5ce595c455b0ap-3,
     -0x1.dfbbadedf5d2ep-3, 0x1.4374d82e04c67p-3, -0x1.f3b8d52d35665p-6,
     -0x1.f572c4c8c7b0cp-6, 0x1.6b16f52c58b2bp-6, -0x1.73ffa9b859606p-10,
     -0x1.1740474706a1cp-8, 0x1.9da3d48ffd0a3p-10, 0x1.534f6c4dc679bp-12,
     -0x1.6392df39d614dp-12, 0x1.e13333b2abeefp-16, 0x1.5e43917418c74p-15,
     -0x1.921e058bbf683p-17, -0x1.8ef85de5e68c4p-19},
    {/* a = 1.625 */
     0x1.f4f693b67bd77p-1, -0x1.3a1ee1406c356p-56, 0x1.499d478bca735p-4,
     -0x1.0bcfca21947dbp-3, 0x1.d6631e1a28e9ep-4, -0x1.974c03686729dp-5,
     -0x1.17d430bd57df4p-9, 0x1.d857f2c4bc9b6p-7, -0x1.954ab0f57a01ep-8,
     -0x1.2e43eef270fc5p-11, 0x1.71cd78555df62p-10, -0x1.75457224274f8p-12,
     -0x1.07892ddcb78e9p-13, 0x1.70f93e04bd30dp-14, -0x1.1e9ab9843baf7p-18,
     -0x1.63faf4af253acp-17, 0x1.7b7c269186d0fp-19},
    {/* a = 1.875 */
     0x1.fbe61eef4cf6ap-1, 0x1.15ded88667618p-55, 0x1.12ceb37ff9bc3p-5,
     -0x1.01a1c847fa207p-4, 0x1.143d1c6f4f093p-4, -0x1.5a316520b81bap-5,
     0x1.779b1e57043ccp-7, 0x1.0d099c7b29ddep-8, -0x1.42fcbaa85e8aap-8,
     0x1.76ff57db443cap-10, 0x1.7bda79657b833p-12, -0x1.991c209f22659p-12,
     0x1.353eeafcf9fccp-14, 0x1.2e9cb5a4b81e1p-15, -0x1.5d07bf672bc0cp-16,
     0x1.b5c64438cd3e2p-21, 0x1.3e58631192517p-19},
    {/* a = 2.125 */
     0x1.fea4218d6594ap-1, -0x1.e3333d8f7d98cp-58, 0x1.94624e78e0fafp-7,
     -0x1.ada873606f0aap-6, 0x1.0ea475da3be7fp-5, -0x1.afe553fa44f40p-6,
     0x1.9973b489fa221p-7, -0x1.dd78ee1541166p-10, -0x1.ea03bb2493671p-10,
     0x1.6aa2c0b920d39p-10, -0x1.2fdb2fcf76069p-12, -0x1.01788a2adcda8p-13,
     0x1.8dd7aaa44262bp-14, -0x1.f70c69dddafe1p-17, -0x1.1c63c54b0b820p-17,
     0x1.31565abd2c590p-18, -0x1.017888d12dbc3p-22},
    {/* a = 2.375 */
     0x1.ff9960f3eb327p-1, -0x1.08b1ca6e97f80p-56, 0x1.06918b6355624p-8,
     -0x1.37ccd585f564bp-7, 0x1.c1ec102e364f1p-7, -0x1.ae59615f8eb1ap-7,
     0x1.11dae47350ddep-7, -0x1.982b274b81788p-9, 0x1.0283e0b81b24ap-13,
     0x1.377c452e88a90p-11, -0x1.61ec70a692e42p-12, 0x1.cae81a7d269ecp-15,
     0x1.092767732524fp-15, -0x1.5cf9e49762523p-16, 0x1.a5c9bfe4a433fp-19,
     0x1.c216855d38a39p-20, -0x1.edf0f55348160p-21},
    {/* a = 2.625 */
     0x1.ffe514bbdc197p-1, -0x1.cd963345b5c6dp-58, 0x1.2ce898809244ep-10,
     -0x1.8af14828bffa7p-9, 0x1.407fbd18f1201p-8, -0x1.62d4c6d49c7b0p-8,
     0x1.146c4b3e28c45p-8, -0x1.267f3bc3eb5a4p-9, 0x1.64f891b0c9bd5p-11,
     0x1.229ef0be9e918p-15, -0x1.4006bb88db24fp-13, 0x1.3631d47d55298p-14,
     -0x1.5a7e166eeb7a4p-17, -0x1.c0ce5a29eef4cp-18, 0x1.16fa2e058d95cp-18,
     -0x1.6b774f84c5fcep-21, -0x1.2a36e5551189ep-22},
    {/* a = 2.875 */
     0x1.fff9ba420e834p-1, 0x1.1379ec5aa630ep-56, 0x1.30538fbb77ecdp-12,
     -0x1.b5781e9d7c647p-11, 0x1.89e17c074d373p-10, -0x1.ed4ac7daea43ep-10,
     0x1.c11f27065ca3fp-10, -0x1.2add1ce773e8ep-10, 0x1.151f7854a4982p-11,
     -0x1.1c63ff4200387p-13, -0x1.0ec4b7a0e2922p-16, 0x1.1814499946fc1p-15,
     -0x1.f1014fd3fb252p-17, 0x1.119cf80980e9dp-19, 0x1.3eae6af3e1196p-20,
     -0x1.9618ecf8f25a0p-21, 0x1.33094f7157b2bp-23},
    {/* a = 3.125 */
     0x1.fffeb3ebb267bp-1, 0x1.e47f697047cbap-57, 0x1.0f9e1b4dd36dfp-14,
     -0x1.a8670aa99a5bcp-13, 0x1.a3737e2a2f2bcp-12, -0x1.24544f02d2a7ep-11,
     0x1.2e7e763d3371bp-11, -0x1.da496e53546cfp-12, 0x1.176cf6641d8cap-12,
     -0x1.d2ac6c8cdd1ebp-14, 0x1.aafdbd335f9fcp-16, 0x1.03f2f284de14cp-18,
     -0x1.ab2ef5582c7b5p-18, 0x1.6e35d70bd3c3ep-19, -0x1.bc99a1e9d0ad2p-22,
     -0x1.77b2f960ce544p-23, 0x1.0aa1fc7ee16a0p-23},
    {/* a = 3.375 */
     0x1.ffffc316d9ed0p-1, -0x1.8b32f44f46b3bp-55, 0x1.abe09e9144b5ep-17,
     -0x1.690585ca91f98p-15, 0x1.84522fe8815bcp-14, -0x1.298f8d45f650ap-13,
     0x1.577577885f858p-13, -0x1.330aab77d471cp-13, 0x1.ac9997dd049bcp-14,
     -0x1.cc1578b9af656p-15, 0x1.64c530bff5499p-16, -0x1.34f0301aa55b8p-18,
     -0x1.5f92b1610bdc3p-21, 0x1.1e1d7e12793fdp-20, -0x1.ef13e0f0bd673p-22,
     0x1.5f1ef7fdb3c8ep-24, 0x1.5cb51ee858286p-26},
    {/* a = 3.625 */
     0x1.fffff618c3da6p-1, -0x1.19309ce23aa3ep-58, 0x1.296a70f414053p-19,
     -0x1.0d88765d3224bp-17, 0x1.394b1fa67116dp-16, -0x1.05760ad1bcf9ap-15,
     0x1.4c1fe48a5aa68p-15, -0x1.4b98203383ad1p-15, 0x1.085c0f8220827p-15,
     -0x1.510a3c05c70ffp-16, 0x1.516554a419344p-17, -0x1.f31a25c84a6cfp-19,
     0x1.b0737cb186e0ep-21, 0x1.49b56fe56c743p-24, -0x1.4fe2824279eacp-23,
     0x1.3067117995f29p-24, -0x1.ffa6d16112e52p-27},
    {/* a = 3.875 */
     0x1.fffffe92ced93p-1, -0x1.d2db2ecfe14aep-55, 0x1.6ce1aa3fd7bddp-22,
     -0x1.617a9cedd8ffep-20, 0x1.b95fa39b39f7fp-19, -0x1.8e1fc41538bd9p-18,
     0x1.137172180139ep-17, -0x1.2eb290b1828d4p-17, 0x1.0d8c35cb01026p-17,
     -0x1.88856a366325dp-18, 0x1.d25c45f8a9f83p-19, -0x1.bbbb8753a480dp-20,
     0x1.40016003f88c1p-21, -0x1.20d2ab47c8421p-23, -0x1.0aa78b8bd55cfp-28,
     0x1.55986b9ba653ep-26, -0x1.507987787c87cp-27},
    {/* a = 4.125 */
     0x1.ffffffd169d0cp-1, 0x1.70a2bfb068e6fp-55, 0x1.8b0cfce0579e0p-25,
     -0x1.976564c75a5afp-23, 0x1.0fdac559b6f5ep-21, -0x1.07600ca6e0e9cp-20,
     0x1.89ca7745e4767p-20, -0x1.d73aa4e4aaf59p-20, 0x1.cd9e0d8f2560bp-20,
     -0x1.7710b613c30dfp-20, 0x1.fc1a0fa573822p-21, -0x1.1dd3d347deeb6p-21,
     0x1.06740b9513a19p-22, -0x1.774a00b925d73p-24, 0x1.68745ddaf21ecp-26,
     -0x1.ce97ebb34bb9ap-31, -0x1.256a4146c281cp-29},
    {/* a = 4.375 */
     0x1.fffffffabd229p-1, -0x1.4dbe49bec3ef2p-57, 0x1.7974e743dea3dp-28,
     -0x1.9cd7dcf23b832p-26, 0x1.252af6f48c16ep-24, -0x1.2f7354e6b6be4p-23,
     0x1.e7102f88aac97p-23, -0x1.3ab0b0f09fe65p-22, 0x1.4f6108472d72ap-22,
     -0x1.2b631fb5b771bp-22, 0x1.c3b77353e13ecp-23, -0x1.20cda17595a48p-23,
     0x1.37a00bff086c9p-24, -0x1.176bceabb09f7p-25, 0x1.90b5e3cf554d1p-27,
     -0x1.9c3a78d0214d1p-29, 0x1.5027db8e86672p-32},
    {/* a = 4.625 */
     0x1.ffffffff79626p-1, 0x1.5fbc52d650a89p-55, 0x1.3e44e45301b92p-31,
     -0x1.6fffa7fff9fe1p-29, 0x1.1508f768eb555p-27, -0x1.30fd0c66a5b01p-26,
     0x1.05563283e1361p-25, -0x1.6a3a9d4a6da46p-25, 0x1.a06fc9ea921ebp-25,
     -0x1.93e268e746071p-25, 0x1.4e212f38f9c87p-25, -0x1.da89559e491c6p-26,
     0x1.21b0c557b18cfp-26, -0x1.2ecea9af78a8fp-27, 0x1.0b80bd3b1ce29p-28,
     -0x1.8386e173fe47bp-30, 0x1.a9fd38ead87b0p-32},
    {/* a = 4.875 */
     0x1.fffffffff4188p-1, 0x1.7a2cb3d056eacp-55, 0x1.d9a880f306bd8p-35,
     -0x1.20a2ae94181b8p-32, 0x1.cb2a2e5641b36p-31, -0x1.0bc6ecf6645d8p-29,
     0x1.e7ba5766cb95ap-29, -0x1.6893476b33c38p-28, 0x1.bc2ac3bce3ac4p-28,
     -0x1.d00ffcf73cab7p-28, 0x1.a05e56a71c912p-28, -0x1.43759506a0001p-28,
     0x1.b5239a5e5cc2bp-29, -0x1.012853a8b8f19p-29, 0x1.0670ceaaac7bap-30,
     -0x1.cbcc3099fb9fep-32, 0x1.51cbb1dfbd2fap-33},
    {/* a = 5.125 */
     0x1.ffffffffff11ap-1, -0x1.3eafccbc6e8b7p-56, 0x1.370ab8327af5ep-38,
     -0x1.8e85bc00ad8b0p-36, 0x1.4decacbf8701ap-34, -0x1.9b3c55800869ap-33,
     0x1.8c78e44811b28p-32, -0x1.373cd6e3f4f4ap-31, 0x1.988ab1c536dd3p-31,
     -0x1.c8c018018c16fp-31, 0x1.b8bfce1b6a364p-31, -0x1.729162312895bp-31,
     0x1.112de726fe540p-31, -0x1.626354e33b833p-32, 0x1.94bdd23ca3b67p-33,
     -0x1.95ba2c587ebfap-34, 0x1.620cecde91c8cp-35},
    {/* a = 5.375 */
     0x1.ffffffffffef8p-1, 0x1.14be6226402c7p-56, 0x1.68823e52970bep-42,
     -0x1.e46f03befaf7fp-40, 0x1.aa76120eb3034p-38, -0x1.146faeb890610p-36,
     0x1.192d3b25dae4fp-35, -0x1.d2eaae6914ef6p-35, 0x1.450d4b1246c74p-34,
     -0x1.82c3010c284b4p-34, 0x1.8ec2c7fcbecf9p-34, -0x1.67e90893f09ffp-34,
     0x1.1e7a8e0ec8711p-34, -0x1.9435ee5852925p-35, 0x1.fae61c832b2efp-36,
     -0x1.1a9ef3de4dd7dp-36, 0x1.1792789e27ee0p-37},
    {/* a = 5.625 */
     0x1.ffffffffffff0p-1, -0x1.20ef3618f2d54p-56, 0x1.70beaf9c7ffb6p-46,
     -0x1.0346137a09fccp-43, 0x1.de74c0dc3aba0p-42, -0x1.459c8175c38afp-40,
     0x1.5c5ee402a02eep-39, -0x1.30e3dc0ff1ab4p-38, 0x1.c0877a56439cep-38,
     -0x1.1ab48f02f237fp-37, 0x1.35c64dfb4bc16p-37, -0x1.2a3cdc2bf640ap-37,
     0x1.fca6a42cea8acp-38, -0x1.827c3541a2b74p-38, 0x1.06b9bb0970a89p-38,
     -0x1.404ea9194a24ep-39, 0x1.5e5966819069fp-40},
    {/* a = 5.875 */
     0x1.fffffffffffffp-1, 0x1.0439397b5f70ap-56, 0x1.4cd9c04158cd7p-50,
     -0x1.e8dfd25ffa6dcp-48, 0x1.d7c149fc9e073p-46, -0x1.50429df3842b0p-44,
     0x1.796a3a04a8924p-43, -0x1.5b22817aba1d7p-42, 0x1.0ce14dc9c5faap-41,
     -0x1.65b980f3348e2p-41, 0x1.9ebf43e481ac6p-41, -0x1.a7bb7dd3bf60fp-41,
     0x1.80c169d78e7b0p-41, -0x1.3889b41660747p-41, 0x1.c8739a8fc1403p-42,
     -0x1.2caa6be56320bp-42, 0x1.66044f9093ad1p-43},
};

static inline double fm_erf(double x)
{
    const double ax = fabs(x);
    if (ax < 0x1p-28)
        return fma(FM_ERF_C, x, FM_ERF_C_LO * x); /* the x^3 term is below 2^-56 x; keeps -0 */
    if (ax < 0.5) {
        const double w = x * x;
        double q = fm_erf_taylor[13];
        for (int i = 12; i >= 1; i--)
            q = fma(q, w, fm_erf_taylor[i]);
        const double small = FM_ERF_C * (x * w) * q;
        return fma(FM_ERF_C, x, fma(FM_ERF_C_LO, x, small));
    }
    if (ax < 6.0) {
        const int i = (int)((ax - 0.5) * 4.0);
        const double *c = fm_erf_centers[i];
        const double h = ax - (0.625 + 0.25 * i); /* exact */
        double q = c[FM_ERF_DEGREE + 1];
        for (int k = FM_ERF_DEGREE; k >= 2; k--)
            q = fma(q, h, c[k]);
        return copysign(c[0] + fma(h, q, c[1]), x);
    }
    return ax >= 6.0 ? copysign(1.0, x) : x + x; /* NaN: NaN */
}

/* ---- integer powers: b^n (n >= 0) by squaring in double-double arithmetic, then rounded once
 * (relative error below 2^-100 before the rounding: the correctly rounded value but for
 * arguments within that distance of a rounding boundary) ---- */
static inline void fm_dd_mul(double ah, double al, double bh, double bl, double *h, double *l)
{
    const double p = ah * bh;
    double e = fma(ah, bh, -p);
    e = fma(ah, bl, e);
    e = fma(al, bh, e);
    *h = p + e;
    *l = e - (*h - p);
}

static inline double fm_powi(double b, int64_t n)
{
    double rh = 1, rl = 0, bh = b, bl = 0;
    while (n > 0) {
        if (n & 1)
            fm_dd_mul(rh, rl, bh, bl, &rh, &rl);
        n >>= 1;
        if (n > 0)
            fm_dd_mul(bh, bl, bh, bl, &bh, &bl);
    }
    return rh + rl;
}

/* fm_powi(a, n) and fm_powi(b, n) at once: the same operations, the two chains interleaved (the
 * optimizer's bias corrections take both powers of the step number every batch). */
static inline void fm_powi2(double a, double b, int64_t n, double *pa, double *pb)
{
    double rh = 1, rl = 0, ah = a, al = 0;
    double sh = 1, sl = 0, bh = b, bl = 0;
    while (n > 0) {
        if (n & 1) {
            fm_dd_mul(rh, rl, ah, al, &rh, &rl);
            fm_dd_mul(sh, sl, bh, bl, &sh, &sl);
        }
        n >>= 1;
        if (n > 0) {
            fm_dd_mul(ah, al, ah, al, &ah, &al);
            fm_dd_mul(bh, bl, bh, bl, &bh, &bl);
        }
    }
    *pa = rh + rl;
    *pb = sh + sl;
}

/* ---- float: the double functions rounded once (exp: fm_expf above) ---- */
static inline float fm_logf(float x)
{
    return (float)fm_log((double)x);
}
static inline float fm_log1pf(float x)
{
    return (float)fm_log1p((double)x);
}
static inline float fm_expm1f(float x)
{
    return (float)fm_expm1((double)x);
}
static inline float fm_tanhf(float x)
{
    return (float)fm_tanh((double)x);
}
static inline float fm_erff(float x)
{
    return (float)fm_erf((double)x);
}

#endif
