"""Public API behaviour: dtypes, labels, probabilities, scores, messages."""

import inspect
import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import (
    load_digits,
    make_classification,
    make_multilabel_classification,
    make_regression,
)
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as RefMLPClassifier
from sklearn.neural_network import MLPRegressor as RefMLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fastmlp import MLPClassifier, MLPRegressor
from fastmlp._optimizers import resolve_learning_rate_init

FAST = dict(hidden_layer_sizes=(6,), max_iter=5, random_state=0)
quiet = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _clf_data(n_classes=3, n_samples=90):
    X, y = make_classification(
        n_samples=n_samples,
        n_features=5,
        n_informative=3,
        n_redundant=0,
        n_classes=n_classes,
        n_clusters_per_class=1,
        random_state=0,
    )
    return (X - X.mean(0)) / X.std(0), y


def _reg_data(n_targets=1):
    X, y = make_regression(
        n_samples=80, n_features=5, n_targets=n_targets, noise=0.5, random_state=0
    )
    return (X - X.mean(0)) / X.std(0), y / y.std(axis=0)


# --------------------------------------------------------------------------
# Drop-in signature
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "Est, Ref", [(MLPClassifier, RefMLPClassifier), (MLPRegressor, RefMLPRegressor)]
)
def test_signature_matches_reference(Est, Ref):
    """scikit-learn's parameters, positional ones in its order, same kinds and defaults; the
    options fastmlp adds are keyword-only, and their defaults keep scikit-learn's behaviour
    (tests/test_sklearn_parity.py). The one default that differs is learning_rate_init='auto',
    which gives scikit-learn's own default to scikit-learn's solvers."""
    ours = inspect.signature(Est.__init__).parameters
    ref = inspect.signature(Ref.__init__).parameters
    positional = [n for n, p in ref.items() if p.kind != inspect.Parameter.KEYWORD_ONLY]
    assert [n for n, p in ours.items() if p.kind != inspect.Parameter.KEYWORD_ONLY] == positional
    for name in ref:
        assert name in ours, name
        assert ours[name].kind == ref[name].kind, name
        if name == "learning_rate_init":
            assert ours[name].default == "auto"
            for solver in ("sgd", "adam"):
                resolved = resolve_learning_rate_init(solver, "auto")
                assert resolved == ref[name].default, solver
        else:
            assert ours[name].default == ref[name].default, name
    for name in set(ours) - set(ref):
        assert ours[name].kind == inspect.Parameter.KEYWORD_ONLY, name
    ours_params = Est().get_params()
    ref_params = Ref().get_params()
    ref_params["learning_rate_init"] = "auto"
    assert {k: v for k, v in ours_params.items() if k in ref_params} == ref_params
    assert set(Ref._parameter_constraints) <= set(Est._parameter_constraints)
    assert set(Est._parameter_constraints) == set(ours) - {"self"}


def test_regressor_loss_is_first_positional_parameter():
    assert MLPRegressor("poisson").loss == "poisson"
    est = MLPClassifier((4, 3), "tanh")
    assert est.hidden_layer_sizes == (4, 3)
    assert est.activation == "tanh"
    with pytest.raises(TypeError):
        MLPClassifier((4,), "tanh", "sgd")  # solver is keyword-only


# --------------------------------------------------------------------------
# dtypes
# --------------------------------------------------------------------------


@quiet
@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize(
    "dtype, expected",
    [(np.float32, np.float32), (np.float64, np.float64), (np.int64, np.float64)],
)
def test_classifier_dtype(dtype, expected, solver):
    # float32 input trains in float32 with every solver (lbfgs included)
    X, y = _clf_data()
    X = (X * 3).astype(dtype)
    est = MLPClassifier(solver=solver, **FAST).fit(X, y)
    for a in est.coefs_ + est.intercepts_:
        assert a.dtype == expected
    assert est.predict_proba(X).dtype == expected
    assert est.predict_log_proba(X).dtype == expected
    assert np.isfinite(est.loss_)


@quiet
@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_regressor_dtype(dtype, solver):
    X, y = _reg_data(n_targets=2)
    est = MLPRegressor(solver=solver, **FAST).fit(X.astype(dtype), y)
    for a in est.coefs_ + est.intercepts_:
        assert a.dtype == dtype
    pred = est.predict(X.astype(dtype))
    assert pred.dtype == dtype
    assert pred.shape == (X.shape[0], 2)


