"""Numerical gradient check: the C core's backward pass against central differences.

The course's first debugging tool: compute the gradient of the training objective by
backpropagation and by finite differences of the loss itself, in float64, and compare them
array by array (weights, biases, PReLU slopes, batch-norm scales and shifts).
"""

import copy

import numpy as np
import scipy.sparse as sp
from sklearn.base import is_classifier
from sklearn.utils.validation import _check_sample_weight, check_is_fitted

from . import _core
from ._model_state import network_like

# Step of the five-point central difference, relative to max(1, |parameter|): small enough that
# the truncation error (O(h^4)) vanishes, large enough that rounding (about 1e-16 / h of the
# loss) stays near 1e-12.
_STEP = 1e-4
# Gradient magnitudes below this count as this much in the relative error, so that entries whose
# true gradient is zero (the biases under batch norm, dead units) are judged by their absolute
# error instead of by rounding noise divided by nearly nothing.
_FLOOR = 1e-5

_NAMES = {
    "coefs": "coefs_",
    "intercepts": "intercepts_",
    "prelu_slopes": "prelu_slopes_",
    "bn_scales": "batch_norm_scales_",
    "bn_shifts": "batch_norm_shifts_",
}


def check_gradients(estimator, X, y, sample_weight=None, per_array=False, random_state=0):
    """Compare the C core's backpropagation with float64 central differences of the loss.

    The objective is the one the estimator's solver minimizes on a batch made of all of X: the
    data loss plus the ``alpha`` (L2) and ``alpha_l1`` terms. With ``dropout``, every
    evaluation uses one fixed mask (drawn from ``random_state``); with ``batch_norm``, the
    statistics of the whole of X. Finite differences are five-point central differences with a
    step of ``1e-4 * max(1, |w|)``. The relative error of an entry is
    ``|g_backprop - g_numeric| / max(|g_backprop|, |g_numeric|, 1e-5)``.

    For squared error with several outputs, scikit-learn's reported loss averages over the
    outputs but its gradient (which fastmlp follows) is that of their sum: the check
    differentiates the summed objective, the one training follows.

    Kinks (ReLU and its relatives, maxout, the margin losses) make finite differences wrong
    where a pre-activation or margin lies within the step of zero: use a small network and a
    few samples, as the courses do. The estimator is not modified.

    Parameters
    ----------
    estimator : MLPClassifier or MLPRegressor
        A fitted estimator (``max_iter=1`` is enough to set up its parameters). Its current
        parameters are the point where the gradient is checked, in float64.
    X : array-like of shape (n_samples, n_features)
        Input data; keep it small (every parameter costs four loss evaluations).
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Targets, with the classes the estimator was fitted on.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights.
    per_array : bool, default=False
        Return a dict of errors per parameter array instead of the overall maximum.
    random_state : int, default=0
        Seed of the fixed dropout mask.

    Returns
    -------
    error : float or dict
        The largest relative error over all trainable parameters, or, with ``per_array``, a
        dict mapping names such as ``"coefs_[0]"``, ``"intercepts_[1]"``, ``"prelu_slopes_[0]"``
        or ``"batch_norm_scales_[0]"`` to the largest relative error in that array.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmlp import MLPClassifier, check_gradients
    >>> rng = np.random.RandomState(0)
    >>> X, y = rng.randn(12, 4), rng.randint(0, 3, 12)
    >>> model = MLPClassifier((5,), activation="tanh", max_iter=1, random_state=0).fit(X, y)
    >>> check_gradients(model, X, y) < 1e-6
    True
    """
    check_is_fitted(estimator, "coefs_")
    model = copy.deepcopy(estimator)
    X, Y = model._validate_input(X, y, incremental=True, reset=False)
    if sp.issparse(X):
        X = X.toarray()
    X = np.ascontiguousarray(X, dtype=np.float64)
    if Y.ndim == 1:
        Y = Y.reshape(-1, 1)
    if is_classifier(model) and model.loss in ("hinge", "perceptron"):
        Y = model._margin_targets(Y)
    Y = np.ascontiguousarray(Y, dtype=np.float64)
    if sample_weight is not None:
        sample_weight = np.ascontiguousarray(
            _check_sample_weight(sample_weight, X), dtype=np.float64
        )

    state = model._model_state(np.float64, bind=False)
    network = network_like(state.network, dropout_seed=int(random_state))
    params = state.params
    workspace = _core.Workspace(network, X.shape[0], 8)
    grad = np.empty_like(params)
    _core.loss_grad(workspace, params, X, Y, sample_weight, grad)
    analytic = grad.copy()

    # scikit-learn's squared error loss averages over outputs but its gradient (which the C
    # core computes, for parity) is that of the sum over outputs: differentiate that objective.
    output_scale = Y.shape[1] if network.loss == "squared_error" else 1
    layout = network.layout()
    n_weights = sum(int(np.prod(shape)) for _, shape in layout["coefs"])
    total_weight = X.shape[0] if sample_weight is None else float(np.sum(sample_weight))

    def loss_at(values):
        loss = _core.loss_grad(workspace, values, X, Y, sample_weight, grad)
        if output_scale == 1:
            return loss
        weights = values[:n_weights]
        penalty = (
            0.5 * network.alpha * np.dot(weights, weights) + network.alpha_l1 * np.abs(weights).sum()
        ) / total_weight
        return (loss - penalty) * output_scale + penalty

    numeric = np.empty(network.n_trainable)
    probe = params.copy()
    for i in range(network.n_trainable):
        h = _STEP * max(1.0, abs(params[i]))
        values = []
        for shift in (2.0, 1.0, -1.0, -2.0):
            probe[i] = params[i] + shift * h
            values.append(loss_at(probe))
        probe[i] = params[i]
        numeric[i] = (-values[0] + 8.0 * values[1] - 8.0 * values[2] + values[3]) / (12.0 * h)

    errors = {}
    for key, name in _NAMES.items():
        for index, (offset, shape) in enumerate(layout[key]):
            stop = offset + int(np.prod(shape))
            a, n = analytic[offset:stop], numeric[offset:stop]
            scale = np.maximum(np.maximum(np.abs(a), np.abs(n)), _FLOOR)
            errors["%s[%d]" % (name, index)] = float(np.max(np.abs(a - n) / scale))
    if per_array:
        return errors
    return max(errors.values())
