"""Dask input on a real cluster: a LocalCluster of two worker processes on loopback.

lbfgs on chunked data against the in-memory fit (final loss), the stochastic solvers against
the in-memory fit (bitwise without shuffling, accuracy with it), predict / predict_proba as dask
arrays equal to in-memory predictions, score, dask DataFrames, a Client connected by the
scheduler's tcp:// address, the in-process scheduler, dask-ml's Incremental and
HyperbandSearchCV against the same partial_fit calls in memory, and scikit-learn's GridSearchCV
under joblib's dask backend against n_jobs=1.
"""

import sys
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from conftest import reference_library
from fastmlp import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

CHUNK = 700


@pytest.fixture(scope="module")
def dask_modules():
    dask = reference_library("dask")
    reference_library("distributed")
    import dask.array as da

    return dask, da


@pytest.fixture(scope="module")
def cluster(dask_modules):
    from distributed import Client, LocalCluster

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None)
    client = Client(cluster)
    yield cluster
    client.close()
    cluster.close()


def classification_data(n=4200, n_features=8, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, n_features)
    score = X[:, 0] + X[:, 1] ** 2 - 0.5 * X[:, 2] * X[:, 3]
    y = np.digitize(score, [-0.3, 1.0])  # three classes
    return X, y


def chunked(da, array, chunk=CHUNK):
    return da.from_array(array, chunks=(chunk,) + array.shape[1:]).persist()


# ---------------------------------------------------------------------- lbfgs


# float32 sums round differently when added by chunks: after ~10 iterations L-BFGS's path
# separates from the in-memory one as far as float32's does from float64's (1e-2 at 40
# iterations on this problem, either way); float64 keeps to 1e-6 over the whole fit
@pytest.mark.parametrize("dtype, max_iter", [(np.float64, 40), (np.float32, 5)])
def test_lbfgs_matches_in_memory_fit(cluster, dask_modules, dtype, max_iter):
    _, da = dask_modules
    X, y = classification_data()
    X = X.astype(dtype)
    weights = np.random.RandomState(1).uniform(0.5, 2.0, len(y))
    options = dict(hidden_layer_sizes=(12,), solver="lbfgs", max_iter=max_iter, alpha=1e-3,
                   alpha_l1=1e-4, random_state=0)
    memory = MLPClassifier(**options).fit(X, y, sample_weight=weights)
    on_dask = MLPClassifier(**options).fit(chunked(da, X), chunked(da, y),
                                           sample_weight=chunked(da, weights))
    assert on_dask.n_iter_ == memory.n_iter_
    assert abs(on_dask.loss_ - memory.loss_) <= 1e-6 * memory.loss_
    assert on_dask.coefs_[0].dtype == dtype
    assert list(on_dask.classes_) == [0, 1, 2]


def test_lbfgs_regressor_two_outputs_and_deterministic(cluster, dask_modules):
    _, da = dask_modules
    X, _ = classification_data(n=3000)
    Y = np.column_stack([X[:, 0] - X[:, 1] * X[:, 2], np.tanh(X[:, 3])])
    options = dict(hidden_layer_sizes=(10,), solver="lbfgs", max_iter=30, random_state=0)
    memory = MLPRegressor(**options).fit(X, Y)
    first = MLPRegressor(**options).fit(chunked(da, X, 600), chunked(da, Y, 600))
    second = MLPRegressor(**options).fit(chunked(da, X, 600), Y)  # y in memory, cut to X's chunks
    assert abs(first.loss_ - memory.loss_) <= 1e-6 * memory.loss_
    # the same chunking gives the same bits, whichever worker computed which chunk
    for a, b in zip(first.coefs_ + first.intercepts_, second.coefs_ + second.intercepts_):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("class_weight", ["balanced", {0: 2.0, 2: 0.5}])
def test_lbfgs_class_weight_matches_in_memory_fit(cluster, dask_modules, class_weight):
    _, da = dask_modules
    X, y = classification_data(n=2100)
    options = dict(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=20, random_state=0,
                   class_weight=class_weight)
    memory = MLPClassifier(**options).fit(X, y)
    on_dask = MLPClassifier(**options).fit(chunked(da, X), chunked(da, y))
    assert abs(on_dask.loss_ - memory.loss_) <= 1e-6 * memory.loss_