@quiet
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_float32_training_tracks_float64(solver):
    X, y = _clf_data()
    params = dict(FAST, solver=solver, shuffle=False, learning_rate_init=0.01)
    f32 = MLPClassifier(**params).fit(X.astype(np.float32), y)
    f64 = MLPClassifier(**params).fit(X, y)
    assert_allclose(f32.loss_curve_, f64.loss_curve_, rtol=1e-4)
    for a, b in zip(f32.coefs_, f64.coefs_):
        assert_allclose(a, b, rtol=1e-3, atol=1e-5)


# --------------------------------------------------------------------------
# Labels and probabilities
# --------------------------------------------------------------------------


@quiet
@pytest.mark.parametrize("n_classes", [2, 3])
def test_string_labels(n_classes):
    X, y_int = _clf_data(n_classes=n_classes)
    names = np.array(["cat", "dog", "fish"])[:n_classes]
    y = names[y_int]
    est = MLPClassifier(**FAST).fit(X, y)
    assert_array_equal(est.classes_, np.sort(names))
    pred = est.predict(X)
    assert pred.dtype.kind == "U"
    assert set(pred) <= set(names)
    # predictions are the argmax of predict_proba mapped through classes_
    assert_array_equal(pred, est.classes_[np.argmax(est.predict_proba(X), axis=1)])
    # same model as integer labels (label order is the sorted order)
    est_int = MLPClassifier(**FAST).fit(X, y_int)
    assert_array_equal(est.predict_proba(X), est_int.predict_proba(X))


@quiet
def test_object_and_list_labels():
    X, y_int = _clf_data()
    y = [["a", "b", "c"][i] for i in y_int]
    est = MLPClassifier(**FAST).fit(X, y)
    assert list(est.classes_) == ["a", "b", "c"]
    est_obj = MLPClassifier(**FAST).fit(X, np.array(y, dtype=object))
    assert_array_equal(est_obj.predict(X), est.predict(X))


@quiet
def test_binary_predict_proba():
    X, y = _clf_data(n_classes=2)
    est = MLPClassifier(**FAST).fit(X, y)
    proba = est.predict_proba(X)
    assert proba.shape == (X.shape[0], 2)
    assert_allclose(proba[:, 0], 1.0 - proba[:, 1], rtol=1e-12, atol=1e-15)
    assert est.out_activation_ == "logistic"
    assert est.coefs_[-1].shape == (6, 1)


@quiet
def test_multiclass_predict_proba():
    X, y = _clf_data(n_classes=4, n_samples=120)
    est = MLPClassifier(**FAST).fit(X, y)
    proba = est.predict_proba(X)
    assert proba.shape == (X.shape[0], 4)
    assert np.all(proba >= 0) and np.all(proba <= 1)
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert est.out_activation_ == "softmax"


@quiet
def test_multilabel():
    X, Y = make_multilabel_classification(
        n_samples=80, n_features=5, n_classes=4, random_state=0
    )
    est = MLPClassifier(**FAST).fit(X, Y)
    assert est.out_activation_ == "logistic"
    assert est.n_outputs_ == 4
    assert_array_equal(est.classes_, np.arange(4))
    proba = est.predict_proba(X)
    assert proba.shape == (80, 4)
    assert np.all((proba >= 0) & (proba <= 1))
    pred = est.predict(X)
    assert pred.shape == (80, 4)
    assert_array_equal(pred, (proba > 0.5).astype(pred.dtype))
    assert est.score(X, Y) == accuracy_score(Y, pred)


@quiet
@pytest.mark.parametrize("n_classes", [2, 3])
def test_predict_log_proba_is_log_of_predict_proba(n_classes):
    X, y = _clf_data(n_classes=n_classes)
    est = MLPClassifier(**FAST).fit(X, y)
    log_proba = est.predict_log_proba(X)
    assert log_proba.shape == est.predict_proba(X).shape
    assert_allclose(log_proba, np.log(est.predict_proba(X)), rtol=1e-12)


# --------------------------------------------------------------------------
# score
# --------------------------------------------------------------------------


@quiet
def test_classifier_score():
    X, y = _clf_data()
    est = MLPClassifier(**FAST).fit(X, y)
    assert est.score(X, y) == accuracy_score(y, est.predict(X))
    sw = np.linspace(0.1, 3.0, len(y))
    assert_allclose(
        est.score(X, y, sample_weight=sw),
        accuracy_score(y, est.predict(X), sample_weight=sw),
    )


