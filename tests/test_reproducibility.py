"""Bitwise reproducibility: seeds, thread counts, pickling, cloning."""

import copy
import hashlib
import os
import pickle
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.base import clone
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning

from fastmlp import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning"
)


def _data(kind, dtype):
    if kind == "classifier":
        X, y = make_classification(
            n_samples=150, n_features=8, n_informative=5, n_classes=3, random_state=0
        )
    else:
        X, y = make_regression(n_samples=150, n_features=8, noise=1.0, random_state=0)
        y = y / y.std()
    X = (X - X.mean(0)) / X.std(0)
    return X.astype(dtype), y


def _make(kind, **params):
    Est = MLPClassifier if kind == "classifier" else MLPRegressor
    base = dict(hidden_layer_sizes=(9, 6), batch_size=32, max_iter=6)
    base.update(params)
    return Est(**base)


def _outputs(est, X):
    out = [est.predict(X)]
    if hasattr(est, "predict_proba"):
        out.append(est.predict_proba(X))
    return out


def assert_bitwise_equal(a, b, X):
    assert len(a.coefs_) == len(b.coefs_)
    for x, y in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        assert x.dtype == y.dtype
        assert_array_equal(x, y)
    if hasattr(a, "loss_curve_"):
        assert_array_equal(a.loss_curve_, b.loss_curve_)
    assert a.loss_ == b.loss_
    assert a.n_iter_ == b.n_iter_
    for p, q in zip(_outputs(a, X), _outputs(b, X)):
        assert p.dtype == q.dtype
        assert_array_equal(p, q)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_same_seed_same_model(kind, dtype, solver):
    X, y = _data(kind, dtype)
    params = dict(
        solver=solver, shuffle=True, random_state=123, learning_rate_init=0.01
    )
    a = _make(kind, **params).fit(X, y)
    b = _make(kind, **params).fit(X, y)
    assert_bitwise_equal(a, b, X)
    # refitting the same instance restarts from scratch
    a.fit(X, y)
    assert_bitwise_equal(a, b, X)


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_same_seed_same_model_early_stopping_and_lbfgs(kind):
    X, y = _data(kind, np.float64)
    for params in (
        dict(solver="adam", early_stopping=True, random_state=5),
        dict(solver="lbfgs", random_state=5),
    ):
        a = _make(kind, **params).fit(X, y)
        b = _make(kind, **params).fit(X, y)
        assert_bitwise_equal(a, b, X)


def test_random_state_instance_is_reproducible():
    X, y = _data("classifier", np.float64)
    a = _make("classifier", random_state=np.random.RandomState(3)).fit(X, y)
    b = _make("classifier", random_state=np.random.RandomState(3)).fit(X, y)
    assert_bitwise_equal(a, b, X)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_different_seeds_differ(kind, dtype):
    X, y = _data(kind, dtype)
    a = _make(kind, random_state=0).fit(X, y)
    b = _make(kind, random_state=1).fit(X, y)
    for x, z in zip(a.coefs_, b.coefs_):
        assert not np.array_equal(x, z)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_shuffle_changes_trajectory_reproducibly(solver):
    X, y = _data("classifier", np.float64)
    params = dict(solver=solver, random_state=0, learning_rate_init=0.01)
    shuffled = _make("classifier", shuffle=True, **params).fit(X, y)
    ordered = _make("classifier", shuffle=False, **params).fit(X, y)
    # same initial weights, but the minibatches differ, so do the results
    assert not np.array_equal(shuffled.loss_curve_, ordered.loss_curve_)
    assert not np.array_equal(shuffled.coefs_[0], ordered.coefs_[0])
    # the shuffle itself depends on the seed
    other = _make("classifier", shuffle=True, **{**params, "random_state": 1})
    other.fit(X, y)
    assert not np.array_equal(other.loss_curve_, shuffled.loss_curve_)


# --------------------------------------------------------------------------
# Thread-count independence
# --------------------------------------------------------------------------

