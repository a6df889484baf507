/* fastmlp C core: training and prediction numerics for the target's baseline instruction set; the
 * compiler vectorizes the elementwise passes (activations, gradients, optimizer) for it. */
#define ISA generic
#include "net_isa.h"