@quiet
@pytest.mark.parametrize("n_targets", [1, 3])
def test_regressor_score(n_targets):
    X, y = _reg_data(n_targets=n_targets)
    est = MLPRegressor(**FAST).fit(X, y)
    assert_allclose(est.score(X, y), r2_score(y, est.predict(X)))
    sw = np.linspace(0.1, 3.0, len(y))
    assert_allclose(
        est.score(X, y, sample_weight=sw),
        r2_score(y, est.predict(X), sample_weight=sw),
    )


# --------------------------------------------------------------------------
# Fitted attributes and shapes
# --------------------------------------------------------------------------


@quiet
@pytest.mark.parametrize(
    "hidden, n_layers",
    [((), 2), (4, 3), ((4,), 3), ([5, 3], 4), (np.array([3, 3, 2]), 5)],
)
def test_hidden_layer_sizes_forms(hidden, n_layers):
    X, y = _clf_data()
    est = MLPClassifier(hidden_layer_sizes=hidden, max_iter=3, random_state=0)
    est.fit(X, y)
    assert est.n_layers_ == n_layers
    units = [X.shape[1], *np.atleast_1d(hidden).tolist(), 3]
    assert [c.shape for c in est.coefs_] == list(zip(units[:-1], units[1:]))
    assert [b.shape for b in est.intercepts_] == [(u,) for u in units[1:]]


@quiet
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_stochastic_fitted_attributes(solver):
    X, y = _clf_data()
    est = MLPClassifier(solver=solver, **FAST)
    assert est.fit(X, y) is est
    assert est.n_features_in_ == X.shape[1]
    assert not hasattr(est, "feature_names_in_")
    assert est.n_iter_ == 5
    assert est.t_ == 5 * X.shape[0]
    assert est.n_outputs_ == 3
    assert len(est.loss_curve_) == 5
    assert est.loss_ == est.loss_curve_[-1]
    assert est.best_loss_ == min(est.loss_curve_)
    assert est.validation_scores_ is None
    assert est.best_validation_score_ is None


@quiet
def test_early_stopping_attributes():
    X, y = _reg_data()
    est = MLPRegressor(**dict(FAST, early_stopping=True)).fit(X, y)
    assert est.best_loss_ is None
    assert len(est.validation_scores_) == est.n_iter_
    assert est.best_validation_score_ == max(est.validation_scores_)


@quiet
def test_lbfgs_attributes():
    X, y = _reg_data()
    est = MLPRegressor(solver="lbfgs", **FAST).fit(X, y)
    assert 1 <= est.n_iter_ <= 5
    assert np.isfinite(est.loss_)
    assert not hasattr(est, "loss_curve_")
    assert not hasattr(est, "best_loss_")


@quiet
@pytest.mark.parametrize("how", ["partial_fit", "warm_start"])
def test_lbfgs_model_continues_with_a_stochastic_solver(how):
    # scikit-learn raises AttributeError ('loss_curve_') here; fastmlp starts the stochastic
    # records and continues from the lbfgs weights
    X, y = _reg_data()
    est = MLPRegressor(solver="lbfgs", **FAST).fit(X, y)
    before = [w.copy() for w in est.coefs_]
    est.set_params(solver="adam")
    if how == "partial_fit":
        est.partial_fit(X, y)
        assert len(est.loss_curve_) == 1
    else:
        est.set_params(warm_start=True).fit(X, y)
        assert len(est.loss_curve_) >= 1
    assert np.isfinite(est.loss_curve_).all() and est.best_loss_ == min(est.loss_curve_)
    assert any(not np.array_equal(a, b) for a, b in zip(before, est.coefs_))


@quiet
def test_regressor_output_shapes_and_column_y():
    X, y = _reg_data()
    est = MLPRegressor(**FAST).fit(X, y)
    assert est.predict(X).shape == (X.shape[0],)
    assert est.out_activation_ == "identity"
    with pytest.warns(DataConversionWarning):
        est_col = MLPRegressor(**FAST).fit(X, y.reshape(-1, 1))
    assert est_col.predict(X).shape == (X.shape[0],)
    assert_array_equal(est_col.predict(X), est.predict(X))


