"""Serving speed: fastmlp's predict_proba against ONNX Runtime, scikit-learn and PyTorch, with the
same weights in every library, in one process.

Usage::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/serving.py [--quick] [--repeats N]

What is measured, per net (20-64-64-2 and 784-512-256-10 classifiers, ReLU, float32):

* the weights: a fastmlp ``MLPClassifier`` trained for one epoch on random data; scikit-learn
  gets them through ``model.to_sklearn()``, ONNX Runtime through ``fastmlp.to_onnx(model)``
  (and, for the record, skl2onnx's export of that scikit-learn model), PyTorch as an
  ``nn.Sequential`` of ``Linear``/``ReLU`` with the weights copied, followed by a softmax (or
  a logistic unit for the binary net, as the other libraries);
* one row: the median time of a ``predict_proba`` (``session.run``, ``model(x)``) call on one
  row, over ``--calls`` calls in rounds of 50, each after 10 untimed calls (the steady state
  of a server answering requests, not the first call after another library's);
* 4096 rows: rows per second of one call on 4096 rows, the best of ``--repeats`` calls, each
  after an untimed one;
* threads: every library on one thread (``threadpoolctl`` limits for fastmlp and numpy's
  BLAS, ``torch.set_num_threads(1)``, ``intra_op_num_threads=1`` for ONNX Runtime), and ONNX
  Runtime and fastmlp again on two threads;
* ``from_sklearn``: the one-row latency of ``fastmlp.from_sklearn(model.to_sklearn())``
  against the fastmlp-trained model of the same shape (the converted model must predict at
  fastmlp's speed).

The calls of the libraries are interleaved (one round of every library, then the next round,
each round starting with the next library), so that background load hits them alike; each
library's turn starts once the process is idle (``settle`` in compare.py: ONNX Runtime's
threads spin for about 50 ms after a call, and fastmlp on two threads, timed meanwhile, ran at
its one-thread speed). Ratios are against ONNX Runtime: ``x / onnxruntime``
is x's rows/s (or ONNX Runtime's time per row for one row) divided by ONNX Runtime's on the
same number of threads, above 1 when x is faster. A library that does not import is skipped
with a message.
"""

import argparse
import datetime
import os
import platform
import shlex
import statistics
import sys
import time
import warnings

import numpy as np

# bench/ is the script's folder
from compare import cpu_model, fma_peak, forward_flops, import_optional, settle

NETS = (("20-64-64-2", (20, 64, 64, 2)), ("784-512-256-10", (784, 512, 256, 10)))
BATCH = 4096


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls (a smoke run)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed 4096-row calls per library (default 15, 3 with --quick)")
    parser.add_argument("--calls", type=int, default=None,
                        help="timed one-row calls per library (default 3000, 100 with --quick)")
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 3 if args.quick else 15
    if args.calls is None:
        args.calls = 100 if args.quick else 3000
    return args


def print_header(args, libs):
    import sklearn

    import fastmlp

    print("fastmlp serving benchmark: predict_proba, fastmlp vs ONNX Runtime vs scikit-learn "
          "vs PyTorch")
    print("command : %s" % shlex.join([sys.executable] + sys.argv))
    print("date    : %s" % datetime.datetime.now().astimezone().isoformat(timespec="seconds"))
    print("cpu     : %s (%d logical CPUs)" % (cpu_model(), os.cpu_count()))
    try:
        print("load    : %.2f %.2f %.2f (1/5/15 min)" % os.getloadavg())
    except OSError:
        pass
    print("python  : %s, numpy %s, scikit-learn %s, fastmlp %s"
          % (platform.python_version(), np.__version__, sklearn.__version__,
             fastmlp.__version__))
    for name in ("onnxruntime", "skl2onnx", "torch"):
        module, error = libs[name]
        print("%-8s: %s" % (name[:8], getattr(module, "__version__", "?") if module else
                            "not importable (%s): skipped" % error))
    print("mode    : %s, one row: median of %d calls; %d rows: best of %d calls"
          % ("quick" if args.quick else "full", args.calls, BATCH, args.repeats))
    print()


# ---------------------------------------------------------------------- the models

