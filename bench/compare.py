"""Time one training epoch of fastmlp, scikit-learn and PyTorch in one process.

Usage::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/compare.py [--epochs N] [--quick] [--threads T] [--busy N] [--data FOLDER]

Run it with ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` unset for that
command only (``env -u ...`` as above): they force OpenBLAS (used by numpy and
so by scikit-learn) onto a fixed kernel / cache-size guess, which can make the
scikit-learn and numpy GEMM numbers unrepresentative of this machine.  The
header prints whether they were set.

What is measured, per workload (all classifiers, Adam, default learning rate):

* fastmlp and scikit-learn: ``est = MLPClassifier(hidden_layer_sizes=...,
  solver="adam", batch_size=B, max_iter=1, shuffle=True, random_state=0,
  tol=0, n_iter_no_change=10**9)``; ``est.partial_fit(X, y, classes=...)`` once
  as warm-up (allocation, initialisation), then ``est.partial_fit(X, y)`` --
  one epoch each -- is timed in ``--epochs`` rounds (see below).
* PyTorch: ``nn.Sequential`` of ``Linear`` + ``ReLU``, ``CrossEntropyLoss``,
  ``torch.optim.Adam`` (``weight_decay=alpha / batch_size`` to mirror the L2
  term of the scikit-learn loss), a hand-written loop over batches taken from
  one ``randperm`` per epoch (``zero_grad`` / ``backward`` / ``step`` per batch).
  One warm-up epoch, then ``--epochs`` rounds of timed epochs.

``cores`` is the process's CPU time over the timed epoch's wall time (median of the epochs):
the cores the library kept busy, or on a busy machine the share of them the scheduler gave
its threads (with N competing processes on C cores, threads that never wait get about C / (N +
threads) of a core each).

The timed epochs of the libraries are interleaved (fastmlp, sklearn, torch, ...; each
round starting one library later than the one before) with a short pause and one untimed
epoch before each library's turn
(so that a library's idle threads stop spinning before the next one runs, and
each timed epoch finds the caches as a fit's epochs do), so background
load on a shared machine hits all of them alike.  A turn times one epoch, or, where an
epoch takes under 0.05 s, as many back to back as fill 0.05 s (a best of five 6 ms epochs
was noise on a busy machine).  The table reports the best
(minimum) epoch time and the median.  ``samples/s``
and ``GFLOP/s`` use the best time.  Training FLOPs per sample are counted as
``6 * sum(fan_in * fan_out)`` over the layers (2 for the forward matmuls, 4 for
the two backward matmuls); biases, activations, the loss and the optimiser are
not counted.  Binary problems use one logistic output unit in fastmlp and
scikit-learn (as scikit-learn does) and two softmax outputs in PyTorch; the
FLOP count uses the nominal layer sizes.

``fastmlp-bf16`` is fastmlp with ``matmul_precision="bfloat16"`` (bfloat16 operands, float32
sums, in every matrix product of training); ``torch-bf16`` is the same PyTorch loop with the
forward pass and the loss under ``torch.autocast("cpu", dtype=torch.bfloat16)`` (PyTorch's
mixed precision; the backward pass follows the forward's dtypes). Both run on the float32
workloads only; their ``bf16/float32`` column is their throughput over their own float32 run's.
The header also prints fastmlp's own GEMM rates at the probe shape: float32, and bfloat16 with
the kernel networks use (and each other bfloat16 kernel the machine runs).

``fastmlp-1t`` is fastmlp forced onto one thread (``threadpoolctl``'s limit
around each of its epochs and calls): ``fastmlp / 1 thread`` says what the
default threading gains (or loses) against it.  ``--busy N`` starts N
CPU-bound competing processes (``while True: pass``) for the whole run, as on
a user's busy machine; they are stopped when the script ends.

Ratios are throughput ratios: ``fastmlp / sklearn`` = fastmlp samples/s divided
by scikit-learn samples/s (above 1 means fastmlp is faster); for the
single-sample ``predict_proba`` latency it is ``sklearn us / fastmlp us``.

The data are synthetic (so the script always runs) unless ``--data FOLDER``
points at a folder holding the MNIST IDX files (``train-images-idx3-ubyte`` and
``train-labels-idx1-ubyte``, optionally gzipped); they then feed the 784-512-256-10
workloads.

If fastmlp or torch cannot be imported, their columns are skipped with a
message and the rest still runs.
"""

import argparse
import datetime
import gc
import glob
import gzip
import os
import platform
import shlex
import statistics
import struct
import sys
import time
import warnings
from collections import namedtuple

