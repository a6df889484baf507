"""Invalid parameters and invalid data are rejected with clear errors."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.neural_network import MLPClassifier as RefMLPClassifier

from fastmlp import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning"
)

ESTIMATORS = [MLPClassifier, MLPRegressor]
FAST = dict(hidden_layer_sizes=(5,), max_iter=5, random_state=0)


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 4))
    y_clf = np.arange(40) % 3
    y_reg = X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.1 * rng.normal(size=40)
    return X, y_clf, y_reg


def _y(Est, data):
    return data[1] if Est is MLPClassifier else data[2]


# --------------------------------------------------------------------------
# Invalid hyper-parameters
# --------------------------------------------------------------------------

INVALID_PARAMS = [
    ("hidden_layer_sizes", 0),
    ("hidden_layer_sizes", -1),
    ("hidden_layer_sizes", (5, 0)),
    ("hidden_layer_sizes", (-3,)),
    ("hidden_layer_sizes", [4, -2, 3]),
    ("hidden_layer_sizes", "abc"),
    ("activation", "foo"),
    ("activation", "softmax"),
    ("solver", "foo"),
    ("alpha", -1.0),
    ("alpha", "big"),
    ("batch_size", 0),
    ("batch_size", -5),
    ("batch_size", "foo"),
    ("learning_rate", "foo"),
    ("learning_rate_init", 0.0),
    ("learning_rate_init", -0.1),
    ("power_t", -0.5),
    ("max_iter", 0),
    ("max_iter", 1.5),
    ("shuffle", "yes"),
    ("tol", -1e-3),
    ("verbose", "loud"),
    ("warm_start", "no"),
    ("momentum", 1.5),
    ("momentum", -0.1),
    ("nesterovs_momentum", 2),
    ("early_stopping", "sometimes"),
    ("validation_fraction", 1.0),
    ("validation_fraction", 1.5),
    ("validation_fraction", -0.1),
    ("beta_1", 1.0),
    ("beta_1", -0.1),
    ("beta_2", 1.0),
    ("beta_2", 1.5),
    ("epsilon", 0.0),
    ("epsilon", -1e-8),
    ("n_iter_no_change", 0),
    ("n_iter_no_change", -np.inf),
    ("max_fun", 0),
    ("random_state", "seed"),
]


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize(
    "param, value", INVALID_PARAMS, ids=[f"{p}={v!r}" for p, v in INVALID_PARAMS]
)
def test_invalid_parameter_is_rejected_naming_it(Est, param, value, data):
    X, y = data[0], _y(Est, data)
    est = Est(**FAST).set_params(**{param: value})
    with pytest.raises((ValueError, TypeError), match=param):
        est.fit(X, y)
    # nothing was fitted
    assert not hasattr(est, "coefs_")


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_invalid_parameter_rejected_by_partial_fit(Est, data):
    X, y = data[0], _y(Est, data)
    est = Est(**FAST, alpha=-1.0, solver="sgd")
    kwargs = {"classes": np.unique(y)} if Est is MLPClassifier else {}
    with pytest.raises(ValueError, match="alpha"):
        est.partial_fit(X, y, **kwargs)


def test_invalid_regression_loss(data):
    X, _, y = data
    with pytest.raises(ValueError, match="loss"):
        MLPRegressor(loss="absolute_error", **FAST).fit(X, y)


@pytest.mark.parametrize("loss", ["squared_error", "poisson", "cross_entropy"])
def test_classifier_loss_names_the_accepted_values(loss):
    X, y = np.random.RandomState(0).randn(20, 3), np.arange(20) % 2
    with pytest.raises(ValueError, match="'loss' parameter of MLPClassifier.*hinge"):
        MLPClassifier(loss=loss, max_iter=2).fit(X, y)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"dropout": 1.0}, "'dropout' parameter"),
        ({"dropout": -0.1}, "'dropout' parameter"),
        ({"dropout": [0.1, 0.2]}, "one such rate per hidden layer"),
        ({"dropout": [1.5]}, "one such rate per hidden layer"),
        ({"maxout_pieces": 0}, "'maxout_pieces' parameter"),
        ({"alpha_l1": -1.0}, "'alpha_l1' parameter"),
        ({"activation": "swish"}, "'activation' parameter.*gelu"),
        ({"solver": "lion"}, "'solver' parameter.*adamw"),
        ({"rho": 1.5}, "'rho' parameter"),
        ({"weight_decay": -0.1}, "'weight_decay' parameter"),
        ({"solver": "lbfgs", "dropout": 0.2}, "cannot be used with dropout or batch_norm"),
        ({"solver": "lbfgs", "batch_norm": True}, "cannot be used with dropout or batch_norm"),
    ],
)
def test_course_options_are_validated(params, match):
    X, y = np.random.RandomState(0).randn(20, 3), np.arange(20) % 2
    with pytest.raises(ValueError, match=match):
        MLPClassifier((4,), max_iter=2, **params).fit(X, y)


@pytest.mark.parametrize("loss", ["hinge", "perceptron"])
def test_margin_losses_refuse_a_single_class(loss):
    X = np.random.RandomState(0).randn(10, 3)
    with pytest.raises(ValueError, match="at least two classes"):
        MLPClassifier((4,), loss=loss, max_iter=2).fit(X, np.zeros(10))


def test_margin_losses_refuse_multilabel_targets():
    X = np.random.RandomState(0).randn(20, 3)
    Y = np.stack([np.arange(20) % 2, np.arange(20) % 3 == 0], axis=1).astype(int)
    with pytest.raises(ValueError, match="not multilabel"):
        MLPClassifier((4,), loss="hinge", max_iter=2).fit(X, Y)


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_parameters_are_not_validated_in_init(Est):
    # scikit-learn convention: __init__ stores, fit validates
    est = Est(alpha=-1.0, activation="foo")
    assert est.get_params()["alpha"] == -1.0
    assert est.get_params()["activation"] == "foo"


# --------------------------------------------------------------------------
# Invalid data
# --------------------------------------------------------------------------


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_X(Est, bad, data):
    X, y = data[0].copy(), _y(Est, data)
    X[3, 2] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        Est(**FAST).fit(X, y)
    fitted = Est(**FAST).fit(data[0], y)
    with pytest.raises(ValueError, match="NaN|infinity"):
        fitted.predict(X)


@pytest.mark.parametrize("hidden", [(), (12,), (12, 8)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", [1, 2])
def test_non_finite_X_in_any_row_block_of_a_large_prediction(hidden, dtype, threads):
    # predictions of many rows run in row blocks, each checking its rows (after the first
    # layer's product when there is a hidden layer, before it when that product is the output)
    from threadpoolctl import threadpool_limits

    rng = np.random.RandomState(1)
    X = rng.normal(size=(3001, 6)).astype(dtype)  # 2 whole 1,024-row chunks and a tail
    y = np.arange(len(X)) % 3
    est = MLPClassifier(hidden_layer_sizes=hidden, max_iter=2, random_state=0).fit(X, y)
    with threadpool_limits(threads):
        want = est.predict_proba(X)
        for row in (0, 700, 1500, 2999, 3000):
            for bad in (np.nan, np.inf):
                X_bad = X.copy()
                X_bad[row, row % 6] = bad
                with pytest.raises(ValueError, match="NaN|infinity"):
                    est.predict_proba(X_bad)
        assert_array_equal(est.predict_proba(X), want)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_y_regressor(bad, data):
    X, _, y = data
    y = y.copy()
    y[5] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        MLPRegressor(**FAST).fit(X, y)
    with pytest.raises(ValueError, match="NaN|infinity"):
        MLPRegressor(**FAST, solver="sgd").partial_fit(X, y)


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_empty_X(Est, data):
    with pytest.raises(ValueError, match="0 sample"):
        Est(**FAST).fit(np.empty((0, 4)), np.empty(0))


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_zero_features(Est, data):
    y = _y(Est, data)
    with pytest.raises(ValueError, match="0 feature"):
        Est(**FAST).fit(np.empty((len(y), 0)), y)


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_1d_X(Est, data):
    X, y = data[0], _y(Est, data)
    with pytest.raises(ValueError, match="Expected 2D array"):
        Est(**FAST).fit(X[:, 0], y)
    fitted = Est(**FAST).fit(X, y)
    with pytest.raises(ValueError, match="Expected 2D array"):
        fitted.predict(X[0])


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_3d_X(Est, data):
    X, y = data[0], _y(Est, data)
    with pytest.raises(ValueError, match="dim"):
        Est(**FAST).fit(X.reshape(len(y), 2, 2), y)


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_mismatched_lengths(Est, data):
    X, y = data[0], _y(Est, data)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        Est(**FAST).fit(X, y[:-1])
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        Est(**FAST).fit(X[:-3], y)


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_sample_weight_wrong_length(Est, data):
    X, y = data[0], _y(Est, data)
    with pytest.raises(ValueError, match="sample_weight"):
        Est(**FAST).fit(X, y, sample_weight=np.ones(len(y) - 1))


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_non_numeric_X(Est, data):
    y = _y(Est, data)
    X = np.array([["a", "b", "c", "d"]] * len(y))
    with pytest.raises(ValueError, match="convert|numeric"):
        Est(**FAST).fit(X, y)


def test_continuous_target_for_classifier(data):
    X, _, y = data
    with pytest.raises(ValueError, match="Unknown label type"):
        MLPClassifier(**FAST).fit(X, y)


def test_non_numeric_target_for_regressor(data):
    X = data[0]
    y = np.array(["a", "b"] * (len(X) // 2), dtype=object)
    with pytest.raises(ValueError):
        MLPRegressor(**FAST).fit(X, y)


def test_one_class_behaves_like_reference(data):
    # scikit-learn does not raise on a single class: it fits a one-output
    # logistic network (target all zeros) and always predicts that class.
    X = data[0]
    y = np.full(X.shape[0], 7)
    params = dict(FAST, shuffle=False, solver="sgd")
    fm = MLPClassifier(**params).fit(X, y)
    ref = RefMLPClassifier(**params).fit(X, y)
    assert_array_equal(fm.classes_, [7])
    assert_array_equal(fm.predict(X), np.full(X.shape[0], 7))
    assert fm.out_activation_ == ref.out_activation_
    proba, ref_proba = fm.predict_proba(X), ref.predict_proba(X)
    assert proba.shape == ref_proba.shape
    assert_allclose(proba, ref_proba, rtol=1e-9)


# --------------------------------------------------------------------------
# partial_fit misuse
# --------------------------------------------------------------------------


def test_partial_fit_first_call_needs_classes(data):
    X, y, _ = data
    with pytest.raises(ValueError, match="classes"):
        MLPClassifier(**FAST).partial_fit(X, y)


def test_partial_fit_unseen_classes(data):
    X, y, _ = data
    est = MLPClassifier(**FAST).partial_fit(X[:10], y[:10] % 2, classes=[0, 1])
    with pytest.raises(ValueError, match="classes"):
        est.partial_fit(X, y)
    # y containing a class absent from `classes` on the very first call
    with pytest.raises(ValueError, match="classes"):
        MLPClassifier(**FAST).partial_fit(X, y, classes=[0, 1])


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_partial_fit_different_number_of_features(Est, data):
    X, y = data[0], _y(Est, data)
    kwargs = {"classes": np.unique(y)} if Est is MLPClassifier else {}
    est = Est(**FAST).partial_fit(X, y, **kwargs)
    with pytest.raises(ValueError, match="features"):
        est.partial_fit(X[:, :3], y)


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_partial_fit_with_early_stopping(Est, data):
    X, y = data[0], _y(Est, data)
    kwargs = {"classes": np.unique(y)} if Est is MLPClassifier else {}
    with pytest.raises(ValueError, match="early_stopping"):
        Est(**FAST, early_stopping=True).partial_fit(X, y, **kwargs)


def test_partial_fit_not_available_for_lbfgs():
    est = MLPClassifier(solver="lbfgs")
    assert not hasattr(est, "partial_fit")
    with pytest.raises(AttributeError, match="partial_fit"):
        est.partial_fit(np.zeros((2, 2)), [0, 1], classes=[0, 1])


def test_warm_start_with_different_classes(data):
    X, y, _ = data
    est = MLPClassifier(**FAST, warm_start=True).fit(X, y)
    with pytest.raises(ValueError, match="warm_start"):
        est.fit(X, y % 2)


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_warm_start_with_different_number_of_features(Est, data):
    X, y = data[0], _y(Est, data)
    est = Est(**FAST, warm_start=True).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        est.fit(X[:, :3], y)


def test_validation_set_too_small(data):
    X, _, y = data
    with pytest.raises(ValueError, match="validation set is too small"):
        MLPRegressor(**FAST, early_stopping=True).fit(X[:10], y[:10])


# --------------------------------------------------------------------------
# Divergence
# --------------------------------------------------------------------------


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_diverging_fit_raises_instead_of_nan_model(Est, dtype):
    rng = np.random.RandomState(0)
    X = (rng.normal(size=(100, 3)) * 1e6).astype(dtype)
    y = X.sum(axis=1).astype(np.float64)
    if Est is MLPClassifier:
        y = (y > 0).astype(int)
    # identity hidden units: the weights grow multiplicatively until overflow
    est = Est(
        solver="sgd",
        activation="identity",
        learning_rate_init=1e10,
        hidden_layer_sizes=(10,),
        max_iter=30,
        n_iter_no_change=1000,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.raises(ValueError, match="non-finite"):
            est.fit(X, y)


# --------------------------------------------------------------------------
# Prediction misuse
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "Est, method",
    [
        (MLPClassifier, "predict"),
        (MLPClassifier, "predict_proba"),
        (MLPClassifier, "predict_log_proba"),
        (MLPClassifier, "score"),
        (MLPRegressor, "predict"),
        (MLPRegressor, "score"),
    ],
)
def test_predict_before_fit(Est, method, data):
    X, y = data[0], _y(Est, data)
    args = (X, y) if method == "score" else (X,)
    with pytest.raises(NotFittedError):
        getattr(Est(), method)(*args)


@pytest.mark.parametrize("n_features", [3, 5])
@pytest.mark.parametrize(
    "Est, method",
    [
        (MLPClassifier, "predict"),
        (MLPClassifier, "predict_proba"),
        (MLPRegressor, "predict"),
    ],
)
def test_predict_wrong_number_of_features(Est, method, n_features, data):
    X, y = data[0], _y(Est, data)
    est = Est(**FAST).fit(X, y)
    X_bad = np.ones((4, n_features))
    with pytest.raises(ValueError, match="features"):
        getattr(est, method)(X_bad)


def test_predict_bridge_refuses_mismatched_buffers():
    """The fast path's raw-buffer bridge checks what it is given: dtype, layout, shape."""
    from fastmlp import _core

    rng = np.random.RandomState(0)
    X = rng.randn(30, 4).astype(np.float32)
    model = MLPClassifier((5,), max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, np.arange(30) % 3)
    network, params = model._net, model._params
    out = np.empty((30, 3), np.float32)
    _core.predict_contiguous(network, params, X, out)
    # a NumPy forward pass in float64 (relu, softmax) from the fitted weights
    x64 = X.astype(np.float64)
    hidden = np.maximum(x64 @ model.coefs_[0] + model.intercepts_[0], 0.0)
    scores = hidden @ model.coefs_[1] + model.intercepts_[1]
    expected = np.exp(scores - scores.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    assert_allclose(out, expected, rtol=1e-5, atol=1e-7)
    bad_cases = [
        (params.astype(np.float64), X, out),  # precisions differ
        (params, np.asfortranarray(X), out),  # not C-contiguous
        (params, X[:, :3].copy(), out),  # wrong width
        (params, X, np.empty((30, 2), np.float32)),  # wrong output shape
        (params, X, np.empty((30, 3), np.float32)[:, ::-1]),  # output not contiguous
        (params[:-1], X, out),  # wrong parameter count
    ]
    for p, x, o in bad_cases:
        with pytest.raises((ValueError, BufferError)):
            _core.predict_contiguous(network, p, x, o)
    readonly = out.copy()
    readonly.flags.writeable = False
    with pytest.raises((ValueError, BufferError)):
        _core.predict_contiguous(network, params, X, readonly)


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["C", "F", "csr"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_X_message_is_scikit_learns(Est, dtype, layout, bad, data):
    # fit's finiteness check of X runs in the C core for dense C-contiguous arrays (and
    # scikit-learn's own otherwise): the message is scikit-learn's either way
    from sklearn.utils import assert_all_finite

    X = data[0].astype(dtype)
    X[7, 1] = bad
    X = sp.csr_matrix(X) if layout == "csr" else np.asarray(X, order=layout)
    with pytest.raises(ValueError) as expected:
        assert_all_finite(X, input_name="X", estimator_name=Est.__name__)
    est = Est(**FAST)
    with pytest.raises(ValueError) as got:
        est.fit(X, _y(Est, data))
    assert str(got.value) == str(expected.value)
    assert not hasattr(est, "coefs_")
    # partial_fit of a fitted model: refused before any batch, the weights untouched
    fitted = Est(**FAST).fit(data[0].astype(dtype), _y(Est, data))
    before = [c.copy() for c in fitted.coefs_]
    with pytest.raises(ValueError, match="NaN|infinity"):
        fitted.partial_fit(X, _y(Est, data))
    for b, c in zip(before, fitted.coefs_):
        np.testing.assert_array_equal(b, c)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_core_all_finite(dtype):
    from fastmlp import _core

    rng = np.random.default_rng(0)
    # sizes around the C core's 64 KiB tasks, threaded from 8 of them
    for n in [0, 1, 7, 16383, 16384, 16385, 131072 + 3, 700001]:
        x = rng.standard_normal(n).astype(dtype)
        assert _core.all_finite(x)
        for bad in (np.nan, np.inf, -np.inf):
            for at in sorted({0, n // 2, n - 1}):
                if n == 0:
                    continue
                y = x.copy()
                y[at] = bad
                assert not _core.all_finite(y), (n, at, bad)
    # the largest finite values and subnormals are finite
    edge = np.array([np.finfo(dtype).max, -np.finfo(dtype).max, np.finfo(dtype).tiny / 4, -0.0],
                    dtype=dtype)
    assert _core.all_finite(edge)
    with pytest.raises(ValueError, match="float32 or float64"):
        _core.all_finite(np.arange(4))
    with pytest.raises(ValueError, match="C-contiguous"):
        _core.all_finite(np.ones((4, 4), dtype=dtype)[:, ::2])
