"""pytest-benchmark suites: fastmlp against scikit-learn.

Run with ``pytest bench/ --benchmark-only``.  Each benchmark group holds
fastmlp and scikit-learn on the same workload; compare the two within a group
(the ratio), not absolute times across machines or runs.  There are no timing
assertions: the checks only make sure the work was done.
"""

import warnings

import numpy as np

TRAIN_ROUNDS = 3


def record_throughput(benchmark, workload, n_samples):
    """Store samples/s and GFLOP/s (fastest round) in the benchmark's extra_info."""
    info = benchmark.extra_info
    info["n_samples"] = n_samples
    info["dtype"] = np.dtype(workload.dtype).name
    info["flops_per_sample"] = workload.flops_per_sample
    stats = getattr(benchmark, "stats", None)
    if stats is not None:  # None when benchmarking is disabled
        best = stats.stats.min
        info["samples_per_s"] = n_samples / best
        info["gflops"] = workload.flops_per_sample * n_samples / best * 1e-9


def test_train_one_epoch(benchmark, train_workload, warmed_estimator):
    """One epoch of Adam (``partial_fit(X, y)``) after a warm-up epoch."""
    X, y = train_workload.make_data()
    est = warmed_estimator(train_workload, X, y)
    benchmark.group = f"train one epoch: {train_workload.name}"

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        benchmark.pedantic(est.partial_fit, args=(X, y), rounds=TRAIN_ROUNDS, iterations=1)

    record_throughput(benchmark, train_workload, len(X))
    assert np.isfinite(est.loss_)


def test_predict_proba_one_sample(benchmark, predict_workload, warmed_estimator):
    """Latency of ``predict_proba`` on a single sample."""
    X, y = predict_workload.make_data()
    est = warmed_estimator(predict_workload, X, y)
    x1 = X[:1].copy()
    benchmark.group = f"predict_proba, 1 sample: {predict_workload.name}"

    proba = benchmark(est.predict_proba, x1)

    assert proba.shape == (1, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
