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

/* C tile (mr x nr) = beta * C + alpha * acc, beta == 0 overwriting (NaN in C does not survive). */
static void SUF(merge_tile)(int64_t mr, int64_t nr, REAL alpha, const REAL *acc, int64_t ld_acc,
                            REAL beta, REAL *c, int64_t ldc)
{
    for (int64_t r = 0; r < mr; r++)
        for (int64_t j = 0; j < nr; j++)
            c[r * ldc + j] = beta == 0 ? alpha * acc[r * ld_acc + j]
                                       : beta * c[r * ldc + j] + alpha * acc[r * ld_acc + j];
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

/* Small path for row-major op(B) (b_cs == 1): each row of C accumulates alpha * a_ip * B[p, :]
 * over p, a loop the compiler vectorizes over the row. */
static void SUF(gemm_rows)(int64_t m, int64_t n, int64_t k, REAL alpha, const REAL *a,
                           int64_t a_rs, int64_t a_cs, const REAL *b, int64_t b_rs, REAL beta,
                           REAL *c, int64_t ldc)
{
    for (int64_t i = 0; i < m; i++) {
        REAL *ci = c + i * ldc;
        if (beta == 0) {
            for (int64_t j = 0; j < n; j++)
                ci[j] = 0;
        } else if (beta != 1) {
            for (int64_t j = 0; j < n; j++)
                ci[j] *= beta;
        }
        for (int64_t p = 0; p < k; p++) {
            const REAL aip = alpha * a[i * a_rs + p * a_cs];
            const REAL *bp = b + p * b_rs;
            for (int64_t j = 0; j < n; j++)
                ci[j] += aip * bp[j];
        }
    }
}

/* Small path for column-major op(B) (op(B) = B^T): dot products along k. */
static void SUF(gemm_dots)(int64_t m, int64_t n, int64_t k, REAL alpha, const REAL *a,
                           int64_t a_rs, int64_t a_cs, const REAL *b, int64_t b_rs, int64_t b_cs,
                           REAL beta, REAL *c, int64_t ldc)
{
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j = 0; j < n; j++) {
            REAL sum = 0;
            for (int64_t p = 0; p < k; p++)
                sum += a[i * a_rs + p * a_cs] * b[p * b_rs + j * b_cs];
            REAL *cij = c + i * ldc + j;
            *cij = beta == 0 ? alpha * sum : beta * *cij + alpha * sum;
        }
    }
}

/* C's one column (n == 1: an output layer of one unit, or its weight gradient) =
 * alpha * op(A) . b + beta * C, b[p * b_rs] being op(B)'s column. A register tile would be
 * one sixteenth useful here. Column-major op(A) (a_rs == 1): each k step adds a column of A
 * times b_p to FM_GEMV_ROWS accumulators, in k order. Row-major op(A): each row is a dot product
 * in 8 interleaved lanes added in a fixed order. Rows are shared among threads in whole blocks,
 * so the result does not depend on the thread count. */
#define FM_GEMV_ROWS 256
static void SUF(gemv)(int64_t m, int64_t k, REAL alpha, const REAL *a, int64_t a_rs,
                      int64_t a_cs, const REAL *b, int64_t b_rs, REAL beta, REAL *c, int64_t ldc)
{
    const int64_t n_blocks = (m + FM_GEMV_ROWS - 1) / FM_GEMV_ROWS;
    FM_PARALLEL_FOR((double)m * (double)k >= 2 * FM_GEMM_PAR_MIN_WORK, blk, n_blocks, {
        const int64_t i0 = blk * FM_GEMV_ROWS;
        const int64_t rows = m - i0 < FM_GEMV_ROWS ? m - i0 : FM_GEMV_ROWS;
        REAL acc[FM_GEMV_ROWS];
        if (a_rs == 1) {
            for (int64_t i = 0; i < rows; i++)
                acc[i] = 0;
            for (int64_t p = 0; p < k; p++) {
                const REAL bp = b[p * b_rs], *ap = a + p * a_cs + i0;
                for (int64_t i = 0; i < rows; i++)
                    acc[i] += ap[i] * bp;
            }
        } else {
            for (int64_t i = 0; i < rows; i++) {
                const REAL *ai = a + (i0 + i) * a_rs;
                REAL lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
                int64_t p = 0;
                if (b_rs == 1)
                    for (; p + 8 <= k; p += 8)
                        for (int l = 0; l < 8; l++)
                            lanes[l] += ai[p + l] * b[p + l];
                REAL sum = 0;
                for (int l = 0; l < 8; l++)
                    sum += lanes[l];
                for (; p < k; p++)
                    sum += ai[p] * b[p * b_rs];
                acc[i] = sum;
            }
        }
        for (int64_t i = 0; i < rows; i++) {
            REAL *ci = c + (i0 + i) * ldc;
            *ci = beta == 0 ? alpha * acc[i] : beta * *ci + alpha * acc[i];
        }
    });
}

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

