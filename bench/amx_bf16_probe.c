/* Probe of AMX-BF16's TDPBF16PS arithmetic, and the exact model of it that fastmlp's bfloat16
 * products compute on every CPU (csrc/gemm/bf16.h). Linux on a CPU with AMX-BF16:
 *
 *   gcc -O2 -mamx-tile -mamx-bf16 bench/amx_bf16_probe.c -o /tmp/amx_probe -lm
 *   /tmp/amx_probe [tiles, default 60000]
 *
 * The model of one output element, c + sum over k < 2 * pairs of a[k] * b[k] (pairs <= 16 pairs
 * of bfloat16 values, as the tile configuration gives them):
 *   - inputs: bfloat16 subnormals read as zeros of their sign, C's float32 subnormal too;
 *   - two chains, E over the even k (k = 0, 2, 4, ...) and O over the odd k (1, 3, 5, ...), each
 *     starting at +0 and adding its products in ascending k, each step a fused multiply-add (the
 *     product exact, however large or small) rounded once to nearest even with an unbounded
 *     exponent, then a result below 2^-126 flushed to a zero of its sign (tininess after
 *     rounding, as x86's FTZ);
 *   - S = E + O, then the result C + S, each rounded once to nearest even, a subnormal flushed
 *     to a zero of its sign;
 *   - NaN: a NaN input of a product (a's before b's, quieted) replaces the chain; a NaN chain is
 *     kept through later steps (also through an invalid 0 * inf); an invalid operation (0 * inf,
 *     inf - inf) gives the default NaN 0xffc00000; E's NaN before O's, C's before S's.
 * Missing pairs (a configuration with fewer than 16 pairs) change nothing: padding with a
 * product of -0 * +0 gives the same bits, padding with +0 * +0 does not (it turns a -0 chain
 * into +0).
 *
 * The program compares the model with TDPBF16PS on random tiles of eight kinds (uniform [-1,1];
 * exponents over +-30; C set to cancel the sum; products near overflow; products and C around
 * the subnormal range, subnormal inputs; zeros of both signs, infinities and NaNs; any bit
 * pattern; chains that flush), every position of the 16 x 16 tile, one tile in five with random
 * rows, columns and pairs configured, and checks the padding claim above. */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <stdint.h>
