"""Multilayer perceptron estimators with scikit-learn's API and maths, trained by the C core.

The estimators keep scikit-learn's parameters, defaults, validation, fitted attributes and
stopping rules. What they own is the API: the model's parameters are a ``ModelState``
(``_model_state``: the flat array and its views ``coefs_``, ``intercepts_``, ...), the epochs run
in ``_training`` with an optimizer from ``_optimizers``, predict goes through ``_predict``,
files are written by ``_persistence``, and ``check_gradients`` hands the model state and the
encoded data to ``_gradcheck``.
"""

import copy
import functools
import os
import warnings
import weakref
from abc import ABC, abstractmethod
from numbers import Integral, Real
from types import MethodType

import numpy as np
import scipy.optimize
import scipy.sparse as sp
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    RegressorMixin,
    _fit_context,
    is_classifier,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import assert_all_finite, check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import (
    _check_partial_fit_first_call,
    type_of_target,
    unique_labels,
)
from sklearn.utils.validation import (
    _check_n_features,
    _check_sample_weight,
    check_is_fitted,
    column_or_1d,
    validate_data,
)
from threadpoolctl import threadpool_limits

from . import _core, _dask, _persistence, _predict, _training
from . import _training_options as _options
from ._gradcheck import compare_gradients
from ._model_state import (
    EXTRA_ATTRIBUTES,
    ModelState,
    arrays_dtype,
    build_network,
    parameter_count,
    units_from_arrays,
)
from ._optimizers import STOCHASTIC_SOLVERS, Optimizer

_STOCHASTIC_SOLVERS = list(STOCHASTIC_SOLVERS)

_HIDDEN_ACTIVATIONS = (
    "identity",
    "logistic",
    "tanh",
    "relu",
    "leaky_relu",
    "prelu",
    "elu",
    "maxout",
    "softplus",
    "gelu",
)

# Classifier losses scored on raw outputs (identity output layer, one unit per class).
_MARGIN_LOSSES = ("hinge", "perceptron")

# Rows per chunk of the full-batch (lbfgs) loss and gradient: bounds the workspace's memory.
_LBFGS_CHUNK_ROWS = 4096


def _lbfgs_iterations(result, max_iter):
    """Iterations of an L-BFGS-B run, warning (ConvergenceWarning) when it did not converge."""
    if result.status != 0:
        try:
            message = result.message.decode("latin1")
        except AttributeError:
            message = result.message
        warnings.warn(
            "lbfgs failed to converge after %d iteration(s) (status=%d):\n%s\n\n"
            "Increase the number of iterations to improve the convergence "
            "(max_iter=%d).\nYou might also want to scale the data as shown in:\n"
            "    https://scikit-learn.org/stable/modules/preprocessing.html"
            % (result.nit, result.status, message, max_iter),
            ConvergenceWarning,
            stacklevel=3,
        )
    return min(result.nit, max_iter)


def _physical_memory_bytes():
    """This machine's physical memory in bytes, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _check_finite_X(estimator, X):
    """scikit-learn's check that X (validated, dense or sparse) holds no NaN or infinity, with
    its error message, the dense float arrays fit and partial_fit train on read in one pass by
    the C core's threads: about a third of the time of check_array's own check (a sum of X),
    which took 3% of a partial_fit epoch of the digits net."""
    data = X.data if sp.issparse(X) else X
    if (
        type(data) is np.ndarray
        and data.dtype in (np.float32, np.float64)
        and data.flags.c_contiguous
        and _core.all_finite(data)
    ):
        return
    assert_all_finite(data, input_name="X", estimator_name=type(estimator).__name__)


# The RandomStates each estimator derived from an integer random_state: [the one it holds, the
# one it held before]. The next fit or partial_fit re-seeds the one held before in place (what
# numpy.random.RandomState(seed) gives, in a microsecond) instead of building a new one (about
# 80 microseconds, mostly the entropy seeding RandomState() does before the seed replaces it),
# so the generator the estimator holds is left as it was until the call succeeds. Weak keys:
# an entry lives as long as its estimator; a copy or a clone is not in it and builds its own.
_SEEDED_GENERATORS = weakref.WeakKeyDictionary()


def _seeded_random_state(estimator):
    """check_random_state(estimator.random_state): for an integer random_state the generator
    the estimator held the call before is re-seeded in place (same state, same draws)."""
    seed = estimator.random_state
    if not isinstance(seed, Integral) or isinstance(seed, bool):
        return check_random_state(seed)
    try:
        pair = _SEEDED_GENERATORS.get(estimator)
    except TypeError:  # an unhashable estimator subclass: no reuse
        return check_random_state(seed)
    held = estimator.__dict__.get("_random_state")
    if pair is not None and held is not None and held is pair[0] and 0 <= seed <= 2**32 - 1:
        generator = pair[1]
        if generator is None:
            generator = check_random_state(seed)
        else:
            generator.seed(seed)
        _SEEDED_GENERATORS[estimator] = (generator, held)
        return generator
    generator = check_random_state(seed)
    _SEEDED_GENERATORS[estimator] = (generator, None)
    return generator


def _validate_arrays(estimator, X, y, reset, y_kinds):
    """validate_data(estimator, X, y, ...) of fit and partial_fit (dense or sparse X converted
    to float64 unless float32, labels or targets as check_X_y gives them, X's finiteness left to
    _check_finite_X). A 2-D float32 / float64 ndarray X with a 1-D or 2-D ndarray y whose dtype
    kind is in y_kinds is what check_X_y returns unchanged: it skips check_array's dataframe
    sniffing (a fifth of a millisecond per call) and keeps its checks of y's finiteness, the
    shapes and the feature names and counts (the names only where there are some: an ndarray
    has none, so for a model fitted without names only the count is checked)."""
    if (
        type(X) is np.ndarray
        and type(y) is np.ndarray
        and X.ndim == 2
        and X.dtype in (np.float32, np.float64)
        and X.shape[0] >= 1
        and X.shape[1] >= 1
        and y.dtype.kind in y_kinds
        and (y.ndim == 1 or (y.ndim == 2 and y.shape[1] >= 1))
        and y.shape[0] == X.shape[0]
    ):
        if reset or getattr(estimator, "feature_names_in_", None) is not None:
            X, y = validate_data(estimator, X, y, reset=reset, skip_check_array=True)
        else:
            # what validate_data checks of an ndarray (no feature names) for a model fitted
            # without feature names: the number of features
            _check_n_features(estimator, X, reset=False)
        if y.dtype.kind == "f":
            assert_all_finite(y, input_name="y", estimator_name=type(estimator).__name__)
        return X, y
    extra = {"y_numeric": True} if "f" in y_kinds else {}
    return validate_data(
        estimator,
        X,
        y,
        accept_sparse=["csr", "csc"],
        multi_output=True,
        dtype=(np.float64, np.float32),
        reset=reset,
        ensure_all_finite=False,
        **extra,
    )


def _check_model_size(hidden_layer_sizes, layer_units, itemsize, maxout_pieces=1, prelu=False,
                      batch_norm=False):
    """Refuses, before anything is allocated, a network whose parameters, gradient and two
    optimizer-state arrays (4 values per parameter) would not fit in physical memory. The count
    is the flat array's: maxout pieces, PReLU slopes and batch-norm values included."""
    n_params = parameter_count(layer_units, maxout_pieces, prelu, batch_norm)
    needed = 4 * n_params * itemsize
    limit = _physical_memory_bytes()
    if limit is None:
        limit = 2**63 - 1  # the C core's sizes are 64-bit signed
    if needed > limit:
        raise ValueError(
            "hidden_layer_sizes=%r gives a network of %d parameters (layer widths %s): its "
            "parameters, gradient and optimizer state need %.3g GiB, more than this machine's "
            "%.3g GiB of memory. Use smaller hidden layers."
            % (hidden_layer_sizes, n_params, layer_units, needed / 2**30, limit / 2**30)
        )


class _unless_margin_loss:
    """A method that does not exist (AttributeError, so hasattr is False) for the margin losses,
    as scikit-learn's available_if makes it, without available_if's cost per access (it copies
    the wrapper's metadata every time, a large part of a one-sample predict_proba)."""

    def __init__(self, method):
        self.method = method
        functools.update_wrapper(self, method)

    def __get__(self, obj, owner=None):
        if obj is None:
            return self.method
        if obj.loss in _MARGIN_LOSSES:
            raise AttributeError(
                "%s is not available with loss=%r, which gives scores, not probabilities; "
                "use decision_function." % (self.method.__name__, obj.loss)
            )
        return MethodType(self.method, obj)


