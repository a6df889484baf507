/* fastmlp C core: the bfloat16 GEMM in hardware (bf16.h), TDPBF16PS of AMX-BF16; compiled with
 * -mamx-tile -mamx-bf16 -mavx512f -mavx512bw -mavx512bf16 -mavx2 -mfma and called only on CPUs
 * that have them, once the operating system granted the process the tile state (dispatch.c).
 * TDPBF16PS computes bf16.h's arithmetic itself (a block of 16 k pairs per instruction, the sum
 * so far as its C; bench/amx_bf16_probe.c checks it), whatever the core's floating-point mode.
 *
 * Register tile: 32 x 32 floats, four 16 x 16 tiles of C (tmm0..3) fed per block by two tiles
 * of A (16 rows x 32 values, tmm4..5) and two of B (16 pairs x 16 columns, tmm6..7). op(A) is
 * packed per block as 32 rows of 32 bfloat16 values, op(B) as the pairs of 32 columns side by
 * side, k padded to whole blocks (-0 in A, +0 in B: no sum changes, bf16.h), by AVX-512 (the
 * layouts that do not have k along the lanes through 16 x 16 transposes of pairs). */
#include <immintrin.h>
#include <stdlib.h>

#include "bf16.h"

#define BF_ISA amx
#define BF_MR 32
#define BF_NR 32
#define BF_STORAGE uint16_t
#define BF_A_ROWS
#define BF_WHOLE_BLOCKS
#define BF_KERNEL bf_kernel_amx
#define BF_PACK_SLIVER bf_pack_sliver_amx
#define BF_TASK_BEGIN bf_task_begin_amx
#define BF_TASK_END bf_task_end_amx

/* The tile configuration (palette 1): C tiles 16 rows x 64 bytes, A tiles 16 rows x 64 bytes
 * (32 bfloat16 values), B tiles 16 rows (pairs) x 64 bytes (16 columns x 2 values). */
typedef struct bf_tilecfg {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} bf_tilecfg;

/* The tile configuration, loaded by each tile task (it is the thread's state), released at
 * the task's end. */
static void bf_task_begin_amx(void)
{
    _Alignas(64) bf_tilecfg cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) {
        cfg.colsb[t] = 64;
        cfg.rows[t] = 16;
    }
    _tile_loadconfig(&cfg);
}

static void bf_task_end_amx(void)
{
    _tile_release();
}

static void bf_kernel_amx(int64_t k_pairs, const uint16_t *ap, const uint16_t *bp, float *tile)
{
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    const int64_t blocks = k_pairs / FM_BF16_BLOCK_PAIRS;
    for (int64_t blk = 0; blk < blocks; blk++) {
        const uint16_t *a = ap + blk * BF_MR * 2 * FM_BF16_BLOCK_PAIRS;
        const uint16_t *b = bp + blk * FM_BF16_BLOCK_PAIRS * BF_NR * 2;
        _tile_loadd(4, a, 64);
        _tile_loadd(5, a + 16 * 2 * FM_BF16_BLOCK_PAIRS, 64);
        _tile_loadd(6, b, BF_NR * 4);
        _tile_loadd(7, b + 32, BF_NR * 4);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, tile, BF_NR * 4);
    _tile_stored(1, tile + 16, BF_NR * 4);
    _tile_stored(2, tile + 16 * BF_NR, BF_NR * 4);
    _tile_stored(3, tile + 16 * BF_NR + 16, BF_NR * 4);
}

/* r[t] = column t of the 16 x 16 block of 32-bit elements r[0..15]: 32-bit, then 64-bit
 * interleaves within 128-bit lanes, then two rounds of 128-bit lane shuffles. */
static inline void bf_transpose16(__m512i r[16])
{
    __m512i t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    __m512i u[16]; /* u[4g + c], 128-bit lane L: rows 4g .. 4g + 3 at column 4L + c */
    for (int g = 0; g < 4; g++) {
        u[4 * g] = _mm512_unpacklo_epi64(t[4 * g], t[4 * g + 2]);
        u[4 * g + 1] = _mm512_unpackhi_epi64(t[4 * g], t[4 * g + 2]);
        u[4 * g + 2] = _mm512_unpacklo_epi64(t[4 * g + 1], t[4 * g + 3]);
        u[4 * g + 3] = _mm512_unpackhi_epi64(t[4 * g + 1], t[4 * g + 3]);
    }
    for (int c = 0; c < 4; c++) {
        const __m512i v1 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0x88);
        const __m512i v2 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0xdd);
        const __m512i w1 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0x88);
        const __m512i w2 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0xdd);
        r[c] = _mm512_shuffle_i32x4(v1, w1, 0x88);
        r[8 + c] = _mm512_shuffle_i32x4(v1, w1, 0xdd);
        r[4 + c] = _mm512_shuffle_i32x4(v2, w2, 0x88);
        r[12 + c] = _mm512_shuffle_i32x4(v2, w2, 0xdd);
    }
}

