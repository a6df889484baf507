/* fastmlp C core: training and prediction numerics for AVX2 + FMA (compiled with -mavx2 -mfma); the
 * compiler vectorizes the elementwise passes (activations, gradients, optimizer) for it. */
#define ISA avx2
#include "exp_x86.h" /* fm_exp_row_f32: the float32 exp rows */
#define FM_HAVE_EXP_ROW_F32
#include "loss_x86.h" /* fm_loss_rows_f32: the log losses' rows, 8 at a time */
#define FM_HAVE_LOSS_ROWS_F32
/* fm_fma_loop: 12 of the 16 vector registers accumulate (two FMA pipes of latency 4 need 8) */
#include <immintrin.h>
#define FM_FMA_PEAK_VEC __m256
#define FM_FMA_PEAK_LANES 8
#define FM_FMA_PEAK_SET1 _mm256_set1_ps
#define FM_FMA_PEAK_FMA _mm256_fmadd_ps
#define FM_FMA_PEAK_STORE _mm256_storeu_ps
#define FM_FMA_PEAK_ADD _mm256_add_ps
#define FM_FMA_PEAK_N 12
#define FM_FMA_PEAK_ACCS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#include "net_isa.h"
