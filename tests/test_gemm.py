"""The core's GEMM entry point against NumPy, on awkward shapes, every transpose, both dtypes,
every instruction set this machine supports; and the instruction-set dispatch itself."""

import ast
import itertools
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from fastmlp import _core


# Sizes around the microkernel tiles (6 x 16 and 12 x 32 floats, 6 x 8 and 12 x 16 doubles, 4 x
# 16 / 4 x 8 portable) and the cache blocks (KC=256, MC=144, NC=2048): non-multiples of every
# block size, and 1; the small nets' shapes, whose operands the kernel reads in place (below
# FM_GEMM_DIRECT_BYTES), including one that spans two KC blocks; one column (a gemv); and two
# products large enough to be shared among threads even by the AVX-512 kernels (above 4M
# multiply-adds), split by rows (m >= MC: three blocks, the last one short) and by columns
# (B slivers owned by threads across KC blocks, the last one short).
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
    (32, 64, 20),
    (32, 1, 64),
    (64, 1, 32),
    (200, 100, 64),
    (13, 33, 300),
    (300, 130, 300),
    (130, 300, 300),
    (130, 128, 600),
    # last slivers of A of the edge kernels' heights (AVX-512 8 and 4 rows, AVX2 4 and 2), read
    # in place: small, in a thread-shared row block, and in thread-owned B slivers
    (20, 64, 32),
    (296, 130, 300),
    (140, 128, 600),
]


def _reference(trans_a, trans_b, alpha, A, B, beta, C):
    opA = A.T if trans_a else A
    opB = B.T if trans_b else B
    return alpha * (opA.astype(np.float64) @ opB.astype(np.float64)) + beta * C.astype(np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trans_a,trans_b", list(itertools.product([False, True], repeat=2)))
@pytest.mark.parametrize("m,n,k", SHAPES)
def test_gemm_matches_numpy(m, n, k, trans_a, trans_b, dtype, isa):
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


# Products with few columns of C (an output layer of a few classes, its weight gradient), and
# wider ones whose last n % 32 columns the AVX-512 narrow kernels compute: every n from 1 to 17
# and a few past 32, rows around the AVX-512 narrow kernels' 16-row vectors and 32-row slivers (and
# the 12-row tiles), k from 1 to across a KC boundary (256). Every instruction set gives the
# generic build's bits (each element's arithmetic is the same on every path), and NumPy's values
# within the rounding bound; with beta == 0, NaN in C does not survive.
NARROW_M = (12, 13, 16, 17, 31, 33, 48, 56, 100)
NARROW_K = (1, 10, 100, 300)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (True, False), (False, True)])
@pytest.mark.parametrize("n", [*range(1, 18), 33, 40, 48, 49, 63, 100])
def test_narrow_products_agree_bitwise_across_isas(n, trans_a, trans_b, dtype):
    isas = _core.available_isas()
    previous = _core.isa()
    rng = np.random.default_rng(n * 7 + 2 * trans_a + trans_b)
    try:
        for m, k in itertools.product(NARROW_M, NARROW_K):
            A = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
            B = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
            C = rng.standard_normal((m, n)).astype(dtype)
            # factors that are not powers of 2, so that a product's rounding shows
            for alpha, beta in [(1.0, 0.0), (0.7, 0.0), (0.5, 1.0), (-1.5, 0.3)]:
                start = np.full_like(C, np.nan) if beta == 0 else C
                outs = {}
                for name in isas:
                    _core.set_isa(name)
                    out = start.copy()
                    _core.gemm(trans_a, trans_b, alpha, A, B, beta, out)
                    outs[name] = out
                for name in isas:
                    assert outs[name].tobytes() == outs["generic"].tobytes(), (name, m, k)
                expected = _reference(trans_a, trans_b, alpha, A, B, beta, C)
                magnitude = _reference(trans_a, trans_b, abs(alpha), np.abs(A), np.abs(B),
                                       abs(beta), np.abs(C))
                bound = (k + 4) * np.finfo(dtype).eps * magnitude
                assert np.all(np.abs(outs["generic"] - expected) <= bound), (m, k)
    finally:
        _core.set_isa(previous)


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


def test_dispatch_lists_and_selects_instruction_sets():
    assert _core.compiled_isas()[-1] == "generic"
    assert set(_core.available_isas()) <= set(_core.compiled_isas())
    assert "generic" in _core.available_isas()
    previous = _core.isa()
    try:
        assert _core.set_isa("generic") == "generic"
        # The automatic choice is the widest instruction set the CPU has.
        assert _core.set_isa(None) == _core.available_isas()[0]
    finally:
        _core.set_isa(previous)
    with pytest.raises(ValueError, match="not available"):
        _core.set_isa("sse9")


