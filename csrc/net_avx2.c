/* fastmlp C core: training and prediction numerics for AVX2 + FMA (compiled with -mavx2 -mfma); the
 * compiler vectorizes the elementwise passes (activations, gradients, optimizer) for it. */
#define ISA avx2
#include "exp_x86.h" /* fm_exp_row_f32: the float32 exp rows */
#define FM_HAVE_EXP_ROW_F32
#include "loss_x86.h" /* fm_loss_rows_f32: the log losses' rows, 8 at a time */
#define FM_HAVE_LOSS_ROWS_F32
#include "net_isa.h"
