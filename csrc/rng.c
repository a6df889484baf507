/* fastmlp C core: counter-based random numbers (shuffles; dropout masks use internal.h's).
 * A draw is a pure function of (seed, stream, counter), so it does not depend on which thread
 * makes it or in which order: the key to bitwise-reproducible training for any thread count. */
#include "internal.h"

uint64_t fm_rng_u64(uint64_t seed, uint64_t stream, uint64_t counter)
{
    return fm_rng_draw(fm_rng_key(seed, stream), counter);
}

void fm_permutation(uint64_t seed, uint64_t epoch, int64_t n, int64_t *out)
{
    for (int64_t i = 0; i < n; i++)
        out[i] = i;
    /* fm_rng_u64(seed, epoch, i) with the key computed once (the same values: 20,000 rows
     * took 100 us, half of it in the calls and the key) */
    const uint64_t key = fm_rng_key(seed, epoch);
    for (int64_t i = n - 1; i > 0; i--) {
        const int64_t j =
            (int64_t)fm_rng_below(fm_rng_draw(key, (uint64_t)i), (uint64_t)i + 1);
        const int64_t tmp = out[i];
        out[i] = out[j];
        out[j] = tmp;
    }
}
