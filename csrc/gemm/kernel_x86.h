/* fastmlp C core: an x86 SIMD microkernel, included once per precision by gemm_avx2.c and
 * gemm_avx512.c. The tile is MRK rows x 2 vectors: MRK * 2 accumulators stay in registers; per k
 * step two vectors of B are loaded and each row's A value is broadcast once.
 *
 * Requires: KNAME, REAL, VEC, VLEN (elements per vector), MRK, ROWS(X) (X(0) .. X(MRK - 1)),
 * ZERO(), LOADU(p), STOREU(p, v), BCAST(p), FMA(a, b, c) = a * b + c,
 * MUL(a, b), SET1(x); all of them but MRK and ROWS are undefined again at the end, ready for
 * the next precision. Contract: see gemm_impl.h. */
static void KNAME(int64_t kc, const REAL *ap, int64_t a_step, const REAL *bp, int64_t b_step,
                  REAL *c, int64_t ldc, REAL alpha, REAL beta)
{
#define FM_DECL(r) VEC acc##r##_0 = ZERO(), acc##r##_1 = ZERO();
    ROWS(FM_DECL)
#undef FM_DECL
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
    const VEC va = SET1(alpha), vb = SET1(beta);
    if (beta == 0) {
#define FM_PUT(r)                                                                                \
    STOREU(c + r * ldc, MUL(va, acc##r##_0));                                                    \
    STOREU(c + r * ldc + VLEN, MUL(va, acc##r##_1));
        ROWS(FM_PUT)
#undef FM_PUT
    } else {
#define FM_UPDATE(r)                                                                             \
    STOREU(c + r * ldc, FMA(vb, LOADU(c + r * ldc), MUL(va, acc##r##_0)));                       \
    STOREU(c + r * ldc + VLEN, FMA(vb, LOADU(c + r * ldc + VLEN), MUL(va, acc##r##_1)));
        ROWS(FM_UPDATE)
#undef FM_UPDATE
    }
}

#undef KNAME
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
