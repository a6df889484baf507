"""Numerical gradient check: the C core's backward pass against central differences.

The course's first debugging tool: compute the gradient of the training objective by
backpropagation and by finite differences of the loss itself, in float64, and compare them
array by array (weights, biases, PReLU slopes, batch-norm scales and shifts). Everything here
works on a ``ModelState`` and the C core's loss (``_core.loss_grad``); the public
``fastmlp.check_gradients`` (in ``_estimators``) turns an estimator and its data into them.
"""

import warnings

import numpy as np

from . import _core
from ._model_state import network_like

# Step of the five-point central difference, relative to max(1, |parameter|): small enough that
# the truncation error (O(h^4)) vanishes, large enough that rounding (about 1e-16 / h of the
# loss) stays near 1e-12.
_STEP = 1e-4
# Where the loss has a kink near a parameter value, the step is divided by _SHRINK up to
# _LEVELS - 1 times (down to 1e-4 / 4**4, about 4e-7, where rounding is still below 1e-9).
_SHRINK = 4.0
_LEVELS = 5
# Gradient magnitudes below this count as this much in the relative error, so that entries whose
# true gradient is zero (the biases under batch norm, dead units) are judged by their absolute
# error instead of by rounding noise divided by nearly nothing.
_FLOOR = 1e-5
# Tolerances of the smoothness tests, relative to max(|derivative|, _FLOOR), on top of rounding.
_AGREEMENT = 1e-7
_ONE_SIDED = 1e-6
# Rounding error of one finite-difference derivative at step h: _ROUNDING * eps * |loss| / h.
_ROUNDING = 8.0

_NAMES = {
    "coefs": "coefs_",
    "intercepts": "intercepts_",
    "prelu_slopes": "prelu_slopes_",
    "bn_scales": "batch_norm_scales_",
    "bn_shifts": "batch_norm_shifts_",
}


def compare_gradients(state, X, Y, sample_weight=None, per_array=False, random_state=0):
    """``check_gradients`` on a model state: the C core's gradient of its objective at
    state's parameters (in float64) on dense X, the encoded targets Y (n_samples x outputs, as
    the C core trains on them) and sample_weight, against kink-aware central differences of
    that objective. Returns what check_gradients returns."""
    state = state.with_dtype(np.float64)
    X = np.ascontiguousarray(X, dtype=np.float64)
    Y = np.ascontiguousarray(np.asarray(Y).reshape(X.shape[0], -1), dtype=np.float64)
    if sample_weight is not None:
        sample_weight = np.ascontiguousarray(sample_weight, dtype=np.float64)
    # float64 products: a model trained with bfloat16 ones has the same objective and backward
    # pass, which rounding the operands would make piecewise constant under the differences
    network = network_like(state.network, dropout_seed=int(random_state),
                           matmul_precision="float32")
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

    base_loss = loss_at(params)
    numeric = np.empty(network.n_trainable)
    checked = np.ones(network.n_trainable, dtype=bool)
    probe = params.copy()
    for i in range(network.n_trainable):
        numeric[i], checked[i] = _kink_aware_derivative(loss_at, probe, i, base_loss)

    errors = {}
    skipped = []
    for key, name in _NAMES.items():
        for index, (offset, shape) in enumerate(layout[key]):
            stop = offset + int(np.prod(shape))
            array = "%s[%d]" % (name, index)
            keep = checked[offset:stop]
            a, n = analytic[offset:stop][keep], numeric[offset:stop][keep]
            scale = np.maximum(np.maximum(np.abs(a), np.abs(n)), _FLOOR)
            errors[array] = float(np.max(np.abs(a - n) / scale)) if a.size else float("nan")
            skipped += [
                "%s[%s]" % (array, ", ".join(str(int(j)) for j in np.unravel_index(k, shape)))
                for k in np.flatnonzero(~keep)
            ]
    if skipped:
        warnings.warn(
            "check_gradients skipped %d parameter(s) lying on a kink of the loss (a ReLU, "
            "maxout or margin changes branch within %.2g of their value, so that the loss has "
            "no derivative there to compare): %s"
            % (len(skipped), _STEP / _SHRINK ** (_LEVELS - 1), ", ".join(skipped)),
            UserWarning,
            stacklevel=3,  # check_gradients' caller
        )
    if per_array:
        return errors
    finite = [e for e in errors.values() if e == e]
    return max(finite) if finite else float("nan")


def _kink_aware_derivative(loss_at, probe, i, base_loss):
    """(derivative of the loss along parameter i, True), or (nan, False) when parameter i lies
    on a kink. probe holds the parameters and is restored; base_loss is the loss at them.

    At step h, the five-point central difference D(h) is trusted when the loss is smooth over
    [w - 2h, w + 2h] as far as two tests can tell: the one-sided three-point derivatives on
    either side of w agree (they differ by the jump of the slope when a kink lies at w or
    within h of it), and D(h) agrees with D(h / _SHRINK) (a kink elsewhere in the stencil moves
    D(h) but not, or differently, the smaller stencil). Otherwise the step shrinks. Both tests
    use only loss values, never the gradient under test, so a wrong gradient cannot make the
    check look away from it.
    """
    eps = np.finfo(np.float64).eps
    value = probe[i]
    h0 = _STEP * max(1.0, abs(value))

    def differences(level):
        h = h0 / _SHRINK**level
        f2, f1, b1, b2 = (
            loss_at(_shifted(probe, i, value, shift * h)) for shift in (2.0, 1.0, -1.0, -2.0)
        )
        probe[i] = value
        central = (-f2 + 8.0 * f1 - 8.0 * b1 + b2) / (12.0 * h)
        jump = (-3.0 * base_loss + 4.0 * f1 - f2) / (2.0 * h) - (
            3.0 * base_loss - 4.0 * b1 + b2) / (2.0 * h)
        noise = _ROUNDING * eps * max(abs(f2), abs(f1), abs(b1), abs(b2), abs(base_loss)) / h
        return central, jump, noise

    current = differences(0)
    for level in range(_LEVELS - 1):
        central, jump, noise = current
        scale = max(abs(central), _FLOOR)
        following = differences(level + 1)
        smooth_here = abs(jump) <= _ONE_SIDED * scale + 3.0 * noise
        agrees = abs(central - following[0]) <= _AGREEMENT * scale + noise + following[2]
        if smooth_here and agrees:
            return central, True
        current = following
    return float("nan"), False


def _shifted(probe, i, value, shift):
    probe[i] = value + shift
    return probe
