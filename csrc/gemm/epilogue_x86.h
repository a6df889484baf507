/* fastmlp C core: the epilogue's row operations with SIMD masks, included once per precision by
 * gemm_avx2.c and gemm_avx512.c (gemm_impl.h uses them when FM_EPILOGUE_ROWS is defined). A
 * tile's last columns (the 4 past 96 in a 100-unit layer, a 10-class output) take the same
 * vector path with a lane mask, and the ReLU choices are selects: written as loops, the compiler
 * turned `c = z == 0 ? 0 : c` into a branch per element, which mispredicts on about half of
 * them (ReLU zeros are data-dependent). Same values as gemm_impl.h's loops for every input,
 * NaN, infinities and signed zeros included.
 *
 * Requires: BIAS_ACT_ROW, RELU_DERIV_ROW (the two function names), REAL, VEC, VLEN, MASK
 * (the lane-mask type), MASK_FIRST(n) (the first n < VLEN lanes), MASK_ALL, LOAD_M(p, k)
 * (masked-off lanes read nothing and are zero), STORE_M(p, k, v) (masked-off lanes are not
 * written), ADD, MUL, SET1, KEEP_IF_GT0(x) (x where x > 0, +0 elsewhere and for NaN),
 * KEEP_IF_NONZERO(z, x) (x where z != 0 or z is NaN, +0 elsewhere); all are undefined again at
 * the end. */

/* c[0:n) = f(c + bias) for f identity or ReLU (relu != 0). */
static void BIAS_ACT_ROW(REAL *c, const REAL *bias, int64_t n, int relu)
{
    for (int64_t j = 0; j < n; j += VLEN) {
        const MASK k = n - j >= VLEN ? MASK_ALL : MASK_FIRST(n - j);
        VEC x = ADD(LOAD_M(c + j, k), LOAD_M(bias + j, k));
        if (relu)
            x = KEEP_IF_GT0(x);
        STORE_M(c + j, k, x);
    }
}

/* c[0:n) = z == 0 ? 0 : c * scale (scale == 0: no scaling), the ReLU derivative expressed
 * through the layer's output z, times inverted dropout's scale. */
static void RELU_DERIV_ROW(REAL *c, const REAL *z, int64_t n, REAL scale)
{
    const VEC vs = SET1(scale);
    for (int64_t j = 0; j < n; j += VLEN) {
        const MASK k = n - j >= VLEN ? MASK_ALL : MASK_FIRST(n - j);
        VEC x = LOAD_M(c + j, k);
        if (scale != 0)
            x = MUL(x, vs);
        STORE_M(c + j, k, KEEP_IF_NONZERO(LOAD_M(z + j, k), x));
    }
}

#undef BIAS_ACT_ROW
#undef RELU_DERIV_ROW
#undef REAL
#undef VEC
#undef VLEN
#undef MASK
#undef MASK_FIRST
#undef MASK_ALL
#undef LOAD_M
#undef STORE_M
#undef ADD
#undef MUL
#undef SET1
#undef KEEP_IF_GT0
#undef KEEP_IF_NONZERO
