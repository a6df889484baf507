"""The courses' sanity checks of a training setup, on fastmlp's public API.

- With a small initialization the first softmax loss is about ln(n_classes).
- More L2 regularization gives a larger final training loss.
- A tiny training set (20 samples) can be fitted to 100% training accuracy.
- Full-batch gradient descent is solver='sgd', batch_size=n_samples: checked against a NumPy
  implementation of softmax regression trained by gradient descent.
"""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import load_digits
from scipy.special import log_softmax

from fastmlp import MLPClassifier

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


@pytest.mark.parametrize("n_classes", [3, 10])
def test_initial_softmax_loss_is_log_n_classes(digits, n_classes):
    X, y = digits
    keep = y < n_classes
    X, y = X[keep], y[keep]
    # One full-batch epoch at a vanishing rate: its loss is the loss of the initial weights.
    model = MLPClassifier(
        (64, 32), init="normal", init_std=0.01, alpha=0.0, solver="sgd", batch_size=len(y),
        learning_rate_init=1e-300, max_iter=1, random_state=0,
    ).fit(X, y)
    assert abs(model.loss_curve_[0] - math.log(n_classes)) < 1e-3
    # the same holds for the running loss of an ordinary first mini-batch epoch at a small rate
    model = MLPClassifier((64, 32), init="normal", learning_rate_init=1e-5, max_iter=1,
                          random_state=0).fit(X, y)
    assert abs(model.loss_curve_[0] - math.log(n_classes)) < 1e-2


def test_loss_rises_with_regularization(digits):
    X, y = digits
    X, y = X[:500], y[:500]
    final_losses = []
    for alpha in (1e-4, 1e-2, 1e-1, 1.0, 10.0):
        model = MLPClassifier((32,), alpha=alpha, max_iter=60, learning_rate_init=0.01,
                              random_state=0).fit(X, y)
        final_losses.append(model.loss_)
    assert all(a < b for a, b in zip(final_losses, final_losses[1:])), final_losses


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_twenty_samples_can_be_overfit(digits, solver):
    X, y = digits
    X, y = X[:20], y[:20]
    model = MLPClassifier((64,), solver=solver, alpha=0.0, learning_rate_init=0.05,
                          max_iter=500, random_state=0).fit(X, y)
    assert model.score(X, y) == 1.0
    if solver != "lbfgs":
        assert model.history_["score"][-1] == 1.0


def _softmax_regression_gd(X, Y, W, b, lr, alpha, n_steps):
    """Full-batch gradient descent on the mean cross-entropy plus
    0.5 * alpha * ||W||^2 / n_samples; returns (W, b, loss before each step)."""
    n = X.shape[0]
    losses = []
    for _ in range(n_steps):
        logp = log_softmax(X @ W + b, axis=1)
        losses.append(-np.mean(np.sum(Y * logp, axis=1)) + 0.5 * alpha * np.sum(W * W) / n)
        delta = (np.exp(logp) - Y) / n
        W, b = W - lr * (X.T @ delta + alpha * W / n), b - lr * delta.sum(axis=0)
    return W, b, losses


def test_full_batch_gradient_descent_is_sgd_with_batch_size_n(digits):
    X, y = digits
    X, y = X[:300], y[:300]
    lr, alpha, n_steps = 0.5, 0.1, 6
    model = MLPClassifier(
        hidden_layer_sizes=(), solver="sgd", batch_size=len(y), momentum=0.0, alpha=alpha,
        learning_rate_init=lr, max_iter=n_steps, init="normal", init_std=0.1,
        random_state=7, tol=0, n_iter_no_change=100,
    ).fit(X, y)
    W0 = np.random.RandomState(7).normal(0.0, 0.1, (X.shape[1], 10))
    Y = np.eye(10)[y]
    W, b, losses = _softmax_regression_gd(X, Y, W0, np.zeros(10), lr, alpha, n_steps)
    assert_allclose(model.coefs_[0], W, rtol=1e-10, atol=1e-13)
    assert_allclose(model.intercepts_[0], b, rtol=1e-10, atol=1e-13)
    assert_allclose(model.loss_curve_, losses, rtol=1e-12)
    # and the training loss of gradient descent at this rate goes down every step
    assert all(a > c for a, c in zip(losses, losses[1:]))