@quiet
def test_poisson_regressor_predicts_positive_values():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(100, 4))
    y = rng.poisson(np.exp(X[:, 0] - 0.5 * X[:, 1]))
    est = MLPRegressor(loss="poisson", **FAST).fit(X, y)
    assert est.out_activation_ == "exp"
    assert np.all(est.predict(X * 5) > 0)


@quiet
def test_partial_fit_returns_self_and_counts():
    X, y = _clf_data()
    est = MLPClassifier(**FAST)
    assert est.partial_fit(X[:40], y[:40], classes=[0, 1, 2]) is est
    est.partial_fit(X[40:], y[40:])
    assert est.n_iter_ == 1
    assert est.t_ == X.shape[0]
    assert len(est.loss_curve_) == 2


@quiet
@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
def test_sparse_input_matches_dense(Est, fmt):
    if not Est().__sklearn_tags__().input_tags.sparse:
        pytest.skip("estimator does not declare sparse support")
    X, y = _clf_data() if Est is MLPClassifier else _reg_data()
    X[np.abs(X) < 0.7] = 0.0
    params = dict(FAST, shuffle=False, solver="sgd")
    dense = Est(**params).fit(X, y)
    sparse = Est(**params).fit(sp.csr_matrix(X).asformat(fmt), y)
    for a, b in zip(dense.coefs_, sparse.coefs_):
        assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    assert_allclose(
        dense.predict(X), sparse.predict(sp.csr_matrix(X).asformat(fmt)), rtol=1e-9
    )


def test_feature_names_in_with_dataframe():
    pd = pytest.importorskip("pandas")
    X, y = _clf_data()
    names = [f"f{i}" for i in range(X.shape[1])]
    df = pd.DataFrame(X, columns=names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = MLPClassifier(**FAST).fit(df, y)
    assert_array_equal(est.feature_names_in_, names)
    assert_array_equal(est.predict(df), est.predict(X.copy()))
    # wrong column names are rejected
    with pytest.raises(ValueError, match="feature names"):
        est.predict(df.rename(columns={"f0": "other"}))


# --------------------------------------------------------------------------
# Messages and warnings
# --------------------------------------------------------------------------

# scikit-learn's "Iteration N, loss = ..." then the validation score (with validation data),
# the epoch's time and samples per second, on one line
_ITER_RE = re.compile(
    r"^Iteration (\d+), loss = (\d+\.\d{8})(?:, validation score = (\S+))?, "
    r"time = \d+\.\d{3}s, \d+ samples/s$"
)


@quiet
@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
def test_verbose_prints_one_line_per_epoch(Est, capsys):
    X, y = _clf_data() if Est is MLPClassifier else _reg_data()
    est = Est(**dict(FAST, verbose=True, max_iter=4)).fit(X, y)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.strip()]
    iteration_lines = [ln for ln in lines if ln.startswith("Iteration")]
    assert len(iteration_lines) == est.n_iter_ == 4
    for i, line in enumerate(iteration_lines):
        m = _ITER_RE.match(line)
        assert m, line
        assert int(m.group(1)) == i + 1
        assert m.group(2) == "%.8f" % est.loss_curve_[i]


@quiet
def test_verbose_early_stopping_prints_validation_scores(capsys):
    X, y = _clf_data()
    est = MLPClassifier(**dict(FAST, verbose=True, early_stopping=True)).fit(X, y)
    out = capsys.readouterr().out
    scores = [_ITER_RE.match(line).group(3) for line in out.splitlines() if _ITER_RE.match(line)]
    assert len(scores) == est.n_iter_
    assert scores == ["%f" % s for s in est.validation_scores_]


def test_not_verbose_prints_nothing(capsys):
    X, y = _clf_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        MLPClassifier(**FAST).fit(X, y)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
def test_convergence_warning_when_max_iter_reached(Est, solver):
    X, y = _clf_data() if Est is MLPClassifier else _reg_data()
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(3\)"):
        Est(solver=solver, hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(
            X, y
        )


def test_convergence_warning_lbfgs():
    X, y = _clf_data()
    with pytest.warns(ConvergenceWarning):
        MLPClassifier(solver="lbfgs", max_iter=2, random_state=0).fit(X, y)


def test_no_convergence_warning_when_converged():
    X, y = _clf_data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = MLPClassifier(
            hidden_layer_sizes=(4,),
            tol=10.0,
            n_iter_no_change=2,
            max_iter=50,
            random_state=0,
        ).fit(X, y)
    # first epoch sets best_loss_, the next n_iter_no_change + 1 do not beat it
    assert est.n_iter_ == 4


# --------------------------------------------------------------------------
# End to end
# --------------------------------------------------------------------------


@quiet
def test_pipeline_on_digits():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y
    )
    model = make_pipeline(
        StandardScaler(),
        MLPClassifier(
            hidden_layer_sizes=(32,),
            learning_rate_init=0.01,
            max_iter=20,
            random_state=0,
        ),
    )
    model.fit(X_train, y_train)
    assert model.score(X_test, y_test) > 0.9