def make_models(layers, libs):
    """fastmlp's model, and a predict_proba-like callable per library on the same weights."""
    import fastmlp

    rng = np.random.RandomState(0)
    X = rng.randn(2000, layers[0]).astype(np.float32)
    y = rng.randint(0, layers[-1], 2000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = fastmlp.MLPClassifier(hidden_layer_sizes=layers[1:-1], max_iter=1,
                                      random_state=0).fit(X, y)
    sk = model.to_sklearn()
    converted = fastmlp.from_sklearn(sk)

    # (fn, threads): fastmlp and numpy's BLAS run under a threadpoolctl limit of threads, set
    # once around each group of timed calls (entering it costs milliseconds)
    runners = {
        "fastmlp": (model.predict_proba, 1),
        "fastmlp 2t": (model.predict_proba, 2),
        "from_sklearn": (converted.predict_proba, 1),
        "scikit-learn": (sk.predict_proba, 1),
    }
    ort, _ = libs["onnxruntime"]
    if ort is not None:
        onx = fastmlp.to_onnx(model).SerializeToString()
        for threads in (1, 2):
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            session = ort.InferenceSession(onx, options, providers=["CPUExecutionProvider"])
            runners["onnxruntime %dt" % threads] = (
                lambda x, s=session: s.run(["probabilities"], {"X": x})[0], threads)
        skl2onnx, _ = libs["skl2onnx"]
        if skl2onnx is not None:
            sk_onx = skl2onnx.to_onnx(sk, X[:1], options={"zipmap": False}).SerializeToString()
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            session = ort.InferenceSession(sk_onx, options, providers=["CPUExecutionProvider"])
            output = session.get_outputs()[1].name
            runners["ort skl2onnx 1t"] = (
                lambda x, s=session, o=output: s.run([o], {"X": x})[0], 1)
    torch, _ = libs["torch"]
    if torch is not None:
        modules = []
        for i, (coef, intercept) in enumerate(zip(model.coefs_, model.intercepts_)):
            linear = torch.nn.Linear(*coef.shape)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(coef.T)))
                linear.bias.copy_(torch.from_numpy(intercept))
            modules.append(linear)
            if i < len(model.coefs_) - 1:
                modules.append(torch.nn.ReLU())
        net = torch.nn.Sequential(*modules).eval()
        binary = model.n_outputs_ == 1

        def torch_proba(x):
            with torch.inference_mode():
                z = net(torch.from_numpy(x))
                if binary:
                    p = torch.sigmoid(z)
                    return torch.cat([1 - p, p], dim=1).numpy()
                return torch.softmax(z, dim=1).numpy()

        torch.set_num_threads(1)
        runners["pytorch"] = (torch_proba, 1)
    check = rng.randn(64, layers[0]).astype(np.float32)
    expected = model.predict_proba(check)
    for name, (fn, _) in runners.items():
        got = fn(check)
        if not np.allclose(got, expected, rtol=1e-4, atol=1e-5):
            raise AssertionError("%s's probabilities differ from fastmlp's (max %.3g)"
                                 % (name, np.abs(got - expected).max()))
    return runners


# ---------------------------------------------------------------------- timing

def _groups(runners):
    """The runners by thread count: {threads: {name: fn}}."""
    groups = {}
    for name, (fn, threads) in runners.items():
        groups.setdefault(threads, {})[name] = fn
    return groups


