"""scikit-learn's estimator API conformance suite on fastmlp's estimators.

Parameters are chosen to keep the suite fast (small hidden layer, few epochs,
a larger step size so the accuracy-based checks still pass) while keeping the
default solver ('adam') and shuffling on.  Every check must pass: no check is
marked as an expected failure.
"""

import warnings

import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import check_estimator, parametrize_with_checks

from fastmlp import MLPClassifier, MLPRegressor

FAST_PARAMS = dict(
    hidden_layer_sizes=(16,),
    learning_rate_init=0.01,
    max_iter=50,
    random_state=0,
)


def _estimators():
    return [MLPClassifier(**FAST_PARAMS), MLPRegressor(**FAST_PARAMS)]


@parametrize_with_checks(_estimators())
def test_sklearn_compatible_estimator(estimator, check):
    with warnings.catch_warnings():
        # few epochs on purpose; convergence is not what is checked here
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


@pytest.mark.parametrize(
    "estimator", _estimators(), ids=lambda est: type(est).__name__
)
def test_check_estimator(estimator):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # raises on the first failing check
        check_estimator(estimator, on_skip=None)
