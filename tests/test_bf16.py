"""matmul_precision="bfloat16": the bfloat16 GEMM against a float64 reference with
bfloat16-rounded operands (exact, bit for bit: the arithmetic of AMX's TDPBF16PS, csrc/gemm/bf16.h),
every kernel the machine runs (AMX and the emulations) giving the same bits, and networks trained
with it: bitwise identical for any thread count and under every instruction set, close to
float32 training, kept by persistence, refused for float64 models."""

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from threadpoolctl import threadpool_limits

from fastmlp import MLPClassifier, MLPRegressor, _core, load

KERNELS = _core.available_bf16_kernels()
FLT_MIN = np.float32(np.finfo(np.float32).tiny)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def bf16_round(x):
    """float32 -> the float32 value of its bfloat16 rounding: to nearest, ties to even;
    subnormals to a zero of their sign; NaN stays NaN (VCVTNE2PS2BF16)."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    exponent = u & 0x7F800000
    rounded = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
    out = np.where(exponent == 0, u & 0x80000000, rounded)
    nan = (u & 0x7FFFFFFF) > 0x7F800000
    out = np.where(nan, (u | 0x00400000) & 0xFFFF0000, out)
    return out.astype(np.uint32).view(np.float32).reshape(np.shape(x))


def flush(x):
    """float32 subnormals to a zero of their sign."""
    return np.where(np.abs(x) < FLT_MIN, np.copysign(np.float32(0), x), x).astype(np.float32)


def fused_step(acc, y):
    """acc + y rounded once to float32 with an unbounded exponent (to nearest, ties to even),
    a result below 2**-126 flushed to a zero of its sign; acc float32, y float64 products of
    two bfloat16 values (exact in float64)."""
    x = acc.astype(np.float64)
    s = x + y
    bb = s - x
    err = (x - (s - bb)) + (y - bb)  # TwoSum: the rounding error of s, exactly
    # round to odd: an inexact s with an even last bit moves one ulp toward the exact sum, so
    # that its rounding to float32 (24 bits < 53 - 1) is the exact sum's
    even = (s.view(np.uint64) & 1) == 0
    s = np.where((err != 0) & even, np.nextafter(s, np.where(err > 0, np.inf, -np.inf)), s)
    with np.errstate(over="ignore"):
        rounded = s.astype(np.float32)
        # below the normal range: round as if the exponent went on (scaled by 2**64 into
        # float32's normal range), then flush what stays below 2**-126
        scaled = (s * 2.0**64).astype(np.float32)
    tiny = np.abs(s) < FLT_MIN
    low = np.where(np.abs(scaled) < np.float32(2.0**-62), np.copysign(np.float32(0), scaled),
                   np.copysign(FLT_MIN, scaled))
    return np.where(tiny, low, rounded).astype(np.float32)


def reference(a, b, alpha=1.0, beta=0.0, c=None):
    """alpha * a @ b + beta * c, the way bf16.h defines the bfloat16 product (TDPBF16PS's
    arithmetic): operands rounded to bfloat16; k in blocks of 32 from k = 0; in a block two
    chains from +0, over the even and over the odd k, each step a fused multiply-add rounded
    once to float32 (the float64 sum rounded to odd, which float32 then rounds as the exact
    sum would be), a subnormal result flushed; then the sum plus (even + odd), each rounded,
    a subnormal flushed."""
    a = bf16_round(a).astype(np.float64)
    b = bf16_round(b).astype(np.float64)
    m, k = a.shape
    n = b.shape[1]
    total = np.zeros((m, n), dtype=np.float32)
    for k0 in range(0, k, 32):
        chains = [np.zeros((m, n), dtype=np.float32) for _ in range(2)]
        for p in range(k0, min(k0 + 32, k)):
            # a product of two bfloat16 values: exact in float64
            chains[p % 2] = fused_step(chains[p % 2], np.outer(a[:, p], b[p]))
        block = flush(chains[0] + chains[1])
        total = flush(total + block)
    if beta == 0:
        return (np.float32(alpha) * total).astype(np.float32)
    return (np.float32(beta) * c + np.float32(alpha) * total).astype(np.float32)


def operand(rng, shape, tiny=True):
    """Values in [-1, 1), with zeros and, with tiny, values around float32's smallest normal
    (where the rounding to bfloat16 and the flushes act)."""
    x = rng.uniform(-1, 1, size=shape).astype(np.float32)
    pick = rng.random(shape)
    x[pick < 0.05] = 0
    if tiny:
        x[(pick >= 0.05) & (pick < 0.1)] *= np.float32(4e-38)
        x[(pick >= 0.1) & (pick < 0.12)] *= np.float32(1e-19)
    return x


SHAPES = [(1, 1, 1), (13, 33, 7), (12, 32, 64), (30, 70, 129), (5, 600, 52), (130, 47, 300),
          (128, 512, 96)]


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("trans", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_gemm_bf16_is_the_reference(kernel, shape, trans):
    """Every kernel gives the reference's bits, tiny values and zeros included."""
    m, n, k = shape
    ta, tb = trans
    rng = np.random.default_rng(m * 1000 + n + k)
    a = operand(rng, (m, k))
    b = operand(rng, (k, n))
    c = np.full((m, n), np.nan, dtype=np.float32)
    _core.gemm_bf16(ta, tb, 1.0, np.ascontiguousarray(a.T) if ta else a,
                    np.ascontiguousarray(b.T) if tb else b, 0.0, c, kernel=kernel)
    expected = reference(a, b)
    np.testing.assert_array_equal(c.view(np.uint32), expected.view(np.uint32))


