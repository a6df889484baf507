"""Rosenblatt's perceptron with scikit-learn's estimator API, one epoch per call into the C core.

Python validates the data, encodes the labels as +1/-1 per binary problem, runs the epochs and
decides when to stop; ``fastmlp._core.perceptron_epoch`` (csrc/perceptron.c), or
``perceptron_epoch_csr`` for sparse X, runs the per-sample loop of an epoch with the GIL released.
"""

import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from . import _core
from ._estimators import _seeded_random_state


class Perceptron(ClassifierMixin, BaseEstimator):
    """Rosenblatt's perceptron: a linear classifier trained by the perceptron rule.

    Binary problems use the textbook rule with labels mapped to -1 (``classes_[0]``) and +1
    (``classes_[1]``): for each sample, in order or shuffled, if ``y_i * (w . x_i + b) <= 0``
    then ``w += eta0 * y_i * x_i`` and ``b += eta0 * y_i``. Multiclass problems are one-vs-rest,
    as scikit-learn's ``Perceptron`` does: one binary perceptron per class (that class +1, the
    others -1), and ``predict`` picks the class with the largest score.

    Training of a binary problem stops at the first epoch without a mistake (then every training
    sample is classified correctly: on linearly separable data this always happens, after a
    finite number of updates), or, when ``tol`` is not None, when the mean perceptron loss
    ``max(0, -y_i * score_i)`` of an epoch has not improved by ``tol`` for
    ``n_iter_no_change`` epochs in a row (scikit-learn's rule). A ``ConvergenceWarning`` says
    when ``max_iter`` epochs end with neither.

    With ``shuffle=False`` the updates are scikit-learn's ``Perceptron(penalty=None,
    shuffle=False)`` operation for operation, so both give the same ``coef_`` and
    ``intercept_`` when they run the same epochs (for example on separable data, where neither
    changes anything after its first epoch without a mistake). The per-sample loop runs in C,
    in float64, on one thread; with the same ``random_state`` two fits are bitwise identical.

    Sparse X (any scipy sparse matrix or array; computed in compressed sparse rows) gives the
    bits of the same X dense. scikit-learn's ``Perceptron`` differs there: on sparse X it
    moves the intercept by a hundredth of each update.

    Parameters
    ----------
    eta0 : float, default=1.0
        Learning rate: the step of each update, > 0.

    max_iter : int, default=1000
        Maximum number of epochs (passes over the training data) of ``fit``.

    tol : float or None, default=None
        When not None, also stop a binary problem when its mean perceptron loss over an epoch
        exceeds the best so far minus ``tol`` for ``n_iter_no_change`` consecutive epochs
        (scikit-learn's rule; ``tol=1e-3`` is scikit-learn's default). None: stop only at an
        epoch without a mistake or at ``max_iter``. The default differs from scikit-learn's
        on purpose: the loss rule can stop on a plateau with mistakes left even on linearly
        separable data, where the perceptron rule is guaranteed to reach zero mistakes.

    n_iter_no_change : int, default=5
        Epochs without ``tol`` improvement before stopping (only when ``tol`` is not None).

    shuffle : bool, default=True
        Whether to visit the samples in a new random order at each epoch.

    random_state : int, RandomState instance or None, default=None
        Seeds the shuffling: the order of an epoch is a function of one draw from it per fit
        and of the number of samples seen before that epoch.

    fit_intercept : bool, default=True
        Whether to learn a bias ``b``; when False the decision boundary passes through 0.

    warm_start : bool, default=False
        Whether ``fit`` starts from the previous ``coef_`` and ``intercept_`` (the classes
        must then be the same) instead of zeros.

    verbose : int, default=0
        Whether to print the mistakes and mean loss after each epoch.

    Attributes
    ----------
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Weights: one row for a binary problem, one row per class otherwise.
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Biases.
    classes_ : ndarray of shape (n_classes,)
        The class labels.
    n_iter_ : int
        Epochs run by the last ``fit`` (the most of any binary problem) or 1 after
        ``partial_fit``.
    t_ : int
        Samples visited plus one, over all calls since the last ``fit``
        (``n_iter_ * n_samples + 1`` after ``fit``, as scikit-learn counts).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string feature names.

    See Also
    --------
    sklearn.linear_model.Perceptron : scikit-learn's perceptron (also L1/L2 penalties).
    MLPClassifier : a multilayer perceptron.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmlp import Perceptron
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    >>> y = np.array([0, 0, 0, 1])  # logical AND: linearly separable
    >>> clf = Perceptron(shuffle=False).fit(X, y)
    >>> clf.predict(X)
    array([0, 0, 0, 1])
    >>> clf.coef_, clf.intercept_
    (array([[3., 2.]]), array([-4.]))
    """

    _parameter_constraints: dict = {
        "eta0": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "fit_intercept": ["boolean"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
    }

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def __init__(
        self,
        *,
        eta0=1.0,
        max_iter=1000,
        tol=None,
        n_iter_no_change=5,
        shuffle=True,
        random_state=None,
        fit_intercept=True,
        warm_start=False,
        verbose=0,
    ):
        self.eta0 = eta0
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.shuffle = shuffle
        self.random_state = random_state
        self.fit_intercept = fit_intercept
        self.warm_start = warm_start
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the perceptron by epochs of the perceptron rule until no mistake is left.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data (computed in float64; sparse X in compressed sparse rows).
        y : array-like of shape (n_samples,)
            Class labels, at least two distinct ones.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; an update on sample i is scaled by its weight.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        X, y = validate_data(self, X, y, accept_sparse="csr", dtype=np.float64, order="C")
        check_classification_targets(y)
        classes = np.unique(y)
        if classes.shape[0] < 2:
            raise ValueError(
                "The number of classes has to be greater than one; got %d class "
                "(the perceptron needs samples of two classes at least)" % classes.shape[0]
            )
        if self.warm_start and hasattr(self, "coef_"):
            if not np.array_equal(classes, self.classes_):
                raise ValueError(
                    "warm_start=True needs the classes of the previous fit, "
                    f"{self.classes_}; y has {classes}."
                )
            if self.coef_.shape[1] != X.shape[1]:
                raise ValueError(
                    "warm_start=True needs the %d features of the previous fit; X has %d."
                    % (self.coef_.shape[1], X.shape[1])
                )
            coef = np.array(self.coef_, dtype=np.float64, order="C")
            intercept = np.array(self.intercept_, dtype=np.float64)
        else:
            n_problems = 1 if classes.shape[0] == 2 else classes.shape[0]
            coef = np.zeros((n_problems, X.shape[1]))
            intercept = np.zeros(n_problems)
        # an integer random_state re-seeds the generator of the call before: the same draws
        # as a new one, without building it (about 150 us, the time of a small fit)
        self._random_state = _seeded_random_state(self)
        self._run_epochs(X, y, sample_weight, classes, coef, intercept, self.max_iter, t0=1)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Run one epoch of the perceptron rule over X, y from the current weights.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data (computed in float64; sparse X in compressed sparse rows).
        y : array-like of shape (n_samples,)
            Class labels, all in ``classes`` (or ``classes_``).
        classes : array-like of shape (n_classes,), default=None
            Every class of all calls; required on the first call, optional later (it must
            then equal ``classes_``).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; an update on sample i is scaled by its weight.

        Returns
        -------
        self : object
            The updated estimator.
        """
        first_call = not hasattr(self, "coef_")
        X, y = validate_data(self, X, y, accept_sparse="csr", dtype=np.float64, order="C",
                             reset=first_call)
        check_classification_targets(y)
        if first_call:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            all_classes = unique_labels(classes)
            if all_classes.shape[0] < 2:
                raise ValueError(
                    "The number of classes has to be greater than one; got %d class in "
                    "`classes`." % all_classes.shape[0]
                )
            n_problems = 1 if all_classes.shape[0] == 2 else all_classes.shape[0]
            coef = np.zeros((n_problems, X.shape[1]))
            intercept = np.zeros(n_problems)
            self._random_state = _seeded_random_state(self)
            t0 = 1
        else:
            all_classes = self.classes_
            if classes is not None and not np.array_equal(unique_labels(classes), all_classes):
                raise ValueError(
                    "`classes=%r` is not the same as on last call to partial_fit, was: %r"
                    % (classes, all_classes)
                )
            coef = np.array(self.coef_, dtype=np.float64, order="C")
            intercept = np.array(self.intercept_, dtype=np.float64)
            if not hasattr(self, "_random_state"):
                self._random_state = check_random_state(self.random_state)
            t0 = self.t_
        unknown = np.setdiff1d(y, all_classes)
        if unknown.shape[0]:
            raise ValueError(
                f"`y` has classes not in `classes`: {unknown}; the classes are {all_classes}."
            )
        self._run_epochs(
            X, y, sample_weight, all_classes, coef, intercept, 1, t0, incremental=True
        )
        return self

    def _run_epochs(
        self, X, y, sample_weight, classes, coef, intercept, max_epochs, t0, incremental=False
    ):
        """Trains coef/intercept (new arrays, owned here) on labels y among classes (sorted)
        for up to max_epochs epochs, t0 - 1 samples having been seen before; then stores the
        fitted attributes. On an error they keep their previous values."""
        n_samples = X.shape[0]
        sw = None
        if sample_weight is not None:
            sw = _check_sample_weight(
                sample_weight, X, dtype=np.float64, ensure_non_negative=True
            )
            sw = np.ascontiguousarray(sw)
        indices = np.searchsorted(classes, y)
        if coef.shape[0] == 1:
            signs = [np.where(indices == 1, 1, -1).astype(np.int8)]
        else:
            signs = [np.where(indices == k, 1, -1).astype(np.int8) for k in range(coef.shape[0])]
        eta0 = float(self.eta0)
        if not np.isfinite(eta0):
            raise ValueError("eta0 must be a finite number > 0; got %r." % self.eta0)
        epoch = _epoch_function(X)
        # One draw per call: the order of an epoch is keyed by (seed, samples seen before it).
        seed = int(self._random_state.randint(0, 2**62, dtype=np.int64)) if self.shuffle else 0
        perm = np.empty(n_samples, dtype=np.int64) if self.shuffle else None
        tol = -np.inf if self.tol is None else float(self.tol)
        active = list(range(coef.shape[0]))
        best_loss = [np.inf] * coef.shape[0]
        no_improvement = [0] * coef.shape[0]
        t = int(t0)
        n_iter = 0
        for _ in range(max_epochs):
            still_active = []
            total_mistakes = 0
            total_loss = 0.0
            for k in active:
                try:
                    mistakes, loss_sum = epoch(
                        signs[k], sw, coef[k], intercept[k : k + 1], eta0,
                        self.fit_intercept, self.shuffle, seed, t, perm,
                    )
                except _core.DivergenceError:
                    raise ValueError(
                        "A decision score became non-finite (overflow) at epoch %d; the "
                        "input has values too large for float64 arithmetic: scale it (for "
                        "example with StandardScaler) or lower eta0=%r."
                        % (n_iter + 1, self.eta0)
                    ) from None
                total_mistakes += mistakes
                total_loss += loss_sum
                if mistakes == 0:
                    continue  # converged: every training sample is on its side
                mean_loss = loss_sum / n_samples
                if self.tol is not None:
                    if mean_loss > best_loss[k] - tol:
                        no_improvement[k] += 1
                    else:
                        no_improvement[k] = 0
                    best_loss[k] = min(best_loss[k], mean_loss)
                    if no_improvement[k] >= self.n_iter_no_change:
                        continue  # stopped on a plateau, as scikit-learn's tol rule does
                still_active.append(k)
            n_iter += 1
            t += n_samples
            if self.verbose:
                print(
                    "Epoch %d, mistakes = %d, mean loss = %.8f"
                    % (n_iter, total_mistakes, total_loss / (n_samples * len(active)))
                )
            active = still_active
            if not active:
                break
        self.classes_ = classes
        self.coef_ = coef
        self.intercept_ = intercept
        self.n_iter_ = n_iter
        self.t_ = t
        if active and not incremental:
            warnings.warn(
                "Perceptron: maximum iterations (max_iter=%d) reached with training mistakes "
                "left; the data may not be linearly separable (one class against the rest "
                "for multiclass data), or max_iter is too small." % self.max_iter,
                ConvergenceWarning,
            )

    def to_sklearn(self):
        """The equivalent fitted ``sklearn.linear_model.Perceptron``.

        It has ``penalty=None``, this model's ``eta0``, ``max_iter``, ``tol``,
        ``n_iter_no_change``, ``shuffle``, ``random_state``, ``fit_intercept``, ``warm_start``
        and ``verbose``, and copies of ``coef_``, ``intercept_``, ``classes_``, ``n_iter_``,
        ``t_``, ``n_features_in_`` (and ``feature_names_in_``): its ``decision_function`` and
        ``predict`` are this model's, and its ``partial_fit`` applies the same rule from the
        same weights. (Its ``fit`` stops by scikit-learn's ``tol`` rule only, not at the first
        epoch without a mistake.)

        Returns
        -------
        sklearn.linear_model.Perceptron
            The scikit-learn estimator; this model is not modified.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            When the model has not been fitted.
        """
        from sklearn.linear_model import Perceptron as SklearnPerceptron

        check_is_fitted(self)
        sk = SklearnPerceptron(
            penalty=None, eta0=self.eta0, max_iter=self.max_iter, tol=self.tol,
            n_iter_no_change=self.n_iter_no_change, shuffle=self.shuffle,
            random_state=self.random_state, fit_intercept=self.fit_intercept,
            warm_start=self.warm_start, verbose=self.verbose,
        )
        for name in ("coef_", "intercept_", "classes_", "n_iter_", "t_", "n_features_in_",
                     "feature_names_in_"):
            if name in self.__dict__:
                value = self.__dict__[name]
                setattr(sk, name, value.copy() if isinstance(value, np.ndarray) else value)
        return sk

    def decision_function(self, X):
        """Signed scores ``X @ coef_.T + intercept_``: positive means ``classes_[1]`` (binary).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            One score per sample for a binary problem, one per class otherwise.
        """
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse="csr", dtype=np.float64, reset=False)
        scores = np.asarray(X @ self.coef_.T) + self.intercept_
        return scores.ravel() if scores.shape[1] == 1 else scores

    def predict(self, X):
        """Predict class labels: the sign of the score (binary) or the highest score.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            The predicted class labels.
        """
        scores = self.decision_function(X)
        if scores.ndim == 1:
            indices = (scores > 0).astype(np.intp)
        else:
            indices = scores.argmax(axis=1)
        return self.classes_.take(indices)


def _epoch_function(X):
    """The C core's epoch over X (dense, or a scipy CSR matrix) as one callable of the
    remaining perceptron_epoch arguments. Sparse X goes in canonical form (columns in order
    within each row, no duplicates: the sums of the same rows dense), its indices as they are
    when int32 or int64."""
    if not sp.issparse(X):
        return lambda *args: _core.perceptron_epoch(X, *args)
    if not X.has_canonical_format:
        X = X.copy()
        X.sum_duplicates()
    data = np.ascontiguousarray(X.data, dtype=np.float64)
    index_dtype = X.indices.dtype if X.indices.dtype in (np.int32, np.int64) else np.int64
    indices = np.ascontiguousarray(X.indices, dtype=index_dtype)
    indptr = np.ascontiguousarray(X.indptr, dtype=np.int64)
    n_features = X.shape[1]
    return lambda *args: _core.perceptron_epoch_csr(data, indices, indptr, n_features, *args)
