"""The threading figures that bench/compare.py does not give: cold start, idle CPU, one-row latency.

Usage::

    python bench/threading_checks.py [--busy N] [--runs R]

* **Cold start**: the first ``fit`` in a fresh process (import excluded), fastmlp against
  scikit-learn, ``MLPClassifier(hidden_layer_sizes=(100,), max_iter=10)`` on the digits data;
  the median over ``--runs`` fresh processes of each, interleaved.
* **Idle CPU**: the process CPU time (user + system, ``resource.getrusage``) spent in the 200 ms
  after ``fit``, after ``partial_fit`` and after a burst of ``predict_proba`` calls return, while
  Python sleeps: what the core's worker threads take when there is nothing to do. On Linux the
  threads other than the sleeping caller are also reported apart (``/proc/self/task``): on the
  development guest the caller alone is charged milliseconds for a sleep.
* **One row, 784-512-256-10**: median ``predict_proba`` latency of one row, fastmlp on all its
  threads and on one, against ONNX Runtime (the same weights, exported with skl2onnx from a
  scikit-learn MLPClassifier holding them) with 1 and 2 intra-op threads, when onnxruntime and
  skl2onnx are installed.

``--busy N`` starts N CPU-bound competing processes (``while True: pass``) for the run.
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
import warnings

from compare import median_latency_us  # bench/ is the script's folder

FIRST_FIT = """
import time, warnings
warnings.simplefilter("ignore")
from sklearn.datasets import load_digits
X, y = load_digits(return_X_y=True)
X = X / 16.0
from {module} import MLPClassifier
t0 = time.perf_counter()
MLPClassifier(hidden_layer_sizes=(100,), max_iter=10, random_state=0).fit(X, y)
print(time.perf_counter() - t0)
"""


def cold_start(runs):
    """Median first-fit seconds in fresh processes: {library: seconds}."""
    times = {"fastmlp": [], "sklearn": []}
    modules = {"fastmlp": "fastmlp", "sklearn": "sklearn.neural_network"}
    for _ in range(runs):
        for name, module in modules.items():
            out = subprocess.run([sys.executable, "-c", FIRST_FIT.format(module=module)],
                                 capture_output=True, text=True, check=True)
            times[name].append(float(out.stdout.strip()))
    return {name: statistics.median(t) for name, t in times.items()}


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def thread_cpu_ns():
    """{thread id: CPU nanoseconds} of this process's threads (Linux: /proc/self/task/*/schedstat),
    or None where that is not available."""
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return None
    out = {}
    for tid in tids:
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as f:
                out[int(tid)] = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # a thread that ended meanwhile
    return out or None


def idle_cpu_after(fn):
    """(process CPU ms, other threads' CPU ms or None) in the 200 ms after fn() returns.

    The second figure leaves out the sleeping calling thread: on the 2-vCPU development guest
    it is charged 0.4-4 ms over a 200 ms ``time.sleep`` even after a call that does nothing
    (one voluntary context switch, one time slice), which the process figure includes.
    """
    fn()
    me = threading.get_native_id()
    threads_before = thread_cpu_ns()
    before = cpu_seconds()
    time.sleep(0.2)
    process_ms = (cpu_seconds() - before) * 1e3
    threads_after = thread_cpu_ns()
    if threads_before is None or threads_after is None:
        return process_ms, None
    others = sum(ns - threads_before.get(tid, 0) for tid, ns in threads_after.items()
                 if tid != me)
    return process_ms, others * 1e-6


def idle_cpu():
    import numpy as np

    from fastmlp import MLPClassifier

    rng = np.random.default_rng(0)
    X = rng.standard_normal((2048, 784)).astype(np.float32)
    y = rng.integers(0, 10, 2048)
    est = MLPClassifier(hidden_layer_sizes=(512, 256), batch_size=128, max_iter=1)
    results = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results["fit"] = worst([idle_cpu_after(lambda: est.fit(X, y)) for _ in range(3)])
        results["partial_fit"] = worst([idle_cpu_after(lambda: est.partial_fit(X, y))
                                        for _ in range(3)])

    def burst():
        for i in range(200):
            est.predict_proba(X[i:i + 1])

    results["predict_proba burst"] = worst([idle_cpu_after(burst) for _ in range(3)])
    return results


def worst(measurements):
    """The largest of each figure of idle_cpu_after's (process, other threads) pairs."""
    process = max(p for p, _ in measurements)
    others = [o for _, o in measurements]
    return process, None if None in others else max(others)


def median_us(fn, calls=3000):
    return median_latency_us(fn, calls)


def one_row():
    import numpy as np
    import threadpoolctl

    from fastmlp import MLPClassifier

    rng = np.random.default_rng(0)
    X = rng.standard_normal((1024, 784)).astype(np.float32)
    y = rng.integers(0, 10, 1024)
    est = MLPClassifier(hidden_layer_sizes=(512, 256), batch_size=128, max_iter=1,
                        random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    x1 = X[:1].copy()
    results = {"fastmlp (default threads)": median_us(lambda: est.predict_proba(x1))}
    with threadpoolctl.threadpool_limits(limits=1):
        results["fastmlp (1 thread)"] = median_us(lambda: est.predict_proba(x1))
    try:
        import onnxruntime as ort
        from skl2onnx import to_onnx
        from sklearn.neural_network import MLPClassifier as SkMLP
    except ImportError as exc:
        results["onnxruntime"] = f"not importable: {exc}"
        return results
    sk = SkMLP(hidden_layer_sizes=(512, 256), max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk.fit(X[:64], y[:64])
    sk.coefs_ = [c.copy() for c in est.coefs_]
    sk.intercepts_ = [b.copy() for b in est.intercepts_]
    onx = to_onnx(sk, X[:1], options={id(sk): {"zipmap": False}})
    for threads in (1, 2):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        sess = ort.InferenceSession(onx.SerializeToString(), opts,
                                    providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        got = sess.run(None, {name: x1})[1]
        assert np.allclose(got, est.predict_proba(x1), atol=1e-4)
        results[f"onnxruntime ({threads} thread{'s' if threads > 1 else ''})"] = median_us(
            lambda sess=sess, name=name: sess.run(None, {name: x1}))
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--busy", type=int, default=0, metavar="N",
                        help="run N CPU-bound competing processes during the checks")
    parser.add_argument("--runs", type=int, default=7, help="fresh processes per library")
    args = parser.parse_args(argv)
    competitors = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                   for _ in range(args.busy)]
    try:
        print(f"{os.cpu_count()} CPUs, {args.busy} busy competing process(es), "
              f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
        cold = cold_start(args.runs)
        print(f"cold start (first fit in a fresh process, median of {args.runs}): fastmlp "
              f"{cold['fastmlp'] * 1e3:.0f} ms, scikit-learn {cold['sklearn'] * 1e3:.0f} ms "
              f"(fastmlp - scikit-learn: {(cold['fastmlp'] - cold['sklearn']) * 1e3:+.0f} ms)")
        for what, (ms, others) in idle_cpu().items():
            split = "" if others is None else f"; threads other than the caller: {others:.1f} ms"
            print(f"idle CPU in the 200 ms after {what}: {ms:.1f} ms (worst of 3{split})")
        print("one-row predict_proba, 784-512-256-10 float32 (median us):")
        for name, us in one_row().items():
            print(f"  {name}: {us if isinstance(us, str) else f'{us:.1f}'}")
    finally:
        for proc in competitors:
            proc.kill()
            proc.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
