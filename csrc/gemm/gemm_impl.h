/* fastmlp C core: GEMM drivers for one precision and one instruction set, BLIS style.
 * Included by gemm_instances.h with REAL, SUF (name suffix), MR x NR (the register tile) and
 * SUF(kernel) (the microkernel) defined.
 *
 * C = alpha * op(A) . op(B) + beta * C, all row-major.
 *
 * Packed path, five loops around the microkernel: jc over NC columns of C, pc over KC steps of k
 * (B's kc x nc panel packed into NR-wide slivers), ic over MC rows (A's mc x kc block packed into
 * MR-tall slivers), then the jr x ir grid of MR x NR tiles shared among threads. Small path (few
 * rows, or little work): no packing, whole rows of C from rows of op(B), or dot products when
 * op(B) is transposed.
 *
 * Either way each element of C is computed by one thread, in an order fixed by the block grid
 * (k ascending within a KC block, blocks added in order), which does not depend on the number of
 * threads: results are bitwise identical for any OMP_NUM_THREADS.
 *
 * An optional epilogue (internal.h) is applied to each tile of C in the last KC block, right
 * after the microkernel wrote it: bias + ReLU for a forward layer, the activation derivative for
 * a backward one.
 *
 * Microkernel contract: SUF(kernel)(kc, ap, bp, c, ldc, alpha, beta) computes the full MR x NR
 * tile c = beta * c + alpha * sum_p ap[p * MR + r] * bp[p * NR + j] (beta == 0: c is not read),
 * from packed, 64-byte aligned slivers. Edge tiles go through an aligned scratch tile, computed
 * by SUF(kernel_half) (the first NR / 2 columns only) when the sliver is at most that wide. */

/* FM_GEMM_PAR_MIN_WORK: multiply-adds per thread below which a product is not shared, this
 * instruction set's calibrated value (gemm_instances.h). */

/* The core is compiled without floating-point contraction (-ffp-contract=off): a fused
 * multiply-add happens where it is written, as FM_FMA, on every instruction set (fma() is one
 * instruction wherever the target has one), so that each element of C is the same sequence of
 * operations whichever path and tile computes it: acc = 0, acc = fma(a_ip, b_pj, acc) for p
 * ascending within each KC block, then c = alpha * acc for the first block when beta == 0, else
 * c = fma(beta_block, c, alpha * acc) (beta_block: beta for the first block, 1 after it). */
#define FM_FMA(x, y, z)                                                                          \
    (sizeof(REAL) == sizeof(float) ? (REAL)fmaf((float)(x), (float)(y), (float)(z))             \
                                   : (REAL)fma((double)(x), (double)(y), (double)(z)))
/* A block's sum acc merged into c (the microkernels' output step). */
#define FM_MERGE(alpha, acc, beta, c)                                                            \
    ((beta) == 0 ? (alpha) * (acc) : FM_FMA(beta, c, (alpha) * (acc)))

/* C tile (mr x nr) = beta * C + alpha * acc, beta == 0 overwriting (NaN in C does not survive). */
static void SUF(merge_tile)(int64_t mr, int64_t nr, REAL alpha, const REAL *acc, int64_t ld_acc,
                            REAL beta, REAL *c, int64_t ldc)
{
    for (int64_t r = 0; r < mr; r++)
        for (int64_t j = 0; j < nr; j++)
            c[r * ldc + j] = FM_MERGE(alpha, acc[r * ld_acc + j], beta, c[r * ldc + j]);
}

/* Applies the epilogue to the final mr x nr tile of C at (row, col) of the whole product. An
 * instruction-set file may provide the ReLU rows with SIMD masks and selects (FM_EPILOGUE_ROWS,
 * epilogue_x86.h); these loops are the portable form. */
static void SUF(epilogue_tile)(const fm_epilogue *ep, REAL *c, int64_t ldc, int64_t row,
                               int64_t col, int64_t mr, int64_t nr)
{
    if (ep == NULL || ep->kind == FM_EPI_NONE)
        return;
    if (ep->kind == FM_EPI_BIAS_ACT) {
        const REAL *restrict bias = (const REAL *)ep->bias + col;
        const int relu = ep->activation == FM_ACT_RELU;
        for (int64_t r = 0; r < mr; r++) {
#ifdef FM_EPILOGUE_ROWS
            SUF(bias_act_row)(c + r * ldc, bias, nr, relu);
#else
            REAL *restrict cr = c + r * ldc;
            for (int64_t j = 0; j < nr; j++)
                cr[j] += bias[j];
            if (relu)
                for (int64_t j = 0; j < nr; j++)
                    cr[j] = cr[j] > 0 ? cr[j] : 0;
#endif
        }
        return;
    }
    for (int64_t r = 0; r < mr; r++) {
        REAL *restrict cr = c + r * ldc;
        const REAL *restrict zr = (const REAL *)ep->z + (row + r) * ep->ldz + col;
        switch (ep->activation) {
        case FM_ACT_LOGISTIC:
            for (int64_t j = 0; j < nr; j++) {
                const REAL d = cr[j] * zr[j];
                cr[j] = d * ((REAL)1 - zr[j]);
            }
            break;
        case FM_ACT_TANH:
            for (int64_t j = 0; j < nr; j++)
                cr[j] *= (REAL)1 - zr[j] * zr[j];
            break;
        case FM_ACT_RELU:
#ifdef FM_EPILOGUE_ROWS
            SUF(relu_deriv_row)(cr, zr, nr, (REAL)ep->dropout_scale);
#else
            if (ep->dropout_scale != 0) {
                const REAL scale = (REAL)ep->dropout_scale;
                for (int64_t j = 0; j < nr; j++) {
                    const REAL d = cr[j] * scale;
                    cr[j] = zr[j] == 0 ? (REAL)0 : d;
                }
            } else {
                for (int64_t j = 0; j < nr; j++) {
                    const REAL d = cr[j];
                    cr[j] = zr[j] == 0 ? (REAL)0 : d;
                }
            }
#endif
            break;
        default: /* identity */
            break;
        }
    }
}

/* k up to which a one-thread packed product applies its epilogue after the whole product
 * rather than to each tile (fm_gemm_ex). */
#define FM_EPILOGUE_AFTER_K 32