_THREAD_SCRIPT = textwrap.dedent(
    """
    import hashlib, warnings
    import numpy as np
    from sklearn.exceptions import ConvergenceWarning
    from fastmlp import MLPClassifier, MLPRegressor

    warnings.simplefilter("ignore", ConvergenceWarning)
    rng = np.random.RandomState(0)
    X = rng.normal(size=(2000, 100))
    w = rng.normal(size=(100, 3))
    y_clf = np.argmax(X @ w + 0.5 * rng.normal(size=(2000, 3)), axis=1)
    y_reg = np.tanh(X @ w[:, :2])

    def digest(est, X):
        h = hashlib.sha256()
        for a in est.coefs_ + est.intercepts_:
            h.update(np.ascontiguousarray(a).tobytes())
        h.update(est._params.tobytes())  # PReLU slopes, batch-norm values included
        h.update(np.asarray(est.loss_curve_ if hasattr(est, "loss_curve_")
                            else [est.loss_], dtype=np.float64).tobytes())
        h.update(np.ascontiguousarray(est.predict(X)).tobytes())
        if hasattr(est, "predict_proba"):
            h.update(np.ascontiguousarray(est.predict_proba(X)).tobytes())
        for key, values in getattr(est, "history_", {}).items():
            if key != "time":
                h.update(np.asarray(values, dtype=np.float64).tobytes())
        return h.hexdigest()

    common = dict(hidden_layer_sizes=(256, 128), max_iter=2, random_state=0)
    runs = [
        ("clf-adam-f64", MLPClassifier(**common), X, y_clf),
        ("clf-sgd-f32", MLPClassifier(solver="sgd", **common),
         X.astype(np.float32), y_clf),
        ("reg-adam-f32", MLPRegressor(batch_size=500, **common),
         X.astype(np.float32), y_reg),
        ("reg-lbfgs-f64",
         MLPRegressor(solver="lbfgs", hidden_layer_sizes=(256, 128), max_iter=5,
                      random_state=0),
         X[:500], y_reg[:500]),
        ("clf-options-f64",
         MLPClassifier(learning_rate="cosine", warmup_epochs=1, class_weight="balanced",
                       validation_data=(X[:400], y_clf[:400]), early_stopping=True,
                       init="he_normal", **common),
         X[400:], y_clf[400:]),
        ("reg-options-f32",
         MLPRegressor(solver="sgd", learning_rate="step", lr_step_size=1, batch_size=300,
                      validation_data=(X[:400].astype(np.float32), y_reg[:400]),
                      restore_best_weights=True, init="glorot_normal", **common),
         X[400:].astype(np.float32), y_reg[400:]),
        # batches of 512 rows: the batch-norm, activation and dropout passes are threaded
        ("clf-course-f32",
         MLPClassifier(activation="prelu", batch_norm=True, dropout=[0.2, 0.3], alpha_l1=1e-3,
                       solver="adamw", batch_size=512, **common),
         X.astype(np.float32), y_clf),
        ("clf-maxout-f64",
         MLPClassifier(activation="maxout", loss="hinge", dropout=0.5, solver="rmsprop",
                       batch_size=512, **common),
         X, y_clf),
    ]
    for name, est, Xi, yi in runs:
        est.fit(Xi, yi)
        print(name, digest(est, Xi))
    """
)


