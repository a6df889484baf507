"""Learning-curve plots of a fitted estimator's ``history_`` (matplotlib, an optional extra)."""

import numpy as np
from sklearn.base import is_classifier
from sklearn.utils.validation import check_is_fitted


def plot_learning_curves(estimator, ax=None):
    """Plot the loss and the score per epoch, training against validation.

    Parameters
    ----------
    estimator : MLPClassifier or MLPRegressor
        A model fitted by a stochastic solver ('sgd' or 'adam'), whose ``history_`` holds the
        per-epoch curves. The validation curves are drawn when the fit had validation data
        (``validation_data`` or ``early_stopping=True``).
    ax : sequence of two matplotlib Axes, default=None
        The axes for the loss and the score; None makes a new figure with two side by side.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure holding the two axes.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        When the estimator is not fitted.
    ValueError
        When it has no history (fitted by 'lbfgs', or not a fastmlp estimator), or ``ax`` is
        not two Axes.
    ImportError
        When matplotlib is not installed (``pip install "fastmlp[plot]"``).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_digits
    >>> from fastmlp import MLPClassifier, plot_learning_curves
    >>> X, y = load_digits(return_X_y=True)
    >>> model = MLPClassifier(max_iter=5, early_stopping=True, random_state=0)
    >>> model = model.fit(X / 16, y)
    >>> fig = plot_learning_curves(model)
    >>> [axis.get_title() for axis in fig.axes]
    ['Loss per epoch', 'Score per epoch']
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "plot_learning_curves needs matplotlib, an optional dependency of fastmlp: "
            'install it with pip install "fastmlp[plot]" (or pip install matplotlib).'
        ) from exc

    check_is_fitted(estimator)
    history = getattr(estimator, "history_", None)
    if not isinstance(history, dict) or not history.get("loss"):
        raise ValueError(
            "%s has no per-epoch history_ to plot: history_ is recorded by the stochastic "
            "solvers ('sgd', 'adam'), not by solver=%r."
            % (type(estimator).__name__, getattr(estimator, "solver", None))
        )

    if ax is None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    else:
        axes = list(np.ravel(np.asarray(ax, dtype=object)))
        if len(axes) != 2 or not all(hasattr(a, "plot") for a in axes):
            raise ValueError(
                "ax must be a sequence of two matplotlib Axes (loss, score); got %r." % (ax,)
            )
        fig = axes[0].figure

    epochs = np.arange(1, len(history["loss"]) + 1)
    score_name = "accuracy" if is_classifier(estimator) else "R²"
    panels = (("loss", "val_loss", "Loss", "loss"), ("score", "val_score", score_name, "score"))
    for axis, (train_key, val_key, label, title) in zip(axes, panels):
        axis.plot(epochs, history[train_key], label="training")
        if val_key in history and np.isfinite(np.asarray(history[val_key], float)).any():
            axis.plot(epochs, history[val_key], label="validation")
        axis.set_xlabel("epoch")
        axis.set_ylabel(label)
        axis.set_title("%s per epoch" % title.capitalize())
        axis.legend()
    return fig