# Workload: name, layer sizes (input, hidden..., output), batch size, dtype
# name, number of samples for a full run, number for a --quick run, dropout
# rate of the hidden layers (fastmlp's dropout=, torch's nn.Dropout; scikit-learn
# has none and skips such workloads).
Workload = namedtuple(
    "Workload", "name layers batch_size dtype n_samples n_samples_quick dropout",
    defaults=(0.0,),
)

WORKLOADS = (
    Workload("ref 784-512-256-10", (784, 512, 256, 10), 128, "float32", 16384, 2048),
    Workload("tabular 20-64-64-2", (20, 64, 64, 2), 32, "float32", 20000, 4000),
    Workload("digits 64-100-10", (64, 100, 10), 200, "float32", 20000, 4000),
    Workload("ref 784-512-256-10", (784, 512, 256, 10), 128, "float64", 16384, 1024),
    Workload("ref+dropout0.2", (784, 512, 256, 10), 128, "float32", 16384, 2048, 0.2),
)

# The net whose single-sample predict_proba latency is measured.
PREDICT_WORKLOAD = WORKLOADS[1]

DEFAULT_EPOCHS = 5
DEFAULT_EPOCHS_QUICK = 2
PREDICT_CALLS = 5000
PREDICT_CALLS_QUICK = 500
PREDICT_WARMUP_CALLS = 200
PAUSE_S = 0.1  # idle time before each timed epoch (not counted)
MIN_TURN_S = 0.05  # a library's turn times epochs back to back until this long
GEMM_SHAPE = (128, 784, 512)  # m, k, n of the float32 matmul rate probe
GEMM_REPEATS = 300
GEMM_REPEATS_QUICK = 60
ALPHA = 1e-4  # the scikit-learn default L2 penalty
SEED = 0
LIBRARIES = ("fastmlp", "fastmlp-1t", "fastmlp-bf16", "sklearn", "torch", "torch-bf16")
BF16_LIBRARIES = {"fastmlp-bf16": "fastmlp", "torch-bf16": "torch"}  # -> their float32 run
OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def parse_args(argv=None):
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description="Time one training epoch of fastmlp, scikit-learn and PyTorch.",
        epilog="Run as: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "
        "python bench/compare.py",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help=f"rounds of timed epochs per workload (default {DEFAULT_EPOCHS}, "
        f"{DEFAULT_EPOCHS_QUICK} with --quick); a round times one epoch of each "
        f"library, or several back to back where one takes under {MIN_TURN_S} s",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small data sets, a run of ~20 s"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="thread count for every library (default: each library's own)",
    )
    parser.add_argument(
        "--busy",
        type=int,
        default=0,
        metavar="N",
        help="run N CPU-bound competing processes during the benchmark",
    )
    parser.add_argument(
        "--only",
        default=None,
        metavar="TEXT",
        help="run only the workloads whose name contains TEXT (e.g. ref)",
    )
    parser.add_argument(
        "--data",
        default=None,
        metavar="FOLDER",
        help="folder with MNIST IDX files for the 784-512-256-10 workloads",
    )
    args = parser.parse_args(argv)
    if args.epochs is None:
        args.epochs = DEFAULT_EPOCHS_QUICK if args.quick else DEFAULT_EPOCHS
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be at least 1")
    return args


def import_optional(name):
    """Import module ``name``; return ``(module, None)`` or ``(None, error)``."""
    try:
        module = __import__(name)
    except Exception as exc:  # ImportError, or a broken build raising anything
        return None, f"{type(exc).__name__}: {exc}"
    return module, None


