"""The C core's contracts at its edges, through the bridge (fastmlp._core): sizes, divergence,
concurrent callers, workspace arguments. Each test fails on the defect it names."""

import threading

import numpy as np
import pytest

from fastmlp import MLPClassifier, _core


def _network(units, **kw):
    kw.setdefault("maxout_pieces", 2)
    return _core.Network(units, kw.pop("hidden", "relu"), kw.pop("output", "softmax"),
                         kw.pop("loss", "log_loss"), kw.pop("alpha", 1e-4), **kw)


@pytest.mark.parametrize("units", [
    [10, 2**31 - 1, 2**31 - 1, 2**31 - 1, 2],  # 4 layers of INT32_MAX: n_params overflowed
    [2**31 - 1, 2**31 - 1],
])
def test_sizes_beyond_the_core_are_a_value_error(units):
    with pytest.raises(ValueError, match="too large"):
        _network(units)


@pytest.mark.parametrize("units", [[10, 2**31, 2], [10, 0, 2], [10, 2**70, 2], [10, -3, 2]])
def test_widths_out_of_range_are_a_value_error(units):
    with pytest.raises(ValueError, match="units must be layer widths"):
        _network(units)


@pytest.mark.parametrize("pieces", [2**40, 0, 1025, 2.5, True])
def test_maxout_pieces_out_of_range_is_a_value_error(pieces):
    # 2**40 raised OverflowError from the int conversion
    with pytest.raises(ValueError, match="maxout_pieces"):
        _network([4, 5, 3], hidden="maxout", maxout_pieces=pieces)


def test_maxout_times_width_overflow_is_caught():
    with pytest.raises(ValueError, match="too large"):
        _network([4, 2**31 - 1, 2**31 - 1, 3], hidden="maxout", maxout_pieces=1024)


def test_workspace_bad_arguments_are_value_errors():
    net = _network([4, 5, 3])
    with pytest.raises(ValueError, match="max_rows"):
        _core.Workspace(net, 0, 4)
    with pytest.raises(ValueError, match="elem_size"):
        _core.Workspace(net, 10, 2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_maxout_one_row_predict(dtype):
    # The pointer table after the ping-pong and piece buffers was misaligned for float32 nets
    # whose buffers hold an odd number of values (5 units x 3 pieces): UBSan reported a store
    # to a misaligned address (this test runs in the sanitizer job).
    est = MLPClassifier(hidden_layer_sizes=(5,), activation="maxout", maxout_pieces=3,
                        max_iter=3, random_state=0)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 7)).astype(dtype)
    y = rng.integers(0, 3, 30)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    p = est.predict_proba(X[:1])
    # against a NumPy forward pass
    W0, W1 = est.coefs_
    b0, b1 = est.intercepts_
    z = (X[:1].astype(np.float64) @ W0 + b0).reshape(1, 5, 3).max(axis=2)
    s = z @ W1 + b1
    ref = np.exp(s - s.max()) / np.exp(s - s.max()).sum()
    np.testing.assert_allclose(p, ref, rtol=1e-4 if dtype == np.float32 else 1e-10)


def _train_state(batch_norm):
    """A network, its parameters, optimizer state and workspace (float64, batch norm)."""
    # an infinite input reaches the loss through ReLU, and through batch norm's NaN with tanh
    # (ReLU maps NaN to 0)
    net = _network([6, 8, 3], batch_norm=batch_norm, hidden="tanh" if batch_norm else "relu")
    rng = np.random.default_rng(3)
    params = rng.standard_normal(net.n_params) * 0.3
    layout = net.layout()
    for off, shape in layout["bn_scales"] + layout["bn_vars"]:
        params[off:off + shape[0]] = 1.0
    for off, shape in layout["bn_shifts"] + layout["bn_means"]:
        params[off:off + shape[0]] = 0.0
    state = np.zeros(2 * net.n_params)
    ws = _core.Workspace(net, 10, 8)
    return net, params, state, ws


