"""Dropout and batch normalization against NumPy references (no PyTorch needed): one plain SGD
step of a one-hidden-layer regressor, its forward and backward pass written out in NumPy, and
the batch-norm running statistics and eval-mode predict. The gradient checks compare the core
with itself; these compare it with the formulas."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import stats

from fastmlp import MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

EPS = 1e-5  # batch norm's epsilon (PyTorch's BatchNorm1d)
MOMENTUM = 0.1  # and its momentum

# One plain SGD step over the whole data, no penalty: new = old - lr * gradient.
_ONE_STEP = dict(solver="sgd", momentum=0.0, alpha=0.0, max_iter=1, shuffle=False,
                 activation="identity", random_state=0)
_LR = 0.05


def _initial_weights(X, y, **options):
    """The weights before the step: a fit whose rate (1e-300) leaves them unchanged to the
    last bit (fastmlp starts from scikit-learn's draw for a given random_state)."""
    frozen = MLPRegressor(learning_rate_init=1e-300, **_ONE_STEP, **options).fit(X, y)
    return frozen, [c.copy() for c in frozen.coefs_], [b.copy() for b in frozen.intercepts_]


# ------------------------------------------------------------------------------- dropout


@pytest.mark.parametrize("rate", [0.25, 0.6])
def test_dropout_step_matches_numpy_with_the_same_mask(rate):
    """Kept hidden values are scaled by 1 / (1 - rate) in the forward pass and their gradient
    by the same factor in the backward pass, dropped ones are zero in both; the dropped
    fraction is the rate. The mask is read off the step: a dropped unit's outgoing weights do
    not move."""
    units = 4000
    rng = np.random.RandomState(0)
    X = rng.normal(size=(1, 3))
    y = np.array([2.5])
    options = dict(hidden_layer_sizes=(units,), dropout=rate, batch_size=1)
    _, (W1, W2), (b1, b2) = _initial_weights(X, y, **options)
    model = MLPRegressor(learning_rate_init=_LR, **_ONE_STEP, **options).fit(X, y)

    kept = (model.coefs_[1] != W2).ravel()
    n_dropped = int((~kept).sum())
    assert stats.binomtest(n_dropped, units, rate).pvalue > 1e-4, (n_dropped, units * rate)

    scale = np.where(kept, 1.0 / (1.0 - rate), 0.0)
    z = X @ W1 + b1
    h = z * scale  # dropout on the hidden layer's output (identity activation)
    out = h @ W2 + b2
    d_out = out - y[:, None]  # half squared error, one sample
    dW2 = h.T @ d_out
    db2 = d_out.sum(axis=0)
    dz = (d_out @ W2.T) * scale
    dW1 = X.T @ dz
    db1 = dz.sum(axis=0)
    for got, start, grad in ((model.coefs_[0], W1, dW1), (model.intercepts_[0], b1, db1),
                             (model.coefs_[1], W2, dW2), (model.intercepts_[1], b2, db2)):
        assert_allclose(got, start - _LR * grad, rtol=1e-10, atol=1e-13)
    # predict uses every unit, unscaled
    assert_allclose(model.predict(X), (X @ model.coefs_[0] + model.intercepts_[0])
                    @ model.coefs_[1][:, 0] + model.intercepts_[1], rtol=1e-12)


# ------------------------------------------------------------------------------- batch norm


def _batch_norm_data():
    rng = np.random.RandomState(1)
    X = rng.normal(size=(40, 5)) * [1.0, 3.0, 0.5, 2.0, 1.0] + [0.0, 1.0, -2.0, 0.5, 3.0]
    y = X @ rng.normal(size=5) + 0.3 * rng.normal(size=40)
    return X, y


def test_batch_norm_running_statistics_match_numpy():
    """The running estimates after one batch: PyTorch's rule from mean 0 and variance 1,
    new = (1 - momentum) * old + momentum * batch value, with the batch's unbiased variance."""
    X, y = _batch_norm_data()
    options = dict(hidden_layer_sizes=(7,), batch_norm=True, batch_size=len(X))
    frozen, (W1, _), (b1, _) = _initial_weights(X, y, **options)
    z = X @ W1 + b1
    assert_allclose(frozen.batch_norm_means_[0], MOMENTUM * z.mean(axis=0), rtol=1e-12)
    assert_allclose(frozen.batch_norm_vars_[0],
                    (1 - MOMENTUM) * 1.0 + MOMENTUM * z.var(axis=0, ddof=1), rtol=1e-12)


def test_batch_norm_step_and_predict_match_numpy():
    """Training normalizes with the batch mean and biased variance; one SGD step moves every
    parameter (weights, scales, shifts) by the NumPy gradient; predict normalizes with the
    running estimates."""
    X, y = _batch_norm_data()
    options = dict(hidden_layer_sizes=(7,), batch_norm=True, batch_size=len(X))
    frozen, (W1, W2), (b1, b2) = _initial_weights(X, y, **options)
    gamma, beta = frozen.batch_norm_scales_[0].copy(), frozen.batch_norm_shifts_[0].copy()
    assert_allclose(gamma, 1.0, rtol=1e-15)  # PyTorch's start: scales 1, shifts 0
    assert_allclose(beta, 0.0, atol=1e-250)
    model = MLPRegressor(learning_rate_init=_LR, **_ONE_STEP, **options).fit(X, y)

    n = len(X)
    z = X @ W1 + b1
    mean, var = z.mean(axis=0), z.var(axis=0)  # biased: what training normalizes with
    inv_std = 1.0 / np.sqrt(var + EPS)
    z_hat = (z - mean) * inv_std
    h = gamma * z_hat + beta  # identity activation
    out = h @ W2 + b2
    d_out = (out - y[:, None]) / n  # half mean squared error
    dW2, db2 = h.T @ d_out, d_out.sum(axis=0)
    dh = d_out @ W2.T
    d_gamma, d_beta = (dh * z_hat).sum(axis=0), dh.sum(axis=0)
    dz_hat = dh * gamma
    dz = inv_std * (dz_hat - dz_hat.mean(axis=0) - z_hat * (dz_hat * z_hat).mean(axis=0))
    dW1, db1 = X.T @ dz, dz.sum(axis=0)
    for got, start, grad in (
        (model.coefs_[0], W1, dW1), (model.intercepts_[0], b1, db1),
        (model.coefs_[1], W2, dW2), (model.intercepts_[1], b2, db2),
        (model.batch_norm_scales_[0], gamma, d_gamma),
        (model.batch_norm_shifts_[0], beta, d_beta),
    ):
        assert_allclose(got, start - _LR * grad, rtol=1e-9, atol=1e-12)
    assert_allclose(model.batch_norm_means_[0], MOMENTUM * mean, rtol=1e-12)
    assert_allclose(model.batch_norm_vars_[0], 1 - MOMENTUM + MOMENTUM * z.var(axis=0, ddof=1),
                    rtol=1e-12)

    # eval mode: the running estimates, not the batch's statistics
    z = X @ model.coefs_[0] + model.intercepts_[0]
    z_hat = (z - model.batch_norm_means_[0]) / np.sqrt(model.batch_norm_vars_[0] + EPS)
    h = model.batch_norm_scales_[0] * z_hat + model.batch_norm_shifts_[0]
    expected = h @ model.coefs_[1][:, 0] + model.intercepts_[1][0]
    assert_allclose(model.predict(X), expected, rtol=1e-12, atol=1e-12)
