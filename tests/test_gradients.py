"""Backpropagation in the C core against float64 central differences of its own loss.

Every hidden activation x every output/loss pair the estimators use, with L2 and sample weights.
The loss values themselves are checked against scikit-learn in test_sklearn_parity.py.
"""

import zlib

import numpy as np
import pytest

from fastmlp import _core

HIDDEN = ["identity", "logistic", "tanh", "relu"]
# (output activation, core loss, target kind)
OUTPUTS = [
    ("softmax", "log_loss", "multiclass"),
    ("logistic", "binary_log_loss", "binary"),
    ("logistic", "binary_log_loss", "multilabel"),
    ("identity", "squared_error", "regression"),
    ("exp", "poisson", "counts"),
]


def _problem(kind, n_samples, rng):
    if kind == "multiclass":
        return np.eye(3)[rng.integers(0, 3, n_samples)]
    if kind == "binary":
        return rng.integers(0, 2, (n_samples, 1)).astype(np.float64)
    if kind == "multilabel":
        return rng.integers(0, 2, (n_samples, 4)).astype(np.float64)
    if kind == "regression":
        return rng.standard_normal((n_samples, 1))
    return rng.poisson(2.0, (n_samples, 2)).astype(np.float64)


def _loss_and_grad(network, params, X, Y, sw, max_rows):
    workspace = _core.Workspace(network, max_rows, 8)
    grad = np.empty_like(params)
    loss = _core.loss_grad(workspace, params, X, Y, sw, grad)
    return loss, grad


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("output,loss,kind", OUTPUTS)
@pytest.mark.parametrize("hidden", HIDDEN)
def test_backprop_matches_central_differences(hidden, output, loss, kind, weighted):
    rng = np.random.default_rng(zlib.crc32(repr((hidden, output, kind, weighted)).encode()))
    n_samples, n_features = 9, 5
    X = rng.standard_normal((n_samples, n_features))
    Y = _problem(kind, n_samples, rng)
    sw = rng.uniform(0.5, 2.0, n_samples) if weighted else None
    units = [n_features, 6, 4, Y.shape[1]]
    network = _core.Network(units, hidden, output, loss, 0.3)
    params = rng.uniform(-0.5, 0.5, network.n_params)

    # Chunks of 4 rows exercise the accumulation across chunks of the full-batch gradient.
    loss_value, grad = _loss_and_grad(network, params, X, Y, sw, 4)
    assert np.isfinite(loss_value)

    # Fourth-order central differences: truncation error O(h^4) ~ 1e-16 and rounding noise
    # ~ eps / h ~ 1e-12, so the comparison sees the backward pass, not the stencil.
    h = 1e-4

    def loss_at(i, step):
        shifted = params.copy()
        shifted[i] += step
        return _loss_and_grad(network, shifted, X, Y, sw, 4)[0]

    numeric = np.empty_like(params)
    for i in range(params.size):
        numeric[i] = (
            -loss_at(i, 2 * h) + 8 * loss_at(i, h) - 8 * loss_at(i, -h) + loss_at(i, -2 * h)
        ) / (12 * h)
    # Relative error below 1e-6, with an absolute floor at the stencil's rounding noise for
    # gradients that are exactly zero (a ReLU unit that no sample activates).
    error = np.abs(grad - numeric)
    allowed = 1e-6 * (np.abs(grad) + np.abs(numeric)) + 1e-10
    worst = int(np.argmax(error / allowed))
    assert np.all(error <= allowed), (worst, grad[worst], numeric[worst])


def test_chunked_gradient_equals_single_chunk():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 7))
    Y = np.eye(3)[rng.integers(0, 3, 50)]
    network = _core.Network([7, 8, 3], "tanh", "softmax", "log_loss", 0.1)
    params = rng.uniform(-0.5, 0.5, network.n_params)
    loss_one, grad_one = _loss_and_grad(network, params, X, Y, None, 50)
    loss_many, grad_many = _loss_and_grad(network, params, X, Y, None, 7)
    np.testing.assert_allclose(loss_many, loss_one, rtol=1e-13)
    np.testing.assert_allclose(grad_many, grad_one, rtol=1e-12, atol=1e-15)


