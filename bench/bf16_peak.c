/* The core's peak instruction rates, one thread, best of 300 bursts:
 *   - VDPBF16PS (AVX512-BF16: 16 float32 lanes, each adding two bfloat16 products, 64 FLOP),
 *     24 independent accumulators;
 *   - VFMADD231PS (16 lanes, 32 FLOP), 24 independent accumulators;
 *   - TDPBF16PS (AMX-BF16: a 16 x 16 tile of float32 sums, each adding 32 bfloat16 products,
 *     16384 FLOP), four independent C tiles fed by two A and two B tiles that stay in the tile
 *     registers (the 2 x 2 tile block of fastmlp's AMX kernel, without its loads). Linux only
 *     (the tile state needs arch_prctl's permission).
 *
 *   gcc -O2 -mavx512f -mavx512bf16 -mfma -mamx-tile -mamx-bf16 bench/bf16_peak.c \
 *       -o /tmp/bf16_peak && /tmp/bf16_peak
 */
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
typedef struct { uint8_t palette, start_row, res[14]; uint16_t colsb[16]; uint8_t rows[16]; } __attribute__((packed)) cfg_t;
static double amx_peak(void){
  if(syscall(SYS_arch_prctl, 0x1023, 18)) return 0; /* ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA */
  cfg_t cfg; memset(&cfg,0,sizeof cfg); cfg.palette=1;
  for(int t=0;t<8;t++){cfg.colsb[t]=64; cfg.rows[t]=16;}
  _tile_loadconfig(&cfg);
  static uint16_t ab[16*32]; for(int i=0;i<16*32;i++) ab[i]=0x3f80;
  _tile_loadd(4,ab,64); _tile_loadd(5,ab,64); _tile_loadd(6,ab,64); _tile_loadd(7,ab,64);
  _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
  long N=20000; double best=1e9;
  for(int rep=0;rep<300;rep++){
    double t=now();
    for(long i=0;i<N;i++){ _tile_dpbf16ps(0,4,6); _tile_dpbf16ps(1,4,7); _tile_dpbf16ps(2,5,6); _tile_dpbf16ps(3,5,7); }
    double dt=now()-t; if(dt<best)best=dt;
  }
  _tile_release();
  return 4.0*N/best;
}
int main(){
  __m512 c[24]; for(int i=0;i<24;i++) c[i]=_mm512_set1_ps(0.f);
  __m512bh a=(__m512bh)_mm512_set1_epi32(0x3f803f80), b=(__m512bh)_mm512_set1_epi32(0x00010001);
  __m512 fa=_mm512_set1_ps(1e-3f), fb=_mm512_set1_ps(1.0f);
  long N=200000; double bd=1e9,bf=1e9;
  for(int rep=0;rep<300;rep++){
  double t=now();
  for(long i=0;i<N;i++){
#define S(k) c[k]=_mm512_dpbf16_ps(c[k],a,b);
    S(0)S(1)S(2)S(3)S(4)S(5)S(6)S(7)S(8)S(9)S(10)S(11)S(12)S(13)S(14)S(15)S(16)S(17)S(18)S(19)S(20)S(21)S(22)S(23)
    __asm__ volatile("" : "+v"(a));
  }
  double dt=now()-t; if(dt<bd)bd=dt;
  t=now();
  for(long i=0;i<N;i++){
#define F(k) c[k]=_mm512_fmadd_ps(fa,fb,c[k]);
    F(0)F(1)F(2)F(3)F(4)F(5)F(6)F(7)F(8)F(9)F(10)F(11)F(12)F(13)F(14)F(15)F(16)F(17)F(18)F(19)F(20)F(21)F(22)F(23)
    __asm__ volatile("" : "+v"(fa));
  }
  dt=now()-t; if(dt<bf)bf=dt;
  }
  printf("best: vdpbf16ps %.2f G instr/s = %.0f GFLOP/s (bf16 pairs x 16 lanes x 2); vfmadd231ps %.2f G instr/s = %.0f GFLOP/s; instruction-rate ratio %.3f\n",
     24.0*N/bd/1e9, 24.0*N*64/bd/1e9, 24.0*N/bf/1e9, 24.0*N*32/bf/1e9, bf/bd);
  const double amx=amx_peak();
  if(amx>0) printf("tdpbf16ps %.3f G instr/s = %.0f GFLOP/s (16 x 16 x 32 x 2 per instruction)\n", amx/1e9, amx*16384/1e9);
  else printf("tdpbf16ps: no AMX tile state granted here\n");
  float s=0; for(int i=0;i<24;i++) s+=_mm512_reduce_add_ps(c[i]); return s==1234.5f;
}
