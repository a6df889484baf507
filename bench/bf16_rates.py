"""bfloat16 products (matmul_precision="bfloat16") against float32, on one thread.

Prints fastmlp's GEMM rate (GFLOP/s, best of many calls) for the three products of the
784-512-256-10 net's first layers at batch 128 (forward X W, weight gradient X^T dY, input
gradient dY W^T) in float32 and with every bfloat16 kernel this machine runs (AMX's TDPBF16PS
where the CPU has AMX-BF16, the AVX-512F, AVX2 and portable emulations), then the training throughput
of that net (Adam, batch 128, float32 data) in float32 and bfloat16, timed by the process's CPU
time (best of --repeats fits), so that other processes on a shared machine do not count.

Run (from the repository root): ``python bench/bf16_rates.py``. The CPU's peak instruction rates
(VDPBF16PS, VFMADD231PS, TDPBF16PS) are measured by ``bench/bf16_peak.c`` (see its header).
"""

import argparse
import time
import warnings

import numpy as np

LAYERS = (784, 512, 256, 10)
BATCH = 128


def best_seconds(fn, calls):
    for _ in range(3):
        fn()
    best = float("inf")
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def gemm_rates(calls):
    from fastmlp import _core

    rng = np.random.default_rng(0)
    products = [("forward X W", BATCH, LAYERS[1], LAYERS[0], False, False),
                ("weight gradient X^T dY", LAYERS[0], LAYERS[1], BATCH, True, False),
                ("input gradient dY W^T", BATCH, LAYERS[0], LAYERS[1], False, True)]
    print("GEMM on one thread, GFLOP/s (best of the calls); networks' bfloat16 kernel: %s"
          % _core.bf16_kernel())
    for name, m, n, k, ta, tb in products:
        a = rng.standard_normal((k, m) if ta else (m, k), dtype=np.float32)
        b = rng.standard_normal((n, k) if tb else (k, n), dtype=np.float32)
        c = np.empty((m, n), dtype=np.float32)
        flops = 2.0 * m * n * k
        cells = ["float32 %.1f" % (flops / best_seconds(
            lambda: _core.gemm(ta, tb, 1.0, a, b, 0.0, c), calls) * 1e-9)]
        for kernel in _core.available_bf16_kernels():
            n_calls = max(3, calls // 40) if kernel == "generic" else calls
            cells.append("bf16 %s %.1f" % (kernel, flops / best_seconds(
                lambda: _core.gemm_bf16(ta, tb, 1.0, a, b, 0.0, c, kernel=kernel),
                n_calls) * 1e-9))
        print("  %-24s %4dx%4dx%4d: %s" % (name, m, n, k, ", ".join(cells)))


def training(repeats, samples):
    from sklearn.exceptions import ConvergenceWarning

    from fastmlp import MLPClassifier, _core

    rng = np.random.default_rng(0)
    X = rng.standard_normal((samples, LAYERS[0]), dtype=np.float32)
    y = rng.integers(0, LAYERS[-1], samples)
    flops = 6.0 * sum(a * b for a, b in zip(LAYERS[:-1], LAYERS[1:])) * samples * 2
    results = {}
    runs = [("float32", "float32", "auto"), ("bfloat16", "bfloat16", "auto")]
    if "amx" in _core.available_bf16_kernels():
        runs += [("bfloat16, AMX", "bfloat16", "always"),
                 ("bfloat16, AVX-512F emulation", "bfloat16", "never")]
    for label, precision, hardware in runs:
        previous = _core.set_bf16_hardware(hardware)
        best = float("inf")
        try:
            for _ in range(repeats):
                est = MLPClassifier(LAYERS[1:-1], batch_size=BATCH, max_iter=2, random_state=0,
                                    tol=0, n_iter_no_change=99, matmul_precision=precision)
                start = time.process_time()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    est.fit(X, y)
                best = min(best, time.process_time() - start)
        finally:
            _core.set_bf16_hardware(previous)
        results[label] = best
    print("Training %s, Adam, batch %d, %d samples x 2 epochs, one thread, best of %d "
          "(process CPU time):" % ("-".join(map(str, LAYERS)), BATCH, samples, repeats))
    for label, seconds in results.items():
        print("  %-30s %.3f s  %6.1f GFLOP/s  %.2fx float32's throughput"
              % (label, seconds, flops / seconds * 1e-9, results["float32"] / seconds))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200, help="GEMM calls per rate")
    parser.add_argument("--repeats", type=int, default=3, help="fits per training figure")
    parser.add_argument("--samples", type=int, default=4096, help="training rows")
    args = parser.parse_args(argv)
    import fastmlp  # noqa: F401  (loaded before the limit, which reaches the loaded libraries)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        gemm_rates(args.calls)
        training(args.repeats, args.samples)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
