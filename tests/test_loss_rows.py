"""Training's output error (softmax rows, clip, log terms, p - y, weighted row losses and
scores), which the AVX-512 build computes 16 rows at a time with lanes over rows: the same bits
as the portable scalar rows (the generic instruction set) for every loss, row count, output
width, kind of target and sample weight, and for NaN and infinity; the values against NumPy."""

import numpy as np
import pytest

from fastmlp import _core

# (output activation, loss) as the estimators pair them
PAIRS = [("softmax", "log_loss"), ("logistic", "binary_log_loss"), ("logistic", "log_loss"),
         ("identity", "squared_error"), ("exp", "poisson"), ("identity", "hinge"),
         ("identity", "perceptron")]
ROWS = [1, 7, 15, 16, 17, 31, 32, 33, 50, 129]
COLS = list(range(1, 18)) + [31, 32, 33, 40]


def _bits(a):
    a = np.ascontiguousarray(a)
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint64)


def _outputs(activation, rng, rows, cols, dtype):
    """Logits for softmax rows, otherwise outputs of the activation."""
    z = rng.normal(0, 3, (rows, cols))
    if activation == "logistic":
        z = 1 / (1 + np.exp(-z))
        z[rng.random(z.shape) < 0.05] = 1.0  # clipped at 1 - eps
        z[rng.random(z.shape) < 0.05] = 0.0  # clipped at eps
    elif activation == "exp":
        z = np.exp(z / 3)
    return z.astype(dtype)


def _targets(kind, loss, rng, rows, cols, dtype):
    if loss in ("squared_error", "poisson"):
        y = np.abs(rng.normal(0, 1, (rows, cols)))
        y[rng.random(y.shape) < 0.2] = 0
        return y.astype(dtype)
    if kind == "hard":
        if loss == "binary_log_loss":
            return (rng.random((rows, cols)) < 0.5).astype(dtype)
        return np.eye(cols, dtype=dtype)[rng.integers(0, cols, rows)]
    if kind == "soft":
        if loss == "binary_log_loss":
            y = rng.random((rows, cols))
            y[rng.random(y.shape) < 0.3] = 1.0
            return y.astype(dtype)
        y = rng.dirichlet(np.ones(cols), rows)
        y[rng.random(rows) < 0.5] = np.eye(cols)[0]  # groups mixing one-hot and soft rows
        return y.astype(dtype)
    if kind == "zeros":  # rows without a target, and ties in the arg max
        y = np.eye(cols, dtype=dtype)[rng.integers(0, cols, rows)]
        y[rng.random(rows) < 0.4] = 0
        return y
    raise AssertionError(kind)


def _weights(kind, rng, rows, dtype):
    if kind is None:
        return None
    sw = rng.uniform(0, 3, rows)
    if kind == "zeros":
        sw[rng.random(rows) < 0.3] = 0
    return sw.astype(dtype)


def _run(net, p, y, sw):
    p = p.copy()
    delta = np.full_like(p, np.nan)
    row_loss = np.full(p.shape[0], np.nan)
    row_score = np.full(p.shape[0], np.nan)
    _core.output_loss(net, p, y, sw, delta, row_loss, row_score)
    return p, delta, row_loss, row_score


def _every_isa(net, p, y, sw):
    previous = _core.isa()
    results = {}
    try:
        for isa in _core.available_isas():
            _core.set_isa(isa)
            results[isa] = _run(net, p, y, sw)
    finally:
        _core.set_isa(previous)
    return results


def _assert_same_bits(results, what):
    reference = results["generic"]
    names = ("p", "delta", "row_loss", "row_score")
    for isa, got in results.items():
        for name, a, b in zip(names, got, reference):
            same = _bits(a) == _bits(b)
            assert same.all(), "%s under %s: %s differs at %s: %r vs %r" % (
                what, isa, name, np.argwhere(~same)[:3].tolist(), a[~same][:3], b[~same][:3])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation,loss", PAIRS)
def test_same_bits_on_every_instruction_set(activation, loss, dtype):
    rng = np.random.default_rng(5)
    for cols in COLS:
        if activation == "softmax" and cols == 1:
            continue
        net = _core.Network([3, cols], "relu", activation, loss, 0.0)
        for rows in ROWS:
            for kind in ("hard", "soft", "zeros"):
                p = _outputs(activation, rng, rows, cols, dtype)
                y = _targets(kind, loss, rng, rows, cols, dtype)
                for weights in (None, "uniform", "zeros"):
                    sw = _weights(weights, rng, rows, dtype)
                    results = _every_isa(net, p, y, sw)
                    _assert_same_bits(results, "%s/%s rows=%d cols=%d %s sw=%s" % (
                        activation, loss, rows, cols, kind, weights))


