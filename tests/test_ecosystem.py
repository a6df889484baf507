"""fastmlp estimators inside scikit-learn's tooling: pipelines, model selection in worker
processes, cloning, pandas output and feature names, and threadpoolctl's thread limits."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.neural_network import MLPClassifier as RefMLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_info, threadpool_limits

from fastmlp import MLPClassifier, MLPRegressor, _core

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

SMALL = dict(hidden_layer_sizes=(8,), max_iter=20, random_state=0)


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 4)) * [1.0, 10.0, 100.0, 0.1] + [0.0, 5.0, -50.0, 1.0]
    y_clf = (X[:, 0] + X[:, 1] / 10 > 0.5).astype(int) + (X[:, 2] > -50)
    y_reg = X @ [1.0, 0.1, 0.01, 10.0]
    return X, y_clf, y_reg


def test_pipeline_with_scaler_equals_the_steps_by_hand(data):
    X, y, _ = data
    params = dict(SMALL, solver="lbfgs", max_iter=100)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(**params)).fit(X, y)
    scaler = StandardScaler().fit(X)
    by_hand = MLPClassifier(**params).fit(scaler.transform(X), y)
    assert np.array_equal(pipe.predict_proba(X), by_hand.predict_proba(scaler.transform(X)))
    assert pipe.score(X, y) == by_hand.score(scaler.transform(X), y)
    assert pipe.score(X, y) > 0.8


def test_grid_search_in_worker_processes_matches_sequential(data):
    X, y, _ = data
    grid = {"hidden_layer_sizes": [(4,), (8,)], "alpha": [1e-4, 1e-1]}
    searches = [
        GridSearchCV(MLPClassifier(max_iter=15, random_state=0), grid, cv=3, n_jobs=n_jobs)
        for n_jobs in (1, 2)
    ]
    for search in searches:
        search.fit(X, y)
    sequential, parallel = searches
    assert sequential.best_params_ == parallel.best_params_
    # training is bitwise reproducible for any thread count, so are the scores
    for key in ("mean_test_score", "std_test_score", "rank_test_score"):
        assert np.array_equal(sequential.cv_results_[key], parallel.cv_results_[key])
    assert np.array_equal(
        sequential.best_estimator_._params, parallel.best_estimator_._params
    )


def test_cross_val_score_equals_a_loop_over_the_folds(data):
    X, _, y = data
    model = make_pipeline(StandardScaler(), MLPRegressor(**SMALL))
    cv = KFold(n_splits=3, shuffle=True, random_state=0)
    scores = cross_val_score(model, X, y, cv=cv)
    expected = [
        clone(model).fit(X[train], y[train]).score(X[test], y[test])
        for train, test in cv.split(X)
    ]
    assert np.array_equal(scores, expected)


def test_clone_gives_an_unfitted_copy_with_the_same_parameters(data):
    X, y, _ = data
    model = MLPClassifier(**SMALL, solver="sgd").fit(X, y)
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    assert not hasattr(copy, "coefs_")
    copy.fit(X, y)
    assert copy._params is not model._params
    assert np.array_equal(copy._params, model._params)


def test_pipeline_with_pandas_output(data):
    pd = pytest.importorskip("pandas")
    X, y, _ = data
    pipe = make_pipeline(StandardScaler(), MLPClassifier(**SMALL)).set_output(transform="pandas")
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    pipe.fit(frame, y)
    mlp = pipe[-1]
    # the scaler handed the MLP a DataFrame with the column names
    assert list(mlp.feature_names_in_) == ["a", "b", "c", "d"]
    # a DataFrame gives the same results as its values
    scaled = pipe[0].transform(frame)
    assert isinstance(scaled, pd.DataFrame)
    values = scaled.to_numpy()
    with pytest.warns(UserWarning, match="feature names"):
        from_values = mlp.predict_proba(values)
    assert np.array_equal(pipe.predict_proba(frame), from_values)
    by_hand = MLPClassifier(**SMALL).fit(values, y)
    assert np.array_equal(by_hand._params, mlp._params)
    # scikit-learn's scaler rounds a DataFrame's columns and an array's rows differently
    # (last bit), so the all-numpy pipeline agrees to rounding only
    plain = make_pipeline(StandardScaler(), MLPClassifier(**SMALL)).fit(X, y)
    np.testing.assert_allclose(pipe.predict_proba(frame), plain.predict_proba(X), rtol=1e-9)


def _outcome(callable_):
    """('ok', None), ('warning', message) or ('error', type, message) of a call."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            callable_()
        except Exception as exc:  # noqa: BLE001 - compared with scikit-learn's outcome
            return ("error", type(exc), str(exc).split("\n")[0])
    messages = [str(w.message) for w in caught if w.category is UserWarning]
    return ("warning", messages) if messages else ("ok", None)