/* The five loops; the worksharing loops are orphaned: inside a parallel region the team shares
 * them, called from serial code they run whole on the calling thread. With direct_b (op(B)
 * row-major), the microkernel reads whole NR-wide slivers of B in place, KC rows b_rs apart, and
 * only a narrower last sliver is packed; with direct_a, likewise for MR-tall slivers of A:
 * FM_DIRECT_COLUMNS (op(A) column-major, a_rs == 1) through the packed-layout kernel with a
 * step of a_cs, FM_DIRECT_ROWS (op(A) row-major) through kernel_rows, which broadcasts from MR
 * rows side by side: an MR x KC sliver stays in L1 across the block's columns either way, so
 * only the transposing copy is saved. Every path does the same arithmetic in the same order.
 *
 * How the team shares the tiles (gemm_packed chooses; each tile is computed by one thread
 * either way, in the same order):
 * FM_SPLIT_ROWS when every thread gets the same number of a full MC block's A slivers (the
 *   weight gradients: m is a layer's fan-in): each thread packs its own A slivers and computes
 *   their whole rows of tiles against the shared B panel, with no barrier until the panel is
 *   replaced;
 * FM_SPLIT_SLIVERS when A is read in place, op(B) is row-major and every thread gets the same
 *   number of B slivers (the forward products: m is the batch): each thread packs its own B
 *   slivers and computes their whole columns, with no barrier at all (with a transposed B, the
 *   input gradients, packing each sliver just before its tiles measured slower than packing
 *   the panel first);
 * FM_SPLIT_BLOCKS otherwise (and on one thread): per MC block, the team packs A together, then
 *   shares the block's tiles by columns (two barriers per block). */
