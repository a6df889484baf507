"""fastmlp: fast multilayer perceptrons on the CPU with scikit-learn's API.

``MLPClassifier`` and ``MLPRegressor`` are drop-in replacements for scikit-learn's estimators of
the same names: same parameters, defaults, fitted attributes and maths, trained by a C + OpenMP
core one epoch per call.
"""

from . import datasets
from ._multilayer_perceptron import MLPClassifier, MLPRegressor
from ._persistence import load

__version__ = "0.1.0"

__all__ = ["MLPClassifier", "MLPRegressor", "datasets", "load", "__version__"]
