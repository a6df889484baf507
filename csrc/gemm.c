/* fastmlp C core: the GEMM entry point, for float and double from gemm_impl.h. */
#include <stdlib.h>

#include "internal.h"

size_t fm_gemm_pack_size(void)
{
    return (size_t)FM_GEMM_KC * FM_GEMM_NC;
}

#define REAL float
#define SUF(name) name##_f32
#include "gemm_impl.h"
#undef REAL
#undef SUF

#define REAL double
#define SUF(name) name##_f64
#include "gemm_impl.h"
#undef REAL
#undef SUF
