"""fastmlp.from_sklearn and the estimators' to_sklearn: scikit-learn's fitted multilayer
perceptrons and fastmlp's convert both ways, predict the same values, carry their fitted
attributes and optimizer state (partial_fit continues on both sides in step), and to_sklearn
refuses fastmlp-only options by name."""

import copy
import pickle
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import Perceptron as SklearnPerceptron
from sklearn.neural_network import MLPClassifier as SklearnClassifier
from sklearn.neural_network import MLPRegressor as SklearnRegressor

import fastmlp

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

TARGETS = ["multiclass", "binary", "multilabel", "strings", "squared_error", "poisson"]


def _data(target, dtype=np.float64, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(160, 6).astype(dtype)
    x0, x1 = X[:, 0].astype(np.float64), X[:, 1].astype(np.float64)
    if target == "multiclass":
        y = np.digitize(x0 + x1, [-0.7, 0.7])
    elif target == "binary":
        y = (x0 * x1 > 0).astype(int)
    elif target == "multilabel":
        y = np.c_[x0 > 0, x1 > 0, x0 + x1 > 0.5].astype(int)
    elif target == "strings":
        y = np.array(["ant", "bee", "cow"])[np.digitize(x0, [-0.5, 0.5])]
    elif target == "squared_error":
        y = np.sin(x0) + 0.5 * x1
    else:
        y = np.exp(0.5 * np.tanh(x0 + x1))
    return X, y


def _sklearn_model(target, solver, activation="relu", dtype=np.float64, **options):
    X, y = _data(target, dtype)
    params = dict(hidden_layer_sizes=(12, 7), activation=activation, solver=solver,
                  max_iter=15, random_state=0, shuffle=False, **options)
    if target in ("squared_error", "poisson"):
        model = SklearnRegressor(loss=target, **params)
    else:
        model = SklearnClassifier(**params)
    return model.fit(X, y), X, y


def _outputs(model, X, regression):
    return model.predict(X) if regression else model.predict_proba(X)


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
@pytest.mark.parametrize("target", TARGETS)
def test_from_sklearn_predicts_scikit_learns_values(target, activation, solver):
    sk, X, y = _sklearn_model(target, solver, activation)
    fast = fastmlp.from_sklearn(sk)
    regression = target in ("squared_error", "poisson")
    assert type(fast) is (fastmlp.MLPRegressor if regression else fastmlp.MLPClassifier)
    got, expected = _outputs(fast, X, regression), _outputs(sk, X, regression)
    # float64: within a few units in the last place (the two libraries' dot products add in
    # different orders)
    assert np.abs(got - expected).max() <= 1e-12 * max(1.0, np.abs(expected).max())
    if not regression:
        np.testing.assert_array_equal(fast.predict(X), sk.predict(X))
        np.testing.assert_array_equal(fast.classes_, sk.classes_)
        assert fast.score(X, y) == sk.score(X, y)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("target", TARGETS)
def test_fitted_attributes_carry_over(target, solver):
    sk, X, y = _sklearn_model(target, solver, early_stopping=target == "multiclass")
    fast = fastmlp.from_sklearn(sk)
    for name in ("n_iter_", "t_", "n_layers_", "n_outputs_", "out_activation_", "n_features_in_",
                 "loss_", "best_loss_", "best_validation_score_"):
        assert getattr(fast, name) == getattr(sk, name), name
    assert fast.loss_curve_ == sk.loss_curve_
    assert fast.validation_scores_ == sk.validation_scores_
    assert fast.get_params()["hidden_layer_sizes"] == sk.get_params()["hidden_layer_sizes"]
    for name in ("alpha", "batch_size", "learning_rate_init", "momentum", "beta_1", "tol"):
        assert fast.get_params()[name] == sk.get_params()[name], name
    for a, b in zip(fast.coefs_ + fast.intercepts_, sk.coefs_ + sk.intercepts_):
        np.testing.assert_array_equal(a, b)
    # the converted model owns its arrays: scikit-learn's are not shared
    fast.coefs_[0][0, 0] += 1.0
    assert fast.coefs_[0][0, 0] != sk.coefs_[0][0, 0]


def test_feature_names_carry_over():
    pd = pytest.importorskip("pandas")
    X, y = _data("multiclass")
    frame = pd.DataFrame(X, columns=["f%d" % i for i in range(X.shape[1])])
    sk = SklearnClassifier((5,), max_iter=20, random_state=0).fit(frame, y)
    fast = fastmlp.from_sklearn(sk)
    np.testing.assert_array_equal(fast.feature_names_in_, sk.feature_names_in_)
    np.testing.assert_allclose(fast.predict_proba(frame), sk.predict_proba(frame), rtol=0,
                               atol=1e-12)


@pytest.mark.parametrize("learning_rate", ["constant", "invscaling", "adaptive"])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("target", TARGETS)
def test_partial_fit_continues_as_scikit_learns_does(target, solver, learning_rate):
    """After the conversion, partial_fit on both models (no shuffling) follows the same
    trajectory: the optimizer's state (velocities and rate; Adam's step and moments) carried
    over. A fresh optimizer would take other steps."""
    sk, X, y = _sklearn_model(target, solver, learning_rate=learning_rate, momentum=0.9,
                              learning_rate_init=0.01)
    fast = fastmlp.from_sklearn(sk)
    for _ in range(3):
        sk.partial_fit(X, y)
        fast.partial_fit(X, y)
    for a, b in zip(fast.coefs_ + fast.intercepts_, sk.coefs_ + sk.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    assert fast.n_iter_ == sk.n_iter_ and fast.t_ == sk.t_
    np.testing.assert_allclose(fast.loss_curve_, sk.loss_curve_, rtol=1e-9)
    # without the optimizer's state the steps differ (the test above can fail)
    stateless = fastmlp.from_sklearn(_sklearn_model(target, solver, learning_rate=learning_rate,
                                                    momentum=0.9, learning_rate_init=0.01)[0])
    del stateless.__dict__["_optimizer"]
    stateless.partial_fit(X, y)
    reference = _sklearn_model(target, solver, learning_rate=learning_rate, momentum=0.9,
                               learning_rate_init=0.01)[0].partial_fit(X, y)
    assert not np.allclose(stateless.coefs_[0], reference.coefs_[0], rtol=1e-9, atol=1e-12)


def test_float32_models_stay_float32():
    sk, X, y = _sklearn_model("multiclass", "adam", dtype=np.float32)
    assert sk.coefs_[0].dtype == np.float32
    fast = fastmlp.from_sklearn(sk)
    assert fast.coefs_[0].dtype == np.float32
    np.testing.assert_allclose(fast.predict_proba(X), sk.predict_proba(X), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(fast.predict(X), sk.predict(X))
    back = fast.to_sklearn()
    assert back.coefs_[0].dtype == np.float32


def test_converted_model_uses_the_flat_parameter_array(tmp_path):
    """The converted model predicts through its own model state (the fast path): coefs_ and
    intercepts_ are views of one flat array, as after a fit; it pickles, saves and loads."""
    sk, X, y = _sklearn_model("multiclass", "adam")
    fast = fastmlp.from_sklearn(sk)
    state = fast._model
    assert all(a.base is state.owner for a in fast.coefs_ + fast.intercepts_)
    assert state.params.size == sum(a.size for a in fast.coefs_ + fast.intercepts_)
    assert state.views_in(fast.__dict__)
    restored = pickle.loads(pickle.dumps(fast))
    np.testing.assert_array_equal(restored.predict_proba(X), fast.predict_proba(X))
    fast.save(tmp_path / "model.npz")
    loaded = fastmlp.load(tmp_path / "model.npz")
    np.testing.assert_array_equal(loaded.predict_proba(X), fast.predict_proba(X))
    # the saved optimizer state is the converted one: both continue alike
    loaded.partial_fit(X, y)
    fast.partial_fit(X, y)
    np.testing.assert_array_equal(loaded.coefs_[0], fast.coefs_[0])


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("target", TARGETS)
def test_to_sklearn_predicts_fastmlps_values(target, solver):
    X, y = _data(target)
    regression = target in ("squared_error", "poisson")
    params = dict(hidden_layer_sizes=(9,), activation="tanh", solver=solver, max_iter=15,
                  random_state=0, shuffle=False)
    if regression:
        fast = fastmlp.MLPRegressor(loss=target, **params).fit(X, y)
    else:
        fast = fastmlp.MLPClassifier(**params).fit(X, y)
    sk = fast.to_sklearn()
    assert type(sk) is (SklearnRegressor if regression else SklearnClassifier)
    got, expected = _outputs(sk, X, regression), _outputs(fast, X, regression)
    assert np.abs(got - expected).max() <= 1e-12 * max(1.0, np.abs(expected).max())
    if not regression:
        np.testing.assert_array_equal(sk.predict(X), fast.predict(X))
    assert sk.n_iter_ == fast.n_iter_ and sk.get_params()["solver"] == solver
    # and back again: the same weights
    again = fastmlp.from_sklearn(sk)
    for a, b in zip(again.coefs_ + again.intercepts_, fast.coefs_ + fast.intercepts_):
        np.testing.assert_array_equal(a, b)
    if solver != "lbfgs":
        # scikit-learn continues where fastmlp would
        fast_next = copy.deepcopy(fast)
        for _ in range(2):
            sk.partial_fit(X, y)
            fast_next.partial_fit(X, y)
        for a, b in zip(sk.coefs_ + sk.intercepts_, fast_next.coefs_ + fast_next.intercepts_):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("option, value", [
    ("activation", "gelu"), ("activation", "prelu"), ("activation", "maxout"),
    ("solver", "adamw"), ("solver", "rmsprop"), ("learning_rate", "cosine"),
    ("loss", "hinge"), ("alpha_l1", 0.01), ("dropout", 0.1), ("dropout", [0.0, 0.2]),
    ("batch_norm", True), ("init", "he_normal"), ("warmup_epochs", 2),
    ("class_weight", "balanced"), ("restore_best_weights", True),
])
def test_to_sklearn_names_the_fastmlp_only_option(option, value):
    X, y = _data("multiclass")
    model = fastmlp.MLPClassifier((5, 4), max_iter=2, random_state=0, **{option: value})
    model.fit(X, y)
    with pytest.raises(ValueError, match=option):
        model.to_sklearn()


def test_regressor_to_sklearn_refuses_by_name_too():
    X, y = _data("squared_error")
    model = fastmlp.MLPRegressor(hidden_layer_sizes=(5,), activation="elu", max_iter=2,
                                 random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="activation='elu'"):
        model.to_sklearn()


def test_unfitted_and_wrong_types():
    with pytest.raises(NotFittedError):
        fastmlp.from_sklearn(SklearnClassifier())
    with pytest.raises(NotFittedError):
        fastmlp.MLPClassifier().to_sklearn()
    with pytest.raises(NotFittedError):
        fastmlp.Perceptron().to_sklearn()
    with pytest.raises(TypeError, match="MLPClassifier"):
        fastmlp.from_sklearn(fastmlp.MLPClassifier())
    with pytest.raises(TypeError):
        fastmlp.from_sklearn(SklearnPerceptron())


@pytest.mark.parametrize("n_classes", [2, 3])
def test_perceptron_to_sklearn(n_classes):
    X, y = _data("multiclass")
    y = y % n_classes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fast = fastmlp.Perceptron(shuffle=False, max_iter=5).fit(X, y)
    sk = fast.to_sklearn()
    assert isinstance(sk, SklearnPerceptron) and sk.penalty is None
    np.testing.assert_array_equal(sk.decision_function(X), fast.decision_function(X))
    np.testing.assert_array_equal(sk.predict(X), fast.predict(X))
    # the same rule from the same weights: one more epoch each gives the same weights
    sk.partial_fit(X, y)
    fast.partial_fit(X, y)
    np.testing.assert_array_equal(sk.coef_, fast.coef_)
    np.testing.assert_array_equal(sk.intercept_, fast.intercept_)


def test_docstring_examples_run():
    import doctest

    from fastmlp import _sklearn_conversion

    result = doctest.testmod(_sklearn_conversion, raise_on_error=False)
    assert result.attempted > 0 and result.failed == 0
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner()
    for test in finder.find(fastmlp.MLPRegressor.to_sklearn, "to_sklearn",
                            globs={"__name__": "doctest"}):
        runner.run(test)
    assert runner.summarize(verbose=False).attempted > 0
    assert runner.summarize(verbose=False).failed == 0