def test_multioutput_squared_error_gradient_follows_scikit_learn():
    # scikit-learn reports half the squared error averaged over outputs but takes gradient
    # steps on the sum over outputs (delta = prediction - target); the core does the same, so
    # the gradient is that of n_outputs * data term + L2 term.
    rng = np.random.default_rng(3)
    X = rng.standard_normal((8, 4))
    Y = rng.standard_normal((8, 3))
    network = _core.Network([4, 5, 3], "tanh", "identity", "squared_error", 0.2)
    params = rng.uniform(-0.5, 0.5, network.n_params)
    weights = params[: 4 * 5 + 5 * 3]

    def summed_objective(p):
        loss = _loss_and_grad(network, p, X, Y, None, 8)[0]
        l2 = 0.5 * 0.2 * np.sum(p[: weights.size] ** 2) / 8
        return 3 * (loss - l2) + l2

    _, grad = _loss_and_grad(network, params, X, Y, None, 8)
    h = 1e-4
    for i in range(params.size):
        step = np.zeros_like(params)
        step[i] = h
        numeric = (
            -summed_objective(params + 2 * step)
            + 8 * summed_objective(params + step)
            - 8 * summed_objective(params - step)
            + summed_objective(params - 2 * step)
        ) / (12 * h)
        assert abs(grad[i] - numeric) <= 1e-6 * (abs(grad[i]) + abs(numeric)) + 1e-10


def _numpy_forward(units, hidden, params, X):
    """Pre-activations of the hidden layers and the output layer's logits, from the core's
    parameter layout (each layer's fan_in x fan_out weights, then every layer's biases)."""
    weights, offset = [], 0
    for fan_in, fan_out in zip(units[:-1], units[1:]):
        weights.append(params[offset:offset + fan_in * fan_out].reshape(fan_in, fan_out))
        offset += fan_in * fan_out
    biases = []
    for fan_out in units[1:]:
        biases.append(params[offset:offset + fan_out])
        offset += fan_out
    act = {"logistic": lambda z: 1 / (1 + np.exp(-z)), "tanh": np.tanh,
           "relu": lambda z: np.maximum(z, 0)}[hidden]
    a, pre = X, []
    for W, b in zip(weights[:-1], biases[:-1]):
        pre.append(a @ W + b)
        a = act(pre[-1])
    return pre, a @ weights[-1] + biases[-1], weights


@pytest.mark.parametrize("hidden", ["logistic", "tanh", "relu"])
def test_packed_path_backprop_matches_central_differences(hidden, isa):
    # 40 rows and layers 19 and 13 wide go through the packed GEMM with its epilogues (bias +
    # activation forward, activation derivative backward) on partial tiles and SIMD-masked
    # rows, on every instruction set (the same parameters for each); the test above (9 rows)
    # stays on the small path.
    n_samples, units, alpha, h = 40, [5, 19, 13, 3], 0.3, 1e-4
    network = _core.Network(units, hidden, "softmax", "log_loss", alpha)
    rng = np.random.default_rng(zlib.crc32(hidden.encode()))
    for _ in range(100):
        # Parameters with no hidden pre-activation within 10 h of ReLU's kink, where the
        # stencil would straddle it.
        X = rng.standard_normal((n_samples, units[0]))
        Y = np.eye(3)[rng.integers(0, 3, n_samples)]
        params = rng.uniform(-0.5, 0.5, network.n_params)
        pre, logits, weights = _numpy_forward(units, hidden, params, X)
        if min(np.abs(z).min() for z in pre) > 10 * h:
            break
    loss_value, grad = _loss_and_grad(network, params, X, Y, None, n_samples)
    log_p = logits - logits.max(axis=1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    expected = (-np.sum(Y * log_p) + 0.5 * alpha * sum((W ** 2).sum() for W in weights)) / n_samples
    np.testing.assert_allclose(loss_value, expected, rtol=1e-12)

    def loss_at(i, step):
        shifted = params.copy()
        shifted[i] += step
        return _loss_and_grad(network, shifted, X, Y, None, n_samples)[0]

    numeric = np.array([
        (-loss_at(i, 2 * h) + 8 * loss_at(i, h) - 8 * loss_at(i, -h) + loss_at(i, -2 * h))
        / (12 * h)
        for i in range(params.size)
    ])
    error = np.abs(grad - numeric)
    allowed = 1e-6 * (np.abs(grad) + np.abs(numeric)) + 1e-10
    worst = int(np.argmax(error / allowed))
    assert np.all(error <= allowed), (worst, grad[worst], numeric[worst])