@pytest.mark.parametrize(
    "fit_with, predict_with",
    [
        ("names", "names"),
        ("names", "array"),
        ("array", "names"),
        ("names", "renamed"),
        ("names", "reordered"),
        ("names", "fewer"),
    ],
)
def test_feature_names_behave_as_in_scikit_learn(fit_with, predict_with, data):
    pd = pytest.importorskip("pandas")
    X, y, _ = data
    columns = ["a", "b", "c", "d"]
    frames = {
        "names": pd.DataFrame(X, columns=columns),
        "array": X,
        "renamed": pd.DataFrame(X, columns=["a", "b", "c", "z"]),
        "reordered": pd.DataFrame(X, columns=columns)[["b", "a", "c", "d"]],
        "fewer": pd.DataFrame(X[:, :3], columns=columns[:3]),
    }
    outcomes = []
    for Est in (MLPClassifier, RefMLPClassifier):
        model = Est(**SMALL).fit(frames[fit_with], y)
        if fit_with == "names":
            assert list(model.feature_names_in_) == columns
        else:
            assert not hasattr(model, "feature_names_in_")
        outcome = _outcome(lambda: model.predict(frames[predict_with]))
        outcomes.append(outcome)
    ours, reference = outcomes
    # the estimator's own name appears in scikit-learn's messages: it is the same name here
    assert ours == reference
    if fit_with == predict_with:
        assert ours == ("ok", None)
    elif predict_with in ("renamed", "reordered"):
        assert ours[0] == "error" and ours[1] is ValueError and "feature names" in ours[2]
    elif fit_with != predict_with and "array" in (fit_with, predict_with):
        assert ours[0] == "warning" and "feature names" in ours[1][0]
    else:  # fewer columns
        assert ours[0] == "error" and ours[1] is ValueError


def test_threadpoolctl_limits_the_core_threads():
    if not _core.openmp_enabled():
        pytest.skip("serial build: the core always uses one thread")
    apis = {info["user_api"] for info in threadpool_info()}
    assert "openmp" in apis  # threadpoolctl sees the core's OpenMP runtime
    before = _core.max_threads()
    with threadpool_limits(1):
        assert _core.max_threads() == 1
    with threadpool_limits(limits=1, user_api="openmp"):
        assert _core.max_threads() == 1
    assert _core.max_threads() == before


def test_training_under_a_thread_limit_is_bitwise_the_same(data):
    X, y, _ = data
    free = MLPClassifier(**SMALL).fit(X, y)
    with threadpool_limits(1):
        limited = MLPClassifier(**SMALL).fit(X, y)
    assert np.array_equal(free._params, limited._params)


def test_loky_workers_limit_the_core_threads():
    """joblib's loky workers (GridSearchCV(n_jobs=k)) start with their OpenMP pools limited to
    cpu_count // k threads, which the C core honours: k workers do not oversubscribe."""
    import os

    from joblib import Parallel, delayed

    def core_threads():
        from fastmlp import _core

        return _core.max_threads()

    n_jobs = 2
    got = Parallel(n_jobs=n_jobs, backend="loky")(delayed(core_threads)() for _ in range(4))
    assert set(got) == {max(1, (os.cpu_count() or 1) // n_jobs)}, got


def test_fit_while_another_model_predicts():
    """One thread fits a model while another predicts with a second, fitted one: both give
    what they give alone (the C core keeps no shared mutable state)."""
    import threading

    from fastmlp import MLPClassifier

    rng = np.random.RandomState(0)
    X = rng.randn(3000, 20)
    y = (X[:, 0] > 0).astype(int)
    kw = dict(hidden_layer_sizes=(64,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        predictor = MLPClassifier(**kw).fit(X, y)
        expected_proba = predictor.predict_proba(X)
        expected_fit = MLPClassifier(**kw).fit(X, y)
    results = []

    def predict_many():
        for _ in range(20):
            results.append(predictor.predict_proba(X))

    thread = threading.Thread(target=predict_many)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        thread.start()
        fitted = MLPClassifier(**kw).fit(X, y)
        thread.join()
    assert fitted._params.tobytes() == expected_fit._params.tobytes()
    assert len(results) == 20
    assert all(r.tobytes() == expected_proba.tobytes() for r in results)