/* The arguments of a product, shared by the tasks that compute its parts. */
typedef struct SUF(gemm_args) {
    int64_t m, n, k;
    REAL alpha, beta;
    const REAL *a, *b;
    int64_t a_rs, a_cs, b_rs, b_cs;
    REAL *c;
    int64_t ldc;
    REAL *pack;
    int direct_a, direct_b;
    const fm_epilogue *ep;
    /* the packed path's current block and task grid */
    int64_t jc, nc, pc, kc, n_slivers, m_slivers, col_group, n_col_groups, first_packed;
    /* the narrow kernels' columns: narrow_n of them from column narrow_col on */
    int64_t narrow_col, narrow_n;
    /* the small path's KC-block sums when it splits k: row i's sum over block kb at
     * partial[(i * n_kb + kb) * n] */
    REAL *partial;
    int64_t n_kb;
} SUF(gemm_args);

/* Small path for row-major op(B) (b_cs == 1): each row of C accumulates a_ip * B[p, :] over p
 * within each KC block, columns [j0, j1) only: blocks of FM_ROWS_BLOCK columns in eight vector
 * registers across the block's k loop (a one-row prediction of a wide layer streams its weights
 * through them), then merged into C as the microkernels do: each element gets the packed path's
 * arithmetic exactly, so which path a product takes (m < MR differs per instruction set) does
 * not change its bits. */
#define FM_ROWS_BLOCK (4 * NR)
static void SUF(gemm_rows)(const SUF(gemm_args) *g, int64_t j0, int64_t j1)
{
    const REAL alpha = g->alpha;
    for (int64_t i = 0; i < g->m; i++) {
        REAL *ci = g->c + i * g->ldc;
        const REAL *ai = g->a + i * g->a_rs;
        for (int64_t j = j0; j < j1; j += FM_ROWS_BLOCK) {
            const int64_t nb = j1 - j < FM_ROWS_BLOCK ? j1 - j : FM_ROWS_BLOCK;
            for (int64_t pc = 0; pc < g->k || pc == 0; pc += FM_GEMM_KC) {
                const int64_t p1 = g->k - pc < FM_GEMM_KC ? g->k : pc + FM_GEMM_KC;
                const REAL beta = pc == 0 ? g->beta : 1;
                REAL acc[FM_ROWS_BLOCK];
                if (nb == FM_ROWS_BLOCK) {
                    for (int jj = 0; jj < FM_ROWS_BLOCK; jj++)
                        acc[jj] = 0;
                    for (int64_t p = pc; p < p1; p++) {
                        const REAL aip = ai[p * g->a_cs];
                        const REAL *bp = g->b + p * g->b_rs + j;
                        for (int jj = 0; jj < FM_ROWS_BLOCK; jj++)
                            acc[jj] = FM_FMA(aip, bp[jj], acc[jj]);
                    }
                    for (int jj = 0; jj < FM_ROWS_BLOCK; jj++)
                        ci[j + jj] = FM_MERGE(alpha, acc[jj], beta, ci[j + jj]);
                } else {
                    for (int64_t jj = 0; jj < nb; jj++)
                        acc[jj] = 0;
                    for (int64_t p = pc; p < p1; p++) {
                        const REAL aip = ai[p * g->a_cs];
                        const REAL *bp = g->b + p * g->b_rs + j;
                        for (int64_t jj = 0; jj < nb; jj++)
                            acc[jj] = FM_FMA(aip, bp[jj], acc[jj]);
                    }
                    for (int64_t jj = 0; jj < nb; jj++)
                        ci[j + jj] = FM_MERGE(alpha, acc[jj], beta, ci[j + jj]);
                }
            }
        }
    }
}

/* A task of the small path when it is shared (a few rows of a wide layer: a one-row prediction
 * reads the whole weight matrix, and split by columns each core reads its part, the same part
 * call after call): g->col_group columns, one share per thread in whole register blocks (long
 * runs along each row of B stream better than many short ones). */
static void SUF(gemm_rows_task)(void *ctx, int64_t task)
{
    const SUF(gemm_args) *g = (const SUF(gemm_args) *)ctx;
    const int64_t j0 = task * g->col_group;
    SUF(gemm_rows)(g, j0, g->n - j0 < g->col_group ? g->n : j0 + g->col_group);
}

/* A task of the small path when it is shared by KC blocks of k as well as by columns: the sum
 * of KC block task / n_col_groups over column group task % n_col_groups, stored (alpha 1, beta
 * 0: the sum itself) for merge_k_blocks. Each thread then reads whole rows of B, which a split
 * by columns alone does not: half of every row of a 512-column float32 layer covers half of
 * each 4 KB page's cache lines, so half of L2's sets, and one row's share of the 784-512-256-10
 * net's weights (1 MB) missed L2 call after call where whole rows of the same size stayed in
 * it (2x the time). */
static void SUF(gemm_rows_k_task)(void *ctx, int64_t task)
{
    const SUF(gemm_args) *g = (const SUF(gemm_args) *)ctx;
    const int64_t kb = task / g->n_col_groups, j0 = task % g->n_col_groups * g->col_group;
    const int64_t pc = kb * FM_GEMM_KC;
    SUF(gemm_args) part = *g;
    part.k = g->k - pc < FM_GEMM_KC ? g->k - pc : FM_GEMM_KC;
    part.a = g->a + pc * g->a_cs;
    part.b = g->b + pc * g->b_rs;
    part.alpha = 1;
    part.beta = 0;
    part.c = g->partial + kb * g->n;
    part.ldc = g->n_kb * g->n;
    SUF(gemm_rows)(&part, j0, g->n - j0 < g->col_group ? g->n : j0 + g->col_group);
}

/* C from the KC-block sums of gemm_rows_k_task, merged in k order as gemm_rows merges them:
 * the same bits. */
static void SUF(merge_k_blocks)(const SUF(gemm_args) *g)
{
    for (int64_t i = 0; i < g->m; i++) {
        REAL *ci = g->c + i * g->ldc;
        for (int64_t kb = 0; kb < g->n_kb; kb++) {
            const REAL *s = g->partial + (i * g->n_kb + kb) * g->n;
            const REAL beta = kb == 0 ? g->beta : 1;
            for (int64_t j = 0; j < g->n; j++)
                ci[j] = FM_MERGE(g->alpha, s[j], beta, ci[j]);
        }
    }
}

