"""Multilayer perceptron estimators with scikit-learn's API and maths, trained by the C core.

The estimators keep scikit-learn's parameters, defaults, validation, fitted attributes and
stopping rules; one call into C (``fastmlp._core``) runs a whole epoch with the GIL released.
Parameters live in one flat array laid out as scikit-learn's ``_pack`` (every weight matrix, then
every bias vector); ``coefs_`` and ``intercepts_`` are views into it.
"""

import os
import warnings
from abc import ABC, abstractmethod
from numbers import Integral, Real

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
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import (
    _check_partial_fit_first_call,
    type_of_target,
    unique_labels,
)
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    column_or_1d,
    validate_data,
)
from threadpoolctl import threadpool_limits

from . import _core, _persistence

_STOCHASTIC_SOLVERS = ["sgd", "adam"]

# Rows per chunk of the full-batch (lbfgs) loss and gradient: bounds the workspace's memory.
_LBFGS_CHUNK_ROWS = 4096


class _Optimizer:
    """State of a stochastic optimizer between epochs (scikit-learn's SGDOptimizer/AdamOptimizer).

    The per-parameter state (SGD velocity, or Adam's m then v) is one flat array in the layout
    of the parameters; the C core updates it in place.
    """

    def __init__(self, estimator, n_params, dtype):
        self.solver = estimator.solver
        self.learning_rate_init = float(estimator.learning_rate_init)
        self.learning_rate = float(estimator.learning_rate_init)
        self.lr_schedule = estimator.learning_rate
        self.momentum = float(estimator.momentum)
        self.nesterov = bool(estimator.nesterovs_momentum)
        self.power_t = float(estimator.power_t)
        self.beta_1 = float(estimator.beta_1)
        self.beta_2 = float(estimator.beta_2)
        self.epsilon = float(estimator.epsilon)
        self.step = 0
        n_state = 2 * n_params if self.solver == "adam" else n_params
        self.state = np.zeros(n_state, dtype=dtype)

    def matches(self, n_params, dtype):
        """Whether this state fits a parameter array of n_params values of dtype."""
        n_state = 2 * n_params if self.solver == "adam" else n_params
        return self.state.shape == (n_state,) and self.state.dtype == dtype

    def iteration_ends(self, time_step):
        """Applies the SGD learning-rate schedule after an epoch."""
        if self.solver == "sgd" and self.lr_schedule == "invscaling":
            self.learning_rate = self.learning_rate_init / (time_step + 1) ** self.power_t

    def trigger_stopping(self, msg, verbose):
        """Decides whether training stops on a plateau (adaptive SGD divides the rate by 5)."""
        if self.solver != "sgd" or self.lr_schedule != "adaptive":
            if verbose:
                print(msg + " Stopping.")
            return True
        if self.learning_rate <= 1e-6:
            if verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self.learning_rate /= 5.0
        if verbose:
            print(msg + " Setting learning rate to %f" % self.learning_rate)
        return False


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


def _check_model_size(hidden_layer_sizes, layer_units, itemsize):
    """Refuses, before anything is allocated, a network whose parameters, gradient and two
    optimizer-state arrays (4 values per parameter) would not fit in physical memory."""
    n_params = sum(a * b + b for a, b in zip(layer_units[:-1], layer_units[1:]))
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


