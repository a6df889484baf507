/* fastmlp C core: GEMM for AVX-512F, compiled with -mavx512f -mavx2 -mfma and called only on
 * CPUs (and operating systems) that support it. Register tile: 12 rows x 2 zmm (12 x 32 floats,
 * 12 x 16 doubles): 24 accumulators, 2 vectors of B, 1 broadcast of A out of 32 registers. */
#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>

#include "../internal.h"

#define FM_BCAST_PS(p) _mm512_set1_ps(*(p))
#define FM_BCAST_PD(p) _mm512_set1_pd(*(p))

#define ISA avx512
/* About twice the AVX2 kernel's rate per core: a product needs twice the work before a second
 * thread pays for its share of the job's hand-over. */
#define FM_GEMM_PAR_MIN_WORK (2.0 * FM_PAR_MIN_WORK)
#define MR_F32 12
#define NR_F32 32
#define MR_F64 12
#define NR_F64 16

#define MRK 12
#define MR_EDGE1 8
#define MR_EDGE2 4
#define ROWS_EDGE1(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define ROWS_EDGE2(X) X(0) X(1) X(2) X(3)
#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define ZERO _mm512_setzero_ps
#define KNAME kernel_avx512_f32
#define KNAME_ROWS kernel_rows_avx512_f32
#define KNAME_ROWS_AHEAD kernel_rows_ahead_avx512_f32
#define KNAME_HALF kernel_half_avx512_f32
#define KNAME_ROWS_HALF kernel_rows_half_avx512_f32
#define KNAME_EDGE1 kernel_edge1_avx512_f32
#define KNAME_ROWS_EDGE1 kernel_rows_edge1_avx512_f32
#define KNAME_EDGE2 kernel_edge2_avx512_f32
#define KNAME_ROWS_EDGE2 kernel_rows_edge2_avx512_f32
#define REAL float
#define VEC __m512
#define VLEN 16
#define LOADU _mm512_loadu_ps
#define STOREU _mm512_storeu_ps
#define BCAST FM_BCAST_PS
#define FMA _mm512_fmadd_ps
#define MUL _mm512_mul_ps
#define SET1 _mm512_set1_ps
#include "kernel_x86.h"

#define ZERO _mm512_setzero_pd
#define KNAME kernel_avx512_f64
#define KNAME_ROWS kernel_rows_avx512_f64
#define KNAME_ROWS_AHEAD kernel_rows_ahead_avx512_f64
#define KNAME_HALF kernel_half_avx512_f64
#define KNAME_ROWS_HALF kernel_rows_half_avx512_f64
#define KNAME_EDGE1 kernel_edge1_avx512_f64
#define KNAME_ROWS_EDGE1 kernel_rows_edge1_avx512_f64
#define KNAME_EDGE2 kernel_edge2_avx512_f64
#define KNAME_ROWS_EDGE2 kernel_rows_edge2_avx512_f64
#define REAL double
#define VEC __m512d
#define VLEN 8
#define LOADU _mm512_loadu_pd
#define STOREU _mm512_storeu_pd
#define BCAST FM_BCAST_PD
#define FMA _mm512_fmadd_pd
#define MUL _mm512_mul_pd
#define SET1 _mm512_set1_pd
#include "kernel_x86.h"
/* gemm_impl.h's forward product for predict's blocks calls the kernel_rows_ahead kernels */
#define FM_KERNEL_ROWS_AHEAD
#undef MRK
#undef ROWS
#undef ROWS_EDGE1
#undef ROWS_EDGE2

/* A B sliver from a column-major op(B) (B^T, the input gradients' W^T): column j of the sliver
 * is contiguous in memory (b + j * b_cs), so 16 columns x 16 (f32) or 8 x 8 (f64) k steps are
 * loaded as rows and transposed in registers, instead of one gather (or NR scalar loads) per k
 * step. Columns past nr are zero; a last chunk of k steps uses masked loads, which read nothing
 * past kc. */
#define FM_PACK_B_COLUMNS

/* o_q lane g = u_g lane q: the 4 x 4 transpose of the 128-bit lanes of u_0 .. u_3. */
#define FM_LANES_4X4(SHUF, u0, u1, u2, u3, o0, o1, o2, o3)                                     \
    {                                                                                            \
        const __typeof__(u0) v0 = SHUF(u0, u1, 0x44), v1 = SHUF(u0, u1, 0xEE);                  \
        const __typeof__(u0) v2 = SHUF(u2, u3, 0x44), v3 = SHUF(u2, u3, 0xEE);                  \
        o0 = SHUF(v0, v2, 0x88);                                                                 \
        o1 = SHUF(v0, v2, 0xDD);                                                                 \
        o2 = SHUF(v1, v3, 0x88);                                                                 \
        o3 = SHUF(v1, v3, 0xDD);                                                                 \
    }

/* out[q] lane j = in[j] lane q: a 16 x 16 transpose in registers (pack_b_columns_avx512_f32
 * and the narrow kernels of narrow_x86.h). */
