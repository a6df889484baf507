"""
=========================================
Regularization, dropout and batch norm
=========================================

Four ways to keep a network from memorizing its training data:

- ``alpha``: scikit-learn's L2 penalty ``0.5 * alpha * sum(W**2) / batch_size`` on the weights;
- ``alpha_l1``: an L1 penalty ``alpha_l1 * sum(abs(W)) / batch_size``, which pulls many
  weights to zero (trained by (sub)gradient steps, they end near zero rather than exactly on
  it);
- ``dropout``: inverted dropout on the hidden layers' outputs while training;
- ``batch_norm=True``: batch normalization between each hidden layer's dense part and its
  activation, as PyTorch's ``BatchNorm1d``.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from fastmlp import MLPClassifier
from fastmlp.datasets import load_digits

warnings.filterwarnings("ignore", category=ConvergenceWarning)

X, y = load_digits()
# a small training set, so that the network can overfit it
X_train, X_val, y_train, y_val = train_test_split(X, y, train_size=300, test_size=600, stratify=y,
                                                  random_state=0)

# %%
# Weight penalties
# ----------------
# The first layer's weights after 100 epochs, and the share of them within 0.001 of zero: L2
# shrinks them all, L1 gathers many at zero.
settings = {"no penalty": {}, "alpha=0.5 (L2)": {"alpha": 0.5},
            "alpha_l1=0.2 (L1)": {"alpha_l1": 0.2}}
fig, axes = plt.subplots(1, 3, figsize=(10, 3), sharey=True)
for (title, params), ax in zip(settings.items(), axes):
    clf = MLPClassifier(hidden_layer_sizes=(128,), max_iter=100, random_state=0, **params)
    clf.fit(X_train, y_train)
    w = clf.coefs_[0].ravel()
    ax.hist(w, bins=np.linspace(-0.6, 0.6, 61))
    ax.set_title(f"{title}\nval. acc. {clf.score(X_val, y_val):.3f}, "
                 f"{np.mean(np.abs(w) < 1e-3):.0%} near 0", fontsize="medium")
    ax.set_xlabel("first-layer weight")
axes[0].set_ylabel("count")
fig.tight_layout()

# %%
# Dropout and batch normalization
# -------------------------------
# Validation loss per epoch (Adam at 0.01): without regularization it turns up after about 20
# epochs, once the network has memorized the 300 training images; with dropout, batch
# normalization or both it goes lower.
fig, ax = plt.subplots(figsize=(6, 3.6))
for title, params in {"plain": {}, "dropout=0.5": {"dropout": 0.5},
                      "batch_norm=True": {"batch_norm": True},
                      "both": {"dropout": 0.5, "batch_norm": True}}.items():
    clf = MLPClassifier(hidden_layer_sizes=(128, 128), max_iter=60, alpha=0.0,
                        learning_rate_init=0.01, validation_data=(X_val, y_val),
                        random_state=0, **params)
    clf.fit(X_train, y_train)
    ax.plot(clf.history_["val_loss"], label=f"{title}: {clf.score(X_val, y_val):.3f}")
ax.set_xlabel("epoch")
ax.set_ylabel("validation loss")
ax.set_yscale("log")
ax.legend(title="validation accuracy")
fig.tight_layout()
