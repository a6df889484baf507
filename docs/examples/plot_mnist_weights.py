"""
===========================
MNIST: first-layer weights
===========================

The weights of a hidden unit in the first layer have one value per input pixel: drawn as a
28 x 28 image, they show the stroke patterns the unit responds to. This example trains on a
subset of MNIST when the IDX files are at hand (``$FASTMLP_DATA/mnist``, or ``shared/data/mnist``
next to the repository), and on scikit-learn's 8 x 8 digits otherwise (nothing is downloaded).
"""

import os
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from sklearn.exceptions import ConvergenceWarning

from fastmlp import MLPClassifier
from fastmlp.datasets import load_digits, load_mnist

warnings.filterwarnings("ignore", category=ConvergenceWarning)  # few epochs on purpose


def find_mnist():
    """The folder of the MNIST IDX files, or None."""
    candidates = []
    if os.environ.get("FASTMLP_DATA"):
        candidates.append(Path(os.environ["FASTMLP_DATA"]) / "mnist")
    for folder in [Path.cwd(), *Path.cwd().parents]:
        candidates.append(folder / "shared" / "data" / "mnist")
    for candidate in candidates:
        if (candidate / "train-images-idx3-ubyte.gz").exists() or (
            candidate / "train-images-idx3-ubyte"
        ).exists():
            return candidate
    return None


folder = find_mnist()
if folder is not None:
    X_train, y_train = load_mnist(folder, "train")
    X_test, y_test = load_mnist(folder, "test")
    X_train, y_train = X_train[:10_000], y_train[:10_000]    # a subset keeps this quick
    side, name, epochs = 28, "MNIST (10,000 training images)", 15
else:
    X, y = load_digits()
    X_train, X_test, y_train, y_test = X[:1400], X[1400:], y[:1400], y[1400:]
    side, name, epochs = 8, "digits (MNIST files not found)", 100

# A strong L2 penalty (``alpha=1.0``) keeps the weights of pixels that carry no information
# near zero, which makes the patterns smooth enough to see, at a small cost in accuracy. The
# small digits set needs more epochs.
clf = MLPClassifier(hidden_layer_sizes=(32,), alpha=1.0, max_iter=epochs, batch_size=128,
                    random_state=0)
clf.fit(X_train, y_train)
print(f"{name}: test accuracy {clf.score(X_test, y_test):.4f}")

# %%
# One image per hidden unit, on a symmetric colour scale per unit.
weights = clf.coefs_[0]                       # shape (n_pixels, n_hidden)
fig, axes = plt.subplots(4, 8, figsize=(8, 4.4))
for unit, ax in enumerate(axes.ravel()):
    w = weights[:, unit].reshape(side, side)
    limit = np.abs(w).max()
    ax.imshow(w, cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle(f"first-layer weights, {name}")
fig.tight_layout()