/* Bytes of KC-block sums a shared small product keeps on the calling thread's stack (the
 * 784-512-256-10 net's one-row layers need 8 KB in float32, 16 KB in float64). */
#define FM_SPLIT_K_BYTES 16384

/* The shared small product split by KC blocks (gemm_rows_k_task) when its sums fit
 * FM_SPLIT_K_BYTES; returns 0, computing nothing, when they do not. A function of its own, so
 * that only the calls that split reserve the stack for the sums (products inside the pool's
 * tasks, on workers with smaller stacks, never do). */
FM_NOINLINE static int SUF(gemm_rows_split_k)(SUF(gemm_args) *g, int team)
{
    REAL partial[FM_SPLIT_K_BYTES / sizeof(REAL)];
    if ((double)g->m * (double)g->n_kb * (double)g->n > (double)(FM_SPLIT_K_BYTES / sizeof(REAL)))
        return 0;
    /* whole KC blocks of rows of B per task, each split into enough column groups for four
     * tasks a thread: the caller claims the first tasks and the other threads the last, so
     * that each keeps reading the same rows */
    const int64_t blocks = (g->n + FM_ROWS_BLOCK - 1) / FM_ROWS_BLOCK;
    int64_t groups = (4 * (int64_t)team + g->n_kb - 1) / g->n_kb;
    groups = groups < blocks ? groups : blocks;
    g->col_group = (blocks + groups - 1) / groups * FM_ROWS_BLOCK;
    g->n_col_groups = (g->n + g->col_group - 1) / g->col_group;
    g->partial = partial;
    fm_pool_run(g->n_kb * g->n_col_groups, team, SUF(gemm_rows_k_task), g);
    SUF(merge_k_blocks)(g);
    g->partial = NULL;
    return 1;
}

/* Small path for column-major op(B) (op(B) = B^T): dot products along k, in KC blocks merged
 * as the microkernels do. */
static void SUF(gemm_dots)(const SUF(gemm_args) *g)
{
    for (int64_t i = 0; i < g->m; i++) {
        for (int64_t j = 0; j < g->n; j++) {
            REAL *cij = g->c + i * g->ldc + j;
            for (int64_t pc = 0; pc < g->k || pc == 0; pc += FM_GEMM_KC) {
                const int64_t p1 = g->k - pc < FM_GEMM_KC ? g->k : pc + FM_GEMM_KC;
                REAL sum = 0;
                for (int64_t p = pc; p < p1; p++)
                    sum = FM_FMA(g->a[i * g->a_rs + p * g->a_cs], g->b[p * g->b_rs + j * g->b_cs],
                                 sum);
                *cij = FM_MERGE(g->alpha, sum, pc == 0 ? g->beta : 1, *cij);
            }
        }
    }
}

/* C's one column (n == 1: an output layer of one unit, or its weight gradient) =
 * alpha * op(A) . b + beta * C, b[p * b_rs] being op(B)'s column. A register tile would be
 * one sixteenth useful here. Column-major op(A) (a_rs == 1): each k step adds a column of A
 * times b_p to FM_GEMV_ROWS accumulators, in k order. Row-major op(A): each row is a dot product
 * in 8 interleaved lanes added in a fixed order. A task is a block of FM_GEMV_ROWS rows. */
#define FM_GEMV_ROWS 256
/* An instruction-set file may compute the float32 row-major dot products 8 rows at a time
 * (dot_rows_x86.h), with the arithmetic of the loop below. */
#ifdef FM_DOT_ROWS
#define FM_DOT_ROWS_F32_HERE (sizeof(REAL) == sizeof(float))
#define FM_DOT_ROWS_F32(args) dot_rows_f32 args
#else
#define FM_DOT_ROWS_F32_HERE 0
#define FM_DOT_ROWS_F32(args)
#endif
/* Whether gemv_task applies the epilogue itself (a bias and identity or ReLU); its callers apply
 * any other after it. */
static int SUF(gemv_bias_act)(const fm_epilogue *ep)
{
    return ep != NULL && ep->kind == FM_EPI_BIAS_ACT;
}

static void SUF(gemv_task)(void *ctx, int64_t blk)
{
    const SUF(gemm_args) *g = (const SUF(gemm_args) *)ctx;
    const REAL *a = g->a, *b = g->b;
    const int64_t a_rs = g->a_rs, a_cs = g->a_cs, b_rs = g->b_rs, k = g->k;
    const int64_t i0 = blk * FM_GEMV_ROWS;
    const int64_t rows = g->m - i0 < FM_GEMV_ROWS ? g->m - i0 : FM_GEMV_ROWS;
    REAL acc[FM_GEMV_ROWS];
    if (a_rs == 1) {
        for (int64_t i = 0; i < rows; i++)
            acc[i] = 0;
        for (int64_t p = 0; p < k; p++) {
            const REAL bp = b[p * b_rs], *ap = a + p * a_cs + i0;
            for (int64_t i = 0; i < rows; i++)
                acc[i] = FM_FMA(ap[i], bp, acc[i]);
        }
    } else if (FM_DOT_ROWS_F32_HERE && b_rs == 1) {
        FM_DOT_ROWS_F32((rows, (const float *)(a + i0 * a_rs), a_rs, (const float *)b, k,
                         (float *)acc));
    } else {
        for (int64_t i = 0; i < rows; i++) {
            const REAL *ai = a + (i0 + i) * a_rs;
            REAL lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            int64_t p = 0;
            if (b_rs == 1)
                for (; p + 8 <= k; p += 8)
                    for (int l = 0; l < 8; l++)
                        lanes[l] = FM_FMA(ai[p + l], b[p + l], lanes[l]);
            REAL sum = 0;
            for (int l = 0; l < 8; l++)
                sum += lanes[l];
            for (; p < k; p++)
                sum = FM_FMA(ai[p], b[p * b_rs], sum);
            acc[i] = sum;
        }
    }
    if (SUF(gemv_bias_act)(g->ep)) {
        /* a forward layer's bias and activation, as epilogue_tile applies them (per row, it
         * read each value back right after its store) */
        const REAL bias = *(const REAL *)g->ep->bias;
        const int relu = g->ep->activation == FM_ACT_RELU;
        for (int64_t i = 0; i < rows; i++) {
            REAL *ci = g->c + (i0 + i) * g->ldc;
            REAL v = FM_MERGE(g->alpha, acc[i], g->beta, *ci);
            v += bias;
            if (relu)
                v = v > 0 ? v : 0;
            *ci = v;
        }
        return;
    }
    for (int64_t i = 0; i < rows; i++) {
        REAL *ci = g->c + (i0 + i) * g->ldc;
        *ci = FM_MERGE(g->alpha, acc[i], g->beta, *ci);
    }
}