def test_margin_loss_and_decision_function(cluster, dask_modules):
    _, da = dask_modules
    X, y = classification_data(n=2100)
    y = (y > 0).astype(int)  # two classes: two score columns, one decision value
    options = dict(hidden_layer_sizes=(8,), solver="lbfgs", loss="hinge", max_iter=15,
                   random_state=0)
    memory = MLPClassifier(**options).fit(X, y)
    on_dask = MLPClassifier(**options).fit(chunked(da, X), chunked(da, y))
    assert abs(on_dask.loss_ - memory.loss_) <= 1e-6 * memory.loss_
    scores = on_dask.decision_function(chunked(da, X))
    assert isinstance(scores, da.Array) and scores.shape == (len(y),)
    np.testing.assert_array_equal(scores.compute(), on_dask.decision_function(X))


def test_in_process_scheduler_gives_the_cluster_result(cluster, dask_modules):
    dask, da = dask_modules
    X, y = classification_data(n=2100)
    options = dict(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=15, random_state=0)
    on_cluster = MLPClassifier(**options).fit(chunked(da, X), chunked(da, y))
    with dask.config.set(scheduler="threads"):
        in_process = MLPClassifier(**options).fit(da.from_array(X, chunks=(CHUNK, 8)),
                                                  da.from_array(y, chunks=CHUNK))
    np.testing.assert_array_equal(on_cluster.coefs_[0], in_process.coefs_[0])
    assert on_cluster.loss_ == in_process.loss_


def test_client_connected_by_address(cluster, dask_modules):
    from distributed import Client

    _, da = dask_modules
    X, y = classification_data(n=2100)
    options = dict(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=10, random_state=0)
    expected = MLPClassifier(**options).fit(chunked(da, X), chunked(da, y))
    assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
    with Client(cluster.scheduler_address) as client:
        Xd = da.from_array(X, chunks=(CHUNK, 8))
        yd = da.from_array(y, chunks=CHUNK)
        model = MLPClassifier(**options).fit(Xd, yd)
        proba = model.predict_proba(Xd).compute()
        assert client.scheduler_info()["address"] == cluster.scheduler_address
    np.testing.assert_array_equal(model.coefs_[0], expected.coefs_[0])
    np.testing.assert_array_equal(proba, expected.predict_proba(X))


# ---------------------------------------------------------------------- stochastic solvers


@pytest.mark.parametrize("chunk", [700, 333])
def test_stochastic_without_shuffle_is_the_in_memory_fit(cluster, dask_modules, chunk):
    # chunk order is row order and rows left at a chunk's end open the next chunk's first
    # batch: the batches are those of the in-memory fit, so are the bits
    _, da = dask_modules
    X, y = classification_data(n=2500)
    options = dict(hidden_layer_sizes=(10,), solver="adam", shuffle=False, max_iter=3,
                   batch_size=64, random_state=0)
    memory = MLPClassifier(**options).fit(X, y)
    on_dask = MLPClassifier(**options).fit(chunked(da, X, chunk), chunked(da, y, chunk))
    for a, b in zip(memory.coefs_ + memory.intercepts_, on_dask.coefs_ + on_dask.intercepts_):
        np.testing.assert_array_equal(a, b)
    assert on_dask.loss_curve_ == memory.loss_curve_
    assert on_dask.t_ == memory.t_
    assert on_dask.history_["score"] == pytest.approx(memory.history_["score"], rel=1e-12)


def test_stochastic_with_shuffle_matches_in_memory_accuracy(cluster, dask_modules):
    _, da = dask_modules
    X, y = classification_data()
    X_test, y_test = classification_data(n=2000, seed=5)
    options = dict(hidden_layer_sizes=(32,), max_iter=15, random_state=0)
    memory = MLPClassifier(**options).fit(X, y)
    Xd, yd = chunked(da, X), chunked(da, y)
    first = MLPClassifier(**options).fit(Xd, yd)
    second = MLPClassifier(**options).fit(Xd, yd)
    assert abs(first.score(X_test, y_test) - memory.score(X_test, y_test)) <= 0.02
    assert first.score(X_test, y_test) > 0.75
    np.testing.assert_array_equal(first.coefs_[0], second.coefs_[0])  # deterministic
    # a different chunk order: a different (as good) model
    other = MLPClassifier(**dict(options, random_state=1)).fit(Xd, yd)
    assert not np.array_equal(other.coefs_[0], first.coefs_[0])


