"""fastmlp.Perceptron: the textbook rule (against a NumPy reimplementation written here),
scikit-learn's Perceptron, convergence on separable data, reproducibility, bad input and the
estimator API."""

import doctest
import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import Perceptron as RefPerceptron
from sklearn.utils.estimator_checks import parametrize_with_checks

import fastmlp
from fastmlp import Perceptron
from fastmlp import _perceptron


def _separable(n_samples=200, n_features=5, seed=0, margin=0.05, integer=False):
    """Binary data on both sides of a random hyperplane, no sample within margin of it."""
    rng = np.random.RandomState(seed)
    w = rng.normal(size=n_features)
    b = 0.3
    X = rng.randint(-5, 6, size=(4 * n_samples, n_features)).astype(float) if integer else (
        rng.uniform(-1, 1, size=(4 * n_samples, n_features))
    )
    score = X @ w + b
    keep = np.abs(score) / np.linalg.norm(w) > margin
    X, score = X[keep][:n_samples], score[keep][:n_samples]
    return X, np.where(score > 0, 1, 0)


def _blobs_on_circle(n_classes=4, n_per_class=40, n_features=3, seed=0):
    """Multiclass data that is one-vs-rest separable: tight clusters around points on a circle
    (every point of a circle is a vertex of the convex hull of the others)."""
    rng = np.random.RandomState(seed)
    angles = 2 * np.pi * np.arange(n_classes) / n_classes
    centers = np.zeros((n_classes, n_features))
    centers[:, 0], centers[:, 1] = 10 * np.cos(angles), 10 * np.sin(angles)
    X = np.concatenate([c + 0.5 * rng.normal(size=(n_per_class, n_features)) for c in centers])
    y = np.repeat(np.arange(n_classes), n_per_class)
    return X, y


