"""Numerical parity of fastmlp with scikit-learn's reference MLP implementation.

fastmlp reproduces scikit-learn's weight initialisation (Glorot-uniform drawn
from ``check_random_state(random_state)`` in the same order), so in float64
with ``shuffle=False`` and the same ``random_state`` both libraries must
follow the same training trajectory up to floating point rounding.  Every
fitted quantity is therefore compared with ``rtol=1e-9``; ``atol=1e-12`` only
matters for entries that are ~0 (tiny weights, saturated probabilities).
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import (
    make_classification,
    make_multilabel_classification,
    make_regression,
)
from sklearn.neural_network import MLPClassifier as RefMLPClassifier
from sklearn.neural_network import MLPRegressor as RefMLPRegressor

from fastmlp import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning"
)

RTOL = 1e-9
ATOL = 1e-12

# L-BFGS is compared with a looser tolerance: the line search takes discrete
# decisions (Wolfe conditions) on loss values, and the two-loop recursion works
# with differences of successive gradients, which cancel leading digits.  Both
# amplify last-bit differences between two correct implementations (different
# summation order in the matrix products) much more than plain gradient steps.
RTOL_LBFGS = 1e-7
ATOL_LBFGS = 1e-10

CLASSIFICATION_TASKS = ("multiclass", "binary", "multilabel")
REGRESSION_TASKS = ("regression", "regression_multi", "poisson")
ALL_TASKS = CLASSIFICATION_TASKS + REGRESSION_TASKS
ACTIVATIONS = ("identity", "logistic", "tanh", "relu")

# Run every epoch: tol=0 and an unreachable n_iter_no_change.
ALL_EPOCHS = dict(tol=0.0, n_iter_no_change=1000)


def _standardize(a):
    return (a - a.mean(axis=0)) / a.std(axis=0)


def make_data(task):
    """Small float64 problems; a fresh copy on every call."""
    if task == "multiclass":
        X, y = make_classification(
            n_samples=90,
            n_features=6,
            n_informative=4,
            n_redundant=0,
            n_classes=3,
            n_clusters_per_class=1,
            random_state=0,
        )
    elif task == "binary":
        X, y = make_classification(
            n_samples=80, n_features=5, n_informative=3, random_state=1
        )
    elif task == "multilabel":
        X, y = make_multilabel_classification(
            n_samples=80, n_features=6, n_classes=3, random_state=2
        )
    elif task == "regression":
        X, y = make_regression(
            n_samples=80, n_features=5, n_informative=4, noise=0.5, random_state=3
        )
        y = (y - y.mean()) / y.std()
    elif task == "regression_multi":
        X, y = make_regression(
            n_samples=80,
            n_features=5,
            n_informative=4,
            n_targets=2,
            noise=0.5,
            random_state=4,
        )
        y = _standardize(y)
    elif task == "poisson":
        rng = np.random.RandomState(5)
        X = rng.normal(size=(80, 5))
        w = rng.uniform(-0.5, 0.5, size=5)
        y = rng.poisson(np.exp(0.5 + X @ w)).astype(np.float64)
    else:  # pragma: no cover
        raise ValueError(task)
    return _standardize(np.asarray(X, dtype=np.float64)), y


def make_pair(task, **params):
    """The same estimator configuration in fastmlp and in the reference."""
    if task in CLASSIFICATION_TASKS:
        return MLPClassifier(**params), RefMLPClassifier(**params)
    if task == "poisson":
        params = {"loss": "poisson", **params}
    return MLPRegressor(**params), RefMLPRegressor(**params)


def base_params(**params):
    out = dict(
        hidden_layer_sizes=(7,),
        shuffle=False,
        random_state=0,
        max_iter=8,
        **ALL_EPOCHS,
    )
    out.update(params)
    return out


def _assert_close(actual, desired, rtol, atol, what):
    actual = np.asarray(actual)
    desired = np.asarray(desired)
    assert actual.shape == desired.shape, (
        f"{what}: shape {actual.shape} != reference {desired.shape}"
    )
    assert_allclose(actual, desired, rtol=rtol, atol=atol, err_msg=what)


def assert_same_model(fm, ref, X, rtol=RTOL, atol=ATOL):
    """Compare every fitted attribute and the predictions of two models."""
    assert fm.n_iter_ == ref.n_iter_
    assert fm.t_ == ref.t_
    assert fm.n_layers_ == ref.n_layers_
    assert fm.n_outputs_ == ref.n_outputs_
    assert fm.out_activation_ == ref.out_activation_
    assert fm.n_features_in_ == ref.n_features_in_

    assert len(fm.coefs_) == len(ref.coefs_)
    assert len(fm.intercepts_) == len(ref.intercepts_)
    for i, (a, b) in enumerate(zip(fm.coefs_, ref.coefs_)):
        assert a.dtype == np.float64, f"coefs_[{i}] dtype {a.dtype}"
        _assert_close(a, b, rtol, atol, f"coefs_[{i}]")
    for i, (a, b) in enumerate(zip(fm.intercepts_, ref.intercepts_)):
        assert a.dtype == np.float64, f"intercepts_[{i}] dtype {a.dtype}"
        _assert_close(a, b, rtol, atol, f"intercepts_[{i}]")

    _assert_close(fm.loss_, ref.loss_, rtol, atol, "loss_")

    for attr in (
        "loss_curve_",
        "best_loss_",
        "validation_scores_",
        "best_validation_score_",
    ):
        assert hasattr(fm, attr) == hasattr(ref, attr), attr
        if not hasattr(ref, attr):
            continue
        a, b = getattr(fm, attr), getattr(ref, attr)
        if b is None:
            assert a is None, f"{attr} should be None, got {a!r}"
            continue
        assert a is not None, f"{attr} is None, reference has {b!r}"
        if isinstance(b, list):
            assert len(a) == len(b), f"{attr}: {len(a)} entries, reference {len(b)}"
        _assert_close(np.asarray(a, float), np.asarray(b, float), rtol, atol, attr)

    if hasattr(ref, "classes_"):
        assert_array_equal(fm.classes_, ref.classes_)
        _assert_close(
            fm.predict_proba(X), ref.predict_proba(X), rtol, atol, "predict_proba"
        )
        assert_array_equal(fm.predict(X), ref.predict(X))
    else:
        _assert_close(fm.predict(X), ref.predict(X), rtol, atol, "predict")


def fit_pair(task, sample_weight=None, **params):
    X, y = make_data(task)
    fm, ref = make_pair(task, **params)
    fm.fit(X, y, sample_weight=sample_weight)
    ref.fit(X, y, sample_weight=sample_weight)
    return fm, ref, X, y


# --------------------------------------------------------------------------
# Activation x task grid, both stochastic solvers
# --------------------------------------------------------------------------


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("task", ALL_TASKS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activation_task_grid(activation, task, solver):
    if solver == "sgd":
        # the exp output link makes poisson more sensitive to the step size
        lr = 0.02 if task == "poisson" else 0.05
    else:
        lr = 0.01
    fm, ref, X, _ = fit_pair(
        task,
        **base_params(
            hidden_layer_sizes=(5, 4),
            activation=activation,
            solver=solver,
            learning_rate_init=lr,
            batch_size=25,
            alpha=1e-3,
        ),
    )
    assert_same_model(fm, ref, X)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("hidden_layer_sizes", [(), 3, (7,), [6, 5, 4]])
def test_architectures(hidden_layer_sizes, activation):
    fm, ref, X, _ = fit_pair(
        "multiclass",
        **base_params(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            solver="sgd",
            learning_rate_init=0.05,
            batch_size=30,
        ),
    )
    assert_same_model(fm, ref, X)


def test_initial_weights_match():
    # One sgd step with a vanishing learning rate: the weights are (almost)
    # the initial ones, so this pins down the Glorot initialisation itself.
    for activation in ACTIVATIONS:  # 'logistic' uses a different bound
        fm, ref, X, _ = fit_pair(
            "multiclass",
            **base_params(
                hidden_layer_sizes=(5, 4),
                activation=activation,
                solver="sgd",
                learning_rate_init=1e-300,
                max_iter=1,
                random_state=42,
            ),
        )
        assert_same_model(fm, ref, X)


# --------------------------------------------------------------------------
# SGD variants and learning-rate schedules
# --------------------------------------------------------------------------

SGD_VARIANTS = {
    "plain": dict(momentum=0.0),
    "momentum": dict(momentum=0.9, nesterovs_momentum=False),
    "nesterov": dict(momentum=0.9, nesterovs_momentum=True),
}


@pytest.mark.parametrize("task", ["multiclass", "regression"])
@pytest.mark.parametrize("learning_rate", ["constant", "invscaling", "adaptive"])
@pytest.mark.parametrize("variant", list(SGD_VARIANTS))
def test_sgd_variants(variant, learning_rate, task):
    fm, ref, X, _ = fit_pair(
        task,
        **base_params(
            solver="sgd",
            learning_rate=learning_rate,
            learning_rate_init=0.1 if learning_rate != "invscaling" else 0.5,
            power_t=0.4,
            batch_size=20,
            **SGD_VARIANTS[variant],
        ),
    )
    assert_same_model(fm, ref, X)


@pytest.mark.parametrize("task", ["multiclass", "regression"])
@pytest.mark.parametrize("variant", list(SGD_VARIANTS))
def test_sgd_adaptive_learning_rate_triggers(variant, task):
    # A huge tol makes every epoch count as "no improvement", so the adaptive
    # schedule divides the learning rate by 5 every n_iter_no_change + 1
    # epochs and finally stops once it falls below 1e-6.
    params = base_params(
        solver="sgd",
        learning_rate="adaptive",
        learning_rate_init=0.1,
        batch_size=20,
        tol=10.0,
        n_iter_no_change=1,
        max_iter=40,
        **SGD_VARIANTS[variant],
    )
    fm, ref, X, _ = fit_pair(task, **params)
    # the schedule really fired in the reference run and stopped training
    assert ref._optimizer.learning_rate < params["learning_rate_init"]
    assert ref.n_iter_ < params["max_iter"]
    assert_same_model(fm, ref, X)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_tol_based_stopping(task, solver):
    # Training stops on the training-loss criterion before max_iter.
    params = base_params(
        solver=solver,
        learning_rate_init=0.01,
        batch_size=20,
        tol=1e-2,
        n_iter_no_change=2,
        max_iter=200,
    )
    fm, ref, X, _ = fit_pair(task, **params)
    assert ref.n_iter_ < params["max_iter"]
    assert_same_model(fm, ref, X)


def test_n_iter_no_change_inf():
    fm, ref, X, _ = fit_pair(
        "binary",
        **base_params(solver="sgd", tol=10.0, n_iter_no_change=np.inf, max_iter=6),
    )
    assert ref.n_iter_ == 6
    assert_same_model(fm, ref, X)


# --------------------------------------------------------------------------
# Adam
# --------------------------------------------------------------------------


@pytest.mark.parametrize("task", ["multiclass", "regression_multi"])
@pytest.mark.parametrize(
    "adam_params",
    [
        dict(),
        dict(learning_rate_init=0.02),
        dict(learning_rate_init=0.01, beta_1=0.5, beta_2=0.9),
        dict(learning_rate_init=0.01, beta_1=0.0, epsilon=1e-4),
    ],
)
def test_adam(adam_params, task):
    fm, ref, X, _ = fit_pair(
        task,
        **base_params(
            solver="adam",
            hidden_layer_sizes=(5, 4),
            batch_size=16,
            **adam_params,
        ),
    )
    assert_same_model(fm, ref, X)


# --------------------------------------------------------------------------
# Regularisation, batch sizes, sample weights
# --------------------------------------------------------------------------


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("task", ["binary", "regression", "poisson"])
@pytest.mark.parametrize("alpha", [0.0, 1e-4, 0.3])
def test_alpha(alpha, task, solver):
    fm, ref, X, _ = fit_pair(
        task,
        **base_params(
            solver=solver,
            alpha=alpha,
            learning_rate_init=0.05 if solver == "sgd" else 0.01,
            batch_size=32,
        ),
    )
    assert_same_model(fm, ref, X)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("task", ["multiclass", "regression"])
@pytest.mark.parametrize("batch_size", [1, 7, 10, 30, "auto", 80])
def test_batch_size(batch_size, task, solver):
    # n_samples is 90 (multiclass) / 80 (regression): 7 never divides it,
    # 10 always does, 30 divides only 90, 80 is full batch only for the
    # regression data and 'auto' (= min(200, n_samples)) is always full batch.
    fm, ref, X, _ = fit_pair(
        task,
        **base_params(
            solver=solver,
            batch_size=batch_size,
            learning_rate_init=0.01 if batch_size != 1 else 0.002,
            max_iter=3 if batch_size == 1 else 6,
        ),
    )
    assert_same_model(fm, ref, X)


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_batch_size_larger_than_n_samples_is_clipped(task):
    X, y = make_data(task)
    params = base_params(solver="sgd", batch_size=1000, learning_rate_init=0.05)
    fm, ref = make_pair(task, **params)
    with pytest.warns(UserWarning, match="clipped"):
        fm.fit(X, y)
    with pytest.warns(UserWarning, match="clipped"):
        ref.fit(X, y)
    assert_same_model(fm, ref, X)

    # clipping means exactly full-batch training
    full = make_pair(task, **{**params, "batch_size": X.shape[0]})[0].fit(X, y)
    for a, b in zip(fm.coefs_, full.coefs_):
        assert_array_equal(a, b)
    assert_array_equal(fm.loss_curve_, full.loss_curve_)


def _sample_weight(n, seed=0, with_zeros=True):
    rng = np.random.RandomState(seed)
    sw = rng.uniform(0.2, 3.0, size=n)
    if with_zeros:
        sw[rng.choice(n, size=n // 10, replace=False)] = 0.0
    return sw


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("task", ALL_TASKS)
def test_sample_weight(task, solver):
    X, y = make_data(task)
    sw = _sample_weight(X.shape[0])
    params = base_params(
        solver=solver,
        hidden_layer_sizes=(5, 4),
        learning_rate_init=0.05 if solver == "sgd" else 0.01,
        batch_size=16,
        alpha=1e-3,
    )
    fm, ref = make_pair(task, **params)
    fm.fit(X, y, sample_weight=sw)
    ref.fit(X, y, sample_weight=sw)
    assert_same_model(fm, ref, X)

    # weights really change the result
    unweighted = make_pair(task, **params)[0].fit(X, y)
    assert not np.allclose(unweighted.coefs_[0], fm.coefs_[0], rtol=1e-6)


def test_sample_weight_integer_list():
    # integer weights given as a plain list
    X, y = make_data("binary")
    sw = list(np.random.RandomState(3).randint(0, 4, size=X.shape[0]))
    fm, ref = make_pair("binary", **base_params(solver="sgd", batch_size=20))
    fm.fit(X, y, sample_weight=sw)
    ref.fit(X, y, sample_weight=sw)
    assert_same_model(fm, ref, X)


# --------------------------------------------------------------------------
# Early stopping
# --------------------------------------------------------------------------


@pytest.mark.parametrize("stop_early", [False, True], ids=["all_epochs", "stops"])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize(
    "task", ["multiclass", "binary", "multilabel", "regression", "regression_multi"]
)
def test_early_stopping(task, solver, stop_early):
    if stop_early:
        # tol=0.5 is never beaten: the first epoch sets the best score, the
        # next n_iter_no_change + 1 epochs do not improve on it, training
        # stops and the best weights are restored.
        stopping = dict(tol=0.5, n_iter_no_change=2, max_iter=30)
    else:
        stopping = dict(tol=0.0, n_iter_no_change=1000, max_iter=8)
    params = base_params(
        solver=solver,
        early_stopping=True,
        validation_fraction=0.2,
        random_state=3,
        learning_rate_init=0.05 if solver == "sgd" else 0.01,
        batch_size=16,
        **stopping,
    )
    fm, ref, X, _ = fit_pair(task, **params)
    if stop_early:
        assert ref.n_iter_ == stopping["n_iter_no_change"] + 2
    else:
        assert ref.n_iter_ == 8
    assert fm.best_loss_ is None
    assert len(fm.validation_scores_) == fm.n_iter_
    assert_same_model(fm, ref, X)


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_early_stopping_with_sample_weight(task):
    X, y = make_data(task)
    sw = _sample_weight(X.shape[0], seed=1)
    params = base_params(
        solver="adam",
        early_stopping=True,
        validation_fraction=0.25,
        learning_rate_init=0.01,
        batch_size=16,
        random_state=11,
    )
    fm, ref = make_pair(task, **params)
    fm.fit(X, y, sample_weight=sw)
    ref.fit(X, y, sample_weight=sw)
    assert_same_model(fm, ref, X)


@pytest.mark.parametrize("random_state", [0, 1, 2, 3])
def test_early_stopping_split_follows_random_state(random_state):
    # The validation split draws from the same random stream after the weight
    # initialisation, so it must change with random_state exactly like the
    # reference does.
    fm, ref, X, _ = fit_pair(
        "multiclass",
        **base_params(
            solver="sgd",
            early_stopping=True,
            validation_fraction=0.3,
            learning_rate_init=0.05,
            batch_size=20,
            max_iter=4,
            random_state=random_state,
        ),
    )
    assert_same_model(fm, ref, X)


# --------------------------------------------------------------------------
# warm_start, partial_fit, user-assigned weights
# --------------------------------------------------------------------------

WARM_CONFIGS = {
    "sgd_invscaling": dict(
        solver="sgd", learning_rate="invscaling", learning_rate_init=0.5
    ),
    "sgd_adaptive": dict(
        solver="sgd",
        learning_rate="adaptive",
        learning_rate_init=0.1,
        tol=10.0,
        n_iter_no_change=1,
    ),
    "adam": dict(solver="adam", learning_rate_init=0.01),
}


@pytest.mark.parametrize("task", ["multiclass", "regression"])
@pytest.mark.parametrize("config", list(WARM_CONFIGS))
def test_warm_start(config, task):
    X, y = make_data(task)
    params = base_params(
        warm_start=True, batch_size=20, max_iter=4, **WARM_CONFIGS[config]
    )
    fm, ref = make_pair(task, **params)
    fm.fit(X, y)
    ref.fit(X, y)
    assert_same_model(fm, ref, X)

    # continue on a subset (t_ keeps counting, loss_curve_ keeps growing)
    fm.set_params(max_iter=3)
    ref.set_params(max_iter=3)
    fm.fit(X[:60], y[:60])
    ref.fit(X[:60], y[:60])
    assert_same_model(fm, ref, X)
    assert len(fm.loss_curve_) == len(ref.loss_curve_)

    fm.fit(X, y)
    ref.fit(X, y)
    assert_same_model(fm, ref, X)


@pytest.mark.parametrize("task", ["multiclass", "binary", "regression"])
def test_warm_start_with_early_stopping(task):
    # validation_scores_ keeps growing and best_validation_score_ carries over
    X, y = make_data(task)
    params = base_params(
        solver="adam",
        learning_rate_init=0.01,
        early_stopping=True,
        warm_start=True,
        batch_size=20,
        max_iter=4,
    )
    fm, ref = make_pair(task, **params)
    fm.fit(X, y)
    ref.fit(X, y)
    assert_same_model(fm, ref, X)
    fm.set_params(max_iter=3)
    ref.set_params(max_iter=3)
    fm.fit(X[:60], y[:60])
    ref.fit(X[:60], y[:60])
    assert len(ref.validation_scores_) == 7
    assert_same_model(fm, ref, X)


def test_warm_start_with_early_stopping_without_improvement():
    # A continued early-stopping fit in which no epoch beats the best_validation_score_ carried
    # over from the previous fit. The training trajectory matches scikit-learn's; the end does
    # not, on purpose (README, "Where fastmlp deliberately differs"): fastmlp restores the best
    # weights, i.e. those it started this fit from, while scikit-learn's restored arrays are the
    # live weights it kept training, so it ends with its last epoch's weights.
    X, y = make_data("multiclass")
    params = base_params(
        solver="adam",
        learning_rate_init=0.01,
        early_stopping=True,
        warm_start=True,
        batch_size=20,
        max_iter=4,
    )
    fm, ref = make_pair("multiclass", **params)
    for i, (Xi, yi) in enumerate([(X, y), (X[:60], y[:60]), (X, y)]):
        if i == 1:
            fm.set_params(max_iter=3)
            ref.set_params(max_iter=3)
        if i == 2:
            fm_before = [c.copy() for c in fm.coefs_] + [b.copy() for b in fm.intercepts_]
            ref_before = [c.copy() for c in ref.coefs_]
            best_before = ref.best_validation_score_
            assert_same_model(fm, ref, X)
        fm.fit(Xi, yi)
        ref.fit(Xi, yi)
    # the scenario is really hit: no improvement in the last fit ...
    assert max(ref.validation_scores_[-3:]) <= best_before
    assert ref.best_validation_score_ == best_before
    # ... the trajectory is the same ...
    for attr in ("loss_curve_", "validation_scores_"):
        _assert_close(np.asarray(getattr(fm, attr)), np.asarray(getattr(ref, attr)),
                      RTOL, ATOL, attr)
    assert fm.best_validation_score_ == pytest.approx(ref.best_validation_score_, rel=RTOL)
    # ... and fastmlp ends on the best weights, scikit-learn on its last epoch's
    for a, b in zip(list(fm.coefs_) + list(fm.intercepts_), fm_before):
        assert_array_equal(a, b)
    assert not np.allclose(ref.coefs_[0], ref_before[0])


def test_warm_start_continues_from_previous_weights():
    # warm_start=True continues; warm_start=False restarts from scratch.
    X, y = make_data("multiclass")
    params = base_params(solver="sgd", learning_rate_init=0.05, max_iter=3)
    warm = MLPClassifier(warm_start=True, **params).fit(X, y).fit(X, y)
    cold = MLPClassifier(warm_start=False, **params).fit(X, y).fit(X, y)
    once = MLPClassifier(**params).fit(X, y)
    for a, b in zip(cold.coefs_, once.coefs_):
        assert_array_equal(a, b)
    assert not np.allclose(warm.coefs_[0], once.coefs_[0])
    assert len(warm.loss_curve_) == 6
    assert warm.t_ == 6 * X.shape[0]


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("task", ["multiclass", "binary", "multilabel"])
def test_partial_fit_classifier(task, solver):
    X, y = make_data(task)
    n = X.shape[0]
    params = base_params(
        solver=solver,
        learning_rate_init=0.05 if solver == "sgd" else 0.01,
        batch_size=8,
        momentum=0.9,
        nesterovs_momentum=False,
    )
    fm, ref = make_pair(task, **params)
    classes = np.unique(y) if task != "multilabel" else np.arange(y.shape[1])
    if task == "multiclass":
        # the first chunk only contains a subset of the classes
        first = np.flatnonzero(y != 2)[:25]
    else:
        first = np.arange(25)
    fm.partial_fit(X[first], y[first], classes=classes)
    ref.partial_fit(X[first], y[first], classes=classes)
    assert_same_model(fm, ref, X)

    sw = _sample_weight(n, seed=2)
    for start in (25, 50, 0, 40):
        sl = slice(start, start + 30)
        kwargs = {"sample_weight": sw[sl]} if start == 0 else {}
        fm.partial_fit(X[sl], y[sl], **kwargs)
        ref.partial_fit(X[sl], y[sl], **kwargs)
        assert_same_model(fm, ref, X)
    assert fm.n_iter_ == 1


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("task", ["regression", "regression_multi", "poisson"])
def test_partial_fit_regressor(task, solver):
    X, y = make_data(task)
    params = base_params(
        solver=solver,
        learning_rate_init=0.02 if solver == "sgd" else 0.01,
        batch_size=8,
    )
    fm, ref = make_pair(task, **params)
    sw = _sample_weight(X.shape[0], seed=4)
    for start in (0, 30, 60, 10):
        sl = slice(start, start + 25)
        kwargs = {"sample_weight": sw[sl]} if start == 60 else {}
        fm.partial_fit(X[sl], y[sl], **kwargs)
        ref.partial_fit(X[sl], y[sl], **kwargs)
        assert_same_model(fm, ref, X)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_partial_fit_after_fit(task, solver):
    # partial_fit reuses the optimizer state (velocities / Adam moments) of
    # the preceding fit.
    X, y = make_data(task)
    params = base_params(
        solver=solver,
        learning_rate_init=0.05 if solver == "sgd" else 0.01,
        batch_size=20,
        max_iter=3,
    )
    fm, ref = make_pair(task, **params)
    fm.fit(X, y)
    ref.fit(X, y)
    for _ in range(3):
        fm.partial_fit(X, y)
        ref.partial_fit(X, y)
        assert_same_model(fm, ref, X)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("task", ["multiclass", "regression_multi"])
def test_user_assigned_weights_with_warm_start(task, solver):
    X, y = make_data(task)
    params = base_params(
        solver=solver,
        hidden_layer_sizes=(5, 4),
        warm_start=True,
        learning_rate_init=0.05 if solver == "sgd" else 0.01,
        batch_size=20,
        max_iter=2,
    )
    fm, ref = make_pair(task, **params)
    fm.fit(X, y)
    ref.fit(X, y)

    rng = np.random.RandomState(7)
    coefs = [rng.uniform(-0.6, 0.6, size=c.shape) for c in ref.coefs_]
    intercepts = [rng.uniform(-0.2, 0.2, size=b.shape) for b in ref.intercepts_]
    # Fortran-ordered and strided views: the library must read what the user
    # assigned, whatever the memory layout.
    fm.coefs_ = [np.asfortranarray(c) for c in coefs]
    fm.intercepts_ = [np.repeat(b, 2)[::2] for b in intercepts]
    ref.coefs_ = [c.copy() for c in coefs]
    ref.intercepts_ = [b.copy() for b in intercepts]

    fm.set_params(max_iter=4)
    ref.set_params(max_iter=4)
    fm.fit(X, y)
    ref.fit(X, y)
    assert_same_model(fm, ref, X)


def test_user_assigned_weights_change_predictions():
    # Assigning coefs_ on a fitted model is reflected by predict at once.
    X, y = make_data("regression")
    fm, ref = make_pair("regression", **base_params(solver="adam", max_iter=2))
    fm.fit(X, y)
    ref.fit(X, y)
    rng = np.random.RandomState(8)
    coefs = [rng.normal(size=c.shape) for c in ref.coefs_]
    fm.coefs_ = [c.copy() for c in coefs]
    ref.coefs_ = [c.copy() for c in coefs]
    assert_allclose(fm.predict(X), ref.predict(X), rtol=RTOL, atol=ATOL)


# --------------------------------------------------------------------------
# L-BFGS
# --------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.0, 1e-3])
@pytest.mark.parametrize("task", ALL_TASKS)
def test_lbfgs(task, alpha):
    fm, ref, X, _ = fit_pair(
        task,
        **base_params(
            solver="lbfgs",
            hidden_layer_sizes=(5, 4),
            activation="tanh",
            alpha=alpha,
            max_iter=6,
        ),
    )
    assert_same_model(fm, ref, X, rtol=RTOL_LBFGS, atol=ATOL_LBFGS)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_lbfgs_activations_with_sample_weight(activation):
    X, y = make_data("multiclass")
    sw = _sample_weight(X.shape[0], seed=5)
    params = base_params(solver="lbfgs", activation=activation, max_iter=5)
    fm, ref = make_pair("multiclass", **params)
    fm.fit(X, y, sample_weight=sw)
    ref.fit(X, y, sample_weight=sw)
    assert_same_model(fm, ref, X, rtol=RTOL_LBFGS, atol=ATOL_LBFGS)


def test_lbfgs_max_fun():
    fm, ref, X, _ = fit_pair(
        "regression", **base_params(solver="lbfgs", max_iter=50, max_fun=4)
    )
    assert_same_model(fm, ref, X, rtol=RTOL_LBFGS, atol=ATOL_LBFGS)


# --------------------------------------------------------------------------
# Input layouts and dtypes that are converted to float64
# --------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["fortran", "strided", "int", "list", "float64_y"])
def test_input_layouts(layout):
    X, y = make_data("multiclass")
    if layout == "fortran":
        X = np.asfortranarray(X)
    elif layout == "strided":
        X = np.repeat(X, 2, axis=1)[:, ::2]
    elif layout == "int":
        X = np.round(X * 3).astype(np.int64)
    elif layout == "list":
        X = X.tolist()
    elif layout == "float64_y":
        y = y.astype(np.float64)
    params = base_params(solver="sgd", learning_rate_init=0.05, batch_size=20)
    fm, ref = make_pair("multiclass", **params)
    fm.fit(X, y)
    ref.fit(X, y)
    assert_same_model(fm, ref, np.asarray(X, dtype=np.float64))