@pytest.mark.parametrize("kernel", KERNELS)
def test_gemm_bf16_alpha_beta(kernel):
    rng = np.random.default_rng(1)
    a, b = operand(rng, (17, 45), tiny=False), operand(rng, (45, 40), tiny=False)
    c0 = rng.uniform(-1, 1, (17, 40)).astype(np.float32)
    c = c0.copy()
    _core.gemm_bf16(False, False, 0.5, a, b, 0.25, c, kernel=kernel)
    np.testing.assert_array_equal(c, reference(a, b, 0.5, 0.25, c0))


def test_gemm_bf16_differs_from_float32():
    """The products do round their operands (a float32 GEMM gives other bits)."""
    rng = np.random.default_rng(2)
    a, b = operand(rng, (40, 64), tiny=False), operand(rng, (64, 48), tiny=False)
    c16, c32 = np.empty((40, 48), np.float32), np.empty((40, 48), np.float32)
    _core.gemm_bf16(False, False, 1.0, a, b, 0.0, c16)
    _core.gemm(False, False, 1.0, a, b, 0.0, c32)
    assert not np.array_equal(c16, c32)
    np.testing.assert_allclose(c16, a.astype(np.float64) @ b, atol=0.1)


def test_gemm_bf16_special_values():
    """NaN and infinity propagate as in float32 sums; huge products overflow to infinity."""
    a = np.array([[np.nan, 1], [np.inf, 1], [3e38, 3e38]], dtype=np.float32)
    b = np.array([[1, 1], [1, 1]], dtype=np.float32)
    for kernel in KERNELS:
        c = np.zeros((3, 2), np.float32)
        _core.gemm_bf16(False, False, 1.0, a, b.copy(), 0.0, c, kernel=kernel)
        assert np.isnan(c[0]).all() and np.isposinf(c[1]).all() and np.isposinf(c[2]).all()


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("rows", range(1, 14))
@pytest.mark.parametrize("trans", [(0, 0), (1, 1)])
def test_gemm_bf16_few_rows(kernel, rows, trans):
    """Row counts of one to thirteen (a predict's batch, the edge of every register tile) with k
    neither a multiple of 32 nor even, and edge columns."""
    m, n, k = rows, 37, 45
    ta, tb = trans
    rng = np.random.default_rng(rows)
    a, b = operand(rng, (m, k)), operand(rng, (k, n))
    c = np.full((m, n), np.nan, dtype=np.float32)
    _core.gemm_bf16(ta, tb, 1.0, np.ascontiguousarray(a.T) if ta else a,
                    np.ascontiguousarray(b.T) if tb else b, 0.0, c, kernel=kernel)
    np.testing.assert_array_equal(c.view(np.uint32), reference(a, b).view(np.uint32))