def time_one_row(runners, layers, calls):
    """Median seconds per one-row call, per runner (calls interleaved in rounds of each thread
    count's group)."""
    from threadpoolctl import threadpool_limits

    x = np.random.RandomState(1).randn(1, layers[0]).astype(np.float32)
    per_round = 50
    times = {name: [] for name in runners}
    for threads, group in _groups(runners).items():
        with threadpool_limits(limits=threads):
            for fn in group.values():
                for _ in range(20):
                    fn(x)
            items = list(group.items())
            for round_ in range(max(1, calls // per_round)):
                # each round starts with the next library: none always runs after another
                for name, fn in items[round_ % len(items):] + items[:round_ % len(items)]:
                    settle()  # the previous library's threads stop spinning
                    for _ in range(10):  # untimed: the caches the other libraries emptied
                        fn(x)
                    start = time.perf_counter()
                    for _ in range(per_round):
                        fn(x)
                    times[name].append((time.perf_counter() - start) / per_round)
    return {name: statistics.median(t) for name, t in times.items()}


def time_batch(runners, layers, repeats):
    """Best rows per second of a call on BATCH rows, per runner (interleaved)."""
    from threadpoolctl import threadpool_limits

    X = np.random.RandomState(2).randn(BATCH, layers[0]).astype(np.float32)
    best = {name: float("inf") for name in runners}
    for threads, group in _groups(runners).items():
        with threadpool_limits(limits=threads):
            for fn in group.values():
                fn(X)
            items = list(group.items())
            for round_ in range(repeats):
                for name, fn in items[round_ % len(items):] + items[:round_ % len(items)]:
                    settle()  # the previous library's threads stop spinning
                    fn(X)  # untimed: wakes the threads the pause put to sleep
                    start = time.perf_counter()
                    fn(X)
                    best[name] = min(best[name], time.perf_counter() - start)
    return {name: BATCH / t for name, t in best.items()}


def print_peak_shares(results):
    """Each library's share of the core's multiply-add peak at BATCH rows, and the peak over
    ONNX Runtime's rate: how far ahead of it any library could be at best."""
    peaks = {threads: fma_peak(threads) for threads in (1, 2)}
    if peaks[1] is None:
        print("multiply-add peak: none measured (fastmlp runs its portable code)")
        return
    print("multiply-add peak (bench/compare.py fma_peak): %.0f GFLOP/s on one thread, %.0f on "
          "each of two" % (peaks[1], peaks[2]))
    print("share of that peak at %d rows, and peak / ONNX Runtime (the most any library could "
          "be ahead of it):" % BATCH)
    for name, layers, runners, rate in results:
        for threads, names in ((1, ("fastmlp", "onnxruntime 1t", "pytorch", "scikit-learn")),
                               (2, ("fastmlp 2t", "onnxruntime 2t"))):
            peak_rows = peaks[threads] * threads * 1e9 / forward_flops(layers)
            shares = ["%s %.0f%%" % (c.split(" ")[0], 100 * rate[c] / peak_rows)
                      for c in names if c in rate]
            ort = "onnxruntime %dt" % threads
            ceiling = ("   peak / onnxruntime %.2fx" % (peak_rows / rate[ort])
                       if ort in rate else "")
            print("  %-15s %dt: %s%s" % (name, threads, ", ".join(shares), ceiling))


def human_rate(rate):
    if rate >= 1e6:
        return "%.1fM" % (rate / 1e6)
    return "%.0fk" % (rate / 1e3)


def main(argv=None):
    args = parse_args(argv)
    libs = {name: import_optional(name) for name in ("onnxruntime", "skl2onnx", "torch")}
    print_header(args, libs)
    order = ["fastmlp", "onnxruntime 1t", "scikit-learn", "pytorch", "fastmlp 2t",
             "onnxruntime 2t", "ort skl2onnx 1t", "from_sklearn"]
    results = []
    for name, layers in NETS:
        runners = make_models(layers, libs)
        latency = time_one_row(runners, layers, args.calls)
        rate = time_batch(runners, layers, args.repeats)
        results.append((name, layers, runners, latency, rate))

    columns = [c for c in order if any(c in r[2] for r in results)]
    print("| net | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for name, _, runners, latency, rate in results:
        print("| %s, one row | " % name + " | ".join(
            "%.1f us" % (latency[c] * 1e6) if c in latency else "-" for c in columns) + " |")
        print("| %s, %d rows | " % (name, BATCH) + " | ".join(
            "%s rows/s" % human_rate(rate[c]) if c in rate else "-" for c in columns) + " |")
    print()
    print("ratios against ONNX Runtime on the same threads (above 1: faster than ONNX Runtime)")
    for name, _, runners, latency, rate in results:
        if "onnxruntime 1t" not in runners:
            print("  %s: ONNX Runtime not available" % name)
            continue
        for c, ref in (("fastmlp", "onnxruntime 1t"), ("scikit-learn", "onnxruntime 1t"),
                       ("pytorch", "onnxruntime 1t"), ("fastmlp 2t", "onnxruntime 2t")):
            if c not in runners:
                continue
            print("  %-15s %-12s one row %5.2fx   %d rows %5.2fx"
                  % (name, c, latency[ref] / latency[c], BATCH, rate[c] / rate[ref]))
    print()
    print_peak_shares([(name, layers, runners, rate) for name, layers, runners, _, rate in results])
    print()
    for name, _, runners, latency, rate in results:
        print("from_sklearn %s: one row %.1f us vs %.1f us for the fastmlp-trained model "
              "(ratio %.2f)" % (name, latency["from_sklearn"] * 1e6, latency["fastmlp"] * 1e6,
                                latency["from_sklearn"] / latency["fastmlp"]))
    return results


if __name__ == "__main__":
    main()
