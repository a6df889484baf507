"""Saving and loading models: fastmlp's own file format, pickle and joblib.

A restored model must predict bitwise identically to the original and continue training
(partial_fit, warm_start) exactly as the original does; a damaged or foreign file must give a
ValueError naming the file.
"""

import io
import json
import pickle
import zipfile

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

import fastmlp
from fastmlp import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

SOLVERS = ["sgd", "adam", "lbfgs"]
DTYPES = [np.float32, np.float64]
TARGETS = ["binary", "multiclass", "strings", "object_strings", "multilabel", "regression",
           "regression_2d"]


def _data(target, dtype):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(36, 5)).astype(dtype)
    labels = np.arange(36) % 3
    if target == "binary":
        y = (labels == 1).astype(int)
    elif target == "multiclass":
        y = labels
    elif target == "strings":
        y = np.array(["cat", "dog", "émeu"])[labels]
    elif target == "object_strings":
        y = np.array(["cat", "dog", "émeu"], dtype=object)[labels]
    elif target == "multilabel":
        y = (rng.rand(36, 3) > 0.5).astype(int)
    elif target == "regression":
        y = X @ rng.normal(size=5)
    else:
        y = np.c_[X @ rng.normal(size=5), X[:, 0] ** 2]
    return X, y


def _estimator(target, solver, **kwargs):
    Est = MLPRegressor if target.startswith("regression") else MLPClassifier
    params = dict(hidden_layer_sizes=(6, 4), solver=solver, max_iter=8, random_state=0)
    params.update(kwargs)
    return Est(**params)


def _assert_same_value(a, b, where):
    """Equal values of equal types, arrays bitwise (dtype included), recursively."""
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray), where
        assert a.dtype == b.dtype and a.shape == b.shape, where
        if a.dtype.kind == "f":
            assert a.tobytes() == b.tobytes(), where
        else:
            assert np.array_equal(a, b), where
            if a.dtype == object:
                assert [type(v) for v in a.ravel()] == [type(v) for v in b.ravel()], where
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (u, v) in enumerate(zip(a, b)):
            _assert_same_value(u, v, "%s[%d]" % (where, i))
    elif isinstance(a, dict):
        assert isinstance(b, dict) and sorted(a) == sorted(b), where
        for k in a:
            if where.endswith("history_") and k == "time":
                continue  # wall-clock seconds per epoch, measured by each model itself
            _assert_same_value(a[k], b[k], "%s[%r]" % (where, k))
    elif isinstance(a, float) and np.isnan(a):
        assert isinstance(b, float) and np.isnan(b), where
    elif hasattr(a, "__dict__") and not isinstance(a, type):
        assert type(a) is type(b), where
        _assert_same_value(vars(a), vars(b), where)
    else:
        assert type(a) is type(b) and a == b, (where, a, b)


def _assert_same_model(original, restored):
    assert type(restored) is type(original)
    skip = {"_model", "_random_state", "random_state"}
    assert sorted(set(vars(original)) - skip) == sorted(set(vars(restored)) - skip)
    for key in vars(original):
        if key not in skip:
            _assert_same_value(vars(original)[key], vars(restored)[key], key)
    # coefs_ / intercepts_ are views into the one flat parameter array
    assert restored._model.views_in(vars(restored))
    assert restored._params.dtype == original._params.dtype
    assert restored._params.tobytes() == original._params.tobytes()
    assert restored._net.units == original._net.units


def _assert_same_predictions(original, restored, X):
    for method in ("predict", "predict_proba"):
        if hasattr(original, method):
            expected, got = getattr(original, method)(X), getattr(restored, method)(X)
            assert expected.dtype == got.dtype and expected.shape == got.shape
            if expected.dtype.kind == "f":
                assert expected.tobytes() == got.tobytes(), method
            else:
                assert np.array_equal(expected, got), method
                assert [type(v) for v in expected.ravel()] == [type(v) for v in got.ravel()]


def _roundtrip(model, how, tmp_path):
    if how == "fastmlp":
        path = tmp_path / "model.fastmlp"
        model.save(path)
        return fastmlp.load(path)
    if how == "pickle":
        return pickle.loads(pickle.dumps(model))
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    return joblib.load(path)


