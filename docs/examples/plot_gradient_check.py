"""
=================
Gradient checking
=================

:func:`fastmlp.check_gradients` compares the C core's backward pass with five-point central
differences of the loss computed in float64, and returns the largest relative error. It is the
check a course asks for after writing backpropagation by hand, here run on the library itself:
every activation and loss, with the L2 and L1 penalties, dropout (one fixed mask) and batch
normalization. fastmlp's tests keep it below 1e-6 for every activation and loss, with dropout
and batch norm; a wrong gradient gives errors of order 1.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from fastmlp import MLPClassifier, check_gradients

warnings.filterwarnings("ignore", category=ConvergenceWarning)

rng = np.random.RandomState(0)
X = rng.randn(20, 5)
y = rng.randint(0, 3, 20)

activations = ["identity", "logistic", "tanh", "relu", "leaky_relu", "prelu", "elu",
               "softplus", "gelu", "maxout"]
options = {"log_loss": {}, "hinge": {"loss": "hinge"},
           "L2 + L1 + dropout": {"alpha": 0.1, "alpha_l1": 0.01, "dropout": 0.3},
           "batch norm": {"batch_norm": True}}

errors = np.zeros((len(options), len(activations)))
for i, params in enumerate(options.values()):
    for j, activation in enumerate(activations):
        model = MLPClassifier(hidden_layer_sizes=(6, 4), activation=activation, max_iter=2,
                              random_state=0, **params).fit(X, y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")          # a parameter on a kink is skipped
            errors[i, j] = check_gradients(model, X, y)
print(f"largest relative error: {errors.max():.1e}")

# %%
# Largest relative error between the analytic and the numerical gradient, per activation and
# option (float64).
fig, ax = plt.subplots(figsize=(9, 3.2))
width = 0.2
for i, name in enumerate(options):
    ax.bar(np.arange(len(activations)) + (i - 1.5) * width, np.maximum(errors[i], 1e-12),
           width, label=name)
ax.set_xticks(np.arange(len(activations)), activations, rotation=30)
ax.set_yscale("log")
ax.set_ylim(1e-12, 1e-5)
ax.axhline(1e-6, color="k", lw=0.8, ls="--")
ax.set_ylabel("relative error")
ax.legend(fontsize="small", ncol=2)
fig.tight_layout()
