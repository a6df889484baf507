/* fastmlp C core: GEMM for AVX2 + FMA, compiled with -mavx2 -mfma and called only on CPUs that
 * have both. Register tile: 6 rows x 2 ymm (6 x 16 floats, 6 x 8 doubles): 12 accumulators,
 * 2 vectors of B, 1 broadcast of A out of 16 registers. */
#include <immintrin.h>
#include <stdlib.h>

#include "../internal.h"

#define ISA avx2
#define MR_F32 6
#define NR_F32 16
#define MR_F64 6
#define NR_F64 8

#define MRK 6
#define MR_EDGE1 4
#define MR_EDGE2 2
#define ROWS_EDGE1(X) X(0) X(1) X(2) X(3)
#define ROWS_EDGE2(X) X(0) X(1)
#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define ZERO _mm256_setzero_ps
#define KNAME kernel_avx2_f32
#define KNAME_ROWS kernel_rows_avx2_f32
#define KNAME_HALF kernel_half_avx2_f32
#define KNAME_ROWS_HALF kernel_rows_half_avx2_f32
#define KNAME_EDGE1 kernel_edge1_avx2_f32
#define KNAME_ROWS_EDGE1 kernel_rows_edge1_avx2_f32
#define KNAME_EDGE2 kernel_edge2_avx2_f32
#define KNAME_ROWS_EDGE2 kernel_rows_edge2_avx2_f32
#define REAL float
#define VEC __m256
#define VLEN 8
#define LOADU _mm256_loadu_ps
#define STOREU _mm256_storeu_ps
#define BCAST _mm256_broadcast_ss
#define FMA _mm256_fmadd_ps
#define MUL _mm256_mul_ps
#define SET1 _mm256_set1_ps
#include "kernel_x86.h"

#define ZERO _mm256_setzero_pd
#define KNAME kernel_avx2_f64
#define KNAME_ROWS kernel_rows_avx2_f64
#define KNAME_HALF kernel_half_avx2_f64
#define KNAME_ROWS_HALF kernel_rows_half_avx2_f64
#define KNAME_EDGE1 kernel_edge1_avx2_f64
#define KNAME_ROWS_EDGE1 kernel_rows_edge1_avx2_f64
#define KNAME_EDGE2 kernel_edge2_avx2_f64
#define KNAME_ROWS_EDGE2 kernel_rows_edge2_avx2_f64
#define REAL double
#define VEC __m256d
#define VLEN 4
#define LOADU _mm256_loadu_pd
#define STOREU _mm256_storeu_pd
#define BCAST _mm256_broadcast_sd
#define FMA _mm256_fmadd_pd
#define MUL _mm256_mul_pd
#define SET1 _mm256_set1_pd
#include "kernel_x86.h"
#undef MRK
#undef ROWS
#undef ROWS_EDGE1
#undef ROWS_EDGE2

/* A B sliver from a column-major op(B) (B^T, the input gradients' W^T): column j of the sliver
 * is contiguous in memory (b + j * b_cs), so 8 columns x 8 (f32) or 4 x 4 (f64) k steps are
 * loaded as rows and transposed in registers, instead of NR scalar loads per k step. Columns
 * past nr are zero; a last chunk of k steps uses masked loads, which read nothing past kc. */
#define FM_PACK_B_COLUMNS

static void pack_b_columns_avx2_f32(int64_t nr, int64_t kc, const float *b, int64_t b_cs,
                                    float *bp)
{
    for (int64_t p0 = 0; p0 < kc; p0 += 8) {
        const int rem = kc - p0 < 8 ? (int)(kc - p0) : 8;
        const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(rem),
                                                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        for (int h = 0; h < 2; h++) {
            __m256 r[8], t[8], u[8], o[8];
            for (int j = 0; j < 8; j++)
                r[j] = h * 8 + j < nr ? _mm256_maskload_ps(b + (h * 8 + j) * b_cs + p0, mask)
                                      : _mm256_setzero_ps();
            /* t[2i + c] lane L: rows 2i, 2i + 1 of columns 4L + 2c, 4L + 2c + 1 */
            for (int i = 0; i < 4; i++) {
                t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
                t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
            }
            /* u[4g + c] lane L: column 4L + c of rows 4g .. 4g + 3 */
            for (int g = 0; g < 2; g++) {
                const __m256d a0 = _mm256_castps_pd(t[4 * g]), a1 = _mm256_castps_pd(t[4 * g + 1]);
                const __m256d a2 = _mm256_castps_pd(t[4 * g + 2]);
                const __m256d a3 = _mm256_castps_pd(t[4 * g + 3]);
                u[4 * g] = _mm256_castpd_ps(_mm256_unpacklo_pd(a0, a2));
                u[4 * g + 1] = _mm256_castpd_ps(_mm256_unpackhi_pd(a0, a2));
                u[4 * g + 2] = _mm256_castpd_ps(_mm256_unpacklo_pd(a1, a3));
                u[4 * g + 3] = _mm256_castpd_ps(_mm256_unpackhi_pd(a1, a3));
            }
            for (int c = 0; c < 4; c++) {
                o[c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x20);
                o[4 + c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x31);
            }
            for (int p = 0; p < rem; p++)
                _mm256_storeu_ps(bp + (p0 + p) * NR_F32 + h * 8, o[p]);
        }
    }
}