@pytest.mark.parametrize("activation,loss", PAIRS)
@pytest.mark.parametrize("where", ["p", "y", "sw"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_same_bits_with_nan_and_infinity(activation, loss, where, value):
    """A NaN or infinity in one row of a group: the other rows (and that one) as the scalar
    rows compute them."""
    rng = np.random.default_rng(6)
    for cols in (2, 3, 10, 17):
        net = _core.Network([3, cols], "relu", activation, loss, 0.0)
        for rows, bad in ((16, 0), (16, 15), (40, 20), (5, 4)):
            p = _outputs(activation, rng, rows, cols, np.float32)
            y = _targets("hard", loss, rng, rows, cols, np.float32)
            sw = _weights("uniform", rng, rows, np.float32)
            if where == "p":
                p[bad, cols // 2] = value
            elif where == "y":
                y[bad, 0] = value
            else:
                sw[bad] = value
            _assert_same_bits(_every_isa(net, p, y, sw), "%s in %s" % (value, where))


def test_extreme_logits_same_bits():
    """Logits far apart (exp underflows to 0, probabilities clipped), equal logits (ties in
    the arg max), signed zeros."""
    rng = np.random.default_rng(7)
    for cols in (2, 5, 10, 16):
        net = _core.Network([3, cols], "relu", "softmax", "log_loss", 0.0)
        p = rng.normal(0, 200, (48, cols)).astype(np.float32)
        p[::3] = 0.0
        p[1::3, : cols // 2] = -0.0
        p[2::5] = 1e30
        y = _targets("soft", "log_loss", rng, 48, cols, np.float32)
        _assert_same_bits(_every_isa(net, p, y, None), "extreme logits")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_log_loss_against_numpy(dtype):
    rng = np.random.default_rng(8)
    rows, cols = 37, 10
    net = _core.Network([3, cols], "relu", "softmax", "log_loss", 0.0)
    z = rng.normal(0, 2, (rows, cols)).astype(dtype)
    y = _targets("soft", "log_loss", rng, rows, cols, dtype)
    sw = rng.uniform(0.5, 2, rows).astype(dtype)
    p, delta, row_loss, row_score = _run(net, z, y, sw)
    z64 = z.astype(np.float64)
    e = np.exp(z64 - z64.max(axis=1, keepdims=True))
    p_ref = e / e.sum(axis=1, keepdims=True)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(p, p_ref, rtol=rtol, atol=1e-7)
    eps = np.finfo(dtype).eps
    loss_ref = -(y * np.log(np.clip(p_ref, eps, 1 - eps))).sum(axis=1) * sw
    np.testing.assert_allclose(row_loss, loss_ref, rtol=rtol * 10)
    np.testing.assert_allclose(delta, (p_ref - y) * sw[:, None], rtol=rtol, atol=1e-6)
    right = p_ref.argmax(axis=1) == y.argmax(axis=1)
    np.testing.assert_array_equal(row_score, right * sw.astype(np.float64))


def test_binary_log_loss_against_numpy():
    rng = np.random.default_rng(9)
    rows, cols = 45, 3
    net = _core.Network([3, cols], "relu", "logistic", "binary_log_loss", 0.0)
    p = _outputs("logistic", rng, rows, cols, np.float32)
    y = _targets("soft", "binary_log_loss", rng, rows, cols, np.float32)
    _, delta, row_loss, row_score = _run(net, p, y, None)
    eps = np.finfo(np.float32).eps
    pc = np.clip(p.astype(np.float64), eps, 1 - eps)
    y64 = y.astype(np.float64)
    loss_ref = -(y64 * np.log(pc) + (1 - y64) * np.log1p(-pc)).sum(axis=1)
    np.testing.assert_allclose(row_loss, loss_ref, rtol=1e-5)
    np.testing.assert_array_equal(delta, p - y)
    right = ((p > 0.5) == (y > 0.5)).all(axis=1)
    np.testing.assert_array_equal(row_score, right.astype(np.float64))


def test_bad_shapes():
    net = _core.Network([3, 4], "relu", "softmax", "log_loss", 0.0)
    p = np.zeros((5, 4), np.float32)
    with pytest.raises(ValueError, match="shapes"):
        _core.output_loss(net, p, np.zeros((5, 3), np.float32), None, np.zeros_like(p),
                          np.zeros(5), np.zeros(5))
    with pytest.raises(ValueError, match="sample_weight"):
        _core.output_loss(net, p, np.zeros_like(p), np.zeros(4, np.float32), np.zeros_like(p),
                          np.zeros(5), np.zeros(5))