/* Products with few columns (an output layer of a few classes, its weight gradient), and the
 * last few columns of a wider one (the 4 past 96 of a 100-unit layer, which the packed path
 * computes in tiles of 16 or 32 columns): an instruction-set file may provide float32 kernels
 * whose lanes run over rows of C (narrow_x86.h), with the packed path's arithmetic for every
 * element. A task is a sliver of FM_NARROW_ROWS rows of those columns through every KC block,
 * its epilogue applied once it is final. */
#ifdef FM_NARROW
#define FM_NARROW_F32_HERE (sizeof(REAL) == sizeof(float))
static void SUF(narrow_task)(void *ctx, int64_t s)
{
    const SUF(gemm_args) *g = (const SUF(gemm_args) *)ctx;
    const int64_t i0 = s * FM_NARROW_ROWS;
    const int64_t rows = g->m - i0 < FM_NARROW_ROWS ? g->m - i0 : FM_NARROW_ROWS;
    /* a forward layer's bias and ReLU in the kernel's last merge, as epilogue_tile does them */
    const int bias_act = g->ep != NULL && g->ep->kind == FM_EPI_BIAS_ACT;
    const int64_t j0 = g->narrow_col;
    REAL *c = g->c + i0 * g->ldc + j0;
    narrow_sliver_f32(rows, g->narrow_n, g->k, (float)g->alpha,
                      (const float *)(g->a + i0 * g->a_rs), g->a_rs, g->a_cs,
                      (const float *)(g->b + j0), g->b_rs, (float)g->beta, (float *)c, g->ldc,
                      bias_act ? (const float *)g->ep->bias + j0 : NULL,
                      bias_act && g->ep->activation == FM_ACT_RELU);
    if (!bias_act)
        SUF(epilogue_tile)(g->ep, c, g->ldc, i0, j0, rows, g->narrow_n);
}
#else
#define FM_NARROW_F32_HERE 0
#endif

/* Packs op(A)[0:mc, 0:kc] into MR-row slivers: ap[s][p][r], rows past mc zero. */
static void SUF(pack_a_sliver)(int64_t mr, int64_t kc, const REAL *a, int64_t a_rs, int64_t a_cs,
                               REAL *ap)
{
    if (a_cs == 1) {
        for (int64_t r = 0; r < MR; r++) {
            if (r < mr) {
                const REAL *ar = a + r * a_rs;
                for (int64_t p = 0; p < kc; p++)
                    ap[p * MR + r] = ar[p];
            } else {
                for (int64_t p = 0; p < kc; p++)
                    ap[p * MR + r] = 0;
            }
        }
    } else {
        for (int64_t p = 0; p < kc; p++) {
            const REAL *ap_src = a + p * a_cs;
            for (int64_t r = 0; r < MR; r++)
                ap[p * MR + r] = r < mr ? ap_src[r * a_rs] : 0;
        }
    }
}

/* Packs op(B)[0:kc, 0:nr] into one NR-column sliver: bp[p][j], columns past nr zero. */
static void SUF(pack_b_sliver)(int64_t nr, int64_t kc, const REAL *b, int64_t b_rs, int64_t b_cs,
                               REAL *bp)
{
    if (b_cs == 1 && nr == NR) { /* whole rows of the sliver: a vectorized copy */
        for (int64_t p = 0; p < kc; p++) {
            const REAL *bsrc = b + p * b_rs;
            for (int64_t j = 0; j < NR; j++)
                bp[p * NR + j] = bsrc[j];
        }
    } else if (b_cs == 1) {
        for (int64_t p = 0; p < kc; p++) {
            const REAL *bsrc = b + p * b_rs;
            for (int64_t j = 0; j < NR; j++)
                bp[p * NR + j] = j < nr ? bsrc[j] : 0;
        }
    } else {
#ifdef FM_PACK_B_COLUMNS
        /* op(B) column-major (B^T): contiguous columns transposed in registers */
        if (b_rs == 1) {
            SUF(pack_b_columns)(nr, kc, b, b_cs, bp);
            return;
        }
#endif
        for (int64_t p = 0; p < kc; p++)
            for (int64_t j = 0; j < NR; j++)
                bp[p * NR + j] = j < nr ? b[p * b_rs + j * b_cs] : 0;
    }
}

/* Slivers of mr rows that a kernel covers exactly: MR, and on x86 the two edge heights
 * (kernel_x86.h). A sliver of A of such a height can be read in place. */
#ifdef MR_EDGE1
#define FM_WHOLE_ROWS(mr) ((mr) == MR || (mr) == MR_EDGE1 || (mr) == MR_EDGE2)
#else
#define FM_WHOLE_ROWS(mr) ((mr) == MR)
#endif

/* One MR x NR tile of C at sliver (si, sj) of block (ic, jc), pc, from the A sliver at ap
 * (packed, or in place when a_here) and the B sliver at bp (likewise b_here); the epilogue runs
 * once the tile is final. Edge tiles go through a scratch tile, but for full-width tiles of the
 * edge heights (MR_EDGE1, MR_EDGE2), which their kernels write straight to C. */
