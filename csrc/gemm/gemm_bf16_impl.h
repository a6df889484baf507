/* fastmlp C core: the bfloat16 GEMM driver (bf16.h has the arithmetic it computes), included
 * once per instruction set by gemm_bf16_<isa>.c with:
 *   BF_ISA        the name suffix (generic, avx2, avx512, amx);
 *   BF_MR, BF_NR  the register tile (at most FM_BF16_MR_MAX x FM_BF16_NR_MAX);
 *   BF_STORAGE    uint16_t: operands packed as bfloat16 pairs (the two values of a k pair side
 *                 by side: B's pair of column j at bp[(q * NR + j) * 2 + e], A's of row r at
 *                 ap[(q * MR + r) * 2 + e], or with BF_A_ROWS, at ap[((q / 16) * MR + r) * 32 +
 *                 (q % 16) * 2 + e]: per block of 16 pairs, MR rows of 32 values, AMX's tiles);
 *                 float: as the float32 values of the rounded operands, k step by k step (A's at
 *                 ap[(2q + e) * MR + r], B's at bp[(2q + e) * NR + j]), for the emulations;
 *   BF_KERNEL     static void BF_KERNEL(int64_t k_pairs, const BF_STORAGE *ap,
 *                 const BF_STORAGE *bp, float *tile): the MR x NR tile of sums (row stride NR)
 *                 of one packed sliver of A and one of B over k_pairs pairs, in blocks of
 *                 FM_BF16_BLOCK_PAIRS pairs (bf16.h);
 *   BF_WHOLE_BLOCKS (optional) k padded to whole blocks (the padding changes no sum, bf16.h);
 *   BF_TASK_BEGIN, BF_TASK_END (optional) static void functions (void) run by a tile task
 *                 before its first kernel call and after its last (AMX: the tile
 *                 configuration);
 *   BF_PACK_SLIVER (optional) static void BF_PACK_SLIVER(int is_a, int64_t k, int64_t k_pairs,
 *                 const float *src, int64_t lane_stride, int64_t k_stride, int64_t valid,
 *                 BF_STORAGE *dst): packs every sliver (of A with is_a, of B without) whose
 *                 value (p, i) is at src[p * k_stride + i * lane_stride], one of the strides 1,
 *                 in place of the macros below;
 *   BF_PACK_ACROSS (optional) static void BF_PACK_ACROSS(int64_t k, int64_t k_pairs,
 *                 const float *src, int64_t stride, int64_t valid, int64_t lanes, float pad,
 *                 BF_STORAGE *dst): what BF_PACK_ACROSS_ROWS below does, faster.
 *
 * The product is cut like the float GEMM's packed path, without KC blocking (each tile adds all
 * of k in registers): one job packs op(A) into MR-row slivers and op(B) into NR-column slivers,
 * a second computes the tiles (a task: one A sliver against a group of B slivers) and applies
 * the epilogue. Each element is computed by one thread in a fixed order, so the result
 * does not depend on the number of threads. op(A) is padded along k with -0 and op(B) with +0,
 * so that a padded product is -0 * +0 = -0, which changes no sum (bf16.h). */

#define BF_NAME(name) FM_XCAT2(name, BF_ISA)

/* A packed operand's value at pair q, element e (0: k = 2q, 1: k = 2q + 1), lane i of a sliver
 * `lanes` wide. */
#define BF_INDEX(q, e, i, lanes)                                                                   \
    (sizeof(BF_STORAGE) == 2 ? ((q) * (lanes) + (i)) * 2 + (e) : ((q) * 2 + (e)) * (lanes) + (i))
#ifdef BF_A_ROWS
#define BF_A_INDEX(q, e, i, lanes)                                                                 \
    ((((q) / FM_BF16_BLOCK_PAIRS) * (lanes) + (i)) * 2 * FM_BF16_BLOCK_PAIRS +                     \
     ((q) % FM_BF16_BLOCK_PAIRS) * 2 + (e))
