/* fastmlp C core: instantiates gemm_impl.h for float and double under one instruction set.
 * The including file defines ISA (a name suffix such as generic or avx2), the register tiles
 * MR_F32 x NR_F32 and MR_F64 x NR_F64, and the microkernels kernel_<ISA>_f32 / _f64. */

#include <math.h>
#include <string.h>


/* Multiply-adds per thread below which this instruction set's products stay on one thread
 * (an instruction-set file may ask for more). Results do not depend on it. */
#ifndef FM_GEMM_PAR_MIN_WORK
#define FM_GEMM_PAR_MIN_WORK FM_PAR_MIN_WORK
#endif

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
