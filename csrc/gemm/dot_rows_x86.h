/* fastmlp C core: float32 dot products of rows of A with one vector b, 8 rows at a time, for the
 * one-column products (gemm_impl.h's gemv_task: an output layer of one unit), included by
 * gemm_avx2.c and gemm_avx512.c (both compiled for AVX2 and FMA).
 *
 * Each row gets gemv_task's arithmetic exactly: 8 lanes, lane l the fused multiply-adds of the
 * products p = l (mod 8) below k - k % 8 in p order, starting from 0; the lanes added to 0 in
 * lane order; then the last k % 8 products fused in p order. A lane is a float of a ymm register
 * (one register per row), and the lanes of 8 rows are transposed in registers so that the lane
 * sums are 8 vector additions for the 8 rows instead of 8 dependent scalar additions per row
 * (written as a loop, the compiler kept the whole product scalar). */

#include <math.h>

/* acc[i] = row i of A (k values; rows a_rs apart) . b[0:k), for i < rows. */
static void dot_rows_f32(int64_t rows, const float *a, int64_t a_rs, const float *b, int64_t k,
                         float *acc)
{
    const int64_t k8 = k - k % 8;
    int64_t i = 0;
    for (; i + 8 <= rows; i += 8) {
        const float *ai = a + i * a_rs;
        __m256 l[8];
        for (int r = 0; r < 8; r++)
            l[r] = _mm256_setzero_ps();
        for (int64_t p = 0; p < k8; p += 8) {
            const __m256 bv = _mm256_loadu_ps(b + p);
            for (int r = 0; r < 8; r++)
                l[r] = _mm256_fmadd_ps(_mm256_loadu_ps(ai + r * a_rs + p), bv, l[r]);
        }
        /* t[q] lane r = l[r] lane q: an 8 x 8 transpose */
        __m256 u[8], v[8], t[8];
        for (int r = 0; r < 8; r += 2) {
            u[r] = _mm256_unpacklo_ps(l[r], l[r + 1]);
            u[r + 1] = _mm256_unpackhi_ps(l[r], l[r + 1]);
        }
        for (int g = 0; g < 8; g += 4) {
            v[g] = _mm256_shuffle_ps(u[g], u[g + 2], 0x44);
            v[g + 1] = _mm256_shuffle_ps(u[g], u[g + 2], 0xEE);
            v[g + 2] = _mm256_shuffle_ps(u[g + 1], u[g + 3], 0x44);
            v[g + 3] = _mm256_shuffle_ps(u[g + 1], u[g + 3], 0xEE);
        }
        for (int q = 0; q < 4; q++) {
            t[q] = _mm256_permute2f128_ps(v[q], v[q + 4], 0x20);
            t[q + 4] = _mm256_permute2f128_ps(v[q], v[q + 4], 0x31);
        }
        __m256 sum = _mm256_setzero_ps();
        for (int q = 0; q < 8; q++)
            sum = _mm256_add_ps(sum, t[q]);
        _mm256_storeu_ps(acc + i, sum);
        for (int r = 0; r < 8; r++)
            for (int64_t p = k8; p < k; p++)
                acc[i + r] = fmaf(ai[r * a_rs + p], b[p], acc[i + r]);
    }
    for (; i < rows; i++) {
        const float *ai = a + i * a_rs;
        __m256 lanes = _mm256_setzero_ps();
        for (int64_t p = 0; p < k8; p += 8)
            lanes = _mm256_fmadd_ps(_mm256_loadu_ps(ai + p), _mm256_loadu_ps(b + p), lanes);
        float lane[8];
        _mm256_storeu_ps(lane, lanes);
        float sum = 0;
        for (int q = 0; q < 8; q++)
            sum += lane[q];
        for (int64_t p = k8; p < k; p++)
            sum = fmaf(ai[p], b[p], sum);
        acc[i] = sum;
    }
}
