"""What fit and partial_fit skip per call must not change what they do: the re-seeded random
generator gives the draws and the state a new one would, and the shortcut of input validation
for plain ndarrays gives scikit-learn's results, errors and warnings."""

import pickle
import re
import warnings

import numpy as np
import pytest
from sklearn.exceptions import DataConversionWarning
from sklearn.utils.validation import check_X_y

from fastmlp import MLPClassifier, MLPRegressor


def _data(n=300, d=6, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(dtype)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1)
    return X, y


def _generator_state(est):
    state = est._random_state.get_state(legacy=False)["state"]
    return int(state["pos"]), state["key"].copy()


@pytest.mark.parametrize("shuffle", [True, False])
def test_reseeded_generator_matches_a_new_one(shuffle):
    """An estimator that re-seeds its generator in place and one rebuilt from a pickle before
    every call (a new generator each time) train the same bits and keep the same generator
    state, through fit, partial_fit, warm start and a change of random_state."""
    X, y = _data()
    classes = np.unique(y)
    a = MLPClassifier(hidden_layer_sizes=(7,), max_iter=3, random_state=3, shuffle=shuffle,
                      batch_size=32)
    b = pickle.loads(pickle.dumps(a))
    steps = [
        ("partial_fit", {}), ("partial_fit", {}), ("fit", {}), ("partial_fit", {}),
        ("set", {"random_state": 11}), ("partial_fit", {}), ("partial_fit", {}),
        ("set", {"warm_start": True}), ("fit", {}), ("partial_fit", {}),
        ("set", {"random_state": np.int64(5)}), ("partial_fit", {}), ("partial_fit", {}),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for what, params in steps:
            if what == "set":
                a.set_params(**params)
                b.set_params(**params)
                continue
            b = pickle.loads(pickle.dumps(b))  # its generator is a new one at every call
            kwargs = {"classes": classes} if what == "partial_fit" else {}
            getattr(a, what)(X, y, **kwargs)
            getattr(b, what)(X, y, **kwargs)
            for ca, cb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
                assert ca.tobytes() == cb.tobytes()
            pos_a, key_a = _generator_state(a)
            pos_b, key_b = _generator_state(b)
            assert pos_a == pos_b and np.array_equal(key_a, key_b)
    # the state a fresh generator has after the draws of one shuffled partial_fit
    if shuffle:
        fresh = np.random.RandomState(5)
        fresh.randint(0, 2**62, dtype=np.int64)
        assert _generator_state(a)[0] == fresh.get_state(legacy=False)["state"]["pos"]
        assert np.array_equal(_generator_state(a)[1],
                              fresh.get_state(legacy=False)["state"]["key"])


def test_a_given_generator_is_never_reseeded():
    """A RandomState passed as random_state is used, never re-seeded: setting an integer later
    leaves it as the user's last draws left it."""
    X, y = _data()
    user = np.random.RandomState(123)
    est = MLPClassifier(hidden_layer_sizes=(5,), random_state=user, batch_size=50)
    est.partial_fit(X, y, classes=np.unique(y))
    assert est._random_state is user
    before = user.get_state(legacy=False)["state"]["key"].copy()
    est.set_params(random_state=0)
    est.partial_fit(X, y)
    est.partial_fit(X, y)
    assert est._random_state is not user
    assert np.array_equal(user.get_state(legacy=False)["state"]["key"], before)


def test_copies_keep_their_own_generator():
    """A pickled or deep-copied estimator builds its own generator: training it leaves the
    original's generator alone."""
    import copy

    X, y = _data()
    est = MLPClassifier(hidden_layer_sizes=(5,), random_state=0, batch_size=50)
    est.partial_fit(X, y, classes=np.unique(y))
    est.partial_fit(X, y)
    generator = est._random_state
    for other in (copy.deepcopy(est), pickle.loads(pickle.dumps(est))):
        other.partial_fit(X, y)
        assert other._random_state is not generator
    assert est._random_state is generator


def _sklearn_error(estimator, X, y, **kwargs):
    with pytest.raises(Exception) as info:
        check_X_y(X, y, accept_sparse=["csr", "csc"], multi_output=True,
                  dtype=(np.float64, np.float32), ensure_all_finite=False,
                  estimator=estimator, **kwargs)
    return info.type, str(info.value)


@pytest.mark.parametrize("make_y", [
    lambda n: np.r_[np.nan, np.zeros(n - 1)],
    lambda n: np.r_[np.zeros(n - 1), np.inf],
    lambda n: np.zeros((n, 0)),
    lambda n: np.zeros((n, 1, 1)),
    lambda n: np.zeros(n + 1),
])
def test_regressor_targets_refused_as_scikit_learn_does(make_y):
    X, _ = _data(n=20)
    y = make_y(20)
    est = MLPRegressor(hidden_layer_sizes=(3,), max_iter=2)
    kind, message = _sklearn_error(est, X, y, y_numeric=True)
    with pytest.raises(kind, match=re.escape(message)):
        est.fit(X, y)
    with pytest.raises(kind, match=re.escape(message)):
        est.partial_fit(X, y)


@pytest.mark.parametrize("make_X", [
    lambda: np.zeros((0, 4), np.float32),
    lambda: np.zeros((5, 0)),
    lambda: np.zeros((5, 2, 2)),
    lambda: np.zeros(5),
])
def test_bad_X_refused_as_scikit_learn_does(make_X):
    X = make_X()
    y = np.zeros(X.shape[0], dtype=np.int64)
    est = MLPClassifier(max_iter=2)
    kind, message = _sklearn_error(est, X, y)
    with pytest.raises(kind, match=re.escape(message)):
        est.fit(X, y)


def test_column_targets_warn_as_scikit_learn_does():
    X, y = _data(n=40)
    for est in (MLPClassifier(hidden_layer_sizes=(3,), max_iter=2),
                MLPRegressor(hidden_layer_sizes=(3,), max_iter=2)):
        target = y.reshape(-1, 1) if isinstance(est, MLPClassifier) else y.reshape(-1, 1) * 0.5
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            est.fit(X, target)
        assert any(issubclass(w.category, DataConversionWarning)
                   and "column-vector y was passed" in str(w.message) for w in caught)


def test_feature_count_and_names_still_checked():
    X, y = _data(n=40)
    est = MLPClassifier(hidden_layer_sizes=(3,), max_iter=2)
    est.partial_fit(X, y, classes=np.unique(y))
    with pytest.raises(ValueError, match="X has 5 features, but MLPClassifier is expecting 6"):
        est.partial_fit(X[:, :5], y)
    pd = pytest.importorskip("pandas")
    named = MLPClassifier(hidden_layer_sizes=(3,), max_iter=2)
    frame = pd.DataFrame(X, columns=["f%d" % i for i in range(6)])
    named.partial_fit(frame, y, classes=np.unique(y))
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        named.partial_fit(X, y)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ndarray_and_list_input_train_alike(dtype):
    """The ndarray shortcut and check_array's path (a list) give the same bits."""
    X, y = _data(dtype=dtype)
    a = MLPRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
    b = MLPRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
    target = y.astype(np.float64) * 0.25
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a.fit(X, target)
        b.fit(X.tolist(), target.tolist())
    assert a.coefs_[0].dtype == (np.float32 if dtype == np.float32 else np.float64)
    if dtype == np.float64:
        for ca, cb in zip(a.coefs_, b.coefs_):
            assert ca.tobytes() == cb.tobytes()


# ---------------------------------------------------------------------- X's deferred check
# A call that continues a model on a C-contiguous float X may leave X's finiteness check to the
# first epoch's batches: a NaN or infinity found there undoes everything the call did, and X is
# refused with scikit-learn's error, exactly as when X is checked before training.


def _expected_message(est, X):
    from sklearn.utils import assert_all_finite

    with pytest.raises(ValueError) as info:
        assert_all_finite(X, input_name="X", estimator_name=type(est).__name__)
    return str(info.value)


def _snapshot(est):
    """Everything pickling keeps of the estimator, and its fitted arrays' bytes."""
    return pickle.dumps(est), [a.tobytes() for a in est.coefs_ + est.intercepts_]


def _count_separate_checks(monkeypatch):
    from fastmlp import _core

    calls = []
    original = _core.all_finite

    def counting(X):
        calls.append(X.shape)
        return original(X)

    monkeypatch.setattr(_core, "all_finite", counting)
    return calls


N_ROWS, BATCH = 1000, 100


def _bad_rows():
    # first batch, a middle batch, the last row (last batch)
    return [0, 437, N_ROWS - 1]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("how", ["partial_fit", "warm_fit"])
def test_non_finite_X_leaves_the_model_unchanged(dtype, shuffle, bad, how, monkeypatch):
    X, y = _data(n=N_ROWS, d=8, dtype=dtype)
    classes = np.unique(y)
    est = MLPClassifier(hidden_layer_sizes=(6,), random_state=1, batch_size=BATCH,
                        shuffle=shuffle, max_iter=3, warm_start=how == "warm_fit")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.partial_fit(X, y, classes=classes)
        est.partial_fit(X, y)
        if how == "warm_fit":
            est.fit(X, y)
    calls = _count_separate_checks(monkeypatch)
    for row in _bad_rows():
        before = _snapshot(est)
        generator = est._random_state
        Xb = X.copy()
        Xb[row, row % 8] = bad
        with pytest.raises(ValueError) as info:
            if how == "partial_fit":
                est.partial_fit(Xb, y)
            else:
                est.fit(Xb, y)
        assert str(info.value) == _expected_message(est, Xb)
        assert info.type is ValueError
        assert _snapshot(est) == before
        assert est._random_state is generator
    # and the model goes on as if the refused calls had not happened
    twin = pickle.loads(pickle.dumps(est))
    calls.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for model in (est, twin):
            if how == "partial_fit":
                model.partial_fit(X, y)
            else:
                model.fit(X, y)
    # the check was deferred: no separate pass over X (the C core found the values above)
    assert calls == []
    for a, b in zip(est.coefs_ + est.intercepts_, twin.coefs_ + twin.intercepts_):
        assert a.tobytes() == b.tobytes()
    assert est.n_iter_ == twin.n_iter_ and est.t_ == twin.t_
    assert est.loss_curve_ == twin.loss_curve_


def test_deferred_and_separate_checks_train_the_same(monkeypatch):
    """A finite X trains the same bits whether its check is deferred or separate."""
    X, y = _data(n=N_ROWS, d=8)
    runs = []
    for defer in (True, False):
        est = MLPClassifier(hidden_layer_sizes=(6,), random_state=2, batch_size=BATCH)
        if not defer:
            monkeypatch.setattr(type(est), "_can_defer_finite_check",
                                lambda self, *a: False)
        for _ in range(4):
            est.partial_fit(X, y, classes=np.unique(y))
        runs.append(_snapshot(est)[1] + [pickle.dumps(est.loss_curve_)])
        monkeypatch.undo()
    assert runs[0] == runs[1]


@pytest.mark.parametrize("bad_row", _bad_rows())
def test_non_finite_X_with_early_stopping_split(bad_row):
    """Early stopping's validation rows are not read by training: X is checked first there,
    a NaN in either split refused before anything changes."""
    X, y = _data(n=N_ROWS, d=8)
    est = MLPClassifier(hidden_layer_sizes=(6,), random_state=1, batch_size=BATCH,
                        early_stopping=True, warm_start=True, max_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    before = _snapshot(est)
    Xb = X.copy()
    Xb[bad_row, 2] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        est.fit(Xb, y)
    assert _snapshot(est) == before


def test_non_finite_X_regressor_and_doubly_bad_input():
    """The regressor defers too; a call whose X is not finite and whose other input is bad as
    well reports X, as the check before training did, and changes nothing."""
    X, y = _data(n=N_ROWS, d=8, dtype=np.float64)
    reg = MLPRegressor(hidden_layer_sizes=(5,), random_state=0, batch_size=BATCH)
    target = y * 0.5
    reg.partial_fit(X, target)
    before = _snapshot(reg)
    Xb = X.copy()
    Xb[N_ROWS // 2, 0] = np.inf
    with pytest.raises(ValueError, match=re.escape(_expected_message(reg, Xb))):
        reg.partial_fit(Xb, target)
    assert _snapshot(reg) == before
    with pytest.raises(ValueError, match=re.escape(_expected_message(reg, Xb))):
        reg.partial_fit(Xb, target, sample_weight=np.ones(3))  # wrong length as well
    assert _snapshot(reg) == before

    clf = MLPClassifier(hidden_layer_sizes=(5,), random_state=0, batch_size=BATCH)
    clf.partial_fit(X, y, classes=np.unique(y))
    before = _snapshot(clf)
    Xb[0, 0] = np.nan
    unseen = y.copy()
    unseen[5] = 99  # a class not in classes_
    with pytest.raises(ValueError, match=re.escape(_expected_message(clf, Xb))):
        clf.partial_fit(Xb, unseen)
    assert _snapshot(clf) == before
    # with X finite, the other error as before
    with pytest.raises(ValueError, match="has classes not in"):
        clf.partial_fit(X, unseen)


def test_large_model_on_little_data_checks_first(monkeypatch):
    """Where copying the parameters and optimizer state would cost more than reading X, X is
    checked first; the outcome is the same."""
    X, y = _data(n=40, d=8)
    est = MLPClassifier(hidden_layer_sizes=(64,), random_state=0, batch_size=10)
    est.partial_fit(X, y, classes=np.unique(y))
    calls = _count_separate_checks(monkeypatch)
    before = _snapshot(est)
    Xb = X.copy()
    Xb[20, 1] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        est.partial_fit(Xb, y)
    assert calls  # the separate check ran
    assert _snapshot(est) == before
