"""Export of fitted fastmlp estimators to ONNX graphs.

The graph computes what the C core's predict computes, layer by layer, with standard ONNX
operators (the default domain only, so that any ONNX runtime can run it): MatMul and Add for
each dense layer (batch normalization folded into the weights and biases before it, dropout
absent as at predict), then the hidden activation, exactly as ``csrc/net_impl.h`` defines it,
and the output activation. Where ONNX Runtime has no double-precision kernel for an operator
(Elu, Softplus, Erf), the float64 graph spells the function out with elementwise operators;
the float64 GELU evaluates the Gaussian tail with a Chebyshev series of ``erfcx``; so do LeakyRelu and PRelu, whose
double kernels exist in some opsets only.

The same emitter writes a stand-alone model (``to_onnx``) and the nodes of a skl2onnx
converter (``fastmlp.onnx``): it only asks its ``graph`` for fresh names, initializers and
nodes. onnx is imported only by ``to_onnx`` itself, so that ``import fastmlp`` never needs it.
"""

import numpy as np
from sklearn.base import is_classifier
from sklearn.utils.validation import check_is_fitted

from ._model_state import BATCH_NORM_EPS, arrays_dtype

# Opsets the export writes: 13 is the first with today's Softmax (per-axis) and Reduce*
# semantics for every type; the default is one that ONNX Runtime releases of several years run.
MIN_OPSET = 13
DEFAULT_OPSET = 18
# Opsets from which ReduceMax takes its axes as an input, and Gelu exists.
_REDUCE_AXES_INPUT_OPSET = 18
_GELU_OPSET = 20

# ONNX TensorProto element types (onnx.TensorProto.FLOAT, ...), written out so that the emitter
# runs without onnx (skl2onnx passes the same numbers).
FLOAT, DOUBLE, INT64, STRING, BOOL = 1, 11, 7, 8, 9

# The C core's constants (csrc/fastmlp.h, csrc/net_impl.h).
_LEAKY_SLOPE = 0.01
_SOFTPLUS_THRESHOLD = 20.0

# float64 GELU: x Phi(x) with Phi(x) = 1 - h(x) for x >= 0 and h(-x) for x < 0, where
# h(x) = 0.5 exp(-x^2 / 2) erfcx(x / sqrt(2)); erfcx (exp(u^2) erfc(u), smooth and slowly
# varying) on u in [0, _ERFCX_RANGE] is a Chebyshev series of _ERFCX_DEGREE (error below 1e-13;
# past the range exp(-u^2) < 1e-31 makes h vanish).
_ERFCX_RANGE = 8.0
_ERFCX_DEGREE = 48


def _require_onnx():
    """The onnx package, or an ImportError saying how to install it."""
    try:
        import onnx
    except ImportError as exc:
        raise ImportError(
            "fastmlp.to_onnx needs the onnx package, which is not installed: "
            "pip install \"fastmlp[onnx]\" (or pip install onnx)."
        ) from exc
    return onnx


def check_opset(target_opset, max_opset):
    """target_opset as an int (DEFAULT_OPSET, capped at max_opset, for None), or a ValueError
    naming the accepted range."""
    if target_opset is None:
        return min(DEFAULT_OPSET, max_opset)
    if (isinstance(target_opset, (bool, np.bool_))
            or not isinstance(target_opset, (int, np.integer))
            or not MIN_OPSET <= target_opset <= max_opset):
        raise ValueError(
            "target_opset must be None or an int from %d to %d (the newest opset the installed "
            "onnx knows); got %r." % (MIN_OPSET, max_opset, target_opset)
        )
    return int(target_opset)


# ---------------------------------------------------------------------- what the model computes

