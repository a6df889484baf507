"""
===============
Learning curves
===============

Every stochastic solver records per-epoch learning curves in ``history_``: the training loss
and score, the validation loss and score (with ``validation_data`` or ``early_stopping``), the
epoch's time and learning rate. :func:`fastmlp.plot_learning_curves` draws them: the gap between
the training and the validation curves is the model's overfitting.
"""

import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from fastmlp import MLPClassifier, plot_learning_curves
from fastmlp.datasets import load_digits

warnings.filterwarnings("ignore", category=ConvergenceWarning)  # max_iter on purpose

X, y = load_digits()
X_train, X_val, y_train, y_val = train_test_split(X, y, stratify=y, random_state=0)

# %%
# A wide network, trained for 60 epochs with a cosine learning-rate schedule and 3 epochs of
# warm-up, scored on the held-out data after every epoch.
clf = MLPClassifier(hidden_layer_sizes=(256,), max_iter=60, learning_rate="cosine",
                    warmup_epochs=3, validation_data=(X_val, y_val), random_state=0)
clf.fit(X_train, y_train)
print(f"{clf.n_iter_} epochs, validation accuracy {clf.score(X_val, y_val):.3f}")
print("history_ keys:", sorted(clf.history_))

fig = plot_learning_curves(clf)
fig.suptitle("digits, 64-256-10, Adam with a cosine schedule")

# %%
# With ``early_stopping=True`` the validation split comes from the training data
# (``validation_fraction``) and training stops once the validation score has not improved
# for ``n_iter_no_change`` epochs; the model ends on the best epoch's weights.
stopped = MLPClassifier(hidden_layer_sizes=(256,), max_iter=200, early_stopping=True,
                        n_iter_no_change=5, random_state=0).fit(X_train, y_train)
print(f"early stopping after {stopped.n_iter_} epochs, "
      f"best validation score {stopped.best_validation_score_:.3f}")
fig = plot_learning_curves(stopped)