/* 16 float32 values from src (the first n, the rest `pad`). */
static inline __m512 bf_load16(const float *src, int64_t n, __m512 pad)
{
    if (n >= 16)
        return _mm512_loadu_ps(src);
    if (n <= 0)
        return pad;
    return _mm512_mask_loadu_ps(pad, (__mmask16)((1u << n) - 1u), src);
}

/* 32 k values in a row (src[0 .. n), then `pad`) as 16 bfloat16 pairs, in order, rounded by
 * VCVTNE2PS2BF16 (bf16.h's rounding). */
static inline __m512i bf_row_pairs(const float *src, int64_t n, __m512 pad)
{
    const __m512 lo = bf_load16(src, n, pad), hi = bf_load16(src + 16, n - 16, pad);
    return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
}

/* The pairs (k = 2q, 2q + 1) of 16 lanes whose values lie along rows (r0[i], r1[i], the first
 * n lanes, the rest `pad`; r1 NULL: `pad`) as 16 32-bit pairs, lane by lane. */
static inline __m512i bf_lane_pairs(const float *r0, const float *r1, int64_t n, __m512 pad)
{
    const __m512i order = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9,
                                           24, 8, 23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17,
                                           1, 16, 0);
    const __m512 lo = r0 != NULL ? bf_load16(r0, n, pad) : pad;
    const __m512 hi = r1 != NULL ? bf_load16(r1, n, pad) : pad;
    return _mm512_permutexvar_epi16(order, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
}

/* Packs a sliver of op(A) (is_a: 32 lanes, AMX's A layout, padding -0) or of op(B) (32 lanes,
 * pairs side by side, padding +0) whose value (p, i) is at src[p * k_stride + i * lane_stride]
 * (k_stride == 1: the lanes' values contiguous along k; else lane_stride == 1), lanes past
 * valid and k past k padded, k_pairs pairs (whole blocks). */
static void bf_pack_sliver_amx(int is_a, int64_t k, int64_t k_pairs, const float *src,
                               int64_t lane_stride, int64_t k_stride, int64_t valid,
                               uint16_t *dst)
{
    const __m512 pad = is_a ? _mm512_set1_ps(-0.0f) : _mm512_setzero_ps();
    uint32_t *out = (uint32_t *)dst; /* 32-bit pairs */
    const int64_t blocks = k_pairs / FM_BF16_BLOCK_PAIRS;
    for (int64_t blk = 0; blk < blocks; blk++) {
        const int64_t p0 = blk * 2 * FM_BF16_BLOCK_PAIRS; /* first k of the block */
        for (int64_t i0 = 0; i0 < 32; i0 += 16) {
            __m512i r[16];
            if (k_stride == 1) { /* r[l]: lane i0 + l's 16 pairs */
                for (int l = 0; l < 16; l++)
                    r[l] = i0 + l < valid
                               ? bf_row_pairs(src + (i0 + l) * lane_stride + p0, k - p0, pad)
                               : (__m512i)_mm512_cvtne2ps_pbh(pad, pad);
                if (is_a) { /* a lane's pairs are a row of A's tile */
                    for (int l = 0; l < 16; l++)
                        _mm512_store_si512((void *)(out + (blk * 32 + i0 + l) * 16), r[l]);
                    continue;
                }
                bf_transpose16(r); /* r[q]: pair q of the 16 lanes */
                for (int q = 0; q < 16; q++)
                    _mm512_store_si512((void *)(out + (blk * 16 + q) * 32 + i0), r[q]);
            } else { /* r[q]: pair q of the 16 lanes i0 .. i0 + 15 */
                for (int q = 0; q < 16; q++) {
                    const int64_t p = p0 + 2 * q;
                    const float *r0 = p < k ? src + p * k_stride + i0 : NULL;
                    const float *r1 = p + 1 < k ? r0 + k_stride : NULL;
                    r[q] = bf_lane_pairs(r0, r1, valid - i0, pad);
                }
                if (!is_a) {
                    for (int q = 0; q < 16; q++)
                        _mm512_store_si512((void *)(out + (blk * 16 + q) * 32 + i0), r[q]);
                    continue;
                }
                bf_transpose16(r); /* r[l]: lane i0 + l's 16 pairs, a row of A's tile */
                for (int l = 0; l < 16; l++)
                    _mm512_store_si512((void *)(out + (blk * 32 + i0 + l) * 16), r[l]);
            }
        }
    }
}

#include "gemm_bf16_impl.h"
