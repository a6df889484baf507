"""Scale-out on Dask: the driver's memory and the time of fit on a dask array made on the
workers, against the in-memory fit of the same data, and how an L-BFGS iteration's time would
split between compute and communication on more workers.

    python bench/dask_scale.py                       # 10M x 16 float64 (1.28 GB), 500k-row chunks
    python bench/dask_scale.py --rows 1000000        # a quick run

A LocalCluster (worker processes, loopback) generates X (standard normal) and
y = [x0 + x1 * x2 - x3 > 0] on the workers and persists them. Then, each in turn:

1. MLPClassifier(solver="lbfgs", max_iter=5) on the dask arrays, then adam for one epoch
   (max_iter=1): wall time, and the driver's peak RSS growth (RSS sampled every 10 ms by a
   thread, peak minus the RSS before the fit);
2. three whole objective evaluations with the scheduler's task stream: the per-chunk compute
   of the loss and gradient on the workers, the busiest worker's share of the wall time, and
   the size of a chunk's gradient message (pickled); from them, on paper, an evaluation's time
   on more workers (compute: the chunks per worker times one chunk's median time;
   communication: the rest of the measured evaluation, taken as not shrinking with workers,
   plus the messages at an assumed network bandwidth);
3. the same two fits on the data gathered into the driver (the in-memory baseline).
"""

import argparse
import gc
import math
import pickle
import statistics
import threading
import time
import warnings

import numpy as np


class PeakRSS:
    """The process's resident memory sampled every interval seconds by a thread, while the
    with-block runs: ``growth`` is the peak minus the RSS at entry, in bytes."""

    def __init__(self, interval=0.01):
        import psutil

        self.process = psutil.Process()
        self.interval = interval
        self.growth = 0

    def __enter__(self):
        gc.collect()
        self.baseline = self.process.memory_info().rss
        self.peak = self.baseline
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            self.stop.wait(self.interval)

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)
        self.growth = self.peak - self.baseline
        return False


