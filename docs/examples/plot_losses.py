"""
=====================
Classification losses
=====================

``MLPClassifier(loss=...)`` chooses the training loss:

- ``'log_loss'`` (scikit-learn's): softmax cross-entropy; it gives ``predict_proba``.
- ``'hinge'``: the multiclass hinge loss of Weston and Watkins, as PyTorch's
  ``multi_margin_loss`` (margin 1): for a sample of class y with scores s,
  ``sum over j != y of max(0, 1 - s_y + s_j)`` divided by the number of classes.
- ``'perceptron'``: ``max_j s_j - s_y``, zero for samples classified right.

The margin losses use one linear output per class and give ``decision_function`` instead of
``predict_proba``.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from fastmlp import MLPClassifier
from fastmlp.datasets import load_digits

warnings.filterwarnings("ignore", category=ConvergenceWarning)

# %%
# For two classes each loss is a function of the margin ``m = s_y - s_other``: the log loss
# never reaches zero, the hinge loss is zero past a margin of 1, the perceptron loss past 0.
m = np.linspace(-3, 3, 301)
fig, ax = plt.subplots(figsize=(5.5, 3.4))
ax.plot(m, np.log1p(np.exp(-m)), label="log_loss: log(1 + exp(-m))")
ax.plot(m, np.maximum(0, 1 - m) / 2, label="hinge: max(0, 1 - m) / 2")
ax.plot(m, np.maximum(0, -m), label="perceptron: max(0, -m)")
ax.set_xlabel("margin m = s_y - s_other")
ax.set_ylabel("loss")
ax.legend()
fig.tight_layout()

# %%
# On the digits, the three losses train the same 64-64-10 network to similar accuracy.
X, y = load_digits()
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)
fig, ax = plt.subplots(figsize=(5.5, 3.4))
for loss in ["log_loss", "hinge", "perceptron"]:
    clf = MLPClassifier(hidden_layer_sizes=(64,), loss=loss, max_iter=40,
                        validation_data=(X_test, y_test), random_state=0).fit(X_train, y_train)
    ax.plot(clf.history_["val_score"], label=f"{loss}: {clf.score(X_test, y_test):.3f}")
ax.set_xlabel("epoch")
ax.set_ylabel("validation accuracy")
ax.set_ylim(0.8, 1.0)
ax.legend()
fig.tight_layout()