def _noisy(n_samples=150, n_features=4, n_classes=2, seed=1):
    """Overlapping classes: not linearly separable."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n_samples, n_features))
    y = (X[:, 0] + 0.8 * rng.normal(size=n_samples) > 0).astype(int)
    if n_classes == 3:
        y = y + (X[:, 1] + 0.8 * rng.normal(size=n_samples) > 0.5)
    return X, y


def _reference_perceptron(X, y, eta0=1.0, max_iter=1000, fit_intercept=True, sample_weight=None):
    """The textbook rule in plain Python over NumPy rows, samples in order, one-vs-rest for more
    than two classes; stops a binary problem at its first epoch without an update."""
    classes = np.unique(y)
    positives = [classes[1]] if len(classes) == 2 else list(classes)
    sw = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    coef = np.zeros((len(positives), X.shape[1]))
    intercept = np.zeros(len(positives))
    epochs = 0
    for k, positive in enumerate(positives):
        signs = np.where(y == positive, 1.0, -1.0)
        w, b = coef[k], 0.0
        for epoch in range(1, max_iter + 1):
            updates = 0
            for i in range(len(y)):
                score = 0.0
                for j in range(X.shape[1]):  # left to right, as the rule is written
                    score += w[j] * X[i, j]
                score += b
                if signs[i] * score <= 0 and sw[i] > 0:
                    step = eta0 * signs[i] * sw[i]
                    w += X[i] * step
                    if fit_intercept:
                        b += step
                    updates += 1
            if updates == 0:
                break
        intercept[k] = b
        epochs = max(epochs, epoch)
    return coef, intercept, epochs


# --------------------------------------------------------------------------
# Convergence on linearly separable data
# --------------------------------------------------------------------------


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_zero_training_errors_binary(shuffle, fit_intercept):
    X, y = _separable(seed=3)
    if not fit_intercept:  # a separating hyperplane through 0 must exist
        X = np.hstack([X, np.ones((X.shape[0], 1))])
    clf = Perceptron(shuffle=shuffle, fit_intercept=fit_intercept, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf.fit(X, y)
    assert clf.n_iter_ < clf.max_iter
    assert clf.score(X, y) == 1.0
    assert clf.coef_.shape == (1, X.shape[1]) and clf.intercept_.shape == (1,)
    if not fit_intercept:
        assert clf.intercept_[0] == 0.0
    # every sample strictly on its own side
    margins = np.where(y == clf.classes_[1], 1, -1) * clf.decision_function(X)
    assert margins.min() > 0


@pytest.mark.parametrize("shuffle", [False, True])
def test_zero_training_errors_multiclass(shuffle):
    X, y = _blobs_on_circle(n_classes=5)
    labels = np.array(["a", "b", "c", "d", "e"])[y]
    clf = Perceptron(shuffle=shuffle, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf.fit(X, labels)
    assert clf.coef_.shape == (5, 3) and clf.intercept_.shape == (5,)
    assert_array_equal(clf.classes_, ["a", "b", "c", "d", "e"])
    assert_array_equal(clf.predict(X), labels)
    # one-vs-rest: each row separates its class from the others
    scores = clf.decision_function(X)
    assert np.all(np.sign(scores) == np.where(y[:, None] == np.arange(5), 1, -1))


def test_not_separable_warns_at_max_iter():
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([0, 1, 1, 0])  # XOR
    clf = Perceptron(max_iter=7, tol=None, shuffle=False)
    with pytest.warns(ConvergenceWarning, match="max_iter=7"):
        clf.fit(X, y)
    assert clf.n_iter_ == 7
    assert clf.t_ == 7 * 4 + 1


# --------------------------------------------------------------------------
# Against the textbook rule (NumPy, written above) and scikit-learn
# --------------------------------------------------------------------------


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("eta0", [1.0, 0.25])
def test_matches_textbook_rule_exactly_on_integer_data(fit_intercept, eta0):
    # Integer inputs and eta0 a power of two: every operation is exact, so any difference in
    # the sample order, the update condition or the bias handling changes the bits.
    X, y = _separable(n_samples=120, n_features=4, seed=5, integer=True)
    ref_coef, ref_intercept, ref_epochs = _reference_perceptron(
        X, y, eta0=eta0, fit_intercept=fit_intercept
    )
    clf = Perceptron(eta0=eta0, shuffle=False, tol=None, fit_intercept=fit_intercept)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # no intercept: may not converge
        clf.fit(X, y)
    assert_array_equal(clf.coef_, ref_coef)
    assert_array_equal(clf.intercept_, ref_intercept)
    assert clf.n_iter_ == ref_epochs


@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("weighted", [False, True])
def test_matches_textbook_rule_on_float_data(n_classes, weighted):
    if n_classes == 2:
        X, y = _separable(n_samples=150, n_features=6, seed=11)
    else:
        X, y = _blobs_on_circle(n_classes=n_classes, n_per_class=25)
    sw = np.random.RandomState(0).uniform(0.5, 2, size=len(y)) if weighted else None
    ref_coef, ref_intercept, ref_epochs = _reference_perceptron(X, y, eta0=0.7, sample_weight=sw)
    clf = Perceptron(eta0=0.7, shuffle=False, tol=None).fit(X, y, sample_weight=sw)
    # The same left-to-right sums: bitwise equal.
    assert_array_equal(clf.coef_, ref_coef)
    assert_array_equal(clf.intercept_, ref_intercept)
    assert clf.n_iter_ == ref_epochs


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize(
    "data", ["separable", "multiclass", "noisy", "noisy3"]
)
def test_matches_sklearn_without_shuffle(data, fit_intercept):
    # scikit-learn's Perceptron is SGD on the perceptron loss with a constant rate: with
    # penalty=None, shuffle=False and the same samples it makes the same updates in the same
    # order. With tol=None it always runs max_iter epochs; fastmlp stops at the first epoch
    # without a mistake, after which scikit-learn changes nothing, so the weights agree; on
    # data that is not separable both run max_iter epochs.
    X, y = {
        "separable": lambda: _separable(seed=2),
        "multiclass": lambda: _blobs_on_circle(),
        "noisy": lambda: _noisy(),
        "noisy3": lambda: _noisy(n_classes=3),
    }[data]()
    params = dict(eta0=0.5, max_iter=40, tol=None, shuffle=False, fit_intercept=fit_intercept)
    ref = RefPerceptron(penalty=None, **params).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = Perceptron(**params).fit(X, y)
    assert_array_equal(clf.coef_, ref.coef_)
    assert_array_equal(clf.intercept_, ref.intercept_)
    assert_array_equal(clf.predict(X), ref.predict(X))
    assert_array_equal(clf.decision_function(X), ref.decision_function(X))
    if data.startswith("noisy"):
        assert clf.n_iter_ == ref.n_iter_ == 40


@pytest.mark.parametrize("data", ["noisy", "noisy3", "blobs5"])
def test_tol_stops_like_sklearn(data):
    # With tol set, the only stop before max_iter is the tol rule (until an epoch without a
    # mistake): same epochs, same weights as scikit-learn's default tol=1e-3,
    # n_iter_no_change=5. On the five separable blobs that rule stops with mistakes left, in
    # both libraries: the reason fastmlp's default is tol=None.
    X, y = {
        "noisy": lambda: _noisy(seed=4),
        "noisy3": lambda: _noisy(n_classes=3, seed=4),
        "blobs5": lambda: _blobs_on_circle(n_classes=5),
    }[data]()
    ref = RefPerceptron(shuffle=False, max_iter=500, tol=1e-3).fit(X, y)
    clf = Perceptron(shuffle=False, max_iter=500, tol=1e-3).fit(X, y)
    assert ref.n_iter_ < 500
    assert clf.n_iter_ == ref.n_iter_
    assert_array_equal(clf.coef_, ref.coef_)
    assert_array_equal(clf.intercept_, ref.intercept_)
    if data == "blobs5":
        assert clf.score(X, y) < 1
        assert Perceptron(shuffle=False).fit(X, y).score(X, y) == 1


def test_sample_weight_matches_sklearn():
    X, y = _noisy(seed=6)
    sw = np.random.RandomState(1).uniform(0, 3, size=len(y))
    sw[::7] = 0
    params = dict(eta0=1.0, max_iter=15, tol=None, shuffle=False)
    ref = RefPerceptron(penalty=None, **params).fit(X, y, sample_weight=sw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = Perceptron(**params).fit(X, y, sample_weight=sw)
    assert_array_equal(clf.coef_, ref.coef_)
    assert_array_equal(clf.intercept_, ref.intercept_)


def test_shuffled_accuracy_like_sklearn():
    # The two libraries draw different sample orders, so weights differ; on separable data
    # both must still separate the training set.
    X, y = _separable(n_samples=300, seed=8)
    ref = RefPerceptron(penalty=None, tol=None, max_iter=1000, random_state=0).fit(X, y)
    clf = Perceptron(tol=None, random_state=0).fit(X, y)
    assert ref.score(X, y) == clf.score(X, y) == 1.0


# --------------------------------------------------------------------------
# Reproducibility, partial_fit, warm_start, pickle
# --------------------------------------------------------------------------


def test_same_random_state_same_bits():
    X, y = _noisy(n_classes=3, seed=2)
    fits = []
    for _ in range(2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fits.append(Perceptron(random_state=123, tol=None, max_iter=30).fit(X, y))
    a, b = fits
    assert a.coef_.tobytes() == b.coef_.tobytes()
    assert a.intercept_.tobytes() == b.intercept_.tobytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        other = Perceptron(random_state=124, tol=None, max_iter=30).fit(X, y)
    assert not np.array_equal(other.coef_, a.coef_)  # the order does depend on the seed
    # and the shuffled order is not the identity
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ordered = Perceptron(shuffle=False, tol=None, max_iter=30).fit(X, y)
    assert not np.array_equal(ordered.coef_, a.coef_)


def test_partial_fit_is_one_epoch_of_fit():
    X, y = _noisy(n_classes=3, seed=3)
    clf = Perceptron(shuffle=False)
    for _ in range(6):
        clf.partial_fit(X, y, classes=np.array([0, 1, 2]))
    assert clf.n_iter_ == 1 and clf.t_ == 6 * len(y) + 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        full = Perceptron(shuffle=False, tol=None, max_iter=6).fit(X, y)
    assert_array_equal(clf.coef_, full.coef_)
    assert_array_equal(clf.intercept_, full.intercept_)


def test_partial_fit_reproducible_across_pickle():
    X, y = _noisy(seed=5)
    a = Perceptron(random_state=0).partial_fit(X, y, classes=[0, 1])
    b = pickle.loads(pickle.dumps(a))
    for _ in range(3):
        a.partial_fit(X, y)
        b.partial_fit(X, y)
    assert a.coef_.tobytes() == b.coef_.tobytes()
    assert a.intercept_.tobytes() == b.intercept_.tobytes()


def test_warm_start_continues():
    X, y = _noisy(seed=7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warm = Perceptron(shuffle=False, tol=None, max_iter=4, warm_start=True).fit(X, y)
        warm.fit(X, y)
        full = Perceptron(shuffle=False, tol=None, max_iter=8).fit(X, y)
    assert_array_equal(warm.coef_, full.coef_)
    assert_array_equal(warm.intercept_, full.intercept_)


def test_pickle_round_trip():
    X, y = _blobs_on_circle()
    clf = Perceptron(random_state=0).fit(X, y)
    restored = pickle.loads(pickle.dumps(clf))
    assert_array_equal(restored.coef_, clf.coef_)
    assert_array_equal(restored.intercept_, clf.intercept_)
    assert_array_equal(restored.predict(X), clf.predict(X))
    assert restored.get_params() == clf.get_params()
    assert clone(clf).get_params() == clf.get_params()


def test_feature_names_and_pandas():
    pd = pytest.importorskip("pandas")
    X, y = _separable(n_features=3, seed=4)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    clf = Perceptron(random_state=0).fit(frame, y)
    assert_array_equal(clf.feature_names_in_, ["a", "b", "c"])
    assert clf.n_features_in_ == 3
    assert clf.score(frame, y) == 1.0


def test_verbose_prints_epochs(capsys):
    X, y = _separable(seed=1)
    Perceptron(verbose=1, shuffle=False).fit(X, y)
    out = capsys.readouterr().out
    assert "Epoch 1, mistakes = " in out


def test_docstring_examples():
    result = doctest.testmod(_perceptron, raise_on_error=False)
    assert result.attempted > 0 and result.failed == 0


def test_exported():
    assert "Perceptron" in fastmlp.__all__ and fastmlp.Perceptron is Perceptron


# --------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------


def _sparse_data(seed=0):
    """Mostly-zero float data of three classes (not separable), with an all-zero row."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(120, 12))
    X[rng.rand(*X.shape) < 0.75] = 0
    X[5] = 0
    y = (X @ rng.normal(size=12) > 0).astype(int) + (X[:, 0] > 0.3)
    return X, y