static void pack_b_columns_avx2_f64(int64_t nr, int64_t kc, const double *b, int64_t b_cs,
                                    double *bp)
{
    for (int64_t p0 = 0; p0 < kc; p0 += 4) {
        const int rem = kc - p0 < 4 ? (int)(kc - p0) : 4;
        const __m256i mask = _mm256_cmpgt_epi64(_mm256_set1_epi64x(rem),
                                                _mm256_setr_epi64x(0, 1, 2, 3));
        for (int h = 0; h < 2; h++) {
            __m256d r[4], t[4], o[4];
            for (int j = 0; j < 4; j++)
                r[j] = h * 4 + j < nr ? _mm256_maskload_pd(b + (h * 4 + j) * b_cs + p0, mask)
                                      : _mm256_setzero_pd();
            /* t[2i + c] lane L: column 2L + c of rows 2i, 2i + 1 */
            for (int i = 0; i < 2; i++) {
                t[2 * i] = _mm256_unpacklo_pd(r[2 * i], r[2 * i + 1]);
                t[2 * i + 1] = _mm256_unpackhi_pd(r[2 * i], r[2 * i + 1]);
            }
            for (int c = 0; c < 2; c++) {
                o[c] = _mm256_permute2f128_pd(t[c], t[2 + c], 0x20);
                o[2 + c] = _mm256_permute2f128_pd(t[c], t[2 + c], 0x31);
            }
            for (int p = 0; p < rem; p++)
                _mm256_storeu_pd(bp + (p0 + p) * NR_F64 + h * 4, o[p]);
        }
    }
}

/* The epilogue's row operations (epilogue_x86.h) with AVX2 lane masks (maskload/maskstore
 * for the last columns, and-masks for the selects). */
#define FM_EPILOGUE_ROWS
#define BIAS_ACT_ROW bias_act_row_avx2_f32
#define RELU_DERIV_ROW relu_deriv_row_avx2_f32
#define REAL float
#define VEC __m256
#define VLEN 8
#define MASK __m256i
#define MASK_FIRST(n) _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#define MASK_ALL _mm256_set1_epi32(-1)
#define LOAD_M(p, k) _mm256_maskload_ps(p, k)
#define STORE_M(p, k, v) _mm256_maskstore_ps(p, k, v)
#define ADD _mm256_add_ps
#define MUL _mm256_mul_ps
#define SET1 _mm256_set1_ps
#define KEEP_IF_GT0(x) _mm256_and_ps(_mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GT_OQ), x)
#define KEEP_IF_NONZERO(z, x) _mm256_and_ps(_mm256_cmp_ps(z, _mm256_setzero_ps(), _CMP_NEQ_UQ), x)
#include "epilogue_x86.h"

#define BIAS_ACT_ROW bias_act_row_avx2_f64
#define RELU_DERIV_ROW relu_deriv_row_avx2_f64
#define REAL double
#define VEC __m256d
#define VLEN 4
#define MASK __m256i
#define MASK_FIRST(n) _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3))
#define MASK_ALL _mm256_set1_epi64x(-1)
#define LOAD_M(p, k) _mm256_maskload_pd(p, k)
#define STORE_M(p, k, v) _mm256_maskstore_pd(p, k, v)
#define ADD _mm256_add_pd
#define MUL _mm256_mul_pd
#define SET1 _mm256_set1_pd
#define KEEP_IF_GT0(x) _mm256_and_pd(_mm256_cmp_pd(x, _mm256_setzero_pd(), _CMP_GT_OQ), x)
#define KEEP_IF_NONZERO(z, x) _mm256_and_pd(_mm256_cmp_pd(z, _mm256_setzero_pd(), _CMP_NEQ_UQ), x)
#include "epilogue_x86.h"

#define FM_DOT_ROWS
#include "dot_rows_x86.h"

#include "gemm_instances.h"
