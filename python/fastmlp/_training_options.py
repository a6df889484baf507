"""Training options beyond scikit-learn's: initializations, learning-rate schedules and warm-up,
class weights, validation data, per-epoch history and best-weight restoring.

The estimators in ``_multilayer_perceptron`` call these helpers; each option's maths lives here
in one place. scikit-learn's defaults ('glorot_uniform', the 'constant' / 'invscaling' /
'adaptive' schedules, no class weights) never go through the new code paths, so they keep
scikit-learn's numbers exactly.
"""

import math
import sys
import time

import numpy as np
from scipy.special import xlogy
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


# ---------------------------------------------------------------------- learning-rate schedules

EPOCH_SCHEDULES = ("step", "exponential", "cosine")


def scheduled_learning_rate(schedule, learning_rate_init, epoch, max_iter, step_size, gamma,
                            lr_min):
    """The rate of epoch ``epoch`` (0-based) under one of the EPOCH_SCHEDULES."""
    if schedule == "step":
        return learning_rate_init * gamma ** (epoch // step_size)
    if schedule == "exponential":
        return learning_rate_init * gamma**epoch
    if schedule == "cosine":
        if epoch >= max_iter:
            return lr_min
        return lr_min + (learning_rate_init - lr_min) * (1.0 + math.cos(math.pi * epoch / max_iter)) / 2.0
    raise ValueError("unknown epoch schedule %r" % (schedule,))


def warmup_factor(epoch, warmup_epochs):
    """The linear warm-up's factor (epoch + 1) / warmup_epochs for epoch < warmup_epochs, else 1."""
    if epoch < warmup_epochs:
        return (epoch + 1) / warmup_epochs
    return 1.0


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


def apply_class_weight(estimator, Y, sample_weight, incremental):
    """sample_weight multiplied by the class weights of the rows of Y (or the class weights
    alone when sample_weight is None)."""
    binarizer = estimator._label_binarizer
    row_weights = class_weight_per_sample(
        estimator.class_weight, estimator.classes_, Y, binarizer.y_type_, incremental
    )
    if sample_weight is None:
        return row_weights
    return np.asarray(sample_weight, dtype=np.float64) * row_weights


# ---------------------------------------------------------------------- validation data


def check_validation_data(estimator, validation_data, dtype, is_classifier, incremental):
    """(X_val, Y_val encoded, y_val, sample_weight_val) from the ``validation_data`` parameter,
    validated like the training data: same features, known classes, numeric targets."""
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
        binarizer = estimator._label_binarizer
        if binarizer.y_type_.startswith("multilabel"):
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
        Y_val = binarizer.transform(y_val).astype(dtype)
    else:
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
    Y_val = np.ascontiguousarray(Y_val)
    if sample_weight_val is not None:
        sample_weight_val = _check_sample_weight(sample_weight_val, X_val, dtype=np.float64)
    if is_classifier and getattr(estimator, "class_weight", None) is not None:
        sample_weight_val = apply_class_weight(estimator, Y_val, sample_weight_val, incremental=False)
    if is_classifier and estimator.loss in ("hinge", "perceptron"):
        Y_val = np.ascontiguousarray(estimator._margin_targets(Y_val))
    return X_val, Y_val, y_val, sample_weight_val


# ---------------------------------------------------------------------- losses and scores


def data_loss(loss, Y, output, sample_weight):
    """The data term of the training loss on (Y, output activations), scikit-learn's
    definitions: log loss, binary log loss (clipped to [eps, 1 - eps] of output's dtype), half
    the mean squared error (averaged over outputs), half the Poisson deviance (summed over
    outputs); sample weights average over rows."""
    if loss in ("log_loss", "binary_log_loss"):
        eps = np.finfo(output.dtype).eps
        prob = np.clip(output, eps, 1 - eps)
        if loss == "binary_log_loss":
            terms = xlogy(Y, prob) + xlogy(1 - Y, 1 - prob)
        else:
            if prob.shape[1] == 1:
                prob = np.append(1 - prob, prob, axis=1)
            if Y.shape[1] == 1:
                Y = np.append(1 - Y, Y, axis=1)
            terms = xlogy(Y, prob)
        return -float(np.average(terms, weights=sample_weight, axis=0).sum())
    if loss == "squared_error":
        return 0.5 * float(np.average((Y - output) ** 2, weights=sample_weight, axis=0).mean())
    if loss == "poisson":
        terms = xlogy(Y, Y / output) - Y + output
        return float(np.average(terms, weights=sample_weight, axis=0).sum())
    if loss in ("hinge", "perceptron"):
        scores = np.asarray(output, dtype=np.float64)
        rows = np.arange(len(scores))
        right = scores[rows, np.asarray(Y).argmax(axis=1)]
        if loss == "hinge":  # PyTorch's multi_margin_loss, margin 1
            margins = np.maximum(0.0, 1.0 - right[:, None] + scores)
            margins[rows, np.asarray(Y).argmax(axis=1)] = 0.0
            terms = margins.sum(axis=1) / scores.shape[1]
        else:
            terms = scores.max(axis=1) - right
        return float(np.average(terms, weights=sample_weight))
    raise ValueError("no validation loss is defined for loss=%r" % (loss,))


def weight_penalty(coefs, alpha, batch_size, alpha_l1=0.0):
    """The penalty terms training adds to the loss of one full mini-batch:
    (0.5 * alpha * sum(W ** 2) + alpha_l1 * sum(|W|)) / batch_size."""
    total, absolute = 0.0, 0.0
    for coef in coefs:
        flat = np.asarray(coef, dtype=np.float64).ravel()
        total += float(np.dot(flat, flat))
        absolute += float(np.abs(flat).sum())
    return (0.5 * float(alpha) * total + float(alpha_l1) * absolute) / batch_size


def total_sum_of_squares(Y, sample_weight):
    """Weighted total sum of squares of Y about the weighted mean of each output, pooled over
    outputs (the denominator of the training R^2)."""
    Y = np.asarray(Y, dtype=np.float64)
    w = np.ones(Y.shape[0]) if sample_weight is None else np.asarray(sample_weight, np.float64)
    mean = np.average(Y, weights=w, axis=0) if w.sum() > 0 else Y.mean(axis=0)
    return float(np.sum(w[:, None] * (Y - mean) ** 2))


def training_score(score_stat, is_classifier, weight_sum, sst):
    """The epoch's running training score from the C core's statistic: accuracy (weighted count
    of right rows / weight sum) or 1 - SSE / SST (R^2; 0 or 1 when SST is 0, as r2_score)."""
    if is_classifier:
        return score_stat / weight_sum if weight_sum > 0 else float("nan")
    if sst == 0.0:
        return 1.0 if score_stat == 0.0 else 0.0
    return 1.0 - score_stat / sst


# ---------------------------------------------------------------------- history and best weights

HISTORY_KEYS = ("loss", "score", "val_loss", "val_score", "time", "learning_rate")


def new_history():
    """An empty history_: per-epoch lists; the 'val_*' keys are added with validation data."""
    return {"loss": [], "score": [], "time": [], "learning_rate": []}


def ensure_validation_keys(history):
    """Adds 'val_loss' / 'val_score' to history, NaN for the epochs before (in key order)."""
    if "val_loss" in history:
        return history
    n = len(history["loss"])
    ordered = {}
    for key in HISTORY_KEYS:
        if key in ("val_loss", "val_score"):
            ordered[key] = [float("nan")] * n
        elif key in history:
            ordered[key] = history[key]
    return ordered


class BestWeights:
    """The parameters of the best epoch seen, by validation score (higher is better) or by
    training loss (lower is better); the first best epoch wins ties."""

    def __init__(self, higher_is_better):
        self.higher_is_better = higher_is_better
        self.value = None
        self.params = None
        self.epoch = None

    def update(self, value, params, epoch):
        if value is None or not np.isfinite(value):
            return
        if (
            self.value is None
            or (self.higher_is_better and value > self.value)
            or (not self.higher_is_better and value < self.value)
        ):
            self.value = value
            self.params = params.copy()
            self.epoch = epoch


class EpochClock:
    """Seconds per epoch with time.perf_counter."""

    def start(self):
        self._t0 = time.perf_counter()

    def seconds(self):
        return time.perf_counter() - self._t0


class EpochMonitor:
    """Per-epoch bookkeeping of a stochastic fit beyond scikit-learn's: the learning rate of
    each epoch, its time, the running training score, the validation loss and score, history_,
    and the best weights that restore_best_weights=True brings back."""

    def __init__(self, estimator, train_rows, Y, sample_weight, X_val, Y_val, y_val,
                 sample_weight_val, batch_size, incremental, is_classifier, val_rows=None):
        self.estimator = estimator
        self.Y, self.sample_weight = Y, sample_weight
        self.X_val, self.Y_val, self.y_val = X_val, Y_val, y_val
        self.val_rows = val_rows  # validation rows of X_val (None: all of it)
        self.sample_weight_val = sample_weight_val
        self.batch_size = batch_size
        self.incremental = incremental
        self.is_classifier = is_classifier
        self.has_validation = X_val is not None
        if sample_weight is None:
            self.weight_sum = float(Y.shape[0])
        else:
            self.weight_sum = float(np.sum(sample_weight, dtype=np.float64))
        self.sst = None if is_classifier else total_sum_of_squares(Y, sample_weight)

        history = estimator.__dict__.get("history_")
        if history is None:
            history = new_history()
        if self.has_validation:
            history = ensure_validation_keys(history)
        estimator.history_ = history

        restore = estimator.restore_best_weights
        self.best = None
        if not (isinstance(restore, str)) and bool(restore) and not incremental:
            if not estimator.early_stopping:  # early stopping keeps scikit-learn's own tracker
                self.best = BestWeights(higher_is_better=self.has_validation)
        self._clock = EpochClock()

    def epoch_begins(self, optimizer):
        optimizer.epoch_begins()
        self._clock.start()

    def epoch_ends(self, score_stat, optimizer):
        """Records the epoch in history_, score_stat being the C core's running statistic of
        the epoch (train_epoch's third value); returns the validation score (None without
        validation data)."""
        estimator = self.estimator
        history = estimator.history_
        history["loss"].append(estimator.loss_)
        history["score"].append(
            training_score(float(score_stat), self.is_classifier, self.weight_sum, self.sst)
        )
        validation_score = None
        if self.has_validation:
            # one forward pass, in blocks of rows, gives both the score and the loss
            output = estimator._outputs_for_rows(self.X_val, self.val_rows)
            validation_score = estimator._score_predictions(
                estimator._predictions(output), self.y_val, self.sample_weight_val
            )
            history["val_loss"].append(
                estimator._validation_loss(
                    output, self.Y_val, self.sample_weight_val, self.batch_size
                )
            )
            history["val_score"].append(validation_score)
        elif "val_loss" in history:
            history["val_loss"].append(float("nan"))
            history["val_score"].append(float("nan"))
        history["learning_rate"].append(optimizer.learning_rate)
        if self.best is not None:
            value = validation_score if self.has_validation else estimator.loss_
            self.best.update(value, estimator._params, len(history["loss"]) - 1)
        history["time"].append(self._clock.seconds())
        return validation_score

    def best_params_to_restore(self, early_stopping):
        """The parameters fit ends with, or None to keep the last epoch's."""
        restore = self.estimator.restore_best_weights
        if self.incremental:
            return None
        if isinstance(restore, str):  # 'auto': scikit-learn's rule
            return self.estimator._best_params if early_stopping else None
        if not restore:
            return None
        if early_stopping:
            return self.estimator._best_params
        return self.best.params if self.best is not None else None


# ---------------------------------------------------------------------- progress, callbacks


def epoch_line(estimator, n_samples):
    """verbose=True's line for the epoch just recorded: scikit-learn's "Iteration N, loss =
    ..." followed by the validation score (when there is validation data), the epoch's time
    and its samples per second."""
    history = estimator.history_
    line = "Iteration %d, loss = %.8f" % (estimator.n_iter_, estimator.loss_)
    if history.get("val_score"):
        line += ", validation score = %f" % history["val_score"][-1]
    seconds = history["time"][-1]
    line += ", time = %.3fs, %.0f samples/s" % (seconds, n_samples / max(seconds, 1e-12))
    return line


def run_callbacks(estimator):
    """Calls each of estimator.callbacks with (estimator, figures of the epoch just recorded);
    True when one of them asks to stop (returns True)."""
    callbacks = estimator.callbacks
    if not callbacks:
        return False
    history = estimator.history_
    figures = {key: values[-1] for key, values in history.items() if values}
    figures["epoch"] = estimator.n_iter_
    stop = False
    for callback in callbacks:
        if callback(estimator, dict(figures)) is True:
            stop = True
    return stop


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

    def __init__(self, estimator, n_samples):
        self.bar = None
        self.tqdm = None
        self.lines = False
        self.n_samples = n_samples
        self.estimator = estimator
        setting = estimator.progress
        if setting is False or setting is None:
            return
        if setting == "auto":
            work = n_samples * float(estimator._net.n_params)
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
            self.lines = not estimator.verbose

    def start(self):
        self.started = time.perf_counter()
        if self.tqdm is not None:
            self.close()
            self.bar = self.tqdm(
                total=self.n_samples,
                desc="epoch %d" % (self.estimator.n_iter_ + 1),
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
            print("epoch %d: %d samples in %.2f s" % (self.estimator.n_iter_ + 1, self.n_samples,
                                                      elapsed), file=sys.stderr, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
