"""Conversion between scikit-learn's and fastmlp's multilayer perceptrons.

``from_sklearn`` turns a fitted ``sklearn.neural_network.MLPClassifier`` / ``MLPRegressor`` into
the fastmlp estimator of the same parameters and state; ``to_sklearn`` (a method of the fastmlp
estimators, implemented here) goes the other way for models scikit-learn can represent. Both
carry the weights (one flat array on fastmlp's side), the fitted attributes, the label encoder
and the stochastic optimizer's state, so that the converted model predicts the same values and
can continue with ``partial_fit``.

Reading and setting the estimators' private state (scikit-learn's ``_label_binarizer``,
``_optimizer``, ...) is this module's job: the names are listed in tests/test_api.py.
"""

import copy

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._model_state import ModelState, arrays_dtype

# Fitted attributes both libraries have (besides coefs_ and intercepts_).
_SHARED_ATTRIBUTES = (
    "classes_", "loss_", "best_loss_", "loss_curve_", "validation_scores_",
    "best_validation_score_", "t_", "n_iter_", "n_layers_", "n_outputs_", "out_activation_",
    "n_features_in_", "feature_names_in_",
)
# scikit-learn's private state that training reads on a later partial_fit or warm-start fit.
_SHARED_PRIVATE = ("_no_improvement_count",)

# fastmlp-only parameters and the value that makes a model scikit-learn's (None: the parameter
# only matters for options scikit-learn does not have, which are refused on their own).
_FASTMLP_ONLY = {
    "alpha_l1": 0.0,
    "dropout": 0.0,
    "batch_norm": False,
    "init": "glorot_uniform",
    "warmup_epochs": 0,
    "class_weight": None,
    "validation_data": None,
    "restore_best_weights": "auto",
    "callbacks": None,
}
_SKLEARN_ACTIVATIONS = ("identity", "logistic", "tanh", "relu")
_SKLEARN_SOLVERS = ("lbfgs", "sgd", "adam")
_SKLEARN_SCHEDULES = ("constant", "invscaling", "adaptive")


def _sklearn_classes():
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    return MLPClassifier, MLPRegressor


def _copy_value(value):
    if isinstance(value, list):
        return [np.array(v) if isinstance(v, np.ndarray) else v for v in value]
    if isinstance(value, np.ndarray):
        return value.copy()
    return value


def _copy_attributes(source, target, names):
    for name in names:
        if name in source.__dict__:
            setattr(target, name, _copy_value(source.__dict__[name]))


