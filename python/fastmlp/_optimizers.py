"""Stochastic optimizers: one object per fit that owns its state, its step count and its
learning-rate schedule, and runs batches through the C core.

scikit-learn keeps its optimizers the same way (``sklearn.neural_network._stochastic_optimizers``:
``AdamOptimizer`` holds ``t``, ``ms``, ``vs``). Here the per-parameter state (SGD velocity, Adam's
m then v, ...) is one flat array laid out as the parameters, updated in place by the C core,
and the step count is a one-value int64 array the C core also updates in place, so that both
stay in step with the weights whatever interrupts a call (a Ctrl-C, a divergence).

The schedules: scikit-learn's 'constant', 'invscaling' and 'adaptive' (for 'sgd'), and the epoch
schedules 'step', 'exponential' and 'cosine' (every solver), each with an optional linear warm-up.
"""

import math

import numpy as np

from . import _core
from ._model_state import aligned, aligned_zeros

STOCHASTIC_SOLVERS = ("sgd", "adam", "adamw", "adagrad", "rmsprop", "adadelta")
EPOCH_SCHEDULES = ("step", "exponential", "cosine")

# Solvers' default decay rate rho (PyTorch's defaults: RMSprop's alpha, Adadelta's rho).
DEFAULT_RHO = {"rmsprop": 0.99, "adadelta": 0.9}

# learning_rate_init='auto': scikit-learn's 0.001 for its solvers (so that its defaults are kept
# exactly), torch.optim's defaults for the others. One shared rate cannot suit them all: Adagrad
# and Adadelta barely move at 0.001.
DEFAULT_LEARNING_RATE_INIT = {
    "sgd": 0.001, "adam": 0.001, "adamw": 0.001, "adagrad": 0.01, "rmsprop": 0.01,
    "adadelta": 1.0,
}
# lr_gamma='auto': PyTorch StepLR's usual 0.1 for 'step'; for 'exponential', whose factor applies
# every epoch, 0.95 (the rate halves in about 14 epochs). The other schedules do not use it.
DEFAULT_LR_GAMMA = {"step": 0.1, "exponential": 0.95}
_OTHER_LR_GAMMA = 0.1


def resolve_learning_rate_init(solver, learning_rate_init):
    """learning_rate_init as a number: DEFAULT_LEARNING_RATE_INIT[solver] for 'auto'."""
    if isinstance(learning_rate_init, str) and learning_rate_init == "auto":
        return DEFAULT_LEARNING_RATE_INIT[solver]
    return float(learning_rate_init)


def resolve_lr_gamma(schedule, lr_gamma):
    """lr_gamma as a number: DEFAULT_LR_GAMMA[schedule] for 'auto' (0.1 for schedules that do
    not use it)."""
    if isinstance(lr_gamma, str) and lr_gamma == "auto":
        return DEFAULT_LR_GAMMA.get(schedule, _OTHER_LR_GAMMA)
    return float(lr_gamma)

# Fields an optimizer is saved with (besides its state array and step count), by name: the
# saved file's ``optimizer`` field (_persistence), so a change here is a new format version.
HYPERPARAMETERS = (
    "solver", "learning_rate_init", "lr_schedule", "momentum", "nesterov", "power_t",
    "beta_1", "beta_2", "epsilon", "weight_decay", "rho", "max_iter", "lr_step_size",
    "lr_gamma", "lr_min", "warmup_epochs",
)
# Fields of the schedule's progress, saved by name.
PROGRESS = ("learning_rate", "rate", "epoch")


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


