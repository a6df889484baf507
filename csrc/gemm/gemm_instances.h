/* fastmlp C core: instantiates gemm_impl.h for float and double under one instruction set.
 * The including file defines ISA (a name suffix such as generic or avx2), the register tiles
 * MR_F32 x NR_F32 and MR_F64 x NR_F64, and the microkernels kernel_<ISA>_f32 / _f64. */

#define FM_CAT3(a, b, c) a##_##b##_##c
#define FM_XCAT3(a, b, c) FM_CAT3(a, b, c)

#define REAL float
#define SUF(name) FM_XCAT3(name, ISA, f32)
#define MR MR_F32
#define NR NR_F32
#include "gemm_impl.h"
#undef REAL
#undef SUF
#undef MR
#undef NR

#define REAL double
#define SUF(name) FM_XCAT3(name, ISA, f64)
#define MR MR_F64
#define NR NR_F64
#include "gemm_impl.h"
#undef REAL
#undef SUF
#undef MR
#undef NR
