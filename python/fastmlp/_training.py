"""The epoch loop of the stochastic solvers and its monitor: early stopping, validation,
history, best weights, callbacks and progress between calls into the C core.

Everything here works on what it is given (the parameters, an optimizer, data, callables that
predict and score), never on an estimator: the estimators publish a ``Record`` as their fitted
attributes (``n_iter_``, ``loss_curve_``, ``validation_scores_``, ``history_``, ...).
"""

import time
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from . import _core, _predict

# Work of one call into the C core during an epoch, in rows x parameters: an epoch is split
# into calls of whole batches of about this much work (tens of milliseconds), so that Ctrl-C,
# progress bars and sparse densification happen between calls. Depends on the network and the
# batch size only, never on timing, so results do not change.
CALL_WORK = 5e8

HISTORY_KEYS = ("loss", "score", "val_loss", "val_score", "time", "learning_rate")

# scikit-learn's own sentence for a fit that produced non-finite weights.
NON_FINITE_WEIGHTS = (
    "Solver produced non-finite parameter weights. The input data may contain large values "
    "and need to be preprocessed."
)


def dense_rows(X, rows):
    """X[rows] as a C-contiguous dense array (sparse X is densified here, rows only)."""
    block = X[rows]
    if sp.issparse(block):
        block = block.toarray()
    return np.ascontiguousarray(block)