def _isa_in_subprocess(value):
    env = {**os.environ, "FASTMLP_ISA": value}
    code = "import warnings; warnings.simplefilter('error')\n" \
           "try:\n import fastmlp._core as c; print(c.isa())\nexcept RuntimeWarning as w: print('warning', w)"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.mark.parametrize("name", _core.available_isas())
def test_environment_variable_forces_an_instruction_set(name):
    assert _isa_in_subprocess(name) == name


def test_unavailable_instruction_set_warns():
    assert _isa_in_subprocess("sse9").startswith("warning FASTMLP_ISA='sse9'")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_training_agrees_across_instruction_sets(dtype):
    # Every instruction set computes the same bits: the same fused multiply-adds in the same k
    # order and blocking, fastmlp's own elementwise functions (README: reproducibility).
    from sklearn.exceptions import ConvergenceWarning

    from fastmlp import MLPClassifier

    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 30)).astype(dtype)
    y = rng.integers(0, 3, 300)
    previous = _core.isa()
    results = {}
    try:
        for name in _core.available_isas():
            _core.set_isa(name)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model = MLPClassifier((40, 20), max_iter=3, shuffle=False, random_state=0)
                model.fit(X, y)
            results[name] = (np.array(model.loss_curve_), model.predict_proba(X))
    finally:
        _core.set_isa(previous)
    reference = results["generic"]
    for name, (curve, proba) in results.items():
        np.testing.assert_array_equal(curve, reference[0], err_msg=name)
        np.testing.assert_array_equal(proba, reference[1], err_msg=name)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_training_of_narrow_layers_agrees_across_instruction_sets(activation):
    # Layers of at most 16 units (forward products with a layer's bias and ReLU applied in the
    # AVX-512 narrow kernels' merge, their weight gradients) in row blocks and whole batches:
    # the same weights, bit for bit, on every instruction set.
    from sklearn.exceptions import ConvergenceWarning

    from fastmlp import MLPClassifier, MLPRegressor

    rng = np.random.default_rng(1)
    X = rng.standard_normal((600, 64)).astype(np.float32)
    y = rng.integers(0, 5, 600)
    Y = rng.standard_normal((600, 3)).astype(np.float32)
    previous = _core.isa()
    results = {}
    try:
        for name in _core.available_isas():
            _core.set_isa(name)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf = MLPClassifier(hidden_layer_sizes=(10, 7), activation=activation, batch_size=200, max_iter=3,
                                    random_state=0).fit(X, y)
                reg = MLPRegressor(hidden_layer_sizes=(13,), activation=activation, batch_size=32, max_iter=2,
                                   random_state=0).fit(X, Y)
            results[name] = clf.coefs_ + clf.intercepts_ + reg.coefs_ + reg.intercepts_
    finally:
        _core.set_isa(previous)
    for name, arrays in results.items():
        for got, want in zip(arrays, results["generic"]):
            assert got.tobytes() == want.tobytes(), name


X86 = __import__("platform").machine().lower() in ("x86_64", "amd64", "i386", "i686")
AARCH64 = __import__("platform").machine().lower() in ("aarch64", "arm64")


@pytest.mark.skipif(not (X86 or AARCH64), reason="the flush-to-zero mode is set on x86 and "
                    "aarch64 only")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_core_flushes_subnormals(dtype, isa):
    # Subnormal operands read as zero and subnormal results become zero inside the core (x86
    # FTZ + DAZ, aarch64 FPCR.FZ): one subnormal weight would otherwise cost a microcode assist
    # per operation on x86, and the same mode everywhere keeps the same bits.
    tiny = np.finfo(dtype).tiny
    a = np.full((20, 20), tiny / 4, dtype)  # subnormal inputs
    b = np.eye(20, dtype=dtype)
    c = np.ones((20, 20), dtype)
    _core.gemm(False, False, 1.0, a, b, 0.0, c)
    assert not c.any()
    a = np.full((20, 20), tiny, dtype)  # normal inputs, subnormal products
    _core.gemm(False, False, 0.25, a, b, 0.0, c)
    assert not c.any()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_caller_keeps_ieee_subnormals(dtype):
    # The core restores the caller's floating-point mode: numpy still computes subnormals after
    # a GEMM, a fit and a prediction.
    from fastmlp import MLPClassifier

    tiny = np.finfo(dtype).tiny
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 8)).astype(dtype)
    y = rng.integers(0, 2, 200)
    _core.gemm(False, False, 1.0, np.ones((20, 20), dtype), np.ones((20, 20), dtype), 0.0,
               np.ones((20, 20), dtype))
    model = MLPClassifier((16,), max_iter=2, random_state=0).fit(X, y)
    model.predict_proba(X[:1])
    assert np.array([tiny], dtype)[0] / dtype(4) != 0
    assert np.array([tiny / 4], dtype)[0] * dtype(2) != 0