class Optimizer:
    """The state of a stochastic optimizer between epochs.

    ``learning_rate_init`` and ``lr_gamma`` may be 'auto' (see DEFAULT_LEARNING_RATE_INIT and
    DEFAULT_LR_GAMMA); the optimizer holds the numbers they resolve to.

    ``state`` is the per-parameter state (``_core.STATE_FACTOR`` values per parameter),
    ``step_count`` the steps taken (one per batch), ``rate`` the state of scikit-learn's
    schedules ('invscaling' and 'adaptive' change it), ``learning_rate`` the rate the coming
    epoch uses (set by ``epoch_begins``), ``epoch`` the epochs run with this state.
    """

    def __init__(self, solver, n_params, dtype, *, learning_rate_init="auto",
                 lr_schedule="constant", momentum=0.9, nesterov=True, power_t=0.5, beta_1=0.9,
                 beta_2=0.999, epsilon=1e-8, weight_decay=0.0, rho=None, max_iter=200,
                 lr_step_size=10, lr_gamma="auto", lr_min=0.0, warmup_epochs=0):
        if solver not in STOCHASTIC_SOLVERS:
            raise ValueError("solver %r is not a stochastic solver (%s)"
                             % (solver, ", ".join(STOCHASTIC_SOLVERS)))
        self.solver = solver
        self.learning_rate_init = resolve_learning_rate_init(solver, learning_rate_init)
        self.lr_schedule = lr_schedule
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.power_t = float(power_t)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.weight_decay = float(weight_decay)
        self.rho = float(DEFAULT_RHO.get(solver, 0.9) if rho is None else rho)
        self.max_iter = int(max_iter)
        self.lr_step_size = int(lr_step_size)
        self.lr_gamma = resolve_lr_gamma(lr_schedule, lr_gamma)
        self.lr_min = float(lr_min)
        self.warmup_epochs = int(warmup_epochs)
        self.learning_rate = self.learning_rate_init
        self.rate = self.learning_rate_init
        self.epoch = 0
        self.step_count = np.zeros(1, dtype=np.int64)
        self.state = aligned_zeros(_core.STATE_FACTOR * n_params, dtype)

    @property
    def step(self):
        """Optimizer steps taken so far (one per batch)."""
        return int(self.step_count[0])

    def matches(self, n_params, dtype):
        """Whether this state fits a parameter array of n_params values of dtype."""
        n_state = _core.STATE_FACTOR * n_params
        return self.state.shape == (n_state,) and self.state.dtype == dtype

    # ------------------------------------------------------------------ schedule

    def epoch_begins(self):
        """Sets learning_rate for the coming epoch."""
        if self.lr_schedule in EPOCH_SCHEDULES:
            rate = scheduled_learning_rate(
                self.lr_schedule, self.learning_rate_init, self.epoch, self.max_iter,
                self.lr_step_size, self.lr_gamma, self.lr_min,
            )
        else:
            rate = self.rate
        if self.epoch < self.warmup_epochs:
            rate *= warmup_factor(self.epoch, self.warmup_epochs)
        self.learning_rate = rate

    def iteration_ends(self, time_step):
        """Counts the epoch and applies the SGD 'invscaling' schedule after it (time_step: the
        samples seen so far)."""
        self.epoch += 1
        if self.solver == "sgd" and self.lr_schedule == "invscaling":
            self.rate = self.learning_rate_init / (time_step + 1) ** self.power_t

    def trigger_stopping(self, msg, verbose):
        """Decides whether training stops on a plateau (adaptive SGD divides the rate by 5)."""
        if self.solver != "sgd" or self.lr_schedule != "adaptive":
            if verbose:
                print(msg + " Stopping.")
            return True
        if self.rate <= 1e-6:
            if verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self.rate /= 5.0
        if verbose:
            print(msg + " Setting learning rate to %f" % self.rate)
        return False

    # ------------------------------------------------------------------ update

    def train(self, workspace, params, sums, X, Y, sample_weight, rows, batch_size, seed, epoch,
              position, check_x=False):
        """Trains params on the rows ``rows`` of X, Y (all in order when None) in batches of
        batch_size through the C core, at the epoch's learning_rate; updates params, the state,
        the step count and sums in place, also when it raises (see ``_core.train_epoch``, also
        for check_x)."""
        _core.train_epoch(
            workspace, params, self.state, self.step_count, sums, X, Y, sample_weight, rows,
            batch_size, seed, epoch, position, solver=self.solver,
            learning_rate=self.learning_rate, momentum=self.momentum, nesterov=self.nesterov,
            beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon,
            weight_decay=self.weight_decay, rho=self.rho, check_x=check_x,
        )

    # ------------------------------------------------------------------ persistence

    def fields(self):
        """The optimizer as named fields: hyperparameters and schedule progress (JSON values)
        and the ``state`` array; ``from_fields`` reads them back."""
        out = {name: getattr(self, name) for name in HYPERPARAMETERS + PROGRESS}
        out["step"] = self.step
        out["state"] = self.state
        return out

    @classmethod
    def from_fields(cls, fields):
        """An optimizer from ``fields()`` (or the attributes of an older version's optimizer:
        the step as an int ``step`` or a one-value array ``step_count``). KeyError, TypeError or
        ValueError when something is missing or malformed."""
        obj = cls.__new__(cls)
        for name in HYPERPARAMETERS + PROGRESS:
            value = fields[name]
            if name in ("solver", "lr_schedule"):
                if not isinstance(value, str):
                    raise TypeError("optimizer field %r is not a string" % name)
            elif name == "nesterov":
                value = bool(value)
            elif name in ("max_iter", "lr_step_size", "warmup_epochs", "epoch"):
                value = int(value)
            else:
                value = float(value)
            setattr(obj, name, value)
        if obj.solver not in STOCHASTIC_SOLVERS:
            raise ValueError("optimizer solver %r is not a stochastic solver" % (obj.solver,))
        if "step_count" in fields:
            step = np.asarray(fields["step_count"]).reshape(-1)
            if step.shape != (1,):
                raise ValueError("optimizer step count is not one value")
            step = int(step[0])
        else:
            step = int(fields.get("step") or 0)
        if step < 0:
            raise ValueError("optimizer step count is negative")
        obj.step_count = np.array([step], dtype=np.int64)
        state = fields["state"]
        if not isinstance(state, np.ndarray) or state.ndim != 1:
            raise TypeError("optimizer state is not a 1-D array")
        obj.state = aligned(state)
        return obj

    def __setstate__(self, state):
        # pickles written before the step lived in an array hold it as an int ``step``
        step = state.pop("step", None)
        self.__dict__.update(state)
        if "step_count" not in self.__dict__:
            self.step_count = np.array([step or 0], dtype=np.int64)
        if isinstance(self.__dict__.get("state"), np.ndarray):
            self.state = aligned(self.state)