class BaseMultilayerPerceptron(BaseEstimator, ABC):
    """Base class for MLP classification and regression (use the derived classes)."""

    _parameter_constraints: dict = {
        "hidden_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
        ],
        "activation": [StrOptions({"identity", "logistic", "tanh", "relu"})],
        "solver": [StrOptions({"lbfgs", "sgd", "adam"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
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
    ):
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
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

    # ------------------------------------------------------------------ parameter storage

    def _core_loss(self):
        """The C core's loss for this model (binary log loss for logistic outputs)."""
        if self.loss == "log_loss" and self.out_activation_ == "logistic":
            return "binary_log_loss"
        return self.loss

    def _layer_units_from_coefs(self):
        """Layer widths read off coefs_ / intercepts_, checking that they chain up."""
        coefs, intercepts = self.coefs_, self.intercepts_
        if len(coefs) == 0 or len(coefs) != len(intercepts):
            raise ValueError(
                "coefs_ and intercepts_ must be lists of the same, non-zero length; got %d "
                "and %d arrays." % (len(coefs), len(intercepts))
            )
        units = [np.shape(coefs[0])[0]]
        for i, (coef, intercept) in enumerate(zip(coefs, intercepts)):
            if (
                np.ndim(coef) != 2
                or np.shape(coef)[0] != units[-1]
                or np.shape(intercept) != (np.shape(coef)[1],)
            ):
                raise ValueError(
                    "coefs_[%d] has shape %s and intercepts_[%d] has shape %s, which do not "
                    "continue layer widths %s." % (i, np.shape(coef), i, np.shape(intercept), units)
                )
            units.append(np.shape(coef)[1])
        return units

    def _params_are_views(self):
        """Whether coefs_ / intercepts_ are still the views into the flat parameter array."""
        params = self.__dict__.get("_params")
        if params is None:
            return False
        size = 0
        for arrays in (self.coefs_, self.intercepts_):
            for array in arrays:
                if getattr(array, "base", None) is not params:
                    return False
                size += array.size
        return size == params.size

    def _params_dtype(self):
        """float32 when every coefs_ / intercepts_ array is float32, else float64."""
        arrays = list(self.coefs_) + list(self.intercepts_)
        dtype = np.result_type(*[np.asarray(a).dtype for a in arrays])
        return np.dtype(np.float32) if dtype == np.float32 else np.dtype(np.float64)

    def _pack_params(self, dtype=None):
        """One flat array of coefs_ then intercepts_ (scikit-learn's _pack layout)."""
        arrays = list(self.coefs_) + list(self.intercepts_)
        if dtype is None:
            dtype = self._params_dtype()
        return np.concatenate([np.ravel(np.asarray(a, dtype=dtype)) for a in arrays])

    def _bind_params(self, params, units):
        """Makes params the model's storage and coefs_ / intercepts_ views into it."""
        n_params = sum(a * b + b for a, b in zip(units[:-1], units[1:]))
        if params.ndim != 1 or params.size != n_params:
            raise ValueError(
                "The flat parameter array has shape %s; layer widths %s need %d values."
                % (params.shape, list(units), n_params)
            )
        coefs, intercepts = [], []
        start = 0
        for fan_in, fan_out in zip(units[:-1], units[1:]):
            coefs.append(params[start : start + fan_in * fan_out].reshape(fan_in, fan_out))
            start += fan_in * fan_out
        for fan_out in units[1:]:
            intercepts.append(params[start : start + fan_out])
            start += fan_out
        self._params = params
        self.coefs_ = coefs
        self.intercepts_ = intercepts

    def _adopt_params(self, dtype=None):
        """Ensures coefs_ / intercepts_ are views into one flat array (re-packing arrays a user
        assigned, or converting to dtype) and returns (layer units, flat parameters)."""
        units = self._layer_units_from_coefs()
        if self._params_are_views() and (dtype is None or self._params.dtype == dtype):
            return units, self._params
        self._bind_params(self._pack_params(dtype), units)
        return units, self._params

    def _network(self, units):
        """The C core's description of this architecture."""
        return _core.Network(
            units, self.activation, self.out_activation_, self._core_loss(), float(self.alpha)
        )

    def _rebind_views(self, units=None):
        """Makes coefs_ / intercepts_ views into the flat _params again, and rebuilds the C
        core's network description when it is missing.

        The one place that turns a stored flat parameter array back into a live model: used by
        __setstate__ (pickling copies views) and by fastmlp.load. units defaults to the layer
        widths read off coefs_.
        """
        if units is None:
            units = self._layer_units_from_coefs()
        params = self._params
        if params.base is not None or not params.flags.writeable or not params.flags.c_contiguous:
            # e.g. joblib's aligned reads or memory maps: the views must have _params itself
            # as their base, and training writes into it
            params = params.copy()
        self._bind_params(params, [int(u) for u in units])
        if self.__dict__.get("_net") is None:
            try:
                self._net = self._network(units)
            except (KeyError, TypeError, ValueError):
                # an invalid hyper-parameter set after fit: predict builds (and reports on) it
                self.__dict__.pop("_net", None)

    def __getstate__(self):
        # coefs_ / intercepts_ a user assigned are folded into _params first, which is what
        # __setstate__ restores from.
        if "_params" in self.__dict__ and "coefs_" in self.__dict__:
            if not self._params_are_views():
                self._adopt_params()
        return super().__getstate__()

    def __setstate__(self, state):
        super().__setstate__(state)
        # Pickling copies views: make coefs_ / intercepts_ views into _params again.
        if "_params" in self.__dict__ and "coefs_" in self.__dict__:
            self._rebind_views()

    def save(self, path):
        """Save the fitted model to a portable file that loads without pickle.

        The file is a NumPy ``.npz`` archive: the flat parameter array, every fitted array,
        and one JSON metadata entry (format version, fastmlp version, estimator class,
        ``get_params()`` and the fitted attributes). :func:`fastmlp.load` reads it back
        without executing any code from the file.

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
            without pickle (a callable, an arbitrary object, object-dtype class labels that
            are not strings, integers, floats or booleans).

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

    def _predict_plan(self):
        """(network, flat parameters) straight from fit, or None when coefs_ / intercepts_ were
        reassigned or the activation changed since (the general path then handles it)."""
        params = self.__dict__.get("_params")
        network = self.__dict__.get("_net")
        if params is None or network is None:
            return None
        n_layers = len(network.units) - 1
        if (
            len(self.coefs_) != n_layers
            or len(self.intercepts_) != n_layers
            or not self._params_are_views()
        ):
            return None
        if (
            network.hidden_activation != self.activation
            or network.output_activation != self.out_activation_
        ):
            return None
        return network, params

    def _forward_pass_fast(self, X, check_input=True, two_class=False):
        """Output-layer activations for X (n_samples x n_outputs), computed by the C core; with
        two_class (one logistic output), the probabilities of both classes (n_samples x 2)."""
        plan = self._predict_plan()
        # Fast path: a C-contiguous float array of the model's dtype and width, without feature
        # names to check, goes straight to the C core, which refuses NaN and infinity itself
        # (the full validation costs far more than a small forward pass).
        if (
            plan is not None
            and type(X) is np.ndarray
            and X.ndim == 2
            and X.dtype == plan[1].dtype
            and X.flags.c_contiguous
            and X.shape[0] > 0
            and X.shape[1] == self.n_features_in_
            and "feature_names_in_" not in self.__dict__
        ):
            network, params = plan
            out = np.empty((X.shape[0], 2 if two_class else network.units[-1]), dtype=X.dtype)
            forward = _core.predict_f32 if X.dtype.itemsize == 4 else _core.predict_f64
            try:
                forward(network, params, X, out, two_class)
                return out
            except _core.NonFiniteInputError:
                if not check_input:
                    raise
                # the full validation below raises scikit-learn's error for it

        if check_input:
            X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)
        if sp.issparse(X):
            X = X.toarray()
        units = self._layer_units_from_coefs()
        if plan is not None:
            network, params = plan
        else:
            network, params = self._network(units), self._pack_params()
        # Like numpy's X @ W: float32 only when both the data and the model are float32.
        dtype = np.float32 if (X.dtype == np.float32 and params.dtype == np.float32) else np.float64
        params = params.astype(dtype, copy=False)
        X = np.ascontiguousarray(X, dtype=dtype)
        out = np.empty((X.shape[0], 2 if two_class else units[-1]), dtype=dtype)
        _core.predict(network, params, X, out, two_class)
        return out

    # ------------------------------------------------------------------ fitting

    def _initialize(self, y, layer_units, dtype):
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = y.shape[1]
        self.n_layers_ = len(layer_units)
        if not is_classifier(self):
            self.out_activation_ = "exp" if self.loss == "poisson" else "identity"
        elif self._label_binarizer.y_type_ == "multiclass":
            self.out_activation_ = "softmax"
        else:
            self.out_activation_ = "logistic"

        coefs, intercepts = [], []
        for fan_in, fan_out in zip(layer_units[:-1], layer_units[1:]):
            coef, intercept = self._init_coef(fan_in, fan_out, dtype)
            coefs.append(coef)
            intercepts.append(intercept)
        self.coefs_, self.intercepts_ = coefs, intercepts
        self._bind_params(self._pack_params(dtype), layer_units)
        self.__dict__.pop("_optimizer", None)
        if self.early_stopping:
            self._best_params = self._params.copy()

        if self.solver in _STOCHASTIC_SOLVERS:
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None

    def _init_coef(self, fan_in, fan_out, dtype):
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

        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        if sp.issparse(X):
            X = X.toarray()
        n_samples, n_features = X.shape
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X)
        if y.ndim == 1:
            y = y.reshape((-1, 1))
        self.n_outputs_ = y.shape[1]
        layer_units = [n_features] + [int(h) for h in hidden_layer_sizes] + [self.n_outputs_]
        _check_model_size(self.hidden_layer_sizes, layer_units, X.dtype.itemsize)

        self._random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(y, layer_units, X.dtype)
            dtype = X.dtype
        else:
            units = self._layer_units_from_coefs()
            if units != layer_units:
                raise ValueError(
                    "The existing coefs_ have layer widths %s but hidden_layer_sizes and the "
                    "data need %s; fit with warm_start=False to start over." % (units, layer_units)
                )
            dtype = self._params_dtype()  # continue in the model's own precision
        self.n_layers_ = len(layer_units)
        units, params = self._adopt_params(dtype)
        self._net = self._network(units)

        X = np.ascontiguousarray(X, dtype=dtype)
        Y = np.ascontiguousarray(y, dtype=dtype)
        if sample_weight is not None:
            sample_weight = np.ascontiguousarray(sample_weight, dtype=dtype)

        if self.solver in _STOCHASTIC_SOLVERS:
            self._fit_stochastic(X, Y, sample_weight, incremental)
        elif self.solver == "lbfgs":
            self._fit_lbfgs(X, Y, sample_weight)

        if not np.isfinite(self._params).all():
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data may"
                " contain large values and need to be preprocessed."
            )
        return self

    def _fit_lbfgs(self, X, Y, sample_weight):
        params = self._params
        workspace = _core.Workspace(
            self._net, min(X.shape[0], _LBFGS_CHUNK_ROWS), 0, params.dtype.itemsize
        )
        grad = np.empty_like(params)

        def loss_grad(packed):
            params[...] = packed
            loss = _core.loss_grad(workspace, params, X, Y, sample_weight, grad)
            return loss, grad.astype(np.float64)

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

    def _fit_stochastic(self, X, Y, sample_weight, incremental):
        params = self._params
        optimizer = self.__dict__.get("_optimizer")
        if (
            not incremental
            or optimizer is None
            or optimizer.solver != self.solver
            or not optimizer.matches(params.size, params.dtype)
        ):
            optimizer = self._optimizer = _Optimizer(self, params.size, params.dtype)

        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        early_stopping = self.early_stopping
        if early_stopping:
            should_stratify = is_classifier(self) and self.n_outputs_ == 1
            stratify = Y.astype(bool) if should_stratify else None
            arrays = (X, Y) if sample_weight is None else (X, Y, sample_weight)
            split = train_test_split(
                *arrays,
                random_state=self._random_state,
                test_size=self.validation_fraction,
                stratify=stratify,
            )
            X_train, X_val, Y_train, Y_val = split[:4]
            sample_weight_train, sample_weight_val = split[4:] if sample_weight is not None else (
                None,
                None,
            )
            if X_val.shape[0] < 2:
                raise ValueError(
                    "The validation set is too small. Increase 'validation_fraction' "
                    "or the size of your dataset."
                )
            X_train, Y_train = np.ascontiguousarray(X_train), np.ascontiguousarray(Y_train)
            if sample_weight_train is not None:
                sample_weight_train = np.ascontiguousarray(sample_weight_train)
            y_val = self._decode_targets(Y_val)
            best = self.__dict__.get("_best_params")
            if best is None or best.shape != params.shape or best.dtype != params.dtype:
                self._best_params = params.copy()
        else:
            X_train, Y_train, sample_weight_train = X, Y, sample_weight
            X_val = y_val = sample_weight_val = None

        n_samples = X_train.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn(
                    "Got `batch_size` less than 1 or larger than "
                    "sample size. It is going to be clipped"
                )
            batch_size = int(np.clip(self.batch_size, 1, n_samples))

        # The shuffle's key: one draw per fit; each epoch's permutation is keyed by the number
        # of samples seen before it (t_), so it never depends on threads or earlier epochs.
        seed = int(self._random_state.randint(0, 2**62, dtype=np.int64)) if self.shuffle else 0
        workspace = _core.Workspace(self._net, batch_size, n_samples, params.dtype.itemsize)
        try:
            self.n_iter_ = 0
            for _ in range(self.max_iter):
                try:
                    loss_sum, optimizer.step = _core.train_epoch(
                        workspace,
                        params,
                        optimizer.state,
                        X_train,
                        Y_train,
                        sample_weight_train,
                        batch_size,
                        self.shuffle,
                        seed,
                        self.t_,
                        self.solver,
                        optimizer.learning_rate,
                        optimizer.momentum,
                        optimizer.nesterov,
                        optimizer.beta_1,
                        optimizer.beta_2,
                        optimizer.epsilon,
                        optimizer.step,
                    )
                except _core.DivergenceError:
                    raise ValueError(
                        "The training loss became non-finite (NaN or infinity) at epoch %d; "
                        "training stopped before the diverging update. The input data may "
                        "contain large values and need to be preprocessed (e.g. with "
                        "StandardScaler), or learning_rate_init=%r is too large."
                        % (self.n_iter_ + 1, self.learning_rate_init)
                    ) from None
                self.n_iter_ += 1
                self.loss_ = loss_sum / n_samples
                self.t_ += n_samples
                self.loss_curve_.append(self.loss_)
                if self.verbose:
                    print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))

                self._update_no_improvement_count(
                    early_stopping, X_val, y_val, sample_weight_val
                )
                optimizer.iteration_ends(self.t_)

                if self._no_improvement_count > self.n_iter_no_change:
                    if early_stopping:
                        msg = (
                            "Validation score did not improve more than "
                            "tol=%f for %d consecutive epochs."
                            % (self.tol, self.n_iter_no_change)
                        )
                    else:
                        msg = (
                            "Training loss did not improve more than tol=%f"
                            " for %d consecutive epochs." % (self.tol, self.n_iter_no_change)
                        )
                    if optimizer.trigger_stopping(msg, self.verbose):
                        break
                    self._no_improvement_count = 0

                if incremental:
                    break

                if self.n_iter_ == self.max_iter:
                    warnings.warn(
                        "Stochastic Optimizer: Maximum iterations (%d) "
                        "reached and the optimization hasn't converged yet." % self.max_iter,
                        ConvergenceWarning,
                    )
        except KeyboardInterrupt:
            # Between epochs the parameters are always a whole epoch's result.
            warnings.warn("Training interrupted by user.")

        if early_stopping:
            params[...] = self._best_params

    def _update_no_improvement_count(self, early_stopping, X_val, y_val, sample_weight_val):
        if early_stopping:
            score = self._score(X_val, y_val, sample_weight=sample_weight_val)
            self.validation_scores_.append(score)
            if self.verbose:
                print("Validation score: %f" % self.validation_scores_[-1])
            last_valid_score = self.validation_scores_[-1]
            if last_valid_score < (self.best_validation_score_ + self.tol):
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if last_valid_score > self.best_validation_score_:
                self.best_validation_score_ = last_valid_score
                self._best_params = self._params.copy()
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : ndarray or sparse matrix of shape (n_samples, n_features)
            The input data. float32 data is trained in float32 (no copy when it is already
            C-contiguous); anything else in float64.
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The target values (class labels in classification, real numbers in regression).
        sample_weight : array-like of shape (n_samples,), default=None
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
        if np.issubdtype(y_pred.dtype, np.floating) and not np.isfinite(y_pred).all():
            return np.nan
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

    activation : {'identity', 'logistic', 'tanh', 'relu'}, default='relu'
        Activation function for the hidden layers: f(x) = x, 1 / (1 + exp(-x)), tanh(x) or
        max(0, x).

    solver : {'lbfgs', 'sgd', 'adam'}, default='adam'
        The solver for weight optimization: 'lbfgs' (scipy's L-BFGS-B on the full-batch loss
        and gradient computed by the C core), 'sgd' (mini-batch stochastic gradient descent;
        ``batch_size=n_samples`` is full-batch gradient descent) or 'adam'.

    alpha : float, default=0.0001
        Strength of the L2 regularization term, ``0.5 * alpha * sum(W ** 2) / batch_size``,
        on the weights only.

    batch_size : int, default='auto'
        Size of minibatches for stochastic optimizers; 'auto' is ``min(200, n_samples)``.

    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Learning rate schedule for 'sgd': constant; ``learning_rate_init / (t + 1) ** power_t``
        after each epoch, t the samples seen; or divided by 5 each time the loss (or validation
        score) stops improving by ``tol`` for ``n_iter_no_change`` epochs.

    learning_rate_init : float, default=0.001
        The initial learning rate ('sgd' and 'adam').

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
        Adam's numerical stability constant.

    n_iter_no_change : int, default=10
        Epochs without ``tol`` improvement before stopping (stochastic solvers).

    max_fun : int, default=15000
        Maximum number of loss function calls ('lbfgs').
"""

_ATTRIBUTES_DOC = """
    Attributes
    ----------
    loss_ : float
        The current loss computed with the loss function.
    best_loss_ : float or None
        The minimum loss reached during fitting (None with early stopping).
    loss_curve_ : list of shape (n_iter_,)
        The loss at the end of each epoch (stochastic solvers).
    validation_scores_ : list of shape (n_iter_,) or None
        The validation score after each epoch when early stopping is on.
    best_validation_score_ : float or None
        The best validation score when early stopping is on.
    t_ : int
        The number of training samples seen by the solver.
    coefs_ : list of shape (n_layers - 1,)
        Weight matrices; coefs_[i] has shape (units of layer i, units of layer i + 1).
    intercepts_ : list of shape (n_layers - 1,)
        Bias vectors of layers 1 .. n_layers - 1.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
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
    with logistic outputs for binary and multilabel targets) with L-BFGS, SGD or Adam. The maths
    is scikit-learn's: with the same ``random_state`` both start from the same weights, and
    with ``shuffle=False`` they follow the same training trajectory to rounding error.
    """
        + _PARAMETERS_DOC
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

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
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
            max_iter=max_iter,
            loss="log_loss",
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
        )

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            dtype=(np.float64, np.float32),
            reset=reset,
        )
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
                classes = unique_labels(y)
                if self.warm_start:
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
        return X, self._encode_targets(y, indices)

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

    def _decode_targets(self, Y):
        """Labels from the encoded target matrix (the validation split of early stopping)."""
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
            The predicted classes.
        """
        self._check_is_fitted()
        return self._predict(X)

    def _predict(self, X, check_input=True):
        y_pred = self._forward_pass_fast(X, check_input=check_input)
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

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Update the model with a single epoch over the given data.

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
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

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
        y_prob = self.predict_proba(X)
        return np.log(y_prob, out=y_prob)

    def predict_proba(self, X):
        """Probability estimates.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y_prob : ndarray of shape (n_samples, n_classes)
            The predicted probability of each class, in the order of ``classes_``.
        """
        self._check_is_fitted()
        return self._forward_pass_fast(X, two_class=self.n_outputs_ == 1)

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
        + _PARAMETERS_DOC.split("----------\n", 1)[1]
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
        learning_rate_init=0.001,
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
            The predicted values.
        """
        self._check_is_fitted()
        return self._predict(X)

    def _predict(self, X, check_input=True):
        y_pred = self._forward_pass_fast(X, check_input=check_input)
        if y_pred.shape[1] == 1:
            return y_pred.ravel()
        return y_pred

    def _score(self, X, y, sample_weight=None):
        return super()._score_with_function(
            X, y, sample_weight=sample_weight, score_function=r2_score
        )

    def _decode_targets(self, Y):
        """Targets from the target matrix (the validation split of early stopping)."""
        return Y.ravel() if Y.shape[1] == 1 else Y

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            y_numeric=True,
            dtype=(np.float64, np.float32),
            reset=reset,
        )
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
_persistence.register_object_class(_Optimizer, "fastmlp._Optimizer")
_persistence.register_object_class(LabelBinarizer, "sklearn.preprocessing.LabelBinarizer")
