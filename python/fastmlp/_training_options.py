"""Training options beyond scikit-learn's: initializations, class weights, validation data and
the progress bar (the schedules live with the optimizers, history and best weights with the
training loop).

The estimators in ``_estimators`` call these helpers with what they need (values and
callables, never the estimator's private state); each option's maths lives here in one place.
scikit-learn's defaults ('glorot_uniform', the 'constant' / 'invscaling' /
'adaptive' schedules, no class weights) never go through the new code paths, so they keep
scikit-learn's numbers exactly.
"""

import math
import sys
import time

import numpy as np
from sklearn.utils import check_consistent_length
from sklearn.utils.multiclass import unique_labels
from sklearn.utils.validation import _check_sample_weight, check_array, column_or_1d, validate_data

# ---------------------------------------------------------------------- initialization

# Non-default initializations: (distribution, scale(fan_in, fan_out, init_std)). The scale is the
# bound of a uniform draw U(-scale, scale) or the standard deviation of a normal draw N(0, scale);
# the biases start at zero. The default 'glorot_uniform' is scikit-learn's own draw (bound
# sqrt(6 / (fan_in + fan_out)), sqrt(2 / ...) for logistic hidden units, biases drawn from the
# same uniform) and stays in BaseMultilayerPerceptron._init_coef so that it is bit for bit
# scikit-learn's. 'he_*' are PyTorch's kaiming_*_(nonlinearity='relu', mode='fan_in').
INITIALIZERS = {
    "glorot_normal": ("normal", lambda fan_in, fan_out, init_std: math.sqrt(2.0 / (fan_in + fan_out))),
    "he_uniform": ("uniform", lambda fan_in, fan_out, init_std: math.sqrt(6.0 / fan_in)),
    "he_normal": ("normal", lambda fan_in, fan_out, init_std: math.sqrt(2.0 / fan_in)),
    "normal": ("normal", lambda fan_in, fan_out, init_std: float(init_std)),
}


def initial_layer(random_state, init, fan_in, fan_out, init_std, dtype):
    """(weights of shape (fan_in, fan_out), zero biases) drawn from random_state for a
    non-default ``init``."""
    distribution, scale = INITIALIZERS[init]
    scale = scale(fan_in, fan_out, init_std)
    if distribution == "uniform":
        coef = random_state.uniform(-scale, scale, (fan_in, fan_out))
    else:
        coef = random_state.normal(0.0, scale, (fan_in, fan_out))
    return coef.astype(dtype, copy=False), np.zeros(fan_out, dtype=dtype)


# ---------------------------------------------------------------------- class weights


def class_weight_per_sample(class_weight, classes, Y, y_type, incremental):
    """float64 weights of the rows of the encoded targets Y (n_samples x n_outputs) under
    ``class_weight`` ('balanced' or a dict {label: weight}; labels absent from it weigh 1)."""
    if y_type not in ("binary", "multiclass"):
        raise ValueError(
            "class_weight is only supported for binary and multiclass targets; got a %s target "
            "(use sample_weight to weigh the rows of multilabel targets)." % y_type
        )
    if Y.shape[1] == 1:
        indices = np.asarray(Y[:, 0], dtype=np.intp)
    else:
        indices = np.argmax(Y, axis=1)
    n_classes = len(classes)
    if isinstance(class_weight, str):  # 'balanced', as scikit-learn's compute_class_weight
        if incremental:
            raise ValueError(
                "class_weight='balanced' is not supported by partial_fit: the class frequencies "
                "of one batch are not those of the data. Pass the weights as a dict, e.g. from "
                "sklearn.utils.class_weight.compute_class_weight('balanced', classes=classes, "
                "y=y) on the whole training target."
            )
        counts = np.bincount(indices, minlength=n_classes).astype(np.float64)
        if np.any(counts == 0):
            raise ValueError(
                "class_weight='balanced' needs every class of classes_ in y; classes %s have no "
                "samples." % list(np.asarray(classes)[counts == 0])
            )
        weights = len(indices) / (n_classes * counts)
    else:
        weights = np.ones(n_classes, dtype=np.float64)
        classes_list = list(classes)
        unknown = []
        for label, weight in class_weight.items():
            matches = [i for i, c in enumerate(classes_list) if c == label]
            if not matches:
                unknown.append(label)
                continue
            weights[matches[0]] = float(weight)
        if unknown:
            raise ValueError(
                "class_weight has labels %r that are not classes of y; the classes are %r."
                % (unknown, np.asarray(classes).tolist())
            )
        if np.any(weights < 0) or not np.all(np.isfinite(weights)):
            raise ValueError(
                "class_weight must map labels to finite, non-negative weights; got %r."
                % (class_weight,)
            )
    return weights[indices]