def cpu_model():
    """CPU model name from /proc/cpuinfo (or the platform's guess)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average():
    """1, 5 and 15 minute load averages as text, or 'n/a'."""
    try:
        return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except (AttributeError, OSError):
        return "n/a"


def busy_warning():
    """A warning line if other work already keeps the CPUs busy, else ''."""
    try:
        load1 = os.getloadavg()[0]
    except (AttributeError, OSError):
        return ""
    cpus = os.cpu_count() or 1
    if load1 > 0.5 * cpus:
        return (f"WARNING: 1-min load {load1:.2f} on {cpus} CPUs before the run: "
                "the machine is busy, timings (threaded libraries most of all) "
                "will be noisy; compare ratios, rerun, or try --threads 1")
    return ""


def print_header(args, libs):
    """Print the command, date, machine and library versions."""
    import numpy as np
    import sklearn

    print("fastmlp benchmark: one training epoch, fastmlp vs scikit-learn vs PyTorch")
    print(f"command : {shlex.join([sys.executable] + sys.argv)}")
    print(f"date    : {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(f"cpu     : {cpu_model()} ({os.cpu_count()} logical CPUs)")
    print(f"os      : {platform.platform()}")
    print(f"load    : {load_average()} (1/5/15 min)")
    for var in OPENBLAS_VARS + THREAD_ENV_VARS:
        print(f"env     : {var}={os.environ.get(var, '<unset>')}")
    print(f"python  : {platform.python_version()}")
    print(f"numpy   : {np.__version__}")
    print(f"sklearn : {sklearn.__version__}")
    for name in ("fastmlp", "torch"):
        module, error = libs[name]
        if module is None:
            print(f"{name:8s}: {name} not importable: {error}")
        else:
            print(f"{name:8s}: {getattr(module, '__version__', 'unknown version')}")
    print(f"mode    : {'quick' if args.quick else 'full'}, {args.epochs} round(s) of timed "
          f"epochs (back to back for {MIN_TURN_S} s at least) after 1 warm-up epoch, data: "
          f"{args.data if args.data else 'synthetic'}")
    print("flops   : training FLOPs/sample = 6 * sum(fan_in * fan_out) "
          "(2 forward + 4 backward)")
    print()


def shorten_path(path):
    """The last two components of a library path, e.g. 'numpy.libs/libx.so'."""
    return os.path.join(*path.split(os.sep)[-2:]) if os.sep in path else path


def print_threads(libs):
    """Print the thread pools threadpoolctl sees and torch's thread count."""
    import threadpoolctl

    print("thread pools (threadpoolctl):")
    info = threadpoolctl.threadpool_info()
    if not info:
        print("  none found")
    for pool in info:
        print(
            f"  {pool.get('internal_api')} {pool.get('version') or ''} "
            f"threads={pool.get('num_threads')} "
            f"({shorten_path(pool.get('filepath', '?'))})"
        )
    torch, _ = libs["torch"]
    if torch is not None:
        print(f"  torch.get_num_threads() = {torch.get_num_threads()}")
    fastmlp, _ = libs["fastmlp"]
    if fastmlp is not None:
        from fastmlp import _core

        print(f"  fastmlp {_core.isa()} kernels, up to {_core.max_threads()} threads from its own "
              "pool (tasks claimed dynamically; one thread or all chosen per kind of work from "
              "timings taken while it runs)")
    print()


def gemm_rate(repeats):
    """Best float32 numpy matmul rate in GFLOP/s at GEMM_SHAPE."""
    import numpy as np

    m, k, n = GEMM_SHAPE
    rng = np.random.default_rng(SEED)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    out = np.empty((m, n), dtype=np.float32)
    for _ in range(5):
        np.matmul(a, b, out=out)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        np.matmul(a, b, out=out)
        best = min(best, time.perf_counter_ns() - t0)
    return 2.0 * m * k * n / best  # FLOP per ns == GFLOP/s


def read_idx(path):
    """Read an IDX file (optionally gzipped) into a numpy array."""
    import numpy as np

    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def find_idx(folder, kind):
    """Path of the MNIST ``kind`` ('images' or 'labels') IDX file in folder."""
    dims = "idx3" if kind == "images" else "idx1"
    found = sorted(glob.glob(os.path.join(folder, f"*{kind}*{dims}*")))
    train = [p for p in found if os.path.basename(p).startswith("train")]
    if not (train or found):
        raise FileNotFoundError(f"no *{kind}*{dims}* file in {folder}")
    return (train or found)[0]


def load_mnist(folder, n_samples, dtype):
    """First n_samples MNIST training images (scaled to [0, 1]) and labels."""
    import numpy as np

    images = read_idx(find_idx(folder, "images"))
    labels = read_idx(find_idx(folder, "labels"))
    X = images.reshape(len(images), -1)[:n_samples].astype(dtype) / dtype(255)
    y = labels[:n_samples].astype(np.int64)
    return np.ascontiguousarray(X), y


def make_data(workload, n_samples, data_folder=None):
    """Synthetic (or MNIST) classification data shaped for the workload."""
    import numpy as np

    n_features, n_classes = workload.layers[0], workload.layers[-1]
    dtype = np.dtype(workload.dtype).type
    if data_folder and n_features == 784 and n_classes == 10:
        return load_mnist(data_folder, n_samples, dtype)
    rng = np.random.default_rng(SEED)
    X = rng.random((n_samples, n_features), dtype=np.float64)
    # Labels with some signal so the task is not pure noise, from centred features so that
    # every class occurs about equally often (from X itself, in [0, 1), the column sums of w
    # decided: 2 of 20,000 rows had the tabular net's second class, and the digits net saw 5
    # of its 10 classes, so fastmlp and scikit-learn trained narrower output layers than the
    # workloads' names and PyTorch's nets).
    w = rng.standard_normal((n_features, n_classes))
    y = np.argmax((X - 0.5) @ w + 0.5 * rng.standard_normal((n_samples, n_classes)), axis=1)
    return np.ascontiguousarray(X, dtype=dtype), y.astype(np.int64)


