"""Batch inference against ONNX Runtime: rows/s of ``predict_proba`` on 4,096 rows.

Usage::

    python bench/batch_predict.py [--rows 4096] [--seconds 6] [--burst 0.2] [--latency] [--nets A,B]

Two float32 classifiers with the same weights in fastmlp and in ONNX Runtime (exported with
skl2onnx from a scikit-learn ``MLPClassifier`` whose ``coefs_`` / ``intercepts_`` are copies
of fastmlp's): the tabular 20-64-64-2 net (ReLU, two classes: one logistic output, as
scikit-learn builds it) and 784-512-256-10 (ReLU, softmax). fastmlp runs under
``threadpoolctl.threadpool_limits(n)``, ONNX Runtime with ``intra_op_num_threads=n`` and
``inter_op_num_threads=1``, for n = 1 and 2.

For each thread count, bursts of fastmlp calls and of ONNX Runtime calls (``--burst`` seconds
each, the first call of a burst not timed) alternate for about ``--seconds``, so that load from
other processes hits both alike. Each burst waits until the process is idle (``settle`` in
compare.py): ONNX Runtime's threads spin for about 50 ms after its calls, and fastmlp timed
meanwhile ran on one free core. Per round, each library's time is the median call of its burst;
rows/s come from the median over the rounds, the ratio (fastmlp's rows/s over ONNX Runtime's)
is the median of the per-round ratios, given with its quartiles. Each line ends with both
libraries' share of the core's multiply-add peak (``fma_peak`` in compare.py, measured on as
many threads) and the peak over ONNX Runtime's rate: the most any library could be ahead of
it. ``--latency`` adds the median one-row ``predict_proba`` latency (default threads for
fastmlp, one intra-op thread for ONNX Runtime).
"""

import argparse
import os
import statistics
import sys
import time
import warnings

import numpy as np

# bench/ is the script's folder
from compare import fma_peak, forward_flops, median_latency_us, settle

NETS = {"20-64-64-2": ((64, 64), 20, 2), "784-512-256-10": ((512, 256), 784, 10)}


def make_models(hidden, n_in, n_classes, rows):
    """A fitted fastmlp MLPClassifier, ONNX Runtime sessions (1 and 2 threads) with its
    weights, and float32 X of `rows` rows."""
    import onnxruntime as ort
    from skl2onnx import to_onnx
    from sklearn.neural_network import MLPClassifier as SkMLP

    from fastmlp import MLPClassifier

    rng = np.random.default_rng(0)
    X = rng.standard_normal((rows, n_in)).astype(np.float32)
    y = rng.integers(0, n_classes, rows)
    est = MLPClassifier(hidden_layer_sizes=hidden, max_iter=2, random_state=0)
    sk = SkMLP(hidden_layer_sizes=hidden, max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
        sk.fit(X[:256], y[:256])
    sk.coefs_ = [c.copy() for c in est.coefs_]
    sk.intercepts_ = [b.copy() for b in est.intercepts_]
    onx = to_onnx(sk, X[:1], options={id(sk): {"zipmap": False}}).SerializeToString()
    sessions = {}
    for threads in (1, 2):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        sess = ort.InferenceSession(onx, opts, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        got = sess.run(None, {name: X})[1]
        np.testing.assert_allclose(got, est.predict_proba(X), atol=1e-4)
        sessions[threads] = (sess, name)
    return est, sessions, X


def burst_time(fn, seconds):
    """Median seconds per call of fn over a burst of about `seconds` (at least 3 calls), once
    the other library's threads have stopped spinning (compare.settle), after one call that is
    not timed (it pays for waking threads)."""
    settle()
    fn()
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 3:
        t0 = time.perf_counter_ns()
        fn()
        times.append((time.perf_counter_ns() - t0) * 1e-9)
    return statistics.median(times)


def paired_times(fn_a, fn_b, seconds, burst):
    """Per round, the median seconds per call of a burst of fn_a calls and of fn_b calls (in
    turns a, b then b, a), rounds for about `seconds`: two lists, round by round."""
    times_a, times_b = [], []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times_a) < 5:
        order = ((fn_a, times_a), (fn_b, times_b))
        for fn, times in order if len(times_a) % 2 == 0 else order[::-1]:
            times.append(burst_time(fn, burst))
    return times_a, times_b


def main(argv=None):
    import threadpoolctl

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=4096)
    parser.add_argument("--seconds", type=float, default=6.0,
                        help="seconds of alternating bursts per thread count")
    parser.add_argument("--burst", type=float, default=0.2,
                        help="seconds of calls of one library in a burst")
    parser.add_argument("--latency", action="store_true")
    parser.add_argument("--nets", default=",".join(NETS))
    args = parser.parse_args(argv)
    from fastmlp import _core

    print(f"{os.cpu_count()} CPUs, fastmlp ISA {_core.isa()}, {args.rows} rows, float32, "
          f"bursts of {args.burst:g} s alternating for {args.seconds:g} s per thread count")
    peaks = {threads: fma_peak(threads) for threads in (1, 2)}
    if peaks[1] is not None:
        print(f"multiply-add peak: {peaks[1]:.0f} GFLOP/s on one thread, {peaks[2]:.0f} on each "
              "of two")
    for net in args.nets.split(","):
        hidden, n_in, n_classes = NETS[net]
        est, sessions, X = make_models(hidden, n_in, n_classes, args.rows)
        print(f"{net}:")
        for threads in (1, 2):
            sess, name = sessions[threads]
            with threadpoolctl.threadpool_limits(limits=threads):
                fm, ort = paired_times(lambda: est.predict_proba(X),
                                       lambda: sess.run(None, {name: X}), args.seconds,
                                       args.burst)
            ratios = [b / a for a, b in zip(fm, ort)]
            quartiles = statistics.quantiles(ratios, n=4)
            fm_rate = args.rows / statistics.median(fm)
            ort_rate = args.rows / statistics.median(ort)
            line = (f"  {threads} thread{'s' if threads > 1 else ' '}: fastmlp "
                    f"{fm_rate:12,.0f} rows/s  onnxruntime {ort_rate:12,.0f} rows/s  ratio "
                    f"{statistics.median(ratios):.2f} (quartiles {quartiles[0]:.2f}, "
                    f"{quartiles[2]:.2f}; {len(ratios)} rounds)")
            if peaks[1] is not None:
                peak_rows = peaks[threads] * threads * 1e9 / forward_flops((n_in, *hidden,
                                                                             n_classes))
                line += (f"  of peak: {100 * fm_rate / peak_rows:.0f}% / "
                         f"{100 * ort_rate / peak_rows:.0f}%, peak / onnxruntime "
                         f"{peak_rows / ort_rate:.2f}")
            print(line)
        if args.latency:
            x1 = X[:1].copy()
            sess, name = sessions[1]
            fm_us = median_latency_us(lambda: est.predict_proba(x1), 2000)
            ort_us = median_latency_us(lambda: sess.run(None, {name: x1}), 2000)
            print(f"  one row: fastmlp {fm_us:.1f} us, onnxruntime (1 thread) {ort_us:.1f} us, "
                  f"ratio {fm_us / ort_us:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
