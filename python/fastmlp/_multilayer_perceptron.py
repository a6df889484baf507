"""The estimators' earlier module name: pickles of fastmlp models name their classes here.

The estimators live in ``_estimators``; an optimizer pickled by an earlier version is restored
as a ``_optimizers.Optimizer``.
"""

from ._estimators import BaseMultilayerPerceptron, MLPClassifier, MLPRegressor
from ._optimizers import Optimizer as _Optimizer  # noqa: F401 (earlier pickles)

__all__ = ["BaseMultilayerPerceptron", "MLPClassifier", "MLPRegressor"]
