/* fastmlp C core: counter-based random numbers (shuffles, later dropout masks).
 * A draw is a pure function of (seed, stream, counter), so it does not depend on which thread
 * makes it or in which order: the key to bitwise-reproducible training for any thread count. */
#include "internal.h"

/* splitmix64's finalizer: a bijective 64-bit mixer with full avalanche. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Two rounds of keyed mixing over the counter (a small "Philox-like" hash). */
uint64_t fm_rng_u64(uint64_t seed, uint64_t stream, uint64_t counter)
{
    uint64_t key = mix64(seed + 0x9e3779b97f4a7c15ULL * (stream + 1));
    return mix64(mix64(counter * 0xd1342543de82ef95ULL + key) ^ key);
}

/* Lemire's multiply-shift: the high 32 bits of draw scaled to [0, bound); a modulo for bounds
 * past 2^32, where its bias (< bound / 2^64) does not matter. */
uint64_t fm_rng_below(uint64_t draw, uint64_t bound)
{
    if (bound >> 32)
        return draw % bound;
    return ((draw >> 32) * bound) >> 32;
}