FM_NOINLINE static void SUF(tile)(int64_t kc, int64_t mr, int64_t nr, REAL alpha,
                                  const REAL *ap, int a_here, int direct_a, int64_t a_rs,
                                  int64_t a_step, const REAL *bp, int64_t bs, REAL beta_block,
                                  REAL *ct, int64_t ldc, int last_block, const fm_epilogue *ep,
                                  int64_t row, int64_t col)
{
    const int64_t as = a_here ? a_step : MR;
    const int rows_here = a_here && direct_a == FM_DIRECT_ROWS;
    if (mr == MR && nr == NR && rows_here) {
        SUF(kernel_rows)(kc, ap, a_rs, bp, bs, ct, ldc, alpha, beta_block);
    } else if (mr == MR && nr == NR) {
        SUF(kernel)(kc, ap, as, bp, bs, ct, ldc, alpha, beta_block);
#ifdef MR_EDGE1
    } else if (mr != MR && FM_WHOLE_ROWS(mr) && (nr == NR || a_here)) {
        /* an edge height: its own kernel, straight to C for a full-width tile, through a
         * scratch tile for a narrow one (then only when A is read in place; packed, the
         * padded MR-row kernels below serve) */
        typedef void (*kernel_fn)(int64_t, const REAL *, int64_t, const REAL *, int64_t, REAL *,
                                  int64_t, REAL, REAL);
        const kernel_fn edge = mr == MR_EDGE1
                                   ? (rows_here ? SUF(kernel_rows_edge1) : SUF(kernel_edge1))
                                   : (rows_here ? SUF(kernel_rows_edge2) : SUF(kernel_edge2));
        const int64_t a_arg = rows_here ? a_rs : as;
        if (nr == NR) {
            edge(kc, ap, a_arg, bp, bs, ct, ldc, alpha, beta_block);
        } else {
            _Alignas(64) REAL tile[MR * NR];
            edge(kc, ap, a_arg, bp, bs, tile, NR, 1, 0);
            SUF(merge_tile)(mr, nr, alpha, tile, NR, beta_block, ct, ldc);
        }
#endif
    } else { /* an edge tile, through a scratch tile */
        _Alignas(64) REAL tile[MR * NR];
        const int half = nr <= NR / 2;
        if (rows_here) {
            if (half)
                SUF(kernel_rows_half)(kc, ap, a_rs, bp, bs, tile, NR, 1, 0);
            else
                SUF(kernel_rows)(kc, ap, a_rs, bp, bs, tile, NR, 1, 0);
        } else {
            if (half)
                SUF(kernel_half)(kc, ap, as, bp, bs, tile, NR, 1, 0);
            else
                SUF(kernel)(kc, ap, as, bp, bs, tile, NR, 1, 0);
        }
        SUF(merge_tile)(mr, nr, alpha, tile, NR, beta_block, ct, ldc);
    }
    if (last_block)
        SUF(epilogue_tile)(ep, ct, ldc, row, col, mr, nr);
}

/* The packed path: jc over NC columns of C, pc over KC steps of k, the tiles of each block shared
 * among the pool's threads as tasks (pool.h). With direct_b (op(B) row-major, small), the
 * microkernel reads whole NR-wide slivers of B in place, KC rows b_rs apart, and only a narrower
 * last sliver is packed; with direct_a, likewise for MR-tall slivers of A: FM_DIRECT_COLUMNS
 * (op(A) column-major, a_rs == 1) through the packed-layout kernel with a step of a_cs,
 * FM_DIRECT_ROWS (op(A) row-major) through kernel_rows, which broadcasts from MR rows side by
 * side. Every path does the same arithmetic in the same order, so which task computes a tile,
 * and on which thread, never changes a bit. Two ways to cut a block into tasks:
 *
 * by columns (A read in place, op(B) row-major, enough B slivers: the forward products, where m
 *   is the batch): a task is one NR-wide sliver of B through all KC blocks: it packs its sliver
 *   (at a place of its own in the panel) and computes the sliver's whole column of tiles, block
 *   after block; one job per NC block, no waiting between KC blocks;
 * by rows (the weight gradients, where m is a layer's fan-in, the input gradients, whose B is
 *   transposed, and products with few slivers): per KC block, a job packs the B panel's slivers
 *   (unless B is read in place), then a job computes the tiles, a task being an MR-tall sliver of
 *   A (packed by the task on its own stack unless read in place) against a group of B slivers. */
#define FM_TASKS_PER_THREAD 4

/* A sliver of A for tile rows i .. i + mr - 1 of KC block pc: in place, or packed into buf. */
static const REAL *SUF(a_sliver)(const SUF(gemm_args) *g, int64_t i, int64_t mr, REAL *buf,
                                 int *a_here)
{
    const REAL *ap = g->a + i * g->a_rs + g->pc * g->a_cs;
    *a_here = g->direct_a && FM_WHOLE_ROWS(mr);
    if (*a_here)
        return ap;
    SUF(pack_a_sliver)(mr, g->kc, ap, g->a_rs, g->a_cs, buf);
    return buf;
}

/* Task of the column cut: B sliver sj of NC block jc through every KC block. */
static void SUF(columns_task)(void *ctx, int64_t sj)
{
    const SUF(gemm_args) *g = (const SUF(gemm_args) *)ctx;
    _Alignas(64) REAL a_buf[MR * FM_GEMM_KC];
    SUF(gemm_args) blk = *g;
    const int64_t j = sj * NR, nr = g->nc - j < NR ? g->nc - j : NR;
    const int b_here = g->direct_b && nr == NR;
    for (int64_t pc = 0; pc < g->k; pc += FM_GEMM_KC) {
        const int64_t kc = g->k - pc < FM_GEMM_KC ? g->k - pc : FM_GEMM_KC;
        const REAL beta_block = pc == 0 ? g->beta : 1;
        const int last_block = pc + kc >= g->k;
        blk.pc = pc;
        blk.kc = kc;
        const REAL *bp = g->b + pc * g->b_rs + (g->jc + j) * g->b_cs;
        if (!b_here) { /* at a stride that does not depend on kc: slivers never overlap */
            REAL *own = g->pack + sj * FM_GEMM_KC * NR;
            SUF(pack_b_sliver)(nr, kc, bp, g->b_rs, g->b_cs, own);
            bp = own;
        }
        for (int64_t i = 0; i < g->m; i += MR) {
            const int64_t mr = g->m - i < MR ? g->m - i : MR;
            int a_here;
            const REAL *ap = SUF(a_sliver)(&blk, i, mr, a_buf, &a_here);
            SUF(tile)(kc, mr, nr, g->alpha, ap, a_here, g->direct_a, g->a_rs,
                      a_here ? g->a_cs : MR, bp, b_here ? g->b_rs : NR, beta_block,
                      g->c + i * g->ldc + g->jc + j, g->ldc, last_block, g->ep, i, g->jc + j);
        }
    }
}

