/* fastmlp C core: an x86 SIMD microkernel, included once per precision by gemm_avx2.c and
 * gemm_avx512.c. The tile is MRK rows x 2 vectors: MRK * 2 accumulators stay in registers; per k
 * step two vectors of B are loaded and each row's A value is broadcast once. KNAME reads A as a
 * packed sliver (or any layout with rows side by side: value (r, p) at ap[p * a_step + r]);
 * KNAME_ROWS reads MRK rows of a row-major A in place (value (r, p) at a[r * lda + p]).
 * KNAME_HALF and KNAME_ROWS_HALF are the same with one vector of B per row (MRK x VLEN): for
 * the slivers of C at most VLEN wide (the last columns of a layer, a 10-class output), where the
 * full tile would spend more than half of its multiply-adds on padding. Each element of C gets
 * the same operations in the same order from either width.
 *
 * Requires: KNAME, KNAME_ROWS, KNAME_HALF, KNAME_ROWS_HALF, REAL, VEC, VLEN (elements per vector), MRK, ROWS(X) (X(0) ..
 * X(MRK - 1)), ZERO(), LOADU(p), STOREU(p, v), BCAST(p), FMA(a, b, c) = a * b + c,
 * MUL(a, b), SET1(x); all of them but MRK and ROWS are undefined again at the end, ready for
 * the next precision. Contract: see gemm_impl.h. */

/* c = beta * c + alpha * acc for the tile's accumulators (beta == 0: c is not read). */
#define FM_KERNEL_STORE                                                                          \
    const VEC va = SET1(alpha), vb = SET1(beta);                                                 \
    if (beta == 0) {                                                                             \
        ROWS(FM_PUT)                                                                             \
    } else {                                                                                     \
        ROWS(FM_UPDATE)                                                                          \
    }
#define FM_PUT(r)                                                                                \
    STOREU(c + r * ldc, MUL(va, acc##r##_0));                                                    \
    STOREU(c + r * ldc + VLEN, MUL(va, acc##r##_1));
#define FM_UPDATE(r)                                                                             \
    STOREU(c + r * ldc, FMA(vb, LOADU(c + r * ldc), MUL(va, acc##r##_0)));                       \
    STOREU(c + r * ldc + VLEN, FMA(vb, LOADU(c + r * ldc + VLEN), MUL(va, acc##r##_1)));
#define FM_DECL(r) VEC acc##r##_0 = ZERO(), acc##r##_1 = ZERO();

static void KNAME(int64_t kc, const REAL *ap, int64_t a_step, const REAL *bp, int64_t b_step,
                  REAL *c, int64_t ldc, REAL alpha, REAL beta)
{
    ROWS(FM_DECL)
    for (int64_t p = 0; p < kc; p++) {
        const VEC b0 = LOADU(bp), b1 = LOADU(bp + VLEN);
#define FM_STEP(r)                                                                               \
    {                                                                                            \
        const VEC a = BCAST(ap + r);                                                             \
        acc##r##_0 = FMA(a, b0, acc##r##_0);                                                     \
        acc##r##_1 = FMA(a, b1, acc##r##_1);                                                     \
    }
        ROWS(FM_STEP)
#undef FM_STEP
        ap += a_step;
        bp += b_step;
    }
    FM_KERNEL_STORE
}

static void KNAME_ROWS(int64_t kc, const REAL *a, int64_t lda, const REAL *bp, int64_t b_step,
                       REAL *c, int64_t ldc, REAL alpha, REAL beta)
{
    ROWS(FM_DECL)
    for (int64_t p = 0; p < kc; p++) {
        const VEC b0 = LOADU(bp), b1 = LOADU(bp + VLEN);
#define FM_STEP(r)                                                                               \
    {                                                                                            \
        const VEC a_rp = BCAST(a + r * lda + p);                                                 \
        acc##r##_0 = FMA(a_rp, b0, acc##r##_0);                                                  \
        acc##r##_1 = FMA(a_rp, b1, acc##r##_1);                                                  \
    }
        ROWS(FM_STEP)
#undef FM_STEP
        bp += b_step;
    }
    FM_KERNEL_STORE
}

/* The half-width tile: one accumulator per row. */
#define FM_KERNEL_STORE_HALF                                                                     \
    const VEC va = SET1(alpha), vb = SET1(beta);                                                 \
    if (beta == 0) {                                                                             \
        ROWS(FM_PUT_HALF)                                                                        \
    } else {                                                                                     \
        ROWS(FM_UPDATE_HALF)                                                                     \
    }
#define FM_PUT_HALF(r) STOREU(c + r * ldc, MUL(va, acc##r##_0));
#define FM_UPDATE_HALF(r) STOREU(c + r * ldc, FMA(vb, LOADU(c + r * ldc), MUL(va, acc##r##_0)));
#define FM_DECL_HALF(r) VEC acc##r##_0 = ZERO();

static void KNAME_HALF(int64_t kc, const REAL *ap, int64_t a_step, const REAL *bp,
                       int64_t b_step, REAL *c, int64_t ldc, REAL alpha, REAL beta)
{
    ROWS(FM_DECL_HALF)
    for (int64_t p = 0; p < kc; p++) {
        const VEC b0 = LOADU(bp);
#define FM_STEP(r) acc##r##_0 = FMA(BCAST(ap + r), b0, acc##r##_0);
        ROWS(FM_STEP)
#undef FM_STEP
        ap += a_step;
        bp += b_step;
    }
    FM_KERNEL_STORE_HALF
}

static void KNAME_ROWS_HALF(int64_t kc, const REAL *a, int64_t lda, const REAL *bp,
                            int64_t b_step, REAL *c, int64_t ldc, REAL alpha, REAL beta)
{
    ROWS(FM_DECL_HALF)
    for (int64_t p = 0; p < kc; p++) {
        const VEC b0 = LOADU(bp);
#define FM_STEP(r) acc##r##_0 = FMA(BCAST(a + r * lda + p), b0, acc##r##_0);
        ROWS(FM_STEP)
#undef FM_STEP
        bp += b_step;
    }
    FM_KERNEL_STORE_HALF
}

#undef FM_KERNEL_STORE
#undef FM_PUT
#undef FM_UPDATE
#undef FM_DECL
#undef FM_KERNEL_STORE_HALF
#undef FM_PUT_HALF
#undef FM_UPDATE_HALF
#undef FM_DECL_HALF
#undef KNAME
#undef KNAME_ROWS
#undef KNAME_HALF
#undef KNAME_ROWS_HALF
#undef REAL
#undef VEC
#undef VLEN
#undef ZERO
#undef LOADU
#undef STOREU
#undef BCAST
#undef FMA
#undef MUL
#undef SET1
