/* fastmlp C core: float32 products with few columns of C (n <= FM_NARROW_MAX_N: an output layer
 * of a few classes, its weight gradient; the last n % 32 columns of a wider one), AVX-512,
 * included by gemm_avx512.c (which defines FM_LANES_4X4 and transpose16_f32).
 *
 * The register tile is turned around: vector lanes run over 16 rows of C, one accumulator per
 * column (ncol of them), and each k step loads a column of op(A) (16 rows) and broadcasts op(B)'s
 * ncol values of that step. A 12 x 32 or 12 x 16 tile of the packed path spends most of its
 * lanes on padding when n is 2 or 10; here every lane of a full sliver is a row of C.
 *
 * op(A)'s columns are read in place when op(A) is column-major (a weight gradient's A^T), else
 * transposed into a 32-row sliver first (16 x 16 blocks transposed in registers, as
 * pack_b_columns does for B^T). The accumulators are transposed back in
 * registers (or, for a few columns, written through a scratch tile) into C's rows.
 *
 * Each element of C gets the packed path's arithmetic exactly: acc = 0, acc = fma(a_ip, b_pj,
 * acc) for p ascending within the KC block, then c = alpha * acc (beta == 0, C not read) or
 * c = fma(beta, c, alpha * acc): the same bits as the microkernels give it. */

#include <math.h>

#define FM_NARROW_MAX_N 16
/* rows of a sliver: two vectors of lanes */
#define FM_NARROW_ROWS 32
#define FM_NARROW_COLUMNS(X)                                                                     \
    X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)

/* Rows r0 .. r0 + n_rows - 1 of the sliver (n_rows <= 16; none when n_rows <= 0) from one
 * vector of accumulators per column: c = alpha * acc or fma(beta, c, alpha * acc), then, with
 * bias (the last KC block of a forward product), c = f(c + bias) for f ReLU (relu != 0) or the
 * identity: gemm_impl.h's epilogue_tile, done here while the values are in registers (C's
 * rows read back right after masked or scalar stores would wait on the stores). */
static inline __attribute__((always_inline)) void
narrow_merge_f32(const int ncol, const __m512 *acc, int64_t n_rows, float *c, int64_t ldc,
                 float alpha, float beta, const float *bias, int relu)
{
    const __m512 va = _mm512_set1_ps(alpha);
    if (ncol <= 4) { /* a few columns: through a scratch tile */
        _Alignas(64) float tile[4 * 16];
        for (int j = 0; j < ncol; j++)
            _mm512_store_ps(tile + 16 * j, _mm512_mul_ps(va, acc[j]));
        for (int64_t r = 0; r < n_rows; r++)
            for (int j = 0; j < ncol; j++) {
                float x = beta == 0 ? tile[16 * j + r] : fmaf(beta, c[r * ldc + j], tile[16 * j + r]);
                if (bias != NULL) {
                    x += bias[j];
                    if (relu)
                        x = x > 0 ? x : 0;
                }
                c[r * ldc + j] = x;
            }
        return;
    }
    __m512 cols[16], out[16];
    for (int j = 0; j < ncol; j++)
        cols[j] = _mm512_mul_ps(va, acc[j]);
    for (int j = ncol; j < 16; j++)
        cols[j] = _mm512_setzero_ps();
    transpose16_f32(cols, out);
    const __mmask16 col_mask = (__mmask16)((1u << ncol) - 1);
    const __m512 vb = _mm512_set1_ps(beta);
    const __m512 vbias = bias != NULL ? _mm512_maskz_loadu_ps(col_mask, bias) : vb;
    for (int64_t r = 0; r < n_rows; r++) {
        __m512 x = out[r];
        if (beta != 0)
            x = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(col_mask, c + r * ldc), x);
        if (bias != NULL) {
            x = _mm512_add_ps(x, vbias);
            if (relu) /* x where x > 0, +0 elsewhere and for NaN: x > 0 ? x : 0 */
                x = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GT_OQ), x);
        }
        _mm512_mask_storeu_ps(c + r * ldc, col_mask, x);
    }
}

/* Rows [16 * v0, 16 * (v0 + rv)) of the sliver (rows of them valid, rows > 16 * v0): the k loop
 * and the merge into C (rv: 1 or 2 vectors of rows). ncol and rv are constants where this is inlined. */