class Description:
    """What a fitted estimator computes, read from its public attributes: the dense layers
    (batch norm folded in), the hidden activation and its parameters, the output, the labels."""

    def __init__(self, model):
        from ._estimators import BaseMultilayerPerceptron
        from ._perceptron import Perceptron

        if isinstance(model, Perceptron):
            check_is_fitted(model)
            self.dtype = np.dtype(np.float64)
            self.kind = "margin"
            self.layers = [(np.asarray(model.coef_, dtype=np.float64).T,
                            np.asarray(model.intercept_, dtype=np.float64))]
            self.activation = "identity"
            self.out_activation = "identity"
            self.classes = np.asarray(model.classes_)
            self.prelu_slopes = []
            self.maxout_pieces = 1
            # one score column for two classes: its sign decides, as decision_function
            self.binary_score_column = self.layers[0][0].shape[1] == 1
            self.n_features = self.layers[0][0].shape[0]
            return
        if not isinstance(model, BaseMultilayerPerceptron):
            raise TypeError(
                "fastmlp.to_onnx exports fastmlp's MLPClassifier, MLPRegressor and Perceptron; "
                "got %s. For a Pipeline or ColumnTransformer, import fastmlp.onnx and use "
                "skl2onnx.to_onnx." % type(model).__name__
            )
        check_is_fitted(model, "coefs_")
        self.binary_score_column = False
        coefs, intercepts = list(model.coefs_), list(model.intercepts_)
        self.dtype = arrays_dtype(coefs, intercepts)
        self.activation = model.activation
        self.out_activation = model.out_activation_
        self.maxout_pieces = int(model.maxout_pieces) if self.activation == "maxout" else 1
        n_hidden = len(coefs) - 1
        layers = []
        for i, (coef, intercept) in enumerate(zip(coefs, intercepts)):
            coef = np.asarray(coef, dtype=np.float64)
            intercept = np.asarray(intercept, dtype=np.float64)
            if i < n_hidden and model.batch_norm:
                # predict's batch norm, scale (z - mean) / sqrt(var + eps) + shift, is an affine
                # map of the dense output z = x W + b: folded into W and b
                factor = np.asarray(model.batch_norm_scales_[i], dtype=np.float64) / np.sqrt(
                    np.asarray(model.batch_norm_vars_[i], dtype=np.float64) + BATCH_NORM_EPS)
                coef = coef * factor
                intercept = ((intercept - np.asarray(model.batch_norm_means_[i], dtype=np.float64))
                             * factor + np.asarray(model.batch_norm_shifts_[i], dtype=np.float64))
            layers.append((coef, intercept))
        self.layers = layers
        self.prelu_slopes = ([np.asarray(s, dtype=np.float64) for s in model.prelu_slopes_]
                             if self.activation == "prelu" and n_hidden else [])
        self.n_features = layers[0][0].shape[0]
        if not is_classifier(model):
            self.kind = "regression"
            self.classes = None
        elif model.loss in ("hinge", "perceptron"):
            self.kind = "margin"
            self.classes = np.asarray(model.classes_)
        elif self.out_activation == "softmax":
            self.kind = "multiclass"
            self.classes = np.asarray(model.classes_)
        elif model.n_outputs_ == 1:
            self.kind = "binary"
            self.classes = np.asarray(model.classes_)
        else:
            self.kind = "multilabel"
            self.classes = np.asarray(model.classes_)

    @property
    def n_outputs(self):
        return self.layers[-1][0].shape[1]


# ---------------------------------------------------------------------- the emitter