static void SUF(gemm_packed_loops)(int64_t m, int64_t n, int64_t k, REAL alpha, const REAL *a,
                                   int64_t a_rs, int64_t a_cs, const REAL *b, int64_t b_rs,
                                   int64_t b_cs, REAL beta, REAL *c, int64_t ldc, REAL *pack,
                                   int direct_a, int direct_b, int split,
                                   const fm_epilogue *ep)
{
    /* pack = [B panel: KC x NC][A block: MC x KC], both 64-byte aligned by the caller. */
    REAL *bpanel = pack;
    REAL *ablock = pack + (size_t)FM_GEMM_KC * FM_GEMM_NC;
    const int64_t a_step = direct_a ? a_cs : MR, b_step = direct_b ? b_rs : NR;
    for (int64_t jc = 0; jc < n; jc += FM_GEMM_NC) {
        const int64_t nc = n - jc < FM_GEMM_NC ? n - jc : FM_GEMM_NC;
        const int64_t n_slivers = (nc + NR - 1) / NR;
        for (int64_t pc = 0; pc < k; pc += FM_GEMM_KC) {
            const int64_t kc = k - pc < FM_GEMM_KC ? k - pc : FM_GEMM_KC;
            const REAL beta_block = pc == 0 ? beta : 1;
            const int last_block = pc + kc >= k;
            if (split == FM_SPLIT_SLIVERS) {
                /* This thread's B slivers, the same ones in every KC block: it packs them and
                 * computes their whole columns of tiles; A is read in place but for a last,
                 * shorter sliver, which it packs into its own buffer. No barrier. */
                _Alignas(64) REAL a_edge[MR * FM_GEMM_KC];
                int64_t edge_block = -1;
#pragma omp for schedule(static) nowait
                for (int64_t sj = 0; sj < n_slivers; sj++) {
                    const int64_t j = sj * NR, nr = nc - j < NR ? nc - j : NR;
                    const int b_here = direct_b && nr == NR;
                    const REAL *bp = b + pc * b_rs + (jc + j) * b_cs;
                    if (!b_here) { /* at a stride that does not depend on kc: a shorter
                                      last KC block must not reach other threads' slivers */
                        REAL *own = bpanel + sj * FM_GEMM_KC * NR;
                        SUF(pack_b_sliver)(nr, kc, bp, b_rs, b_cs, own);
                        bp = own;
                    }
                    for (int64_t ic = 0; ic < m; ic += FM_GEMM_MC) {
                        const int64_t mc = m - ic < FM_GEMM_MC ? m - ic : FM_GEMM_MC;
                        for (int64_t i = 0; i < mc; i += MR) {
                            const int64_t mr = mc - i < MR ? mc - i : MR;
                            const REAL *ap = a + (ic + i) * a_rs + pc * a_cs;
                            if (!FM_WHOLE_ROWS(mr)) {
                                if (edge_block != ic)
                                    SUF(pack_a_sliver)(mr, kc, ap, a_rs, a_cs, a_edge);
                                edge_block = ic;
                                ap = a_edge;
                            }
                            SUF(tile)(kc, mr, nr, alpha, ap, FM_WHOLE_ROWS(mr), direct_a, a_rs,
                                      a_step,
                                      bp, b_here ? b_step : NR, beta_block,
                                      c + (ic + i) * ldc + jc + j, ldc, last_block, ep, ic + i,
                                      jc + j);
                        }
                    }
                }
                continue;
            }
#pragma omp for schedule(static)
            for (int64_t s = direct_b ? nc / NR : 0; s < n_slivers; s++) {
                const int64_t j = s * NR;
                SUF(pack_b_sliver)(nc - j < NR ? nc - j : NR, kc,
                                   b + pc * b_rs + (jc + j) * b_cs, b_rs, b_cs,
                                   bpanel + s * kc * NR);
            }
            for (int64_t ic = 0; ic < m; ic += FM_GEMM_MC) {
                const int64_t mc = m - ic < FM_GEMM_MC ? m - ic : FM_GEMM_MC;
                const int64_t m_slivers = (mc + MR - 1) / MR;
                if (split == FM_SPLIT_ROWS) {
                    /* Full blocks give each thread the same slivers, so it only overwrites A
                     * slivers it has finished with; a shorter last block shares them out
                     * differently and waits until every thread is done with the previous one. */
                    if (m_slivers != FM_GEMM_MC / MR && ic > 0) {
#pragma omp barrier
                    }
#pragma omp for schedule(static) nowait
                    for (int64_t si = 0; si < m_slivers; si++) {
                        const int64_t i = si * MR, mr = mc - i < MR ? mc - i : MR;
                        const int a_here = direct_a && FM_WHOLE_ROWS(mr);
                        const REAL *ap = a + (ic + i) * a_rs + pc * a_cs;
                        if (!a_here) {
                            SUF(pack_a_sliver)(mr, kc, ap, a_rs, a_cs, ablock + si * kc * MR);
                            ap = ablock + si * kc * MR;
                        }
                        for (int64_t sj = 0; sj < n_slivers; sj++) {
                            const int64_t j = sj * NR, nr = nc - j < NR ? nc - j : NR;
                            const int b_here = direct_b && nr == NR;
                            SUF(tile)(kc, mr, nr, alpha, ap, a_here, direct_a, a_rs, a_step,
                                      b_here ? b + pc * b_rs + (jc + j) * b_cs
                                             : bpanel + sj * kc * NR,
                                      b_here ? b_step : NR, beta_block,
                                      c + (ic + i) * ldc + jc + j, ldc, last_block, ep, ic + i,
                                      jc + j);
                        }
                    }
                    continue;
                }
#pragma omp for schedule(static)
                for (int64_t s = !direct_a ? 0 : FM_WHOLE_ROWS(mc % MR) ? m_slivers : mc / MR;
                     s < m_slivers; s++) {
                    const int64_t i = s * MR;
                    SUF(pack_a_sliver)(mc - i < MR ? mc - i : MR, kc,
                                       a + (ic + i) * a_rs + pc * a_cs, a_rs, a_cs,
                                       ablock + s * kc * MR);
                }
#pragma omp for schedule(static)
                for (int64_t t = 0; t < n_slivers * m_slivers; t++) {
                    const int64_t sj = t / m_slivers, si = t % m_slivers;
                    const int64_t i = si * MR, j = sj * NR;
                    const int64_t mr = mc - i < MR ? mc - i : MR;
                    const int64_t nr = nc - j < NR ? nc - j : NR;
                    const int a_here = direct_a && FM_WHOLE_ROWS(mr);
                    const int b_here = direct_b && nr == NR;
                    SUF(tile)(kc, mr, nr, alpha,
                              a_here ? a + (ic + i) * a_rs + pc * a_cs : ablock + si * kc * MR,
                              a_here, direct_a, a_rs, a_step,
                              b_here ? b + pc * b_rs + (jc + j) * b_cs : bpanel + sj * kc * NR,
                              b_here ? b_step : NR, beta_block, c + (ic + i) * ldc + jc + j, ldc,
                              last_block, ep, ic + i, jc + j);
                }
            }
            if (split == FM_SPLIT_ROWS) {
                /* The next panel of B may replace this one only when every tile is done. */
#pragma omp barrier
            }
        }
        if (split == FM_SPLIT_SLIVERS && jc + FM_GEMM_NC < n) {
            /* A narrower last NC block shares its slivers out differently. */
#pragma omp barrier
        }
    }
}