static inline __attribute__((always_inline)) void
narrow_pass_f32(const int ncol, const int rv, const int v0, int64_t kc, const float *a,
                int64_t a_step, int64_t rows, const float *b, int64_t b_rs, float *c, int64_t ldc,
                float alpha, float beta, const float *bias, int relu)
{
    const int64_t left0 = rows - 16 * v0, left1 = left0 - 16;
    const __mmask16 mask0 = left0 >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left0) - 1);
    const __mmask16 mask1 = left1 >= 16 ? (__mmask16)0xFFFF
                            : left1 <= 0 ? (__mmask16)0
                                         : (__mmask16)((1u << left1) - 1);
    /* named accumulators (an array of them stayed in memory): acc0_j, acc1_j for the two
     * vectors of rows, column j; the columns past ncol and the second vector when rv == 1 are
     * never used */
#define FM_NARROW_DECL(j) __m512 acc0_##j = _mm512_setzero_ps(), acc1_##j = _mm512_setzero_ps();
#define FM_NARROW_STEP(j)                                                                        \
    if (j < ncol) {                                                                              \
        const __m512 bj = _mm512_set1_ps(b[j]);                                                  \
        acc0_##j = _mm512_fmadd_ps(a0, bj, acc0_##j);                                            \
        if (rv == 2)                                                                             \
            acc1_##j = _mm512_fmadd_ps(a1, bj, acc1_##j);                                        \
    }
#define FM_NARROW_SAVE(j)                                                                        \
    acc0[j] = acc0_##j;                                                                          \
    acc1[j] = acc1_##j;
    FM_NARROW_COLUMNS(FM_NARROW_DECL)
    a += 16 * v0;
    for (int64_t p = 0; p < kc; p++) {
        const __m512 a0 = _mm512_maskz_loadu_ps(mask0, a);
        const __m512 a1 = rv == 2 ? _mm512_maskz_loadu_ps(mask1, a + 16) : a0;
        FM_NARROW_COLUMNS(FM_NARROW_STEP)
        a += a_step;
        b += b_rs;
    }
    __m512 acc0[FM_NARROW_MAX_N], acc1[FM_NARROW_MAX_N];
    FM_NARROW_COLUMNS(FM_NARROW_SAVE)
#undef FM_NARROW_DECL
#undef FM_NARROW_STEP
#undef FM_NARROW_SAVE
    const int64_t r0 = 16 * v0;
    narrow_merge_f32(ncol, acc0, rows - r0 < 16 ? rows - r0 : 16, c + r0 * ldc, ldc, alpha, beta,
                     bias, relu);
    if (rv == 2)
        narrow_merge_f32(ncol, acc1, rows - r0 - 16 < 16 ? rows - r0 - 16 : 16,
                         c + (r0 + 16) * ldc, ldc, alpha, beta, bias, relu);
}

/* C[0:rows, 0:ncol] = beta * C + alpha * A . B over one KC block (kc steps), rows <= 32, A's
 * column p (rows side by side) at a + p * a_step, B's row p at b + p * b_rs; then, with bias,
 * C = f(C + bias) (narrow_merge_f32). */
typedef void (*narrow_kernel_f32_fn)(int64_t kc, const float *a, int64_t a_step, int64_t rows,
                                     const float *b, int64_t b_rs, float *c, int64_t ldc,
                                     float alpha, float beta, const float *bias, int relu);

/* Up to 12 columns: both vectors of rows in one k loop (2 * ncol accumulators); more: one
 * vector of rows at a time, within the 32 registers; one vector for a sliver of <= 16 rows. */
#define FM_NARROW_KERNEL(N)                                                                      \
    static void narrow_kernel_##N##_avx512_f32(int64_t kc, const float *a, int64_t a_step,      \
                                               int64_t rows, const float *b, int64_t b_rs,      \
                                               float *c, int64_t ldc, float alpha, float beta,  \
                                               const float *bias, int relu)                     \
    {                                                                                            \
        if (N <= 12 && rows > 16) {                                                              \
            narrow_pass_f32(N, 2, 0, kc, a, a_step, rows, b, b_rs, c, ldc, alpha, beta, bias,    \
                            relu);                                                               \
        } else {                                                                                 \
            narrow_pass_f32(N, 1, 0, kc, a, a_step, rows, b, b_rs, c, ldc, alpha, beta, bias,    \
                            relu);                                                               \
            if (rows > 16)                                                                       \
                narrow_pass_f32(N, 1, 1, kc, a, a_step, rows, b, b_rs, c, ldc, alpha, beta,      \
                                bias, relu);                                                     \
        }                                                                                        \
    }
