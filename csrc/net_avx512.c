/* fastmlp C core: training and prediction numerics for AVX-512F (compiled with -mavx512f -mavx2 -mfma); the
 * compiler vectorizes the elementwise passes (activations, gradients, optimizer) for it. */
#define ISA avx512
#include "net_isa.h"