/* Task of the row cut's packing job: B sliver first_packed + s of the current block. */
static void SUF(pack_b_task)(void *ctx, int64_t s)
{
    const SUF(gemm_args) *g = (const SUF(gemm_args) *)ctx;
    s += g->first_packed;
    const int64_t j = s * NR;
    SUF(pack_b_sliver)(g->nc - j < NR ? g->nc - j : NR, g->kc,
                       g->b + g->pc * g->b_rs + (g->jc + j) * g->b_cs, g->b_rs, g->b_cs,
                       g->pack + s * g->kc * NR);
}

/* Task of the row cut's tile job: A sliver task / n_col_groups against B slivers of column group
 * task % n_col_groups of the current block. */
static void SUF(rows_task)(void *ctx, int64_t task)
{
    const SUF(gemm_args) *g = (const SUF(gemm_args) *)ctx;
    _Alignas(64) REAL a_buf[MR * FM_GEMM_KC];
    const int64_t si = task / g->n_col_groups, group = task % g->n_col_groups;
    const int64_t i = si * MR, mr = g->m - i < MR ? g->m - i : MR;
    const int64_t sj_end = (group + 1) * g->col_group < g->n_slivers ? (group + 1) * g->col_group
                                                                      : g->n_slivers;
    const REAL beta_block = g->pc == 0 ? g->beta : 1;
    const int last_block = g->pc + g->kc >= g->k;
    int a_here;
    const REAL *ap = SUF(a_sliver)(g, i, mr, a_buf, &a_here);
    for (int64_t sj = group * g->col_group; sj < sj_end; sj++) {
        const int64_t j = sj * NR, nr = g->nc - j < NR ? g->nc - j : NR;
        const int b_here = g->direct_b && nr == NR;
        SUF(tile)(g->kc, mr, nr, g->alpha, ap, a_here, g->direct_a, g->a_rs,
                  a_here ? g->a_cs : MR,
                  b_here ? g->b + g->pc * g->b_rs + (g->jc + j) * g->b_cs
                         : g->pack + sj * g->kc * NR,
                  b_here ? g->b_rs : NR, beta_block, g->c + i * g->ldc + g->jc + j, g->ldc,
                  last_block, g->ep, i, g->jc + j);
    }
}

/* The packed GEMM on up to `threads` threads (1: all on the calling thread). */
static void SUF(gemm_packed)(SUF(gemm_args) *g, int threads)
{
    g->direct_a = g->a_rs == 1 &&
                          (double)g->m * (double)g->k * sizeof(REAL) <= FM_GEMM_DIRECT_BYTES
                      ? FM_DIRECT_COLUMNS
                  : g->a_cs == 1 ? FM_DIRECT_ROWS
                                 : 0;
    g->direct_b =
        g->b_cs == 1 && (double)g->k * (double)g->n * sizeof(REAL) <= FM_GEMM_DIRECT_BYTES;
    g->m_slivers = (g->m + MR - 1) / MR;
    const int64_t wanted = (int64_t)threads * FM_TASKS_PER_THREAD;
    for (g->jc = 0; g->jc < g->n; g->jc += FM_GEMM_NC) {
        g->nc = g->n - g->jc < FM_GEMM_NC ? g->n - g->jc : FM_GEMM_NC;
        g->n_slivers = (g->nc + NR - 1) / NR;
        if (g->direct_a && g->b_cs == 1 && (threads == 1 || g->n_slivers >= wanted)) {
            fm_pool_run(g->n_slivers, threads, SUF(columns_task), g);
            continue;
        }
        /* Column groups: one (each A sliver packed once) unless the rows alone give too few
         * tasks. */
        int64_t groups = 1;
        if (threads > 1 && g->m_slivers < wanted) {
            groups = (wanted + g->m_slivers - 1) / g->m_slivers;
            groups = groups < g->n_slivers ? groups : g->n_slivers;
        }
        g->col_group = (g->n_slivers + groups - 1) / groups;
        g->n_col_groups = (g->n_slivers + g->col_group - 1) / g->col_group;
        g->first_packed = g->direct_b ? g->nc / NR : 0;
        for (g->pc = 0; g->pc < g->k; g->pc += FM_GEMM_KC) {
            g->kc = g->k - g->pc < FM_GEMM_KC ? g->k - g->pc : FM_GEMM_KC;
            fm_pool_run(g->n_slivers - g->first_packed, threads, SUF(pack_b_task), g);
            fm_pool_run(g->m_slivers * g->n_col_groups, threads, SUF(rows_task), g);
        }
    }
}

