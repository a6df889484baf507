"""Training speed of each instruction set fastmlp has on this machine (portable C, AVX2, AVX-512),
which all compute the same bits.

Usage::

    python bench/isa_speed.py [--rounds N] [--threads T] [--samples-digits N] [--samples-ref N]

For each workload (the digits 64-100-10 net and the 784-512-256-10 reference net of
bench/compare.py, float32, Adam, synthetic data), one ``MLPClassifier`` per instruction set is
warmed up with one ``partial_fit`` epoch, then the instruction sets take turns, one timed epoch
each per round (``_core.set_isa`` before each), so that background load hits all of them alike.
The table gives each one's best epoch in samples/s and its speed relative to the fastest
instruction set. ``--threads`` limits the core's threads (default 1: the kernels' own speed).
"""

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from fastmlp import MLPClassifier, _core

WORKLOADS = [
    # name, layers, batch size
    ("digits 64-100-10", (64, 100, 10), 200),
    ("ref 784-512-256-10", (784, 512, 256, 10), 128),
]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="timed epochs per instruction set")
    parser.add_argument("--threads", type=int, default=1, help="the core's threads (default 1)")
    parser.add_argument("--samples-digits", type=int, default=20000,
                        help="samples per epoch of the 64-100-10 net")
    parser.add_argument("--samples-ref", type=int, default=4096,
                        help="samples per epoch of the 784-512-256-10 net")
    return parser.parse_args(argv)


def run(workload, n_samples, isas, rounds):
    name, layers, batch = workload
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_samples, layers[0])).astype(np.float32)
    y = rng.integers(0, layers[-1], n_samples)
    classes = np.arange(layers[-1])
    models = {}
    for isa in isas:
        _core.set_isa(isa)
        models[isa] = MLPClassifier(hidden_layer_sizes=layers[1:-1], solver="adam",
                                    batch_size=batch, max_iter=1, random_state=0, tol=0,
                                    n_iter_no_change=10 ** 9)
        models[isa].partial_fit(X, y, classes=classes)
    times = {isa: [] for isa in isas}
    for _ in range(rounds):
        for isa in isas:
            _core.set_isa(isa)
            start = time.perf_counter()
            models[isa].partial_fit(X, y)
            times[isa].append(time.perf_counter() - start)
    return {isa: n_samples / min(t) for isa, t in times.items()}


def main(argv=None):
    args = parse_args(argv)
    isas = list(_core.available_isas())
    previous = _core.isa()
    print("instruction sets: %s; threads: %d; rounds: %d" % (", ".join(isas), args.threads,
                                                             args.rounds))
    print("%-22s %-8s %14s %10s" % ("workload", "isa", "samples/s", "relative"))
    try:
        with threadpool_limits(limits=args.threads):
            for workload in WORKLOADS:
                n = args.samples_ref if workload[1][0] == 784 else args.samples_digits
                rates = run(workload, n, isas, args.rounds)
                best = max(rates.values())
                for isa in isas:
                    print("%-22s %-8s %14.0f %10.3f" % (workload[0], isa, rates[isa],
                                                        rates[isa] / best))
    finally:
        _core.set_isa(previous)


if __name__ == "__main__":
    main()
