/* Probe of AMX-BF16's TDPBF16PS arithmetic against VDPBF16PS's sequence of roundings (what
 * fastmlp's bfloat16 products compute, csrc/gemm/bf16.h). Linux on a CPU with AMX-BF16:
 *
 *   gcc -O2 -mamx-tile -mamx-bf16 -mavx512f -mfma bench/amx_bf16_probe.c -o /tmp/amx_probe -lm
 *   /tmp/amx_probe
 *
 * Prints a few hand-made sums (C + products of one tile row) next to what per-step rounding
 * gives, then how many of 768,000 random results differ from three models: VDPBF16PS's order
 * (odd element of each pair first), the even element first, and each pair's two products
 * summed exactly then added with one rounding. */
#include <immintrin.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <math.h>
#include <float.h>
#include <unistd.h>
#include <sys/syscall.h>
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18
static uint16_t rnd(float x){uint32_t u;memcpy(&u,&x,4);
 if((u&0x7f800000u)==0) return (u>>16)&0x8000u;
 if((u&0x7fffffffu)>0x7f800000u) return (uint16_t)((u>>16)|0x40u);
 u += 0x7fffu + ((u>>16)&1u); return (uint16_t)(u>>16);}
static float f(uint16_t h){uint32_t u=(uint32_t)h<<16;float x;memcpy(&x,&u,4);return x;}
static float ftz(float r){return fabsf(r)<FLT_MIN? copysignf(0.f,r):r;}
static uint64_t s=88172645463325252ull;
static uint32_t xr(void){s^=s<<13;s^=s>>7;s^=s<<17;return (uint32_t)s;}
static float randf(int mode){uint32_t u=xr(); float x;
  if(mode==0){ x = ((int)(xr()%2000001)-1000000)/1e6f; return x;}
  u = (u & 0x807fffffu) | ((xr()%40u) << 23); if(xr()%8==0) u=(u&0x807fffffu)|((100+xr()%40u)<<23); memcpy(&x,&u,4); return x;}
typedef struct { uint8_t palette, start_row, res[14]; uint16_t colsb[16]; uint8_t rows[16]; } __attribute__((packed)) cfg_t;
static uint16_t A[16][32], B[16][32];
static float C[16][16], R[16][16];
static uint16_t bf(float x){uint32_t u;memcpy(&u,&x,4);return u>>16;}
/* C[0][0] + the products of pa[] and pb[] (npairs pairs) by one TDPBF16PS. */
static float run(float c, int npairs, const float *pa, const float *pb){ /* row 0 col 0 */
  memset(A,0,sizeof A); memset(B,0,sizeof B); memset(C,0,sizeof C);
  C[0][0]=c; for(int i=0;i<npairs*2;i++){A[0][i]=bf(pa[i]); B[i/2][i%2]=bf(pb[i]);}
  _tile_loadd(0,C,64); _tile_loadd(1,A,64); _tile_loadd(2,B,64); _tile_dpbf16ps(0,1,2); _tile_stored(0,R,64); return R[0][0];}
