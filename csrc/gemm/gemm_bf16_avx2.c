/* fastmlp C core: the bfloat16 GEMM emulated with AVX2 + FMA (bf16.h), compiled with -mavx2
 * -mfma and called only on CPUs that have them: the portable microkernel, whose fmaf the
 * compiler turns into vector FMA instructions. */
#include <stdlib.h>

#include "bf16.h"

#define BF_ISA avx2
#define BF_MR 4
#define BF_NR 16
#define BF_STEP(a, b, acc) fm_bf16_flush(fmaf((a), (b), (acc)))
#include "gemm_bf16_portable.h"
#include "gemm_bf16_impl.h"