#else
#define BF_A_INDEX BF_INDEX
#endif

static inline BF_STORAGE BF_NAME(bf_store)(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof(u));
    u = fm_bf16_round_bits(u);
    if (sizeof(BF_STORAGE) == 2)
        return (BF_STORAGE)(u >> 16);
    float v;
    memcpy(&v, &u, sizeof(v));
    return (BF_STORAGE)v;
}

typedef struct BF_NAME(bf_args) {
    int64_t m, n, k, k_pairs;
    float alpha, beta;
    const float *a, *b;
    int64_t a_rs, a_cs, b_rs, b_cs;
    float *c;
    int64_t ldc;
    BF_STORAGE *ap, *bp; /* the packed slivers: m_slivers of MR x 2 k_pairs, n_slivers of NR */
    int64_t m_slivers, n_slivers, col_group, n_col_groups;
    const fm_epilogue *ep;
} BF_NAME(bf_args);

/* Packs a sliver `lanes` wide whose k steps are rows of the source (value (p, i) at
 * src[p * stride + i]: op(B) row-major, op(A) column-major) at INDEX, lanes past `valid` and k
 * past k PAD. LANES is the sliver's width as a constant, so that the rows vectorize. */
#define BF_PACK_ALONG_ROWS(NAME, LANES, INDEX, PAD)                                                \
    static void NAME(int64_t k, int64_t k_pairs, const float *src, int64_t stride,                 \
                     int64_t valid, BF_STORAGE *dst)                                               \
    {                                                                                              \
        for (int64_t q = 0; q < k_pairs; q++) {                                                    \
            const int even = 2 * q < k, odd = 2 * q + 1 < k;                                       \
            const float *r0 = even ? src + 2 * q * stride : src, *r1 = odd ? r0 + stride : r0;     \
            if (valid == LANES && odd) {                                                           \
                for (int64_t i = 0; i < LANES; i++) {                                              \
                    dst[INDEX(q, 0, i, LANES)] = BF_NAME(bf_store)(r0[i]);                         \
                    dst[INDEX(q, 1, i, LANES)] = BF_NAME(bf_store)(r1[i]);                         \
                }                                                                                  \
            } else {                                                                               \
                for (int64_t i = 0; i < LANES; i++) {                                              \
                    dst[INDEX(q, 0, i, LANES)] =                                                   \
                        i < valid && even ? BF_NAME(bf_store)(r0[i]) : PAD;                        \
                    dst[INDEX(q, 1, i, LANES)] =                                                   \
                        i < valid && odd ? BF_NAME(bf_store)(r1[i]) : PAD;                         \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }

/* Packs a sliver `lanes` wide whose lanes are rows of the source (value (p, i) at
 * src[i * stride + p]: op(A) row-major, op(B) column-major). */
#define BF_PACK_ACROSS_ROWS(NAME, LANES, INDEX, PAD)                                               \
    static void NAME(int64_t k, int64_t k_pairs, const float *src, int64_t stride,                 \
                     int64_t valid, BF_STORAGE *dst)                                               \
    {                                                                                              \
        for (int64_t i = 0; i < LANES; i++) {                                                      \
            const int here = i < valid;                                                            \
            const float *row = here ? src + i * stride : src;                                      \
            int64_t q = 0;                                                                         \
            if (here)                                                                              \
                for (; 2 * q + 1 < k; q++) {                                                       \
                    dst[INDEX(q, 0, i, LANES)] = BF_NAME(bf_store)(row[2 * q]);                    \
                    dst[INDEX(q, 1, i, LANES)] = BF_NAME(bf_store)(row[2 * q + 1]);                \
                }                                                                                  \
            for (; q < k_pairs; q++) {                                                             \
                dst[INDEX(q, 0, i, LANES)] =                                                       \
                    here && 2 * q < k ? BF_NAME(bf_store)(row[2 * q]) : PAD;                       \
                dst[INDEX(q, 1, i, LANES)] = PAD;                                                  \
            }                                                                                      \
        }                                                                                          \
    }

/* op(A)'s padding (-0) and op(B)'s (+0) in the packed storage. */
#define BF_PAD_A ((BF_STORAGE)(sizeof(BF_STORAGE) == 2 ? 0x8000 : -0.0f))
#define BF_PAD_B ((BF_STORAGE)0)
BF_PACK_ALONG_ROWS(BF_NAME(bf_pack_a_along), BF_MR, BF_A_INDEX, BF_PAD_A)
BF_PACK_ALONG_ROWS(BF_NAME(bf_pack_b_along), BF_NR, BF_INDEX, BF_PAD_B)
#ifdef BF_PACK_ACROSS
#define BF_PACK_ACROSS_WITH(NAME, LANES, PAD)                                                      \
    static void NAME(int64_t k, int64_t k_pairs, const float *src, int64_t stride,                 \
                     int64_t valid, BF_STORAGE *dst)                                               \
    {                                                                                              \
        BF_PACK_ACROSS(k, k_pairs, src, stride, valid, LANES, PAD, dst);                           \
    }
BF_PACK_ACROSS_WITH(BF_NAME(bf_pack_a_across), BF_MR, -0.0f)
BF_PACK_ACROSS_WITH(BF_NAME(bf_pack_b_across), BF_NR, 0.0f)
#undef BF_PACK_ACROSS_WITH
#else
BF_PACK_ACROSS_ROWS(BF_NAME(bf_pack_a_across), BF_MR, BF_A_INDEX, BF_PAD_A)
BF_PACK_ACROSS_ROWS(BF_NAME(bf_pack_b_across), BF_NR, BF_INDEX, BF_PAD_B)
#endif

/* Task of the A packing job: rows [s MR, s MR + MR) of op(A), rows past m and k past k -0. */
static void BF_NAME(bf_pack_a_task)(void *ctx, int64_t s)
{
    const BF_NAME(bf_args) *g = (const BF_NAME(bf_args) *)ctx;
    BF_STORAGE *ap = g->ap + s * BF_MR * 2 * g->k_pairs;
    const int64_t i0 = s * BF_MR, rows = g->m - i0 < BF_MR ? g->m - i0 : BF_MR;
#ifdef BF_PACK_SLIVER
    BF_PACK_SLIVER(1, g->k, g->k_pairs, g->a + i0 * g->a_rs, g->a_rs, g->a_cs, rows, ap);
    return;
#endif
    if (g->a_cs == 1) /* row-major op(A) */
        BF_NAME(bf_pack_a_across)(g->k, g->k_pairs, g->a + i0 * g->a_rs, g->a_rs, rows, ap);
    else /* column-major op(A) (A^T) */
        BF_NAME(bf_pack_a_along)(g->k, g->k_pairs, g->a + i0 * g->a_rs, g->a_cs, rows, ap);
}

/* Task of the B packing job: columns [s NR, s NR + NR) of op(B), columns past n and k past k
 * zero. */
static void BF_NAME(bf_pack_b_task)(void *ctx, int64_t s)
{
    const BF_NAME(bf_args) *g = (const BF_NAME(bf_args) *)ctx;
    BF_STORAGE *bp = g->bp + s * BF_NR * 2 * g->k_pairs;
    const int64_t j0 = s * BF_NR, cols = g->n - j0 < BF_NR ? g->n - j0 : BF_NR;
#ifdef BF_PACK_SLIVER
    BF_PACK_SLIVER(0, g->k, g->k_pairs, g->b + j0 * g->b_cs, g->b_cs, g->b_rs, cols, bp);
    return;
#endif
    if (g->b_cs == 1) { /* row-major op(B) */
        BF_NAME(bf_pack_b_along)(g->k, g->k_pairs, g->b + j0 * g->b_cs, g->b_rs, cols, bp);
    } else { /* column-major op(B) (B^T) */
        BF_NAME(bf_pack_b_across)(g->k, g->k_pairs, g->b + j0 * g->b_cs, g->b_cs, cols, bp);
    }
}

/* Task of the packing job: A sliver s, or B sliver s - m_slivers. */
static void BF_NAME(bf_pack_task)(void *ctx, int64_t s)
{
    const BF_NAME(bf_args) *g = (const BF_NAME(bf_args) *)ctx;
    if (s < g->m_slivers)
        BF_NAME(bf_pack_a_task)(ctx, s);
    else
        BF_NAME(bf_pack_b_task)(ctx, s - g->m_slivers);
}

/* The epilogue (internal.h) on the final rows x cols tile of C at (row, col), in the float
 * GEMM's arithmetic, written out operation by operation (these files compile without
 * contraction into fused multiply-adds, so every instruction set rounds alike). */
static void BF_NAME(bf_epilogue)(const fm_epilogue *ep, float *c, int64_t ldc, int64_t row,
                                 int64_t col, int64_t rows, int64_t cols)
{
    if (ep == NULL || ep->kind == FM_EPI_NONE)
        return;
    if (ep->kind == FM_EPI_BIAS_ACT) {
        const float *bias = (const float *)ep->bias + col;
        const int relu = ep->activation == FM_ACT_RELU;
        for (int64_t r = 0; r < rows; r++) {
            float *restrict cr = c + r * ldc;
            if (relu) {
                for (int64_t j = 0; j < cols; j++) {
                    const float v = cr[j] + bias[j];
                    cr[j] = v > 0 ? v : 0.0f;
                }
            } else {
                for (int64_t j = 0; j < cols; j++)
                    cr[j] += bias[j];
            }
        }
        return;
    }
    const float scale = (float)ep->dropout_scale;
    for (int64_t r = 0; r < rows; r++) {
        float *restrict cr = c + r * ldc;
        const float *restrict zr = (const float *)ep->z + (row + r) * ep->ldz + col;
        switch (ep->activation) { /* outside the loops, so that they vectorize */
        case FM_ACT_LOGISTIC:
            for (int64_t j = 0; j < cols; j++) {
                const float d = cr[j] * zr[j];
                cr[j] = d * (1.0f - zr[j]);
            }
            break;
        case FM_ACT_TANH:
            for (int64_t j = 0; j < cols; j++) {
                const float s = zr[j] * zr[j];
                cr[j] = cr[j] * (1.0f - s);
            }
            break;
        case FM_ACT_RELU:
            if (scale != 0) {
                for (int64_t j = 0; j < cols; j++) {
                    const float d = cr[j] * scale;
                    cr[j] = zr[j] == 0 ? 0.0f : d;
                }
            } else {
                for (int64_t j = 0; j < cols; j++)
                    cr[j] = zr[j] == 0 ? 0.0f : cr[j];
            }
            break;
        default: /* identity */
            break;
        }
    }
}

/* Task of the tile job: A sliver task / n_col_groups against the B slivers of column group
 * task % n_col_groups. */
static void BF_NAME(bf_tiles_task)(void *ctx, int64_t task)
{
    const BF_NAME(bf_args) *g = (const BF_NAME(bf_args) *)ctx;
    _Alignas(64) float tile[BF_MR * BF_NR];
    const int64_t si = task / g->n_col_groups, group = task % g->n_col_groups;
    const int64_t i = si * BF_MR, rows = g->m - i < BF_MR ? g->m - i : BF_MR;
    const int64_t sj_end = (group + 1) * g->col_group < g->n_slivers ? (group + 1) * g->col_group
                                                                      : g->n_slivers;
    const BF_STORAGE *ap = g->ap + si * BF_MR * 2 * g->k_pairs;
    const float alpha = g->alpha, beta = g->beta;
#ifdef BF_TASK_BEGIN
    BF_TASK_BEGIN();
#endif
    for (int64_t sj = group * g->col_group; sj < sj_end; sj++) {
        const int64_t j = sj * BF_NR, cols = g->n - j < BF_NR ? g->n - j : BF_NR;
        BF_KERNEL(g->k_pairs, ap, g->bp + sj * BF_NR * 2 * g->k_pairs, tile);
        float *ct = g->c + i * g->ldc + j;
        for (int64_t r = 0; r < rows; r++) {
            float *cr = ct + r * g->ldc;
            const float *tr = tile + r * BF_NR;
            if (beta == 0) {
                if (alpha == 1)
                    memcpy(cr, tr, (size_t)cols * sizeof(float));
                else
                    for (int64_t jj = 0; jj < cols; jj++)
                        cr[jj] = alpha * tr[jj];
            } else {
                for (int64_t jj = 0; jj < cols; jj++) {
                    const float scaled = beta * cr[jj], added = alpha * tr[jj];
                    cr[jj] = scaled + added;
                }
            }
        }
        BF_NAME(bf_epilogue)(g->ep, ct, g->ldc, i, j, rows, cols);
    }
#ifdef BF_TASK_END
    BF_TASK_END();
#endif
}

int BF_NAME(fm_gemm_bf16) FM_GEMM_BF16_PARAMS
{
    if (m < 0 || n < 0 || k < 0 || ldc < n || lda < (trans_a ? m : k) || ldb < (trans_b ? k : n))
        return FM_ERR_ARG;
    if (m == 0 || n == 0)
        return FM_OK;
    BF_NAME(bf_args) g;
    memset(&g, 0, sizeof(g));
    g.m = m;
    g.n = n;
    g.k = k;
    g.k_pairs = (k + 1) / 2;
#ifdef BF_WHOLE_BLOCKS
    g.k_pairs = (g.k_pairs + FM_BF16_BLOCK_PAIRS - 1) / FM_BF16_BLOCK_PAIRS * FM_BF16_BLOCK_PAIRS;
#endif
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
    g.m_slivers = (m + BF_MR - 1) / BF_MR;
    g.n_slivers = (n + BF_NR - 1) / BF_NR;
    void *own = NULL;
    if (pack == NULL) {
        own = fm_aligned_alloc(fm_gemm_bf16_pack_bytes(m, n, k));
        if (own == NULL)
            return FM_ERR_NOMEM;
        pack = own;
    }
    const size_t a_bytes = (size_t)g.m_slivers * BF_MR * 2 * (size_t)g.k_pairs * sizeof(BF_STORAGE);
    g.ap = (BF_STORAGE *)pack;
    g.bp = (BF_STORAGE *)((char *)pack + (a_bytes + 63) / 64 * 64);
    const double work = (double)m * (double)n * (double)k;
    const int threads = fm_team_size(work, FM_PAR_MIN_WORK);
    if (k > 0) /* one job packs both operands */
        fm_pool_run(g.m_slivers + g.n_slivers, threads, BF_NAME(bf_pack_task), &g);
    /* column groups: one (each A sliver read once) unless the rows give too few tasks */
    const int64_t wanted = (int64_t)threads * 4;
    int64_t groups = 1;
    if (threads > 1 && g.m_slivers < wanted) {
        groups = (wanted + g.m_slivers - 1) / g.m_slivers;
        groups = groups < g.n_slivers ? groups : g.n_slivers;
    }
    g.col_group = (g.n_slivers + groups - 1) / groups;
    g.n_col_groups = (g.n_slivers + g.col_group - 1) / g.col_group;
    fm_pool_run(g.m_slivers * g.n_col_groups, threads, BF_NAME(bf_tiles_task), &g);
    fm_aligned_free(own);
    return FM_OK;
}

#undef BF_NAME
#undef BF_INDEX
#undef BF_A_INDEX
#undef BF_PAD_A
#undef BF_PAD_B
#undef BF_PACK_ALONG_ROWS
#undef BF_PACK_ACROSS_ROWS