def test_partial_fit_on_dask_is_one_epoch(cluster, dask_modules):
    _, da = dask_modules
    X, y = classification_data(n=2100)
    Xd, yd = chunked(da, X), chunked(da, y)
    options = dict(hidden_layer_sizes=(8,), random_state=0, batch_size=50)
    fitted = MLPClassifier(**options, max_iter=1).fit(Xd, yd)
    partial = MLPClassifier(**options).partial_fit(Xd, yd, classes=[0, 1, 2])
    np.testing.assert_array_equal(fitted.coefs_[1], partial.coefs_[1])
    assert partial.n_iter_ == 1 and partial.t_ == len(y)
    partial.partial_fit(Xd, yd)
    assert partial.t_ == 2 * len(y)
    with pytest.raises(ValueError, match="classes not in"):
        partial.partial_fit(Xd, yd + 5)


def test_early_stopping_validates_on_chunks(cluster, dask_modules):
    _, da = dask_modules
    X, y = classification_data()
    X_test, y_test = classification_data(n=2000, seed=5)
    model = MLPClassifier(hidden_layer_sizes=(32,), early_stopping=True, max_iter=40,
                          n_iter_no_change=3, random_state=0)
    model.fit(chunked(da, X), chunked(da, y))
    assert len(model.validation_scores_) == model.n_iter_
    assert model.best_validation_score_ == max(model.validation_scores_)
    assert model.score(X_test, y_test) > 0.85
    # validation rows: ceil(0.1 * 700) of each chunk; the training rows the rest
    assert model.t_ == model.n_iter_ * (len(y) - 6 * 70)
    assert np.isfinite(model.history_["val_loss"]).all()


def test_early_stopping_regressor_scores_r2_on_chunks(cluster, dask_modules):
    _, da = dask_modules
    X, _ = classification_data(n=2800)
    target = X[:, 0] - 0.5 * X[:, 1]
    model = MLPRegressor(hidden_layer_sizes=(16,), early_stopping=True, max_iter=20,
                         random_state=0)
    model.fit(chunked(da, X), chunked(da, target))
    assert model.best_validation_score_ > 0.85
    assert model.score(X, target) > 0.85


# ---------------------------------------------------------------------- predict and score


def test_predict_returns_dask_arrays_equal_to_in_memory(cluster, dask_modules):
    _, da = dask_modules
    X, y = classification_data(n=2100)
    model = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(X, y)
    Xd = chunked(da, X)
    labels = model.predict(Xd)
    proba = model.predict_proba(Xd)
    log_proba = model.predict_log_proba(Xd)
    assert isinstance(labels, da.Array) and isinstance(proba, da.Array)
    assert labels.chunks == (Xd.chunks[0],)
    assert proba.chunks == (Xd.chunks[0], (3,))
    np.testing.assert_array_equal(labels.compute(), model.predict(X))
    np.testing.assert_array_equal(proba.compute(), model.predict_proba(X))
    np.testing.assert_array_equal(log_proba.compute(), model.predict_log_proba(X))
    yd = chunked(da, y)
    assert model.score(Xd, yd) == pytest.approx(model.score(X, y), abs=1e-12)
    weights = np.random.RandomState(0).uniform(0, 1, len(y))
    assert model.score(Xd, yd, sample_weight=weights) == pytest.approx(
        model.score(X, y, sample_weight=weights), abs=1e-12)