def from_sklearn(estimator):
    """Convert a fitted scikit-learn multilayer perceptron into the fastmlp estimator.

    The fastmlp ``MLPClassifier`` / ``MLPRegressor`` returned has the scikit-learn estimator's
    parameters, its weights (in their dtype: float32 weights stay float32), its fitted
    attributes (``classes_``, ``loss_``, ``best_loss_``, ``loss_curve_``,
    ``validation_scores_``, ``best_validation_score_``, ``n_iter_``, ``t_``, ``n_layers_``,
    ``n_outputs_``, ``out_activation_``, ``n_features_in_``, ``feature_names_in_``), its label
    encoding and, for the 'sgd' and 'adam' solvers, its optimizer's state (SGD velocities and
    learning rate; Adam's step count and moment estimates), so that ``partial_fit`` continues
    where scikit-learn's would. Its predictions are scikit-learn's (float64: to the last bit or
    within a few units in the last place) and it predicts at fastmlp's speed.

    Parameters
    ----------
    estimator : sklearn.neural_network.MLPClassifier or MLPRegressor
        A fitted scikit-learn estimator.

    Returns
    -------
    fastmlp.MLPClassifier or fastmlp.MLPRegressor
        The converted estimator; the scikit-learn estimator is not modified.

    Raises
    ------
    TypeError
        When ``estimator`` is not one of scikit-learn's multilayer perceptrons.
    sklearn.exceptions.NotFittedError
        When it has not been fitted.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.neural_network import MLPClassifier
    >>> import fastmlp
    >>> X = np.random.RandomState(0).randn(60, 3)
    >>> y = (X[:, 0] > 0).astype(int)
    >>> sk = MLPClassifier((5,), max_iter=300, random_state=0).fit(X, y)
    >>> fast = fastmlp.from_sklearn(sk)
    >>> bool(np.abs(fast.predict_proba(X) - sk.predict_proba(X)).max() <= 1e-12)
    True
    """
    from ._estimators import MLPClassifier, MLPRegressor

    SkClassifier, SkRegressor = _sklearn_classes()
    if isinstance(estimator, SkClassifier):
        cls = MLPClassifier
    elif isinstance(estimator, SkRegressor):
        cls = MLPRegressor
    else:
        raise TypeError(
            "from_sklearn converts sklearn.neural_network.MLPClassifier and MLPRegressor; got "
            "%s." % type(estimator).__name__
        )
    check_is_fitted(estimator, "coefs_")
    known = cls().get_params(deep=False)
    params = {k: v for k, v in estimator.get_params(deep=False).items() if k in known}
    model = cls(**copy.deepcopy(params))
    _copy_attributes(estimator, model, _SHARED_ATTRIBUTES + _SHARED_PRIVATE)
    if "_label_binarizer" in estimator.__dict__:
        model._label_binarizer = copy.deepcopy(estimator._label_binarizer)
    coefs = [np.asarray(c) for c in estimator.coefs_]
    intercepts = [np.asarray(b) for b in estimator.intercepts_]
    dtype = arrays_dtype(coefs, intercepts)
    units = [coefs[0].shape[0]] + [c.shape[1] for c in coefs]
    model._bind(ModelState.pack(model._network(units), coefs, intercepts, None, dtype))
    best = estimator.__dict__.get("_best_coefs")
    if best is not None and estimator.__dict__.get("_best_intercepts") is not None:
        model._best_params = np.concatenate(
            [np.ravel(a) for a in list(best) + list(estimator._best_intercepts)]).astype(dtype)
    optimizer = estimator.__dict__.get("_optimizer")
    if optimizer is not None and estimator.solver in ("sgd", "adam"):
        model._optimizer = _fastmlp_optimizer(model, optimizer, dtype)
    return model


def _fastmlp_optimizer(model, sk_optimizer, dtype):
    """fastmlp's optimizer holding the state of scikit-learn's SGDOptimizer / AdamOptimizer."""
    n_params = model._params.size
    optimizer = model._new_optimizer(n_params, dtype)
    if model.solver == "sgd":
        optimizer.state[:n_params] = np.concatenate([np.ravel(v) for v in sk_optimizer.velocities])
        # 'invscaling' and 'adaptive' change scikit-learn's rate as fastmlp's
        optimizer.rate = float(sk_optimizer.learning_rate)
    else:
        optimizer.state[:n_params] = np.concatenate([np.ravel(m) for m in sk_optimizer.ms])
        optimizer.state[n_params:] = np.concatenate([np.ravel(v) for v in sk_optimizer.vs])
        optimizer.step_count[0] = int(sk_optimizer.t)
    optimizer.learning_rate = optimizer.rate
    optimizer.epoch = int(model.__dict__.get("n_iter_", 0))
    return optimizer


def _refuse(option, value, why):
    raise ValueError(
        "to_sklearn: scikit-learn's multilayer perceptrons cannot represent %s=%r (%s)."
        % (option, value, why)
    )


