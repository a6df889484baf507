"""
==================
The activation zoo
==================

fastmlp has scikit-learn's four hidden activations (``identity``, ``logistic``, ``tanh``,
``relu``) and six more: ``leaky_relu`` (slope 0.01), ``prelu`` (one learned slope per unit,
starting at 0.25), ``elu``, ``softplus``, ``gelu`` and ``maxout`` (the largest of
``maxout_pieces`` linear pieces). Each matches PyTorch's function, forward and gradient.

The curves below are computed by fastmlp itself: a network with one input, one hidden unit of
the activation and one linear output, with unit weights and zero biases, predicts exactly the
activation of its input. The dashed lines are the curves' slopes, by finite differences.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_moons
from sklearn.exceptions import ConvergenceWarning

from fastmlp import MLPClassifier, MLPRegressor

warnings.filterwarnings("ignore", category=ConvergenceWarning)

x = np.linspace(-4, 4, 401).reshape(-1, 1)
names = ["relu", "leaky_relu", "prelu", "elu", "softplus", "gelu", "tanh", "logistic"]

fig, axes = plt.subplots(2, 4, figsize=(10, 4.6), sharex=True)
for name, ax in zip(names, axes.ravel()):
    net = MLPRegressor(hidden_layer_sizes=(1,), activation=name, solver="lbfgs", max_iter=1)
    net.fit(x, x.ravel())                      # any fit, to build the network
    net.coefs_[0][...] = 1.0                   # hidden unit: activation(1 * x + 0)
    net.intercepts_[0][...] = 0.0
    net.coefs_[1][...] = 1.0                   # linear output: 1 * hidden + 0
    net.intercepts_[1][...] = 0.0
    if name == "prelu":
        net.prelu_slopes_[0][...] = 0.25       # PReLU's initial slope
    y = net.predict(x)
    ax.plot(x.ravel(), y, lw=2)
    ax.plot(x.ravel(), np.gradient(y, x.ravel()), lw=1, ls="--", label="slope (differences)")
    ax.axhline(0, color="0.8", lw=0.5)
    ax.axvline(0, color="0.8", lw=0.5)
    ax.set_title(name)
axes[0, 0].legend(loc="upper left", fontsize="small")
fig.suptitle("hidden activations, as fastmlp computes them")
fig.tight_layout()

# %%
# Decision regions
# ----------------
# The same two-moons data, a 2-16-16-2 network per activation (``maxout`` with two pieces per
# unit), 300 epochs of Adam. Piecewise-linear activations give polygonal regions; smooth ones,
# smooth boundaries. The logistic units, whose gradient is at most 1/4, learn slowest: in the
# same 300 epochs their boundary is still almost a straight line.
X, y = make_moons(n_samples=300, noise=0.2, random_state=0)
grid_x, grid_y = np.meshgrid(np.linspace(-1.6, 2.6, 150), np.linspace(-1.2, 1.7, 120))
grid = np.c_[grid_x.ravel(), grid_y.ravel()]

fig, axes = plt.subplots(2, 4, figsize=(10, 4.6), sharex=True, sharey=True)
for name, ax in zip(["relu", "leaky_relu", "prelu", "elu", "gelu", "tanh", "logistic",
                     "maxout"], axes.ravel()):
    clf = MLPClassifier(hidden_layer_sizes=(16, 16), activation=name, max_iter=300,
                        learning_rate_init=0.01, random_state=0).fit(X, y)
    proba = clf.predict_proba(grid)[:, 1].reshape(grid_x.shape)
    ax.contourf(grid_x, grid_y, proba, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.8)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="RdBu_r", s=6, edgecolors="k", linewidths=0.2)
    ax.set_title(f"{name}: {clf.score(X, y):.2f}")
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("two moons: decision regions and training accuracy")
fig.tight_layout()
