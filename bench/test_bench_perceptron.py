"""pytest-benchmark suite: fastmlp.Perceptron against scikit-learn's Perceptron.

Run with ``pytest bench/test_bench_perceptron.py --benchmark-only``. Each group holds both
libraries on the same workload, 20 shuffled epochs (tol=None, so both run every epoch); compare
within a group, not across machines. No timing assertions: the checks only make sure the work
was done.
"""

import warnings

import numpy as np
import pytest
from sklearn.linear_model import Perceptron as SkPerceptron

from fastmlp import Perceptron

WORKLOADS = {
    "binary 20000x20": (20000, 20, 2),
    "binary 50000x100": (50000, 100, 2),
    "10 classes 20000x64": (20000, 64, 10),
}
EPOCHS = 20


def _data(n_samples, n_features, n_classes):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(n_samples, n_features))
    if n_classes == 2:
        y = (X @ rng.normal(size=n_features) + 0.3 * rng.normal(size=n_samples) > 0).astype(int)
    else:
        y = (X @ rng.normal(size=(n_features, n_classes))).argmax(axis=1)
    return X, y


@pytest.mark.parametrize("library", ["fastmlp", "sklearn"])
@pytest.mark.parametrize("workload", list(WORKLOADS))
def test_perceptron_fit(benchmark, workload, library):
    X, y = _data(*WORKLOADS[workload])
    cls = Perceptron if library == "fastmlp" else SkPerceptron
    est = cls(max_iter=EPOCHS, tol=None, shuffle=True, random_state=0)
    benchmark.group = f"perceptron fit, {EPOCHS} epochs: {workload}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # not separable: max_iter is reached on purpose
        benchmark.pedantic(est.fit, args=(X, y), rounds=3, iterations=1)
    assert est.n_iter_ == EPOCHS
    assert est.score(X, y) > 0.6
