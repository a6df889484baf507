/* fastmlp C core: instantiates gemm_impl.h for float and double under one instruction set.
 * The including file defines ISA (a name suffix such as generic or avx2), the register tiles
 * MR_F32 x NR_F32 and MR_F64 x NR_F64, and the microkernels kernel_<ISA>_f32 / _f64. */

#include <math.h>

#define FM_CAT3(a, b, c) a##_##b##_##c
#define FM_XCAT3(a, b, c) FM_CAT3(a, b, c)
#define FM_CAT2(a, b) a##_##b
#define FM_XCAT2(a, b) FM_CAT2(a, b)

/* Multiply-adds per thread below which this instruction set's products stay on one thread:
 * FM_PAR_MIN_WORK or four times it (internal.h), the default until fm_gemm_calibrate_<ISA>
 * has measured which one this machine wants. Results do not depend on it. */
#ifndef FM_GEMM_PAR_MIN_WORK_DEFAULT
#define FM_GEMM_PAR_MIN_WORK_DEFAULT FM_PAR_MIN_WORK
#endif
static double gemm_par_min_work = FM_GEMM_PAR_MIN_WORK_DEFAULT;
#define FM_GEMM_PAR_MIN_WORK gemm_par_min_work

#define REAL float
#define SUF(name) FM_XCAT3(name, ISA, f32)
#define MR MR_F32
#define NR NR_F32
#include "gemm_impl.h"
#undef REAL
#undef SUF
#undef MR
#undef NR

/* Times a 200 x 100 x 64 float product (1.28M multiply-adds: the 64-100-10 net's layers, about
 * 2.4 FM_PAR_MIN_WORK) on one thread and on two, best of 20 runs each, interleaved, and keeps
 * FM_PAR_MIN_WORK when two threads take less than 1 / 1.1 of one thread's time, four times it
 * otherwise: whether a second thread pays for such a product depends on the machine (on a
 * 2-vCPU Zen 5 two threads ran the 64-100-10 net's epochs 15% faster, on a 2-vCPU AVX-512 Xeon
 * 10% slower). Returns the one-thread / two-thread time ratio, or 0 when it could not measure
 * (one thread allowed, no OpenMP, a forked child, no memory; the setting is then left as it
 * is). Not while
 * another thread runs the core. */
double FM_XCAT2(fm_gemm_calibrate, ISA)(void)
{
#ifdef _OPENMP
    if (fm_serial_only || omp_get_max_threads() < 2)
        return 0;
    const int64_t m = 200, n = 100, k = 64;
    float *a = (float *)fm_aligned_alloc((size_t)(m * k + k * n + m * n) * sizeof(float));
    float *pack = (float *)fm_aligned_alloc(fm_gemm_pack_size() * sizeof(float));
    if (a == NULL || pack == NULL) {
        fm_aligned_free(a);
        fm_aligned_free(pack);
        return 0;
    }
    float *b = a + m * k, *c = b + k * n;
    for (int64_t i = 0; i < m * k + k * n; i++)
        a[i] = (float)(i % 13) * 0.125f - 0.75f;
    double best[2] = {HUGE_VAL, HUGE_VAL};
    for (int rep = 0; rep < 21; rep++) {
        for (int t = 0; t < 2; t++) {
            const double t0 = omp_get_wtime();
            FM_XCAT3(gemm_packed, ISA, f32)(m, n, k, 1, a, k, 1, b, n, 1, 0, c, n, pack, t + 1,
                                            NULL);
            const double dt = omp_get_wtime() - t0;
            if (rep > 0 && dt < best[t]) /* the first round starts the threads */
                best[t] = dt;
        }
    }
    fm_aligned_free(a);
    fm_aligned_free(pack);
    const double ratio = best[1] > 0 ? best[0] / best[1] : 0;
    if (ratio > 0)
        gemm_par_min_work = ratio > 1.1 ? FM_PAR_MIN_WORK : 4.0 * FM_PAR_MIN_WORK;
    return ratio;
#else
    return 0;
#endif
}

/* The multiply-adds per thread in force for this instruction set. */
double FM_XCAT2(fm_gemm_par_min_work, ISA)(void)
{
    return gemm_par_min_work;
}

#define REAL double
#define SUF(name) FM_XCAT3(name, ISA, f64)
#define MR MR_F64
#define NR NR_F64
#include "gemm_impl.h"
#undef REAL
#undef SUF
#undef MR
#undef NR
