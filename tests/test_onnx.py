"""ONNX export (fastmlp.to_onnx) and the skl2onnx converters (fastmlp.onnx), checked against
the estimators' own predict / predict_proba / decision_function by running the graphs in ONNX
Runtime: every hidden activation, every loss, float32 and float64, batch norm, dropout, PReLU
and maxout, pipelines and column transformers."""

import sys
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning, NotFittedError

import fastmlp
from conftest import reference_library

onnx = reference_library("onnx")
ort = reference_library("onnxruntime")

ACTIVATIONS = ["identity", "logistic", "tanh", "relu", "leaky_relu", "prelu", "elu", "softplus",
               "gelu", "maxout"]
HEADS = ["binary", "multiclass", "multilabel", "hinge_binary", "hinge", "perceptron",
         "squared_error", "poisson"]
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# the accuracy the export promises, per dtype (relative and absolute)
TOLERANCE = {np.float32: 1e-5, np.float64: 1e-10}


def _data(dtype, n=120, n_features=5, seed=0):
    """Rows mostly of moderate size, a few large ones (softplus past its threshold, the tails of
    GELU and ELU)."""
    rng = np.random.RandomState(seed)
    X = rng.randn(n, n_features) * 2.0
    X[:8] *= 12.0
    return X.astype(dtype)


def _targets(head, X):
    x0, x1 = X[:, 0].astype(np.float64), X[:, 1].astype(np.float64)
    if head in ("binary", "hinge_binary"):
        return (x0 + 0.5 * x1 > 0).astype(int)
    if head in ("multiclass", "hinge", "perceptron"):
        return np.digitize(x0 + 0.3 * x1, [-1.0, 1.0])
    if head == "multilabel":
        return np.c_[x0 > 0, x1 > 0, x0 + x1 > 1].astype(int)
    if head == "squared_error":
        return 3.0 * np.tanh(x0) + x1
    return np.exp(0.3 * np.tanh(x0))  # poisson: positive rates


def _fit(head, activation, dtype, **options):
    X = _data(dtype)
    y = _targets(head, X)
    common = dict(hidden_layer_sizes=(6, 5), activation=activation, max_iter=8, random_state=0,
                  learning_rate_init=0.01, maxout_pieces=3, **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if head in ("squared_error", "poisson"):
            model = fastmlp.MLPRegressor(loss=head, **common).fit(X, y)
        else:
            loss = {"hinge_binary": "hinge", "hinge": "hinge", "perceptron": "perceptron"}.get(
                head, "log_loss")
            model = fastmlp.MLPClassifier(loss=loss, **common).fit(X, y)
    return model, X


def _session(model_proto):
    return ort.InferenceSession(model_proto.SerializeToString(),
                                providers=["CPUExecutionProvider"])


def _run(model_proto, X):
    session = _session(model_proto)
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {"X": X})))


