/* fastmlp C core: the x86 SIMD microkernels, included once per precision by gemm_avx2.c and
 * gemm_avx512.c. The tile is MRK rows x 2 vectors: MRK * 2 accumulators stay in registers; per k
 * step two vectors of B are loaded and each row's A value is broadcast once. KNAME reads A as a
 * packed sliver (or any layout with rows side by side: value (r, p) at ap[p * a_step + r]);
 * KNAME_ROWS reads MRK rows of a row-major A in place (value (r, p) at a[r * lda + p]).
 * KNAME_HALF and KNAME_ROWS_HALF are the same with one vector of B per row (MRK x VLEN): for
 * the slivers of C at most VLEN wide (the last columns of a layer, a 10-class output), where the
 * full tile would spend more than half of its multiply-adds on padding. Each element of C gets
 * the same operations in the same order from any of them. The four are one body,
 * kernel_body_x86.h, instantiated with the two A layouts and the two widths.
 *
 * KNAME_EDGE1 / KNAME_ROWS_EDGE1 and KNAME_EDGE2 / KNAME_ROWS_EDGE2 are the full-width tile
 * with fewer rows (MR_EDGE1, MR_EDGE2: the last slivers of A when the row count leaves that
 * many, e.g. 32 = 12 + 12 + 8 rows): such a sliver is then read in place and its tile written
 * straight to C instead of packed, computed with padding rows and copied from a scratch tile.
 *
 * KNAME_ROWS_AHEAD, when defined, is KNAME_ROWS that also asks for the cache lines of a region
 * given to it, a few at a time over its k loop (kernel_body_x86.h, FM_KERNEL_AHEAD): predict's
 * forward products bring the next B panel into L1 while the tiles under the current one run.
 *
 * Requires: KNAME, KNAME_ROWS, KNAME_HALF, KNAME_ROWS_HALF, KNAME_EDGE1, KNAME_ROWS_EDGE1,
 * KNAME_EDGE2, KNAME_ROWS_EDGE2, REAL, VEC, VLEN (elements per vector), MRK, ROWS(X) (X(0) ..
 * X(MRK - 1)), ROWS_EDGE1(X), ROWS_EDGE2(X) (likewise for MR_EDGE1, MR_EDGE2 rows), ZERO(),
 * LOADU(p), STOREU(p, v), BCAST(p), FMA(a, b, c) = a * b + c, MUL(a, b), SET1(x); all of them
 * but MRK and the ROWS macros are undefined again at the end, ready for the next precision.
 * Contract: see gemm_impl.h. */

#define FM_KERNEL_NAME KNAME
#define FM_KERNEL_A_ROWS 0
#define FM_KERNEL_WIDTH 2
#define FM_KERNEL_ROWS ROWS
#include "kernel_body_x86.h"

#define FM_KERNEL_NAME KNAME_ROWS
#define FM_KERNEL_A_ROWS 1
#define FM_KERNEL_WIDTH 2
#define FM_KERNEL_ROWS ROWS
#include "kernel_body_x86.h"

#define FM_KERNEL_NAME KNAME_HALF
#define FM_KERNEL_A_ROWS 0
#define FM_KERNEL_WIDTH 1
#define FM_KERNEL_ROWS ROWS
#include "kernel_body_x86.h"

#define FM_KERNEL_NAME KNAME_ROWS_HALF
#define FM_KERNEL_A_ROWS 1
#define FM_KERNEL_WIDTH 1
#define FM_KERNEL_ROWS ROWS
#include "kernel_body_x86.h"

#define FM_KERNEL_NAME KNAME_EDGE1
#define FM_KERNEL_A_ROWS 0
#define FM_KERNEL_WIDTH 2
#define FM_KERNEL_ROWS ROWS_EDGE1
#include "kernel_body_x86.h"

#define FM_KERNEL_NAME KNAME_ROWS_EDGE1
#define FM_KERNEL_A_ROWS 1
#define FM_KERNEL_WIDTH 2
#define FM_KERNEL_ROWS ROWS_EDGE1
#include "kernel_body_x86.h"

#define FM_KERNEL_NAME KNAME_EDGE2
#define FM_KERNEL_A_ROWS 0
#define FM_KERNEL_WIDTH 2
#define FM_KERNEL_ROWS ROWS_EDGE2
#include "kernel_body_x86.h"

#define FM_KERNEL_NAME KNAME_ROWS_EDGE2
#define FM_KERNEL_A_ROWS 1
#define FM_KERNEL_WIDTH 2
#define FM_KERNEL_ROWS ROWS_EDGE2
#include "kernel_body_x86.h"

#ifdef KNAME_ROWS_AHEAD
#define FM_KERNEL_NAME KNAME_ROWS_AHEAD
#define FM_KERNEL_A_ROWS 1
#define FM_KERNEL_WIDTH 2
#define FM_KERNEL_ROWS ROWS
#define FM_KERNEL_AHEAD 1
#include "kernel_body_x86.h"
#undef KNAME_ROWS_AHEAD
#endif

#undef KNAME
#undef KNAME_ROWS
#undef KNAME_HALF
#undef KNAME_ROWS_HALF
#undef KNAME_EDGE1
#undef KNAME_ROWS_EDGE1
#undef KNAME_EDGE2
#undef KNAME_ROWS_EDGE2
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
