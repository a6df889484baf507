"""
===============
Initializations
===============

``init`` chooses how the initial weights are drawn from ``random_state`` (fan_in and fan_out
are the widths of a layer's input and output):

- ``'glorot_uniform'``: scikit-learn's draw, the default, U(-b, b) with
  ``b = sqrt(6 / (fan_in + fan_out))``;
- ``'glorot_normal'``: N(0, 2 / (fan_in + fan_out));
- ``'he_uniform'``, ``'he_normal'``: PyTorch's ``kaiming_*_(nonlinearity="relu")``, scaled by
  fan_in only, made for ReLU networks;
- ``'normal'``: the courses' small Gaussian N(0, ``init_std``\\ :sup:`2`).

A deep ReLU network shows why the scale matters: with weights too small the signal and the
gradients fade layer after layer, and training stalls.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from fastmlp import MLPClassifier
from fastmlp.datasets import load_digits

warnings.filterwarnings("ignore", category=ConvergenceWarning)

X, y = load_digits()
inits = ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "normal"]

# %%
# The first layer's initial weights (``max_iter=1`` with a learning rate too small to move
# them visibly).
fig, axes = plt.subplots(1, 5, figsize=(11, 2.6), sharey=True)
for init, ax in zip(inits, axes):
    clf = MLPClassifier(hidden_layer_sizes=(256,), init=init, max_iter=1,
                        learning_rate_init=1e-12, random_state=0).fit(X, y)
    w = clf.coefs_[0].ravel()
    ax.hist(w, bins=np.linspace(-0.4, 0.4, 41))
    ax.set_title(f"{init}\nstd {w.std():.3f}", fontsize="medium")
fig.tight_layout()

# %%
# Training loss of a 64-(64 x 6)-10 ReLU network, SGD with momentum. From ``'normal'``'s small
# weights (standard deviation 0.01) the loss does not move, and training stops after
# ``n_iter_no_change`` epochs without progress; He's initializations, made for ReLU, train
# fastest.
fig, ax = plt.subplots(figsize=(6, 3.6))
for init in inits:
    clf = MLPClassifier(hidden_layer_sizes=(64,) * 6, init=init, solver="sgd",
                        learning_rate_init=0.05, max_iter=30, random_state=0).fit(X, y)
    ax.plot(clf.loss_curve_, label=init)
ax.set_xlabel("epoch")
ax.set_ylabel("training loss")
ax.set_yscale("log")
ax.legend(fontsize="small")
fig.tight_layout()
