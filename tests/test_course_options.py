"""The course's options through the estimators: gradients, reproducibility, behaviour.

Backpropagation of every hidden activation x loss, with dropout (a fixed mask) and batch norm,
against float64 central differences (``fastmlp.check_gradients``); training bitwise
reproducible run after run; the margin losses' API. The PyTorch references of each activation,
loss and solver are in test_torch_reference.py.
"""

import warnings

import numpy as np
import pytest
from scipy.special import softmax
from sklearn.exceptions import ConvergenceWarning

from fastmlp import MLPClassifier, MLPRegressor, check_gradients

ACTIVATIONS = [
    "identity",
    "logistic",
    "tanh",
    "relu",
    "leaky_relu",
    "prelu",
    "elu",
    "maxout",
    "softplus",
    "gelu",
]
CLASSIFIER_OPTIONS = [
    {},
    {"loss": "hinge"},
    {"loss": "perceptron"},
    {"dropout": 0.3},
    {"batch_norm": True},
    {"batch_norm": True, "dropout": [0.2, 0.4], "alpha_l1": 0.05},
]

quiet = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data(n_samples=15, n_features=4, n_classes=3, seed=0):
    rng = np.random.RandomState(seed)
    return rng.randn(n_samples, n_features), rng.randint(0, n_classes, n_samples)


@quiet
@pytest.mark.parametrize("options", CLASSIFIER_OPTIONS, ids=repr)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_classifier_gradients_match_central_differences(activation, options):
    X, y = _data()
    model = MLPClassifier((5, 4), activation=activation, max_iter=1, random_state=0, **options)
    model.fit(X, y)
    errors = check_gradients(model, X, y, per_array=True)
    assert max(errors.values()) < 1e-6, errors
    # every trainable array is checked
    assert "coefs_[2]" in errors and "intercepts_[0]" in errors
    if activation == "prelu":
        assert "prelu_slopes_[1]" in errors
    if options.get("batch_norm"):
        assert "batch_norm_scales_[0]" in errors and "batch_norm_shifts_[1]" in errors


@quiet
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_regressor_gradients_match_central_differences(activation, weighted):
    rng = np.random.RandomState(1)
    X, y = rng.randn(12, 3), rng.randn(12, 2)
    sw = rng.uniform(0.5, 2, 12) if weighted else None
    model = MLPRegressor(
        hidden_layer_sizes=(6,),
        activation=activation,
        batch_norm=True,
        dropout=0.25,
        alpha=0.3,
        max_iter=1,
        random_state=0,
    ).fit(X, y, sample_weight=sw)
    assert check_gradients(model, X, y, sample_weight=sw) < 1e-6


@quiet
def test_check_gradients_finds_a_wrong_gradient(monkeypatch):
    """The check can fail: a backward pass off by a factor is reported."""
    from fastmlp import _core, _gradcheck

    real = _core.loss_grad

    def scaled(workspace, params, X, Y, sw, grad):
        loss = real(workspace, params, X, Y, sw, grad)
        grad[0] *= 1.01
        return loss

    monkeypatch.setattr(_gradcheck._core, "loss_grad", scaled)
    X, y = _data()
    model = MLPClassifier((5,), activation="tanh", max_iter=1, random_state=0).fit(X, y)
    errors = check_gradients(model, X, y, per_array=True)
    assert errors["coefs_[0]"] > 1e-3
    assert errors["coefs_[1]"] < 1e-6


# Networks and data where, at check_gradients' 1e-4 step, some parameters sit within a step of a
# kink (a ReLU's zero, maxout's arg max, a hinge or perceptron margin): before the check was
# kink-aware, 7 of the 180 checks of each setup exceeded 1e-5 (up to 2e-2 and 1.07).
_KINK_SETUPS = {"(5, 4) x 15 rows": ((5, 4), 15), "(5,) x 12 rows": ((5,), 12)}


