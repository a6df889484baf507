"""The training state stays consistent: the optimizer's step count after an interrupted call,
divergence as scikit-learn reports it, and the model-size check counting every parameter."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.neural_network import MLPRegressor as SkMLPRegressor

import fastmlp._training as training_module
from fastmlp import MLPRegressor, _core
from fastmlp._estimators import _check_model_size
from fastmlp._model_state import build_network, parameter_count
from fastmlp._training_options import ProgressBar


def _reg_data():
    rng = np.random.RandomState(0)
    X = rng.randn(50, 4)
    return X, X @ rng.randn(4) + 0.1 * rng.randn(50)


def test_interrupt_after_a_call_keeps_the_step_count(monkeypatch):
    """A Ctrl-C right after a call into the C core leaves the optimizer's step count equal to
    the batches applied, so that partial_fit continues with the right Adam bias correction."""
    X, y = _reg_data()
    params = dict(hidden_layer_sizes=(6,), solver="adam", batch_size=10, shuffle=False,
                  random_state=0, learning_rate_init=0.01)
    model = MLPRegressor(max_iter=5, **params)
    # one batch per call into the C core
    monkeypatch.setattr(training_module, "CALL_WORK", 10 * parameter_count([4, 6, 1]))
    calls = []

    def update(self, n):
        calls.append(n)
        if len(calls) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(ProgressBar, "update", update)
    with pytest.warns(UserWarning, match="interrupted"):
        model.fit(X, y)
    monkeypatch.undo()
    assert model._optimizer.step == 3  # the batches whose updates were applied
    model.partial_fit(X[30:], y[30:])

    reference = MLPRegressor(**params)
    reference.partial_fit(X[:30], y[:30])  # the same three batches, uninterrupted
    reference.partial_fit(X[30:], y[30:])
    assert reference._optimizer.step == model._optimizer.step == 5
    assert model._params.tobytes() == reference._params.tobytes()


DIVERGING = dict(hidden_layer_sizes=100, activation="identity", solver="sgd",
                 learning_rate_init=1, max_iter=20, random_state=0)


def test_divergence_with_early_stopping_finishes_as_scikit_learn():
    X, y = load_iris(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = SkMLPRegressor(early_stopping=True, **DIVERGING).fit(X, y)
        model = MLPRegressor(early_stopping=True, **DIVERGING).fit(X, y)
    # scikit-learn: the validation score becomes NaN and the best weights come back
    assert np.isnan(sk.validation_scores_[-1])
    assert np.isnan(model.validation_scores_[-1])
    assert model.best_validation_score_ == np.nanmax(model.validation_scores_)
    assert np.isfinite(model._params).all()
    assert np.isfinite(model.predict(X)).all()
    assert np.array_equal(model._params, model._best_params)


def test_divergence_without_early_stopping_says_scikit_learns_sentence():
    X, y = load_iris(return_X_y=True)
    sentence = ("Solver produced non-finite parameter weights. The input data may contain "
                "large values and need to be preprocessed.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError) as sk_error:
            SkMLPRegressor(**DIVERGING).fit(X, y)
        with pytest.raises(ValueError) as error:
            MLPRegressor(**DIVERGING).fit(X, y)
    assert " ".join(str(sk_error.value).split()) == sentence
    assert str(error.value).startswith(sentence)
    assert "epoch" in str(error.value)[len(sentence):]


@pytest.mark.parametrize("options", [
    dict(),
    dict(maxout_pieces=3),
    dict(prelu=True),
    dict(batch_norm=True),
    dict(maxout_pieces=2, batch_norm=True),
])
def test_parameter_count_is_the_networks(options):
    units = [7, 5, 4, 3]
    pieces = options.get("maxout_pieces", 1)
    activation = "maxout" if pieces > 1 else ("prelu" if options.get("prelu") else "relu")
    network = build_network(units, activation, "softmax", "log_loss", 0.0, 0.0, max(pieces, 2),
                            options.get("batch_norm", False), [0.0, 0.0])
    assert parameter_count(units, pieces, options.get("prelu", False),
                           options.get("batch_norm", False)) == network.n_params


def test_model_size_check_counts_maxout_pieces(monkeypatch):
    import fastmlp._estimators as estimators

    units = [10, 1000, 1]
    plain = parameter_count(units)
    # memory for the plain network's 4 values per parameter, not for 8 maxout pieces
    monkeypatch.setattr(estimators, "_physical_memory_bytes", lambda: 4 * plain * 8 + 8)
    _check_model_size((1000,), units, 8)
    with pytest.raises(ValueError, match="parameters"):
        _check_model_size((1000,), units, 8, maxout_pieces=8)
    with pytest.raises(ValueError, match="parameters"):
        _check_model_size((1000,), units, 8, batch_norm=True)


def test_predict_fast_path_passes_core_argument_errors_on(monkeypatch):
    """Only NaN / infinity in X is translated on predict's fast path; any other error of the C
    core propagates."""
    X, y = _reg_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MLPRegressor(hidden_layer_sizes=(5,), max_iter=2, random_state=0).fit(X, y)

    def broken(*args, **kwargs):
        raise ValueError("predict: array shapes do not match the network")

    monkeypatch.setattr(_core, "predict_contiguous", broken)
    with pytest.raises(ValueError, match="do not match the network"):
        model.predict(np.ascontiguousarray(X))


def _starts_on_a_cache_line(array):
    return array.ctypes.data % 64 == 0


def test_parameters_and_optimizer_state_are_cache_line_aligned(tmp_path):
    """The flat parameter array and the optimizer's state start on a 64-byte boundary however
    they were made (fit, pickle, save and load, conversion, a dtype change), and coefs_ /
    intercepts_ stay views of the flat array; numpy alone aligns to 16 bytes, and the C core's
    one-row predictions read misaligned weights at half speed."""
    import pickle

    import fastmlp
    from sklearn.neural_network import MLPClassifier as SkMLPClassifier

    X, y = load_iris(return_X_y=True)
    models = []
    for units in [(7,), (13, 5), (64,)]:
        est = fastmlp.MLPClassifier(hidden_layer_sizes=units, max_iter=3, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(X, y)
        models.append(est)
        models.append(pickle.loads(pickle.dumps(est)))
        est.save(tmp_path / "model.npz")
        models.append(fastmlp.load(tmp_path / "model.npz"))
    sk = SkMLPClassifier(hidden_layer_sizes=(9,), max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk.fit(X, y)
    models.append(fastmlp.from_sklearn(sk))
    for est in models:
        state = est._model_state(bind=False)
        assert _starts_on_a_cache_line(state.params)
        assert state.views_in(est.__dict__)
        assert all(a.base is state.owner for a in est.coefs_ + est.intercepts_)
        assert _starts_on_a_cache_line(state.with_dtype(np.float32).params)
        optimizer = getattr(est, "_optimizer", None)
        if optimizer is not None:
            assert _starts_on_a_cache_line(optimizer.state)
    # an unaligned array (numpy's 16 bytes, a view at an odd offset) is copied into aligned
    # storage; the views are of the copy
    state = models[0]._model_state(bind=False)
    buffer = np.empty(state.params.size + 1, dtype=state.params.dtype)
    odd = buffer[1:] if buffer.ctypes.data % 64 == 0 else buffer[:-1]
    odd[...] = state.params
    moved = type(state)(state.network, odd)
    assert _starts_on_a_cache_line(moved.params) and moved.params is not odd
    np.testing.assert_array_equal(moved.params, state.params)


def test_packing_arrays_that_do_not_fit_the_network_says_so():
    """ModelState.pack refuses arrays whose sizes do not add up to the network's parameters
    with a ValueError giving both counts."""
    from fastmlp._model_state import ModelState

    X, y = load_iris(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = MLPRegressor(hidden_layer_sizes=(5,), max_iter=2, random_state=0).fit(X, y)
    state = est._model_state(bind=False)
    coefs = list(est.coefs_) + [np.zeros((3, 3))]
    with pytest.raises(ValueError, match=r"\(%d values\).*need %d" % (
            state.network.n_params + 9, state.network.n_params)):
        ModelState.pack(state.network, coefs, est.intercepts_)