@pytest.mark.parametrize("how", ["fastmlp", "pickle", "joblib"])
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("target", TARGETS)
def test_restored_model_predicts_bitwise_identically(target, dtype, solver, how, tmp_path):
    X, y = _data(target, dtype)
    model = _estimator(target, solver).fit(X, y)
    restored = _roundtrip(model, how, tmp_path)
    _assert_same_model(model, restored)
    _assert_same_predictions(model, restored, X)
    # float64 input to a float32 model, and a non-contiguous view: the general path
    _assert_same_predictions(model, restored, np.asfortranarray(X.astype(np.float64)))
    assert restored.get_params() == model.get_params()
    cloned = clone(restored)
    assert cloned.get_params() == model.get_params()
    assert not hasattr(cloned, "coefs_")


@pytest.mark.parametrize("how", ["fastmlp", "pickle", "joblib"])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("target", ["multiclass", "strings", "multilabel", "regression"])
def test_partial_fit_continues_identically(target, dtype, solver, how, tmp_path):
    X, y = _data(target, dtype)
    kwargs = {}
    if target in ("multiclass", "strings"):
        kwargs["classes"] = np.unique(y)
    elif target == "multilabel":
        kwargs["classes"] = np.arange(y.shape[1])
    # learning_rate='adaptive' and n_iter_no_change=1 make the optimizer's schedule and the
    # no-improvement counter part of the state that must carry over
    model = _estimator(target, solver, learning_rate="adaptive", n_iter_no_change=1, tol=10.0)
    for _ in range(3):
        model.partial_fit(X, y, **kwargs)
    restored = _roundtrip(model, how, tmp_path)
    for _ in range(2):
        model.partial_fit(X, y)
        restored.partial_fit(X, y)
    assert model._params.tobytes() == restored._params.tobytes()
    assert model._optimizer.state.tobytes() == restored._optimizer.state.tobytes()
    _assert_same_model(model, restored)


@pytest.mark.parametrize("how", ["fastmlp", "pickle"])
@pytest.mark.parametrize("solver", SOLVERS)
def test_warm_start_continues_identically(solver, how, tmp_path):
    X, y = _data("multiclass", np.float64)
    model = _estimator("multiclass", solver, warm_start=True, max_iter=4).fit(X, y)
    restored = _roundtrip(model, how, tmp_path)
    model.fit(X, y)
    restored.fit(X, y)
    assert model._params.tobytes() == restored._params.tobytes()
    _assert_same_model(model, restored)


@pytest.mark.parametrize("how", ["fastmlp", "pickle"])
def test_random_state_instance_is_restored(how, tmp_path):
    # A RandomState parameter is stored as its MT19937 state: the restored model's generator
    # continues where the original's is, so later fits draw the same numbers.
    X, y = _data("binary", np.float64)
    model = _estimator("binary", "sgd", random_state=np.random.RandomState(3)).fit(X, y)
    restored = _roundtrip(model, how, tmp_path)
    assert restored.random_state is not model.random_state
    original_state, restored_state = model.random_state.get_state(), restored.random_state.get_state()
    assert original_state[0] == restored_state[0]
    assert np.array_equal(original_state[1], restored_state[1])
    assert original_state[2:] == restored_state[2:]
    model.partial_fit(X, y)
    restored.partial_fit(X, y)
    assert model._params.tobytes() == restored._params.tobytes()


def test_early_stopping_best_parameters_are_saved(tmp_path):
    X, y = _data("regression", np.float64)
    X, y = np.tile(X, (2, 1)), np.tile(y, 2)
    model = _estimator("regression", "adam", early_stopping=True, max_iter=5).fit(X, y)
    assert isinstance(model.validation_scores_, list) and model.best_loss_ is None
    restored = _roundtrip(model, "fastmlp", tmp_path)
    assert restored._best_params.tobytes() == model._best_params.tobytes()
    _assert_same_model(model, restored)


def test_early_stopping_model_continues_identically(tmp_path):
    X, y = _data("strings", np.float64)
    X, y = np.tile(X, (2, 1)), np.tile(y, 2)
    model = _estimator("strings", "adam", early_stopping=True, max_iter=4).fit(X, y)
    restored = _roundtrip(model, "fastmlp", tmp_path)
    for m in (model, restored):
        m.set_params(warm_start=True, max_iter=3).fit(X, y)
    assert model._params.tobytes() == restored._params.tobytes()
    _assert_same_model(model, restored)


