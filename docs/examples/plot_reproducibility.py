"""
=============================================
Bitwise reproducibility across thread counts
=============================================

With the same ``random_state``, fastmlp trains bitwise-identical weights whatever the number
of threads: every sum is added in the same order whichever thread computes it, and the random
numbers of the shuffle and of dropout masks are pure functions of the seed and the position.
Here the same model is trained with one thread and with all the threads allowed
(``threadpoolctl`` limits fastmlp as it limits OpenMP and BLAS libraries), and the weights are
compared bit for bit, by hashing their bytes.
"""

import hashlib
import os
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from fastmlp import MLPClassifier
from fastmlp.datasets import load_digits

warnings.filterwarnings("ignore", category=ConvergenceWarning)

X, y = load_digits()


def train(n_threads):
    # a network whose products are large enough to be shared between threads
    clf = MLPClassifier(hidden_layer_sizes=(512, 256), batch_size=256, dropout=0.2,
                        max_iter=8, random_state=0)
    with threadpool_limits(limits=n_threads):
        clf.fit(X, y)
    return clf


def digest(clf):
    h = hashlib.sha256()
    for array in clf.coefs_ + clf.intercepts_:
        h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()[:16]


thread_counts = sorted({1, 2, os.cpu_count() or 1})
models = {n: train(n) for n in thread_counts}
for n, clf in models.items():
    print(f"{n} thread(s): weights sha256 {digest(clf)}, final loss {clf.loss_!r}")
identical = len({digest(clf) for clf in models.values()}) == 1
print("bitwise identical:", identical)

# %%
# The loss curves lie on top of each other, and their difference is exactly zero.
fig, (ax, ax_diff) = plt.subplots(1, 2, figsize=(9, 3.2))
reference = np.array(models[1].loss_curve_)
for n, clf in models.items():
    ax.plot(clf.loss_curve_, ls="-" if n == 1 else "--", label=f"{n} thread(s)")
    ax_diff.plot(np.array(clf.loss_curve_) - reference, label=f"{n} thread(s)")
ax.set_xlabel("epoch")
ax.set_ylabel("training loss")
ax.legend()
ax_diff.set_xlabel("epoch")
ax_diff.set_ylabel("loss minus 1-thread loss")
ax_diff.set_title("bitwise identical" if identical else "differs")
fig.tight_layout()