def class_weight_vector(class_weight, classes, counts, y_type, incremental):
    """float64 weight of each class under ``class_weight`` given the number of rows of each
    class (counts, in the order of classes): the weights class_weight_per_sample gives the rows
    of each class, for data whose rows are not in memory."""
    counts = np.asarray(counts, dtype=np.float64)
    n_classes = len(classes)
    if isinstance(class_weight, str) and not incremental:
        if y_type not in ("binary", "multiclass"):
            class_weight_per_sample(class_weight, classes, np.zeros((0, 1)), y_type, incremental)
        if np.any(counts == 0):
            raise ValueError(
                "class_weight='balanced' needs every class of classes_ in y; classes %s have no "
                "samples." % list(np.asarray(classes)[counts == 0])
            )
        return counts.sum() / (n_classes * counts)
    # one row of each class, encoded as the C core trains on them
    Y = np.arange(n_classes).reshape(-1, 1) if n_classes <= 2 else np.eye(n_classes)
    return class_weight_per_sample(class_weight, classes, Y, y_type, incremental)


def apply_class_weight(class_weight, classes, y_type, Y, sample_weight, incremental):
    """sample_weight multiplied by the class weights of the rows of the encoded targets Y (or
    the class weights alone when sample_weight is None); see class_weight_per_sample."""
    row_weights = class_weight_per_sample(class_weight, classes, Y, y_type, incremental)
    if sample_weight is None:
        return row_weights
    return np.asarray(sample_weight, dtype=np.float64) * row_weights


# ---------------------------------------------------------------------- validation data


def check_validation_data(estimator, validation_data, dtype, y_type=None, encode_targets=None):
    """(X_val, Y_val encoded, y_val, sample_weight_val) from the ``validation_data`` parameter,
    validated like the training data: same features (``validate_data`` against the fitted
    estimator), known classes (its ``classes_``), numeric targets (its ``n_outputs_``).

    For a classifier, y_type is the type of the training targets ('binary', 'multiclass' or
    'multilabel-indicator') and encode_targets maps the checked labels y_val to (the target
    matrix the C core trains on, the class weight of each row or None); regressors pass
    neither."""
    is_classifier = y_type is not None
    if not isinstance(validation_data, tuple) or len(validation_data) not in (2, 3):
        raise ValueError(
            "validation_data must be a tuple (X_val, y_val) or (X_val, y_val, "
            "sample_weight_val); got %s." % type(validation_data).__name__
            + ("" if not isinstance(validation_data, tuple) else " of length %d" % len(validation_data))
        )
    X_val, y_val = validation_data[:2]
    sample_weight_val = validation_data[2] if len(validation_data) == 3 else None
    try:
        X_val = validate_data(
            estimator, X_val, accept_sparse=["csr", "csc"], dtype=(np.float64, np.float32),
            reset=False,
        )
    except ValueError as exc:
        raise ValueError("validation_data: X_val is not valid: %s" % exc) from exc
    if hasattr(X_val, "toarray"):
        X_val = X_val.toarray()
    X_val = np.ascontiguousarray(X_val, dtype=dtype)
    y_val = check_array(
        y_val, ensure_2d=False, dtype=None if is_classifier else "numeric",
        ensure_all_finite=True, input_name="y_val",
    )
    if y_val.ndim == 2 and y_val.shape[1] == 1:
        y_val = column_or_1d(y_val)
    check_consistent_length(X_val, y_val)
    if X_val.shape[0] == 0:
        raise ValueError("validation_data: X_val has no rows.")

    if is_classifier:
        if y_type.startswith("multilabel"):
            if y_val.ndim != 2 or y_val.shape[1] != len(estimator.classes_):
                raise ValueError(
                    "validation_data: y_val must be a multilabel indicator matrix with %d "
                    "columns like y; got shape %s." % (len(estimator.classes_), y_val.shape)
                )
            if not np.isin(y_val, (0, 1)).all():
                raise ValueError("validation_data: y_val must be a 0/1 indicator matrix like y.")
        else:
            if y_val.ndim != 1:
                raise ValueError(
                    "validation_data: y_val must be 1-D class labels like y; got shape %s."
                    % (y_val.shape,)
                )
            labels = unique_labels(y_val)
            unknown = np.setdiff1d(labels, estimator.classes_)
            if len(unknown):
                raise ValueError(
                    "validation_data: y_val has classes %s that are not in the training classes "
                    "classes_ = %s." % (unknown.tolist(), np.asarray(estimator.classes_).tolist())
                )
        Y_val, row_weights = encode_targets(y_val)
    else:
        row_weights = None
        if estimator.loss == "poisson" and np.any(y_val < 0):
            raise ValueError(
                "validation_data: loss='poisson' requires non-negative targets; got min(y_val) "
                "= %r." % float(np.min(y_val))
            )
        Y_val = np.asarray(y_val, dtype=dtype).reshape(len(y_val), -1)
        if Y_val.shape[1] != estimator.n_outputs_:
            raise ValueError(
                "validation_data: y_val has %d outputs but y has %d."
                % (Y_val.shape[1], estimator.n_outputs_)
            )
    Y_val = np.ascontiguousarray(Y_val, dtype=dtype)
    if sample_weight_val is not None:
        sample_weight_val = _check_sample_weight(sample_weight_val, X_val, dtype=np.float64)
    if row_weights is not None:
        sample_weight_val = (
            row_weights if sample_weight_val is None else sample_weight_val * row_weights
        )
    return X_val, Y_val, y_val, sample_weight_val


