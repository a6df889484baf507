"""The stochastic training loop around the C core: epochs split into calls, Ctrl-C between
batches, callbacks, progress bars, sparse X densified by blocks, and the memory of fit.

No wall-clock assertions: an interrupt is shown to land inside an epoch by the state it
leaves, not by how fast it came back.
"""

import _thread
import io
import signal
import sys
import threading
import time
import tracemalloc
import types
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import fastmlp._predict
import fastmlp._training as training_module
from fastmlp import MLPClassifier, MLPRegressor

quiet = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data(n_samples=600, n_features=12, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n_samples, n_features)
    return X, (X[:, 0] + 0.5 * rng.randn(n_samples) > 0).astype(int) + (X[:, 1] > 1)


@quiet
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"early_stopping": True},
        {"dropout": 0.3, "batch_norm": True, "activation": "gelu"},
        {"shuffle": False, "sample_weight": True},
    ],
    ids=repr,
)
def test_epochs_split_into_calls_train_exactly_as_one_call(monkeypatch, options):
    options = dict(options)
    weighted = options.pop("sample_weight", False)
    X, y = _data()
    sw = np.random.RandomState(1).uniform(0.5, 2, len(y)) if weighted else None
    kw = dict(hidden_layer_sizes=(16,), batch_size=32, max_iter=4, random_state=0, **options)
    whole = MLPClassifier(**kw).fit(X, y, sample_weight=sw)
    # a few rows per call: every epoch takes many calls
    monkeypatch.setattr(training_module, "CALL_WORK", 64 * whole._net.n_params)
    split = MLPClassifier(**kw).fit(X, y, sample_weight=sw)
    assert split._params.tobytes() == whole._params.tobytes()
    assert split.loss_curve_ == whole.loss_curve_
    assert split.history_["score"] == whole.history_["score"]


@quiet
@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("options", [{}, {"early_stopping": True}, {"dropout": 0.2}], ids=repr)
def test_sparse_input_trains_as_dense(fmt, options):
    X, y = _data()
    X[np.abs(X) < 0.8] = 0
    kw = dict(hidden_layer_sizes=(16,), batch_size=50, max_iter=3, random_state=0, **options)
    dense = MLPClassifier(**kw).fit(X, y)
    sparse = MLPClassifier(**kw).fit(sp.csr_matrix(X).asformat(fmt), y)
    assert sparse._params.tobytes() == dense._params.tobytes()
    np.testing.assert_array_equal(
        sparse.predict_proba(sp.csr_matrix(X).asformat(fmt)), dense.predict_proba(X)
    )


class _CountingCSR(sp.csr_matrix):
    """A CSR matrix that records the rows of every dense array made from it."""

    densified = []

    def toarray(self, *args, **kwargs):
        _CountingCSR.densified.append(self.shape[0])
        return super().toarray(*args, **kwargs)

    def __getitem__(self, key):
        return _CountingCSR(super().__getitem__(key))

    def tocsr(self, copy=False):
        return self


@quiet
def test_sparse_input_is_never_densified_whole(monkeypatch):
    X, y = _data(n_samples=2000)
    X[np.abs(X) < 0.8] = 0
    monkeypatch.setattr(fastmlp._predict, "SPARSE_BLOCK_BYTES", 300 * 12 * 8)  # 300-row blocks
    _CountingCSR.densified = []
    model = MLPClassifier((8,), batch_size=100, max_iter=2, random_state=0)
    Xs = _CountingCSR(X)
    model.fit(Xs, y)
    model.predict(Xs)
    assert _CountingCSR.densified, "sparse rows were never densified"
    assert max(_CountingCSR.densified) <= 300 < X.shape[0]