_GEMM_DIGEST_SCRIPT = """
import hashlib, itertools
import numpy as np
from fastmlp import _core
h = hashlib.sha256()
for isa in _core.available_isas():
    _core.set_isa(isa)
    for (m, n, k), (ta, tb), dtype in itertools.product(
            [(300, 130, 300), (130, 300, 300), (130, 128, 600), (130, 70, 1030),
             (784, 512, 128), (296, 130, 300), (140, 128, 600), (4100, 10, 300)],
            itertools.product([False, True], repeat=2), [np.float32, np.float64]):
        rng = np.random.default_rng(m + n + k)
        A = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
        B = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
        C = np.ones((m, n), dtype)
        _core.gemm(ta, tb, 0.5, A, B, 0.25, C)
        h.update(C.tobytes())
print(h.hexdigest())
"""


def test_gemm_does_not_depend_on_number_of_threads():
    # The shared products (split by rows or by columns, any team size; a 10-column one in the
    # AVX-512 narrow kernels' row slivers, and the last columns of wider ones) give the same bits.
    digests = set()
    for threads in (1, 2, 3, 4):
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        digests.add(subprocess.run([sys.executable, "-c", _GEMM_DIGEST_SCRIPT], env=env,
                                   capture_output=True, text=True, check=True).stdout)
    assert len(digests) == 1, digests


FORK_SCRIPT = """
import sys
import hashlib
import multiprocessing as mp
import numpy as np
import fastmlp
from fastmlp import _core

def fit(seed):
    rng = np.random.RandomState(seed)
    X = rng.randn(256, 784).astype(np.float32)
    y = rng.randint(0, 10, 256)
    # 128 x 784 x 512 products: shared between threads under either threshold
    model = fastmlp.MLPClassifier(hidden_layer_sizes=(512,), batch_size=128, max_iter=2,
                                  random_state=0).fit(X, y)
    digest = hashlib.sha1(b"".join(c.tobytes() for c in model.coefs_ + model.intercepts_))
    return _core.threading_stats()["workers"] > 0, digest.hexdigest()

if __name__ == "__main__":
    assert _core.threading_stats()["workers"] == 0, "threads started at import"
    parent = fit(1) if sys.argv[1] == "train" else None
    with mp.get_context("fork").Pool(2) as pool:
        children = pool.map(fit, [1, 1])
    print(repr((parent, children)))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.parametrize("before_fork", ["import", "train"])
def test_forked_children_train(tmp_path, before_fork):
    # A forked child has only the thread that forked: the core's pool starts over in it with
    # new workers, whether the parent had started its own (after a threaded fit) or not (after
    # an import alone), and the children train to the parent's weights.
    script = tmp_path / "fork_children.py"
    script.write_text(FORK_SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS="2", PYTHONWARNINGS="ignore")
    out = subprocess.run([sys.executable, str(script), before_fork], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    parent, children = ast.literal_eval(out.stdout.strip())
    assert children[0] == children[1]
    threaded = _core.openmp_enabled()
    assert children[0][0] is threaded
    if before_fork == "train":
        assert parent == (threaded, children[0][1])


def _exp_reference(x):
    """exp(x) correctly rounded to float32 (float64 exp, then one rounding), flushed to zero
    below the smallest normal float as the core computes (subnormals flushed)."""
    with np.errstate(over="ignore"):
        ref = np.exp(x.astype(np.float64)).astype(np.float32)
    ref[ref < np.finfo(np.float32).tiny] = 0
    return ref


def test_float32_exp_rows_are_correctly_rounded(isa):
    # The softmax, logistic and exp rows of the float32 core use fastmlp's exp (csrc/fm_math.h,
    # vectorized on x86 by csrc/exp_x86.h, the same operations in portable C elsewhere); it is
    # correctly rounded (checked on every float when it was written), so it equals float64 exp
    # rounded once, on every instruction set.
    rng = np.random.default_rng(7)
    dense = np.linspace(-110, 90, 1_000_003).astype(np.float32)
    bits = rng.integers(0, 2 ** 32, 1_000_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, 88.72283, 88.72284, -87.33655, -103.97208,
                         -103.97209, 1e-45, -1e-45, 1e-38], dtype=np.float32)
    x = np.concatenate([dense, bits[np.isfinite(bits)], specials])
    got = _core.exp_f32(x)
    ref = _exp_reference(x)
    np.testing.assert_array_equal(got, ref)
    assert np.isnan(_core.exp_f32(np.array([np.nan], np.float32)))[0]
    # every row length through the masked tails
    for n in range(1, 40):
        np.testing.assert_array_equal(_core.exp_f32(dense[:n * 997:997]), got[:n * 997:997])