class Emitter:
    """Writes the nodes of a Description's forward pass into graph, an object with
    ``name(hint)`` (a fresh tensor name), ``constant(hint, array, elem_type)`` (an initializer's
    name) and ``node(op, inputs, outputs, **attributes)``; elem_type is the graph's float type
    (FLOAT or DOUBLE), opset the default domain's version."""

    def __init__(self, graph, elem_type, opset):
        self.graph = graph
        self.elem_type = elem_type
        self.np_dtype = np.float32 if elem_type == FLOAT else np.float64
        self.opset = opset

    # -- small helpers
    def const(self, hint, values, elem_type=None):
        elem_type = self.elem_type if elem_type is None else elem_type
        if elem_type in (FLOAT, DOUBLE):
            values = np.asarray(values, dtype=np.float32 if elem_type == FLOAT else np.float64)
        elif elem_type == INT64:
            values = np.asarray(values, dtype=np.int64)
        return self.graph.constant(hint, values, elem_type)

    def op(self, op, inputs, hint=None, output=None, **attributes):
        output = output or self.graph.name(hint or op.lower())
        self.graph.node(op, list(inputs), [output], **attributes)
        return output

    # -- layers
    def forward(self, desc, x):
        """Output-layer values (before the output activation) of input tensor x, and the
        output activation to apply."""
        n_layers = len(desc.layers)
        h = x
        for i, (coef, intercept) in enumerate(desc.layers):
            w = self.const("coefficient", coef)
            b = self.const("intercept", intercept)
            z = self.op("Add", [self.op("MatMul", [h, w], "mul_result"), b], "add_result")
            if i < n_layers - 1:
                slopes = desc.prelu_slopes[i] if desc.prelu_slopes else None
                h = self.hidden_activation(desc.activation, z, coef.shape[1],
                                           desc.maxout_pieces, slopes)
            else:
                h = z
        return h

    def hidden_activation(self, activation, z, width, pieces, slopes):
        """The hidden activation of dense output z (width columns)."""
        if activation == "identity":
            return z
        if activation == "logistic":
            return self.op("Sigmoid", [z])
        if activation == "tanh":
            return self.op("Tanh", [z])
        if activation == "relu":
            return self.op("Relu", [z])
        if activation in ("leaky_relu", "prelu"):
            slope = (self.const("leaky_slope", _LEAKY_SLOPE) if activation == "leaky_relu"
                     else self.const("prelu_slopes", slopes))
            if self.elem_type == FLOAT:
                return self.op("PRelu", [z, slope])
            # ONNX Runtime's double LeakyRelu and PRelu exist in some opsets only
            return self.op("Where", [self.op("Greater", [z, self.const("zero", 0.0)]), z,
                                     self.op("Mul", [z, slope])], activation)
        if activation == "elu":
            if self.elem_type == FLOAT:
                return self.op("Elu", [z], alpha=1.0)
            # exp(min(z, 0)) - 1 for z <= 0, z above: no overflow on either branch
            negative = self.op("Sub", [self.op("Exp", [self.op("Min", [z, self.const("zero", 0.0)])]),
                                       self.const("one", 1.0)], "elu_negative")
            return self.op("Where", [self.op("Greater", [z, self.const("zero", 0.0)]), z, negative],
                           "elu")
        if activation == "softplus":
            # linear past the threshold, as PyTorch and the C core
            threshold = self.const("softplus_threshold", _SOFTPLUS_THRESHOLD)
            capped = self.op("Min", [z, threshold])
            if self.elem_type == FLOAT:
                smooth = self.op("Softplus", [capped])
            else:
                smooth = self.op("Log", [self.op("Add", [self.op("Exp", [capped]),
                                                         self.const("one", 1.0)])])
            return self.op("Where", [self.op("Greater", [z, threshold]), z, smooth], "softplus")
        if activation == "gelu":
            return self.gelu(z)
        if activation == "maxout":
            units = width // pieces
            shape = self.const("maxout_shape", [-1, units, pieces], INT64)
            grouped = self.op("Reshape", [z, shape], "maxout_pieces")
            if self.opset >= _REDUCE_AXES_INPUT_OPSET:
                return self.op("ReduceMax", [grouped, self.const("maxout_axis", [2], INT64)],
                               "maxout", keepdims=0)
            return self.op("ReduceMax", [grouped], "maxout", axes=[2], keepdims=0)
        raise ValueError("activation %r cannot be exported" % (activation,))

    def gelu(self, z):
        """x Phi(x), the exact (erf) GELU."""
        if self.elem_type == FLOAT:
            if self.opset >= _GELU_OPSET:
                return self.op("Gelu", [z], approximate="none")
            erf = self.op("Erf", [self.op("Mul", [z, self.const("inv_sqrt2", 0.5 ** 0.5)])])
            half_z = self.op("Mul", [z, self.const("half", 0.5)])
            return self.op("Mul", [half_z, self.op("Add", [erf, self.const("one", 1.0)])], "gelu")
        # ONNX Runtime has no double Erf: Phi from the Chebyshev series of erfcx
        from numpy.polynomial import chebyshev
        from scipy.special import erfcx

        half_range = _ERFCX_RANGE / 2
        coefficients = chebyshev.chebinterpolate(
            lambda t: erfcx(half_range * t + half_range), _ERFCX_DEGREE)
        u = self.op("Mul", [self.op("Abs", [z]), self.const("inv_sqrt2", 0.5 ** 0.5)], "gelu_u")
        u_capped = self.op("Min", [u, self.const("erfcx_range", _ERFCX_RANGE)])
        # t in [-1, 1], then Clenshaw's recurrence b_k = 2 t b_{k+1} - b_{k+2} + c_k
        t = self.op("Sub", [self.op("Div", [u_capped, self.const("half_range", half_range)]),
                            self.const("one", 1.0)], "chebyshev_t")
        two_t = self.op("Add", [t, t])
        b1 = b2 = None
        for k in range(len(coefficients) - 1, 0, -1):
            terms = self.const("chebyshev_c", coefficients[k])
            if b1 is not None:
                terms = self.op("Add", [self.op("Mul", [two_t, b1]), terms])
            if b2 is not None:
                terms = self.op("Sub", [terms, b2])
            b1, b2 = terms, b1
        # erfcx(u) = c_0 + t b_1 - b_2
        series = self.op("Add", [self.op("Mul", [t, b1]), self.const("chebyshev_c", coefficients[0])])
        series = self.op("Sub", [series, b2], "erfcx")
        gauss = self.op("Exp", [self.op("Neg", [self.op("Mul", [u, u])])])
        tail = self.op("Mul", [self.op("Mul", [gauss, series]), self.const("half", 0.5)], "tail")
        phi = self.op("Where", [self.op("Less", [z, self.const("zero", 0.0)]), tail,
                                self.op("Sub", [self.const("one", 1.0), tail])], "phi")
        return self.op("Mul", [z, phi], "gelu")

    # -- outputs
    def class_labels(self, classes, label_type):
        """The classes as an initializer of label_type (INT64, DOUBLE, BOOL or STRING)."""
        if label_type == STRING:
            values = np.array([str(c) for c in classes], dtype=object)
        elif label_type == INT64:
            values = np.asarray(classes).astype(np.int64)
        elif label_type == BOOL:
            values = np.asarray(classes, dtype=bool)
        else:
            values = np.asarray(classes, dtype=np.float64)
        return self.graph.constant("classes", values, label_type)

    def pick(self, classes, label_type, indices, output):
        """Labels classes[indices] (indices int64 of shape [N]) into output."""
        return self.op("Gather", [self.class_labels(classes, label_type), indices], output=output,
                       axis=0)

    def column(self, x, j):
        """Column j of matrix x, as a vector."""
        return self.op("Gather", [x, self.const("column", j, INT64)], "column", axis=1)

    def to_vector(self, x):
        return self.op("Reshape", [x, self.const("vector_shape", [-1], INT64)], "vector")

    def outputs(self, desc, x, names, label_type, sklearn_layout=False):
        """The model's outputs from input x into the tensors names maps ('label',
        'probabilities' or 'scores', 'variable') to. sklearn_layout: skl2onnx's conventions
        (scores of both classes for binary margin models, [N, n_outputs] regression outputs)
        instead of the estimator methods' shapes."""
        z = self.forward(desc, x)
        if desc.kind == "regression":
            if desc.out_activation == "exp":
                z = self.op("Exp", [z])
            if desc.n_outputs == 1 and not sklearn_layout:
                return self.op("Reshape", [z, self.const("vector_shape", [-1], INT64)],
                               output=names["variable"])
            return self.op("Identity", [z], output=names["variable"])
        classes = desc.classes
        if desc.kind == "margin":
            second = "scores" if "scores" in names else "probabilities"
            if desc.binary_score_column:  # the Perceptron's one column: score of classes_[1]
                score = self.to_vector(z)
                positive = self.op("Cast", [self.op("Greater", [score, self.const("zero", 0.0)])],
                                   "positive", to=INT64)
                self.pick(classes, label_type, positive, names["label"])
                if sklearn_layout:
                    column = self.op("Reshape", [score, self.const("column_shape", [-1, 1], INT64)])
                    self.op("Concat", [self.op("Neg", [column]), column], output=names[second],
                            axis=1)
                else:
                    self.op("Identity", [score], output=names[second])
                return None
            self.pick(classes, label_type, self.op("ArgMax", [z], "argmax", axis=1, keepdims=0),
                      names["label"])
            if len(classes) == 2:
                difference = self.op("Sub", [self.column(z, 1), self.column(z, 0)], "decision")
                if sklearn_layout:
                    column = self.op("Reshape", [difference,
                                                 self.const("column_shape", [-1, 1], INT64)])
                    self.op("Concat", [self.op("Neg", [column]), column], output=names[second],
                            axis=1)
                else:
                    self.op("Identity", [difference], output=names[second])
            else:
                self.op("Identity", [z], output=names[second])
            return None
        if desc.kind == "multiclass":
            probabilities = self.op("Softmax", [z], output=names["probabilities"], axis=-1)
            self.pick(classes, label_type,
                      self.op("ArgMax", [probabilities], "argmax", axis=1, keepdims=0),
                      names["label"])
            return None
        p = self.op("Sigmoid", [z], "positive_probability")
        half = self.const("half", 0.5)
        if desc.kind == "binary":
            # predict_proba's two columns; the label is classes_[1] where p > 1/2, as predict
            self.op("Concat", [self.op("Sub", [self.const("one", 1.0), p]), p],
                    output=names["probabilities"], axis=1)
            positive = self.op("Cast", [self.op("Greater", [self.to_vector(p), half])],
                               "positive", to=INT64)
            self.pick(classes, label_type, positive, names["label"])
            return None
        # multilabel: one logistic output per label, predict's indicator matrix
        self.op("Identity", [p], output=names["probabilities"])
        self.op("Cast", [self.op("Greater", [p, half])], output=names["label"], to=INT64)
        return None