def to_sklearn(model):
    """The scikit-learn estimator equal to the fitted fastmlp model ``model`` (see the
    estimators' ``to_sklearn``)."""
    from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer

    from ._estimators import MLPClassifier

    check_is_fitted(model, "coefs_")
    SkClassifier, SkRegressor = _sklearn_classes()
    params = model.get_params(deep=False)
    if params["activation"] not in _SKLEARN_ACTIVATIONS:
        _refuse("activation", params["activation"],
                "its activations are %s" % ", ".join(_SKLEARN_ACTIVATIONS))
    if params["solver"] not in _SKLEARN_SOLVERS:
        _refuse("solver", params["solver"], "its solvers are %s" % ", ".join(_SKLEARN_SOLVERS))
    if params["learning_rate"] not in _SKLEARN_SCHEDULES:
        _refuse("learning_rate", params["learning_rate"],
                "its schedules are %s" % ", ".join(_SKLEARN_SCHEDULES))
    is_classifier = isinstance(model, MLPClassifier)
    if is_classifier and params["loss"] != "log_loss":
        _refuse("loss", params["loss"], "its classifier minimizes the log loss")
    for option, default in _FASTMLP_ONLY.items():
        value = params.get(option, default)
        same = (value is None) if default is None else (
            not isinstance(value, (list, tuple, np.ndarray)) and value == default)
        if option == "dropout" and not same:
            same = bool(np.all(np.asarray(value, dtype=np.float64) == 0))
        if not same and option in params:
            _refuse(option, value, "a fastmlp-only option; its default %r can be" % (default,))
    sk_params = {k: v for k, v in params.items()
                 if k in (SkClassifier if is_classifier else SkRegressor)().get_params()}
    if sk_params.get("learning_rate_init") == "auto":
        sk_params["learning_rate_init"] = 0.001  # 'auto' for scikit-learn's solvers
    sk = (SkClassifier if is_classifier else SkRegressor)(**copy.deepcopy(sk_params))
    coefs = [np.array(c) for c in model.coefs_]
    intercepts = [np.array(b) for b in model.intercepts_]
    sk.coefs_, sk.intercepts_ = coefs, intercepts
    _copy_attributes(model, sk, _SHARED_ATTRIBUTES + _SHARED_PRIVATE)
    if "_label_binarizer" in model.__dict__:
        sk._label_binarizer = copy.deepcopy(model._label_binarizer)
    if "_best_params" in model.__dict__ and model.early_stopping:
        flat = model._best_params
        sk._best_coefs, sk._best_intercepts = _unflatten(flat, coefs, intercepts)
    optimizer = model.__dict__.get("_optimizer")
    if optimizer is not None and optimizer.solver == model.solver:
        n_params = sum(a.size for a in coefs + intercepts)
        state = optimizer.state.astype(coefs[0].dtype)
        params_list = coefs + intercepts
        if model.solver == "sgd":
            sk_optimizer = SGDOptimizer(params_list, optimizer.learning_rate_init,
                                        optimizer.lr_schedule, optimizer.momentum,
                                        optimizer.nesterov, optimizer.power_t)
            sk_optimizer.velocities = list(_unflatten_all(state[:n_params], params_list))
            sk_optimizer.learning_rate = float(optimizer.rate)
        else:
            sk_optimizer = AdamOptimizer(params_list, optimizer.learning_rate_init,
                                         optimizer.beta_1, optimizer.beta_2, optimizer.epsilon)
            sk_optimizer.ms = list(_unflatten_all(state[:n_params], params_list))
            sk_optimizer.vs = list(_unflatten_all(state[n_params:], params_list))
            sk_optimizer.t = optimizer.step
        sk._optimizer = sk_optimizer
    return sk


def _unflatten_all(flat, like):
    """Arrays of the shapes of like, read in order from the flat array."""
    offset = 0
    for array in like:
        yield np.array(flat[offset : offset + array.size]).reshape(array.shape)
        offset += array.size


def _unflatten(flat, coefs, intercepts):
    arrays = list(_unflatten_all(np.asarray(flat, dtype=coefs[0].dtype), coefs + intercepts))
    return arrays[: len(coefs)], arrays[len(coefs) :]
