/* fastmlp C core: helpers shared by the implementation files (not part of the interface). */
#ifndef FASTMLP_INTERNAL_H
#define FASTMLP_INTERNAL_H

#include "fastmlp.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Work (multiply-adds or element operations) below which a loop runs on one thread: an OpenMP
 * fork/join costs a few microseconds, more than small loops take. */
#define FM_PAR_MIN_WORK 32768

/* GEMM blocking: KC x NC panels of B are packed when B must be transposed; C is computed in
 * MR x NR tiles whose accumulators fit the vector registers of a baseline x86-64 / AArch64 CPU. */
#define FM_GEMM_KC 256
#define FM_GEMM_NC 512
#define FM_GEMM_MR 4

/* Counter-based random numbers: a 64-bit value from (seed, stream, counter), independent of the
 * order or thread in which it is drawn. */
uint64_t fm_rng_u64(uint64_t seed, uint64_t stream, uint64_t counter);
/* Uniform integer in [0, bound) from one 64-bit draw. */
uint64_t fm_rng_below(uint64_t draw, uint64_t bound);

#endif
