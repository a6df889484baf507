"""The epoch's sample order, ``fastmlp._core.permutation(seed, epoch, n)``: bit for bit an
independent NumPy implementation of the documented generator (csrc/internal.h, csrc/rng.c), and
statistically a uniform random permutation (chi-square tests over many seeds and epochs), with
the statistical tests shown to reject plausible bugs.

Everything is deterministic: fixed seeds, so each test's p-value is a fixed number. The
significance level ALPHA is small enough that the correct generator passes with a wide margin,
and the samples are large enough that each buggy generator below is rejected with a p-value
many orders of magnitude below it.
"""

import sys

import numpy as np
import pytest
from scipy import stats

from fastmlp import _core

ALPHA = 1e-4
N = 8  # items per permutation in the statistical tests: 64 (item, position) cells
N_DRAWS = 20_000  # permutations per statistical test

# ------------------------------------------------------------------ the reference generator

_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _u64(value):
    return np.asarray(value, dtype=np.uint64)


# uint64 products and sums wrap modulo 2**64, as in C: not an overflow worth a warning here
def _wrapping():
    return np.errstate(over="ignore")


def _mix64(z):
    """splitmix64's finalizer (fm_mix64); uint64 arithmetic wraps modulo 2**64 as in C."""
    z = _u64(z)
    with _wrapping():
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _rng_key(seed, stream):
    """fm_rng_key: the key of a (seed, stream) pair."""
    with _wrapping():
        return _mix64(_u64(seed) + np.uint64(0x9E3779B97F4A7C15) * (_u64(stream) + np.uint64(1)))


def _rng_draw(key, counter):
    """fm_rng_draw: 64 bits from a key and a counter."""
    key = _u64(key)
    with _wrapping():
        return _mix64(_mix64(_u64(counter) * np.uint64(0xD1342543DE82EF95) + key) ^ key)


def _rng_below(draw, bound):
    """fm_rng_below: Lemire's multiply-shift on the draw's high 32 bits (bounds below 2**32)."""
    assert bound < 2**32
    return ((_u64(draw) >> np.uint64(32)) * np.uint64(bound)) >> np.uint64(32)


def reference_permutations(seeds, epochs, n, *, last=None, bound=None):
    """fm_permutation for each (seed, epoch) pair, as rows of an (n_pairs, n) int64 array:
    Fisher-Yates from the end, position i swapped with j = below(draw(key, i), i + 1).

    ``last`` (the first position swapped, default n - 1) and ``bound(i)`` (the range of j,
    default i + 1) exist to build the buggy variants the statistical tests must reject."""
    seeds, epochs = np.broadcast_arrays(_u64(seeds), _u64(epochs))
    keys = _rng_key(seeds, epochs)
    out = np.tile(np.arange(n, dtype=np.int64), (seeds.size, 1))
    rows = np.arange(seeds.size)
    for i in range(n - 1 if last is None else last, 0, -1):
        j = _rng_below(_rng_draw(keys, i), i + 1 if bound is None else bound(i)).astype(np.int64)
        out[rows, i], out[rows, j] = out[rows, j], out[rows, i].copy()
    return out


def core_permutations(seeds, epochs, n):
    seeds, epochs = np.broadcast_arrays(_u64(seeds), _u64(epochs))
    return np.array([_core.permutation(int(s), int(e), n) for s, e in zip(seeds, epochs)])


# ------------------------------------------------------------------ the statistical tests


def position_p_value(perms):
    """Chi-square test that each item is equally likely at each position: the n x n table of
    (item, position) counts against its expected count, with (n - 1)**2 degrees of freedom
    (every row and column of the table sums to the number of permutations)."""
    n_perms, n = perms.shape
    counts = np.zeros((n, n))
    np.add.at(counts, (perms.ravel(), np.tile(np.arange(n), n_perms)), 1)
    expected = n_perms / n
    statistic = ((counts - expected) ** 2 / expected).sum()
    return stats.chi2.sf(statistic, (n - 1) ** 2)


def pair_p_value(perms, first, second):
    """Chi-square test that the items at two positions are an independent, uniform ordered
    pair of distinct items: n (n - 1) cells, n (n - 1) - 1 degrees of freedom."""
    n_perms, n = perms.shape
    a, b = perms[:, first], perms[:, second]
    assert (a != b).all()
    counts = np.bincount(a * n + b, minlength=n * n).reshape(n, n)
    observed = counts[~np.eye(n, dtype=bool)]
    return stats.chisquare(observed).pvalue