int main(){
  long r = syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA);
  printf("arch_prctl -> %ld\n", r); if(r) return 1;
  cfg_t cfg; memset(&cfg,0,sizeof cfg); cfg.palette=1;
  for(int t=0;t<3;t++){cfg.colsb[t]=64; cfg.rows[t]=16;}
  _tile_loadconfig(&cfg);
  float h=ldexpf(1,-24), t3=3*ldexpf(1,-25);
  { float a[2]={t3,0},b[2]={1,0}; printf("1: C=1,p0=3*2^-25: %a (RNE 0x1.000002p+0)\n", run(1,1,a,b)); }
  { float a[2]={1,t3},b[2]={1,1}; printf("2: C=0,p0=1,p1=3*2^-25: %a\n", run(0,1,a,b)); }
  { float a[2]={h,0},b[2]={1,0}; printf("3: C=1,p0=2^-24: %a (RNE 1)\n", run(1,1,a,b)); }
  { float a[2]={h,h},b[2]={1,1}; printf("4: C=1,p0=p1=2^-24: %a (seq 1, exact 1.000002)\n", run(1,1,a,b)); }
  { float a[32],b[32]; for(int i=0;i<32;i++){a[i]=(i%2==0)?h:0;b[i]=1;} printf("5: C=1, 16 pairs p0=2^-24: %a (seq 1, exact 0x1.00001p+0)\n", run(1,16,a,b)); }
  { float a[32],b[32]; for(int i=0;i<32;i++){a[i]=h;b[i]=1;} printf("6: C=1, 32 products 2^-24: %a (exact 0x1.00002p+0)\n", run(1,16,a,b)); }
  { float a[2]={1,-1},b[2]={1,1}; printf("7: C=2^-30, p0=1,p1=-1: %a\n", run(ldexpf(1,-30),1,a,b)); }
  { float a[2]={ldexpf(1,-30),1},b[2]={1,1}; printf("8: C=-1, p0=2^-30,p1=1: %a\n", run(-1,1,a,b)); }
  { float a[2]={1,ldexpf(1,-30)},b[2]={1,1}; printf("9: C=-1, p0=1,p1=2^-30: %a\n", run(-1,1,a,b)); }
  { float a[2]={t3,0},b[2]={-1,0}; printf("10: C=1,p0=-3*2^-25: %a (RNE 0x1.fffffcp-1)\n", run(1,1,a,b)); }
  { float a[2]={ldexpf(1,-25),0},b[2]={-1,0}; printf("11: C=1,p0=-2^-25: %a (RNE: a tie, 1)\n", run(1,1,a,b)); }
  { float a[2]={ldexpf(1.5,-26),0},b[2]={-1,0}; printf("12: C=1,p0=-1.5*2^-26: %a (RNE 1)\n", run(1,1,a,b)); }
  long bad_allk=0,bad_pa=0,bad_oe=0,bad_eo=0,bad_fused=0,n=0;
  for(int it=0;it<3000;it++){
    int mode=it%2;
    for(int i=0;i<16;i++)for(int j=0;j<32;j++){A[i][j]=rnd(randf(mode));B[i][j]=rnd(randf(mode));}
    for(int i=0;i<16;i++)for(int j=0;j<16;j++) C[i][j]= ftz((it%4==1)?randf(1):randf(0));
    _tile_loadd(0,C,64); _tile_loadd(1,A,64); _tile_loadd(2,B,64);
    _tile_dpbf16ps(0,1,2); _tile_stored(0,R,64);
    for(int m=0;m<16;m++)for(int nn=0;nn<16;nn++){
      float oe=C[m][nn], eo=C[m][nn]; double allk=0; float fus=C[m][nn]; float pa=C[m][nn];
      for(int k=0;k<16;k++){
        float a0=f(A[m][2*k]),a1=f(A[m][2*k+1]),b0=f(B[k][2*nn]),b1=f(B[k][2*nn+1]);
        oe=ftz(fmaf(a1,b1,oe)); oe=ftz(fmaf(a0,b0,oe));
        eo=ftz(fmaf(a0,b0,eo)); eo=ftz(fmaf(a1,b1,eo));
        fus = ftz((float)((double)fus + ((double)a0*b0 + (double)a1*b1))); allk += (double)a0*b0 + (double)a1*b1; pa = ftz(pa + (float)((double)a0*b0 + (double)a1*b1));
      }
      float ak = ftz((float)(allk + C[m][nn])); bad_allk += memcmp(&ak,&R[m][nn],4)!=0; bad_pa += memcmp(&pa,&R[m][nn],4)!=0; n++; bad_oe += memcmp(&oe,&R[m][nn],4)!=0; bad_eo += memcmp(&eo,&R[m][nn],4)!=0; bad_fused += memcmp(&fus,&R[m][nn],4)!=0;
      if(it<2 && m==0 && nn<2) printf("hw %a oe %a eo %a fused %a\n",R[m][nn],oe,eo,fus);
    }
  }
  _tile_release();
  printf("of %ld: exact row sum rounded once: %ld mismatches; each pair summed, rounded, added: %ld\n",n,bad_allk,bad_pa); printf("of %ld: odd-first mismatches %ld, even-first %ld, fused-pair %ld\n",n,bad_oe,bad_eo,bad_fused);
}