def rows_per_call(n_params, n_features, batch_size, itemsize, sparse):
    """Rows per call into the C core during an epoch: whole batches (see CALL_WORK)."""
    rows = int(CALL_WORK // max(1, n_params))
    if sparse:
        rows = min(rows, _predict.SPARSE_BLOCK_BYTES // max(1, n_features * itemsize))
    return max(1, rows // batch_size) * batch_size


class EpochRunner:
    """Runs the epochs of one stochastic fit through the optimizer: the epoch's sample order
    (the counter-based permutation, restricted to the training rows), then calls of whole
    batches (rows_per_call), so that Python regains control between them (Ctrl-C, progress)
    and sparse X is densified one block of rows at a time. The calls train exactly as one call
    over the epoch would: the loss and score sums carry over, and dropout masks are keyed by
    each row's position in the epoch. progress: an object with start(), update(n), finish()
    and close(). check_x: the first epoch checks each batch's rows of X (dense X) before
    training on them (``_core.NonFiniteInputError`` for NaN or infinity), the later ones
    need not."""

    def __init__(self, optimizer, workspace, params, X, Y, sample_weight, rows, batch_size,
                 seed, shuffle, progress, check_x=False):
        self.optimizer, self.workspace, self.params = optimizer, workspace, params
        self.X, self.Y, self.sample_weight = X, Y, sample_weight
        self.rows, self.batch_size, self.seed, self.shuffle = rows, batch_size, seed, shuffle
        self.sparse = sp.issparse(X)
        self.n_samples = X.shape[0] if rows is None else rows.shape[0]
        self.rows_per_call = rows_per_call(
            workspace.network.n_params, X.shape[1], batch_size, Y.dtype.itemsize, self.sparse
        )
        self.progress = progress
        self.check_x = check_x and not self.sparse

    def _order(self, epoch):
        """Rows of X in this epoch's order (None: all rows in order)."""
        if self.shuffle:
            order = _core.permutation(self.seed, epoch, self.n_samples)
            return order if self.rows is None else self.rows[order]
        return self.rows

    def run(self, epoch, sums):
        """One epoch keyed by epoch (the samples seen before it), adding to sums (sum of batch
        loss x batch rows, running score statistic) in place, also when it raises."""
        order = self._order(epoch)
        if self.sparse and order is None:
            order = np.arange(self.n_samples)
        self.progress.start()
        for start in range(0, self.n_samples, self.rows_per_call):
            stop = min(self.n_samples, start + self.rows_per_call)
            if self.sparse:
                block = order[start:stop]
                X = dense_rows(self.X, block).astype(self.Y.dtype, copy=False)
                Y = np.ascontiguousarray(self.Y[block])
                sw = None if self.sample_weight is None else self.sample_weight[block]
                rows = None
            elif order is None:
                X, Y, rows = self.X[start:stop], self.Y[start:stop], None
                sw = None if self.sample_weight is None else self.sample_weight[start:stop]
            else:
                X, Y, sw, rows = self.X, self.Y, self.sample_weight, order[start:stop]
            self.optimizer.train(self.workspace, self.params, sums, X, Y, sw, rows,
                                 self.batch_size, self.seed, epoch, start, self.check_x)
            self.progress.update(stop - start)
        self.check_x = False  # every row of X has been read: finite
        self.progress.finish()

    def close(self):
        self.progress.close()


# ---------------------------------------------------------------------- scores and history


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


class Record:
    """What a stochastic fit records, as scikit-learn names it without the trailing
    underscore: the estimators read it from and publish it to their fitted attributes."""

    FIELDS = ("n_iter", "t", "loss", "loss_curve", "best_loss", "validation_scores",
              "best_validation_score", "no_improvement_count", "history", "best_params")

    def __init__(self, **values):
        for name in self.FIELDS:
            setattr(self, name, values.get(name))


class Validation:
    """The held-out data of a fit and how to evaluate the model on it: outputs(X, rows)
    computes output-layer values, score(outputs, y, sample_weight) the score, and
    loss(X, rows, Y, sample_weight) the C core's loss."""

    def __init__(self, X, rows, Y, y, sample_weight, outputs, score, loss):
        self.X, self.rows, self.Y, self.y, self.sample_weight = X, rows, Y, y, sample_weight
        self.outputs, self.score, self.loss = outputs, score, loss

    def evaluate(self):
        """(score, loss) of the current parameters."""
        output = self.outputs(self.X, self.rows)
        return (self.score(output, self.y, self.sample_weight),
                self.loss(self.X, self.rows, self.Y, self.sample_weight))


def epoch_line(record, n_samples):
    """verbose=True's line for the epoch just recorded: scikit-learn's "Iteration N, loss =
    ..." followed by the validation score (when there is validation data), the epoch's time
    and its samples per second."""
    history = record.history
    line = "Iteration %d, loss = %.8f" % (record.n_iter, record.loss)
    if history.get("val_score"):
        line += ", validation score = %f" % history["val_score"][-1]
    seconds = history["time"][-1]
    line += ", time = %.3fs, %.0f samples/s" % (seconds, n_samples / max(seconds, 1e-12))
    return line


def run_callbacks(callbacks, estimator, record):
    """Calls each callback with (estimator, figures of the epoch just recorded); True when one
    of them asks to stop (returns True)."""
    if not callbacks:
        return False
    figures = {key: values[-1] for key, values in record.history.items() if values}
    figures["epoch"] = record.n_iter
    stop = False
    for callback in callbacks:
        if callback(estimator, dict(figures)) is True:
            stop = True
    return stop


# ---------------------------------------------------------------------- the loop


class Monitor:
    """Per-epoch bookkeeping: history (loss, running score, validation loss and score, rate,
    time), scikit-learn's no-improvement count and best validation weights (early stopping),
    and the best weights restore_best_weights=True brings back."""

    def __init__(self, record, params, Y, sample_weight, is_classifier, validation,
                 early_stopping, restore_best_weights, incremental, tol, weight_sum=None,
                 sst=None):
        self.record, self.params = record, params
        self.is_classifier = is_classifier
        self.validation = validation
        self.early_stopping = early_stopping
        self.restore = restore_best_weights
        self.incremental = incremental
        self.tol = tol
        # the training rows' weight and (regressors) total sum of squares: given, for data
        # that is not in memory, or computed from Y and sample_weight
        if weight_sum is not None:
            self.weight_sum = float(weight_sum)
        elif sample_weight is None:
            self.weight_sum = float(Y.shape[0])
        else:
            self.weight_sum = float(np.sum(sample_weight, dtype=np.float64))
        if is_classifier:
            self.sst = None
        elif sst is not None:
            self.sst = float(sst)
        else:
            self.sst = total_sum_of_squares(Y, sample_weight)
        history = record.history if record.history is not None else new_history()
        if validation is not None:
            history = ensure_validation_keys(history)
        record.history = history
        self.best = None
        if not isinstance(self.restore, str) and bool(self.restore) and not incremental:
            if not early_stopping:  # early stopping keeps scikit-learn's own tracker
                self.best = BestWeights(higher_is_better=validation is not None)
        self._t0 = None

    def epoch_begins(self, optimizer):
        optimizer.epoch_begins()
        self._t0 = time.perf_counter()

    def epoch_ends(self, score_stat, learning_rate, diverged=False):
        """Records the epoch (a diverged one scores NaN) and updates the no-improvement count
        and the best weights."""
        record, history = self.record, self.record.history
        history["loss"].append(record.loss)
        history["score"].append(
            float("nan") if diverged else
            training_score(float(score_stat), self.is_classifier, self.weight_sum, self.sst)
        )
        score = None
        if self.validation is not None:
            if diverged:
                score = val_loss = float("nan")
            else:
                score, val_loss = self.validation.evaluate()
            history["val_loss"].append(val_loss)
            history["val_score"].append(score)
        elif "val_loss" in history:
            history["val_loss"].append(float("nan"))
            history["val_score"].append(float("nan"))
        history["learning_rate"].append(learning_rate)
        if self.best is not None:
            value = score if self.validation is not None else record.loss
            self.best.update(value, self.params, len(history["loss"]) - 1)
        history["time"].append(time.perf_counter() - self._t0)
        self._count_no_improvement(score)

    def _count_no_improvement(self, score):
        """scikit-learn's _update_no_improvement_count."""
        record = self.record
        if self.early_stopping:
            record.validation_scores.append(score)
            if score < record.best_validation_score + self.tol:
                record.no_improvement_count += 1
            else:
                record.no_improvement_count = 0
            if score > record.best_validation_score:
                record.best_validation_score = score
                record.best_params = self.params.copy()
        else:
            if record.loss_curve[-1] > record.best_loss - self.tol:
                record.no_improvement_count += 1
            else:
                record.no_improvement_count = 0
            if record.loss_curve[-1] < record.best_loss:
                record.best_loss = record.loss_curve[-1]

    def params_to_restore(self):
        """The parameters fit ends with, or None to keep the last epoch's."""
        if self.incremental:
            return None
        if isinstance(self.restore, str):  # 'auto': scikit-learn's rule
            return self.record.best_params if self.early_stopping else None
        if not self.restore:
            return None
        if self.early_stopping:
            return self.record.best_params
        return self.best.params if self.best is not None else None


def run_epochs(runner, optimizer, monitor, *, n_samples, max_iter, n_iter_no_change, tol,
               incremental, verbose, on_epoch, divergence_message):
    """The epoch loop of scikit-learn's _fit_stochastic over runner's epochs, recording into
    monitor.record. on_epoch(record) runs after each epoch (publishing the record, callbacks)
    and returns True to stop. divergence_message(epoch) gives the ValueError's detail when the
    training loss becomes non-finite: with early stopping the fit ends instead, as
    scikit-learn's does (the epoch's validation score is NaN, the best weights are restored).
    A Ctrl-C ends training with a warning; the parameters are those after the last whole
    batch. Returns the parameters to restore (or None)."""
    record = monitor.record
    early_stopping = monitor.early_stopping
    try:
        record.n_iter = 0
        for _ in range(max_iter):
            monitor.epoch_begins(optimizer)
            sums = np.zeros(2)
            diverged = False
            try:
                runner.run(record.t, sums)
            except _core.DivergenceError:
                if not early_stopping:
                    raise ValueError(
                        NON_FINITE_WEIGHTS + " " + divergence_message(record.n_iter + 1)
                    ) from None
                diverged = True
            record.n_iter += 1
            record.loss = float("nan") if diverged else float(sums[0]) / n_samples
            record.t += n_samples
            record.loss_curve.append(record.loss)
            monitor.epoch_ends(sums[1], optimizer.learning_rate, diverged)
            if verbose:
                print(epoch_line(record, n_samples))
            optimizer.iteration_ends(record.t)
            stop = on_epoch(record)
            if diverged:
                warnings.warn(
                    "The training loss became non-finite at epoch %d: training stopped and "
                    "the weights of the best validation score were restored. %s"
                    % (record.n_iter, divergence_message(record.n_iter)),
                    ConvergenceWarning,
                )
                break
            if stop:
                break  # a callback asked to stop: no ConvergenceWarning
            if record.no_improvement_count > n_iter_no_change:
                if early_stopping:
                    msg = (
                        "Validation score did not improve more than "
                        "tol=%f for %d consecutive epochs." % (tol, n_iter_no_change)
                    )
                else:
                    msg = (
                        "Training loss did not improve more than tol=%f"
                        " for %d consecutive epochs." % (tol, n_iter_no_change)
                    )
                if optimizer.trigger_stopping(msg, verbose):
                    break
                record.no_improvement_count = 0
            if incremental:
                break
            if record.n_iter == max_iter:
                warnings.warn(
                    "Stochastic Optimizer: Maximum iterations (%d) "
                    "reached and the optimization hasn't converged yet." % max_iter,
                    ConvergenceWarning,
                )
    except KeyboardInterrupt:
        # Calls into the C core end at batch boundaries: the parameters are those after
        # the last whole batch (the interrupted epoch is not counted in n_iter_).
        warnings.warn("Training interrupted by user.")
    finally:
        runner.close()
    return monitor.params_to_restore()
