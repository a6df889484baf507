"""The thread pool: same bits when worker threads lose the CPU, idle after returning.

The core shares work among threads of its own (csrc/pool.c) that claim tasks one at a time, so
a worker the operating system deschedules holds back only the task it has started; these tests
make workers lose the CPU (a test hook that sleeps inside a worker before its tasks, and
competing processes pinned to the same CPU) and check that training gives the bits of an
undisturbed run and finishes. No test here times the work itself.
"""

import hashlib
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from fastmlp import MLPClassifier, _core

pytestmark = [
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
    pytest.mark.skipif(not _core.openmp_enabled(), reason="a serial build has no thread pool"),
]

# A network whose products, loss pass and optimizer step are all shared among threads.
TRAIN = textwrap.dedent("""
    import hashlib, json, sys, time, warnings
    import numpy as np
    warnings.simplefilter("ignore")
    from fastmlp import MLPClassifier, _core
    delay_us, every = int(sys.argv[1]), int(sys.argv[2])
    rng = np.random.default_rng(0)
    X = rng.standard_normal((768, 300)).astype(np.float32)
    y = rng.integers(0, 4, 768)
    _core.set_worker_delay(delay_us, every)
    t0 = time.process_time()
    est = MLPClassifier(hidden_layer_sizes=(384, 128), batch_size=128, max_iter=2,
                        dropout=0.1, random_state=0).fit(X, y)
    h = hashlib.sha256()
    for a in est.coefs_ + est.intercepts_ + [est.predict_proba(X[:50])]:
        h.update(a.tobytes())
    h.update(np.asarray(est.loss_curve_).tobytes())
    print(json.dumps({"digest": h.hexdigest(), "stats": _core.threading_stats()}))
""")


def _train(delay_us=0, every=0, threads="2", cpus=None, busy=0):
    env = dict(os.environ, OMP_NUM_THREADS=threads)
    competitors = []
    preexec = None
    if cpus is not None:
        def preexec():
            os.sched_setaffinity(0, cpus)
        for _ in range(busy):
            competitors.append(subprocess.Popen(
                [sys.executable, "-c", "while True: pass"], preexec_fn=preexec))
    try:
        out = subprocess.run([sys.executable, "-c", TRAIN, str(delay_us), str(every)], env=env,
                             capture_output=True, text=True, timeout=300, preexec_fn=preexec)
    finally:
        for proc in competitors:
            proc.kill()
            proc.wait()
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def undisturbed():
    return _train(threads="1")["digest"]


def test_threads_share_the_work(undisturbed):
    result = _train(threads="2")
    assert result["digest"] == undisturbed
    assert result["stats"]["workers"] >= 1
    assert result["stats"]["worker_tasks"] > 0  # the worker did take tasks


@pytest.mark.parametrize("delay_us, every", [(3000, 1), (200, 3), (20000, 7)])
def test_descheduled_workers_give_the_same_bits(undisturbed, delay_us, every):
    # Each worker sleeps before (some of) the tasks it claims, as if descheduled mid-job: the
    # calling thread takes the rest, and waits only for the task a sleeping worker holds.
    result = _train(delay_us, every, threads="3")
    assert result["digest"] == undisturbed


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs CPU affinity")
def test_oversubscribed_cpu_with_busy_competitors(undisturbed):
    # Four threads and two CPU-bound competitors on one CPU: workers lose the CPU constantly.
    cpu = sorted(os.sched_getaffinity(0))[0]
    result = _train(threads="4", cpus={cpu}, busy=2)
    assert result["digest"] == undisturbed