@pytest.mark.parametrize(
    "labels",
    [
        np.array([3, 1, 2, 1, 3, 3]),
        np.array(["b", "a", "b", "a"]),
        np.array([1.0, -1.0, 1.0, 2.0]),
        np.array(["only", "only", "only"]),
        np.array([True, False, False]),
        np.array([0, 2, 3, 4, 6, 6, 2]),  # small non-negative labels: the lookup table
        np.array([5, 1030, 5, 7], dtype=np.uint16),
        np.array([4000, 9, 9], dtype=np.int32),  # too sparse for a table: the binary search
    ],
)
def test_target_encoding_matches_label_binarizer(labels):
    # The classifier one-hot encodes known labels directly; it must give exactly what
    # LabelBinarizer.transform gives, for fit and for later partial_fit calls.
    from sklearn.preprocessing import LabelBinarizer

    est = MLPClassifier()
    est._label_binarizer = LabelBinarizer().fit(labels)
    expected = est._label_binarizer.transform(labels).astype(bool)
    got = est._encode_targets(labels, est._class_indices(labels))
    assert got.dtype == bool
    assert_array_equal(got, expected)
    # an unknown label is not silently encoded
    unknown = np.concatenate([labels[:1], labels[:1]]).astype(object)
    unknown[0] = "never-seen"
    assert est._class_indices(unknown) is None
    if labels.dtype.kind in "iu":  # unknown integers too: beyond, below and between
        top = int(labels.max())
        for other in ([top + 1], [top + 5000], [-1], sorted(set(range(top)) - set(labels))[:1]):
            if other:
                assert est._class_indices(np.concatenate([labels, np.array(other)])) is None


@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
def test_docstring_documents_each_parameter_as_its_own_entry(Est):
    """numpydoc layout: every parameter has a 'name : type' line at the section's indentation,
    after a blank line (the first one right after the dashes), so no entry runs into another."""
    doc = inspect.getdoc(Est)
    section = doc.split("Parameters\n----------\n", 1)[1].split("\nAttributes\n", 1)[0]
    lines = section.split("\n")
    entries = {line.split(" : ")[0]: i for i, line in enumerate(lines)
               if re.match(r"^\w+ : ", line)}
    assert sorted(entries) == sorted(inspect.signature(Est).parameters)
    for name, i in entries.items():
        assert i == 0 or lines[i - 1] == "", (name, lines[i - 1])


# --------------------------------------------------------------------------
# Module boundaries
# --------------------------------------------------------------------------

# Private names one module still reads from another's objects, by module: fastmlp's persistence
# restores estimators through their private model-state hooks, and checks a file's
# hyperparameters with scikit-learn's own parameter validation.
_ALLOWED_PRIVATE_READS = {
    "_persistence.py": {"_model_state", "_get_param_names", "_restore_model_state",
                        "_validate_params"},
    # conversion to and from scikit-learn's estimators carries their private training state
    # (label encoder, optimizer, early stopping's best weights) and binds the model state
    "_sklearn_conversion.py": {"_label_binarizer", "_optimizer", "_best_coefs",
                               "_best_intercepts", "_best_params", "_bind", "_network",
                               "_params", "_new_optimizer"},
}


def test_modules_read_no_private_names_of_other_objects():
    """Only _estimators, which defines the estimators, touches their private names: the other
    modules get what they need as arguments (values and callables), so that the estimators'
    internals can change without them."""
    import ast
    from pathlib import Path

    import fastmlp

    source = Path(fastmlp.__file__).parent
    found = []
    for path in sorted(source.glob("*.py")):
        if path.name == "_estimators.py":
            continue
        allowed = _ALLOWED_PRIVATE_READS.get(path.name, set())
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
                and node.attr not in allowed
            ):
                found.append("%s:%d .%s" % (path.name, node.lineno, node.attr))
    assert found == []