def label_type_of(classes):
    """The ONNX element type of predict's labels (to_onnx's 'label' output)."""
    kind = np.asarray(classes).dtype.kind
    if kind in "iu":
        return INT64
    if kind == "f":
        return DOUBLE
    if kind == "b":
        return BOOL
    return STRING


# ---------------------------------------------------------------------- stand-alone models

class _Graph:
    """Nodes and initializers of a stand-alone ONNX graph (onnx.helper)."""

    def __init__(self, onnx):
        self.onnx = onnx
        self.nodes = []
        self.initializers = []
        self.counts = {}

    def name(self, hint):
        count = self.counts.get(hint, 0)
        self.counts[hint] = count + 1
        return "%s_%d" % (hint, count)

    def constant(self, hint, values, elem_type):
        name = self.name(hint)
        values = np.asarray(values)
        if elem_type == STRING:
            tensor = self.onnx.helper.make_tensor(
                name, elem_type, values.shape, [str(v).encode("utf-8") for v in values.ravel()])
        else:
            tensor = self.onnx.numpy_helper.from_array(values, name)
        self.initializers.append(tensor)
        return name

    def node(self, op, inputs, outputs, **attributes):
        self.nodes.append(self.onnx.helper.make_node(
            op, inputs, outputs, name=self.name(op), **attributes))


