/* fastmlp C core: the bfloat16 GEMM emulated in portable C (bf16.h), for CPUs without
 * AVX-512 or AVX2 + FMA and for other architectures. */
#include <stdlib.h>

#include "bf16.h"

/* One fused step without relying on an FMA instruction: the product of two bfloat16 values is
 * exact in float32 unless it overflows or falls below the normal range, so then the sum rounded
 * once is the fused result; those rare cases take libm's fmaf, which is exact everywhere. */
static inline float bf_step_generic(float a, float b, float acc)
{
    const float p = a * b;
    const float ap = fabsf(p);
    const int exact = ap >= FLT_MIN ? ap <= FLT_MAX : (a == 0 || b == 0);
    return fm_bf16_flush(exact ? p + acc : fmaf(a, b, acc));
}

#define BF_ISA generic
#define BF_MR 4
#define BF_NR 16
#define BF_STEP bf_step_generic
#include "gemm_bf16_portable.h"
#include "gemm_bf16_impl.h"
