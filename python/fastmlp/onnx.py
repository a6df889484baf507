"""skl2onnx converters for fastmlp's estimators.

Importing this module registers ``fastmlp.MLPClassifier``, ``fastmlp.MLPRegressor`` and
``fastmlp.Perceptron`` with skl2onnx, so that ``skl2onnx.to_onnx`` converts a ``Pipeline`` or
``ColumnTransformer`` that contains them into one ONNX graph::

    import fastmlp.onnx  # noqa: F401  (registers the converters)
    import skl2onnx

    onx = skl2onnx.to_onnx(pipeline, X[:1])

Inside skl2onnx the estimators follow skl2onnx's conventions for classifiers and regressors:

- classifiers have two outputs, the label and a second tensor of shape ``[N, n_classes]``:
  ``predict_proba`` for ``loss='log_loss'`` (binary and multiclass targets), the class scores
  for the margin losses (``'hinge'``, ``'perceptron'``) and ``Perceptron``, whose two-class
  scores are ``[-d, d]`` with d the ``decision_function`` (as skl2onnx writes its own linear
  classifiers). The second output becomes a list of dicts with skl2onnx's default option
  ``zipmap=True``; ``options={"zipmap": False}`` keeps the matrix and ``"columns"`` gives one
  output per class. ``nocl=True`` gives class indices instead of labels. Numeric labels are
  int64, others strings (as skl2onnx does). Multilabel targets (``label`` is predict's 0/1
  indicator matrix, ``[N, n_labels]``) need ``zipmap=False``.
- regressors have one output, ``variable``, of shape ``[N, n_outputs]``.

The graph's float type is that of the converter's input (float32 unless the pipeline feeds
double, as ``skl2onnx.to_onnx(model, X.astype(np.float64))`` does); the layers are those
``fastmlp.to_onnx`` writes.

Raises ImportError, saying what to install, when skl2onnx or onnx is missing.
"""

import numpy as np

try:
    import onnx as _onnx  # noqa: F401
    from skl2onnx import update_registered_converter
    from skl2onnx.common.data_types import (
        DoubleTensorType,
        FloatTensorType,
        Int64TensorType,
    )
    from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes
    from skl2onnx.common.utils import check_input_and_output_numbers
except ImportError as exc:  # pragma: no cover - exercised with the import blocked
    raise ImportError(
        "fastmlp.onnx registers fastmlp's estimators with skl2onnx, which (with onnx) is not "
        "installed: pip install \"fastmlp[onnx]\" (or pip install onnx skl2onnx)."
    ) from exc

from ._estimators import MLPClassifier, MLPRegressor
from ._onnx_export import DOUBLE, FLOAT, INT64, STRING, Description, Emitter
from ._perceptron import Perceptron

__all__ = ["CLASSIFIER_OPTIONS"]

#: The options fastmlp's classifiers accept in skl2onnx (``options={id(model): {...}}`` or
#: ``{type(model): {...}}``).
CLASSIFIER_OPTIONS = {"zipmap": [True, False, "columns"], "nocl": [True, False]}


class _ContainerGraph:
    """The emitter's graph interface over skl2onnx's scope and container."""

    def __init__(self, scope, container):
        self.scope = scope
        self.container = container

    def name(self, hint):
        return self.scope.get_unique_variable_name(hint)

    def constant(self, hint, values, elem_type):
        name = self.name(hint)
        values = np.asarray(values)
        if elem_type == STRING:
            content = [str(v).encode("utf-8") for v in values.ravel()]
        else:
            content = values.ravel().tolist()
        self.container.add_initializer(name, elem_type, list(values.shape), content)
        return name

    def node(self, op, inputs, outputs, **attributes):
        self.container.add_node(op, inputs, outputs,
                                name=self.scope.get_unique_operator_name(op), **attributes)


def _float_input(scope, operator, container):
    """The converter's input as a float tensor (cast from any other type), and its type."""
    source = operator.inputs[0]
    if isinstance(source.type, DoubleTensorType):
        return source.full_name, DOUBLE
    if isinstance(source.type, FloatTensorType):
        return source.full_name, FLOAT
    cast = scope.get_unique_variable_name("cast_input")
    container.add_node("Cast", [source.full_name], [cast], to=FLOAT,
                       name=scope.get_unique_operator_name("Cast"))
    return cast, FLOAT


def _sklearn_labels(model, classes):
    """skl2onnx's label type for classes: int64 for integer (or integral float, or boolean)
    classes, strings otherwise."""
    classes = np.asarray(classes)
    if classes.dtype.kind in "iub":
        return classes.astype(np.int64), INT64
    if classes.dtype.kind == "f":
        if not np.all(classes == np.round(classes)):
            raise ValueError(
                "skl2onnx gives numeric labels as int64; %s has non-integral float classes_ "
                "%r: use integer or string labels, or fastmlp.to_onnx (double labels)."
                % (type(model).__name__, classes)
            )
        return classes.astype(np.int64), INT64
    return classes, STRING


def _convert_classifier(scope, operator, container):
    model = operator.raw_operator
    desc = Description(model)
    x, elem_type = _float_input(scope, operator, container)
    emitter = Emitter(_ContainerGraph(scope, container), elem_type, container.target_opset)
    options = container.get_options(model, dict(nocl=False))
    names = {"label": operator.outputs[0].full_name,
             "probabilities": operator.outputs[1].full_name}
    if options["nocl"]:
        desc.classes, label_type = np.arange(len(desc.classes)), INT64
    else:
        desc.classes, label_type = _sklearn_labels(model, desc.classes)
    emitter.outputs(desc, x, names, label_type, sklearn_layout=True)


def _convert_regressor(scope, operator, container):
    model = operator.raw_operator
    desc = Description(model)
    x, elem_type = _float_input(scope, operator, container)
    emitter = Emitter(_ContainerGraph(scope, container), elem_type, container.target_opset)
    emitter.outputs(desc, x, {"variable": operator.outputs[0].full_name}, None,
                    sklearn_layout=True)


def _classifier_shapes(operator):
    calculate_linear_classifier_output_shapes(operator)
    model = operator.raw_operator
    if getattr(model, "out_activation_", None) == "logistic" and model.n_outputs_ > 1:
        # multilabel: predict's indicator matrix
        n_rows = operator.inputs[0].get_first_dimension()
        operator.outputs[0].set_type(Int64TensorType([n_rows, model.n_outputs_]))


def _regressor_shapes(operator):
    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=1)
    source = operator.inputs[0].type
    tensor_type = DoubleTensorType if isinstance(source, DoubleTensorType) else FloatTensorType
    n_rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].set_type(tensor_type([n_rows, operator.raw_operator.n_outputs_]))


update_registered_converter(MLPClassifier, "FastmlpMLPClassifier", _classifier_shapes,
                            _convert_classifier, options=CLASSIFIER_OPTIONS)
update_registered_converter(Perceptron, "FastmlpPerceptron", _classifier_shapes,
                            _convert_classifier, options=CLASSIFIER_OPTIONS)
update_registered_converter(MLPRegressor, "FastmlpMLPRegressor", _regressor_shapes,
                            _convert_regressor)