/* The GEMM with an epilogue (ep may be NULL): the core's dense layers call this directly. */
int SUF(fm_gemm_ex)(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, REAL alpha,
                    const REAL *a, int64_t lda, const REAL *b, int64_t ldb, REAL beta, REAL *c,
                    int64_t ldc, REAL *pack, const fm_epilogue *ep)
{
    if (m < 0 || n < 0 || k < 0 || ldc < n || lda < (trans_a ? m : k) || ldb < (trans_b ? k : n))
        return FM_ERR_ARG;
    if (m == 0 || n == 0)
        return FM_OK;
    /* op(A)(i, p) = a[i * a_rs + p * a_cs], op(B)(p, j) = b[p * b_rs + j * b_cs]. */
    SUF(gemm_args) g;
    memset(&g, 0, sizeof(g));
    g.m = m;
    g.n = n;
    g.k = k;
    g.alpha = alpha;
    g.beta = beta;
    g.a = a;
    g.b = b;
    g.a_rs = trans_a ? 1 : lda;
    g.a_cs = trans_a ? lda : 1;
    g.b_rs = trans_b ? 1 : ldb;
    g.b_cs = trans_b ? ldb : 1;
    g.c = c;
    g.ldc = ldc;
    g.ep = ep;
    const double work = (double)m * (double)n * (double)k;
    const int threads = fm_team_size(work, FM_GEMM_PAR_MIN_WORK);
    /* Fewer rows than a register tile (predicting a few samples): no packing. Anything larger
     * goes through the microkernel, even a 2-column output layer: its padded tiles stay in
     * registers, where row updates would wait on store-to-load forwarding at every k step. */
    if (n == 1 && k > 0) {
        fm_pool_run((m + FM_GEMV_ROWS - 1) / FM_GEMV_ROWS, threads, SUF(gemv_task), &g);
        if (!SUF(gemv_bias_act)(ep))
            SUF(epilogue_tile)(ep, c, ldc, 0, 0, m, n);
        return FM_OK;
    }
    if (k == 0 || m < MR) {
        /* streaming the weights, these products gain from a second core's cache and
         * bandwidth at a quarter of the packed path's work */
        if (g.b_cs == 1) {
            const int team = fm_team_size(work, FM_GEMM_PAR_MIN_WORK / 4);
            g.n_kb = (k + FM_GEMM_KC - 1) / FM_GEMM_KC;
            if (team <= 1 || g.n_kb <= 1 || !SUF(gemm_rows_split_k)(&g, team)) {
                const int64_t blocks = (n + FM_ROWS_BLOCK - 1) / FM_ROWS_BLOCK;
                g.col_group = (blocks + team - 1) / team * FM_ROWS_BLOCK;
                fm_pool_run((n + g.col_group - 1) / g.col_group, team, SUF(gemm_rows_task), &g);
            }
        }
        else
            SUF(gemm_dots)(&g);
        SUF(epilogue_tile)(ep, c, ldc, 0, 0, m, n);
        return FM_OK;
    }
#ifdef FM_NARROW
    if (FM_NARROW_F32_HERE && g.b_cs == 1 && (g.a_rs == 1 || g.a_cs == 1)) {
        /* the whole product, or its last n % NR columns; the packed path does the rest */
        g.narrow_n = n <= FM_NARROW_MAX_N ? n : n % NR <= FM_NARROW_MAX_N ? n % NR : 0;
        if (g.narrow_n > 0) {
            g.narrow_col = n - g.narrow_n;
            fm_pool_run((m + FM_NARROW_ROWS - 1) / FM_NARROW_ROWS, threads, SUF(narrow_task),
                        &g);
            if (g.narrow_col == 0)
                return FM_OK;
            g.n = n = g.narrow_col;
        }
    }
#endif
    void *own_pack = NULL;
    if (pack == NULL) {
        /* the B panel of this product only (a few rows predicted need far less than a
         * workspace's) */
        const int64_t cols = (n < FM_GEMM_NC ? n : FM_GEMM_NC) + NR;
        own_pack = fm_aligned_alloc((size_t)FM_GEMM_KC * (size_t)cols * sizeof(REAL));
        if (own_pack == NULL)
            return FM_ERR_NOMEM;
        pack = (REAL *)own_pack;
    }
    g.pack = pack;
    /* Few k steps (the input gradient through an output layer of a few classes, a first layer
     * of few features) on one thread: the tiles follow each other so quickly that the epilogue
     * of each, reading its rows back right after the kernel stored them, cost more than one
     * pass over C once the product is done (a 48 x 100 product of 10 k steps: about 13%).
     * Each element gets the same epilogue after its final value either way. */
    const int epilogue_after = threads == 1 && k <= FM_EPILOGUE_AFTER_K;
    if (epilogue_after)
        g.ep = NULL;
    SUF(gemm_packed)(&g, threads);
    if (epilogue_after)
        SUF(epilogue_tile)(ep, c, ldc, 0, 0, m, n);
    fm_aligned_free(own_pack);
    return FM_OK;
}

/* ---- the forward product of predict's row blocks: C = A . B, one thread, B packed once ----
 * A dense layer's forward product for a block of rows (A: m x k row-major, B: the layer's k x n
 * weights, row-major) on the calling thread, with B's slivers packed once per prediction
 * (fm_gemm_forward_pack) instead of by every product. Each element of C gets the arithmetic
 * fm_gemm_ex gives it (the same kernels, KC blocks, small-row and one-column paths, epilogue),
 * so a row's values do not depend on the blocks of rows nor on which thread computes them. */

/* Whether fm_gemm_ex reads B's whole slivers in place (small B), as gemm_packed decides. */
_Static_assert(MR <= FM_PREDICT_MR_MAX, "predict's blocks assume tiles of at most FM_PREDICT_MR_MAX rows");

static int SUF(forward_b_direct)(int64_t k, int64_t n)
{
    return (double)k * (double)n * sizeof(REAL) <= FM_GEMM_DIRECT_BYTES;
}

int64_t SUF(fm_gemm_forward_pack_size)(int64_t k, int64_t n)
{
    if (k < 1 || n < 2)
        return 0; /* a one-column product is a gemv, reading B in place */
    /* every sliver, or (B read in place) only a last one narrower than NR */
    const int64_t slivers = SUF(forward_b_direct)(k, n) ? (n % NR != 0) : (n + NR - 1) / NR;
    return slivers * k * NR;
}

int64_t SUF(fm_gemm_forward_slivers)(int64_t k, int64_t n)
{
    return SUF(fm_gemm_forward_pack_size)(k, n) / (k * NR);
}

void SUF(fm_gemm_forward_pack)(int64_t k, int64_t n, const REAL *b, int64_t ldb, REAL *bp,
                               int64_t s0, int64_t s1)
{
    if (SUF(fm_gemm_forward_pack_size)(k, n) == 0)
        return;
    /* the packed slivers are B's last ones: all of them, or (B read in place) a narrower last */
    const int64_t n_slivers = (n + NR - 1) / NR;
    const int64_t first = n_slivers - SUF(fm_gemm_forward_slivers)(k, n);
    /* packed sliver q (B's sliver first + q) at q * k * NR, its KC block at pc a further
     * pc * NR on */
    for (int64_t q = s0; q < s1; q++) {
        const int64_t s = first + q, nr = n - s * NR < NR ? n - s * NR : NR;
        for (int64_t pc = 0; pc < k; pc += FM_GEMM_KC) {
            const int64_t kc = k - pc < FM_GEMM_KC ? k - pc : FM_GEMM_KC;
            SUF(pack_b_sliver)(nr, kc, b + pc * ldb + s * NR, ldb, 1, bp + q * k * NR + pc * NR);
        }
    }
}

