"""fastmlp: fast multilayer perceptrons on the CPU with scikit-learn's API.

``MLPClassifier`` and ``MLPRegressor`` are drop-in replacements for scikit-learn's estimators of
the same names: same parameters, defaults, fitted attributes and maths, trained by a C + OpenMP
core one epoch per call.
"""

from importlib.metadata import PackageNotFoundError as _PackageNotFoundError
from importlib.metadata import version as _version

from . import datasets
from ._estimators import MLPClassifier, MLPRegressor, check_gradients
from ._onnx_export import to_onnx
from ._perceptron import Perceptron
from ._persistence import load
from ._sklearn_conversion import from_sklearn
from ._plotting import plot_learning_curves

try:
    # single source: the version in pyproject.toml, as installed
    __version__ = _version("fastmlp")
except _PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
del _PackageNotFoundError, _version

__all__ = [
    "MLPClassifier",
    "MLPRegressor",
    "Perceptron",
    "check_gradients",
    "datasets",
    "from_sklearn",
    "load",
    "plot_learning_curves",
    "to_onnx",
    "__version__",
]