def _one_row(k, entries):
    """A 1 x k row of A and a k x 1 column of B, zero but for {index: a value (B's 1) or a pair
    (A's, B's)}, as float32 arrays."""
    a = np.zeros((1, k), np.float32)
    b = np.zeros((k, 1), np.float32)
    for p, v in entries.items():
        a[0, p], b[p, 0] = v if isinstance(v, tuple) else (v, 1.0)
    return a, b


# (k, {index: value}, expected): what TDPBF16PS gives (bench/amx_bf16_probe.c), against what
# one sequence of float32 roundings would give
CHAIN_CASES = [
    # the even and the odd k are two chains: 1 - 1 in the even one, 2^-30 in the odd one
    (3, {0: 1.0, 1: 2.0**-30, 2: -1.0}, 2.0**-30),
    # one chain rounds step by step: 1 + 2^-30 is 1, then - 1
    (5, {0: 1.0, 2: 2.0**-30, 4: -1.0}, 0.0),
    # blocks of 32: the first block's 1 - 1, then the second block's 2^-30
    (33, {0: 1.0, 2: -1.0, 32: 2.0**-30}, 2.0**-30),
    # the first block's 1 + 2^-30 rounded to 1 before the second block's - 1
    (33, {0: 1.0, 2: 2.0**-30, 32: -1.0}, 0.0),
    # tininess after rounding with an unbounded exponent: 2^-126 - 1.5 * 2^-151 rounds to
    # 2^-126 - 2^-150, below the normal range, so 0 (IEEE's subnormal rounding would give
    # 2^-126)
    (3, {0: (1.0, 2.0**-126), 2: (-1.5 * 2.0**-75, 2.0**-76)}, 0.0),
    # a sum of the blocks below the normal range flushes to a zero of its sign
    (33, {0: 2.0**-126, 32: -1.5 * 2.0**-126}, -0.0),
]


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("case", range(len(CHAIN_CASES)))
def test_gemm_bf16_chains_and_blocks(kernel, case):
    """Hand-made sums whose bits tell the order of the additions and the flushes apart."""
    k, entries, expected = CHAIN_CASES[case]
    a, b = _one_row(k, entries)
    c = np.full((1, 1), np.nan, np.float32)
    _core.gemm_bf16(False, False, 1.0, a, b, 0.0, c, kernel=kernel)
    want = np.float32(expected)
    assert c[0, 0].tobytes() == want.tobytes(), (c[0, 0], want)
    assert reference(a, b)[0, 0].tobytes() == want.tobytes()


def test_gemm_bf16_bad_kernel():
    a = np.ones((2, 2), np.float32)
    with pytest.raises(ValueError, match="kernel"):
        _core.gemm_bf16(False, False, 1.0, a, a, 0.0, a.copy(), kernel="no-such-kernel")


def test_kernel_choice():
    assert _core.bf16_kernel() in KERNELS
    assert "generic" in KERNELS
    previous = _core.set_bf16_hardware("always")
    try:
        if "amx" in KERNELS and _core.isa() == "avx512":
            assert _core.bf16_kernel() == "amx"
        _core.set_bf16_hardware("never")
        assert _core.bf16_kernel() == _core.isa()
    finally:
        assert _core.set_bf16_hardware(previous) == "never"
    with pytest.raises(ValueError, match="mode"):
        _core.set_bf16_hardware(True)


# ------------------------------------------------------------------------------ networks


def _data(kind, rows=300, features=40):
    if kind == "clf":
        X, y = make_classification(n_samples=rows, n_features=features, n_informative=8,
                                   n_classes=3, random_state=0)
    else:
        X, y = make_regression(n_samples=rows, n_features=features, noise=1.0, random_state=0)
        y = y / y.std()
    X = (X - X.mean(0)) / X.std(0)
    return X.astype(np.float32), y


