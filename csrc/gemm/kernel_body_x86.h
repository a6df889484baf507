/* fastmlp C core: one x86 microkernel, included by kernel_x86.h with FM_KERNEL_NAME,
 * FM_KERNEL_A_ROWS (0: A's value (r, p) at a[p * a_arg + r], a packed sliver or a column-major
 * A; 1: at a[r * a_arg + p], MRK rows of a row-major A read in place) and FM_KERNEL_WIDTH (2 or
 * 1 vectors of B per row) and FM_KERNEL_ROWS(X) (X(0) .. X(rows - 1), the tile's rows) defined;
 * optionally FM_KERNEL_AHEAD (1: one more argument, ahead: at the start of each group of 4 k
 * steps the kernel asks for the next cache line from ahead on, kc / 4 of them, so that a caller
 * can bring the next B panel into L1 while this one is used; 0, the default: none);
 * all of them are undefined again at the end.
 *
 * c = beta * c + alpha * sum_p A(r, p) * bp[p * b_step + j] for the MRK x (FM_KERNEL_WIDTH *
 * VLEN) tile (beta == 0: c is not read). */

#ifndef FM_KERNEL_AHEAD
#define FM_KERNEL_AHEAD 0
#endif

#if FM_KERNEL_A_ROWS
#define FM_A_AT(r) (a + r * a_arg + p)
#define FM_A_NEXT
#else
#define FM_A_AT(r) (a + r)
#define FM_A_NEXT a += a_arg;
#endif

#if FM_KERNEL_WIDTH == 2
#define FM_DECL(r) VEC acc##r##_0 = ZERO(), acc##r##_1 = ZERO();
#define FM_LOAD_B const VEC b0 = LOADU(bp), b1 = LOADU(bp + VLEN);
#define FM_STEP(r)                                                                               \
    {                                                                                            \
        const VEC a_rp = BCAST(FM_A_AT(r));                                                      \
        acc##r##_0 = FMA(a_rp, b0, acc##r##_0);                                                  \
        acc##r##_1 = FMA(a_rp, b1, acc##r##_1);                                                  \
    }
#define FM_PUT(r)                                                                                \
    STOREU(c + r * ldc, MUL(va, acc##r##_0));                                                    \
    STOREU(c + r * ldc + VLEN, MUL(va, acc##r##_1));
#define FM_UPDATE(r)                                                                             \
    STOREU(c + r * ldc, FMA(vb, LOADU(c + r * ldc), MUL(va, acc##r##_0)));                       \
    STOREU(c + r * ldc + VLEN, FMA(vb, LOADU(c + r * ldc + VLEN), MUL(va, acc##r##_1)));
#else
#define FM_DECL(r) VEC acc##r##_0 = ZERO();
#define FM_LOAD_B const VEC b0 = LOADU(bp);
#define FM_STEP(r) acc##r##_0 = FMA(BCAST(FM_A_AT(r)), b0, acc##r##_0);
#define FM_PUT(r) STOREU(c + r * ldc, MUL(va, acc##r##_0));
#define FM_UPDATE(r) STOREU(c + r * ldc, FMA(vb, LOADU(c + r * ldc), MUL(va, acc##r##_0)));
#endif

#if FM_KERNEL_AHEAD
FM_NOINLINE /* its caller's loop has no registers to spare for it */
#endif
static void FM_KERNEL_NAME(int64_t kc, const REAL *a, int64_t a_arg, const REAL *bp,
                           int64_t b_step, REAL *c, int64_t ldc, REAL alpha, REAL beta
#if FM_KERNEL_AHEAD
                           , const REAL *ahead
#endif
)
{
    FM_KERNEL_ROWS(FM_DECL)
    int64_t p = 0;
#if FM_KERNEL_AHEAD
    /* groups of 4 k steps, each asking for the next cache line from ahead on */
    for (const char *line = (const char *)ahead; p + 4 <= kc; line += 64) {
        _mm_prefetch(line, _MM_HINT_T0);
        for (int u = 0; u < 4; u++, p++) {
            FM_LOAD_B
            FM_KERNEL_ROWS(FM_STEP)
            FM_A_NEXT
            bp += b_step;
        }
    }
#endif
    for (; p < kc; p++) {
        FM_LOAD_B
        FM_KERNEL_ROWS(FM_STEP)
        FM_A_NEXT
        bp += b_step;
    }
    const VEC va = SET1(alpha), vb = SET1(beta);
    if (beta == 0) {
        FM_KERNEL_ROWS(FM_PUT)
    } else {
        FM_KERNEL_ROWS(FM_UPDATE)
    }
}

#undef FM_A_AT
#undef FM_A_NEXT
#undef FM_DECL
#undef FM_LOAD_B
#undef FM_STEP
#undef FM_PUT
#undef FM_UPDATE
#undef FM_KERNEL_NAME
#undef FM_KERNEL_A_ROWS
#undef FM_KERNEL_WIDTH
#undef FM_KERNEL_ROWS
#undef FM_KERNEL_AHEAD