@quiet
@pytest.mark.parametrize("setup", sorted(_KINK_SETUPS))
@pytest.mark.parametrize("loss", ["log_loss", "hinge", "perceptron"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_check_gradients_has_no_false_alarms_at_kinks(activation, loss, setup):
    hidden, n_samples = _KINK_SETUPS[setup]
    errors = []
    for seed in range(6):
        X, y = _data(n_samples, 4, 3, seed=seed)
        model = MLPClassifier(hidden, activation=activation, loss=loss, max_iter=1,
                              random_state=0).fit(X, y)
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)  # nothing skipped either
            errors.append(check_gradients(model, X, y))
    assert max(errors) < 1e-6, errors


def _scaled_gradient(monkeypatch, factor, index=None):
    """Makes the C core's gradient, as check_gradients sees it, factor times the true one (at
    every entry, or at entry index only)."""
    from fastmlp import _core, _gradcheck

    real = _core.loss_grad

    def wrong(workspace, params, X, Y, sw, grad):
        loss = real(workspace, params, X, Y, sw, grad)
        if index is None:
            grad *= factor
        else:
            grad[index] *= factor
        return loss

    monkeypatch.setattr(_gradcheck._core, "loss_grad", wrong)


@quiet
@pytest.mark.parametrize("activation, loss", [("relu", "hinge"), ("maxout", "perceptron"),
                                              ("leaky_relu", "log_loss")])
def test_check_gradients_catches_wrong_gradients_near_kinks(monkeypatch, activation, loss):
    """The models with the kinks above: a gradient 0.1% too large is reported in every array,
    and a wrong sign of one weight's gradient in that weight's array."""
    X, y = _data(12, 4, 3, seed=4 if loss == "hinge" else 5)
    model = MLPClassifier((5,), activation=activation, loss=loss, max_iter=1,
                          random_state=0).fit(X, y)
    assert check_gradients(model, X, y) < 1e-6
    _scaled_gradient(monkeypatch, 1.001)
    errors = check_gradients(model, X, y, per_array=True)
    assert all(error > 5e-4 for error in errors.values()), errors
    monkeypatch.undo()
    _scaled_gradient(monkeypatch, -1.0, index=3)
    errors = check_gradients(model, X, y, per_array=True)
    assert errors["coefs_[0]"] > 1.0 and errors["coefs_[1]"] < 1e-6, errors


@quiet
def test_check_gradients_skips_parameters_on_a_kink():
    """A hidden ReLU unit whose pre-activation is zero for a sample has no derivative with
    respect to its bias: that parameter is skipped, with a warning naming it, and the others
    are still checked."""
    X, y = _data(15, 4, 3, seed=0)
    model = MLPClassifier((5,), activation="relu", max_iter=1, random_state=0).fit(X, y)
    model.intercepts_[0][2] = -(X[0] @ model.coefs_[0][:, 2])
    with pytest.warns(UserWarning, match=r"skipped .*intercepts_\[0\]\[2\]"):
        errors = check_gradients(model, X, y, per_array=True)
    assert max(errors.values()) < 1e-6, errors


def test_check_gradients_needs_a_fitted_model():
    from sklearn.exceptions import NotFittedError

    X, y = _data()
    with pytest.raises(NotFittedError):
        check_gradients(MLPClassifier(), X, y)


@quiet
@pytest.mark.parametrize(
    "options",
    [
        {"activation": "prelu", "batch_norm": True, "dropout": 0.3},
        {"activation": "maxout", "maxout_pieces": 3, "solver": "adamw"},
        {"activation": "gelu", "solver": "rmsprop", "dropout": [0.5]},
        {"activation": "elu", "solver": "adagrad", "loss": "hinge"},
        {"activation": "softplus", "solver": "adadelta", "learning_rate_init": 1.0},
    ],
    ids=repr,
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_training_is_reproducible(options, dtype):
    X, y = _data(200, 8, 3)
    X = X.astype(dtype)
    fits = [
        MLPClassifier((16,), max_iter=5, batch_size=32, random_state=3, **options).fit(X, y)
        for _ in range(2)
    ]
    a, b = (np.concatenate([np.ravel(c) for c in f.coefs_]) for f in fits)
    assert a.dtype == dtype
    assert a.tobytes() == b.tobytes()
    assert fits[0].loss_curve_ == fits[1].loss_curve_
    other = MLPClassifier((16,), max_iter=5, batch_size=32, random_state=4, **options).fit(X, y)
    assert not np.array_equal(other.coefs_[0], fits[0].coefs_[0])


@quiet
def test_dropout_zero_is_no_dropout_and_dropout_changes_training():
    X, y = _data(100, 6, 3)
    base = MLPClassifier((32,), max_iter=5, random_state=0).fit(X, y)
    zero = MLPClassifier((32,), max_iter=5, random_state=0, dropout=0.0).fit(X, y)
    zeros = MLPClassifier((32,), max_iter=5, random_state=0, dropout=[0.0]).fit(X, y)
    half = MLPClassifier((32,), max_iter=5, random_state=0, dropout=0.5).fit(X, y)
    for model in (zero, zeros):
        assert model.coefs_[0].tobytes() == base.coefs_[0].tobytes()
    assert not np.allclose(half.coefs_[0], base.coefs_[0])
    # predict uses no dropout (no masks, no scaling): a NumPy forward pass with every unit kept
    hidden = np.maximum(X @ half.coefs_[0] + half.intercepts_[0], 0.0)
    expected = softmax(hidden @ half.coefs_[1] + half.intercepts_[1], axis=1)
    np.testing.assert_allclose(half.predict_proba(X), expected, rtol=1e-12, atol=1e-15)


@quiet
@pytest.mark.parametrize("rate", [0.2, 0.5, 0.8])
def test_dropout_drops_the_expected_fraction(rate):
    """One sample, identity activations, one plain SGD step: the outgoing weights of a hidden
    unit change exactly when the unit was kept, so the unchanged rows of coefs_[1] count the
    dropped units."""
    units, n_features = 20000, 3
    X = np.array([[0.5, -1.0, 2.0]])
    y = np.array([1.0])
    model = MLPRegressor(
        hidden_layer_sizes=(units,),
        activation="identity",
        solver="sgd",
        momentum=0.0,
        learning_rate_init=0.1,
        alpha=0.0,
        max_iter=1,
        shuffle=False,
        dropout=rate,
        random_state=0,
    ).fit(X, y)
    # scikit-learn's initial draw for the same random_state
    rng = np.random.RandomState(0)
    bound = np.sqrt(6.0 / (n_features + units))
    rng.uniform(-bound, bound, (n_features, units))
    rng.uniform(-bound, bound, units)
    bound = np.sqrt(6.0 / (units + 1))
    initial = rng.uniform(-bound, bound, (units, 1))
    dropped = np.mean(model.coefs_[1] == initial)
    assert abs(dropped - rate) < 4 * np.sqrt(rate * (1 - rate) / units)


@quiet
def test_batch_norm_running_statistics_and_predict():
    rng = np.random.RandomState(0)
    X = rng.randn(300, 5) * 3 + 7
    y = (X[:, 0] > 7).astype(int)
    model = MLPClassifier(
        (8,), batch_norm=True, learning_rate_init=0.01, max_iter=60, random_state=0
    ).fit(X, y)
    assert len(model.batch_norm_means_) == 1 and model.batch_norm_means_[0].shape == (8,)
    assert np.all(model.batch_norm_vars_[0] > 0)
    assert model.score(X, y) > 0.9
    # predict is one sample at a time the same as in a batch: running statistics, not the batch's
    single = np.vstack([model.predict_proba(X[i : i + 1]) for i in range(10)])
    np.testing.assert_allclose(single, model.predict_proba(X[:10]), rtol=1e-12)


@quiet
def test_margin_losses_api():
    X, y = _data(120, 5, 3)
    for loss in ("hinge", "perceptron"):
        model = MLPClassifier((16,), loss=loss, max_iter=50, random_state=0).fit(X, y)
        assert not hasattr(model, "predict_proba")
        scores = model.decision_function(X)
        assert scores.shape == (120, 3)
        np.testing.assert_array_equal(model.predict(X), model.classes_[scores.argmax(1)])
        binary = MLPClassifier((16,), loss=loss, max_iter=50, random_state=0)
        labels = np.where(y == 0, "a", "b")
        binary.fit(X, labels)
        margin = binary.decision_function(X)
        assert margin.shape == (120,)
        np.testing.assert_array_equal(binary.predict(X), np.where(margin > 0, "b", "a"))
    assert not hasattr(MLPClassifier(), "decision_function")


@quiet
def test_maxout_shapes_and_warm_start():
    X, y = _data(60, 4, 3)
    model = MLPClassifier((6, 5), activation="maxout", maxout_pieces=3, max_iter=3,
                          random_state=0).fit(X, y)
    assert [c.shape for c in model.coefs_] == [(4, 18), (6, 15), (5, 3)]
    model.set_params(warm_start=True, max_iter=2)
    model.fit(X, y)
    assert [c.shape for c in model.coefs_] == [(4, 18), (6, 15), (5, 3)]


@quiet
def test_prelu_slopes_are_trained():
    X, y = _data(100, 4, 3)
    model = MLPClassifier((6,), activation="prelu", max_iter=20, random_state=0).fit(X, y)
    assert model.prelu_slopes_[0].shape == (6,)
    assert not np.allclose(model.prelu_slopes_[0], 0.25)


@quiet
def test_l1_makes_weights_sparser():
    X, y = _data(200, 10, 3)
    kw = dict(hidden_layer_sizes=(20,), solver="sgd", learning_rate_init=0.05, max_iter=100,
              random_state=0)
    plain = MLPClassifier(**kw).fit(X, y)
    l1 = MLPClassifier(alpha_l1=0.5, **kw).fit(X, y)
    assert np.abs(l1.coefs_[0]).sum() < 0.7 * np.abs(plain.coefs_[0]).sum()