def test_float32_maxout_model_continues_identically(tmp_path):
    X, y = _data("regression", np.float32)
    model = MLPRegressor(hidden_layer_sizes=(5,), activation="maxout", maxout_pieces=3, solver="rmsprop",
                         max_iter=6, random_state=0).fit(X, y.astype(np.float32))
    restored = _roundtrip(model, "fastmlp", tmp_path)
    assert restored._params.dtype == np.float32
    _assert_same_model(model, restored)
    _assert_same_predictions(model, restored, X)
    for m in (model, restored):
        m.partial_fit(X, y.astype(np.float32))
    assert model._params.tobytes() == restored._params.tobytes()
    assert model._optimizer.state.tobytes() == restored._optimizer.state.tobytes()


def test_callbacks_are_not_saved(tmp_path):
    # callables are training-time hooks: the file holds everything else, the loaded model
    # has callbacks=None
    X, y = _data("multiclass", np.float64)
    seen = []
    model = _estimator("multiclass", "adam", callbacks=[lambda est, figures: seen.append(1)])
    model.fit(X, y)
    assert seen
    restored = _roundtrip(model, "fastmlp", tmp_path)
    assert restored.callbacks is None
    expected = dict(model.get_params(), callbacks=None)
    assert restored.get_params() == expected
    _assert_same_predictions(model, restored, X)


@pytest.mark.parametrize("class_weight", [{0: 2.0, 1: 1.0, 2: 0.5}, "balanced"], ids=repr)
def test_class_weight_round_trips(tmp_path, class_weight):
    X, y = _data("multiclass", np.float64)
    model = _estimator("multiclass", "adam", class_weight=class_weight).fit(X, y)
    restored = _roundtrip(model, "fastmlp", tmp_path)
    assert restored.class_weight == class_weight
    if isinstance(class_weight, dict):
        assert [type(k) for k in restored.class_weight] == [int, int, int]
    _assert_same_model(model, restored)
    if class_weight != "balanced":  # partial_fit refuses 'balanced'
        model.partial_fit(X, y)
        restored.partial_fit(X, y)
    model.set_params(warm_start=True).fit(X, y)
    restored.set_params(warm_start=True).fit(X, y)
    assert model._params.tobytes() == restored._params.tobytes()


def test_extra_public_attributes_round_trip_and_private_ones_are_refused(tmp_path):
    X, y = _data("binary", np.float64)
    model = _estimator("binary", "adam").fit(X, y)
    model.dataset_ = {"name": "toy", "rows": np.arange(3)}
    restored = _roundtrip(model, "fastmlp", tmp_path)
    _assert_same_model(model, restored)
    model._scratch = 1
    with pytest.raises(TypeError, match="private attribute '_scratch'"):
        model.save(tmp_path / "private.npz")


def test_label_encoding_classes_other_than_classes_round_trip(tmp_path):
    # classes_ reassigned by a user: the label encoding keeps decoding to its own classes
    X, y = _data("strings", np.float64)
    model = _estimator("strings", "adam").fit(X, y)
    model.classes_ = np.array(["a", "b", "c"])
    restored = _roundtrip(model, "fastmlp", tmp_path)
    _assert_same_model(model, restored)
    _assert_same_predictions(model, restored, X)


def test_single_class_model_roundtrips(tmp_path):
    X, _ = _data("binary", np.float64)
    model = _estimator("binary", "adam").fit(X, np.full(len(X), "only"))
    restored = _roundtrip(model, "fastmlp", tmp_path)
    _assert_same_predictions(model, restored, X)


def test_feature_names_roundtrip(tmp_path):
    pd = pytest.importorskip("pandas")
    X, y = _data("multiclass", np.float64)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d", "é"])
    model = _estimator("multiclass", "adam").fit(frame, y)
    restored = _roundtrip(model, "fastmlp", tmp_path)
    assert restored.feature_names_in_.dtype == object
    _assert_same_model(model, restored)
    _assert_same_predictions(model, restored, frame)
    with pytest.raises(ValueError, match="feature names"):
        restored.predict(frame.rename(columns={"a": "z"}))


def test_new_fitted_attributes_are_stored_generically(tmp_path):
    # Public fitted attributes the estimator does not know about yet (a history, per-layer
    # arrays) are stored as long as they are JSON values, numpy arrays or containers of them.
    X, y = _data("multiclass", np.float64)
    model = _estimator("multiclass", "adam").fit(X, y)
    model.history_ = {
        "loss": list(model.loss_curve_),
        "per_layer": [np.arange(3, dtype=np.int32), np.ones((2, 2), dtype=np.float32)],
        "best": (np.float64(0.5), float("inf"), float("nan"), None, True),
        "names": np.array(["x", "y"]),
    }
    restored = _roundtrip(model, "fastmlp", tmp_path)
    # numpy scalars come back as the Python numbers of the same value
    assert type(restored.history_["best"][0]) is float
    model.history_["best"] = (0.5,) + model.history_["best"][1:]
    _assert_same_value(model.history_, restored.history_, "history_")


