"""The model state: the flat parameter array, its views, its dtype and the C core's network
description.

Parameters live in one flat array laid out as scikit-learn's ``_pack`` (every weight matrix,
then every bias vector), followed by the extra arrays the network has (PReLU slopes, batch-norm
scales, shifts, running means and variances). The estimators' ``coefs_``, ``intercepts_``,
``prelu_slopes_`` and ``batch_norm_*_`` are views into it. A ``ModelState`` is what the
estimators, training, predict, persistence and the gradient check share.
"""

import numpy as np

from . import _core

# Initial values of the extra parameter arrays (PyTorch's PReLU and BatchNorm1d defaults).
EXTRA_INIT = {
    "prelu_slopes": 0.25,
    "bn_scales": 1.0,
    "bn_shifts": 0.0,
    "bn_means": 0.0,
    "bn_vars": 1.0,
}
# Fitted attribute holding the views of each array of the layout.
ATTRIBUTES = {
    "coefs": "coefs_",
    "intercepts": "intercepts_",
    "prelu_slopes": "prelu_slopes_",
    "bn_scales": "batch_norm_scales_",
    "bn_shifts": "batch_norm_shifts_",
    "bn_means": "batch_norm_means_",
    "bn_vars": "batch_norm_vars_",
}
EXTRA_ATTRIBUTES = {key: name for key, name in ATTRIBUTES.items() if key in EXTRA_INIT}
VIEW_ATTRIBUTES = tuple(ATTRIBUTES.values())
# Byte boundary the flat parameter array (and the optimizer's state) starts on: a cache line.
# numpy aligns to 16 bytes only, and a one-row prediction, which streams each layer's weights
# through 64-byte vector loads, took 1.7x as long when every load straddled two cache lines.
ALIGNMENT = 64
# Batch normalization's epsilon and running-statistics momentum (PyTorch's BatchNorm1d).
BATCH_NORM_EPS = 1e-5
BATCH_NORM_MOMENTUM = 0.1


def build_network(units, activation, output_activation, loss, alpha, alpha_l1, maxout_pieces,
                  batch_norm, dropout, dropout_seed=0, matmul_precision="float32"):
    """The C core's description of an architecture (KeyError for unknown names)."""
    return _core.Network(
        [int(u) for u in units], activation, output_activation, loss, float(alpha),
        float(alpha_l1), int(maxout_pieces), bool(batch_norm), [float(r) for r in dropout],
        BATCH_NORM_MOMENTUM, BATCH_NORM_EPS, int(dropout_seed), str(matmul_precision),
    )


def network_like(network, **changes):
    """A network description like network with some of build_network's arguments changed
    (alpha, alpha_l1, batch_norm, dropout, dropout_seed)."""
    n_hidden = len(network.units) - 2
    options = dict(
        units=network.units, activation=network.hidden_activation,
        output_activation=network.output_activation, loss=network.loss, alpha=network.alpha,
        alpha_l1=network.alpha_l1, maxout_pieces=network.maxout_pieces,
        batch_norm=network.batch_norm,
        dropout=network.dropout if network.dropout is not None else [0.0] * n_hidden,
        dropout_seed=network.dropout_seed, matmul_precision=network.matmul_precision,
    )
    options.update(changes)
    return build_network(**options)


def parameter_count(units, maxout_pieces=1, prelu=False, batch_norm=False):
    """Values in the flat parameter array of a network of layer widths units (maxout_pieces
    pieces per hidden unit), computed in Python integers (no overflow): the same count as
    ``_core.Network(...).n_params``."""
    units = [int(u) for u in units]
    n = 0
    for i, (fan_in, fan_out) in enumerate(zip(units[:-1], units[1:])):
        hidden = i < len(units) - 2
        width = fan_out * maxout_pieces if hidden else fan_out
        n += fan_in * width + width
        if hidden and prelu:
            n += fan_out
        if hidden and batch_norm:
            n += 4 * width
    return n