def test_regressor_predict_and_score(cluster, dask_modules):
    _, da = dask_modules
    X, _ = classification_data(n=2100)
    Y = np.column_stack([X[:, 0], X[:, 1] * X[:, 2]])
    model = MLPRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(X, Y)
    Xd = chunked(da, X)
    prediction = model.predict(Xd)
    np.testing.assert_array_equal(prediction.compute(), model.predict(X))
    assert model.score(Xd, chunked(da, Y)) == pytest.approx(model.score(X, Y), rel=1e-10)


def test_dask_dataframe_input(cluster, dask_modules):
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    X, y = classification_data(n=2100)
    frame = pd.DataFrame(X, columns=["f%d" % i for i in range(X.shape[1])])
    frame["label"] = y
    ddf = dd.from_pandas(frame, npartitions=3)
    features = ddf[["f%d" % i for i in range(X.shape[1])]]
    options = dict(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=15, random_state=0)
    model = MLPClassifier(**options).fit(features, ddf["label"])
    memory = MLPClassifier(**options).fit(frame.drop(columns="label"), y)
    assert list(model.feature_names_in_) == list(memory.feature_names_in_)
    assert abs(model.loss_ - memory.loss_) <= 1e-6 * memory.loss_
    np.testing.assert_array_equal(model.predict(features).compute(), model.predict(X))
    assert model.score(features, ddf["label"]) == pytest.approx(memory.score(frame.drop(
        columns="label"), y), abs=0.01)


def test_bad_dask_input(cluster, dask_modules):
    _, da = dask_modules
    X, y = classification_data(n=1400)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        MLPClassifier(max_iter=1).fit(chunked(da, X), y[:-1])
    with pytest.raises(ValueError, match="2-dimensional"):
        MLPClassifier(max_iter=1).fit(chunked(da, X.reshape(1400, 2, 4)), y)
    X_nan = X.copy()
    X_nan[900, 3] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        MLPClassifier(max_iter=1).fit(chunked(da, X_nan), y)
    with pytest.raises(ValueError, match="non-negative"):
        MLPRegressor(loss="poisson", max_iter=1).fit(chunked(da, X), chunked(da, X[:, 0]))
    model = MLPClassifier(max_iter=1, random_state=0).fit(chunked(da, X), y)
    with pytest.raises(ValueError, match="features"):
        model.partial_fit(chunked(da, X[:, :5]), y)


def test_unfitted_model_lists_its_attributes():
    # dask's tokenize (dask-ml's Incremental, HyperbandSearchCV) calls dir() on the estimator
    names = dir(MLPClassifier())
    assert "fit" in names and "_params" not in names


def test_missing_dask_gives_a_clear_import_error(monkeypatch):
    class Collection:  # what a dask collection looks like to fastmlp
        def __dask_graph__(self):
            return {}

    monkeypatch.setitem(sys.modules, "dask", None)
    with pytest.raises(ImportError, match=r"pip install 'fastmlp\[dask\]'"):
        MLPClassifier().fit(Collection(), [0, 1])


# ---------------------------------------------------------------------- dask-ml and joblib


class RecordingMLPClassifier(MLPClassifier):
    """MLPClassifier keeping a copy of every block partial_fit was given (it travels with the
    model between workers), so that the same calls can be replayed in memory."""

    def partial_fit(self, X, y, sample_weight=None, classes=None):
        calls = self.__dict__.setdefault("recorded_calls", [])
        calls.append((np.array(X, copy=True), np.array(y, copy=True)))
        return super().partial_fit(X, y, sample_weight=sample_weight, classes=classes)


def replay_in_memory(recorded, classes, **params):
    model = MLPClassifier(**params)
    for X, y in recorded:
        model.partial_fit(X, y, classes=classes)
    return model