def _int64_indices(M):
    M.indices = M.indices.astype(np.int64)
    M.indptr = M.indptr.astype(np.int64)
    return M


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(
    "to_sparse",
    [sp.csr_matrix, sp.csc_matrix, sp.coo_matrix, sp.csr_array, sp.lil_matrix,
     lambda X: _int64_indices(sp.csr_matrix(X))],
)
def test_sparse_X_gives_the_bits_of_dense_X(shuffle, weighted, to_sparse):
    X, y = _sparse_data()
    sw = np.random.RandomState(1).uniform(0, 2, size=len(y)) if weighted else None
    params = dict(shuffle=shuffle, random_state=0, max_iter=15, tol=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense = Perceptron(**params).fit(X, y, sample_weight=sw)
        sparse = Perceptron(**params).fit(to_sparse(X), y, sample_weight=sw)
    assert_array_equal(sparse.coef_, dense.coef_)
    assert_array_equal(sparse.intercept_, dense.intercept_)
    assert sparse.n_iter_ == dense.n_iter_
    assert_array_equal(sparse.predict(to_sparse(X)), dense.predict(X))
    np.testing.assert_allclose(sparse.decision_function(to_sparse(X)),
                               dense.decision_function(X), rtol=1e-12, atol=1e-12)
    # partial_fit: the same epochs
    a, b = Perceptron(shuffle=shuffle, random_state=0), Perceptron(shuffle=shuffle, random_state=0)
    for _ in range(3):
        a.partial_fit(X, y, classes=np.unique(y), sample_weight=sw)
        b.partial_fit(to_sparse(X), y, classes=np.unique(y), sample_weight=sw)
    assert_array_equal(b.coef_, a.coef_)
    assert_array_equal(b.intercept_, a.intercept_)


def test_sparse_X_out_of_canonical_form(monkeypatch):
    from fastmlp import _core

    # rows with their columns out of order and a column stored twice: summed and sorted first
    X, y = _sparse_data()
    M = sp.csr_matrix(X)
    indptr, indices, data = M.indptr.copy(), M.indices.copy(), M.data.copy()
    for i in range(M.shape[0]):  # each row's entries reversed
        lo, hi = indptr[i], indptr[i + 1]
        indices[lo:hi], data[lo:hi] = indices[lo:hi][::-1].copy(), data[lo:hi][::-1].copy()
    shuffled = sp.csr_matrix((data, indices, indptr), shape=M.shape)
    assert not shuffled.has_sorted_indices
    # row 0's first value split in two halves stored at the same column
    j, v = M.indices[0], M.data[0]
    twice = sp.csr_matrix(
        (np.r_[v / 2, v / 2, M.data[1:]], np.r_[j, j, M.indices[1:]], np.r_[0, M.indptr[1:] + 1]),
        shape=M.shape,
    )
    # what reaches the C core: each row's columns strictly increasing (a dense row's order)
    seen = []
    epoch_csr = _core.perceptron_epoch_csr

    def spy(data, indices, indptr, *args):
        seen.append((np.array(indices), np.array(indptr)))
        return epoch_csr(data, indices, indptr, *args)

    monkeypatch.setattr(_core, "perceptron_epoch_csr", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        want = Perceptron(shuffle=False, max_iter=10).fit(X, y)
        for Xs in (shuffled, twice):
            got = Perceptron(shuffle=False, max_iter=10).fit(Xs, y)
            assert_array_equal(got.coef_, want.coef_)
    assert seen
    for indices, indptr in seen:
        for i in range(len(indptr) - 1):
            assert np.all(np.diff(indices[indptr[i]:indptr[i + 1]]) > 0)
    # the caller's matrix is left as it was
    assert not shuffled.has_sorted_indices


def test_sparse_X_without_stored_values():
    X = sp.csr_matrix((6, 3))
    y = np.array([0, 1, 0, 1, 0, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = Perceptron(max_iter=3, shuffle=False).fit(X, y)
    assert_array_equal(clf.coef_, np.zeros((1, 3)))
    assert_array_equal(clf.predict(X), clf.predict(X.toarray()))


def test_sparse_nan_input():
    X, y = _sparse_data()
    M = sp.csr_matrix(X)
    M.data[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        Perceptron().fit(M, y)


def test_core_refuses_malformed_compressed_rows():
    from fastmlp import _core

    X, y = _sparse_data()
    M = sp.csr_matrix(X)
    signs = np.where(y == 1, 1, -1).astype(np.int8)

    def epoch(indices, indptr, data=M.data, index_dtype=np.int64):
        w, b = np.zeros(X.shape[1]), np.zeros(1)
        return _core.perceptron_epoch_csr(np.asarray(data, dtype=np.float64),
                                          np.asarray(indices, dtype=index_dtype),
                                          np.asarray(indptr, dtype=np.int64), X.shape[1],
                                          signs, None, w, b, 1.0, True, False, 0, 1, None), w

    _, w = epoch(M.indices, M.indptr)
    assert np.any(w != 0)
    _, w32 = epoch(M.indices, M.indptr, index_dtype=np.int32)
    assert_array_equal(w32, w)
    with pytest.raises(ValueError, match="int32 or int64"):
        epoch(M.indices, M.indptr, index_dtype=np.int16)
    for index_dtype in (np.int32, np.int64):
        with pytest.raises(ValueError):
            epoch(-M.indices - 1, M.indptr, index_dtype=index_dtype)
    bad_column = M.indices.copy()
    bad_column[7] = X.shape[1]
    bad_order = M.indptr.copy()
    bad_order[4], bad_order[5] = bad_order[5], bad_order[4]
    for indices, indptr in ((bad_column, M.indptr), (-M.indices - 1, M.indptr),
                            (M.indices, bad_order), (M.indices, M.indptr + 1)):
        with pytest.raises(ValueError):
            epoch(indices, indptr)


def test_not_fitted():
    X, _ = _separable()
    for method in ("predict", "decision_function"):
        with pytest.raises(NotFittedError):
            getattr(Perceptron(), method)(X)


def test_nan_input():
    X, y = _separable()
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        Perceptron().fit(X, y)
    clf = Perceptron().fit(*_separable())
    with pytest.raises(ValueError, match="NaN"):
        clf.predict(X)


def test_one_class():
    X, _ = _separable()
    with pytest.raises(ValueError, match="classes has to be greater than one"):
        Perceptron().fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="classes has to be greater than one"):
        Perceptron().partial_fit(X, np.zeros(len(X)), classes=[0])


def test_continuous_target():
    X, _ = _separable()
    with pytest.raises(ValueError, match="Unknown label type"):
        Perceptron().fit(X, np.linspace(0, 1, len(X)))


def test_wrong_n_features_at_predict():
    X, y = _separable(n_features=5)
    clf = Perceptron().fit(X, y)
    with pytest.raises(ValueError, match="X has 4 features, but Perceptron is expecting 5"):
        clf.predict(X[:, :4])
    with pytest.raises(ValueError, match="X has 4 features"):
        clf.partial_fit(X[:, :4], y)


@pytest.mark.parametrize("eta0", [0, -1.0, np.inf, "1"])
def test_bad_eta0(eta0):
    X, y = _separable()
    with pytest.raises((ValueError, TypeError), match="eta0"):
        Perceptron(eta0=eta0).fit(X, y)


@pytest.mark.parametrize(
    "param, value", [("max_iter", 0), ("tol", -1.0), ("n_iter_no_change", 0), ("shuffle", "yes")]
)
def test_bad_parameters(param, value):
    X, y = _separable()
    with pytest.raises(ValueError, match=param):
        Perceptron(**{param: value}).fit(X, y)


def test_bad_sample_weight():
    X, y = _separable()
    sw = np.ones(len(y))
    sw[0] = -1
    with pytest.raises(ValueError, match="[Nn]egative"):
        Perceptron().fit(X, y, sample_weight=sw)
    with pytest.raises(ValueError, match="sample_weight"):
        Perceptron().fit(X, y, sample_weight=np.ones(len(y) + 1))


def test_partial_fit_needs_classes():
    X, y = _separable()
    with pytest.raises(ValueError, match="classes must be passed"):
        Perceptron().partial_fit(X, y)
    clf = Perceptron().partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="not in `classes`"):
        clf.partial_fit(X, np.where(y == 1, 2, 0))
    with pytest.raises(ValueError, match="not the same"):
        clf.partial_fit(X, y, classes=[0, 1, 2])


def test_warm_start_with_other_classes():
    X, y = _separable()
    clf = Perceptron(warm_start=True).fit(X, y)
    with pytest.raises(ValueError, match="warm_start"):
        clf.fit(X, y + 1)


def test_overflow_is_an_error_and_keeps_the_model():
    X, y = _separable(seed=9)
    clf = Perceptron(random_state=0).fit(X, y)
    coef = clf.coef_.copy()
    with pytest.raises(ValueError, match="non-finite"):
        clf.fit(X * 1e200, y)
    assert_array_equal(clf.coef_, coef)


# --------------------------------------------------------------------------
# scikit-learn's estimator checks
# --------------------------------------------------------------------------

# The same expected failures scikit-learn declares for its own Perceptron: the rule updates on
# one sample at a time, so a weight of 2 is not the same as the sample twice in a row, and a
# weight of 0 shifts the shuffled order of the others.
_EXPECTED_FAILED = {
    "check_sample_weight_equivalence_on_dense_data": (
        "sample_weight is not equivalent to removing/repeating samples."
    ),
    "check_sample_weight_equivalence_on_sparse_data": (
        "sample_weight is not equivalent to removing/repeating samples."
    ),
}


@parametrize_with_checks(
    [Perceptron(random_state=0)], expected_failed_checks=lambda est: _EXPECTED_FAILED
)
def test_sklearn_compatible_estimator(estimator, check):
    with warnings.catch_warnings():
        # some checks fit data that is not linearly separable: max_iter is then reached
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)