# Small networks, whose batches are cut into row blocks taken by the threads as tasks, each
# block's gradient added in block order (fm_row_blocks): every solver kind, float32 and float64,
# dropout on fused (ReLU) and general (tanh, PReLU, maxout) layers of different widths, L1 and
# L2 penalties, sample weights, partial_fit. The adaptive choice is off, so that every batch is
# shared among the threads allowed.
SMALL = textwrap.dedent("""
    import hashlib, json, sys, warnings
    import numpy as np
    warnings.simplefilter("ignore")
    from fastmlp import MLPClassifier, MLPRegressor, _core
    delay_us, every = int(sys.argv[1]), int(sys.argv[2])
    _core.set_adaptive_threading(False)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((600, 24))
    y = rng.integers(0, 4, 600)
    sw = rng.uniform(0.5, 2.0, 600)
    _core.set_worker_delay(delay_us, every)
    h = hashlib.sha256()
    runs = [
        (MLPClassifier, dict(hidden_layer_sizes=(40,), batch_size=200), np.float32, None),
        (MLPClassifier, dict(hidden_layer_sizes=(33, 9), activation="tanh", dropout=0.3,
                             solver="adamw", alpha_l1=1e-3, batch_size=150), np.float64, sw),
        (MLPClassifier, dict(hidden_layer_sizes=(20, 31), activation="prelu", dropout=0.2,
                             solver="sgd", batch_size=96), np.float32, sw),
        (MLPClassifier, dict(hidden_layer_sizes=(17,), activation="maxout", loss="hinge",
                             dropout=0.25, solver="rmsprop", batch_size=128), np.float64, None),
        (MLPClassifier, dict(hidden_layer_sizes=(30, 30), dropout=0.3, solver="adadelta",
                             learning_rate_init=1.0, batch_size=256), np.float32, None),
        (MLPRegressor, dict(hidden_layer_sizes=(25,), solver="adagrad", batch_size=100),
         np.float64, sw),
    ]
    for cls, params, dtype, weights in runs:
        est = cls(max_iter=3, random_state=0, **params)
        target = y if cls is MLPClassifier else X[:, 0] * 2 + y
        est.fit(X.astype(dtype), target, sample_weight=weights)
        est.partial_fit(X[:300].astype(dtype), target[:300])
        for a in est.coefs_ + est.intercepts_ + list(getattr(est, "prelu_slopes_", None) or []):
            h.update(np.ascontiguousarray(a).tobytes())
        h.update(np.asarray(est.loss_curve_).tobytes())
    print(json.dumps({"digest": h.hexdigest(), "stats": _core.threading_stats()}))
""")


