"""The core's GEMM entry point against NumPy, on awkward shapes, every transpose, both dtypes."""

import itertools

import numpy as np
import pytest

from fastmlp import _core

# Sizes around the microkernel tile (4 rows, 8/16 columns) and the cache blocks (KC=256,
# NC=512): non-multiples of every block size, and 1.
SHAPES = [
    (1, 1, 1),
    (1, 7, 63),
    (7, 1, 65),
    (63, 65, 1),
    (65, 63, 7),
    (257, 17, 33),
    (16, 257, 255),
    (33, 513, 257),
    (5, 600, 520),
    (130, 70, 1030),
]


def _reference(trans_a, trans_b, alpha, A, B, beta, C):
    opA = A.T if trans_a else A
    opB = B.T if trans_b else B
    return alpha * (opA.astype(np.float64) @ opB.astype(np.float64)) + beta * C.astype(np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trans_a,trans_b", list(itertools.product([False, True], repeat=2)))
@pytest.mark.parametrize("m,n,k", SHAPES)
def test_gemm_matches_numpy(m, n, k, trans_a, trans_b, dtype):
    rng = np.random.default_rng(m * 1000003 + n * 1009 + k)
    A = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    B = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    C = rng.standard_normal((m, n)).astype(dtype)
    for alpha, beta in [(1.0, 0.0), (0.5, 1.0), (-2.0, 0.25)]:
        expected = _reference(trans_a, trans_b, alpha, A, B, beta, C)
        out = C.copy()
        _core.gemm(trans_a, trans_b, alpha, A, B, beta, out)
        # The classical rounding bound of a k-term dot product, elementwise.
        magnitude = _reference(trans_a, trans_b, abs(alpha), np.abs(A), np.abs(B), abs(beta),
                               np.abs(C))
        bound = (k + 4) * np.finfo(dtype).eps * magnitude
        assert np.all(np.abs(out - expected) <= bound)


def test_gemm_beta_zero_overwrites_nan():
    A = np.ones((3, 2))
    B = np.ones((2, 5))
    C = np.full((3, 5), np.nan)
    _core.gemm(False, False, 1.0, A, B, 0.0, C)
    np.testing.assert_array_equal(C, np.full((3, 5), 2.0))


def test_gemm_k_zero_scales_c():
    A = np.ones((3, 0))
    B = np.ones((0, 4))
    C = np.full((3, 4), 3.0)
    _core.gemm(False, False, 1.0, A, B, 2.0, C)
    np.testing.assert_array_equal(C, np.full((3, 4), 6.0))


def test_gemm_rejects_nonconforming_shapes():
    with pytest.raises(ValueError, match="conform"):
        _core.gemm(False, False, 1.0, np.ones((3, 2)), np.ones((3, 4)), 0.0, np.ones((3, 4)))