def test_user_assigned_coefs_are_what_is_saved(tmp_path):
    X, y = _data("regression", np.float64)
    model = _estimator("regression", "lbfgs").fit(X, y)
    model.coefs_ = [np.full_like(c, 0.25) for c in model.coefs_]
    model.intercepts_ = [i.copy() for i in model.intercepts_]
    expected = model.predict(X)
    for how in ("fastmlp", "pickle"):
        restored = _roundtrip(model, how, tmp_path)
        assert all(np.all(c == 0.25) for c in restored.coefs_)
        assert restored.predict(X).tobytes() == expected.tobytes()


def test_save_to_and_load_from_file_objects():
    X, y = _data("strings", np.float32)
    model = _estimator("strings", "adam").fit(X, y)
    buffer = io.BytesIO()
    model.save(buffer)
    buffer.seek(0)
    restored = fastmlp.load(buffer)
    _assert_same_predictions(model, restored, X)


def test_file_is_an_npz_without_pickled_data(tmp_path):
    X, y = _data("object_strings", np.float64)
    model = _estimator("object_strings", "sgd").fit(X, y)
    path = tmp_path / "model.bin"
    model.save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.bin"]  # no suffix added
    with np.load(path, allow_pickle=False) as npz:
        members = {key: npz[key] for key in npz.files}  # every member loads without pickle
    assert sorted(members) == ["classes", "metadata", "optimizer_state", "params"]
    assert members["params"].tobytes() == model._params.tobytes()
    assert members["optimizer_state"].tobytes() == model._optimizer.state.tobytes()
    assert members["classes"].tolist() == model.classes_.tolist()
    metadata = json.loads(members["metadata"].tobytes().decode("utf-8"))
    assert sorted(metadata) == sorted([
        "format", "format_version", "fastmlp_version", "sklearn_version", "estimator",
        "hyperparameters", "network", "parameters", "fitted", "labels", "optimizer",
        "best_params", "extra_attributes",
    ])
    assert metadata["format"] == "fastmlp-model" and metadata["format_version"] == 2
    assert metadata["fastmlp_version"] == fastmlp.__version__
    assert metadata["estimator"] == "MLPClassifier"
    assert metadata["hyperparameters"]["hidden_layer_sizes"] == {"__tuple__": [6, 4]}
    assert "callbacks" not in metadata["hyperparameters"]
    assert metadata["network"] == {
        "layer_units": [5, 6, 4, 3], "hidden_activation": "relu",
        "output_activation": "softmax", "loss": model._net.loss, "maxout_pieces": 2,
        "batch_norm": False, "batch_norm_momentum": 0.1, "batch_norm_eps": 1e-5,
        "dropout": [0.0, 0.0], "alpha": 1e-4, "alpha_l1": 0.0,
    }
    assert metadata["parameters"] == {"dtype": "float64", "size": model._params.size}
    assert sorted(metadata["fitted"]) == sorted([
        "n_features_in_", "n_outputs_", "n_layers_", "out_activation_", "n_iter_", "t_",
        "_no_improvement_count", "loss_", "best_loss_", "best_validation_score_",
        "loss_curve_", "validation_scores_", "history_",
    ])
    assert metadata["fitted"]["n_iter_"] == model.n_iter_
    assert metadata["fitted"]["loss_curve_"] == model.loss_curve_
    # class labels as an array and the label encoding's fitted state: no LabelBinarizer dump
    as_object = bool(model.classes_.dtype == object)
    assert metadata["labels"] == {"classes": {"__array__": "classes", "object": as_object},
                                  "y_type": "multiclass", "sparse_input": False,
                                  "binarizer_classes": None}
    fields = model._optimizer.fields()
    assert metadata["optimizer"]["state"] == {"__array__": "optimizer_state", "object": False}
    assert {k: v for k, v in metadata["optimizer"].items() if k != "state"} == {
        k: v for k, v in fields.items() if k != "state"}
    assert metadata["best_params"] is None and metadata["extra_attributes"] == {}


