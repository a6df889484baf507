"""Cost of dropout on the ref net: epochs of a plain model and of a dropout model alternate in
one process (so the machine's background noise hits both alike); prints the best and median
epoch time of each and their ratio.

    python bench/dropout_cost.py [--rate 0.2] [--epochs 8]
    OMP_NUM_THREADS=1 python bench/dropout_cost.py      # less sensitive to a busy machine
"""

import argparse
import statistics
import sys
import time
import warnings

import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=0.2)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--samples", type=int, default=8192)
    args = parser.parse_args(argv)

    from fastmlp import MLPClassifier

    rng = np.random.RandomState(0)
    X = rng.rand(args.samples, 784).astype(np.float32)
    y = rng.randint(0, 10, args.samples)
    models = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, options in (("plain", {}), ("dropout", {"dropout": args.rate})):
            model = MLPClassifier((512, 256), batch_size=128, max_iter=1, random_state=0,
                                  **options)
            model.partial_fit(X, y, classes=np.arange(10))  # warm-up
            models[name] = model
        times = {name: [] for name in models}
        for _ in range(args.epochs):
            for name, model in models.items():
                start = time.perf_counter()
                model.partial_fit(X, y)
                times[name].append(time.perf_counter() - start)
    for name, values in times.items():
        print("%-8s best %.3f s  median %.3f s" % (name, min(values), statistics.median(values)))
    print("dropout %.2f / plain: best %.3fx, median %.3fx" % (
        args.rate, min(times["dropout"]) / min(times["plain"]),
        statistics.median(times["dropout"]) / statistics.median(times["plain"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