@pytest.fixture(scope="module")
def dask_ml(cluster):
    module = reference_library("dask_ml")
    import cloudpickle

    # the recording subclass is defined here: send it to the workers by value
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield module
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def test_incremental_equals_partial_fit_in_memory(cluster, dask_modules, dask_ml):
    from dask_ml.wrappers import Incremental

    _, da = dask_modules
    X, y = classification_data(n=2100)
    params = dict(hidden_layer_sizes=(8,), random_state=0)
    wrapper = Incremental(MLPClassifier(**params), shuffle_blocks=True, random_state=3)
    wrapper.fit(chunked(da, X), chunked(da, y), classes=[0, 1, 2])
    # Incremental's block order: check_random_state(random_state).shuffle(range(n_blocks))
    order = list(range(3))
    np.random.RandomState(3).shuffle(order)
    blocks = [(X[i * CHUNK:(i + 1) * CHUNK], y[i * CHUNK:(i + 1) * CHUNK]) for i in order]
    expected = replay_in_memory(blocks, [0, 1, 2], **params)
    for a, b in zip(wrapper.estimator_.coefs_, expected.coefs_):
        np.testing.assert_array_equal(a, b)
    assert isinstance(wrapper.predict(chunked(da, X)), da.Array)
    np.testing.assert_array_equal(wrapper.predict(chunked(da, X)).compute(), expected.predict(X))


def _dask_ml_version():
    try:
        from importlib.metadata import version

        return tuple(int(part) for part in version("dask-ml").split(".")[:3])
    except Exception:
        return None


# dask-ml 2025.1.0 (its latest release) cannot run its incremental searches on current dask:
# with dask >= 2025.3 they call dask.persist inside the client's event loop ("RuntimeError:
# Attempting to use an asynchronous Client in a synchronous context of `dask.compute`",
# https://github.com/dask/dask-ml/issues/1016, open); with dask 2025.2 and numpy 2 their
# train_test_split fails ("TypeError: only integer scalar arrays can be converted to a scalar
# index"). strict: a dask-ml release that runs it makes this test fail until the mark goes.
@pytest.mark.xfail(_dask_ml_version() is not None and _dask_ml_version() <= (2025, 1, 0),
                   raises=(RuntimeError, TypeError), strict=True,
                   reason="dask-ml <= 2025.1.0's HyperbandSearchCV fails on dask >= 2025.3 "
                          "(dask/dask-ml#1016) and with numpy 2 on earlier dask")
def test_hyperband_search_equals_partial_fit_in_memory(cluster, dask_modules, dask_ml):
    from dask_ml.model_selection import HyperbandSearchCV

    _, da = dask_modules
    X, y = classification_data(n=2800)
    grid = {"hidden_layer_sizes": [(8,), (16,)], "alpha": [1e-4, 1e-2],
            "learning_rate_init": [1e-3, 1e-2]}
    search = HyperbandSearchCV(RecordingMLPClassifier(random_state=0), grid, max_iter=9,
                               random_state=0, test_size=0.25)
    search.fit(chunked(da, X, 350), chunked(da, y, 350), classes=[0, 1, 2])
    best = search.best_estimator_
    recorded = best.__dict__["recorded_calls"]
    assert len(recorded) == best.n_iter_ >= 1
    expected = replay_in_memory(recorded, [0, 1, 2], **best.get_params())
    for a, b in zip(best.coefs_ + best.intercepts_, expected.coefs_ + expected.intercepts_):
        np.testing.assert_array_equal(a, b)
    assert search.best_score_ > 0.5


def test_grid_search_on_the_joblib_dask_backend(cluster):
    import joblib
    from sklearn.model_selection import GridSearchCV

    X, y = classification_data(n=1200)
    grid = {"hidden_layer_sizes": [(8,), (16,)], "alpha": [1e-4, 1e-1]}
    estimator = MLPClassifier(max_iter=30, random_state=0)
    serial = GridSearchCV(estimator, grid, cv=3, n_jobs=1).fit(X, y)
    with joblib.parallel_backend("dask"):
        on_dask = GridSearchCV(estimator, grid, cv=3, n_jobs=-1).fit(X, y)
    assert on_dask.best_score_ == serial.best_score_
    assert on_dask.best_params_ == serial.best_params_
    np.testing.assert_array_equal(on_dask.cv_results_["mean_test_score"],
                                  serial.cv_results_["mean_test_score"])


def test_convergence_warning_kept(cluster, dask_modules):
    _, da = dask_modules
    X, y = classification_data(n=1400)
    with pytest.warns(ConvergenceWarning):
        MLPClassifier(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=2,
                      random_state=0).fit(chunked(da, X), chunked(da, y))