def _check(model, X, outputs, dtype):
    """outputs (ONNX Runtime's) are the model's own, within the dtype's tolerance, with the
    same labels."""
    tol = TOLERANCE[dtype]
    if "variable" in outputs:
        expected = model.predict(X)
        assert outputs["variable"].dtype == dtype
        assert outputs["variable"].shape == expected.shape
        np.testing.assert_allclose(outputs["variable"], expected, rtol=tol, atol=tol)
        return
    expected_labels = model.predict(X)
    assert outputs["label"].shape == expected_labels.shape
    np.testing.assert_array_equal(outputs["label"], expected_labels)
    if "probabilities" in outputs:
        expected = model.predict_proba(X)
        got = outputs["probabilities"]
    else:
        expected = model.decision_function(X)
        got = outputs["scores"]
    assert got.dtype == dtype and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_activation_and_loss_runs_in_onnxruntime_to_the_models_outputs(activation, head,
                                                                            dtype):
    model, X = _fit(head, activation, dtype)
    outputs = _run(fastmlp.to_onnx(model), X)
    expected_names = {"squared_error": ["variable"], "poisson": ["variable"]}.get(head)
    if expected_names is None:
        second = "scores" if head in ("hinge_binary", "hinge", "perceptron") else "probabilities"
        expected_names = ["label", second]
    assert list(outputs) == expected_names
    _check(model, X, outputs, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("head", ["multiclass", "binary", "squared_error"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_batch_norm_and_dropout_export_as_predict_runs_them(activation, head, dtype):
    model, X = _fit(head, activation, dtype, batch_norm=True, dropout=[0.2, 0.1])
    # the running statistics moved away from their initial values: the folding is exercised
    assert not np.allclose(model.batch_norm_means_[0], 0)
    assert not np.allclose(model.batch_norm_vars_[0], 1)
    onx = fastmlp.to_onnx(model)
    assert not {"BatchNormalization", "Dropout"} & {n.op_type for n in onx.graph.node}
    _check(model, X, _run(onx, X), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_prelu_exports_its_learned_slopes(dtype):
    model, X = _fit("multiclass", "prelu", dtype)
    assert not np.allclose(model.prelu_slopes_[0], 0.25)  # learned, not the initial slope
    _check(model, X, _run(fastmlp.to_onnx(model), X), dtype)
    # the export reads the slopes: changing them changes the graph's outputs like predict's
    model.prelu_slopes_[0][...] = -0.5
    _check(model, X, _run(fastmlp.to_onnx(model), X), dtype)


@pytest.mark.parametrize("pieces", [1, 2, 4])
def test_maxout_pieces_group_as_the_c_core_lays_them_out(pieces):
    X = _data(np.float64)
    y = _targets("multiclass", X)
    model = fastmlp.MLPClassifier((4, 3), activation="maxout", maxout_pieces=pieces, max_iter=5,
                                  random_state=1).fit(X, y)
    assert model.coefs_[0].shape == (5, 4 * pieces)
    _check(model, X, _run(fastmlp.to_onnx(model), X), np.float64)


@pytest.mark.parametrize("hidden", [(), (1,), (1, 1)], ids=["none", "one-unit", "two-one-unit"])
@pytest.mark.parametrize("activation", ["relu", "prelu", "maxout", "gelu"])
def test_no_hidden_layer_and_one_unit_layers(activation, hidden):
    X = _data(np.float64)
    y = _targets("multiclass", X)
    model = fastmlp.MLPClassifier(hidden, activation=activation, batch_norm=bool(hidden),
                                  max_iter=5, random_state=0).fit(X, y)
    _check(model, X, _run(fastmlp.to_onnx(model), X), np.float64)


@pytest.mark.parametrize("opset", [13, 17, 18, 20, None])
@pytest.mark.parametrize("activation", ["gelu", "maxout", "softplus"])
def test_opsets(activation, opset):
    if opset is not None and opset > onnx.defs.onnx_opset_version():
        pytest.skip("the installed onnx does not know opset %d" % opset)
    for dtype in (np.float32, np.float64):
        model, X = _fit("multiclass", activation, dtype)
        onx = fastmlp.to_onnx(model, target_opset=opset)
        expected = 18 if opset is None else opset
        assert [o.version for o in onx.opset_import if o.domain == ""] == [expected]
        ops = {n.op_type for n in onx.graph.node}
        if activation == "gelu" and dtype == np.float32:
            assert ("Gelu" in ops) == (expected >= 20)
        _check(model, X, _run(onx, X), dtype)


def test_float64_gelu_follows_the_exact_erf_form_far_into_the_tails():
    """The float64 graph's GELU (a Chebyshev series: ONNX Runtime has no double Erf) against
    scipy's erf on a dense grid, through an identity-output regressor of one unit."""
    from scipy.special import erf

    X = np.linspace(-40, 40, 20001).reshape(-1, 1)
    model = fastmlp.MLPRegressor(hidden_layer_sizes=(1,), activation="gelu", max_iter=1,
                                 random_state=0).fit(X[:50], X[:50, 0])
    model.coefs_[0][...] = 1.0
    model.intercepts_[0][...] = 0.0
    model.coefs_[1][...] = 1.0
    model.intercepts_[1][...] = 0.0
    got = _run(fastmlp.to_onnx(model), X)["variable"]
    x = X[:, 0]
    exact = 0.5 * x * (1 + erf(x / np.sqrt(2)))
    np.testing.assert_allclose(got, exact, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(got, model.predict(X), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("classes", [
    np.array(["cat", "dog", "emu"]),
    np.array([-3, 5, 11]),
    np.array([1.0, 2.0, 4.0]),
    np.array([False, True]),
    np.array(["no", "yes"]),
], ids=["strings", "ints", "floats", "bools", "binary-strings"])
def test_labels_keep_the_classes_values_and_type(classes):
    X = _data(np.float64)
    y = classes[_targets("multiclass", X) % len(classes)]
    model = fastmlp.MLPClassifier((5,), max_iter=10, random_state=0).fit(X, y)
    outputs = _run(fastmlp.to_onnx(model), X)
    np.testing.assert_array_equal(outputs["label"], model.predict(X))
    assert set(outputs["label"].tolist()) <= set(classes.tolist())


@pytest.mark.parametrize("n_classes", [2, 3])
def test_perceptron_exports_labels_and_decision_function(n_classes):
    X = _data(np.float64)
    y = np.array(["a", "b", "c"])[_targets("multiclass", X) % n_classes]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = fastmlp.Perceptron(max_iter=20, random_state=0).fit(X, y)
    outputs = _run(fastmlp.to_onnx(model), X)
    assert list(outputs) == ["label", "scores"]
    _check(model, X, outputs, np.float64)


def test_graph_interface():
    model, X = _fit("multiclass", "relu", np.float32)
    onx = fastmlp.to_onnx(model)
    assert isinstance(onx, onnx.ModelProto)
    onnx.checker.check_model(onx)
    (x,) = onx.graph.input
    assert x.name == "X"
    assert x.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    dims = x.type.tensor_type.shape.dim
    assert not dims[0].HasField("dim_value") and dims[1].dim_value == 5
    assert {o.domain for o in onx.opset_import} == {""}
    # float64 models give double graphs
    model64, _ = _fit("multiclass", "relu", np.float64)
    assert fastmlp.to_onnx(model64).graph.input[0].type.tensor_type.elem_type == (
        onnx.TensorProto.DOUBLE)


def test_refuses_bad_input():
    with pytest.raises(NotFittedError):
        fastmlp.to_onnx(fastmlp.MLPClassifier())
    with pytest.raises(NotFittedError):
        fastmlp.to_onnx(fastmlp.Perceptron())
    model, _ = _fit("multiclass", "relu", np.float64)
    for bad in (12, 0, onnx.defs.onnx_opset_version() + 1, "18", 18.0, True):
        with pytest.raises(ValueError, match="target_opset"):
            fastmlp.to_onnx(model, target_opset=bad)
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(TypeError, match="skl2onnx"):
        fastmlp.to_onnx(LogisticRegression())


def test_missing_onnx_gives_an_import_error_saying_what_to_install(monkeypatch):
    model, _ = _fit("multiclass", "relu", np.float64)
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx raises ImportError
    with pytest.raises(ImportError, match=r'pip install "fastmlp\[onnx\]"'):
        fastmlp.to_onnx(model)


def test_missing_skl2onnx_gives_an_import_error_saying_what_to_install(monkeypatch):
    import importlib

    reference_library("skl2onnx")  # the real module imports: only the block below hides it

    monkeypatch.delitem(sys.modules, "fastmlp.onnx", raising=False)
    monkeypatch.setitem(sys.modules, "skl2onnx", None)
    with pytest.raises(ImportError, match=r'pip install "fastmlp\[onnx\]"'):
        importlib.import_module("fastmlp.onnx")


# ---------------------------------------------------------------------- skl2onnx

@pytest.fixture
def skl2onnx():
    """skl2onnx, with fastmlp's converters registered."""
    module = reference_library("skl2onnx")
    import fastmlp.onnx  # noqa: F401  (registers the converters)

    return module


def _sklearn_run(onx, feeds):
    session = _session(onx)
    return session.run(None, feeds)


def _zipmap_matrix(rows, classes):
    return np.array([[row[c] for c in classes] for row in rows])


@pytest.mark.parametrize("zipmap", [False, True, "columns"])
@pytest.mark.parametrize("labels", ["ints", "strings"])
@pytest.mark.parametrize("loss", ["log_loss", "hinge"])
def test_scaled_pipeline_converts_through_skl2onnx(loss, labels, zipmap, skl2onnx):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.RandomState(0)
    X = rng.randn(200, 4) * [1, 10, 100, 0.1] + 5
    y = np.digitize(X[:, 0] - 5, [-0.5, 0.5])
    if labels == "strings":
        y = np.array(["low", "mid", "high"])[y]
    pipe = make_pipeline(StandardScaler(), fastmlp.MLPClassifier((8,), loss=loss, max_iter=30,
                                                                 random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(X, y)
    options = {} if zipmap is True else {"zipmap": zipmap}  # True: skl2onnx's default
    onx = skl2onnx.to_onnx(pipe, X[:1].astype(np.float32), options=options)
    X32 = X.astype(np.float32)
    out = _sklearn_run(onx, {"X": X32})
    np.testing.assert_array_equal(out[0], pipe.predict(X32))
    expected = pipe.predict_proba(X32) if loss == "log_loss" else pipe.decision_function(X32)
    classes = list(pipe.classes_)
    if zipmap == "columns":
        got = np.column_stack(out[1:])
    elif zipmap:
        assert isinstance(out[1], list) and isinstance(out[1][0], dict)
        got = _zipmap_matrix(out[1], classes)
    else:
        got = out[1]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_binary_and_double_pipelines_and_nocl(skl2onnx):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.RandomState(1)
    X = rng.randn(150, 3) * 4 + 1
    y = np.where(X[:, 0] + X[:, 1] > 2, "yes", "no")
    for est in (fastmlp.MLPClassifier((6,), activation="gelu", batch_norm=True, max_iter=20,
                                      random_state=0),
                fastmlp.MLPClassifier((6,), loss="perceptron", max_iter=20, random_state=0),
                fastmlp.Perceptron(max_iter=10, random_state=0)):
        pipe = make_pipeline(StandardScaler(), est)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            pipe.fit(X, y)
        # double input: the whole graph in float64
        onx = skl2onnx.to_onnx(pipe, X[:1], options={"zipmap": False})
        label, second = _sklearn_run(onx, {"X": X})
        np.testing.assert_array_equal(label, pipe.predict(X))
        if hasattr(est, "predict_proba") and getattr(est, "loss", None) == "log_loss":
            expected = pipe.predict_proba(X)
        else:
            decision = pipe.decision_function(X)
            expected = np.c_[-decision, decision]  # skl2onnx's two-class scores
        np.testing.assert_allclose(second, expected, rtol=1e-9, atol=1e-9)
        # nocl: class indices instead of labels
        onx = skl2onnx.to_onnx(pipe, X[:1], options={"zipmap": False, "nocl": True})
        label, _ = _sklearn_run(onx, {"X": X})
        np.testing.assert_array_equal(label, np.searchsorted(pipe.classes_, pipe.predict(X)))


def test_column_transformer_pipeline_converts_through_skl2onnx(skl2onnx):
    pd = pytest.importorskip("pandas")
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    rng = np.random.RandomState(0)
    n = 200
    frame = pd.DataFrame({
        "age": rng.uniform(18, 80, n),
        "income": rng.lognormal(10, 1, n),
        "city": rng.choice(["paris", "lyon", "nice"], n),
    })
    y = ((frame["age"] > 40) ^ (frame["city"] == "lyon")).astype(int).to_numpy()
    pre = ColumnTransformer([("num", StandardScaler(), ["age", "income"]),
                             ("cat", OneHotEncoder(), ["city"])])
    pipe = make_pipeline(pre, fastmlp.MLPClassifier((8,), activation="elu", max_iter=40,
                                                    random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(frame, y)
    onx = skl2onnx.to_onnx(pipe, initial_types=[("age", FloatTensorType([None, 1])),
                                                ("income", FloatTensorType([None, 1])),
                                                ("city", StringTensorType([None, 1]))])
    feeds = {"age": frame[["age"]].to_numpy(np.float32),
             "income": frame[["income"]].to_numpy(np.float32),
             "city": frame[["city"]].to_numpy()}
    label, rows = _sklearn_run(onx, feeds)
    frame32 = frame.astype({"age": np.float32, "income": np.float32})
    np.testing.assert_array_equal(label, pipe.predict(frame32))
    np.testing.assert_allclose(_zipmap_matrix(rows, list(pipe.classes_)),
                               pipe.predict_proba(frame32), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
@pytest.mark.parametrize("n_outputs", [1, 2])
def test_regressor_pipeline_converts_through_skl2onnx(loss, n_outputs, skl2onnx):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.RandomState(0)
    X = rng.randn(150, 4) * 3
    y = np.exp(0.3 * np.tanh(X[:, :n_outputs]))
    y = y.ravel() if n_outputs == 1 else y
    pipe = make_pipeline(StandardScaler(), fastmlp.MLPRegressor(
        loss=loss, hidden_layer_sizes=(8,), activation="softplus", max_iter=30, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(X, y)
    (variable,) = _sklearn_run(skl2onnx.to_onnx(pipe, X[:1]), {"X": X})
    assert variable.shape == (len(X), n_outputs)
    np.testing.assert_allclose(variable, pipe.predict(X).reshape(len(X), -1), rtol=1e-10,
                               atol=1e-10)


def test_multilabel_converts_with_zipmap_off(skl2onnx):

    X = _data(np.float32)
    y = _targets("multilabel", X)
    model = fastmlp.MLPClassifier((6,), max_iter=20, random_state=0).fit(X, y)
    label, probabilities = _sklearn_run(
        skl2onnx.to_onnx(model, X[:1], options={"zipmap": False}), {"X": X})
    np.testing.assert_array_equal(label, model.predict(X))
    np.testing.assert_allclose(probabilities, model.predict_proba(X), rtol=1e-5, atol=1e-5)


def test_docstring_examples_run():
    import doctest

    from fastmlp import _onnx_export

    result = doctest.testmod(_onnx_export, raise_on_error=False)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("opset", [13, 17, 21])
@pytest.mark.parametrize("activation", ["maxout", "gelu", "prelu"])
def test_skl2onnx_target_opset_reaches_the_converter(activation, opset, skl2onnx):
    if opset > onnx.defs.onnx_opset_version():
        pytest.skip("the installed onnx does not know opset %d" % opset)
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = _data(np.float32)
    y = _targets("multiclass", X)
    pipe = make_pipeline(StandardScaler(), fastmlp.MLPClassifier(
        (6,), activation=activation, max_iter=10, random_state=0)).fit(X, y)
    onx = skl2onnx.to_onnx(pipe, X[:1], target_opset={"": opset, "ai.onnx.ml": 1},
                           options={"zipmap": False})
    assert max(o.version for o in onx.opset_import if o.domain == "") <= opset
    label, probabilities = _sklearn_run(onx, {"X": X})
    np.testing.assert_array_equal(label, pipe.predict(X))
    np.testing.assert_allclose(probabilities, pipe.predict_proba(X), rtol=1e-5, atol=1e-5)
