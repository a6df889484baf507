"""Writes the format-1 fixtures (format1_*.npz, format1_*.pkl) and what they must give
(format1_expected.npz). Run once, at commit 904d1ce, before the save format changed:
the fixtures are the files that fastmlp wrote then, and later versions must keep reading them.

    python tests/data/make_format1.py

A later change of the core's numbers on purpose re-records only what the fixtures must give,
from the fixture files as that version loads them (the fixtures themselves stay as written):

    python tests/data/make_format1.py --expected
"""

import os
import pickle
import sys
import warnings

import numpy as np
from sklearn.datasets import load_digits, load_iris

import fastmlp

HERE = os.path.dirname(os.path.abspath(__file__))


def data():
    X, y = load_iris(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    Xd, yd = load_digits(return_X_y=True)
    return X, y, Xd[:300] / 16.0, yd[:300]


def models():
    X, y, Xd, yd = data()
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    out = {}
    out["classifier"] = fastmlp.MLPClassifier((8,), max_iter=30, random_state=0).fit(X, labels)
    out["regressor"] = fastmlp.MLPRegressor(
        hidden_layer_sizes=(6, 4), solver="sgd", learning_rate="invscaling", max_iter=25, random_state=1
    ).fit(X[:, :3], X[:, 3])
    out["early_stopping"] = fastmlp.MLPClassifier(
        (10,), early_stopping=True, max_iter=40, random_state=2
    ).fit(Xd, yd)
    out["bn_prelu"] = fastmlp.MLPClassifier(
        (7, 5), activation="prelu", batch_norm=True, max_iter=15, random_state=3
    ).fit(X, y)
    mid = fastmlp.MLPClassifier((9,), solver="adam", random_state=4)
    for _ in range(3):
        mid.partial_fit(Xd, yd, classes=np.arange(10))
    out["adam_partial"] = mid
    out["float32_maxout"] = fastmlp.MLPRegressor(
        hidden_layer_sizes=(5,), activation="maxout", maxout_pieces=3, solver="rmsprop", max_iter=10, random_state=5
    ).fit(X[:, :3].astype(np.float32), X[:, 3].astype(np.float32))
    return out


def continue_training(name, model):
    """What each fixture is checked with after loading: one more partial_fit epoch (or a
    warm-start fit for the early-stopping model, whose partial_fit is refused)."""
    X, y, Xd, yd = data()
    if name == "classifier":
        model.partial_fit(X, np.array(["setosa", "versicolor", "virginica"])[y])
    elif name == "regressor":
        model.partial_fit(X[:, :3], X[:, 3])
    elif name == "early_stopping":
        model.set_params(warm_start=True, max_iter=3).fit(Xd, yd)
    elif name == "bn_prelu":
        model.partial_fit(X, y)
    elif name == "adam_partial":
        model.partial_fit(Xd, yd)
    elif name == "float32_maxout":
        model.partial_fit(X[:, :3].astype(np.float32), X[:, 3].astype(np.float32))
    return model


def inputs(name):
    X, y, Xd, yd = data()
    if name in ("early_stopping", "adam_partial"):
        return Xd
    if name in ("regressor",):
        return X[:, :3]
    if name == "float32_maxout":
        return X[:, :3].astype(np.float32)
    return X


def outputs(name, model):
    X = inputs(name)
    if hasattr(model, "predict_proba"):
        return model.predict_proba(X)
    return model.predict(X)


def main():
    warnings.simplefilter("ignore")
    expected = {}
    for name, model in models().items():
        model.save(os.path.join(HERE, "format1_%s.npz" % name))
        expected[name + "_before"] = outputs(name, model)
        if name == "adam_partial":
            with open(os.path.join(HERE, "format1_%s.pkl" % name), "wb") as f:
                pickle.dump(model, f)
        continue_training(name, model)
        expected[name + "_after"] = outputs(name, model)
        expected[name + "_params_after"] = model._params.copy()
    np.savez(os.path.join(HERE, "format1_expected.npz"), **expected)


def rerecord_expected():
    """format1_expected.npz from the fixture files as this version loads and continues them."""
    warnings.simplefilter("ignore")
    expected = {}
    for name in models_names():
        model = fastmlp.load(os.path.join(HERE, "format1_%s.npz" % name))
        expected[name + "_before"] = outputs(name, model)
        continue_training(name, model)
        expected[name + "_after"] = outputs(name, model)
        expected[name + "_params_after"] = model._params.copy()
    np.savez(os.path.join(HERE, "format1_expected.npz"), **expected)


def models_names():
    return ["classifier", "regressor", "early_stopping", "bn_prelu", "adam_partial",
            "float32_maxout"]


if __name__ == "__main__":
    if sys.argv[1:] == ["--expected"]:
        rerecord_expected()
    else:
        main()
