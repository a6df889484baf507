/* fastmlp C core: training and prediction numerics for AVX2 + FMA (compiled with -mavx2 -mfma); the
 * compiler vectorizes the elementwise passes (activations, gradients, optimizer) for it. */
#define ISA avx2
#include "net_isa.h"