def _run(ws, params, state, step, sums, X, Y):
    _core.train_epoch(ws, params, state, step, sums, X, Y, None, None, 10, 0, 0, 0,
                      solver="adam", learning_rate=0.01)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_diverging_batch_leaves_every_state_as_after_the_batch_before(batch_norm):
    # fastmlp.h promises that the diverging batch's update is not applied: weights, optimizer
    # state, step count and batch-norm running statistics stay as after the previous batch.
    # (The error used to come after the step, and the running statistics were updated before
    # the check.)
    rng = np.random.default_rng(4)
    X = rng.standard_normal((20, 6))
    Y = np.eye(3)[rng.integers(0, 3, 20)]
    X[15, 2] = np.inf  # the second batch's loss is not finite
    net, p1, s1, ws = _train_state(batch_norm)
    step1, sums1 = np.zeros(1, np.int64), np.zeros(2)
    _run(ws, p1, s1, step1, sums1, X[:10], Y[:10])  # the first batch alone
    net, p2, s2, ws = _train_state(batch_norm)
    step2, sums2 = np.zeros(1, np.int64), np.zeros(2)
    with pytest.raises(_core.DivergenceError):
        _run(ws, p2, s2, step2, sums2, X, Y)
    np.testing.assert_array_equal(p2, p1)
    np.testing.assert_array_equal(s2, s1)
    assert step2[0] == step1[0] == 1
    np.testing.assert_array_equal(sums2, sums1)


def test_diverging_penalty_is_refused_before_the_update():
    # a finite data loss, but weights whose squared sum overflows the L2 penalty
    net = _network([6, 8, 3], alpha=1.0)
    params = np.full(net.n_params, 1e160)
    for off, shape in net.layout()["intercepts"]:
        params[off:off + shape[0]] = 0.0  # zero input and biases: outputs 0, data loss finite
    state = np.zeros(2 * net.n_params)
    ws = _core.Workspace(net, 10, 8)
    X = np.zeros((10, 6))
    Y = np.eye(3)[np.arange(10) % 3]
    before = params.copy()
    step, sums = np.zeros(1, np.int64), np.zeros(2)
    out = np.empty((10, 3))
    _core.predict(net, params, X, out)
    assert np.isfinite(out).all()  # only the penalty overflows
    with pytest.raises(_core.DivergenceError):
        _run(ws, params, state, step, sums, X, Y)
    np.testing.assert_array_equal(params, before)
    assert step[0] == 0 and not state.any()


def test_concurrent_fits_give_the_bits_of_sequential_ones():
    # Two threads training at once share the core's thread pool: one job runs at a time and a
    # caller finding it busy runs alone; the threshold race of the old calibration is gone.
    rng = np.random.default_rng(5)
    X = rng.standard_normal((512, 200)).astype(np.float32)
    y = rng.integers(0, 3, 512)

    def fit(seed):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return MLPClassifier(hidden_layer_sizes=(256, 64), batch_size=64, max_iter=2,
                                 random_state=seed).fit(X, y)

    alone = [fit(seed) for seed in (0, 1, 2, 3)]
    together = [None] * 4
    threads = [threading.Thread(target=lambda i=i: together.__setitem__(i, fit(i)))
               for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(alone, together):
        for x, z in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
            np.testing.assert_array_equal(x, z)


def test_fma_loop_counts_the_multiply_adds_it_does(isa):
    """The benchmark hook behind bench/compare.py's fma_peak: every accumulator i starts at i,
    so after n rounds of acc = acc * b + c the lanes sum to lanes * sum_i (i b^n + c (b^n - 1) /
    (b - 1)); the operations returned are 2 per lane per multiply-add."""
    lanes_accs = {"avx512": 16 * 24, "avx2": 8 * 12, "generic": 0}[isa]
    flops, total = _core.fma_loop(5, 2.0, 1.0)
    assert flops == 5 * lanes_accs * 2
    if lanes_accs:
        accs = {"avx512": 24, "avx2": 12}[isa]
        lanes = lanes_accs // accs
        expected = lanes * sum(i * 2**5 + (2**5 - 1) for i in range(accs))
        assert total == expected
    else:
        assert total == 0
    assert _core.fma_loop(0) == (0, 0.0)
    assert _core.fma_loop(-7) == (0, 0.0)