#include <string.h>
#include <math.h>
static inline float u2f(uint32_t u){float f;memcpy(&f,&u,4);return f;}
static inline uint32_t f2u(float f){uint32_t u;memcpy(&u,&f,4);return u;}
static inline int isnan_u(uint32_t u){return (u&0x7fffffffu)>0x7f800000u;}
/* bf16 bits -> float, DAZ (subnormal -> signed zero) */
static inline float bfv(uint16_t h){uint32_t u=(uint32_t)h<<16; if((u&0x7f800000u)==0) u&=0x80000000u; return u2f(u);}
/* round double s (already round-to-odd from exact) to float with unbounded exponent; flush tiny: zsign 0 -> +0, 1 -> signed */
static inline float rnd_unb(double s, int signed_flush){
  double as=fabs(s);
  if(as < 0x1p-126){ float r=(float)(s*0x1p64); /* normal in float: unbounded rounding */
     if(fabsf(r) < 0x1p-62f) return signed_flush? copysignf(0.f,(float)s):0.f;
     return (float)(r*0x1p-64); }
  return (float)s;
}
/* exact x + y (doubles, exact values) rounded to float: round-to-odd in double then to float */
static inline double sum_odd(double x,double y){
  double s=x+y; double bb=s-x; double e=(x-(s-bb))+(y-bb);
  if(e!=0){ uint64_t u; memcpy(&u,&s,8); if(!(u&1)){ if((e>0)==(s>0)) u++; else u--; memcpy(&s,&u,8);} }
  return s;
}
static inline uint32_t quiet(uint32_t u){return u|0x00400000u;}
#define DEFNAN 0xffc00000u
/* chain step: acc + a*b, one rounding (unbounded exponent), tiny -> signed zero */
static inline float chain_step(float acc, uint16_t ha, uint16_t hb){
  float a=bfv(ha), b=bfv(hb);
  uint32_t ua=f2u(a), ub=f2u(b), uacc=f2u(acc);
  uint32_t pn=0; int pnan=0;
  if(isnan_u(ua)){pn=quiet(ua);pnan=1;} else if(isnan_u(ub)){pn=quiet(ub);pnan=1;}
  if(pnan) return u2f(pn);
  if(isnan_u(uacc)) return acc;
  if((isinf(a)&&b==0)||(isinf(b)&&a==0)) return u2f(DEFNAN);
  double p=(double)a*(double)b;
  if(isinf(p)||isinf(acc)){ double s=(double)acc+p; if(isnan(s)) return u2f(DEFNAN); return (float)s; }
  double s=sum_odd((double)acc,p);
  return rnd_unb(s,1);
}
static inline float add_flush(float x, float y){ /* x + y, one rounding, signed flush; NaN: x's first */
  uint32_t ux=f2u(x),uy=f2u(y);
  if(isnan_u(ux)) return u2f(quiet(ux));
  if(isnan_u(uy)) return u2f(quiet(uy));
  float r=x+y; if(isnan(r)) return u2f(DEFNAN);
  return fabsf(r)<0x1p-126f? copysignf(0.f,r): r; /* sum of two floats: tiny results exact */
}
/* one element: c + row a (2*npairs bf16) . column b (2*npairs bf16) */
static inline float amx_model(float c, const uint16_t *a, const uint16_t *b, int npairs){
  uint32_t uc=f2u(c); if((uc&0x7f800000u)==0) c=u2f(uc&0x80000000u); /* DAZ of C */
  float E=0.f,O=0.f;
  for(int q=0;q<npairs;q++){ E=chain_step(E,a[2*q],b[2*q]); O=chain_step(O,a[2*q+1],b[2*q+1]); }
  float S=add_flush(E,O);
  return add_flush(c,S);
}
typedef struct { uint8_t palette, start_row, res[14]; uint16_t colsb[16]; uint8_t rows[16]; } __attribute__((packed)) cfg_t;
static uint64_t s=88172645463325252ull;
static inline uint32_t xr(void){s^=s<<13;s^=s>>7;s^=s<<17;return (uint32_t)(s>>11);}
static inline double ur(void){return xr()/4294967296.0;}
static uint16_t rb(float x){uint32_t u=f2u(x); if((u&0x7fffffffu)>0x7f800000u) return (u>>16)|0x40; u+=0x7fff+((u>>16)&1); return u>>16;}
/* a bf16 with exponent e (unbiased) random significand */
static uint16_t bexp(int e){ int be=e+127; if(be<1) be=1; if(be>254) be=254; return (uint16_t)(((xr()&1)<<15)|(be<<7)|(xr()&0x7f)); }
static int dist;
static uint16_t gen_op(int role){ /* role 0: a, 1: b */
  uint32_t r=xr()%1000;
  switch(dist){
  case 0: return rb((float)(2*ur()-1));
  case 1: return bexp((int)(xr()%60)-30);
  case 2: return bexp((int)(xr()%20)-10);           /* cancellation set up in C */
  case 3: return bexp(50+(int)(xr()%14));           /* near overflow products up to 2^128 */
  case 4: { if(r<50) return (uint16_t)(((xr()&1)<<15)|(xr()&0x7f)); /* subnormal bf16 */
            return bexp(-70+(int)(xr()%16)); }       /* products ~2^-140..2^-110 */
  case 5: { if(r<100) return (xr()&1)?0x8000:0; if(r<110) return (xr()&1)?0xff80:0x7f80;
            if(r<115) return (uint16_t)(0x7fc0|(xr()&0x3f)|((xr()&1)<<15));
            if(r<118) return (uint16_t)(0x7f80|1|(xr()&0x3f));
            return bexp((int)(xr()%30)-15); }
  case 6: return (uint16_t)xr(); /* any bits */
  case 7: { if(r<300) return (xr()&1)?0x8000:0; return bexp(-66+(int)(xr()%6)); } /* chain subnormal boundary */
  default: return rb((float)(2*ur()-1));
  }
}
static float gen_c(void){
  uint32_t r=xr()%1000;
  switch(dist){
  case 1: return u2f(((xr()&1)<<31)|((uint32_t)(127-35+xr()%70)<<23)|(xr()&0x7fffff));
  case 3: return u2f(((xr()&1)<<31)|((uint32_t)(254-xr()%4)<<23)|(xr()&0x7fffff));
  case 4: case 7: if(r<100) return u2f(((xr()&1)<<31)|(xr()&0x7fffff)); return u2f(((xr()&1)<<31)|((uint32_t)(1+xr()%8)<<23)|(xr()&0x7fffff));
  case 5: if(r<100) return (xr()&1)?-0.f:0.f; if(r<120) return (xr()&1)?-INFINITY:INFINITY; if(r<130) return u2f(0x7fc00000u|(xr()&0x3fffff)|((xr()&1)<<31));
          return (float)(2*ur()-1);
  case 6: return u2f(xr());
  default: return (float)(2*ur()-1);
  }
}
static long padbad[2],padn[2];
static uint16_t A[16][32], B[16][32]; static float C[16][16], R[16][16];
int main(int argc,char**argv){
  long iters=argc>1?atol(argv[1]):1000; int ndist=8;
  if(syscall(SYS_arch_prctl,0x1023,18)) return 1;
  long n=0,bad=0,badnan=0,nanres=0; long bd[16]={0}, nd[16]={0};
  for(long it=0;it<iters;it++){
    dist=(int)(it%ndist);
    /* configuration: rows, cols, K pairs vary sometimes */
    int rows=16, cols=16, kp=16;
    if(it%5==3){ rows=1+xr()%16; cols=1+xr()%16; kp=1+xr()%16; }
    cfg_t cf; memset(&cf,0,sizeof cf); cf.palette=1;
    cf.rows[0]=rows; cf.colsb[0]=cols*4; cf.rows[1]=rows; cf.colsb[1]=kp*4; cf.rows[2]=kp; cf.colsb[2]=cols*4;
    _tile_loadconfig(&cf);
    for(int i=0;i<16;i++)for(int j=0;j<32;j++){A[i][j]=gen_op(0);B[i][j]=gen_op(1);}
    for(int i=0;i<16;i++)for(int j=0;j<16;j++) C[i][j]=gen_c();
    if(dist==2){ /* C = -(sum of products) rounded, so that the result cancels heavily */
      for(int i=0;i<16;i++)for(int j=0;j<16;j++){ double t=0; for(int k=0;k<2*kp;k++) t+=(double)bfv(A[i][k])*bfv(B[k/2][2*j+(k&1)]);
        C[i][j]=(float)(-t*(1+(ur()-0.5)*1e-6*(xr()%3))); }
    }
    memset(R,0x55,sizeof R);
    _tile_loadd(0,C,64); _tile_loadd(1,A,64); _tile_loadd(2,B,64); _tile_dpbf16ps(0,1,2); _tile_stored(0,R,64);
    if(kp<16){ /* the same sums with all 16 pairs configured, the missing ones padded: A -0 and B +0, then A +0 and B +0 */
      static uint16_t A2[16][32], B2[16][32]; static float R2[16][16];
      for(int pad=0;pad<2;pad++){
      memcpy(A2,A,sizeof A); memcpy(B2,B,sizeof B);
      for(int i=0;i<16;i++)for(int k=2*kp;k<32;k++){A2[i][k]=pad?0:0x8000; B2[k/2][2*(i)+(k&1)]=0;}
      for(int k=kp;k<16;k++)for(int j=0;j<32;j++) B2[k][j]=0;
      cfg_t c2=cf; c2.colsb[1]=64; c2.rows[2]=16; _tile_loadconfig(&c2);
      _tile_loadd(0,C,64); _tile_loadd(1,A2,64); _tile_loadd(2,B2,64); _tile_dpbf16ps(0,1,2); _tile_stored(0,R2,64);
      for(int i=0;i<rows;i++)for(int j=0;j<cols;j++) if(f2u(R2[i][j])!=f2u(R[i][j])) padbad[pad]++;
      padn[pad]+=rows*cols; }
    }
    for(int i=0;i<rows;i++)for(int j=0;j<cols;j++){
      uint16_t bc[32]; for(int k=0;k<32;k++) bc[k]=B[k/2][2*j+(k&1)];
      float m=amx_model(C[i][j],A[i],bc,kp); uint32_t um=f2u(m), uh=f2u(R[i][j]);
      n++; nd[dist]++;
      if(isnan_u(uh)||isnan_u(um)){ nanres++; if(!(isnan_u(uh)&&isnan_u(um))){bad++;bd[dist]++;} else if(um!=uh){ badnan++; if(badnan<=8){ printf("NaN dist %d kp %d c=%08x hw %08x model %08x\n",dist,kp,f2u(C[i][j]),uh,um); float E=0,O=0; for(int q=0;q<kp;q++){E=chain_step(E,A[i][2*q],bc[2*q]);O=chain_step(O,A[i][2*q+1],bc[2*q+1]); printf("   q%d a0 %04x b0 %04x a1 %04x b1 %04x E %08x O %08x\n",q,A[i][2*q],bc[2*q],A[i][2*q+1],bc[2*q+1],f2u(E),f2u(O));} } } }
      else if(um!=uh){ bad++; bd[dist]++; if(bad<=6){ printf("dist %d kp %d c=%a hw %a (%08x) model %a (%08x)\n",dist,kp,C[i][j],R[i][j],uh,m,um); float E=0,O=0; for(int q=0;q<kp;q++){E=chain_step(E,A[i][2*q],bc[2*q]);O=chain_step(O,A[i][2*q+1],bc[2*q+1]); printf("   q%d a0 %a b0 %a a1 %a b1 %a E %a O %a\n",q,bfv(A[i][2*q]),bfv(bc[2*q]),bfv(A[i][2*q+1]),bfv(bc[2*q+1]),E,O);} } }
    }
  }
  _tile_release();
  printf("results %ld, mismatches %ld (NaN results %ld, NaN payload differences %ld)\n",n,bad,nanres,badnan);
  printf("K < 32: padded with -0*+0 products: %ld of %ld differ; with +0*+0: %ld of %ld differ\n",padbad[0],padn[0],padbad[1],padn[1]);
  for(int d=0;d<ndist;d++) printf(" dist %d: %ld of %ld\n",d,bd[d],nd[d]);
  return bad!=0;
}
