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