static inline __attribute__((always_inline)) void transpose16_f32(const __m512 *in, __m512 *out)
{
    __m512 t[16], u[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(in[2 * i], in[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(in[2 * i], in[2 * i + 1]);
    }
    for (int g = 0; g < 4; g++) {
        const __m512d a0 = _mm512_castps_pd(t[4 * g]), a1 = _mm512_castps_pd(t[4 * g + 1]);
        const __m512d a2 = _mm512_castps_pd(t[4 * g + 2]), a3 = _mm512_castps_pd(t[4 * g + 3]);
        u[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(a0, a2));
        u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a0, a2));
        u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(a1, a3));
        u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(a1, a3));
    }
    for (int c = 0; c < 4; c++)
        FM_LANES_4X4(_mm512_shuffle_f32x4, u[c], u[4 + c], u[8 + c], u[12 + c], out[c],
                     out[4 + c], out[8 + c], out[12 + c])
}

static void pack_b_columns_avx512_f32(int64_t nr, int64_t kc, const float *b, int64_t b_cs,
                                      float *bp)
{
    for (int64_t p0 = 0; p0 < kc; p0 += 16) {
        const int rem = kc - p0 < 16 ? (int)(kc - p0) : 16;
        const __mmask16 mask = (__mmask16)((1u << rem) - 1);
        for (int h = 0; h < 2; h++) {
            __m512 r[16], o[16];
            for (int j = 0; j < 16; j++)
                r[j] = h * 16 + j < nr ? _mm512_maskz_loadu_ps(mask, b + (h * 16 + j) * b_cs + p0)
                                       : _mm512_setzero_ps();
            transpose16_f32(r, o);
            for (int p = 0; p < rem; p++)
                _mm512_storeu_ps(bp + (p0 + p) * NR_F32 + h * 16, o[p]);
        }
    }
}

static void pack_b_columns_avx512_f64(int64_t nr, int64_t kc, const double *b, int64_t b_cs,
                                      double *bp)
{
    for (int64_t p0 = 0; p0 < kc; p0 += 8) {
        const int rem = kc - p0 < 8 ? (int)(kc - p0) : 8;
        const __mmask8 mask = (__mmask8)((1u << rem) - 1);
        for (int h = 0; h < 2; h++) {
            __m512d r[8], t[8], o[8];
            for (int j = 0; j < 8; j++)
                r[j] = h * 8 + j < nr ? _mm512_maskz_loadu_pd(mask, b + (h * 8 + j) * b_cs + p0)
                                      : _mm512_setzero_pd();
            /* t[2i + c] lane L: column 2L + c of rows 2i, 2i + 1 */
            for (int i = 0; i < 4; i++) {
                t[2 * i] = _mm512_unpacklo_pd(r[2 * i], r[2 * i + 1]);
                t[2 * i + 1] = _mm512_unpackhi_pd(r[2 * i], r[2 * i + 1]);
            }
            for (int c = 0; c < 2; c++)
                FM_LANES_4X4(_mm512_shuffle_f64x2, t[c], t[2 + c], t[4 + c], t[6 + c], o[c],
                             o[2 + c], o[4 + c], o[6 + c])
            for (int p = 0; p < rem; p++)
                _mm512_storeu_pd(bp + (p0 + p) * NR_F64 + h * 8, o[p]);
        }
    }
}

/* Float32 products with few columns of C, lanes over rows (narrow_x86.h). */
#define FM_NARROW
#include "narrow_x86.h"

/* The epilogue's row operations (epilogue_x86.h) with AVX-512 lane masks. */
#define FM_EPILOGUE_ROWS
#define BIAS_ACT_ROW bias_act_row_avx512_f32
#define RELU_DERIV_ROW relu_deriv_row_avx512_f32
#define REAL float
#define VEC __m512
#define VLEN 16
#define MASK __mmask16
#define MASK_FIRST(n) ((__mmask16)((1u << (n)) - 1))
#define MASK_ALL ((__mmask16)0xFFFF)
#define LOAD_M(p, k) _mm512_maskz_loadu_ps(k, p)
#define STORE_M(p, k, v) _mm512_mask_storeu_ps(p, k, v)
#define ADD _mm512_add_ps
#define MUL _mm512_mul_ps
#define SET1 _mm512_set1_ps
#define KEEP_IF_GT0(x) _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GT_OQ), x)
#define KEEP_IF_NONZERO(z, x)                                                                    \
    _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(z, _mm512_setzero_ps(), _CMP_NEQ_UQ), x)
#include "epilogue_x86.h"

#define BIAS_ACT_ROW bias_act_row_avx512_f64
#define RELU_DERIV_ROW relu_deriv_row_avx512_f64
#define REAL double
#define VEC __m512d
#define VLEN 8
#define MASK __mmask8
#define MASK_FIRST(n) ((__mmask8)((1u << (n)) - 1))
#define MASK_ALL ((__mmask8)0xFF)
#define LOAD_M(p, k) _mm512_maskz_loadu_pd(k, p)
#define STORE_M(p, k, v) _mm512_mask_storeu_pd(p, k, v)
#define ADD _mm512_add_pd
#define MUL _mm512_mul_pd
#define SET1 _mm512_set1_pd
#define KEEP_IF_GT0(x) _mm512_maskz_mov_pd(_mm512_cmp_pd_mask(x, _mm512_setzero_pd(), _CMP_GT_OQ), x)
#define KEEP_IF_NONZERO(z, x)                                                                    \
    _mm512_maskz_mov_pd(_mm512_cmp_pd_mask(z, _mm512_setzero_pd(), _CMP_NEQ_UQ), x)
#include "epilogue_x86.h"

#define FM_DOT_ROWS
#include "dot_rows_x86.h"

#include "gemm_instances.h"