def _p_values(permutations):
    """The tests' p-values for a generator ``permutations(seeds, epochs, n)``: across seeds
    (epoch fixed) and across epochs (seed fixed), positions and the pairs of positions at the
    start, the end, and spread out."""
    seeds = np.arange(N_DRAWS, dtype=np.uint64) * np.uint64(7919) + np.uint64(12345)
    epochs = np.arange(N_DRAWS, dtype=np.uint64) * np.uint64(64)  # epochs count samples seen
    results = {}
    for name, perms in (("seeds", permutations(seeds, 200, N)),
                        ("epochs", permutations(2024, epochs, N))):
        results[name + ": positions"] = position_p_value(perms)
        for first, second in ((0, 1), (N - 2, N - 1), (0, N - 1), (2, 5)):
            results["%s: pair %d, %d" % (name, first, second)] = pair_p_value(perms, first,
                                                                              second)
    return results


def test_positions_and_pairs_are_uniform():
    p_values = _p_values(core_permutations)
    assert min(p_values.values()) > ALPHA, p_values


def _last_never_moves(seeds, epochs, n):
    return reference_permutations(seeds, epochs, n, last=n - 2)


def _sattolo(seeds, epochs, n):  # j < i: only cyclic permutations, no item stays in place
    return reference_permutations(seeds, epochs, n, bound=lambda i: i)


def _naive_swaps(seeds, epochs, n):  # j over the whole range at every step: n**(n-1) paths
    return reference_permutations(seeds, epochs, n, bound=lambda i: n)


def _seed_ignored(seeds, epochs, n):
    return reference_permutations(np.zeros_like(_u64(seeds)), epochs, n)


def _epoch_ignored(seeds, epochs, n):
    return reference_permutations(seeds, np.zeros_like(_u64(epochs)), n)


def _reused_draw(seeds, epochs, n):  # one draw for every step: the swaps are correlated
    seeds, epochs = np.broadcast_arrays(_u64(seeds), _u64(epochs))
    draws = _rng_draw(_rng_key(seeds, epochs), 0)
    out = np.tile(np.arange(n, dtype=np.int64), (seeds.size, 1))
    rows = np.arange(seeds.size)
    for i in range(n - 1, 0, -1):
        j = _rng_below(draws, i + 1).astype(np.int64)
        out[rows, i], out[rows, j] = out[rows, j], out[rows, i].copy()
    return out


@pytest.mark.parametrize(
    "buggy, caught_by",
    [
        (_last_never_moves, "seeds: positions"),
        (_sattolo, "seeds: positions"),
        (_naive_swaps, "seeds: positions"),
        (_seed_ignored, "seeds: positions"),
        (_epoch_ignored, "epochs: positions"),
        (_reused_draw, "seeds: pair 0, 1"),
    ],
    ids=lambda value: getattr(value, "__name__", value),
)
def test_statistical_tests_reject_plausible_bugs(buggy, caught_by, monkeypatch):
    """Each buggy generator, put in place of the core's, fails the test above, by a margin."""
    p_values = _p_values(buggy)
    assert p_values[caught_by] < ALPHA * 1e-6, p_values
    monkeypatch.setattr(sys.modules[__name__], "core_permutations", buggy)
    with pytest.raises(AssertionError):
        test_positions_and_pairs_are_uniform()


# ------------------------------------------------------------------ bit for bit


def test_reference_is_the_generator_before_the_shuffle():
    """The reference's building blocks against known values of splitmix64's finalizer (seed
    0's first outputs of the splitmix64 generator are mix64 of multiples of its increment)."""
    gamma = 0x9E3779B97F4A7C15
    assert int(_mix64(gamma)) == 0xE220A8397B1DCDAF
    assert int(_mix64((2 * gamma) % 2**64)) == 0x6E789E6AA1B965F4
    assert int(_rng_below(np.uint64(2**64 - 1), 10)) == 9
    assert int(_rng_below(np.uint64(2**32 - 1), 10)) == 0


@pytest.mark.parametrize("n", [0, 1, 2, 3, 10, 257, 10_007])
def test_core_permutation_equals_the_reference(n):
    seeds = [0, 1, 42, 2**32 - 1, 2**32, 2**63, 2**64 - 1]
    epochs = [0, 1, 60_000, 2**40 + 3, 2**64 - 1]
    pairs = [(s, e) for s in seeds for e in epochs]
    expected = reference_permutations([s for s, _ in pairs], [e for _, e in pairs], n)
    for (seed, epoch), row in zip(pairs, expected):
        got = _core.permutation(seed, epoch, n)
        assert got.dtype == np.int64 and got.shape == (n,)
        np.testing.assert_array_equal(got, row, err_msg="seed %d, epoch %d" % (seed, epoch))
    if n >= 10:  # 10! orders: the pairs give different ones
        assert len({row.tobytes() for row in expected}) == len(pairs)
