"""Fixtures for the pytest-benchmark suites in bench/.

These benchmarks are not part of the test suite: run them with
``pytest bench/ --benchmark-only``.  Everything the benchmarks need comes in
through fixtures, so test_bench.py imports nothing from here.
"""

import warnings
from collections import namedtuple

import numpy as np
import pytest
from compare import make_estimator  # bench/ is on sys.path while its conftest is in use

LIBRARIES = ("fastmlp", "sklearn")
SEED = 0


class Workload(namedtuple("Workload", "name layers batch_size dtype n_samples dropout",
                          defaults=(0.0,))):
    """A net (layer sizes: input, hidden..., output), batch size, dtype, data size, and the
    hidden layers' dropout rate (compare.make_estimator reads it)."""

    __slots__ = ()

    @property
    def flops_per_sample(self):
        """Training FLOPs per sample: 6 * sum(fan_in * fan_out)."""
        return 6 * sum(a * b for a, b in zip(self.layers[:-1], self.layers[1:]))

    def make_data(self):
        """Synthetic classification data (X, y) shaped for this workload."""
        n_features, n_classes = self.layers[0], self.layers[-1]
        rng = np.random.default_rng(SEED)
        X = rng.random((self.n_samples, n_features))
        w = rng.standard_normal((n_features, n_classes))
        noise = 0.5 * rng.standard_normal((self.n_samples, n_classes))
        # centred features: every class about equally often (see compare.make_data)
        y = np.argmax((X - 0.5) @ w + noise, axis=1)
        return np.ascontiguousarray(X, dtype=self.dtype), y.astype(np.int64)


# Small enough that one benchmark takes a few seconds; bench/compare.py runs
# larger versions of the same nets.
TRAIN_WORKLOADS = (
    Workload("ref-784-512-256-10", (784, 512, 256, 10), 128, np.float32, 2048),
    Workload("tabular-20-64-64-2", (20, 64, 64, 2), 32, np.float32, 4000),
    Workload("digits-64-100-10", (64, 100, 10), 200, np.float32, 4000),
    Workload("ref-784-512-256-10-float64", (784, 512, 256, 10), 128, np.float64, 1024),
)
PREDICT_WORKLOAD = TRAIN_WORKLOADS[1]


def estimator_module(library):
    """The module holding ``library``'s MLPClassifier; skips the test if fastmlp is missing."""
    if library == "fastmlp":
        return pytest.importorskip("fastmlp")
    import sklearn.neural_network

    return sklearn.neural_network


@pytest.fixture(params=LIBRARIES)
def library(request):
    """Library under benchmark: 'fastmlp', or 'sklearn' for comparison."""
    return request.param


@pytest.fixture(params=TRAIN_WORKLOADS, ids=lambda w: w.name)
def train_workload(request):
    """One of the training workloads."""
    return request.param


@pytest.fixture
def predict_workload():
    """The workload whose single-sample predict_proba is timed."""
    return PREDICT_WORKLOAD


@pytest.fixture
def warmed_estimator(library):
    """Factory: ``(workload, X, y) -> MLPClassifier`` after one warm-up epoch.

    The estimator is set up so that each ``partial_fit(X, y)`` is one epoch of
    Adam; the warm-up ``partial_fit(X, y, classes=...)`` allocates and
    initialises it.
    """
    module = estimator_module(library)

    def make(workload, X, y):
        est = make_estimator(module, workload)  # the same set-up as bench/compare.py
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.partial_fit(X, y, classes=np.unique(y))
        return est

    return make