FM_NARROW_KERNEL(1)
FM_NARROW_KERNEL(2)
FM_NARROW_KERNEL(3)
FM_NARROW_KERNEL(4)
FM_NARROW_KERNEL(5)
FM_NARROW_KERNEL(6)
FM_NARROW_KERNEL(7)
FM_NARROW_KERNEL(8)
FM_NARROW_KERNEL(9)
FM_NARROW_KERNEL(10)
FM_NARROW_KERNEL(11)
FM_NARROW_KERNEL(12)
FM_NARROW_KERNEL(13)
FM_NARROW_KERNEL(14)
FM_NARROW_KERNEL(15)
FM_NARROW_KERNEL(16)
#undef FM_NARROW_KERNEL

static const narrow_kernel_f32_fn narrow_kernels_avx512_f32[FM_NARROW_MAX_N + 1] = {
    NULL,
    narrow_kernel_1_avx512_f32,
    narrow_kernel_2_avx512_f32,
    narrow_kernel_3_avx512_f32,
    narrow_kernel_4_avx512_f32,
    narrow_kernel_5_avx512_f32,
    narrow_kernel_6_avx512_f32,
    narrow_kernel_7_avx512_f32,
    narrow_kernel_8_avx512_f32,
    narrow_kernel_9_avx512_f32,
    narrow_kernel_10_avx512_f32,
    narrow_kernel_11_avx512_f32,
    narrow_kernel_12_avx512_f32,
    narrow_kernel_13_avx512_f32,
    narrow_kernel_14_avx512_f32,
    narrow_kernel_15_avx512_f32,
    narrow_kernel_16_avx512_f32,
};

/* Transposes rows <= FM_NARROW_ROWS rows of a row-major op(A) (kc values each, rows a_rs apart)
 * into columns: buf[p * FM_NARROW_ROWS + r] = a[r * a_rs + p], rows past `rows` zero within
 * their vector of 16 (a vector wholly past them is not written: the kernels do not read it). */
static void narrow_pack_rows_f32(int64_t rows, int64_t kc, const float *a, int64_t a_rs,
                                 float *buf)
{
    for (int64_t h = 0; h * 16 < rows; h++) {
        for (int64_t p0 = 0; p0 < kc; p0 += 16) {
            const int rem = kc - p0 < 16 ? (int)(kc - p0) : 16;
            const __mmask16 mask = (__mmask16)((1u << rem) - 1);
            __m512 r[16], o[16];
            for (int j = 0; j < 16; j++)
                r[j] = h * 16 + j < rows ? _mm512_maskz_loadu_ps(mask, a + (h * 16 + j) * a_rs + p0)
                                         : _mm512_setzero_ps();
            transpose16_f32(r, o);
            for (int p = 0; p < rem; p++)
                _mm512_storeu_ps(buf + (p0 + p) * FM_NARROW_ROWS + h * 16, o[p]);
        }
    }
}

/* One sliver of rows (rows <= FM_NARROW_ROWS) of C = alpha * op(A) . B + beta * C, n columns,
 * through every KC block: op(A)(i, p) = a[i * a_rs + p * a_cs], B(p, j) = b[p * b_rs + j]; with
 * bias (not NULL), C = f(C + bias) once final, f ReLU (relu != 0) or the identity. */
static void narrow_sliver_f32(int64_t rows, int64_t n, int64_t k, float alpha, const float *a,
                              int64_t a_rs, int64_t a_cs, const float *b, int64_t b_rs,
                              float beta, float *c, int64_t ldc, const float *bias, int relu)
{
    const narrow_kernel_f32_fn kernel = narrow_kernels_avx512_f32[n];
    _Alignas(64) float a_buf[FM_NARROW_ROWS * FM_GEMM_KC];
    for (int64_t pc = 0; pc < k; pc += FM_GEMM_KC) {
        const int64_t kc = k - pc < FM_GEMM_KC ? k - pc : FM_GEMM_KC;
        const float beta_block = pc == 0 ? beta : 1;
        const float *bias_here = pc + kc >= k ? bias : NULL;
        if (a_rs == 1) {
            kernel(kc, a + pc * a_cs, a_cs, rows, b + pc * b_rs, b_rs, c, ldc, alpha, beta_block,
                   bias_here, relu);
        } else {
            narrow_pack_rows_f32(rows, kc, a + pc * a_cs, a_rs, a_buf);
            kernel(kc, a_buf, FM_NARROW_ROWS, rows, b + pc * b_rs, b_rs, c, ldc, alpha,
                   beta_block, bias_here, relu);
        }
    }
}