CONFIGS = {
    "clf-adam": ("clf", dict(hidden_layer_sizes=(64, 33), solver="adam")),
    "clf-dropout-tanh": ("clf", dict(hidden_layer_sizes=(50,), activation="tanh",
                                     dropout=0.2)),
    "clf-logistic-sgd": ("clf", dict(hidden_layer_sizes=(40, 20), activation="logistic",
                                     solver="sgd", learning_rate_init=0.05)),
    "clf-batchnorm-gelu": ("clf", dict(hidden_layer_sizes=(48,), batch_norm=True,
                                       activation="gelu")),
    "reg-relu-lbfgs": ("reg", dict(hidden_layer_sizes=(30,), solver="lbfgs", max_iter=20)),
}


def _fit(name, **extra):
    kind, params = CONFIGS[name]
    X, y = _data(kind)
    params = dict(dict(max_iter=3, random_state=0, batch_size=64), **params)
    params.update(extra)
    est = (MLPClassifier if kind == "clf" else MLPRegressor)(**params).fit(X, y)
    return est, X


def _bits(est, X):
    out = est.predict_proba(X) if hasattr(est, "predict_proba") else est.predict(X)
    return [a.tobytes() for a in est.coefs_ + est.intercepts_] + [out.tobytes()]


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_training_any_thread_count(name):
    """bfloat16 training gives the same bits on 1 and 2 threads."""
    with threadpool_limits(limits=1):
        one = _bits(*_fit(name, matmul_precision="bfloat16"))
    with threadpool_limits(limits=2):
        two = _bits(*_fit(name, matmul_precision="bfloat16"))
    assert one == two


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_training_hardware_and_emulation_agree(name):
    """Where the CPU has AMX, training with it and with the AVX-512F emulation gives the same
    bits; elsewhere the instruction set's emulation is what both runs use."""
    previous = _core.set_bf16_hardware("always")
    try:
        hardware = _bits(*_fit(name, matmul_precision="bfloat16"))
        _core.set_bf16_hardware("never")
        emulated = _bits(*_fit(name, matmul_precision="bfloat16"))
    finally:
        _core.set_bf16_hardware(previous)
    assert hardware == emulated


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_training_every_x86_isa(name):
    """The same bits under every x86 instruction set the machine has (the products are the
    same everywhere; the rest of the network's arithmetic is shared by AVX2 and AVX-512)."""
    isas = [isa for isa in _core.available_isas() if isa != "generic"]
    if len(isas) < 2:
        pytest.skip("fewer than two x86 instruction sets here")
    previous = _core.isa()
    try:
        bits = []
        for isa in isas:
            _core.set_isa(isa)
            bits.append(_bits(*_fit(name, matmul_precision="bfloat16")))
    finally:
        _core.set_isa(previous)
    assert all(b == bits[0] for b in bits[1:])


def test_training_uses_bfloat16_and_stays_close():
    """bfloat16 products change the bits of training but not what it learns."""
    est16, X = _fit("clf-adam", matmul_precision="bfloat16", max_iter=30)
    est32, _ = _fit("clf-adam", max_iter=30)
    assert est16._net.matmul_precision == "bfloat16"
    assert not np.array_equal(est16.coefs_[0], est32.coefs_[0])
    y = _data("clf")[1]
    assert abs(est16.score(X, y) - est32.score(X, y)) < 0.05
    # the first epoch's loss (from the same initial weights) agrees to bfloat16's precision
    assert abs(est16.loss_curve_[0] - est32.loss_curve_[0]) < 0.01 * est32.loss_curve_[0]