@quiet
def test_fit_does_not_copy_float32_input():
    """fit on float32 C-contiguous X (early stopping split included) allocates at most
    X.nbytes / 16 + 32 MiB through numpy (the C core's workspace is outside tracemalloc's
    view and is a few batches large)."""
    rng = np.random.RandomState(0)
    X = rng.rand(100_000, 100).astype(np.float32)  # 40 MB
    y = rng.randint(0, 3, X.shape[0])
    model = MLPClassifier(
        (32,), batch_size=256, max_iter=1, early_stopping=True, random_state=0
    )
    tracemalloc.start()
    try:
        model.fit(X, y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < X.nbytes / 16 + 32 * 2**20, peak


@quiet
def test_callbacks_get_the_epoch_figures_and_can_stop():
    X, y = _data()
    seen = []

    def record(estimator, figures):
        seen.append(figures)

    def stop_at_three(estimator, figures):
        return figures["epoch"] == 3

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # stopping by callback raises no ConvergenceWarning
        model = MLPClassifier(
            (8,), max_iter=50, random_state=0, validation_data=(X[:100], y[:100]),
            callbacks=[record, stop_at_three],
        ).fit(X, y)
    assert model.n_iter_ == 3 and len(seen) == 3
    assert [f["epoch"] for f in seen] == [1, 2, 3]
    assert [f["loss"] for f in seen] == model.loss_curve_
    assert {"score", "val_loss", "val_score", "time", "learning_rate"} <= set(seen[0])
    assert seen[2]["val_score"] == model.history_["val_score"][2]


def test_callbacks_must_be_a_list():
    X, y = _data()
    with pytest.raises(ValueError, match="'callbacks' parameter"):
        MLPClassifier(callbacks=print, max_iter=2).fit(X, y)


@quiet
def test_progress_false_and_auto_print_nothing_when_not_interactive(capsys):
    X, y = _data()
    MLPClassifier((8,), max_iter=2, progress=False).fit(X, y)
    MLPClassifier((8,), max_iter=2).fit(X, y)  # 'auto': stderr is not a terminal here
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


@quiet
def test_progress_true_draws_a_bar_or_asks_for_tqdm(capsys):
    X, y = _data()
    try:
        import tqdm  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install tqdm"):
            MLPClassifier((8,), max_iter=2, progress=True).fit(X, y)
        return
    MLPClassifier((8,), max_iter=2, progress=True).fit(X, y)
    assert "epoch" in capsys.readouterr().err


class _FakeTqdm:
    """Stands for tqdm.auto.tqdm: records the bars made and what they were told."""

    made = []

    def __init__(self, total, **kwargs):
        self.total, self.kwargs, self.count, self.closed = total, kwargs, 0, False
        _FakeTqdm.made.append(self)

    def update(self, n):
        self.count += n

    def close(self):
        self.closed = True


class _Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def fake_tqdm(monkeypatch):
    module = types.ModuleType("tqdm.auto")
    module.tqdm = _FakeTqdm
    package = types.ModuleType("tqdm")
    package.auto = module
    monkeypatch.setitem(sys.modules, "tqdm", package)
    monkeypatch.setitem(sys.modules, "tqdm.auto", module)
    _FakeTqdm.made = []
    return _FakeTqdm


@quiet
@pytest.mark.parametrize("verbose", [False, True])
def test_progress_on_a_terminal_draws_one_full_bar_per_epoch(fake_tqdm, monkeypatch, verbose):
    X, y = _data()
    monkeypatch.setattr(sys, "stderr", _Terminal())
    MLPClassifier((8,), max_iter=3, progress=True, verbose=verbose).fit(X, y)
    assert [bar.kwargs["desc"] for bar in fake_tqdm.made] == ["epoch 1", "epoch 2", "epoch 3"]
    assert all(bar.count == bar.total == len(X) and bar.closed for bar in fake_tqdm.made)


@quiet
def test_progress_off_a_terminal_prints_finished_epochs_not_bars(fake_tqdm, capsys):
    """stderr redirected: a bar cannot be redrawn, so no bar is started (it would print its 0%
    state every epoch); progress=True prints one line per finished epoch instead, and nothing
    with verbose, which prints its own line per epoch."""
    X, y = _data()
    MLPClassifier((8,), max_iter=3, progress=True).fit(X, y)
    err = capsys.readouterr().err.splitlines()
    assert [line.split(":")[0] for line in err] == ["epoch 1", "epoch 2", "epoch 3"]
    assert all(" %d samples in " % len(X) in line for line in err)
    MLPClassifier((8,), max_iter=3, progress=True, verbose=True).fit(X, y)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out.count("Iteration") == 3
    assert fake_tqdm.made == []


@quiet
def test_progress_with_real_tqdm_off_a_terminal_prints_no_stuck_bar(capfd):
    pytest.importorskip("tqdm")
    X, y = _data()
    MLPClassifier((8,), max_iter=3, progress=True, verbose=True).fit(X, y)
    captured = capfd.readouterr()
    assert "%" not in captured.err and "|" not in captured.err
    assert captured.out.count("Iteration") == 3


@quiet
def test_ctrl_c_stops_inside_an_epoch_and_leaves_a_usable_model():
    """An interrupt raised while an epoch runs lands between two calls into the C core: fit
    returns with a warning, the interrupted epoch is not counted, and the weights are those
    of the last whole batch: different from the end of the last whole epoch."""
    rng = np.random.RandomState(0)
    X = rng.randn(200_000, 40)
    y = (X[:, 0] > 0).astype(int)
    snapshots = []

    timers = []
    started = []  # set when fit starts: the setup's partial_fit records nothing

    def keep(estimator, figures):
        if not started:
            return
        snapshots.append(estimator._params.copy())
        if len(snapshots) == 1:
            # half an epoch after the first one ended: the interrupt lands inside the second
            # epoch, never at an epoch's boundary, whatever the machine's speed
            timer = threading.Timer((time.perf_counter() - started[0]) / 2, _thread.interrupt_main)
            timers.append(timer)
            timer.start()

    model = MLPRegressor(
        hidden_layer_sizes=(128,), batch_size=16, max_iter=1000, random_state=0,
        callbacks=[keep],
    )
    model.partial_fit(X[:100], y[:100])  # set up, so the timer does not hit the validation
    model.set_params(warm_start=True)
    # Python's own SIGINT handler, whatever the test runner inherited: a shell starts
    # background jobs (`pytest &`, nohup) with SIGINT ignored, and interrupt_main() then does
    # nothing.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.warns(UserWarning, match="interrupted"):
            started.append(time.perf_counter())
            model.fit(X, y)
    finally:
        for timer in timers:
            timer.cancel()
            timer.join()
        signal.signal(signal.SIGINT, previous)
    assert model.n_iter_ == 1  # the first epoch whole, the second interrupted
    assert model.t_ == 100 + model.n_iter_ * X.shape[0]
    assert len(snapshots) == 1
    assert not np.array_equal(model._params, snapshots[0])
    assert np.isfinite(model._params).all()
    assert np.isfinite(model.predict(X[:10])).all()
