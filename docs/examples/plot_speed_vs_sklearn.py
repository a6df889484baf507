"""
====================================
fastmlp and scikit-learn: speed
====================================

The same network, data and number of epochs, trained by scikit-learn's and fastmlp's
``MLPClassifier`` in this process (the best of three fits each), both held to one thread with
``threadpoolctl`` (scikit-learn's matrix products run in OpenBLAS, whose threads lose much time
on a machine busy with other work). The figures are those of the machine that built this page:
the ratio, measured in one run, is what to look at. ``bench/compare.py`` in the repository measures one epoch of larger
networks against scikit-learn and PyTorch.
"""

import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier
from threadpoolctl import threadpool_limits

from fastmlp import MLPClassifier
from fastmlp.datasets import load_digits

warnings.filterwarnings("ignore", category=ConvergenceWarning)

X, y = load_digits()          # 1797 x 64, float32
epochs = 20
params = dict(hidden_layer_sizes=(100,), max_iter=epochs, tol=0, random_state=0)


def best_fit_time(estimator, X, y, repeats=3):
    times = []
    with threadpool_limits(limits=1):
        for _ in range(repeats):
            start = time.perf_counter()
            estimator.fit(X, y)
            times.append(time.perf_counter() - start)
    return min(times)


results = {}
for name, estimator, data in [
    ("scikit-learn (float64)", SklearnMLPClassifier(**params), X.astype(np.float64)),
    ("fastmlp (float64)", MLPClassifier(**params), X.astype(np.float64)),
    ("fastmlp (float32)", MLPClassifier(**params), X),
]:
    seconds = best_fit_time(estimator, data, y)
    results[name] = seconds
    print(f"{name:24s} {seconds * 1000:8.1f} ms for {epochs} epochs, "
          f"training accuracy {estimator.score(data, y):.3f}")

base = results["scikit-learn (float64)"]
for name, seconds in results.items():
    print(f"{name:24s} {base / seconds:5.1f}x scikit-learn's speed")

# %%
fig, ax = plt.subplots(figsize=(6, 2.6))
names = list(results)
samples_per_second = [epochs * len(X) / results[name] for name in names]
ax.barh(names, samples_per_second, color=["0.6", "C0", "C1"])
for i, name in enumerate(names):
    ax.text(samples_per_second[i], i, f" {base / results[name]:.1f}x", va="center")
ax.set_xlabel("training samples per second (digits, 64-100-10, Adam, 1 thread)")
ax.set_xlim(0, max(samples_per_second) * 1.2)
fig.tight_layout()