int SUF(fm_gemm_forward)(int64_t m, int64_t n, int64_t k, const REAL *a, int64_t lda,
                         const REAL *b, int64_t ldb, const REAL *packed, REAL *c, int64_t ldc,
                         const fm_epilogue *ep)
{
    if (m < 0 || n < 0 || k < 1 || ldc < n || lda < k || ldb < n ||
        (packed == NULL && SUF(fm_gemm_forward_pack_size)(k, n) > 0))
        return FM_ERR_ARG;
    if (m == 0 || n == 0)
        return FM_OK;
    SUF(gemm_args) g;
    memset(&g, 0, sizeof(g));
    g.m = m;
    g.n = n;
    g.k = k;
    g.alpha = 1;
    g.beta = 0;
    g.a = a;
    g.b = b;
    g.a_rs = lda;
    g.a_cs = 1;
    g.b_rs = ldb;
    g.b_cs = 1;
    g.c = c;
    g.ldc = ldc;
    g.ep = ep;
    if (n == 1) { /* fm_gemm_ex's gemv */
        for (int64_t blk = 0; blk < (m + FM_GEMV_ROWS - 1) / FM_GEMV_ROWS; blk++)
            SUF(gemv_task)(&g, blk);
        if (!SUF(gemv_bias_act)(ep))
            SUF(epilogue_tile)(ep, c, ldc, 0, 0, m, n);
        return FM_OK;
    }
    if (m < MR) { /* fm_gemm_ex's small path */
        SUF(gemm_rows)(&g, 0, n);
        SUF(epilogue_tile)(ep, c, ldc, 0, 0, m, n);
        return FM_OK;
    }
    /* gemm_packed's choices for this layout, and its column cut: a sliver of B through every
     * KC block, the block's rows in MR-tall tiles under it (the sliver stays in L1, A in L2) */
    g.direct_a = g.a_rs == 1 && (double)m * (double)k * sizeof(REAL) <= FM_GEMM_DIRECT_BYTES
                     ? FM_DIRECT_COLUMNS
                     : FM_DIRECT_ROWS;
    const int direct_b = SUF(forward_b_direct)(k, n);
    const int64_t n_slivers = (n + NR - 1) / NR;
    const int64_t first_packed = direct_b ? n_slivers - 1 : 0;
    _Alignas(64) REAL a_buf[MR * FM_GEMM_KC];
#ifdef FM_KERNEL_ROWS_AHEAD
    const int64_t m_tiles = (m + MR - 1) / MR;
#endif
    for (int64_t sj = 0; sj < n_slivers; sj++) {
        const int64_t j = sj * NR, nr = n - j < NR ? n - j : NR;
        const int b_here = direct_b && nr == NR;
        for (int64_t pc = 0; pc < k; pc += FM_GEMM_KC) {
            const int64_t kc = k - pc < FM_GEMM_KC ? k - pc : FM_GEMM_KC;
            const REAL beta_block = pc == 0 ? 0 : 1;
            const int last_block = pc + kc >= k;
            g.pc = pc;
            g.kc = kc;
            const REAL *bp =
                b_here ? b + pc * ldb + j : packed + (sj - first_packed) * k * NR + pc * NR;
#ifdef FM_KERNEL_ROWS_AHEAD
            /* The packed slivers lie one after another in the order read here, so the next
             * panel (the next KC block, or the next sliver's first) starts where this one
             * ends. The tiles under this panel bring it into L1 while they run: tile t's
             * kernel asks for kc / 4 cache lines (one every 4 k steps) from the t-th of
             * m_tiles equal shares of it on: the whole panel from 8 tiles on (a float32 panel
             * of 256 k steps is 512 lines; predict's blocks of the net below have 9), its first part
             * with fewer, the shares of more tiles overlapping. Without that, the first tile
             * under each panel waits for the weights from L3 (those of a 784-512-256-10 net
             * outgrow L2): predict_proba of 4,096 rows ran about 6% slower. Prefetches change
             * no value. */
            const int has_next = !b_here && (sj + 1 < n_slivers || !last_block);
            const int64_t next_kc = !last_block ? (k - pc - kc < FM_GEMM_KC ? k - pc - kc
                                                                           : FM_GEMM_KC)
                                                : (k < FM_GEMM_KC ? k : FM_GEMM_KC);
            const int64_t next_lines =
                has_next ? (next_kc * NR * (int64_t)sizeof(REAL) + 63) / 64 : 0;
#endif
            for (int64_t i = 0; i < m; i += MR) {
                const int64_t mr = m - i < MR ? m - i : MR;
                int a_here;
                const REAL *ap = SUF(a_sliver)(&g, i, mr, a_buf, &a_here);
#ifdef FM_KERNEL_ROWS_AHEAD
                if (next_lines > 0 && mr == MR && nr == NR && a_here &&
                    g.direct_a == FM_DIRECT_ROWS) {
                    /* tile()'s first case, with this tile's share of the next panel */
                    const int64_t l0 = next_lines * (i / MR) / m_tiles;
                    SUF(kernel_rows_ahead)(kc, ap, g.a_rs, bp, NR, c + i * ldc + j, ldc, 1,
                                           beta_block,
                                           bp + kc * NR + l0 * (64 / (int64_t)sizeof(REAL)));
                    if (last_block)
                        SUF(epilogue_tile)(ep, c + i * ldc + j, ldc, i, j, MR, NR);
                    continue;
                }
#endif
                SUF(tile)(kc, mr, nr, 1, ap, a_here, g.direct_a, g.a_rs, a_here ? g.a_cs : MR,
                          bp, b_here ? ldb : NR, beta_block, c + i * ldc + j, ldc, last_block,
                          ep, i, j);
            }
        }
    }
    return FM_OK;
}

int SUF(fm_gemm)(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, REAL alpha,
                 const REAL *a, int64_t lda, const REAL *b, int64_t ldb, REAL beta, REAL *c,
                 int64_t ldc, REAL *pack)
{
    return SUF(fm_gemm_ex)(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, pack,
                           NULL);
}