def _run_with_threads(n_threads):
    env = {**os.environ, "OMP_NUM_THREADS": str(n_threads)}
    proc = subprocess.run(
        [sys.executable, "-c", _THREAD_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert len(lines) == 8, proc.stdout
    return dict(ln.split() for ln in lines)


@pytest.fixture(scope="module")
def thread_digests():
    # one interpreter per thread count: OMP_NUM_THREADS is read at start-up
    return {k: _run_with_threads(k) for k in (1, 2, 3)}


@pytest.mark.parametrize(
    "run",
    [
        "clf-adam-f64",
        "clf-sgd-f32",
        "reg-adam-f32",
        "clf-options-f64",
        "reg-options-f32",
        "clf-course-f32",
        "clf-maxout-f64",
    ],
)
def test_stochastic_solvers_do_not_depend_on_number_of_threads(thread_digests, run):
    got = {k: d[run] for k, d in thread_digests.items()}
    assert got[1] == got[2] == got[3], got


def test_lbfgs_does_not_depend_on_number_of_threads(thread_digests):
    # Besides the C core, L-BFGS runs scipy's optimizer, whose internal vector
    # operations go through a threaded BLAS for large parameter vectors; the
    # library has to keep the whole fit independent of the thread count.
    got = {k: d["reg-lbfgs-f64"] for k, d in thread_digests.items()}
    assert got[1] == got[2] == got[3], got


def test_openmp_thread_limits_in_process():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    rng = np.random.RandomState(1)
    X = rng.normal(size=(1000, 64))
    y = (X[:, :3].sum(axis=1) > 0).astype(int)
    results = []
    for n_threads in (1, 2, 3):
        with threadpoolctl.threadpool_limits(limits=n_threads, user_api="openmp"):
            est = MLPClassifier(
                hidden_layer_sizes=(128, 64), max_iter=1, random_state=0
            ).fit(X, y)
        results.append(est)
    for other in results[1:]:
        assert_bitwise_equal(other, results[0], X)


# --------------------------------------------------------------------------
# Pickle, deepcopy, clone
# --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_pickle_round_trip(kind, solver, dtype):
    X, y = _data(kind, dtype)
    est = _make(kind, solver=solver, random_state=0).fit(X, y)
    restored = pickle.loads(pickle.dumps(est))
    assert type(restored) is type(est)
    assert restored.get_params() == est.get_params()
    assert_bitwise_equal(restored, est, X)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_pickle_keeps_optimizer_state(kind, solver):
    # partial_fit after unpickling continues exactly like the original:
    # momentum velocities / Adam moments survive the round trip.
    X, y = _data(kind, np.float64)
    est = _make(kind, solver=solver, random_state=0, learning_rate_init=0.01)
    est.fit(X, y)
    restored = pickle.loads(pickle.dumps(est))
    copied = copy.deepcopy(est)
    for model in (est, restored, copied):
        model.partial_fit(X[:70], y[:70])
        model.partial_fit(X[70:], y[70:])
    assert_bitwise_equal(restored, est, X)
    assert_bitwise_equal(copied, est, X)


def test_pickle_unfitted():
    est = MLPClassifier(hidden_layer_sizes=(3, 2), alpha=0.5)
    restored = pickle.loads(pickle.dumps(est))
    assert restored.get_params() == est.get_params()
    assert not hasattr(restored, "coefs_")


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_clone(kind):
    X, y = _data(kind, np.float64)
    est = _make(kind, solver="sgd", random_state=7, momentum=0.5, alpha=0.01)
    est.fit(X, y)
    cloned = clone(est)
    assert type(cloned) is type(est)
    assert cloned.get_params() == est.get_params()
    assert not hasattr(cloned, "coefs_")
    assert not hasattr(cloned, "n_iter_")
    cloned.fit(X, y)
    assert_bitwise_equal(cloned, est, X)


def test_fit_does_not_mutate_inputs():
    X, y = _data("classifier", np.float64)
    X_before, y_before = X.copy(), y.copy()
    sw = np.linspace(0.5, 2.0, len(y))
    sw_before = sw.copy()
    _make("classifier", random_state=0).fit(X, y, sample_weight=sw)
    assert_array_equal(X, X_before)
    assert_array_equal(y, y_before)
    assert_array_equal(sw, sw_before)


def test_digest_helper_is_sensitive():
    """The thread test's digest (taken from its script) is a function of the fitted model:
    equal for two identical fits, different after a one-ulp change of one weight or a change of
    one training value (one part in 1e9: a one-ulp change of one input can vanish in the
    rounding of the products), so equal digests across thread counts mean equal models."""
    namespace = {}
    exec(_THREAD_SCRIPT.split("common = dict(")[0], namespace)
    digest, X, y = namespace["digest"], namespace["X"][:300], namespace["y_clf"][:300]

    def fit(X):
        return MLPClassifier((8,), max_iter=3, random_state=0).fit(X, y)

    model = fit(X)
    reference = digest(model, X)
    assert digest(fit(X), X) == reference
    nudged = X.copy()
    nudged[17, 3] *= 1 + 1e-9
    assert digest(fit(nudged), X) != reference
    model.coefs_[1][2, 1] = np.nextafter(model.coefs_[1][2, 1], np.inf)
    assert digest(model, X) != reference


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_concurrent_predict_from_threads_is_correct(dtype):
    # predict allocates its own scratch in C and releases the GIL: many Python threads may
    # predict with one fitted model at once and each gets the serial answer.
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(7)
    X = rng.standard_normal((600, 40)).astype(dtype)
    y = rng.integers(0, 4, 600)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPClassifier((64, 32), max_iter=2, random_state=0).fit(X, y)
    batches = [X[i : i + n] for i, n in zip(range(0, 600, 50), [1, 7, 50, 3, 33, 50] * 2)]
    expected = [model.predict_proba(b) for b in batches]
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(5):
            results = list(pool.map(model.predict_proba, batches))
            for got, want in zip(results, expected):
                np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_training_options_same_seed_same_model(kind):
    # the schedules, inits, class weights, validation data and best-weight restoring draw
    # nothing but random_state: two fits and a refit agree to the last bit, history_ included
    X, y = _data(kind, np.float64)
    params = dict(
        solver="adam", random_state=11, learning_rate="exponential", lr_gamma=0.7,
        warmup_epochs=2, init="he_uniform", validation_data=(X[:40], y[:40]),
        restore_best_weights=True, max_iter=8,
    )
    if kind == "classifier":
        params["class_weight"] = "balanced"
    a = _make(kind, **params).fit(X[40:], y[40:])
    b = _make(kind, **params).fit(X[40:], y[40:])
    assert_bitwise_equal(a, b, X)
    a.fit(X[40:], y[40:])
    assert_bitwise_equal(a, b, X)
    for key in ("loss", "score", "val_loss", "val_score", "learning_rate"):
        assert_array_equal(a.history_[key], b.history_[key])
    restored = pickle.loads(pickle.dumps(a))
    assert_bitwise_equal(restored, a, X)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_predict_rows_do_not_depend_on_blocks_or_threads(dtype):
    # Many rows go through all the layers in blocks shared among threads, fewer rows layer by
    # layer: a row predicted with 2,052 others gets the bits it gets among 99 others, for any
    # thread count and instruction set (300 inputs: more than one KC block of k). The 5 rows
    # past 2,048 (too few for a register tile) are predicted alone in both.
    import threadpoolctl

    from fastmlp import _core

    rng = np.random.default_rng(3)
    X = rng.standard_normal((2053, 300)).astype(dtype)
    models = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for hidden, n_classes in (((70, 33), 2), ((128,), 10)):
            y = rng.integers(0, n_classes, len(X))
            models.append(MLPClassifier(hidden, max_iter=1, random_state=0).fit(X, y))
    previous = _core.isa()
    try:
        for isa in _core.available_isas():
            _core.set_isa(isa)
            for threads in (1, 2):
                with threadpoolctl.threadpool_limits(limits=threads):
                    for model in models:
                        pieces = [model.predict_proba(X[i : min(i + 100, 2048)])
                                  for i in range(0, 2048, 100)]
                        pieces.append(model.predict_proba(X[2048:]))
                        assert_array_equal(model.predict_proba(X), np.concatenate(pieces),
                                           err_msg=f"{isa}, {threads} threads")
    finally:
        _core.set_isa(previous)


def test_blocked_predict_with_a_descheduled_worker():
    # Many rows go through the layers in row blocks that the threads take one at a time. With
    # a worker that loses the CPU before its tasks, every block still runs once: the rows get
    # the bits of a one-thread prediction, and a NaN in any block is still refused.
    import threadpoolctl

    from fastmlp import _core

    if not _core.openmp_enabled():
        pytest.skip("a serial build has no thread pool")
    rng = np.random.default_rng(5)
    X = rng.standard_normal((3000, 200)).astype(np.float32)
    y = rng.integers(0, 3, len(X))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPClassifier((96, 40), max_iter=1, random_state=0).fit(X[:500], y[:500])
    with threadpoolctl.threadpool_limits(limits=1):
        expected = model.predict_proba(X)
    _core.set_adaptive_threading(False)
    try:
        with threadpoolctl.threadpool_limits(limits=2):
            for delay_us, every in ((0, 0), (3000, 1), (500, 2)):
                _core.set_worker_delay(delay_us, every)
                for _ in range(3):
                    assert_array_equal(model.predict_proba(X), expected,
                                       err_msg=f"worker delay {delay_us} us")
                for row in (0, 1500, 2999):
                    bad = X.copy()
                    bad[row, 7] = np.nan
                    with pytest.raises(ValueError):
                        model.predict_proba(bad)
    finally:
        _core.set_worker_delay(0, 0)
        _core.set_adaptive_threading(True)