def _train_small(delay_us=0, every=0, threads="2"):
    env = dict(os.environ, OMP_NUM_THREADS=threads)
    out = subprocess.run([sys.executable, "-c", SMALL, str(delay_us), str(every)], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def small_undisturbed():
    return _train_small(threads="1")["digest"]


def test_small_nets_share_row_blocks(small_undisturbed):
    result = _train_small(threads="2")
    assert result["digest"] == small_undisturbed
    assert result["stats"]["worker_tasks"] > 0  # the worker did take blocks


@pytest.mark.parametrize("delay_us, every", [(3000, 1), (200, 3), (20000, 7)])
def test_small_nets_descheduled_workers_give_the_same_bits(small_undisturbed, delay_us, every):
    result = _train_small(delay_us, every, threads="3")
    assert result["digest"] == small_undisturbed


IDLE = textwrap.dedent("""
    import json, resource, time, warnings
    import numpy as np
    warnings.simplefilter("ignore")
    from fastmlp import MLPClassifier

    def cpu():
        u = resource.getrusage(resource.RUSAGE_SELF)
        return u.ru_utime + u.ru_stime

    def after(fn):
        fn()
        before = cpu()
        time.sleep(0.2)
        return (cpu() - before) * 1e3

    rng = np.random.default_rng(0)
    X = rng.standard_normal((1024, 400)).astype(np.float32)
    y = rng.integers(0, 3, 1024)
    est = MLPClassifier(hidden_layer_sizes=(256,), batch_size=128, max_iter=1)
    out = {"fit": after(lambda: est.fit(X, y)),
           "partial_fit": after(lambda: est.partial_fit(X, y)),
           "predict": after(lambda: [est.predict_proba(X[i:i + 1]) for i in range(300)])}
    print(json.dumps(out))
""")


def test_idle_after_returning():
    # Workers spin at most 200 us for the next job, then sleep: after a call returns the
    # process takes next to no CPU (the bound here is generous: 5 ms is what is expected).
    env = dict(os.environ, OMP_NUM_THREADS="2")
    out = subprocess.run([sys.executable, "-c", IDLE], env=env, capture_output=True,
                         text=True, timeout=120, check=True)
    for what, ms in json.loads(out.stdout).items():
        assert ms < 30, "%.1f ms of CPU in the 200 ms after %s returned" % (ms, what)


def test_no_threads_before_the_first_fit():
    code = ("import fastmlp, fastmlp._core as c; s = c.threading_stats(); "
            "assert s['workers'] == 0 and s['jobs'] == 0, s")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_adaptive_choice_is_measured_while_training():
    # The thread count of a kind of work comes from timings of that work (no calibration):
    # after a fit, its batches have estimates for one thread and for all of them.
    rng = np.random.default_rng(1)
    X = rng.standard_normal((2048, 300)).astype(np.float32)
    y = rng.integers(0, 3, 2048)
    est = MLPClassifier(hidden_layer_sizes=(256,), batch_size=128, max_iter=3, random_state=0)
    _core.reset_adaptive_threading()
    est.fit(X, y)
    network = est._model.network
    if _core.max_threads() < 2:
        assert _core.adaptive_threading(network, True, 128, 4) is None
        return
    one, all_threads, choices = _core.adaptive_threading(network, True, 128, 4)
    assert choices == 3 * 16  # one choice per batch
    # timings that include waking sleeping workers are not kept, so on a loaded machine an
    # option may still be unmeasured; the fit's own batches measured at least one
    assert one > 0 or all_threads > 0
    assert _core.adaptive_threading(network, True, 64, 4) is None  # no other kind was timed


def test_adaptive_choice_keeps_networks_of_one_size_apart():
    # A bfloat16 model and a float32 model of one shape (or one with dropout) have the same
    # parameter count but not the same cost per row, nor the same gain from threads: each kind
    # of work is timed apart, so that training one never steers the other's thread count.
    rng = np.random.default_rng(2)
    X = rng.standard_normal((1024, 300)).astype(np.float32)
    y = rng.integers(0, 3, 1024)
    if _core.max_threads() < 2:
        pytest.skip("one thread: no adaptive choice is made")
    _core.reset_adaptive_threading()
    kinds = [dict(), dict(matmul_precision="bfloat16"), dict(dropout=0.2)]
    fitted = []
    for n_epochs, options in enumerate(kinds, start=1):
        est = MLPClassifier(hidden_layer_sizes=(256,), batch_size=128, max_iter=n_epochs,
                            random_state=0, **options).fit(X, y)
        fitted.append(est)
    for n_epochs, est in enumerate(fitted, start=1):
        _, _, choices = _core.adaptive_threading(est._model.network, True, 128, 4)
        assert choices == n_epochs * 8, (est.get_params(), choices)


def test_few_row_predictions_split_by_k_blocks_give_the_same_bits():
    """One- to three-row predictions of a net with layers of several KC blocks of k: shared
    among the threads by KC blocks of rows of the weights (each block's sum merged in k order on
    the calling thread), with workers losing the CPU inside the tasks, they give the bits of one
    thread, and the workers take part."""
    import threadpoolctl

    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, 600)).astype(np.float32)
    y = rng.integers(0, 5, 300)
    est = MLPClassifier(hidden_layer_sizes=(520, 300), max_iter=1, random_state=0).fit(X, y)
    rows = [X[i:i + n] for i, n in [(0, 1), (7, 1), (11, 2), (20, 3)]]
    with threadpoolctl.threadpool_limits(1):
        alone = [est.predict_proba(x).tobytes() for x in rows]
    _core.set_adaptive_threading(False)
    try:
        with threadpoolctl.threadpool_limits(2):
            # until a worker has taken tasks (a worker the scheduler queued behind the calling
            # thread runs only once it is moved), at most 500 rounds
            before = _core.threading_stats()["worker_tasks"]
            for _ in range(500):
                for x, want in zip(rows, alone):
                    assert est.predict_proba(x).tobytes() == want
                if _core.threading_stats()["worker_tasks"] > before:
                    break
            took = _core.threading_stats()["worker_tasks"] - before
            _core.set_worker_delay(300, 2)
            try:
                for _ in range(5):
                    for x, want in zip(rows, alone):
                        assert est.predict_proba(x).tobytes() == want
            finally:
                _core.set_worker_delay(0, 0)
    finally:
        _core.set_adaptive_threading(True)
    assert took > 0