def forward_flops(layers):
    """Floating-point operations of one row's forward pass (2 per multiply-add) through a
    classifier of these widths (input, hidden..., classes); two classes have one logistic
    output unit, as in fastmlp, scikit-learn and their ONNX graphs."""
    units = list(layers[:-1]) + [1 if layers[-1] == 2 else layers[-1]]
    return 2 * sum(a * b for a, b in zip(units[:-1], units[1:]))


def flops_per_sample(layers):
    """Training FLOPs per sample: 6 * sum(fan_in * fan_out)."""
    return 6 * sum(a * b for a, b in zip(layers[:-1], layers[1:]))


def fastmlp_gemm_rates(repeats):
    """fastmlp's own GEMM rates in GFLOP/s at GEMM_SHAPE: {"float32": r, "bfloat16 (kernel)":
    r, ...}, the networks' bfloat16 kernel first, then every other one the machine runs."""
    import numpy as np

    from fastmlp import _core

    m, k, n = GEMM_SHAPE
    rng = np.random.default_rng(SEED)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    out = np.empty((m, n), dtype=np.float32)
    calls = {"float32": lambda: _core.gemm(False, False, 1.0, a, b, 0.0, out)}
    chosen = _core.bf16_kernel()
    kernels = [chosen] + [kr for kr in _core.available_bf16_kernels() if kr != chosen]
    for kernel in kernels:
        label = f"bfloat16 {kernel}" + (" (networks')" if kernel == chosen else "")
        calls[label] = lambda kernel=kernel: _core.gemm_bf16(False, False, 1.0, a, b, 0.0, out,
                                                              kernel=kernel)
    rates = {}
    for label, fn in calls.items():
        reps = max(3, repeats // 30) if "generic" in label else repeats
        for _ in range(3):
            fn()
        best = float("inf")
        for _ in range(reps):
            t0 = time.perf_counter_ns()
            fn()
            best = min(best, time.perf_counter_ns() - t0)
        rates[label] = 2.0 * m * k * n / best
    return rates


FMA_PEAK_ROUNDS = 20
FMA_PEAK_S = 0.005


def fma_peak(threads=1):
    """The core's float32 multiply-add peak in GFLOP/s per thread, with ``threads`` threads
    running at once: fastmlp's ``_core.fma_loop`` (independent multiply-adds on the active
    instruction set's widest vectors, no memory operands) for about FMA_PEAK_S per round, the
    best of FMA_PEAK_ROUNDS rounds (each round: the slowest thread's time). No product can run
    faster, so a rate divided by it is the share of the machine's arithmetic a library uses.
    None when the instruction set has no vector multiply-add (the portable code)."""
    import threading

    from fastmlp import _core

    flops, _ = _core.fma_loop(1)
    if flops == 0:
        return None
    t0 = time.perf_counter()
    _core.fma_loop(100_000)
    n = max(1000, int(100_000 * FMA_PEAK_S / max(time.perf_counter() - t0, 1e-6)))
    best = float("inf")
    for _ in range(FMA_PEAK_ROUNDS):
        barrier = threading.Barrier(threads)
        times = [0.0] * threads

        def run(i):
            barrier.wait()
            start = time.perf_counter()
            _core.fma_loop(n)  # releases the GIL
            times[i] = time.perf_counter() - start

        workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        best = min(best, max(times))
    return _core.fma_loop(n)[0] / best * 1e-9


def make_estimator(module, workload, bf16=False):
    """An MLPClassifier from ``module`` set up for one epoch per partial_fit."""
    options = {"dropout": workload.dropout} if workload.dropout else {}
    if bf16:
        options["matmul_precision"] = "bfloat16"
    if options and "dropout" not in module.MLPClassifier().get_params():
        raise NotImplementedError("no dropout option")
    return module.MLPClassifier(
        hidden_layer_sizes=tuple(workload.layers[1:-1]),
        solver="adam",
        batch_size=workload.batch_size,
        max_iter=1,
        shuffle=True,
        random_state=SEED,
        tol=0,
        n_iter_no_change=10**9,
        **options,
    )


def make_torch_model(torch, workload):
    """nn.Sequential of Linear + ReLU layers in the workload's dtype."""
    layers = []
    sizes = workload.layers
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
            if workload.dropout:
                layers.append(torch.nn.Dropout(workload.dropout))
    model = torch.nn.Sequential(*layers)
    return model.to(getattr(torch, workload.dtype))


def sklearn_like_runner(module, workload, X, y, bf16=False):
    """Warm up an MLPClassifier from ``module``; return (epoch callable, est).

    The warm-up is ``partial_fit(X, y, classes=...)`` (allocation,
    initialisation and one epoch); each call of the returned callable is one
    more epoch, ``partial_fit(X, y)``.
    """
    import numpy as np

    est = make_estimator(module, workload, bf16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning and friends
        est.partial_fit(X, y, classes=np.unique(y))

    def epoch():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.partial_fit(X, y)

    return epoch, est


def torch_runner(torch, workload, X, y, bf16=False):
    """Build and warm up a PyTorch model; return (epoch callable, model).

    The epoch is the hand-written loop PyTorch users write: one ``randperm``
    per epoch, batches taken by indexing the data tensors, then
    ``zero_grad`` / forward / ``backward`` / ``step`` per batch; with bf16, the
    forward pass and the loss under ``torch.autocast("cpu", dtype=torch.bfloat16)``.
    """
    import contextlib

    def precision():
        if bf16:
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    torch.manual_seed(SEED)
    model = make_torch_model(torch, workload)
    loss_fn = torch.nn.CrossEntropyLoss()
    opt = torch.optim.Adam(
        model.parameters(),
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=ALPHA / workload.batch_size,
    )
    Xt = torch.from_numpy(X)
    yt = torch.from_numpy(y)
    n, batch = len(X), workload.batch_size

    def epoch():
        perm = torch.randperm(n)
        for start in range(0, n, batch):
            idx = perm[start:start + batch]
            xb, yb = Xt[idx], yt[idx]
            opt.zero_grad(set_to_none=True)
            with precision():
                loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()

    model.train()
    epoch()  # warm-up
    return epoch, model


_ONE_THREAD = []


def one_thread(fn):
    """fn run under threadpoolctl's limit of one thread (fastmlp-1t)."""
    if not _ONE_THREAD:
        import threadpoolctl
        _ONE_THREAD.append(threadpoolctl.ThreadpoolController())
    controller = _ONE_THREAD[0]

    def limited():
        with controller.limit(limits=1):
            return fn()
    return limited


def make_runner(name, module, workload, X, y):
    """Warmed-up (epoch callable, model) for library ``name``."""
    if name in ("torch", "torch-bf16"):
        return torch_runner(module, workload, X, y, bf16=name == "torch-bf16")
    if name == "fastmlp-bf16":
        return sklearn_like_runner(module, workload, X, y, bf16=True)
    if name == "fastmlp-1t":
        epoch, est = one_thread(lambda: sklearn_like_runner(module, workload, X, y))()
        return one_thread(epoch), est
    return sklearn_like_runner(module, workload, X, y)


def time_round_robin(epoch_fns, epochs):
    """Time ``epochs`` calls of each callable, interleaved.

    Returns ``({name: [(seconds, cpu seconds), ...]}, {name: error message})``
    (cpu seconds: the process's CPU time over the timed epoch, all its threads);
    a library whose epoch raises is dropped from later rounds.  Interleaving spreads the
    machine's background noise evenly over the libraries, and each round starts one library
    later, so that no library always follows the same one (with two competing processes,
    fastmlp's tabular epochs, which run the same code by default and on one thread, had median
    times of 0.014 s right after PyTorch's two-thread epochs and 0.010 s after fastmlp's own,
    in two runs; rotated, 0.015 / 0.014 and 0.014 / 0.014 s). The pause before
    each timed call lets the previous library's idle worker threads (OpenMP,
    BLAS) stop spinning.  After the pause one epoch runs untimed, then the
    timed ones: one, or as many back to back as fill MIN_TURN_S (a best of five
    6 ms epochs was noise on a busy machine: fastmlp's tabular epochs, the same
    code by default and on one thread, came out at 0.83x of one thread with one
    competing process, while 30 interleaved rounds of them had equal medians).
    A fit runs its epochs back to back, and the first epoch after an
    idle pause finds its data and weights out of the core's caches (on the
    development machine a 12 ms epoch of the tabular net took 15-16 ms right
    after a 0.1 s sleep, a 250 ms scikit-learn epoch nearly what it takes
    without the pause).
    """
    times = {name: [] for name in epoch_fns}
    errors = {}
    names = list(epoch_fns)
    for round_ in range(epochs):
        # each round starts one library later, so that no library always follows the same one
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            fn = epoch_fns[name]
            if name in errors:
                continue
            gc.collect()
            time.sleep(PAUSE_S)
            try:
                fn()  # untimed: caches and worker threads as during a fit
                turn_start = time.perf_counter_ns()
                while True:  # short epochs: more of them, back to back (MIN_TURN_S)
                    c0 = time.process_time_ns()
                    t0 = time.perf_counter_ns()
                    fn()
                    t1 = time.perf_counter_ns()
                    times[name].append(((t1 - t0) * 1e-9,
                                        (time.process_time_ns() - c0) * 1e-9))
                    if (t1 - turn_start) * 1e-9 >= MIN_TURN_S:
                        break
            except Exception as exc:
                errors[name] = f"failed: {type(exc).__name__}: {exc}"
    return {k: v for k, v in times.items() if k not in errors}, errors


def run_training(workload, libs, args):
    """Train each library on one workload; return (n_samples, {library: result}).

    A result is a dict of timings, or a string saying why there is none.
    """
    n_samples = workload.n_samples_quick if args.quick else workload.n_samples
    X, y = make_data(workload, n_samples, args.data)
    results, epoch_fns = {}, {}
    for name in LIBRARIES:
        module, error = libs[name]
        if module is None:
            results[name] = f"not importable: {error}"
            continue
        if name in BF16_LIBRARIES and workload.dtype != "float32":
            results[name] = "n/a: bfloat16 runs on the float32 workloads only"
            continue
        try:
            epoch_fns[name], _ = make_runner(name, module, workload, X, y)
        except Exception as exc:  # report and go on with the other libraries
            results[name] = f"failed: {type(exc).__name__}: {exc}"
    all_times, errors = time_round_robin(epoch_fns, args.epochs)
    results.update(errors)
    flops = flops_per_sample(workload.layers) * len(X)
    for name, timings in all_times.items():
        times = [wall for wall, _ in timings]
        best = min(times)
        results[name] = {
            "best": best,
            "median": statistics.median(times),
            "samples_per_s": len(X) / best,
            "gflops": flops / best * 1e-9,
            # CPU the process had per second of the epoch: on a busy machine, the share of the
            # cores the library's threads got from the scheduler
            "cores": statistics.median(cpu / wall for wall, cpu in timings),
        }
    return len(X), results


SETTLE_SLICE_S = 0.01
SETTLE_MAX_S = 1.0


def settle(max_s=SETTLE_MAX_S):
    """Sleep until this process's threads are idle: until a slice of SETTLE_SLICE_S costs the
    process under a tenth of that in CPU time, at most ``max_s``. Returns the seconds waited.

    A library's worker threads can spin on the CPUs after its call returns: ONNX Runtime's
    intra-op threads kept spinning for about 50 ms of CPU after each ``run`` on the development
    machine (allow_spinning, its default). Timed meanwhile, another library finds one core of
    two taken, and fastmlp's adaptive thread choice, which learns from what its threads get,
    rightly falls back to one thread. Benchmarks that interleave libraries call this before
    each library's turn, so that each is timed on the machine as it would find it alone.
    """
    start = time.perf_counter()
    while time.perf_counter() - start < max_s:
        cpu = time.process_time()
        time.sleep(SETTLE_SLICE_S)
        if time.process_time() - cpu < 0.1 * SETTLE_SLICE_S:
            break
    return time.perf_counter() - start


def median_latency_us(fn, calls):
    """Median wall time of fn() in microseconds over ``calls`` calls."""
    for _ in range(PREDICT_WARMUP_CALLS):
        fn()
    samples = []
    for _ in range(calls):
        t0 = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - t0)
    return statistics.median(samples) * 1e-3


def run_predict(libs, args):
    """Median µs of predict_proba on one sample, tabular net; {library: us}."""
    workload = PREDICT_WORKLOAD
    X, y = make_data(workload, 2048)
    x1 = X[:1].copy()
    calls = PREDICT_CALLS_QUICK if args.quick else PREDICT_CALLS
    results = {}
    for name in LIBRARIES:
        module, error = libs[name]
        if module is None:
            results[name] = f"not importable: {error}"
            continue
        if name in BF16_LIBRARIES:
            results[name] = "n/a: training only"
            continue
        try:
            _, model = make_runner(name, module, workload, X, y)
            if name == "torch":
                torch = module
                model.eval()

                def fn(model=model):
                    with torch.no_grad():
                        return torch.softmax(model(torch.from_numpy(x1)), dim=1).numpy()
            else:
                fn = lambda est=model: est.predict_proba(x1)  # noqa: E731
            gc.collect()
            if name == "fastmlp-1t":  # the limit around the whole series of calls
                results[name] = one_thread(lambda: median_latency_us(fn, calls))()
            else:
                results[name] = median_latency_us(fn, calls)
        except Exception as exc:
            results[name] = f"failed: {type(exc).__name__}: {exc}"
    return results


def ratio(numerator, denominator):
    """numerator / denominator formatted, or 'n/a' if either is missing."""
    if isinstance(numerator, float) and isinstance(denominator, float) and denominator:
        return f"{numerator / denominator:.2f}x"
    return "n/a"


def format_table(header, rows):
    """Plain-text table with right-aligned numeric columns."""
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    def fmt(row):
        cells = [str(c).ljust(w) if i < 3 else str(c).rjust(w)
                 for i, (c, w) in enumerate(zip(row, widths))]
        return "  ".join(cells).rstrip()
    lines = [fmt(header), "  ".join("-" * w for w in widths)]
    lines += [fmt(r) for r in rows]
    return "\n".join(lines)


def median_ratio(workload, results):
    """'<workload> <dtype> <r>x': fastmlp's speed over fastmlp-1t's by median epoch, or None
    when either did not run."""
    fast, one = results.get("fastmlp"), results.get("fastmlp-1t")
    if not (isinstance(fast, dict) and isinstance(one, dict)):
        return None
    return f"{workload.name} {workload.dtype} {one['median'] / fast['median']:.2f}x"


def training_rows(workload, n_samples, results):
    """Table rows (one per library) for one training workload."""
    rows = []
    notes = []
    speed = {k: v["samples_per_s"] if isinstance(v, dict) else None
             for k, v in results.items()}
    for name in LIBRARIES:
        res = results[name]
        dtype = workload.dtype
        if isinstance(res, str) and res.startswith(("not importable", "n/a")):
            continue  # already reported in the header, or not a run of this workload
        label = f"{workload.name} (n={n_samples}, batch={workload.batch_size})"
        if isinstance(res, str):
            rows.append([label, name, dtype, "-", "-", "-", "-", "-", "-", "-", "-", "-"])
            notes.append(f"{name} on {workload.name} {dtype}: {res}")
            continue
        is_fast = name == "fastmlp"
        own = BF16_LIBRARIES.get(name)
        rows.append([
            label, name, dtype,
            f"{res['best']:.3f}", f"{res['median']:.3f}",
            f"{res['samples_per_s']:,.0f}", f"{res['gflops']:.2f}", f"{res['cores']:.2f}",
            ratio(speed["fastmlp"], speed["sklearn"]) if is_fast else "",
            ratio(speed["fastmlp"], speed["torch"]) if is_fast else "",
            ratio(speed["fastmlp"], speed.get("fastmlp-1t")) if is_fast else "",
            ratio(speed[name], speed.get(own)) if own else "",
        ])
    return rows, notes


def main(argv=None):
    """Run every workload and print the tables."""
    args = parse_args(argv)
    t_start = time.perf_counter()
    warning = busy_warning()  # before our own imports add to the load
    competitors = start_busy(args.busy)
    try:
        return run_all(args, t_start, warning)
    finally:
        for proc in competitors:
            proc.kill()
            proc.wait()


def start_busy(n):
    """N CPU-bound competing processes (a busy machine), to be killed by the caller."""
    import subprocess
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def run_all(args, t_start, warning):
    """The benchmark proper (main's body)."""
    if args.threads is not None:
        # Must happen before numpy / torch / fastmlp start their thread pools.
        for var in THREAD_ENV_VARS:
            os.environ[var] = str(args.threads)

    import numpy  # noqa: F401  (start numpy's BLAS before the others)
    import sklearn.neural_network

    libs = {
        "fastmlp": import_optional("fastmlp"),
        "fastmlp-1t": import_optional("fastmlp"),
        "fastmlp-bf16": import_optional("fastmlp"),
        "sklearn": (sklearn.neural_network, None),
        "torch": import_optional("torch"),
        "torch-bf16": import_optional("torch"),
    }
    if args.threads is not None:
        import threadpoolctl
        threadpoolctl.threadpool_limits(limits=args.threads)
        if libs["torch"][0] is not None:
            libs["torch"][0].set_num_threads(args.threads)

    print_header(args, libs)
    if args.busy:
        print(f"busy machine: {args.busy} CPU-bound competing process(es) running "
              f"(python -c 'while True: pass') on {os.cpu_count()} CPUs")
        print()
    if warning:
        print(warning)
        print()
    if args.threads == 1:
        libs["fastmlp-1t"] = (None, "same as fastmlp with --threads 1")
    for name in ("fastmlp", "torch"):
        if libs[name][0] is None:
            print(f"{name} not importable: {libs[name][1]} -- its columns are skipped")
    print_threads(libs)

    gemm = gemm_rate(GEMM_REPEATS_QUICK if args.quick else GEMM_REPEATS)
    m, k, n = GEMM_SHAPE
    print(f"numpy sgemm {m}x{k}x{n} (float32, best of "
          f"{GEMM_REPEATS_QUICK if args.quick else GEMM_REPEATS}): "
          f"{gemm:.1f} GFLOP/s  <- practical GEMM rate of this machine")
    if libs["fastmlp"][0] is not None:
        rates = fastmlp_gemm_rates(GEMM_REPEATS_QUICK if args.quick else GEMM_REPEATS)
        print(f"fastmlp GEMM {m}x{k}x{n}, GFLOP/s (best of the calls): " + ", ".join(
            f"{label} {rate:.1f}" for label, rate in rates.items()))
    print()

    header = ["workload", "library", "dtype", "best s", "median s",
              "samples/s", "GFLOP/s", "cores", "fastmlp/sklearn", "fastmlp/torch",
              "fastmlp/1 thread", "bf16/float32"]
    rows, notes, by_median = [], [], []
    for workload in WORKLOADS:
        if args.only and args.only not in workload.name:
            continue
        n_samples, results = run_training(workload, libs, args)
        w_rows, w_notes = training_rows(workload, n_samples, results)
        line = median_ratio(workload, results)
        by_median += [line] if line else []
        rows += w_rows
        notes += w_notes
        sys.stdout.flush()
        print(f"  done: {workload.name} {workload.dtype} "
              f"({time.perf_counter() - t_start:.1f} s)", file=sys.stderr, flush=True)

    print("Training, one epoch (Adam, partial_fit / hand-written torch loop); "
          "best of the timed epochs:")
    print(format_table(header, rows))
    print("  GFLOP/s = FLOPs/sample * samples/s; FLOPs/sample: " + ", ".join(
        f"{w.name.split()[1]} {flops_per_sample(w.layers) / 1e6:.3f} M"
        for w in WORKLOADS[:3]))
    print("  ratios = fastmlp samples/s / other samples/s (>1: fastmlp faster); "
          "fastmlp-1t: fastmlp limited to one thread")
    if by_median:
        # on a busy machine the best of a few epochs is a draw of luck (an epoch that ran
        # while a competing process was off the CPU); the medians say how each usually ran
        print("  fastmlp/1 thread by median epoch: " + ", ".join(by_median))
    print("  fastmlp-bf16: matmul_precision='bfloat16'; torch-bf16: autocast(dtype=bfloat16); "
          "bf16/float32 = their samples/s / their float32 run's")
    print("  sklearn keeps float32 input in float32; binary nets use 1 logistic "
          "output in fastmlp/sklearn, 2 softmax outputs in torch")
    print()

    pred = run_predict(libs, args)
    calls = PREDICT_CALLS_QUICK if args.quick else PREDICT_CALLS
    print(f"predict_proba on 1 sample, {PREDICT_WORKLOAD.name} "
          f"{PREDICT_WORKLOAD.dtype}, median of {calls} calls "
          "(torch: softmax(model(from_numpy(x))).numpy() under no_grad):")
    p_rows = []
    for name in LIBRARIES:
        res = pred[name]
        if isinstance(res, str):
            if not res.startswith(("not importable", "n/a")):
                p_rows.append([PREDICT_WORKLOAD.name, name, PREDICT_WORKLOAD.dtype,
                               "-", "-", "-"])
                notes.append(f"{name} predict_proba: {res}")
            continue
        is_fast = name == "fastmlp"
        p_rows.append([
            PREDICT_WORKLOAD.name, name, PREDICT_WORKLOAD.dtype, f"{res:.1f}",
            ratio(pred["sklearn"], pred["fastmlp"]) if is_fast else "",
            ratio(pred["torch"], pred["fastmlp"]) if is_fast else "",
        ])
    print(format_table(["workload", "library", "dtype", "us/call",
                        "fastmlp/sklearn", "fastmlp/torch"], p_rows))
    print("  ratios = other us / fastmlp us (>1: fastmlp faster)")
    if notes:
        print()
        print("notes:")
        for note in notes:
            print(f"  {note}")
    print()
    sys.stderr.flush()
    print(f"total benchmark time: {time.perf_counter() - t_start:.1f} s; "
          f"load average now: {load_average()}")
    if warning:
        print(warning)
    return 0


if __name__ == "__main__":
    sys.exit(main())
