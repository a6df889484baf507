/* fastmlp C core: training and prediction numerics for AVX-512F (compiled with -mavx512f -mavx2 -mfma); the
 * compiler vectorizes the elementwise passes (activations, gradients, optimizer) for it. */
#define ISA avx512
#include "exp_x86.h" /* fm_exp_row_f32: the float32 exp rows */
#define FM_HAVE_EXP_ROW_F32
#include "loss_x86.h" /* fm_loss_rows_f32: the log losses' rows, 16 at a time */
#define FM_HAVE_LOSS_ROWS_F32
/* fm_fma_loop: 24 of the 32 vector registers accumulate (two FMA pipes of latency 4 need 8) */
#include <immintrin.h>
#define FM_FMA_PEAK_VEC __m512
#define FM_FMA_PEAK_LANES 16
#define FM_FMA_PEAK_SET1 _mm512_set1_ps
#define FM_FMA_PEAK_FMA _mm512_fmadd_ps
#define FM_FMA_PEAK_STORE _mm512_storeu_ps
#define FM_FMA_PEAK_ADD _mm512_add_ps
#define FM_FMA_PEAK_N 24
#define FM_FMA_PEAK_ACCS(X)                                                                      \
    X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15) X(16)  \
    X(17) X(18) X(19) X(20) X(21) X(22) X(23)
#include "net_isa.h"