/* The packed GEMM on a team of `threads` threads, or on the calling thread without a parallel
 * region when threads == 1: libgomp's team of one for a false if-clause costs about a
 * microsecond of allocation and barriers, a fifth of a tabular layer's GEMM. Called from inside
 * an active parallel region, it keeps a region of its own (one thread) so that its loops are not
 * shared with the enclosing team. */
static void SUF(gemm_packed)(int64_t m, int64_t n, int64_t k, REAL alpha, const REAL *a,
                             int64_t a_rs, int64_t a_cs, const REAL *b, int64_t b_rs, int64_t b_cs,
                             REAL beta, REAL *c, int64_t ldc, REAL *pack, int threads,
                             const fm_epilogue *ep)
{
    const int direct_a = a_rs == 1 && (double)m * (double)k * sizeof(REAL) <= FM_GEMM_DIRECT_BYTES
                             ? FM_DIRECT_COLUMNS
                         : a_cs == 1 ? FM_DIRECT_ROWS
                                     : 0;
    const int direct_b = b_cs == 1 && (double)k * (double)n * sizeof(REAL) <= FM_GEMM_DIRECT_BYTES;
    const int64_t n_slivers = ((n < FM_GEMM_NC ? n : FM_GEMM_NC) + NR - 1) / NR;
    const int split = threads == 1                                       ? FM_SPLIT_BLOCKS
                      : m >= FM_GEMM_MC && (FM_GEMM_MC / MR) % threads == 0 ? FM_SPLIT_ROWS
                      : direct_a && b_cs == 1 && n_slivers % threads == 0   ? FM_SPLIT_SLIVERS
                                                                            : FM_SPLIT_BLOCKS;
#ifdef _OPENMP
    if (threads > 1 || omp_in_parallel()) {
        fm_note_threads();
#pragma omp parallel num_threads(threads)
        {
            const unsigned saved_mode = fm_fpmode_enter();
            SUF(gemm_packed_loops)(m, n, k, alpha, a, a_rs, a_cs, b, b_rs, b_cs, beta, c, ldc,
                                   pack, direct_a, direct_b, split, ep);
            fm_fpmode_leave(saved_mode);
        }
        return;
    }
#endif
    (void)threads;
    SUF(gemm_packed_loops)(m, n, k, alpha, a, a_rs, a_cs, b, b_rs, b_cs, beta, c, ldc, pack,
                           direct_a, direct_b, split, ep);
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
    const int64_t a_rs = trans_a ? 1 : lda, a_cs = trans_a ? lda : 1;
    const int64_t b_rs = trans_b ? 1 : ldb, b_cs = trans_b ? ldb : 1;
    const double work = (double)m * (double)n * (double)k;
    /* Fewer rows than a register tile (predicting a few samples): no packing. Anything larger
     * goes through the microkernel, even a 2-column output layer: its padded tiles stay in
     * registers, where row updates would wait on store-to-load forwarding at every k step. */
    if (n == 1 && k > 0) {
        SUF(gemv)(m, k, alpha, a, a_rs, a_cs, b, b_rs, beta, c, ldc);
        SUF(epilogue_tile)(ep, c, ldc, 0, 0, m, n);
        return FM_OK;
    }
    if (k == 0 || m < MR) {
        if (b_cs == 1)
            SUF(gemm_rows)(m, n, k, alpha, a, a_rs, a_cs, b, b_rs, beta, c, ldc);
        else
            SUF(gemm_dots)(m, n, k, alpha, a, a_rs, a_cs, b, b_rs, b_cs, beta, c, ldc);
        SUF(epilogue_tile)(ep, c, ldc, 0, 0, m, n);
        return FM_OK;
    }
    void *own_pack = NULL;
    if (pack == NULL) {
        own_pack = fm_aligned_alloc(fm_gemm_pack_size() * sizeof(REAL));
        if (own_pack == NULL)
            return FM_ERR_NOMEM;
        pack = (REAL *)own_pack;
    }
    SUF(gemm_packed)(m, n, k, alpha, a, a_rs, a_cs, b, b_rs, b_cs, beta, c, ldc, pack,
                     fm_team_size(work, FM_GEMM_PAR_MIN_WORK), ep);
    fm_aligned_free(own_pack);
    return FM_OK;
}

int SUF(fm_gemm)(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, REAL alpha,
                 const REAL *a, int64_t lda, const REAL *b, int64_t ldb, REAL beta, REAL *c,
                 int64_t ldc, REAL *pack)
{
    return SUF(fm_gemm_ex)(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, pack,
                           NULL);
}
