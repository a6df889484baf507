/* fastmlp C core: GEMM for one precision. Included by gemm.c with REAL and SUF defined.
 *
 * C = alpha * op(A) . op(B) + beta * C, all row-major. The loops: jc over NC columns of C, pc over
 * KC steps of k (B's KC x NC panel packed when op(B) = B^T, used in place otherwise), then MR-row
 * tiles of C shared among threads, each tile swept in NR-column register tiles. Every element of
 * C is computed by one thread in the same order (k ascending within a KC block, blocks added to C
 * in order), whatever the thread count: results are bitwise independent of OMP_NUM_THREADS. */

#define NR (64 / (int)sizeof(REAL)) /* 16 floats or 8 doubles: MR x NR accumulators = 16 SSE regs */

/* acc[MR][NR] += A_tile(mr x kc) . B_panel(kc x nr); C_tile += alpha * acc. A element (r, p) is
 * a[r * a_rs + p * a_cs]; B row p starts at b + p * ldb. */
static void SUF(tile)(int64_t mr, int64_t nr, int64_t kc, REAL alpha, const REAL *a, int64_t a_rs,
                      int64_t a_cs, const REAL *b, int64_t ldb, REAL *c, int64_t ldc)
{
    REAL acc[FM_GEMM_MR][NR];
    for (int r = 0; r < FM_GEMM_MR; r++)
        for (int j = 0; j < NR; j++)
            acc[r][j] = 0;
    if (mr == FM_GEMM_MR && nr == NR) {
        for (int64_t p = 0; p < kc; p++) {
            const REAL *bp = b + p * ldb;
            const REAL a0 = a[p * a_cs], a1 = a[a_rs + p * a_cs];
            const REAL a2 = a[2 * a_rs + p * a_cs], a3 = a[3 * a_rs + p * a_cs];
            for (int j = 0; j < NR; j++) {
                acc[0][j] += a0 * bp[j];
                acc[1][j] += a1 * bp[j];
                acc[2][j] += a2 * bp[j];
                acc[3][j] += a3 * bp[j];
            }
        }
    } else {
        for (int64_t p = 0; p < kc; p++) {
            const REAL *bp = b + p * ldb;
            for (int64_t r = 0; r < mr; r++) {
                const REAL ar = a[r * a_rs + p * a_cs];
                for (int64_t j = 0; j < nr; j++)
                    acc[r][j] += ar * bp[j];
            }
        }
    }
    for (int64_t r = 0; r < mr; r++)
        for (int64_t j = 0; j < nr; j++)
            c[r * ldc + j] += alpha * acc[r][j];
}

int SUF(fm_gemm)(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, REAL alpha,
                 const REAL *a, int64_t lda, const REAL *b, int64_t ldb, REAL beta, REAL *c,
                 int64_t ldc, REAL *pack)
{
    if (m < 0 || n < 0 || k < 0 || ldc < n || lda < (trans_a ? m : k) || ldb < (trans_b ? k : n))
        return FM_ERR_ARG;
    if (m == 0 || n == 0)
        return FM_OK;
    REAL *own_pack = NULL;
    if (trans_b && k > 0 && pack == NULL) {
        own_pack = (REAL *)malloc(fm_gemm_pack_size() * sizeof(REAL));
        if (own_pack == NULL)
            return FM_ERR_NOMEM;
        pack = own_pack;
    }
    /* A's element (i, p) = a[i * a_rs + p * a_cs]. */
    const int64_t a_rs = trans_a ? 1 : lda, a_cs = trans_a ? lda : 1;
    const int64_t m_tiles = (m + FM_GEMM_MR - 1) / FM_GEMM_MR;
    const int parallel = (double)m * (double)n * (double)(k > 0 ? k : 1) >= FM_PAR_MIN_WORK &&
                         m_tiles > 1;
    (void)parallel;

#pragma omp parallel if (parallel)
    {
        /* beta first: C = beta * C (beta == 0 overwrites, so NaN in C does not survive). */
#pragma omp for schedule(static)
        for (int64_t i = 0; i < m; i++) {
            REAL *ci = c + i * ldc;
            if (beta == 0) {
                for (int64_t j = 0; j < n; j++)
                    ci[j] = 0;
            } else if (beta != 1) {
                for (int64_t j = 0; j < n; j++)
                    ci[j] *= beta;
            }
        }
        for (int64_t jc = 0; jc < n; jc += FM_GEMM_NC) {
            const int64_t nc = n - jc < FM_GEMM_NC ? n - jc : FM_GEMM_NC;
            for (int64_t pc = 0; pc < k; pc += FM_GEMM_KC) {
                const int64_t kc = k - pc < FM_GEMM_KC ? k - pc : FM_GEMM_KC;
                const REAL *panel;
                int64_t ldp;
                if (trans_b) {
                    /* op(B)(p, j) = b[j * ldb + p]: pack the kc x nc panel row-major. */
#pragma omp for schedule(static)
                    for (int64_t p = 0; p < kc; p++)
                        for (int64_t j = 0; j < nc; j++)
                            pack[p * nc + j] = b[(jc + j) * ldb + pc + p];
                    panel = pack;
                    ldp = nc;
                } else {
                    panel = b + pc * ldb + jc;
                    ldp = ldb;
                }
#pragma omp for schedule(static)
                for (int64_t t = 0; t < m_tiles; t++) {
                    const int64_t i = t * FM_GEMM_MR;
                    const int64_t mr = m - i < FM_GEMM_MR ? m - i : FM_GEMM_MR;
                    for (int64_t jr = 0; jr < nc; jr += NR) {
                        const int64_t nr = nc - jr < NR ? nc - jr : NR;
                        SUF(tile)(mr, nr, kc, alpha, a + i * a_rs + pc * a_cs, a_rs, a_cs,
                                  panel + jr, ldp, c + i * ldc + jc + jr, ldc);
                    }
                }
                /* the implicit barrier above keeps the next packing from racing this panel */
            }
        }
    }
    free(own_pack);
    return FM_OK;
}

#undef NR