def test_saved_file_gets_ordinary_permissions_and_replaces_atomically(tmp_path):
    import os

    X, y = _data("binary", np.float64)
    model = _estimator("binary", "lbfgs").fit(X, y)
    reference = tmp_path / "reference"
    reference.write_bytes(b"")  # a new file as open() creates it, under the same umask
    path = tmp_path / "model.npz"
    path.write_bytes(b"an older file")
    model.save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz", "reference"]
    if os.name == "posix":
        assert (path.stat().st_mode & 0o777) == (reference.stat().st_mode & 0o777)
    _assert_same_predictions(model, fastmlp.load(path), X)


# ------------------------------------------------------------------------------ refusals


@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
def test_unfitted_model_cannot_be_saved(Est, tmp_path):
    with pytest.raises(NotFittedError, match="fit it before saving"):
        Est().save(tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []


def test_parameter_that_is_not_storable_is_refused(tmp_path):
    X, y = _data("binary", np.float64)
    model = _estimator("binary", "adam").fit(X, y)
    model.set_params(activation=lambda x: x)
    with pytest.raises(TypeError, match="parameter 'activation'.*function"):
        model.save(tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []


def test_object_labels_of_other_types_are_refused(tmp_path):
    X, y = _data("binary", np.float64)
    labels = np.empty(2, dtype=object)
    labels[:] = [(0, "a"), (1, "b")]  # tuples: sortable, hashable, not storable without pickle
    model = _estimator("binary", "adam").fit(X, y)
    model.classes_ = labels
    with pytest.raises(TypeError, match="'classes_'.*tuple"):
        model.save(tmp_path / "m.npz")
    mixed = np.array(["a", 1], dtype=object)
    model.classes_ = mixed
    with pytest.raises(TypeError, match="'classes_'.*int, str"):
        model.save(tmp_path / "m.npz")


def test_other_classes_cannot_be_saved(tmp_path):
    class MyClassifier(MLPClassifier):
        pass

    X, y = _data("binary", np.float64)
    model = MyClassifier(hidden_layer_sizes=(3,), max_iter=2).fit(X, y)
    with pytest.raises(TypeError, match="MyClassifier"):
        model.save(tmp_path / "m.npz")


# ------------------------------------------------------------------------------ bad files


@pytest.fixture(scope="module")
def saved_bytes():
    X, y = _data("strings", np.float64)
    model = _estimator("strings", "adam").fit(X, y)
    buffer = io.BytesIO()
    model.save(buffer)
    return buffer.getvalue()


def _members(data):
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _rewrite(data, metadata_edit=None, arrays=None):
    """The saved file with its metadata JSON edited and / or members replaced."""
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        members = {key: npz[key] for key in npz.files}
    if metadata_edit is not None:
        metadata = json.loads(members["metadata"].tobytes().decode("utf-8"))
        metadata_edit(metadata)
        members["metadata"] = np.frombuffer(json.dumps(metadata).encode(), dtype=np.uint8)
    members.update(arrays or {})
    buffer = io.BytesIO()
    np.savez(buffer, **members)
    return buffer.getvalue()


def _set(path, value):
    def edit(metadata):
        node = metadata
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return edit


def _delete(path):
    def edit(metadata):
        node = metadata
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return edit


def _corrupt_params(data):
    """The file with a few bytes of the parameter values flipped (the zip CRC catches it)."""
    offset = data.index(b"params.npy") + 200
    return data[:offset] + bytes(b ^ 0xFF for b in data[offset : offset + 4]) + data[offset + 4 :]


BAD_FILES = {
    "truncated": (lambda d: d[: len(d) // 2], "not a readable fastmlp model file"),
    "truncated_end": (lambda d: d[:-30], "not a readable fastmlp model file"),
    "corrupted": (_corrupt_params, "not a readable fastmlp model file|CRC"),
    "empty": (lambda d: b"", "not a readable fastmlp model file"),
    "text": (lambda d: b"hello, this is not a model\n" * 10, "not a readable fastmlp model"),
    "npy": (lambda d: _npy_bytes(np.arange(3.0)), "not a readable fastmlp model file"),
    "foreign_npz": (lambda d: _npz_bytes(a=np.arange(3), b=np.eye(2)), "without fastmlp metadata"),
    "newer_version": (lambda d: _rewrite(d, _set(["format_version"], 99)),
                      "format version 99.*upgrade"),
    "bad_version": (lambda d: _rewrite(d, _set(["format_version"], "1")), "format_version"),
    "other_format": (lambda d: _rewrite(d, _set(["format"], "something")), "format"),
    "not_json": (lambda d: _rewrite(d, arrays={"metadata": np.frombuffer(b"{nope", np.uint8)}),
                 "not valid JSON"),
    "metadata_wrong_dtype": (lambda d: _rewrite(d, arrays={"metadata": np.arange(4.0)}),
                             "metadata entry"),
    "unknown_estimator": (lambda d: _rewrite(d, _set(["estimator"], "os.system")),
                          "'os.system'.*not a fastmlp estimator"),
    "unknown_parameter": (lambda d: _rewrite(d, _set(["hyperparameters", "exec_hook"], 0.5)),
                          "parameters \\['exec_hook'\\]"),
    "wrong_units": (lambda d: _rewrite(d, _set(["network", "layer_units"], [5, 7, 4, 3])),
                    "layer widths \\[5, 7, 4, 3\\]\\) needs"),
    "bad_units": (lambda d: _rewrite(d, _set(["network", "layer_units"], [5, -1])),
                  "network.layer_units"),
    "params_int": (lambda d: _rewrite(d, arrays={"params": np.arange(10)}), "parameter array"),
    "params_2d": (lambda d: _rewrite(d, arrays={"params": np.zeros((2, 2))}), "parameter array"),
    "params_big_endian": (
        lambda d: _rewrite(d, arrays={"params": _params_of(d).astype(">f8")}), "parameter array"
    ),
    "object_member": (lambda d: _npz_object_member(d), "dtype object"),
    "dunder_attribute": (lambda d: _rewrite(d, _set(["extra_attributes", "__class__"], "x")),
                         "'__class__'"),
    "method_shadowing": (lambda d: _rewrite(d, _set(["extra_attributes", "predict"], 1)),
                         "'predict'"),
    "private_extra": (lambda d: _rewrite(d, _set(["extra_attributes", "_optimizer"], 1)),
                      "extra_attributes set '_optimizer'"),
    "object_tag": (
        lambda d: _rewrite(d, _set(["extra_attributes", "x_"], {"__object__": "builtins.eval",
                                                                 "state": {}})),
        "unknown tagged value",
    ),
    "unknown_tag": (lambda d: _rewrite(d, _set(["extra_attributes", "x_"], {"__code__": "1"})),
                    "unknown tagged value"),
    "missing_array": (
        lambda d: _rewrite(d, _set(["extra_attributes", "x_"],
                                   {"__array__": "a999", "object": False})),
        "no 'a999' entry",
    ),
    "misplaced_array": (
        lambda d: _rewrite(d, _set(["labels", "classes"], {"__array__": "params",
                                                            "object": False})),
        "entry 'params' where 'classes' belongs",
    ),
    "optimizer_mismatch": (lambda d: _replace_optimizer_state(d, np.zeros(3)), "optimizer state"),
    "optimizer_float32": (lambda d: _replace_optimizer_state(d, np.float32), "optimizer state"),
    "optimizer_missing_field": (lambda d: _rewrite(d, _delete(["optimizer", "beta_1"])),
                                "optimizer field lacks \\['beta_1'\\]"),
    "optimizer_step": (lambda d: _rewrite(d, _set(["optimizer", "step"], -1)), "optimizer.step"),
    "optimizer_step_huge": (lambda d: _rewrite(d, _set(["optimizer", "step"], 2**70)),
                            "optimizer.step"),
    "bad_hyperparameter": (lambda d: _rewrite(d, _set(["hyperparameters", "activation"], "x")),
                           "hyperparameters are invalid.*'activation'"),
    "optimizer_solver": (lambda d: _rewrite(d, _set(["optimizer", "solver"], "lbfgs")),
                         "optimizer.*'lbfgs'"),
    "optimizer_number": (lambda d: _rewrite(d, _set(["optimizer", "beta_2"], "0.999")),
                         "optimizer.beta_2"),
    "wrong_n_features": (lambda d: _rewrite(d, _set(["fitted", "n_features_in_"], 4)),
                         "n_features_in_"),
    "n_iter_type": (lambda d: _rewrite(d, _set(["fitted", "n_iter_"], "3")), "fitted.n_iter_"),
    "loss_curve_type": (lambda d: _rewrite(d, _set(["fitted", "loss_curve_"], [1.0, "x"])),
                        "fitted.loss_curve_"),
    "unknown_fitted": (lambda d: _rewrite(d, _set(["fitted", "coefs_"], [])),
                       "fitted field has an entry 'coefs_'"),
    "missing_fitted": (lambda d: _rewrite(d, _delete(["fitted", "n_outputs_"])),
                       "fitted field has no 'n_outputs_'"),
    "bad_activation": (lambda d: _rewrite(d, _set(["fitted", "out_activation_"], "rm -rf")),
                       "fitted.out_activation_ 'rm -rf'"),
    "bad_network_activation": (
        lambda d: _rewrite(d, _set(["network", "hidden_activation"], "rm -rf")),
        "network names an activation",
    ),
    "network_maxout_huge": (lambda d: _rewrite(d, _set(["network", "maxout_pieces"], 2**40)),
                            "network is invalid"),
    "network_dropout": (lambda d: _rewrite(d, _set(["network", "dropout"], [0.5])),
                        "network.dropout"),
    "network_missing_field": (lambda d: _rewrite(d, _delete(["network", "loss"])),
                              "network field does not have"),
    "network_bn_eps": (lambda d: _rewrite(d, _set(["network", "batch_norm_eps"], 1e-3)),
                       "network.batch_norm_eps"),
    "parameters_size": (lambda d: _rewrite(d, _set(["parameters", "size"], 7)),
                        "parameters.size is 7"),
    "parameters_dtype": (lambda d: _rewrite(d, _set(["parameters", "dtype"], "float32")),
                         "the metadata says 'float32'"),
    "labels_y_type": (lambda d: _rewrite(d, _set(["labels", "y_type"], "continuous")),
                      "labels.y_type 'continuous'"),
    "labels_sparse_input": (lambda d: _rewrite(d, _set(["labels", "sparse_input"], 0)),
                            "labels.sparse_input"),
    "unknown_field": (lambda d: _rewrite(d, _set(["comment"], "hi")),
                      "metadata has fields.*'comment'"),
    "missing_params": (lambda d: _drop_member(d, "params.npy"), "no 'params' entry"),
    "size_lie": (lambda d: _size_lie(d), "declares shape"),
}


def _npy_bytes(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _npz_bytes(**arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _params_of(data):
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return npz["params"]


def _replace_optimizer_state(data, new):
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        metadata = json.loads(npz["metadata"].tobytes().decode("utf-8"))
        key = metadata["optimizer"]["state"]["__array__"]
        state = npz[key]
    new = new if isinstance(new, np.ndarray) else state.astype(new)
    return _rewrite(data, arrays={key: new})


def _npz_object_member(data):
    members = _members(data)
    members["classes.npy"] = _npy_bytes(np.array(["x", 1], dtype=object))
    return _zip(members)


def _drop_member(data, name):
    members = _members(data)
    del members[name]
    return _zip(members)


def _size_lie(data):
    # a header declaring a huge array (2**40 float64 values) over a few bytes of data
    members = _members(data)
    npy = members["params.npy"]
    header = npy[: npy.index(b"\n") + 1].decode("latin1")
    start, end = header.index("("), header.index(")")
    lie = header[:start] + "(%d,)" % 2**40 + header[end + 1 :]
    lie = lie[: len(header) - 1].ljust(len(header) - 1) + "\n"
    members["params.npy"] = lie.encode("latin1") + npy[len(header) :]
    return _zip(members)


def _zip(members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return buffer.getvalue()


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_gives_value_error_naming_file_and_problem(case, saved_bytes, tmp_path):
    # the undamaged bytes load
    good = tmp_path / "good.npz"
    good.write_bytes(saved_bytes)
    fastmlp.load(good)

    make, problem = BAD_FILES[case]
    path = tmp_path / ("bad_%s.npz" % case)
    path.write_bytes(make(saved_bytes))
    with pytest.raises(ValueError, match=problem) as info:
        fastmlp.load(path)
    assert str(path) in str(info.value)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        fastmlp.load(tmp_path / "nothing.npz")


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(
    "options",
    [
        {"activation": "prelu", "batch_norm": True, "dropout": 0.2},
        {"activation": "maxout", "maxout_pieces": 3, "solver": "adamw"},
        {"activation": "gelu", "loss": "hinge", "solver": "rmsprop"},
    ],
    ids=repr,
)
def test_course_options_round_trip(tmp_path, options):
    """PReLU slopes, batch-norm values (running statistics included) and the margin losses'
    scores come back bitwise, and training continues identically."""
    rng = np.random.RandomState(0)
    X, y = rng.randn(80, 5), rng.randint(0, 3, 80)
    model = MLPClassifier((6, 4), max_iter=3, random_state=0, **options).fit(X, y)
    path = tmp_path / "model.npz"
    model.save(path)
    for restored in (fastmlp.load(path), pickle.loads(pickle.dumps(model))):
        out = "decision_function" if options.get("loss") == "hinge" else "predict_proba"
        assert getattr(restored, out)(X).tobytes() == getattr(model, out)(X).tobytes()
        assert restored._model.views_in(vars(restored))
        for name in ("prelu_slopes_", "batch_norm_means_", "batch_norm_vars_"):
            if name in vars(model):
                assert [a.tobytes() for a in vars(restored)[name]] == [
                    a.tobytes() for a in vars(model)[name]
                ]
    twin = fastmlp.load(path)
    model.partial_fit(X, y)
    twin.partial_fit(X, y)
    assert twin._params.tobytes() == model._params.tobytes()


# ------------------------------------------------------- fitted state against the parameters


@pytest.fixture(scope="module")
def early_stopping_bytes():
    """A 3-class model with early stopping: it has best parameters, classes and an optimizer."""
    X, y = _data("strings", np.float64)
    model = _estimator("strings", "adam", early_stopping=True, max_iter=4)
    model.fit(np.tile(X, (2, 1)), np.tile(y, 2))
    assert model._best_params is not None
    buffer = io.BytesIO()
    model.save(buffer)
    return buffer.getvalue()


def _replace_member(data, key, make):
    """The file with the array member key replaced by ``make(old_array)``."""
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        old = npz[key]
    return _rewrite(data, arrays={key: make(old)})


def _more_classes(data):
    """Five class labels (classes_ and the label encoding's) for a 3-output network."""
    labels = np.array(["ant", "bee", "cat", "dog", "émeu"])
    return _rewrite(data, arrays={"classes": labels})


def _more_binarizer_classes(data):
    """classes_ as saved, but five labels for the label encoding to decode to."""
    labels = np.array(["ant", "bee", "cat", "dog", "émeu"])
    edit = _set(["labels", "binarizer_classes"], {"__array__": "binarizer_classes",
                                                   "object": False})
    return _rewrite(data, edit, arrays={"binarizer_classes": labels})


# Each case is one check of _check_fitted_state: deleting that check makes its case fail.
INCONSISTENT_FILES = {
    "best_params_shorter": (
        lambda d: _replace_member(d, "best_params", lambda a: a[:-1].copy()),
        "best parameters do not match the parameter array",
    ),
    "best_params_float32": (
        lambda d: _replace_member(d, "best_params", lambda a: a.astype(np.float32)),
        "best parameters do not match the parameter array",
    ),
    "best_params_2d": (
        lambda d: _replace_member(d, "best_params", lambda a: a.reshape(1, -1)),
        "best parameters do not match the parameter array",
    ),
    "more_classes_than_outputs": (_more_classes, "it has 5 class labels for 3 outputs"),
    "more_binarizer_classes_than_outputs": (_more_binarizer_classes,
                                            "it has 5 class labels for 3 outputs"),
    "n_outputs": (lambda d: _rewrite(d, _set(["fitted", "n_outputs_"], 2)),
                  r"its n_outputs_ is 2 but the layer widths \[5, 6, 4, 3\] need 3"),
    "n_layers": (lambda d: _rewrite(d, _set(["fitted", "n_layers_"], 3)),
                 r"its n_layers_ is 3 but the layer widths \[5, 6, 4, 3\] need 4"),
}


@pytest.mark.parametrize("case", sorted(INCONSISTENT_FILES))
def test_fitted_state_inconsistent_with_parameters_is_refused(case, early_stopping_bytes,
                                                              tmp_path):
    good = tmp_path / "good.npz"
    good.write_bytes(early_stopping_bytes)
    fastmlp.load(good)

    make, problem = INCONSISTENT_FILES[case]
    path = tmp_path / ("bad_%s.npz" % case)
    path.write_bytes(make(early_stopping_bytes))
    with pytest.raises(ValueError, match=problem) as info:
        fastmlp.load(path)
    assert str(path) in str(info.value)