def _timed_chunk(chunk, model, params, index):
    """(seconds of the C core's loss and gradient on a prepared chunk, bytes of the pickled
    result: the gradient message), run on the worker holding the chunk."""
    from fastmlp import _dask

    start = time.perf_counter()
    result = _dask._data_sums_at(chunk, model, params, index)
    seconds = time.perf_counter() - start
    return np.array([seconds, len(pickle.dumps(result, protocol=5))])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--features", type=int, default=16)
    parser.add_argument("--chunk", type=int, default=500_000)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--bandwidth", type=float, default=1e9,
                        help="network bytes/s assumed for the extrapolation (default 1e9)")
    parser.add_argument("--skip-memory-fit", action="store_true",
                        help="leave out the in-memory baseline")
    args = parser.parse_args(argv)

    import dask
    import dask.array as da
    from distributed import Client, LocalCluster, wait

    from fastmlp import MLPClassifier, _dask

    warnings.simplefilter("ignore")
    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address=None)
    client = Client(cluster)
    try:
        rng = da.random.default_rng(0)
        X = rng.standard_normal((args.rows, args.features), chunks=(args.chunk, args.features))
        y = (X[:, 0] + X[:, 1] * X[:, 2] - X[:, 3] > 0).astype(np.int64)
        X, y = dask.persist(X, y)
        wait([X, y])
        n_chunks = X.numblocks[0]
        print("data: %d x %d float64 (%.2f GB) in %d chunks of %d rows, on %d workers "
              "(processes, 1 thread each); hidden layer %d"
              % (args.rows, args.features, X.nbytes / 1e9, n_chunks, args.chunk, args.workers,
                 args.hidden))

        # held-out rows (made here, in memory: small) for the accuracy of each model
        test_rng = np.random.default_rng(1)
        X_test = test_rng.standard_normal((200_000, args.features))
        y_test = (X_test[:, 0] + X_test[:, 1] * X_test[:, 2] - X_test[:, 3] > 0).astype(np.int64)

        results = {}
        fits = {
            "lbfgs, 5 iterations": dict(solver="lbfgs", max_iter=5),
            "adam, 1 epoch": dict(solver="adam", max_iter=1),
        }
        models = {}
        for name, options in fits.items():
            model = MLPClassifier(hidden_layer_sizes=(args.hidden,), random_state=0, **options)
            with PeakRSS() as rss:
                start = time.perf_counter()
                model.fit(X, y)
                seconds = time.perf_counter() - start
            models[name] = model
            accuracy = model.score(X_test, y_test)
            results[name] = dict(dask_s=seconds, growth=rss.growth, loss=model.loss_,
                                 accuracy=accuracy)
            print("dask   %-20s %7.2f s   driver peak RSS growth %7.1f MB   loss %.6f   "
                  "held-out accuracy %.4f"
                  % (name, seconds, rss.growth / 1e6, model.loss_, accuracy))

        # compute vs communication of one L-BFGS evaluation
        fitted = models["lbfgs, 5 iterations"]
        state = fitted.__dict__["_model"]
        encoder = _dask.TargetEncoder(state.dtype, classes=fitted.classes_,
                                      y_type=fitted._label_binarizer.y_type_)
        chunk_model = _dask.ChunkModel(state.network, state.dtype, encoder)
        chunks = _dask.Chunks(_dask.ChunkedData(X, y), chunk_model)
        params = state.params.copy()
        timings = client.gather([
            client.submit(_timed_chunk, future, chunk_model, params, i, pure=False,
                          workers=list(client.who_has([future])[future.key]))
            for i, future in enumerate(chunks.futures)])
        message = int(max(size for _, size in timings))
        holders = client.who_has(chunks.futures)
        chunks_per_worker = sorted(
            sum(1 for f in chunks.futures if sorted(holders[f.key])[0] == w)
            for w in {sorted(h)[0] for h in holders.values()})
        objective = _dask.FullBatchObjective(chunks, sum(w.size for w in fitted.coefs_),
                                             state.network.alpha, state.network.alpha_l1)
        # three evaluations, each with the scheduler's task stream: the compute of an
        # evaluation is its busiest worker's time in the per-chunk tasks; the rest of its wall
        # time is scheduling, messages and the driver's share
        from distributed import get_task_stream

        evaluations, busiest, task_seconds = [], [], []
        for _ in range(3):
            with get_task_stream() as stream:
                start = time.perf_counter()
                objective(params.astype(np.float64))
                evaluations.append(time.perf_counter() - start)
            per_worker = {}
            for task in stream.data:
                if "_data_sums_at" not in str(task["key"]):
                    continue
                for step in task["startstops"]:
                    if step["action"] == "compute":
                        seconds = step["stop"] - step["start"]
                        task_seconds.append(seconds)
                        per_worker[task["worker"]] = per_worker.get(task["worker"], 0) + seconds
            busiest.append(max(per_worker.values()))
        eval_s = statistics.median(evaluations)
        compute_here = statistics.median(busiest)
        overhead = statistics.median(max(e - b, 0.0) for e, b in zip(evaluations, busiest))
        chunk_s = statistics.median(task_seconds)
        nodes = 0
        parts = n_chunks
        while parts > 1:
            parts = math.ceil(parts / _dask.TREE_FAN_IN)
            nodes += parts
        print("\nL-BFGS objective evaluation: %d parameters; per chunk (%d rows) %.3f s of C "
              "core compute on a worker (median of %d tasks); gradient message %d bytes; "
              "whole evaluation %.3f s, of which %.3f s compute (the busiest worker's chunks; "
              "chunks per worker %s) and %.3f s scheduling, messages and the driver (medians "
              "of 3 evaluations)"
              % (state.network.n_params, args.chunk, chunk_s, len(task_seconds), message,
                 eval_s, compute_here, chunks_per_worker, overhead))
        print("on paper, same %d chunks, %.1e bytes/s network (messages: %d gradient vectors "
              "up the tree, the parameters to each worker):" % (n_chunks, args.bandwidth,
                                                                n_chunks + nodes))
        print("| workers | compute s | communication s | evaluation s | compute share |")
        print("|---|---|---|---|---|")
        for workers in (2, 4, 8, 16, 32):
            compute = math.ceil(n_chunks / workers) * chunk_s
            bytes_moved = (n_chunks + nodes) * message + workers * params.nbytes
            comm = overhead + bytes_moved / args.bandwidth
            print("| %d | %.3f | %.3f | %.3f | %.0f%% |"
                  % (workers, compute, comm, compute + comm, 100 * compute / (compute + comm)))
        del chunks, objective

        if not args.skip_memory_fit:
            X_mem, y_mem = dask.compute(X, y)
            print("\nin memory (the same data gathered into the driver: %.2f GB)"
                  % (X_mem.nbytes / 1e9))
            for name, options in fits.items():
                model = MLPClassifier(hidden_layer_sizes=(args.hidden,), random_state=0,
                                      **options)
                start = time.perf_counter()
                model.fit(X_mem, y_mem)
                seconds = time.perf_counter() - start
                results[name]["memory_s"] = seconds
                results[name]["memory_accuracy"] = model.score(X_test, y_test)
                print("memory %-20s %7.2f s   loss %.6f (dask: %.6f, relative difference %.1e)"
                      "   held-out accuracy %.4f"
                      % (name, seconds, model.loss_, results[name]["loss"],
                         abs(model.loss_ - results[name]["loss"]) / model.loss_,
                         results[name]["memory_accuracy"]))
            del X_mem, y_mem
        print("\n| fit | driver peak RSS growth | dask time | in-memory time | held-out accuracy "
              "(dask, in memory) |")
        print("|---|---|---|---|---|")
        for name, r in results.items():
            print("| %s | %.0f MB | %.1f s | %s | %.4f, %s |" % (
                name, r["growth"] / 1e6, r["dask_s"],
                "%.1f s" % r["memory_s"] if "memory_s" in r else "-", r["accuracy"],
                "%.4f" % r["memory_accuracy"] if "memory_accuracy" in r else "-"))
    finally:
        client.close()
        cluster.close()


if __name__ == "__main__":
    main()