# ---------------------------------------------------------------------- progress


def _interactive():
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _in_notebook():
    """Whether this runs in a Jupyter kernel, where tqdm.auto draws a widget, not text."""
    ipython = sys.modules.get("IPython")
    try:
        shell = ipython.get_ipython() if ipython is not None else None
    except Exception:  # an IPython too old or too broken to ask: no widgets
        return False
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


class ProgressBar:
    """A tqdm progress bar over an epoch's samples when ``progress`` asks for one: True (tqdm
    needed), or 'auto' (the default: only when tqdm is installed, stderr is a terminal and
    epochs are long enough to watch). Updated between calls into the C core.

    A bar can only be redrawn in place on a terminal or in a notebook. Elsewhere (stderr
    redirected to a file or a pipe) each redraw would be a new line, the first at 0%: there
    ``progress=True`` writes one line per finished epoch instead, or nothing with ``verbose``,
    whose own line per epoch already says it."""

    # 'auto' shows a bar when an epoch's work (samples x parameters) is at least this
    LONG_EPOCH_WORK = 5e9

    def __init__(self, setting, n_samples, n_params, verbose, epoch_number):
        """setting: the ``progress`` parameter; n_params: the network's parameter count;
        epoch_number: a callable giving the 1-based number of the epoch about to run."""
        self.bar = None
        self.tqdm = None
        self.lines = False
        self.n_samples = n_samples
        self.epoch_number = epoch_number
        if setting is False or setting is None:
            return
        if setting == "auto":
            work = n_samples * float(n_params)
            if work < self.LONG_EPOCH_WORK or not _interactive():
                return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            if setting is True:
                raise ImportError(
                    "progress=True needs tqdm: pip install tqdm (or progress='auto' to show "
                    "a bar only when it is installed)"
                ) from None
            return
        if _interactive() or _in_notebook():
            self.tqdm = tqdm
        else:
            self.lines = not verbose

    def start(self):
        self.started = time.perf_counter()
        if self.tqdm is not None:
            self.close()
            self.bar = self.tqdm(
                total=self.n_samples,
                desc="epoch %d" % self.epoch_number(),
                unit="samples",
                leave=False,
            )

    def update(self, n):
        if self.bar is not None:
            self.bar.update(n)

    def finish(self):
        self.close()
        if self.lines:
            elapsed = time.perf_counter() - self.started
            print("epoch %d: %d samples in %.2f s" % (self.epoch_number(), self.n_samples, elapsed),
                  file=sys.stderr, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