def to_onnx(model, target_opset=None):
    """Export a fitted fastmlp estimator to an ONNX model that ONNX Runtime runs to the
    estimator's own outputs.

    The graph has one input, ``"X"``, of shape ``[None, n_features]`` and the model's dtype
    (float32 for a model trained in float32, else float64; a ``Perceptron`` is float64). Its
    outputs are those of the estimator's methods:

    - ``MLPClassifier`` with ``loss='log_loss'``: ``"label"`` (as ``predict``) and
      ``"probabilities"`` (as ``predict_proba``: two columns for binary targets; one per label
      for multilabel targets, whose ``"label"`` is predict's 0/1 indicator matrix);
    - ``MLPClassifier`` with ``loss='hinge'`` or ``'perceptron'``, and ``Perceptron``:
      ``"label"`` and ``"scores"`` (as ``decision_function``: one score per sample for two
      classes, one per class otherwise);
    - ``MLPRegressor``: ``"variable"`` (as ``predict``: a vector for one output; the exponential
      of the last layer for ``loss='poisson'``).

    Labels are int64 for integer classes, double for float classes, bool for boolean ones and
    strings otherwise. Every hidden activation is exported as the C core computes it (softplus
    with its linear threshold at 20, PReLU with its learned slopes, the exact erf GELU, maxout
    as a max over each unit's pieces); batch normalization is folded into the dense layer
    before it; dropout is absent, as in predict. ONNX Runtime's results agree with the
    estimator's methods within 1e-5 in float32 and 1e-10 in float64 (relative to the values'
    size where they exceed 1), with the same labels.

    Parameters
    ----------
    model : MLPClassifier, MLPRegressor or Perceptron
        A fitted fastmlp estimator. For a ``Pipeline`` or ``ColumnTransformer`` holding fastmlp
        estimators, ``import fastmlp.onnx`` and use ``skl2onnx.to_onnx``.
    target_opset : int, default=None
        The version of the default ONNX operator set the graph uses, from 13 to the newest the
        installed onnx knows. None: 18 (or the newest the installed onnx knows, if older).
        From opset 20, a float32 GELU uses ONNX's ``Gelu`` operator.

    Returns
    -------
    onnx.ModelProto
        The model, checked by ``onnx.checker``; ``model.SerializeToString()`` gives the bytes
        an ONNX runtime loads.

    Raises
    ------
    ImportError
        When onnx is not installed (``pip install "fastmlp[onnx]"``).
    sklearn.exceptions.NotFittedError
        When the estimator has not been fitted.
    TypeError
        When ``model`` is not a fastmlp estimator.
    ValueError
        When ``target_opset`` is not an int in the supported range.

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime
    >>> import fastmlp
    >>> X = np.random.RandomState(0).randn(50, 4)
    >>> y = (X[:, 0] > 0).astype(int)
    >>> clf = fastmlp.MLPClassifier((8,), max_iter=50, random_state=0).fit(X, y)
    >>> onx = fastmlp.to_onnx(clf)
    >>> session = onnxruntime.InferenceSession(onx.SerializeToString(),
    ...                                        providers=["CPUExecutionProvider"])
    >>> label, probabilities = session.run(None, {"X": X})
    >>> bool((label == clf.predict(X)).all())
    True
    >>> bool(np.allclose(probabilities, clf.predict_proba(X), rtol=0, atol=1e-10))
    True
    """
    onnx = _require_onnx()
    desc = Description(model)
    opset = check_opset(target_opset, onnx.defs.onnx_opset_version())
    elem_type = FLOAT if desc.dtype == np.float32 else DOUBLE
    graph = _Graph(onnx)
    emitter = Emitter(graph, elem_type, opset)
    make = onnx.helper.make_tensor_value_info
    inputs = [make("X", elem_type, [None, desc.n_features])]
    if desc.kind == "regression":
        names = {"variable": "variable"}
        shape = [None] if desc.n_outputs == 1 else [None, desc.n_outputs]
        outputs = [make("variable", elem_type, shape)]
    else:
        label_type = label_type_of(desc.classes)
        if desc.kind == "multilabel":
            names = {"label": "label", "probabilities": "probabilities"}
            outputs = [make("label", INT64, [None, desc.n_outputs]),
                       make("probabilities", elem_type, [None, desc.n_outputs])]
        else:
            second = "scores" if desc.kind == "margin" else "probabilities"
            names = {"label": "label", second: second}
            n_classes = len(desc.classes)
            shape = [None] if desc.kind == "margin" and n_classes == 2 else [None, n_classes]
            outputs = [make("label", label_type, [None]), make(second, elem_type, shape)]
    emitter.outputs(desc, "X", names, None if desc.kind == "regression" else label_type)
    graph_proto = onnx.helper.make_graph(graph.nodes, type(model).__name__, inputs, outputs,
                                         graph.initializers)
    opset_ids = [onnx.helper.make_opsetid("", opset)]
    result = onnx.helper.make_model(
        graph_proto, opset_imports=opset_ids, producer_name="fastmlp",
        ir_version=onnx.helper.find_min_ir_version_for(opset_ids),
    )
    from . import __version__

    result.producer_version = __version__
    result.doc_string = "%s exported by fastmlp %s" % (type(model).__name__, __version__)
    onnx.checker.check_model(result)
    return result