def units_from_arrays(coefs, intercepts, maxout_pieces):
    """Layer widths (inputs, hidden units, outputs) read off lists of weight matrices and bias
    vectors, checking that they chain up (a maxout layer's weights have maxout_pieces columns
    per unit)."""
    if len(coefs) == 0 or len(coefs) != len(intercepts):
        raise ValueError(
            "coefs_ and intercepts_ must be lists of the same, non-zero length; got %d "
            "and %d arrays." % (len(coefs), len(intercepts))
        )
    units = [np.shape(coefs[0])[0]]
    for i, (coef, intercept) in enumerate(zip(coefs, intercepts)):
        hidden = i < len(coefs) - 1
        if (
            np.ndim(coef) != 2
            or np.shape(coef)[0] != units[-1]
            or np.shape(intercept) != (np.shape(coef)[1],)
            or (hidden and np.shape(coef)[1] % maxout_pieces)
        ):
            raise ValueError(
                "coefs_[%d] has shape %s and intercepts_[%d] has shape %s, which do not "
                "continue layer widths %s." % (i, np.shape(coef), i, np.shape(intercept), units)
            )
        units.append(np.shape(coef)[1] // (maxout_pieces if hidden else 1))
    return [int(u) for u in units]


def arrays_dtype(coefs, intercepts):
    """float32 when every array is float32, else float64."""
    dtype = np.result_type(*[np.asarray(a).dtype for a in list(coefs) + list(intercepts)])
    return np.dtype(np.float32) if dtype == np.float32 else np.dtype(np.float64)


def aligned_empty(size, dtype):
    """An uninitialized 1-D array of size values of dtype that starts on an ALIGNMENT-byte
    boundary: a view of a byte buffer one alignment longer, its base."""
    dtype = np.dtype(dtype)
    buffer = np.empty(size * dtype.itemsize + ALIGNMENT, dtype=np.uint8)
    start = -buffer.ctypes.data % ALIGNMENT
    return buffer[start : start + size * dtype.itemsize].view(dtype)


def aligned_zeros(size, dtype):
    """aligned_empty's array, zero-filled."""
    array = aligned_empty(size, dtype)
    array.fill(0)
    return array


def aligned_copy(array, dtype=None):
    """A 1-D copy of array (converted to dtype) in aligned_empty's storage."""
    copy = aligned_empty(array.size, array.dtype if dtype is None else dtype)
    copy[...] = array.reshape(-1)
    return copy


def aligned(array):
    """array if it is C-contiguous, writeable and ALIGNMENT-aligned, else such a copy of it
    (1-D)."""
    if (array.flags.c_contiguous and array.flags.writeable
            and array.ctypes.data % ALIGNMENT == 0):
        return array
    return aligned_copy(array)


def owner(params):
    """The array whose memory params is, if params can be a model state's flat array as it is
    (writeable, C-contiguous, aligned, and either owning its memory or aligned_empty's view), so
    that params' views have it as their base; else None."""
    if (not params.flags.writeable or not params.flags.c_contiguous
            or params.ctypes.data % ALIGNMENT):
        return None
    base = params.base
    if base is None:
        return params
    if (type(base) is np.ndarray and base.base is None and base.dtype == np.uint8
            and base.nbytes == params.nbytes + ALIGNMENT):
        return base
    return None  # e.g. joblib's reads or memory maps: training writes into the flat array


class ModelState:
    """A flat parameter array bound to a network description, with its views.

    ``arrays`` maps each attribute name (``"coefs_"``, ``"intercepts_"``, ``"prelu_slopes_"``,
    ``"batch_norm_scales_"``, ...) to the list of views the network has for it (attributes
    the network has no arrays for are absent).
    """

    __slots__ = ("network", "params", "arrays", "owner")

    def __init__(self, network, params):
        if not isinstance(params, np.ndarray) or params.ndim != 1 or params.size != network.n_params:
            raise ValueError(
                "The flat parameter array has shape %s; the network (layer widths %s) needs "
                "%d values." % (np.shape(params), list(network.units), network.n_params)
            )
        memory = owner(params)
        if memory is None:
            # the views must have one array as their base (views_in), training writes into
            # params, and the C core reads it faster aligned
            params = aligned_copy(params)
            memory = params.base
        self.network = network
        self.params = params
        self.owner = memory
        self.arrays = {}
        for key, slots in network.layout().items():
            if slots:
                self.arrays[ATTRIBUTES[key]] = [
                    params[offset : offset + int(np.prod(shape))].reshape(shape)
                    for offset, shape in slots
                ]

    @classmethod
    def pack(cls, network, coefs, intercepts, extras=None, dtype=None):
        """A model state holding copies of the given arrays in network's layout (dtype: that of
        the arrays by default). extras maps attribute names (``"prelu_slopes_"``, ...) to lists
        of arrays; arrays the network needs and extras lacks start from their initial values."""
        if dtype is None:
            dtype = arrays_dtype(coefs, intercepts)
        extras = extras or {}
        parts = [np.ravel(np.asarray(a, dtype=dtype)) for a in list(coefs) + list(intercepts)]
        for key, slots in network.layout().items():
            if key in ("coefs", "intercepts") or not slots:
                continue
            name = ATTRIBUTES[key]
            arrays = extras.get(name)
            if arrays is None or len(arrays) != len(slots):
                arrays = [np.full(shape, EXTRA_INIT[key]) for _, shape in slots]
            for array, (_, shape) in zip(arrays, slots):
                if np.shape(array) != shape:
                    raise ValueError(
                        "%s holds an array of shape %s where the network needs %s."
                        % (name, np.shape(array), shape)
                    )
                parts.append(np.ravel(np.asarray(array, dtype=dtype)))
        size = sum(part.size for part in parts)
        if size != network.n_params:
            raise ValueError(
                "The model's parameters (%d values) do not fit its options (activation=%r, "
                "maxout_pieces=%r, batch_norm=%r need %d); fit it again."
                % (size, network.hidden_activation, network.maxout_pieces,
                   network.batch_norm, network.n_params)
            )
        params = aligned_empty(size, dtype)
        np.concatenate(parts, out=params)
        return cls(network, params)

    @property
    def dtype(self):
        return self.params.dtype

    @property
    def units(self):
        return list(self.network.units)

    def views_in(self, attributes):
        """Whether the mapping attributes (an estimator's ``__dict__``) holds this state's views
        under every fitted attribute it has, so that the flat array is the model: False when
        a user assigned other arrays to coefs_ / intercepts_ (or to one of their items).
        On predict's path: plain reads and loops."""
        memory = self.owner
        size = 0
        for name in VIEW_ATTRIBUTES:
            arrays = attributes.get(name)
            if arrays is None:
                continue
            for array in arrays:
                if type(array) is not np.ndarray or array.base is not memory:
                    return False
                size += array.size
        return size == self.params.size

    def with_dtype(self, dtype):
        """This state, or a copy converted to dtype."""
        if self.params.dtype == dtype:
            return self
        return ModelState(self.network, aligned_copy(self.params, dtype))

    def predict(self, X, out, two_class=False):
        """Output-layer values of the C-contiguous rows X (of the parameters' dtype) into out:
        one call into the C core. Raises ``_core.NonFiniteInputError`` for NaN or infinite
        input, ValueError or BufferError for arrays the C core cannot read in place."""
        _core.predict_contiguous(self.network, self.params, X, out, two_class)
        return out

    def predict_converted(self, X, two_class=False):
        """Output-layer values of X (any 2-D float array), computed in float32 only when both X
        and the parameters are float32 (as numpy's X @ W), else in float64."""
        dtype = np.float32 if (X.dtype == np.float32 and self.params.dtype == np.float32) else np.float64
        params = self.params.astype(dtype, copy=False)
        X = np.ascontiguousarray(X, dtype=dtype)
        out = np.empty((X.shape[0], 2 if two_class else self.network.n_out), dtype=dtype)
        _core.predict(self.network, params, X, out, two_class)
        return out

    def evaluation_loss(self, X, Y, sample_weight, penalty_rows, weight):
        """The C core's objective on (X, encoded targets Y) with the network as predict runs it
        (no dropout; batch norm with its running statistics): the data term plus the penalty
        terms of a batch of penalty_rows rows, (0.5 * alpha * sum(W ** 2) + alpha_l1 *
        sum(|W|)) / penalty_rows. weight: the rows' weight (sum of sample_weight). Arrays of
        the parameters' dtype."""
        net = self.network
        n_hidden = len(net.units) - 2
        layout = net.layout()
        if not net.batch_norm:
            # the C core divides the penalty by the rows' weight: scale it to penalty_rows
            scale = weight / penalty_rows
            alpha, alpha_l1, params, penalty = net.alpha * scale, net.alpha_l1 * scale, self.params, 0.0
        else:
            # batch norm with running statistics is an affine map of each dense output: folded
            # into the weights of a network without it, whose penalty would be that of the
            # folded weights, so the penalty of the model's own weights is added here
            alpha = alpha_l1 = 0.0
            params = self._batch_norm_folded(layout)
            weights = np.concatenate([np.ravel(w) for w in self.arrays["coefs_"]]).astype(np.float64)
            penalty = (0.5 * net.alpha * float(np.dot(weights, weights))
                       + net.alpha_l1 * float(np.abs(weights).sum())) / penalty_rows
        eval_net = network_like(net, alpha=alpha, alpha_l1=alpha_l1, batch_norm=False,
                                dropout=[0.0] * n_hidden)
        workspace = _core.Workspace(eval_net, max(1, min(X.shape[0], 4096)),
                                    self.params.dtype.itemsize)
        grad = np.empty(eval_net.n_params, dtype=self.params.dtype)
        return _core.loss_grad(workspace, params, X, Y, sample_weight, grad) + penalty

    def _batch_norm_folded(self, layout):
        """The flat parameters of the same network without batch norm computing what this one
        computes at predict (coefs, intercepts, PReLU slopes)."""
        eps = self.network.bn_eps
        coefs, intercepts = [], []
        for i, (coef, intercept) in enumerate(zip(self.arrays["coefs_"], self.arrays["intercepts_"])):
            if i < len(self.arrays["coefs_"]) - 1:
                factor = self.arrays["batch_norm_scales_"][i] / np.sqrt(
                    self.arrays["batch_norm_vars_"][i] + eps)
                coef = coef * factor
                intercept = (intercept - self.arrays["batch_norm_means_"][i]) * factor + (
                    self.arrays["batch_norm_shifts_"][i])
            coefs.append(np.ravel(coef))
            intercepts.append(intercept)
        parts = coefs + intercepts + list(self.arrays.get("prelu_slopes_", []))
        return np.concatenate(parts).astype(self.params.dtype)
