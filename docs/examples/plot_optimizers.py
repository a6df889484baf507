"""
======================================
Optimizers and learning-rate schedules
======================================

``solver`` picks the optimizer: scikit-learn's ``sgd`` (with momentum and Nesterov), ``adam``
and ``lbfgs``, and PyTorch's update rules for ``adamw``, ``adagrad``, ``rmsprop`` and
``adadelta``. ``learning_rate_init='auto'`` is each solver's usual rate.

``learning_rate`` picks the schedule of the stochastic solvers: scikit-learn's ``constant``,
``invscaling`` and ``adaptive``, and PyTorch's ``step``, ``exponential`` and ``cosine``, each
with an optional linear warm-up (``warmup_epochs``). ``history_["learning_rate"]`` records the
rate of every epoch.
"""

import warnings

import matplotlib.pyplot as plt
from sklearn.exceptions import ConvergenceWarning

from fastmlp import MLPClassifier
from fastmlp.datasets import load_digits

warnings.filterwarnings("ignore", category=ConvergenceWarning)

X, y = load_digits()

# %%
# Optimizers
# ----------
# Training loss per epoch on the digits (64-64-10, batches of 200, each solver at its own
# default rate; ``sgd`` at 0.1 with momentum 0.9). ``adam`` and ``adamw`` overlap: at this rate,
# AdamW's decoupled weight decay (0.01) shrinks the weights by 1e-5 a step, which hardly shows
# in 40 epochs.
fig, ax = plt.subplots(figsize=(6, 3.6))
for solver in ["sgd", "adam", "adamw", "adagrad", "rmsprop", "adadelta"]:
    rate = 0.1 if solver == "sgd" else "auto"
    clf = MLPClassifier(hidden_layer_sizes=(64,), solver=solver, learning_rate_init=rate,
                        max_iter=40, random_state=0).fit(X, y)
    ax.plot(clf.loss_curve_, ls="--" if solver == "adamw" else "-",
            label=f"{solver} (lr {clf.learning_rate_init_:g})")
ax.set_xlabel("epoch")
ax.set_ylabel("training loss")
ax.set_yscale("log")
ax.legend(fontsize="small")
fig.tight_layout()

# %%
# Schedules
# ---------
# The learning rate of each epoch, as training used it (Adam from 0.01, 40 epochs).
fig, ax = plt.subplots(figsize=(6, 3.6))
schedules = {
    "constant": {},
    "step (10 epochs, x0.5)": {"learning_rate": "step", "lr_step_size": 10, "lr_gamma": 0.5},
    "exponential (x0.9)": {"learning_rate": "exponential", "lr_gamma": 0.9},
    "cosine": {"learning_rate": "cosine"},
    "cosine + 5 warm-up epochs": {"learning_rate": "cosine", "warmup_epochs": 5},
}
for title, params in schedules.items():
    clf = MLPClassifier(hidden_layer_sizes=(64,), learning_rate_init=0.01, max_iter=40,
                        tol=0, random_state=0, **params).fit(X, y)
    ax.plot(clf.history_["learning_rate"], label=title)
ax.set_xlabel("epoch")
ax.set_ylabel("learning rate")
ax.legend(fontsize="small")
fig.tight_layout()