class BaseMultilayerPerceptron(BaseEstimator, ABC):
    """Base class for MLP classification and regression (use the derived classes)."""

    _parameter_constraints: dict = {
        "hidden_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
        ],
        "activation": [StrOptions(set(_HIDDEN_ACTIVATIONS))],
        "solver": [StrOptions({"lbfgs", "sgd", "adam", "adamw", "adagrad", "rmsprop", "adadelta"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        "learning_rate": [
            StrOptions({"constant", "invscaling", "adaptive", "step", "exponential", "cosine"})
        ],
        "learning_rate_init": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "alpha_l1": [Interval(Real, 0, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left"), "array-like"],
        "batch_norm": ["boolean"],
        "maxout_pieces": [Interval(Integral, 1, 1024, closed="both")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "rho": [Interval(Real, 0, 1, closed="both"), None],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [
            Interval(Integral, 1, None, closed="left"),
            Options(Real, {np.inf}),
        ],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "init": [
            StrOptions({"glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "normal"})
        ],
        "init_std": [Interval(Real, 0, None, closed="left")],
        "lr_step_size": [Interval(Integral, 1, None, closed="left")],
        "lr_gamma": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
        "lr_min": [Interval(Real, 0, None, closed="left")],
        "warmup_epochs": [Interval(Integral, 0, None, closed="left")],
        "validation_data": [None, tuple],
        "restore_best_weights": [StrOptions({"auto"}), "boolean"],
        "callbacks": [list, tuple, None],
        "progress": [StrOptions({"auto"}), "boolean"],
        "matmul_precision": [StrOptions({"float32", "bfloat16"})],
    }

    @abstractmethod
    def __init__(
        self,
        hidden_layer_sizes,
        activation,
        solver,
        alpha,
        batch_size,
        learning_rate,
        learning_rate_init,
        power_t,
        alpha_l1,
        dropout,
        batch_norm,
        maxout_pieces,
        weight_decay,
        rho,
        max_iter,
        loss,
        shuffle,
        random_state,
        tol,
        verbose,
        warm_start,
        momentum,
        nesterovs_momentum,
        early_stopping,
        validation_fraction,
        beta_1,
        beta_2,
        epsilon,
        n_iter_no_change,
        max_fun,
        init="glorot_uniform",
        init_std=0.01,
        lr_step_size=10,
        lr_gamma="auto",
        lr_min=0.0,
        warmup_epochs=0,
        validation_data=None,
        restore_best_weights="auto",
        callbacks=None,
        progress="auto",
        matmul_precision="float32",
    ):
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.alpha_l1 = alpha_l1
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.maxout_pieces = maxout_pieces
        self.weight_decay = weight_decay
        self.rho = rho
        self.max_iter = max_iter
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.init = init
        self.init_std = init_std
        self.lr_step_size = lr_step_size
        self.lr_gamma = lr_gamma
        self.lr_min = lr_min
        self.warmup_epochs = warmup_epochs
        self.validation_data = validation_data
        self.restore_best_weights = restore_best_weights
        self.callbacks = callbacks
        self.progress = progress
        self.matmul_precision = matmul_precision

    # ------------------------------------------------------------------ model state

    def _core_loss(self):
        """The C core's loss for this model (binary log loss for logistic outputs)."""
        if self.loss == "log_loss" and self.out_activation_ == "logistic":
            return "binary_log_loss"
        return self.loss

    def _maxout_pieces(self):
        """Linear pieces per hidden unit: maxout_pieces for maxout, else 1."""
        return int(self.maxout_pieces) if self.activation == "maxout" else 1

    def _layer_units_from_coefs(self):
        """Layer widths (inputs, hidden units, outputs) read off coefs_ / intercepts_."""
        return units_from_arrays(self.coefs_, self.intercepts_, self._maxout_pieces())

    def _dropout_rates(self, n_hidden):
        """One dropout rate per hidden layer, from a rate or a sequence of them."""
        if isinstance(self.dropout, Real):
            return [float(self.dropout)] * n_hidden
        rates = np.asarray(self.dropout, dtype=np.float64)
        if rates.shape != (n_hidden,) or not np.all((rates >= 0) & (rates < 1)):
            raise ValueError(
                "dropout must be a rate in [0, 1) or a sequence of one such rate per hidden "
                "layer (%d here); got %r." % (n_hidden, self.dropout)
            )
        return [float(r) for r in rates]

    def _network(self, units, dropout_seed=0):
        """The C core's description of this architecture."""
        return build_network(
            units, self.activation, self.out_activation_, self._core_loss(), self.alpha,
            self.alpha_l1, self.maxout_pieces, self.batch_norm,
            self._dropout_rates(len(units) - 2), dropout_seed,
            matmul_precision=self._matmul_precision(),
        )

    def _matmul_precision(self):
        """The matmul precision the options name ('float32' for models of earlier versions,
        whose pickles lack it)."""
        return getattr(self, "matmul_precision", "float32")

    @property
    def _params(self):
        """The flat parameter array (the model state's); AttributeError before fit, so that
        hasattr and dir() (which dask's tokenize calls) work on an unfitted model."""
        state = self.__dict__.get("_model")
        if state is None:
            raise AttributeError("_params")
        return state.params

    @property
    def _net(self):
        """The C core's network description (the model state's); AttributeError before fit."""
        state = self.__dict__.get("_model")
        if state is None:
            raise AttributeError("_net")
        return state.network

    def _bind(self, state):
        """Makes state the model's: coefs_, intercepts_ and the extra arrays (prelu_slopes_,
        batch_norm_*_) become its views."""
        self._model = state
        for name in EXTRA_ATTRIBUTES.values():
            self.__dict__.pop(name, None)
        for name, views in state.arrays.items():
            setattr(self, name, views)

    def _describes(self, network):
        """Whether network has the activations the model's options and fit name."""
        return (network.hidden_activation == self.activation
                and network.output_activation == self.out_activation_
                and network.matmul_precision == self.__dict__.get("matmul_precision", "float32"))

    def _model_state(self, dtype=None, bind=True, options=True):
        """The model state: the fitted one while coefs_ / intercepts_ and the extra arrays are
        its views (and, with options, its network has the activations the options name), else
        one packed from the arrays a user assigned (or converted to dtype), which bind makes
        the model's (predict packs without binding, so that later in-place edits of assigned
        arrays are followed, as in scikit-learn)."""
        attributes = self.__dict__
        state = attributes.get("_model")
        if (state is not None and state.views_in(attributes)
                and (not options or self._describes(state.network))):
            if dtype is None or state.dtype == dtype:
                return state
            new = state.with_dtype(dtype)
        else:
            units = self._layer_units_from_coefs()
            network = state.network if state is not None else None
            if network is None or list(network.units) != units or not self._describes(network):
                network = self._network(units)
            extras = {name: attributes[name] for name in EXTRA_ATTRIBUTES.values()
                      if attributes.get(name) is not None}
            new = ModelState.pack(network, self.coefs_, self.intercepts_, extras, dtype)
        if bind:
            self._bind(new)
        return new

    def _restore_model_state(self, params, units=None, network=None):
        """Binds a stored flat parameter array (a pickle's, a file's) with network (a file's
        network description), by default the network the model's options describe for the
        layer widths units; ValueError when they do not describe one or params does not fit
        it."""
        if network is None:
            if units is None:
                units = self._layer_units_from_coefs()
            try:
                network = self._network([int(u) for u in units])
            except (KeyError, TypeError) as exc:
                raise ValueError("the model's options do not describe a network: %s" % exc)
        self._bind(ModelState(network, params))

    def __getstate__(self):
        state = super().__getstate__()
        if "_model" in state and "coefs_" in state:
            # coefs_ / intercepts_ a user assigned are folded into the flat array first; the
            # views are stored as the flat array and the layer widths
            model = self._model_state(options=False)
            state = dict(state)
            for name in model.arrays:
                state.pop(name, None)
            state["_model"] = None
            state["_flat_params"] = model.params
            state["_layer_units"] = model.units
        return state

    def __setstate__(self, state):
        state = dict(state)
        # pickles of earlier versions hold _params and _net, and the views
        params = state.pop("_flat_params", None)
        if params is None:
            params = state.pop("_params", None)
        units = state.pop("_layer_units", None)
        state.pop("_net", None)
        state.pop("_model", None)
        # options added since: their defaults, which are what earlier versions did
        state.setdefault("matmul_precision", "float32")
        super().__setstate__(state)
        if params is not None:
            if units is None:
                units = self._layer_units_from_coefs()
            self._restore_model_state(params, units)

    def to_sklearn(self):
        """The equivalent fitted scikit-learn estimator.

        Returns a ``sklearn.neural_network.MLPClassifier`` / ``MLPRegressor`` with this
        model's parameters, a copy of its weights (in their dtype), its fitted attributes
        (``classes_``, ``loss_curve_``, ``n_iter_``, ``t_``, ...), its label encoding and, for
        'sgd' and 'adam', its optimizer's state, so that scikit-learn predicts the same values
        and its ``partial_fit`` continues where this model's would.
        :func:`fastmlp.from_sklearn` converts back.

        Returns
        -------
        sklearn.neural_network.MLPClassifier or sklearn.neural_network.MLPRegressor
            The scikit-learn estimator; this model is not modified.

        Raises
        ------
        ValueError
            When the model uses an option scikit-learn does not have, named in the message:
            an ``activation`` other than 'identity', 'logistic', 'tanh' and 'relu', a
            ``solver`` other than 'lbfgs', 'sgd' and 'adam', a ``learning_rate`` schedule
            other than 'constant', 'invscaling' and 'adaptive', a classifier ``loss`` other
            than 'log_loss', or a fastmlp-only option away from its default (``alpha_l1``,
            ``dropout``, ``batch_norm``, ``init``, ``warmup_epochs``, ``class_weight``,
            ``validation_data``, ``restore_best_weights``, ``callbacks``).
        sklearn.exceptions.NotFittedError
            When the model has not been fitted.

        Examples
        --------
        >>> import numpy as np
        >>> import fastmlp
        >>> X = np.random.RandomState(0).randn(40, 3)
        >>> reg = fastmlp.MLPRegressor(hidden_layer_sizes=(4,), solver="lbfgs",
        ...                            random_state=0).fit(X, X[:, 0])
        >>> sk = reg.to_sklearn()
        >>> type(sk).__module__, bool(np.allclose(sk.predict(X), reg.predict(X)))
        ('sklearn.neural_network._multilayer_perceptron', True)
        """
        from ._sklearn_conversion import to_sklearn

        return to_sklearn(self)

    def save(self, path):
        """Save the fitted model to a portable file that loads without pickle.

        The file is a NumPy ``.npz`` archive of named fields (format version 2, described
        in ``fastmlp._persistence``): the estimator class and fastmlp version,
        ``get_params()``, the network description, the flat parameter array, the fitted
        attributes by name (``classes_``, ``loss_curve_``, ``n_iter_``, ...), the optimizer's
        state, step count and schedule, and early stopping's best parameters.
        ``np.load(path, allow_pickle=False)`` reads every entry; :func:`fastmlp.load` reads
        it back without executing any code from the file. ``callbacks`` is not saved
        (callables are training-time hooks): the loaded model has ``callbacks=None``.

        Parameters
        ----------
        path : str, path-like or writable binary file object
            Where to write. A path is written atomically (to a temporary file that is then
            renamed) and is used as given: no ``.npz`` suffix is added.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            When the model has not been fitted.
        TypeError
            When a parameter or fitted attribute holds a value the format cannot represent
            without pickle (a callable other than ``callbacks``, an arbitrary object,
            object-dtype class labels that are not strings, integers, floats or booleans).

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np
        >>> import fastmlp
        >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
        >>> clf = fastmlp.MLPClassifier(hidden_layer_sizes=(4,), solver="lbfgs",
        ...                             random_state=0).fit(X, [0, 1, 1, 0])
        >>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
        >>> clf.save(path)
        >>> bool((fastmlp.load(path).predict_proba(X) == clf.predict_proba(X)).all())
        True
        """
        _persistence.save(self, path)

    # ------------------------------------------------------------------ forward pass

    def _check_is_fitted(self):
        """check_is_fitted, without its attribute scan when the model is plainly fitted."""
        if "coefs_" not in self.__dict__:
            check_is_fitted(self)

    def _forward_pass_fast(self, X, check_input=True, two_class=False):
        """Output-layer activations for X (n_samples x n_outputs), computed by the C core; with
        two_class (one logistic output), the probabilities of both classes (n_samples x 2)."""
        attributes = self.__dict__
        state = attributes.get("_model")
        # Fast path: the model's own parameters (coefs_ and intercepts_ not reassigned, the
        # activations those they were fitted with) and X as it is, without feature names to
        # check (the full validation costs far more than a small forward pass).
        if (
            state is not None
            and "feature_names_in_" not in attributes
            and state.views_in(attributes)
            and self._describes(state.network)
        ):
            try:
                out = _predict.fast_outputs(state, X, self.n_features_in_, two_class)
            except _core.NonFiniteInputError:
                if not check_input:
                    raise
                out = None  # the full validation below raises scikit-learn's error for it
            if out is not None:
                return out
        elif (
            state is not None
            and "feature_names_in_" not in attributes
            and self._describes(state.network)
            and isinstance(attributes.get("coefs_"), list)
            and isinstance(attributes.get("intercepts_"), list)
            and len(attributes["coefs_"]) == len(attributes["intercepts_"])
            == state.network.n_layers
            and getattr(X, "shape", (0, -1))[-1] == self.n_features_in_
        ):
            # coefs_ / intercepts_ assigned by the user (a scikit-learn model's weights copied
            # in): read where they are, not packed at every call
            try:
                out = _predict.assigned_outputs(state.network, attributes["coefs_"],
                                                attributes["intercepts_"], X, two_class)
            except _core.NonFiniteInputError:
                if not check_input:
                    raise
                out = None
            if out is not None:
                return out
        if check_input:
            X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)
        return _predict.outputs(self._model_state(bind=False), X, two_class)

    # ------------------------------------------------------------------ fitting

    def _initialize(self, n_outputs, layer_units, dtype):
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = n_outputs
        self.n_layers_ = len(layer_units)
        if not is_classifier(self):
            self.out_activation_ = "exp" if self.loss == "poisson" else "identity"
        elif self.loss in _MARGIN_LOSSES:
            self.out_activation_ = "identity"  # scores, one per class
        elif self._label_binarizer.y_type_ == "multiclass":
            self.out_activation_ = "softmax"
        else:
            self.out_activation_ = "logistic"

        coefs, intercepts = [], []
        pieces = self._maxout_pieces()
        n_layers = len(layer_units) - 1
        for i, (fan_in, fan_out) in enumerate(zip(layer_units[:-1], layer_units[1:])):
            width = fan_out * pieces if i < n_layers - 1 else fan_out
            coef, intercept = self._init_coef(fan_in, width, dtype)
            coefs.append(coef)
            intercepts.append(intercept)
        # PReLU and batch norm start afresh, from their initial values
        self._bind(ModelState.pack(self._network(layer_units), coefs, intercepts, None, dtype))
        self.__dict__.pop("_optimizer", None)
        if self.early_stopping:
            self._best_params = self._params.copy()

        self.__dict__.pop("history_", None)
        if self.solver in _STOCHASTIC_SOLVERS:
            self._start_stochastic_records()

    def _start_stochastic_records(self, missing_only=False):
        """Empty learning curves and early-stopping bookkeeping, for a fresh stochastic fit or a
        model fitted by 'lbfgs' (which keeps none) that continues with a stochastic solver;
        with missing_only, only the records (and t_, n_iter_) the estimator lacks: weights
        assigned by hand, as scikit-learn's own tests assign them, with only some of the
        records a fit leaves."""
        records = dict(loss_curve_=[], history_=_training.new_history(),
                       _no_improvement_count=0)
        if self.early_stopping:
            records.update(validation_scores_=[], best_validation_score_=-np.inf,
                           best_loss_=None)
        else:
            records.update(best_loss_=np.inf, validation_scores_=None,
                           best_validation_score_=None)
        if missing_only:
            records.update(t_=0, n_iter_=0)
        for name, value in records.items():
            if not missing_only or name not in self.__dict__:
                setattr(self, name, value)

    def _init_coef(self, fan_in, fan_out, dtype):
        if self.init != "glorot_uniform":
            return _options.initial_layer(
                self._random_state, self.init, fan_in, fan_out, self.init_std, dtype
            )
        # Glorot & Bengio's uniform initialisation, drawn exactly as scikit-learn draws it, so
        # that the same random_state gives the same initial weights in both libraries.
        factor = 6.0
        if self.activation == "logistic":
            factor = 2.0
        init_bound = np.sqrt(factor / (fan_in + fan_out))
        coef_init = self._random_state.uniform(-init_bound, init_bound, (fan_in, fan_out))
        intercept_init = self._random_state.uniform(-init_bound, init_bound, fan_out)
        return coef_init.astype(dtype, copy=False), intercept_init.astype(dtype, copy=False)

    def _fit(self, X, y, sample_weight=None, incremental=False):
        hidden_layer_sizes = self.hidden_layer_sizes
        if not hasattr(hidden_layer_sizes, "__iter__"):
            hidden_layer_sizes = [hidden_layer_sizes]
        hidden_layer_sizes = list(hidden_layer_sizes)
        if np.any(np.array(hidden_layer_sizes) <= 0):
            raise ValueError("hidden_layer_sizes must be > 0, got %s." % hidden_layer_sizes)
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        if _dask.is_collection(X) or _dask.is_collection(y) or _dask.is_collection(sample_weight):
            return self._fit_dask(X, y, sample_weight, incremental, first_pass,
                                  hidden_layer_sizes)

        # X's finiteness check may be left to the first epoch (see _check_finite_or_defer):
        # then, if X holds NaN or infinity, everything the call did is undone before X is
        # refused with scikit-learn's error, as if it had been checked first
        deferral = []
        before = dict(self.__dict__)
        snapshot = None
        try:
            X, y = self._validate_input(X, y, incremental, reset=first_pass, deferral=deferral)
            if deferral:
                snapshot = self._training_snapshot()
            return self._fit_validated(X, y, sample_weight, incremental, first_pass,
                                       hidden_layer_sizes, check_x=bool(deferral))
        except Exception as exc:
            if not deferral or (not isinstance(exc, _core.NonFiniteInputError)
                                and _core.all_finite(deferral[0])):
                raise
        self._restore_training_snapshot(before, snapshot)
        _check_finite_X(self, deferral[0])
        raise RuntimeError("fastmlp: the C core found NaN or infinity in X that "
                           "numpy's check does not see")

    def _check_finite_or_defer(self, X, y, incremental, reset, deferral):
        """_check_finite_X(X), or, when deferral (a list) is given and the first epoch's batches
        can check X's rows as they read them, X appended to deferral: a call that trains an
        existing model with a stochastic solver on a C-contiguous float ndarray X of the
        model's precision (trained on as it is), whose parameters and optimizer state (what
        undoing the call copies back) are smaller than X (what the separate check reads), and
        that says nothing before training (no progress bar, no verbose line, no warning about
        y's shape or the batch size, no validation_data to check) and has no early-stopping
        split (rows of X that training does not read)."""
        if deferral is not None and self._can_defer_finite_check(X, y, incremental, reset):
            deferral.append(X)
            return
        _check_finite_X(self, X)

    def _can_defer_finite_check(self, X, y, incremental, reset):
        if (reset or self.solver not in _STOCHASTIC_SOLVERS or self.early_stopping
                or self.verbose or self.validation_data is not None):
            return False
        if (type(X) is not np.ndarray or X.dtype not in (np.float32, np.float64)
                or not X.flags.c_contiguous or X.ndim != 2):
            return False
        if y.ndim == 2 and y.shape[1] == 1:
            return False
        n_samples = X.shape[0]
        if self.batch_size != "auto" and not 1 <= self.batch_size <= n_samples:
            return False
        model = self.__dict__.get("_model")
        if model is None:
            return False
        try:
            dtype = arrays_dtype(self.coefs_, self.intercepts_)
        except (AttributeError, TypeError, ValueError):
            return False
        if dtype != X.dtype:
            return False
        n_params = model.params.size
        if self.progress is not False and self.progress is not None and (
                self.progress != "auto"
                or n_samples * float(n_params) >= _options.ProgressBar.LONG_EPOCH_WORK):
            return False
        return (1 + _core.STATE_FACTOR) * n_params <= X.size

    def _training_snapshot(self):
        """What training changes in place: the parameters and the optimizer it continues."""
        params = self._model.params
        optimizer = self.__dict__.get("_optimizer")
        saved_optimizer = None
        if optimizer is not None:
            saved_optimizer = (dict(optimizer.__dict__), optimizer.state.copy(),
                               optimizer.step_count.copy())
        return params, params.copy(), optimizer, saved_optimizer

    def _restore_training_snapshot(self, attributes, snapshot):
        """The estimator as it was: its attributes (attributes: a copy of its __dict__) and
        the contents of the arrays training changes in place (snapshot, or None before any)."""
        self.__dict__.clear()
        self.__dict__.update(attributes)
        if snapshot is None:
            return
        params, saved_params, optimizer, saved_optimizer = snapshot
        params[...] = saved_params
        if optimizer is not None:
            fields, state, step_count = saved_optimizer
            optimizer.__dict__.clear()
            optimizer.__dict__.update(fields)
            optimizer.state[...] = state
            optimizer.step_count[...] = step_count

    def _fit_validated(self, X, y, sample_weight, incremental, first_pass, hidden_layer_sizes,
                       check_x):
        """fit / partial_fit on validated X, y (check_x: the first epoch checks X's rows)."""
        if sp.issparse(X):
            # stochastic solvers densify one block of rows at a time; lbfgs's full-batch
            # gradient needs all of X at once
            X = X.toarray() if self.solver == "lbfgs" else X.tocsr()
        n_samples, n_features = X.shape
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X)
        if getattr(self, "class_weight", None) is not None:
            sample_weight = _options.apply_class_weight(
                self.class_weight, self.classes_, self._label_binarizer.y_type_, y,
                sample_weight, incremental,
            )
        if y.ndim == 1:
            y = y.reshape((-1, 1))
        if is_classifier(self) and self.loss in _MARGIN_LOSSES:
            y = self._margin_targets(y)
        dtype = self._prepare_model(hidden_layer_sizes, n_features, y.shape[1], X.dtype,
                                    first_pass)

        X = X.astype(dtype, copy=False) if sp.issparse(X) else np.ascontiguousarray(X, dtype=dtype)
        Y = np.ascontiguousarray(y, dtype=dtype)
        if sample_weight is not None:
            sample_weight = np.ascontiguousarray(sample_weight, dtype=dtype)

        if self.solver in _STOCHASTIC_SOLVERS:
            self._fit_stochastic(X, Y, sample_weight, incremental, check_x)
        elif self.solver == "lbfgs":
            self._fit_lbfgs(X, Y, sample_weight)

        if not np.isfinite(self._params).all():
            raise ValueError(_training.NON_FINITE_WEIGHTS)
        return self

    def _prepare_model(self, hidden_layer_sizes, n_features, n_outputs, in_dtype, first_pass):
        """Checks the options against the data's widths, draws the initial weights on a first
        pass (else checks the existing ones fit), binds the model state and returns the
        precision training runs in."""
        self.n_outputs_ = n_outputs
        layer_units = [n_features] + [int(h) for h in hidden_layer_sizes] + [self.n_outputs_]
        dropout = any(self._dropout_rates(len(hidden_layer_sizes)))  # a clear error if bad
        if self.solver == "lbfgs" and (self.batch_norm or dropout):
            raise ValueError(
                "solver='lbfgs' minimizes a deterministic full-batch loss: it cannot be used "
                "with dropout or batch_norm=True; use a stochastic solver such as 'adam'."
            )
        if self.matmul_precision == "bfloat16":
            fit_dtype = in_dtype if first_pass else arrays_dtype(self.coefs_, self.intercepts_)
            if fit_dtype != np.float32:
                raise ValueError(
                    "matmul_precision='bfloat16' applies to float32 models; this one is %s (%s): "
                    "fit float32 data or use matmul_precision='float32'."
                    % (np.dtype(fit_dtype).name,
                       "from X" if first_pass else "its existing coefs_")
                )
        _check_model_size(self.hidden_layer_sizes, layer_units, np.dtype(in_dtype).itemsize,
                          self._maxout_pieces(), self.activation == "prelu", self.batch_norm)

        self._random_state = _seeded_random_state(self)
        if first_pass:
            self._initialize(n_outputs, layer_units, in_dtype)
            dtype = in_dtype
        else:
            units = self._layer_units_from_coefs()
            if units != layer_units:
                raise ValueError(
                    "The existing coefs_ have layer widths %s but hidden_layer_sizes and the "
                    "data need %s; fit with warm_start=False to start over." % (units, layer_units)
                )
            # continue in the model's own precision
            dtype = arrays_dtype(self.coefs_, self.intercepts_)
        self.n_layers_ = len(layer_units)
        self._model_state(dtype)
        return dtype

    def _minimize_lbfgs(self, loss_grad):
        """scipy's L-BFGS-B from the model's parameters on loss_grad(params as float64) ->
        (loss, gradient as float64); the result becomes the model's parameters."""
        params = self._params
        # L-BFGS-B's vector operations go through BLAS, whose threaded dot products would make
        # the result depend on the thread count: run them on one thread (they are cheap).
        with threadpool_limits(limits=1, user_api="blas"):
            opt_res = scipy.optimize.minimize(
                loss_grad,
                params.astype(np.float64),
                method="L-BFGS-B",
                jac=True,
                options={"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol},
            )
        self.n_iter_ = _lbfgs_iterations(opt_res, self.max_iter)
        self.loss_ = float(opt_res.fun)
        params[...] = opt_res.x

    def _fit_lbfgs(self, X, Y, sample_weight):
        params = self._params
        workspace = _core.Workspace(
            self._net, min(X.shape[0], _LBFGS_CHUNK_ROWS), params.dtype.itemsize
        )
        grad = np.empty_like(params)

        def loss_grad(packed):
            params[...] = packed
            loss = _core.loss_grad(workspace, params, X, Y, sample_weight, grad)
            return loss, grad.astype(np.float64)

        self._minimize_lbfgs(loss_grad)

    def _new_optimizer(self, n_params, dtype):
        return Optimizer(
            self.solver, n_params, dtype, learning_rate_init=self.learning_rate_init,
            lr_schedule=self.learning_rate, momentum=self.momentum,
            nesterov=self.nesterovs_momentum, power_t=self.power_t, beta_1=self.beta_1,
            beta_2=self.beta_2, epsilon=self.epsilon, weight_decay=self.weight_decay,
            rho=self.rho, max_iter=self.max_iter, lr_step_size=self.lr_step_size,
            lr_gamma=self.lr_gamma, lr_min=self.lr_min, warmup_epochs=self.warmup_epochs,
        )

    def _used_optimizer(self, name):
        """The stochastic optimizer of the last fit or partial_fit (AttributeError, so that
        hasattr is False, when there is none: not fitted, or fitted with 'lbfgs')."""
        optimizer = self.__dict__.get("_optimizer")
        if optimizer is None:
            raise AttributeError(
                "%r has no attribute %r: it is set by fit or partial_fit with a stochastic "
                "solver" % (type(self).__name__, name)
            )
        return optimizer

    @property
    def learning_rate_init_(self):
        """The initial learning rate the stochastic solver of the last fit or partial_fit used:
        ``learning_rate_init`` with 'auto' resolved for its solver."""
        return self._used_optimizer("learning_rate_init_").learning_rate_init

    @property
    def lr_gamma_(self):
        """The decay factor the schedule of the last fit or partial_fit used: ``lr_gamma``
        with 'auto' resolved for its schedule."""
        return self._used_optimizer("lr_gamma_").lr_gamma

    def _stochastic_optimizer(self, incremental):
        """The optimizer a stochastic fit continues (partial_fit with the same solver and
        parameters) or a new one; starts the learning curves of a model fitted by 'lbfgs'
        that continues stochastically."""
        if "loss_curve_" not in self.__dict__:  # fitted by 'lbfgs', continued stochastically
            self._start_stochastic_records()
        else:
            self._start_stochastic_records(missing_only=True)
        params = self._model.params
        optimizer = self.__dict__.get("_optimizer")
        if (
            not incremental
            or optimizer is None
            or optimizer.solver != self.solver
            or not optimizer.matches(params.size, params.dtype)
        ):
            optimizer = self._optimizer = self._new_optimizer(params.size, params.dtype)
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        return optimizer

    def _batch_size_for(self, n_samples):
        """The batch size for n_samples training rows ('auto': min(200, n_samples))."""
        if self.batch_size == "auto":
            return min(200, n_samples)
        if self.batch_size > n_samples:
            warnings.warn(
                "Got `batch_size` less than 1 or larger than "
                "sample size. It is going to be clipped"
            )
        return int(min(max(self.batch_size, 1), n_samples))

    def _shuffle_seed(self, model):
        """The key of shuffles and dropout masks: one draw per fit; each epoch's permutation and
        masks are keyed by the number of samples seen before it (t_), so they never depend on
        threads or earlier epochs."""
        dropout = any(self._dropout_rates(len(model.network.units) - 2))
        if self.shuffle or dropout:
            return int(self._random_state.randint(0, 2**62, dtype=np.int64))
        return 0

    def _given_validation(self, model, batch_size):
        """The Validation of the validation_data parameter, or None without it."""
        if self.validation_data is None:
            return None
        targets = {}
        if is_classifier(self):
            targets = dict(y_type=self._label_binarizer.y_type_,
                           encode_targets=self._encode_validation_targets)
        X_val, Y_val, y_val, sample_weight_val = _options.check_validation_data(
            self, self.validation_data, model.params.dtype, **targets
        )
        return self._validation(model, X_val, None, Y_val, y_val, sample_weight_val, batch_size)

    def _validation(self, model, X_val, val_rows, Y_val, y_val, sample_weight_val, batch_size):
        return _training.Validation(
            X_val, val_rows, Y_val, y_val, sample_weight_val,
            outputs=lambda X, rows: _predict.outputs_for_rows(model, X, rows),
            score=lambda output, y, sw: self._score_predictions(self._predictions(output), y, sw),
            loss=lambda X, rows, Y, sw: self._validation_loss(model, X, rows, Y, sw, batch_size),
        )

    def _keep_best_params(self):
        """Early stopping's best parameters start as the current ones when none fit them."""
        params = self._model.params
        best = self.__dict__.get("_best_params")
        if best is None or best.shape != params.shape or best.dtype != params.dtype:
            self._best_params = params.copy()

    def _fit_stochastic(self, X, Y, sample_weight, incremental, check_x=False):
        model = self._model
        params = model.params
        optimizer = self._stochastic_optimizer(incremental)
        early_stopping = self.early_stopping
        # Training and validation rows are index arrays into X: X itself is never copied.
        train_rows = val_rows = None
        Y_train, sample_weight_train = Y, sample_weight
        split = None
        if self.validation_data is None and early_stopping:
            should_stratify = is_classifier(self) and self.n_outputs_ == 1
            stratify = Y.astype(bool) if should_stratify else None
            # the split scikit-learn makes of (X, Y, sample_weight), made of row numbers
            train_rows, val_rows = train_test_split(
                np.arange(X.shape[0]),
                random_state=self._random_state,
                test_size=self.validation_fraction,
                stratify=stratify,
            )
            if val_rows.shape[0] < 2:
                raise ValueError(
                    "The validation set is too small. Increase 'validation_fraction' "
                    "or the size of your dataset."
                )
            Y_train, Y_val = Y[train_rows], np.ascontiguousarray(Y[val_rows])
            sample_weight_val = None
            if sample_weight is not None:
                sample_weight_train = sample_weight[train_rows]
                sample_weight_val = sample_weight[val_rows]
            split = (X, Y_val, self._decode_targets(Y_val), sample_weight_val)
        if early_stopping:
            self._keep_best_params()

        n_samples = X.shape[0] if train_rows is None else train_rows.shape[0]
        batch_size = self._batch_size_for(n_samples)
        seed = self._shuffle_seed(model)
        workspace = _core.Workspace(model.network, batch_size, params.dtype.itemsize)
        runner = _training.EpochRunner(
            optimizer, workspace, params, X, Y, sample_weight, train_rows, batch_size, seed,
            self.shuffle, self._progress_bar(n_samples), check_x=check_x,
        )
        if split is not None:
            X_val, Y_val, y_val, sample_weight_val = split
            validation = self._validation(model, X_val, val_rows, Y_val, y_val,
                                          sample_weight_val, batch_size)
        else:
            validation = self._given_validation(model, batch_size)
        self._run_stochastic(optimizer, runner, validation, n_samples, incremental,
                             Y=Y_train, sample_weight=sample_weight_train)

    def _progress_bar(self, n_samples):
        return _options.ProgressBar(self.progress, n_samples, self._model.network.n_params,
                                    self.verbose, epoch_number=lambda: self.n_iter_ + 1)

    def _run_stochastic(self, optimizer, runner, validation, n_samples, incremental, Y=None,
                        sample_weight=None, weight_sum=None, sst=None):
        """The epoch loop of a stochastic fit over runner's epochs; the record becomes the fitted
        attributes. Y and sample_weight (the training rows'), or weight_sum and sst (their
        weight and total sum of squares), give the training score's denominators."""
        params = self._model.params
        record = _training.Record(
            n_iter=0, t=self.t_, loss=self.__dict__.get("loss_"), loss_curve=self.loss_curve_,
            best_loss=self.best_loss_, validation_scores=self.validation_scores_,
            best_validation_score=self.best_validation_score_,
            no_improvement_count=self._no_improvement_count, history=self.__dict__.get("history_"),
            best_params=self.__dict__.get("_best_params"),
        )
        monitor = _training.Monitor(
            record, params, Y, sample_weight, is_classifier(self), validation,
            self.early_stopping, self.restore_best_weights, incremental, self.tol,
            weight_sum=weight_sum, sst=sst,
        )
        self.history_ = record.history

        def on_epoch(record):
            self._publish(record)
            if not self.callbacks:
                return False
            return _training.run_callbacks(self.callbacks, self, record)

        def divergence_message(epoch):
            return (
                "The training loss became non-finite (NaN or infinity) at epoch %d; training "
                "stopped before the diverging update. Scale the input data (e.g. with "
                "StandardScaler), or lower learning_rate_init=%r." % (epoch, optimizer.learning_rate_init)
            )

        try:
            restore = _training.run_epochs(
                runner, optimizer, monitor, n_samples=n_samples, max_iter=self.max_iter,
                n_iter_no_change=self.n_iter_no_change, tol=self.tol, incremental=incremental,
                verbose=self.verbose, on_epoch=on_epoch, divergence_message=divergence_message,
            )
        finally:
            self._publish(record)
        if restore is not None:
            params[...] = restore

    # ------------------------------------------------------------------ dask input

    def _fit_dask(self, X, y, sample_weight, incremental, first_pass, hidden_layer_sizes):
        """fit / partial_fit on dask arrays or DataFrames (see ``_dask``): the data stays on the
        workers; lbfgs sums per-chunk losses and gradients there, the stochastic solvers stream
        the chunks through the driver one at a time."""
        if y is None:
            raise ValueError("fit needs targets y; got None.")
        names = _dask.feature_names(X)
        data = _dask.ChunkedData(X, y, sample_weight)
        if first_pass:
            self.n_features_in_ = data.n_features
            if names is not None:
                self.feature_names_in_ = names
            else:
                self.__dict__.pop("feature_names_in_", None)
        else:
            if data.n_features != self.n_features_in_:
                raise ValueError(
                    "X has %d features, but %s is expecting %d features as input."
                    % (data.n_features, type(self).__name__, self.n_features_in_)
                )
            fitted = getattr(self, "feature_names_in_", None)
            if fitted is not None and (names is None or list(names) != list(fitted)):
                raise ValueError(
                    "The feature names should match those that were passed during fit: %s; X "
                    "has %s." % (list(fitted), None if names is None else list(names))
                )
        summary = data.target_summary(is_classifier(self))
        n_outputs = self._dask_targets(data, summary, incremental, first_pass)
        dtype = self._prepare_model(hidden_layer_sizes, data.n_features, n_outputs, data.dtype,
                                    first_pass)
        model = self._model
        encoder = self._dask_target_encoder(dtype, summary, incremental)
        chunks = _dask.Chunks(data, _dask.ChunkModel(model.network, dtype, encoder))
        n_weights = sum(w.size for w in model.arrays["coefs_"])
        if self.solver == "lbfgs":
            network = model.network
            objective = _dask.FullBatchObjective(chunks, n_weights, network.alpha,
                                                 network.alpha_l1)

            def loss_grad(packed):
                loss, grad = objective(packed)
                model.params[...] = packed
                return loss, grad

            self._minimize_lbfgs(loss_grad)
        else:
            self._fit_dask_stochastic(chunks, n_weights, incremental)
        if not np.isfinite(self._params).all():
            raise ValueError(_training.NON_FINITE_WEIGHTS)
        return self

    def _fit_dask_stochastic(self, chunks, n_weights, incremental):
        model = self._model
        params = model.params
        optimizer = self._stochastic_optimizer(incremental)
        split = None
        if self.validation_data is None and self.early_stopping:
            split = _dask.Split(self._random_state.randint(0, 2**62, dtype=np.int64),
                                self.validation_fraction)
            if sum(split.n_validation(n) for n in chunks.rows) < 2:
                raise ValueError(
                    "The validation set is too small. Increase 'validation_fraction' "
                    "or the size of your dataset."
                )
        if self.early_stopping:
            self._keep_best_params()
        rows = chunks.rows
        n_samples = sum(rows) if split is None else sum(
            n - split.n_validation(n) for n in rows)
        batch_size = self._batch_size_for(n_samples)
        seed = self._shuffle_seed(model)
        weight_sum, sst = _dask.training_figures(chunks, split)
        workspace = _core.Workspace(model.network, batch_size, params.dtype.itemsize)
        runner = _dask.ChunkRunner(
            optimizer, workspace, params, _dask.ChunkStream(chunks), split, rows,
            batch_size, seed, self.shuffle, self._progress_bar(n_samples),
        )
        if split is not None:
            validation = _dask.ChunkValidation(chunks, params, split, is_classifier(self),
                                               n_weights, batch_size)
        else:
            validation = self._given_validation(model, batch_size)
        self._run_stochastic(optimizer, runner, validation, n_samples, incremental,
                             weight_sum=weight_sum, sst=None if is_classifier(self) else sst)

    def _prediction_copy(self, X):
        """A copy of the fitted model to send to the workers with dask input X: without the
        training-time parameters that may be large or not picklable (validation_data,
        callbacks), and without feature_names_in_ once X's column names are checked here (the
        workers see blocks of numbers)."""
        self._check_is_fitted()
        names = _dask.feature_names(X)
        fitted = getattr(self, "feature_names_in_", None)
        if fitted is not None and names is not None and list(names) != list(fitted):
            raise ValueError(
                "The feature names should match those that were passed during fit: %s; X has "
                "%s." % (list(fitted), list(names))
            )
        clone = copy.copy(self)
        clone.validation_data = None
        clone.callbacks = None
        clone.__dict__.pop("feature_names_in_", None)
        return clone

    def _dask_predict(self, method, X):
        """method ('predict', 'predict_proba', ...) on the dask array or DataFrame X, block by
        block on the workers: a dask array with X's row chunks."""
        return _dask.predict_blocks(self._prediction_copy(X), method, X)

    def _publish(self, record):
        """The record of the epochs as fitted attributes."""
        self.n_iter_ = record.n_iter
        self.t_ = record.t
        if record.loss is not None:
            self.loss_ = record.loss
        self.loss_curve_ = record.loss_curve
        self.best_loss_ = record.best_loss
        self.validation_scores_ = record.validation_scores
        self.best_validation_score_ = record.best_validation_score
        self._no_improvement_count = record.no_improvement_count
        self.history_ = record.history
        if record.best_params is not None:
            self._best_params = record.best_params

    def _validation_loss(self, model, X, rows, Y, sample_weight, batch_size):
        """The loss on held-out rows (X[rows], encoded targets Y), comparable with the training
        loss: the C core's data term on the network as predict runs it, plus the penalty terms
        of one full training mini-batch, (0.5 * alpha * sum(W ** 2) + alpha_l1 * sum(|W|)) /
        batch_size."""
        X = _training.dense_rows(X, rows) if rows is not None else X
        X = np.ascontiguousarray(X, dtype=model.dtype)
        Y = np.ascontiguousarray(Y, dtype=model.dtype)
        if sample_weight is not None:
            sample_weight = np.ascontiguousarray(sample_weight, dtype=model.dtype)
        weight = X.shape[0] if sample_weight is None else float(np.sum(sample_weight))
        return model.evaluation_loss(X, Y, sample_weight, penalty_rows=batch_size, weight=weight)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : ndarray, sparse matrix, dask array or dask DataFrame of shape (n_samples, n_features)
            The input data. float32 data is trained in float32 (no copy when it is already
            C-contiguous); anything else in float64. Dask input stays on the workers: 'lbfgs'
            computes each chunk's loss and gradient where it lives, the stochastic solvers
            stream the chunks through the driver one at a time (README, "Scale out on Dask").
        y : ndarray or dask array of shape (n_samples,) or (n_samples, n_outputs)
            The target values (class labels in classification, real numbers in regression).
        sample_weight : array-like or dask array of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        self : object
            Returns a trained MLP model.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    def _check_solver(self):
        if self.solver not in _STOCHASTIC_SOLVERS:
            raise AttributeError(
                "partial_fit is only available for stochastic"
                " optimizers. %s is not stochastic." % self.solver
            )
        return True

    def _score_with_function(self, X, y, sample_weight, score_function):
        """Private score method without input validation."""
        y_pred = self._predict(X, check_input=False)
        return self._score_predictions(y_pred, y, sample_weight, score_function)

    def _score_predictions(self, y_pred, y, sample_weight=None, score_function=None):
        """score() of predictions y_pred against y (NaN for non-finite predictions)."""
        if np.issubdtype(y_pred.dtype, np.floating) and not np.isfinite(y_pred).all():
            return np.nan
        if score_function is None:
            score_function = accuracy_score if is_classifier(self) else r2_score
        return score_function(y, y_pred, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


_PARAMETERS_DOC = """
    Parameters
    ----------
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        The ith element represents the number of neurons in the ith hidden layer.

    activation : {'identity', 'logistic', 'tanh', 'relu', 'leaky_relu', 'prelu', 'elu', \
'maxout', 'softplus', 'gelu'}, default='relu'
        Activation function for the hidden layers: f(x) = x, 1 / (1 + exp(-x)), tanh(x),
        max(0, x); 'leaky_relu' max(x, 0.01 x); 'prelu' x for x > 0 else a x, with one slope a
        per unit learned with the weights (starting at 0.25, as PyTorch's PReLU; fitted
        attribute ``prelu_slopes_``); 'elu' x for x > 0 else exp(x) - 1; 'softplus'
        log(1 + exp(x)) (x itself past 20, as PyTorch); 'gelu' x Phi(x), the exact form with
        the Gaussian CDF (erf), PyTorch's default; 'maxout' the largest of ``maxout_pieces``
        linear pieces: each of a hidden layer's ``hidden_layer_sizes[i]`` units has its own
        pieces, so that layer's ``coefs_`` have ``hidden_layer_sizes[i] * maxout_pieces``
        columns and the next layer sees ``hidden_layer_sizes[i]`` inputs.

    solver : {'lbfgs', 'sgd', 'adam', 'adamw', 'adagrad', 'rmsprop', 'adadelta'}, \
default='adam'
        The solver for weight optimization: 'lbfgs' (scipy's L-BFGS-B on the full-batch loss
        and gradient computed by the C core; not with dropout or batch_norm; its own vector
        algebra runs on OpenBLAS's kernels for the CPU, so a float64 fit's last bits can
        differ between CPUs, never between thread counts), 'sgd'
        (mini-batch stochastic gradient descent with momentum), 'adam' (scikit-learn's Adam),
        and PyTorch's update rules for 'adamw' (decoupled ``weight_decay`` on the weights),
        'adagrad', 'rmsprop' (decay ``rho``, no momentum) and 'adadelta' (decay ``rho``).
        Every solver uses ``epsilon``, ``learning_rate_init`` (by default each solver's own,
        PyTorch's for the added ones) and the objective's gradient (data loss plus the
        ``alpha`` and ``alpha_l1`` terms).
        Full-batch gradient descent is ``solver='sgd', batch_size=n_samples`` (one update per
        epoch on the whole training set; add ``momentum=0`` for plain gradient descent);
        ``batch_size=1`` is per-sample SGD.

    alpha : float, default=0.0001
        Strength of the L2 regularization term, ``0.5 * alpha * sum(W ** 2) / batch_size``,
        on the weights only.

    alpha_l1 : float, default=0.0
        Strength of the L1 regularization term, ``alpha_l1 * sum(abs(W)) / batch_size``, on
        the weights only (its gradient uses sign(0) = 0).

    dropout : float or array-like of shape (n_layers - 2,), default=0.0
        Dropout rate of each hidden layer's output during training (one rate for all, or one
        per hidden layer), in [0, 1). Inverted dropout: kept values are scaled by
        1 / (1 - rate), so predict uses the network as it is. The masks come from the C core's
        counter-based generator keyed by ``random_state``, the epoch, the layer and the
        position, so training stays bitwise reproducible for any number of threads.

    batch_norm : bool, default=False
        Batch normalization between each hidden layer's dense part and its activation, as
        PyTorch's ``BatchNorm1d`` (eps 1e-5, momentum 0.1): training normalizes with the
        batch's mean and variance, then applies a learned scale and shift (fitted attributes
        ``batch_norm_scales_``, ``batch_norm_shifts_``); predict uses the running mean and
        (unbiased) variance updated by training (``batch_norm_means_``, ``batch_norm_vars_``).

    maxout_pieces : int, default=2
        Linear pieces per unit of the 'maxout' activation.

    weight_decay : float, default=0.01
        'adamw''s decoupled weight decay: each step multiplies the weights (not the biases) by
        ``1 - learning_rate * weight_decay``. Other solvers ignore it.

    rho : float or None, default=None
        Decay rate of 'rmsprop' (PyTorch's ``alpha``) and 'adadelta'; None means PyTorch's
        defaults, 0.99 and 0.9.

    batch_size : int, default='auto'
        Size of minibatches for stochastic optimizers; 'auto' is ``min(200, n_samples)``.

    learning_rate : {'constant', 'invscaling', 'adaptive', 'step', 'exponential', 'cosine'}, \
            default='constant'
        Learning rate schedule. scikit-learn's three apply to 'sgd' only ('adam' keeps
        ``learning_rate_init`` with them, as in scikit-learn):

        - 'constant': ``learning_rate_init``.
        - 'invscaling': after each epoch the rate becomes
          ``learning_rate_init / (t + 1) ** power_t``, t the number of training samples seen
          so far (``t_``, counted across partial_fit calls). Epoch k = 1, 2, ... of a fit on n
          samples thus uses ``learning_rate_init / ((k - 1) * n + 1) ** power_t``; with
          ``power_t=1`` this is the courses' schedule eta = c / k with k counted in samples
          seen (k = t + 1, c = ``learning_rate_init``), updated once per epoch, not per sample.
        - 'adaptive': divided by 5 each time the loss (or validation score) stops improving by
          ``tol`` for ``n_iter_no_change`` epochs.

        The epoch schedules apply to every stochastic solver ('sgd' and 'adam'; for 'adam'
        they set the base rate, before Adam's bias correction). Epoch e = 0, 1, ... uses

        - 'step': ``learning_rate_init * lr_gamma ** (e // lr_step_size)`` (PyTorch's StepLR);
        - 'exponential': ``learning_rate_init * lr_gamma ** e`` (ExponentialLR);
        - 'cosine': ``lr_min + (learning_rate_init - lr_min) * (1 + cos(pi * e / max_iter)) / 2``
          (CosineAnnealingLR with ``T_max=max_iter``, ``eta_min=lr_min``), and ``lr_min`` for
          e >= ``max_iter`` (reachable through partial_fit).

        e counts the epochs run with the current optimizer state: 0 at the first epoch of each
        fit (a warm-start fit included, as its optimizer state starts afresh); partial_fit
        continues the count of the fit or partial_fit calls before it. ``warmup_epochs``
        scales the first epochs of any schedule. The rate each epoch used is recorded in
        ``history_['learning_rate']``.

    learning_rate_init : float or 'auto', default='auto'
        The initial learning rate of every stochastic solver. 'auto' resolves per solver:
        0.001 for scikit-learn's 'sgd' and 'adam' (scikit-learn's default, so their
        defaults are its own), and torch.optim's defaults for the others: 0.001 for 'adamw',
        0.01 for 'adagrad' and 'rmsprop', 1.0 for 'adadelta'. A number is used as given by
        every solver. The value used is the fitted attribute ``learning_rate_init_``.

    power_t : float, default=0.5
        The exponent of the 'invscaling' schedule.

    max_iter : int, default=200
        Maximum number of epochs (stochastic solvers) or iterations ('lbfgs').

    shuffle : bool, default=True
        Whether to shuffle samples in each epoch. The permutation comes from the C core's
        counter-based generator keyed by ``random_state`` and the epoch, so training is
        bitwise reproducible for any number of threads.

    random_state : int, RandomState instance, default=None
        Determines the weight initialisation (drawn as scikit-learn draws it), the validation
        split of early stopping, and the shuffling key.

    tol : float, default=1e-4
        Tolerance for the optimization (see ``n_iter_no_change``).

    verbose : bool, default=False
        Whether to print the loss after each epoch.

    warm_start : bool, default=False
        Reuse the previous solution (including ``coefs_`` / ``intercepts_`` a user assigned)
        as initialization; the optimizer state starts afresh.

    momentum : float, default=0.9
        Momentum for 'sgd', in [0, 1].

    nesterovs_momentum : bool, default=True
        Whether to use Nesterov's momentum ('sgd' with momentum > 0).

    early_stopping : bool, default=False
        Stop when the score on a held-out ``validation_fraction`` of the training data stops
        improving by ``tol`` for ``n_iter_no_change`` epochs, and keep the best weights.

    validation_fraction : float, default=0.1
        Proportion of training data set aside for early stopping, in [0, 1).

    beta_1 : float, default=0.9
        Adam's decay rate of the first moment estimates, in [0, 1).

    beta_2 : float, default=0.999
        Adam's decay rate of the second moment estimates, in [0, 1).

    epsilon : float, default=1e-8
        Numerical stability constant of 'adam', 'adamw', 'adagrad', 'rmsprop', 'adadelta'.

    n_iter_no_change : int, default=10
        Epochs without ``tol`` improvement before stopping (stochastic solvers).

    max_fun : int, default=15000
        Maximum number of loss function calls ('lbfgs').

    init : {'glorot_uniform', 'glorot_normal', 'he_uniform', 'he_normal', 'normal'}, \
            default='glorot_uniform'
        Initial weights, drawn from ``random_state`` (fan_in, fan_out: the widths of the
        layer's input and output):

        - 'glorot_uniform': scikit-learn's draw, U(-b, b) with
          ``b = sqrt(6 / (fan_in + fan_out))`` (``sqrt(2 / ...)`` for logistic hidden units),
          biases from the same uniform: the same seed gives scikit-learn's initial weights.
        - 'glorot_normal': N(0, std) with ``std = sqrt(2 / (fan_in + fan_out))``.
        - 'he_uniform': U(-b, b) with ``b = sqrt(6 / fan_in)``.
        - 'he_normal': N(0, std) with ``std = sqrt(2 / fan_in)``.
        - 'normal': N(0, ``init_std``), the courses' small Gaussian.

        The 'he_*' draws are PyTorch's ``kaiming_*_(nonlinearity='relu', mode='fan_in')``.
        Every init but 'glorot_uniform' starts the biases at zero.

    init_std : float, default=0.01
        Standard deviation of ``init='normal'``.

    lr_step_size : int, default=10
        Epochs between two decays of ``learning_rate='step'``.

    lr_gamma : float or 'auto', default='auto'
        Decay factor of the 'step' and 'exponential' schedules. 'auto' resolves per schedule:
        0.1 for 'step' (every ``lr_step_size`` epochs, PyTorch StepLR's usual factor) and 0.95
        for 'exponential' (every epoch: the rate halves in about 14 epochs); the other
        schedules do not use it. The value used is the fitted attribute ``lr_gamma_``.

    lr_min : float, default=0.0
        Final rate of the 'cosine' schedule.

    warmup_epochs : int, default=0
        Linear warm-up, for every stochastic solver and schedule: epoch e < warmup_epochs uses
        the schedule's rate of epoch e times ``(e + 1) / warmup_epochs`` (the first epoch runs
        at ``1 / warmup_epochs`` of it, epoch ``warmup_epochs - 1`` at all of it); later epochs
        use the schedule unchanged. This is PyTorch's LinearLR with
        ``start_factor=1 / warmup_epochs, total_iters=warmup_epochs - 1`` multiplying the
        schedule; e counts as in ``learning_rate``.

CLASS_WEIGHT_DOC
    validation_data : tuple (X_val, y_val) or (X_val, y_val, sample_weight_val), default=None
        Held-out data, checked like X and y (same features, classes seen in y, non-negative
        targets for 'poisson'). The stochastic solvers compute the validation loss and score on
        it after every epoch (``history_``); with ``early_stopping=True`` it replaces the
        ``validation_fraction`` split (all of X then trains). 'lbfgs' does not use it.

    restore_best_weights : 'auto' or bool, default='auto'
        Which weights a stochastic ``fit`` ends with:

        - 'auto': scikit-learn's rule: with ``early_stopping=True`` the weights of the epoch
          with the best validation score, else the last epoch's.
        - True: the weights at the end of the best epoch, by validation score (the highest;
          the first such epoch on ties) when there is validation data (``validation_data`` or
          the early stopping split), else by training loss (the lowest ``loss_curve_`` value,
          i.e. the running loss over that epoch's batches; this covers the stop on a training
          loss plateau).
        - False: the last epoch's weights, even with early stopping.

        partial_fit never restores weights.

    callbacks : list of callables or None, default=None
        Called after each epoch of a stochastic solver, in order, as
        ``callback(estimator, figures)``, figures being a dict of the epoch's values:
        'epoch' (1-based, as ``n_iter_``), 'loss', 'score', 'time', 'learning_rate', and
        'val_loss', 'val_score' with validation data. A callback returning True stops training
        after this epoch (no ConvergenceWarning is raised for it).

    progress : 'auto' or bool, default='auto'
        A tqdm progress bar over each epoch's samples. 'auto' shows it only when tqdm is
        installed, stderr is a terminal and an epoch is long (samples x parameters >= 5e9);
        True always (tqdm required); False never.

    matmul_precision : {'float32', 'bfloat16'}, default='float32'
        The arithmetic of the dense layers' matrix products in a float32 model (the forward
        pass and both gradients of training, and prediction). 'bfloat16' rounds each operand
        to bfloat16 (round to nearest even) once, as the product packs it, and adds the
        products in float32: AMX tiles on CPUs with AMX-BF16, an exact emulation elsewhere,
        so the same data and random_state give the same bits on every CPU and for any number
        of threads. The weights, the optimizer state, the loss and the elementwise maths stay
        float32. float64 models (float64 X) accept 'float32' only. Prediction uses the
        precision the model was fitted with; ``set_params(matmul_precision=...)`` after
        fitting makes it predict with the other one.
"""

_CLASS_WEIGHT_SLOT = "CLASS_WEIGHT_DOC\n"

_CLASS_WEIGHT_DOC = """    class_weight : dict, 'balanced' or None, default=None
        Weights of the classes, multiplying ``sample_weight`` (the training rows', and the
        validation rows' for the early stopping split or ``validation_data``): a dict
        {label: weight} (labels absent from it weigh 1; a label that is not a class of y is a
        ValueError), or 'balanced': ``n_samples / (n_classes * np.bincount(y))``, as
        scikit-learn's ``compute_class_weight`` (not in partial_fit, where one batch's class
        frequencies are not the data's). Binary and multiclass targets only: multilabel
        targets raise a ValueError (weigh their rows with ``sample_weight``).

"""

_ATTRIBUTES_DOC = """
    Attributes
    ----------
    loss_ : float
        The current loss computed with the loss function.
    best_loss_ : float or None
        The minimum loss reached during fitting (None with early stopping).
    loss_curve_ : list of shape (`n_iter_`,)
        The loss at the end of each epoch (stochastic solvers).
    validation_scores_ : list of shape (`n_iter_`,) or None
        The validation score after each epoch when early stopping is on.
    history_ : dict of lists
        Per-epoch learning curves of the stochastic solvers, appended by every fit and
        partial_fit call and reset with ``loss_curve_`` by a fresh fit (not set by 'lbfgs'):

        - 'loss': the training loss, equal to ``loss_curve_``;
        - 'score': the training accuracy (classifiers; for multilabel targets a row counts
          when all its labels are right) or R^2 (regressors: ``1 - SSE / SST`` with the
          squared errors and the total sum of squares about each output's weighted mean
          pooled over outputs; R^2 itself for one output), weighted by ``sample_weight``.
          Like the loss, and like Keras's metrics, it is a running value over the epoch's
          mini-batches, each predicted with the weights before its own update;
        - 'val_loss', 'val_score' (present when there is validation data: the early stopping
          split or ``validation_data``): the loss and score (as ``validation_scores_``) on it
          after the epoch. The validation loss has the training loss's data term plus its
          L2 term for one full mini-batch, ``0.5 * alpha * sum(W ** 2) / batch_size``, so the
          two curves are comparable;
        - 'time': wall-clock seconds of the epoch (time.perf_counter), validation included;
        - 'learning_rate': the rate the epoch used (warm-up and schedule applied).

        ``fastmlp.plot_learning_curves`` draws them.
    best_validation_score_ : float or None
        The best validation score when early stopping is on.
    t_ : int
        The number of training samples seen by the solver.
    learning_rate_init_ : float
        The initial learning rate of the stochastic solver (``learning_rate_init`` with 'auto'
        resolved); absent after a fit with 'lbfgs'.
    lr_gamma_ : float
        The schedules' decay factor (``lr_gamma`` with 'auto' resolved); absent after a fit
        with 'lbfgs'.
    coefs_ : list of shape (n_layers - 1,)
        Weight matrices; coefs_[i] has shape (units of layer i, units of layer i + 1).
    intercepts_ : list of shape (n_layers - 1,)
        Bias vectors of layers 1 .. n_layers - 1.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string feature names.
    n_iter_ : int
        The number of iterations (epochs) the solver has run.
    n_layers_ : int
        Number of layers, input and output included.
    n_outputs_ : int
        Number of outputs.
    out_activation_ : str
        Name of the output activation function.
"""


class MLPClassifier(ClassifierMixin, BaseMultilayerPerceptron):
    __doc__ = (
        """Multi-layer perceptron classifier, a drop-in for scikit-learn's MLPClassifier.

    Optimizes the log loss (softmax cross-entropy for multiclass targets, binary cross-entropy
    with logistic outputs for binary and multilabel targets) by default. With the default
    options the maths is scikit-learn's: with the same ``random_state`` both start from the same
    weights, and with ``shuffle=False`` they follow the same training trajectory to rounding
    error.
    """
        + _PARAMETERS_DOC.replace(_CLASS_WEIGHT_SLOT, _CLASS_WEIGHT_DOC)
        + """
    loss : {'log_loss', 'hinge', 'perceptron'}, default='log_loss'
        The classification loss. 'log_loss' is scikit-learn's. 'hinge' is the multiclass hinge
        loss of Weston and Watkins as PyTorch's ``multi_margin_loss`` defines it (margin 1):
        for a sample of class y with scores s, ``sum over j != y of max(0, 1 - s_y + s_j)``
        divided by the number of classes. 'perceptron' is ``max_j s_j - s_y``: the score of the
        predicted class minus that of the right one, zero for samples classified right. Both
        margin losses use one linear output per class (two for binary targets), do not support
        multilabel targets, and give ``decision_function`` instead of ``predict_proba``.
"""
        + _ATTRIBUTES_DOC
        + """    classes_ : ndarray or list of ndarray of shape (n_classes,)
        Class labels for each output.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.model_selection import train_test_split
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from fastmlp import MLPClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    >>> model = make_pipeline(StandardScaler(), MLPClassifier(max_iter=300, random_state=0))
    >>> model.fit(X_train, y_train).score(X_test, y_test) > 0.95
    True
    """
    )

    _parameter_constraints: dict = {
        **BaseMultilayerPerceptron._parameter_constraints,
        "loss": [StrOptions({"log_loss", *_MARGIN_LOSSES})],
        "class_weight": [None, dict, StrOptions({"balanced"})],
    }

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init="auto",
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        alpha_l1=0.0,
        dropout=0.0,
        batch_norm=False,
        maxout_pieces=2,
        weight_decay=0.01,
        rho=None,
        loss="log_loss",
        init="glorot_uniform",
        init_std=0.01,
        lr_step_size=10,
        lr_gamma="auto",
        lr_min=0.0,
        warmup_epochs=0,
        class_weight=None,
        validation_data=None,
        restore_best_weights="auto",
        callbacks=None,
        progress="auto",
        matmul_precision="float32",
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            alpha_l1=alpha_l1,
            dropout=dropout,
            batch_norm=batch_norm,
            maxout_pieces=maxout_pieces,
            weight_decay=weight_decay,
            rho=rho,
            max_iter=max_iter,
            loss=loss,
            shuffle=shuffle,
            random_state=random_state,
            tol=tol,
            verbose=verbose,
            warm_start=warm_start,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            n_iter_no_change=n_iter_no_change,
            max_fun=max_fun,
            init=init,
            init_std=init_std,
            lr_step_size=lr_step_size,
            lr_gamma=lr_gamma,
            lr_min=lr_min,
            warmup_epochs=warmup_epochs,
            validation_data=validation_data,
            restore_best_weights=restore_best_weights,
            callbacks=callbacks,
            progress=progress,
            matmul_precision=matmul_precision,
        )
        self.class_weight = class_weight

    def _validate_input(self, X, y, incremental, reset, deferral=None):
        X, y = _validate_arrays(self, X, y, reset, y_kinds="iub")
        self._check_finite_or_defer(X, y, incremental, reset, deferral)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)

        # Matches scikit-learn: a new binarizer on a fresh fit; on warm start or partial_fit
        # the classes must stay those seen before.
        if (not hasattr(self, "classes_")) or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
            indices = self._class_indices(y)
        else:
            indices = None if self.warm_start else self._class_indices(y)
            if indices is None:
                self._check_seen_classes(unique_labels(y), same=self.warm_start)
        return X, self._encode_targets(y, indices)

    def _check_seen_classes(self, classes, same):
        """On warm start (same=True) the labels' classes must be those of classes_; on
        partial_fit they must be among them (scikit-learn's rules and messages)."""
        if same:
            if set(classes) != set(self.classes_):
                raise ValueError(
                    "warm_start can only be used where `y` has the same "
                    "classes as in the previous call to fit. Previously "
                    f"got {self.classes_}, `y` has {classes}"
                )
        elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
            raise ValueError(
                "`y` has classes not in `self.classes_`. "
                f"`self.classes_` has {self.classes_}. 'y' has {classes}."
            )

    def _class_indices(self, y):
        """Positions of 1-D class labels y in classes_, or None when y is not single-output
        labels that are all in classes_ (the general LabelBinarizer path then handles it)."""
        binarizer = self._label_binarizer
        if (
            binarizer.y_type_ not in ("binary", "multiclass")
            or y.ndim != 1
            or binarizer.sparse_output
            or binarizer.neg_label != 0
            or binarizer.pos_label != 1
        ):
            return None
        classes = binarizer.classes_
        if (
            classes.dtype.kind in "iu"
            and y.dtype.kind in "iu"
            and classes[0] == 0
            and classes[-1] == len(classes) - 1
        ):
            # labels 0 .. k - 1 (sorted and distinct, so classes_ is arange(k)): each label is
            # its own position; two reductions instead of a binary search per label
            known = y.size == 0 or (y.min() >= 0 and y.max() < len(classes))
            return y.astype(np.intp, copy=False) if known else None
        if (
            classes.dtype.kind in "iu"
            and y.dtype.kind in "iu"
            and y.size > 0
            and classes[0] >= 0
            and classes[-1] < 4 * len(classes) + 1024
        ):
            # small non-negative labels: a table from label to position, a few passes over y
            # (a binary search per label took 2% of a partial_fit epoch of 20,000 rows)
            if y.min() < 0 or y.max() > classes[-1]:
                return None
            table = np.full(int(classes[-1]) + 1, -1, dtype=np.intp)
            table[classes] = np.arange(len(classes))
            indices = table[y]
            return indices if indices.min() >= 0 else None
        try:
            indices = np.minimum(np.searchsorted(classes, y), len(classes) - 1)
            known = bool(np.all(classes[indices] == y))
        except (TypeError, ValueError):
            return None
        return indices if known else None

    def _encode_targets(self, y, indices):
        """The boolean target matrix LabelBinarizer.transform gives, built directly from class
        positions when they are known (one column for two classes, one-hot for more)."""
        binarizer = self._label_binarizer
        if indices is None:
            return binarizer.transform(y).astype(bool)
        n_classes = len(binarizer.classes_)
        if binarizer.y_type_ == "multiclass":
            Y = np.zeros((len(indices), n_classes), dtype=bool)
            Y[np.arange(len(indices)), indices] = True
            return Y
        if n_classes == 2:
            return (indices == 1).reshape(-1, 1)
        return np.zeros((len(indices), 1), dtype=bool)

    def _margin_targets(self, Y):
        """One column per class for the margin losses (binary targets come as one column)."""
        if self._label_binarizer.y_type_.startswith("multilabel"):
            raise ValueError(
                "loss=%r supports binary and multiclass targets, not multilabel ones; use "
                "loss='log_loss'." % self.loss
            )
        if len(self.classes_) < 2:
            raise ValueError(
                "loss=%r needs at least two classes to separate; got 1 class (%r). Use "
                "loss='log_loss', which predicts the single class, or add samples of other "
                "classes." % (self.loss, self.classes_[0])
            )
        if Y.shape[1] == 1:
            Y = np.hstack([~Y, Y]) if Y.dtype == bool else np.hstack([1 - Y, Y])
        return Y

    def _encode_validation_targets(self, y_val):
        """The checked labels of validation_data as the training targets are encoded (the
        C core's matrix: margin targets for the margin losses), and the class weight of each
        row (None without class_weight)."""
        Y = self._label_binarizer.transform(y_val)
        row_weights = None
        if self.class_weight is not None:
            row_weights = _options.class_weight_per_sample(
                self.class_weight, self.classes_, Y, self._label_binarizer.y_type_,
                incremental=False,
            )
        if self.loss in _MARGIN_LOSSES:
            Y = self._margin_targets(Y)
        return Y, row_weights

    def _dask_targets(self, data, summary, incremental, first_pass):
        """Fits the label encoding from the classes found on the cluster (or checks them
        against classes_ on warm start and partial_fit); returns the number of outputs."""
        classes, counts = summary
        classes = np.asarray(classes)
        if (not hasattr(self, "classes_")) or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(classes)
            self.classes_ = self._label_binarizer.classes_
        else:
            self._check_seen_classes(classes, same=self.warm_start and not incremental)
        y_type = self._label_binarizer.y_type_
        if y_type not in ("binary", "multiclass"):
            raise ValueError(
                "Classification targets from dask must be binary or multiclass labels; got a "
                "%s target." % y_type
            )
        counts_by_class = np.zeros(len(self.classes_))
        positions = np.searchsorted(self.classes_, classes)
        counts_by_class[positions] = np.asarray(counts, dtype=np.float64)
        self._dask_class_counts = counts_by_class
        n_classes = len(self.classes_)
        if self.loss in _MARGIN_LOSSES:
            self._margin_targets(np.zeros((0, 1 if n_classes == 2 else n_classes)))
            return n_classes
        return n_classes if y_type == "multiclass" else 1

    def _dask_target_encoder(self, dtype, summary, incremental):
        class_weights = None
        if self.class_weight is not None:
            class_weights = _options.class_weight_vector(
                self.class_weight, self.classes_, self.__dict__.pop("_dask_class_counts"),
                self._label_binarizer.y_type_, incremental,
            )
        return _dask.TargetEncoder(dtype, classes=self.classes_,
                                   y_type=self._label_binarizer.y_type_,
                                   margin=self.loss in _MARGIN_LOSSES,
                                   class_weights=class_weights)

    def _decode_targets(self, Y):
        """Labels from the encoded target matrix (the validation split of early stopping)."""
        if self.loss in _MARGIN_LOSSES:
            return self.classes_.take(np.asarray(Y).argmax(axis=1))
        return self._label_binarizer.inverse_transform(Y)

    def predict(self, X):
        """Predict using the multi-layer perceptron classifier.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray, shape (n_samples,) or (n_samples, n_classes)
            The predicted classes; for a dask array or DataFrame X, a dask array computed
            block by block on the workers.
        """
        if _dask.is_collection(X):
            return self._dask_predict("predict", X)
        self._check_is_fitted()
        return self._predict(X)

    def _predict(self, X, check_input=True):
        return self._predictions(self._forward_pass_fast(X, check_input=check_input))

    def _predictions(self, y_pred):
        """Class labels from output-layer values."""
        if self.loss in _MARGIN_LOSSES:
            return self.classes_.take(y_pred.argmax(axis=1))  # the highest score
        binarizer = self._label_binarizer
        # LabelBinarizer.inverse_transform's rules for its default labels (0/1, threshold 0.5),
        # without its overhead: argmax for multiclass, threshold for binary.
        if binarizer.neg_label == 0 and binarizer.pos_label == 1 and not binarizer.sparse_output:
            if binarizer.y_type_ == "multiclass":
                return binarizer.classes_.take(y_pred.argmax(axis=1))
            if binarizer.y_type_ == "binary" and len(binarizer.classes_) == 2:
                return binarizer.classes_[(y_pred.ravel() > 0.5).astype(int)]
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        return binarizer.inverse_transform(y_pred)

    def _score(self, X, y, sample_weight=None):
        return super()._score_with_function(
            X, y, sample_weight=sample_weight, score_function=accuracy_score
        )

    def score(self, X, y, sample_weight=None):
        """Return the mean accuracy on the given test data and labels.

        Parameters
        ----------
        X : array-like, dask array or dask DataFrame of shape (n_samples, n_features)
            Test samples. With dask input the predictions and the counts of right ones are
            computed block by block on the workers; only the counts travel.
        y : array-like or dask array of shape (n_samples,)
            True labels for X.
        sample_weight : array-like or dask array of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        score : float
            Accuracy of ``self.predict(X)`` with respect to y, weighted by sample_weight.
        """
        if _dask.is_collection(X) or _dask.is_collection(y):
            return _dask.score(self._prediction_copy(X), X, y, sample_weight, classifier=True)
        return super().score(X, y, sample_weight=sample_weight)

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Update the model with a single epoch over the given data.

        A dask array or DataFrame X (with y, and sample_weight if given, in memory or dask) is
        one pass over its chunks, streamed through the driver one chunk at a time.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : array-like of shape (n_samples,)
            The target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.
        classes : array of shape (n_classes,), default=None
            Classes across all calls to partial_fit; required on the first call.

        Returns
        -------
        self : object
            Trained MLP model.
        """
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if not _dask.is_collection(y) and type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    @_unless_margin_loss
    def predict_log_proba(self, X):
        """Return the log of probability estimates, ``log(predict_proba(X))``.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        log_y_prob : ndarray of shape (n_samples, n_classes)
            The predicted log-probability of each class, in the order of ``classes_``.
        """
        if _dask.is_collection(X):
            return self._dask_predict("predict_log_proba", X)
        y_prob = self.predict_proba(X)
        return np.log(y_prob, out=y_prob)

    @_unless_margin_loss
    def predict_proba(self, X):
        """Probability estimates.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y_prob : ndarray of shape (n_samples, n_classes)
            The predicted probability of each class, in the order of ``classes_``; for a dask
            array or DataFrame X, a dask array computed block by block on the workers.
        """
        if _dask.is_collection(X):
            return self._dask_predict("predict_proba", X)
        self._check_is_fitted()
        return self._forward_pass_fast(X, two_class=self.n_outputs_ == 1)

    @available_if(lambda est: est.loss in _MARGIN_LOSSES)
    def decision_function(self, X):
        """Class scores of the margin losses ('hinge', 'perceptron'): the output layer.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            One score per class, in the order of ``classes_``; for two classes, as scikit-learn's
            linear classifiers, the score of ``classes_[1]`` minus that of ``classes_[0]``.
        """
        if _dask.is_collection(X):
            return self._dask_predict("decision_function", X)
        self._check_is_fitted()
        scores = self._forward_pass_fast(X)
        if scores.shape[1] == 2:
            return scores[:, 1] - scores[:, 0]
        return scores

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, BaseMultilayerPerceptron):
    __doc__ = (
        """Multi-layer perceptron regressor, a drop-in for scikit-learn's MLPRegressor.

    Optimizes half the squared error (or half the Poisson deviance with an exponential output)
    with L-BFGS, SGD or Adam, with scikit-learn's maths: with the same ``random_state`` both
    start from the same weights, and with ``shuffle=False`` they follow the same trajectory.

    Parameters
    ----------
    loss : {'squared_error', 'poisson'}, default='squared_error'
        'squared_error' is half the mean squared error; 'poisson' is half the Poisson deviance
        with a log link (exponential output), for targets ``y >= 0``.

"""
        + _PARAMETERS_DOC.replace(_CLASS_WEIGHT_SLOT, "").split("----------\n", 1)[1]
        + _ATTRIBUTES_DOC
        + """
    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from sklearn.model_selection import train_test_split
    >>> from fastmlp import MLPRegressor
    >>> X, y = make_regression(n_samples=200, n_features=20, random_state=1)
    >>> X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=1)
    >>> regr = MLPRegressor(random_state=1, max_iter=2000, tol=0.1).fit(X_train, y_train)
    >>> regr.score(X_test, y_test) > 0.9
    True
    """
    )

    _parameter_constraints: dict = {
        **BaseMultilayerPerceptron._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson"})],
    }

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init="auto",
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        alpha_l1=0.0,
        dropout=0.0,
        batch_norm=False,
        maxout_pieces=2,
        weight_decay=0.01,
        rho=None,
        init="glorot_uniform",
        init_std=0.01,
        lr_step_size=10,
        lr_gamma="auto",
        lr_min=0.0,
        warmup_epochs=0,
        validation_data=None,
        restore_best_weights="auto",
        callbacks=None,
        progress="auto",
        matmul_precision="float32",
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            alpha_l1=alpha_l1,
            dropout=dropout,
            batch_norm=batch_norm,
            maxout_pieces=maxout_pieces,
            weight_decay=weight_decay,
            rho=rho,
            max_iter=max_iter,
            loss=loss,
            shuffle=shuffle,
            random_state=random_state,
            tol=tol,
            verbose=verbose,
            warm_start=warm_start,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            n_iter_no_change=n_iter_no_change,
            max_fun=max_fun,
            init=init,
            init_std=init_std,
            lr_step_size=lr_step_size,
            lr_gamma=lr_gamma,
            lr_min=lr_min,
            warmup_epochs=warmup_epochs,
            validation_data=validation_data,
            restore_best_weights=restore_best_weights,
            callbacks=callbacks,
            progress=progress,
            matmul_precision=matmul_precision,
        )

    def predict(self, X):
        """Predict using the multi-layer perceptron model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray of shape (n_samples, n_outputs)
            The predicted values; for a dask array or DataFrame X, a dask array computed block
            by block on the workers.
        """
        if _dask.is_collection(X):
            return self._dask_predict("predict", X)
        self._check_is_fitted()
        return self._predict(X)

    def _predict(self, X, check_input=True):
        return self._predictions(self._forward_pass_fast(X, check_input=check_input))

    def _predictions(self, y_pred):
        """Predicted targets from output-layer values."""
        if y_pred.shape[1] == 1:
            return y_pred.ravel()
        return y_pred

    def _score(self, X, y, sample_weight=None):
        return super()._score_with_function(
            X, y, sample_weight=sample_weight, score_function=r2_score
        )

    def score(self, X, y, sample_weight=None):
        """Return the coefficient of determination R^2 of the prediction.

        Parameters
        ----------
        X : array-like, dask array or dask DataFrame of shape (n_samples, n_features)
            Test samples. With dask input the predictions and the sums R^2 needs (weighted
            squared errors, sums of y and y ** 2 per output) are computed block by block on
            the workers; only the sums travel.
        y : array-like or dask array of shape (n_samples,) or (n_samples, n_outputs)
            True values for X.
        sample_weight : array-like or dask array of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        score : float
            R^2 of ``self.predict(X)`` with respect to y (averaged over outputs, as
            ``r2_score``'s 'uniform_average').
        """
        if _dask.is_collection(X) or _dask.is_collection(y):
            return _dask.score(self._prediction_copy(X), X, y, sample_weight, classifier=False)
        return super().score(X, y, sample_weight=sample_weight)

    def _dask_targets(self, data, summary, incremental, first_pass):
        """Checks the targets found on the cluster; returns the number of outputs."""
        if self.loss == "poisson" and float(summary[0]) < 0:
            raise ValueError("loss='poisson' requires non-negative targets y; got min(y) = %r."
                             % float(summary[0]))
        y = data.y
        return 1 if y.ndim == 1 or y.shape[1] == 1 else int(y.shape[1])

    def _dask_target_encoder(self, dtype, summary, incremental):
        return _dask.TargetEncoder(dtype, n_outputs=self.n_outputs_,
                                   poisson=self.loss == "poisson")

    def _decode_targets(self, Y):
        """Targets from the target matrix (the validation split of early stopping)."""
        return Y.ravel() if Y.shape[1] == 1 else Y

    def _validate_input(self, X, y, incremental, reset, deferral=None):
        X, y = _validate_arrays(self, X, y, reset, y_kinds="iubf")
        self._check_finite_or_defer(X, y, incremental, reset, deferral)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError("loss='poisson' requires non-negative targets y; got min(y) = %r."
                             % float(np.min(y)))
        return X, y

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Update the model with a single epoch over the given data.

        A dask array or DataFrame X (with y, and sample_weight if given, in memory or dask) is
        one pass over its chunks, streamed through the driver one chunk at a time.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : ndarray of shape (n_samples,)
            The target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        self : object
            Trained MLP model.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)


_persistence.register_estimator(MLPClassifier)
_persistence.register_estimator(MLPRegressor)


def check_gradients(estimator, X, y, sample_weight=None, per_array=False, random_state=0):
    """Compare the C core's backpropagation with float64 central differences of the loss.

    The objective is the one the estimator's solver minimizes on a batch made of all of X: the
    data loss plus the ``alpha`` (L2) and ``alpha_l1`` terms. With ``dropout``, every
    evaluation uses one fixed mask (drawn from ``random_state``); with ``batch_norm``, the
    statistics of the whole of X. Finite differences are five-point central differences with a
    step of ``h = 1e-4 * max(1, |w|)``. The relative error of an entry is
    ``|g_backprop - g_numeric| / max(|g_backprop|, |g_numeric|, 1e-5)``.

    For squared error with several outputs, scikit-learn's reported loss averages over the
    outputs but its gradient (which fastmlp follows) is that of their sum: the check
    differentiates the summed objective, the one training follows.

    The check is kink-aware. ReLU and its relatives, maxout and the margin losses make the
    loss piecewise smooth: where a step of ``2h`` moves a pre-activation across zero, maxout's
    arg max or a margin across its threshold, a finite difference is wrong although the
    gradient is right. So each parameter's difference is trusted only where the loss is smooth
    over the stencil, as two tests on loss values tell: the one-sided derivatives on either
    side of the parameter agree, and the difference at step h agrees with the one at ``h / 4``.
    Otherwise the step shrinks by 4, down to about ``4e-7 * max(1, |w|)``. A parameter still
    on a kink at the smallest step (the loss has no derivative there) is left out of the
    errors and named in a ``UserWarning``. The tests read only the C core's loss, never the
    gradient being checked, so a wrong gradient is reported wherever it is wrong. The
    estimator is not modified.

    Parameters
    ----------
    estimator : MLPClassifier or MLPRegressor
        A fitted estimator (``max_iter=1`` is enough to set up its parameters). Its current
        parameters are the point where the gradient is checked, in float64.
    X : array-like of shape (n_samples, n_features)
        Input data; keep it small (every parameter costs eight or more loss evaluations).
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
        or ``"batch_norm_scales_[0]"`` to the largest relative error in that array. Skipped
        parameters do not count (NaN for an array whose every parameter was skipped).

    Warns
    -----
    UserWarning
        When parameters were skipped because they lie on a kink; the message names them
        (for example ``intercepts_[0][2]``).

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
    if Y.ndim == 1:
        Y = Y.reshape(-1, 1)
    if is_classifier(model) and model.loss in _MARGIN_LOSSES:
        Y = model._margin_targets(Y)
    if sample_weight is not None:
        sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
    return compare_gradients(model._model_state(np.float64, bind=False), X, Y, sample_weight,
                             per_array=per_array, random_state=random_state)
