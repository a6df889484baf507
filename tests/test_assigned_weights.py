"""Weights assigned to coefs_ / intercepts_ (how users copy a scikit-learn model's weights):
predict reads them where they are, follows later in-place edits as scikit-learn does, and
gives the bits of the packed path."""

import warnings

import numpy as np
import pytest
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor

from fastmlp import MLPClassifier, MLPRegressor, _core, _predict


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 12))
    y = rng.integers(0, 3, 300)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = SkMLPClassifier(hidden_layer_sizes=(16, 8), max_iter=5, random_state=0).fit(X, y)
        fm = MLPClassifier(hidden_layer_sizes=(16, 8), max_iter=1, random_state=1).fit(X, y)
    fm.coefs_ = [c.copy() for c in sk.coefs_]
    fm.intercepts_ = [b.copy() for b in sk.intercepts_]
    return X, sk, fm


def test_assigned_weights_predict_as_scikit_learn(pair):
    X, sk, fm = pair
    np.testing.assert_allclose(fm.predict_proba(X), sk.predict_proba(X), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(fm.predict(X), sk.predict(X))
    # the same bits as packing the assigned arrays into a flat array first
    packed = _predict.outputs(fm._model_state(bind=False), X)
    np.testing.assert_array_equal(fm.predict_proba(X), packed)


def test_assigned_weights_are_read_in_place(pair, monkeypatch):
    X, sk, fm = pair
    calls = []
    original = _core.predict_layers
    monkeypatch.setattr(_core, "predict_layers",
                        lambda *a, **k: calls.append(1) or original(*a, **k))
    fm.predict_proba(X[:1])
    assert calls, "assigned arrays went through the packing path"
    # in-place edits are followed, as in scikit-learn
    fm.coefs_[0][0, 0] += 3.0
    sk.coefs_[0][0, 0] += 3.0
    fm.intercepts_[1][2] -= 1.0
    sk.intercepts_[1][2] -= 1.0
    np.testing.assert_allclose(fm.predict_proba(X), sk.predict_proba(X), rtol=0, atol=1e-12)


def test_assigned_weights_of_another_dtype_or_layout_still_predict(pair):
    X, sk, fm = pair
    fm.coefs_ = [np.asfortranarray(c) for c in sk.coefs_]  # not C-contiguous: packed instead
    np.testing.assert_allclose(fm.predict_proba(X), sk.predict_proba(X), rtol=0, atol=1e-12)
    fm.coefs_ = [c.astype(np.float32) for c in sk.coefs_]
    fm.intercepts_ = [b.astype(np.float32) for b in sk.intercepts_]
    np.testing.assert_allclose(fm.predict_proba(X.astype(np.float32)), sk.predict_proba(X),
                               atol=1e-5)


def test_assigned_weights_of_wrong_shape_are_an_error(pair):
    X, sk, fm = pair
    fm.coefs_ = [sk.coefs_[0][:, :5]] + list(sk.coefs_[1:])
    with pytest.raises(ValueError):
        fm.predict_proba(X)


def test_assigned_regressor_weights():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((200, 6))
    y = X @ rng.standard_normal(6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = SkMLPRegressor(hidden_layer_sizes=(10,), max_iter=20, random_state=0).fit(X, y)
        fm = MLPRegressor(hidden_layer_sizes=(10,), max_iter=1, random_state=0).fit(X, y)
    fm.coefs_ = [c.copy() for c in sk.coefs_]
    fm.intercepts_ = [b.copy() for b in sk.intercepts_]
    np.testing.assert_allclose(fm.predict(X), sk.predict(X), rtol=0, atol=1e-12)