def test_predict_follows_the_fitted_precision():
    """predict uses the precision of the fit; set_params after fitting changes it."""
    est, X = _fit("clf-adam", matmul_precision="bfloat16")
    p16 = est.predict_proba(X)
    # the first layer by hand in bfloat16 (the reference), against float32's
    h16 = np.empty((X.shape[0], est.coefs_[0].shape[1]), np.float32)
    _core.gemm_bf16(False, False, 1.0, X, est.coefs_[0], 0.0, h16)
    assert not np.array_equal(h16, X @ est.coefs_[0])
    est.set_params(matmul_precision="float32")
    p32 = est.predict_proba(X)
    assert not np.array_equal(p16, p32)
    np.testing.assert_allclose(p16, p32, atol=0.02)
    est.set_params(matmul_precision="bfloat16")
    np.testing.assert_array_equal(est.predict_proba(X), p16)


def test_float64_models_refuse_bfloat16():
    X, y = _data("clf")
    with pytest.raises(ValueError, match="matmul_precision='bfloat16' applies to float32"):
        MLPClassifier((8,), matmul_precision="bfloat16", max_iter=1).fit(X.astype(np.float64), y)
    with pytest.raises(ValueError, match="matmul_precision"):
        MLPClassifier((8,), matmul_precision="bf16", max_iter=1).fit(X, y)
    # warm start of a float64 model
    est = MLPClassifier((8,), max_iter=1, warm_start=True).fit(X.astype(np.float64), y)
    est.set_params(matmul_precision="bfloat16")
    with pytest.raises(ValueError, match="its existing coefs_"):
        est.fit(X, y)


def test_network_refuses_bad_precision():
    with pytest.raises(ValueError, match="matmul_precision"):
        _core.Network([3, 2], "relu", "identity", "squared_error", 0.0,
                      matmul_precision="float16")
    net = _core.Network([3, 2], "relu", "identity", "squared_error", 0.0,
                        matmul_precision="bfloat16")
    with pytest.raises(ValueError, match="float32"):
        _core.Workspace(net, 4, 8)


def test_persistence_keeps_the_precision(tmp_path):
    est, X = _fit("clf-adam", matmul_precision="bfloat16")
    p = est.predict_proba(X)
    path = tmp_path / "model.fastmlp"
    est.save(path)
    loaded = load(path)
    assert loaded.matmul_precision == "bfloat16"
    assert loaded._net.matmul_precision == "bfloat16"
    np.testing.assert_array_equal(loaded.predict_proba(X), p)
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.predict_proba(X), p)
    # continued training gives the bits of training the original further
    est.set_params(warm_start=True, max_iter=2)
    loaded.set_params(warm_start=True, max_iter=2)
    assert _bits(est.fit(X, _data("clf")[1]), X) == _bits(loaded.fit(X, _data("clf")[1]), X)


def test_float32_files_have_no_precision_field(tmp_path):
    """A float32 model's file is what versions without the option wrote."""
    import json
    import zipfile

    est, _ = _fit("clf-adam")
    est.save(tmp_path / "m.fastmlp")
    with zipfile.ZipFile(tmp_path / "m.fastmlp") as zf:
        raw = np.load(zf.open("metadata.npy"), allow_pickle=False)
    metadata = json.loads(bytes(raw).decode() if raw.dtype.kind in "uS" else str(raw))
    assert "matmul_precision" not in metadata["network"]


@pytest.mark.skipif(not any(isa == "avx512" for isa in _core.available_isas()),
                    reason="no AVX-512 here")
def test_environment_isa_selects_the_emulation():
    """FASTMLP_ISA=avx2 runs the AVX2 emulation (a fresh process: the choice is made at
    import)."""
    code = "from fastmlp import _core; print(_core.bf16_kernel())"
    env = dict(os.environ, FASTMLP_ISA="avx2")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "avx2"


def test_check_gradients_of_a_bfloat16_model():
    """check_gradients checks a bfloat16 model's backward pass with float64 products."""
    from fastmlp import check_gradients

    est, X = _fit("clf-adam", matmul_precision="bfloat16", max_iter=1)
    y = _data("clf")[1]
    assert check_gradients(est, X[:20], y[:20]) < 1e-6
    assert est._net.matmul_precision == "bfloat16"  # the model itself is unchanged