# A sleeping worker is woken off the CPU of the thread that wakes it (csrc/pool.c): the waking
# caller takes its CPU out of the worker's affinity, and the worker takes its whole mask back as
# soon as it runs. Here the calling thread is pinned to one CPU and lets the worker fall asleep
# before each call: every call places the worker, every worker ends with the mask it had, and the
# predictions keep the bits of one thread.
PLACEMENT = textwrap.dedent("""
    import json, os, sys, time, warnings
    import numpy as np
    warnings.simplefilter("ignore")
    from fastmlp import MLPClassifier, _core
    _core.set_adaptive_threading(False)
    cpu = min(os.sched_getaffinity(0))
    pin_first = sys.argv[1] == "first"
    if pin_first:  # the workers start with this thread's single CPU: nothing to place
        os.sched_setaffinity(0, {cpu})
    before = set(os.listdir("/proc/self/task"))
    rng = np.random.default_rng(0)
    X = rng.standard_normal((512, 300)).astype(np.float32)
    y = rng.integers(0, 4, 512)
    est = MLPClassifier(hidden_layer_sizes=(384, 128), max_iter=1, random_state=0).fit(X, y)
    first = est.predict_proba(X)
    workers = sorted(set(os.listdir("/proc/self/task")) - before)
    masks = {t: sorted(os.sched_getaffinity(int(t))) for t in workers}
    os.sched_setaffinity(0, {cpu})  # this thread only
    placed = _core.threading_stats()["placed_wakeups"]
    rounds, same = 20, True
    for _ in range(rounds):
        time.sleep(0.02)  # the worker spins 0.2 ms, then sleeps
        same = same and bool((est.predict_proba(X) == first).all())
    time.sleep(0.1)  # a worker woken at the last call has run since
    print(json.dumps({"same": same, "rounds": rounds, "workers": len(workers), "cpu": cpu,
                      "placed": _core.threading_stats()["placed_wakeups"] - placed,
                      "masks": masks,
                      "after": {t: sorted(os.sched_getaffinity(int(t))) for t in workers}}))
""")


def _placement(pin):
    env = dict(os.environ, OMP_NUM_THREADS="2")
    out = subprocess.run([sys.executable, "-c", PLACEMENT, pin], env=env, capture_output=True,
                         text=True, timeout=300, check=True)
    return json.loads(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux thread affinity")
def test_workers_are_woken_off_the_callers_cpu_and_keep_their_mask():
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        pytest.skip("one CPU: a worker cannot be placed elsewhere")
    got = _placement("after")
    assert got["same"]
    assert got["workers"] == 1
    for tid, mask in got["masks"].items():
        assert mask == cpus
        assert got["after"][tid] == mask
    # each call after a pause woke the sleeping worker, off the pinned caller's CPU
    assert got["placed"] >= got["rounds"] // 2, got


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux thread affinity")
def test_workers_allowed_one_cpu_are_left_alone():
    # A worker whose mask holds the caller's CPU alone (the process pinned before the pool
    # started) has nowhere else to go: it is woken as it is, on that CPU, and never placed.
    got = _placement("first")
    assert got["same"]
    assert got["workers"] == 1
    assert got["placed"] == 0
    for tid, mask in got["masks"].items():
        assert mask == [got["cpu"]]
        assert got["after"][tid] == mask
