"""fastmlp's training options beyond scikit-learn's: init, learning-rate schedules and warm-up,
class_weight, validation_data, restore_best_weights, history_ and plot_learning_curves."""

import math
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.metrics import log_loss, mean_poisson_deviance, r2_score
from sklearn.neural_network._base import LOSS_FUNCTIONS
from sklearn.utils.class_weight import compute_class_weight

from conftest import reference_library
from fastmlp import MLPClassifier, MLPRegressor, plot_learning_curves

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _clf_data(n_samples=200, n_classes=3, random_state=0):
    X, y = make_classification(
        n_samples=n_samples, n_features=8, n_informative=5, n_classes=n_classes,
        random_state=random_state,
    )
    return (X - X.mean(0)) / X.std(0), y


def _reg_data(n_samples=200, n_targets=1):
    X, y = make_regression(
        n_samples=n_samples, n_features=6, n_targets=n_targets, noise=1.0, random_state=0
    )
    return (X - X.mean(0)) / X.std(0), y / y.std(axis=0)


def _assert_same_model(a, b):
    for x, z in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        assert_array_equal(x, z)
    assert_array_equal(a.loss_curve_, b.loss_curve_)


# --------------------------------------------------------------------------------- init

# The smallest learning rate leaves weights of ordinary size unchanged to the last bit, so the
# fitted coefs_ are the initial weights (biases move from 0 to about 1e-300).
_FROZEN = dict(solver="sgd", learning_rate_init=1e-300, max_iter=1, shuffle=False)


@pytest.mark.parametrize(
    "init, draw",
    [
        ("glorot_normal", lambda rs, i, o: rs.normal(0.0, math.sqrt(2.0 / (i + o)), (i, o))),
        ("he_uniform", lambda rs, i, o: rs.uniform(-math.sqrt(6.0 / i), math.sqrt(6.0 / i), (i, o))),
        ("he_normal", lambda rs, i, o: rs.normal(0.0, math.sqrt(2.0 / i), (i, o))),
        ("normal", lambda rs, i, o: rs.normal(0.0, 0.05, (i, o))),
    ],
)
def test_init_draws_from_random_state(init, draw):
    X, y = _clf_data()
    model = MLPClassifier((7, 5), init=init, init_std=0.05, random_state=3, **_FROZEN).fit(X, y)
    rs = np.random.RandomState(3)
    for coef, (fan_in, fan_out) in zip(model.coefs_, [(8, 7), (7, 5), (5, 3)]):
        assert_array_equal(coef, draw(rs, fan_in, fan_out))
    for intercept in model.intercepts_:
        assert_allclose(intercept, 0.0, rtol=0, atol=1e-250)


def test_default_init_is_scikit_learns():
    from sklearn.neural_network import MLPClassifier as Ref

    X, y = _clf_data()
    ours = MLPClassifier((7,), activation="logistic", random_state=4, **_FROZEN).fit(X, y)
    ref = Ref((7,), activation="logistic", random_state=4, **_FROZEN).fit(X, y)
    for a, b in zip(ours.coefs_ + ours.intercepts_, ref.coefs_ + ref.intercepts_):
        assert_allclose(a, b, rtol=1e-12, atol=1e-250)


def test_init_float32_and_glorot_normal_differs_from_default():
    X, y = _clf_data()
    a = MLPClassifier((6,), init="glorot_normal", random_state=0, max_iter=2).fit(
        X.astype(np.float32), y
    )
    assert a.coefs_[0].dtype == np.float32
    b = MLPClassifier((6,), random_state=0, max_iter=2).fit(X.astype(np.float32), y)
    assert not np.array_equal(a.coefs_[0], b.coefs_[0])


@pytest.mark.parametrize("init", ["he_uniform", "he_normal"])
def test_he_init_matches_pytorch_kaiming(init):
    torch = reference_library("torch")
    fan_in, fan_out = 400, 300
    X = np.random.RandomState(0).normal(size=(10, fan_in))
    y = np.arange(10) % 2
    model = MLPClassifier((fan_out,), init=init, random_state=0, **_FROZEN).fit(X, y)
    ours = model.coefs_[0]
    weight = torch.empty(fan_out, fan_in, dtype=torch.float64)  # torch's (out, in) layout
    torch.manual_seed(0)
    if init == "he_uniform":
        torch.nn.init.kaiming_uniform_(weight, mode="fan_in", nonlinearity="relu")
        # same bound: both reach within 0.1% of it and never beyond
        bound = float(weight.abs().max())
        assert np.abs(ours).max() <= math.sqrt(6.0 / fan_in)
        assert_allclose(np.abs(ours).max(), bound, rtol=2e-3)
    else:
        torch.nn.init.kaiming_normal_(weight, mode="fan_in", nonlinearity="relu")
    # same spread (120000 draws each: standard deviations agree to about 0.5%)
    assert_allclose(ours.std(), float(weight.std()), rtol=1.5e-2)
    assert_allclose(ours.std(), math.sqrt(2.0 / fan_in), rtol=1.5e-2)


# --------------------------------------------------------------------------------- schedules


def _formula(schedule, lr0, e, max_iter, step=10, gamma=0.1, lr_min=0.0, warmup=0):
    if schedule == "constant":
        rate = lr0
    elif schedule == "step":
        rate = lr0 * gamma ** (e // step)
    elif schedule == "exponential":
        rate = lr0 * gamma**e
    else:
        rate = lr_min + (lr0 - lr_min) * (1 + math.cos(math.pi * e / max_iter)) / 2
    if e < warmup:
        rate *= (e + 1) / warmup
    return rate


_SCHEDULES = [
    ("step", dict(lr_step_size=3, lr_gamma=0.5)),
    ("exponential", dict(lr_gamma=0.8)),
    ("cosine", dict(lr_min=0.001)),
]


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("warmup", [0, 4])
@pytest.mark.parametrize("schedule, options", _SCHEDULES)
def test_schedule_rates_follow_formula(schedule, options, warmup, solver):
    X, y = _clf_data()
    max_iter = 12
    model = MLPClassifier(
        (6,), solver=solver, learning_rate=schedule, learning_rate_init=0.02, max_iter=max_iter,
        warmup_epochs=warmup, tol=0, n_iter_no_change=100, random_state=0, **options,
    ).fit(X, y)
    expected = [
        _formula(schedule, 0.02, e, max_iter, warmup=warmup,
                 step=options.get("lr_step_size", 10), gamma=options.get("lr_gamma", 0.1),
                 lr_min=options.get("lr_min", 0.0))
        for e in range(max_iter)
    ]
    assert_allclose(model.history_["learning_rate"], expected, rtol=1e-15)


def _torch_rates(schedule, options, lr0, max_iter, warmup):
    torch = reference_library("torch")
    lr_sched = torch.optim.lr_scheduler
    param = torch.nn.Parameter(torch.zeros(1))

    def run(make):
        opt = torch.optim.SGD([param], lr=lr0)
        sched = make(opt)
        rates = []
        for _ in range(max_iter):
            rates.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        return np.array(rates)

    if schedule == "step":
        main = run(lambda o: lr_sched.StepLR(o, step_size=options["lr_step_size"],
                                             gamma=options["lr_gamma"]))
    elif schedule == "exponential":
        main = run(lambda o: lr_sched.ExponentialLR(o, gamma=options["lr_gamma"]))
    elif schedule == "cosine":
        main = run(lambda o: lr_sched.CosineAnnealingLR(o, T_max=max_iter,
                                                        eta_min=options["lr_min"]))
    else:
        main = np.full(max_iter, lr0)
    if warmup:
        factor = run(lambda o: lr_sched.LinearLR(o, start_factor=1.0 / warmup, end_factor=1.0,
                                                 total_iters=warmup - 1)) / lr0
        main = main * factor
    return main


@pytest.mark.parametrize("warmup", [0, 3])
@pytest.mark.parametrize("schedule, options", _SCHEDULES + [("constant", {})])
def test_schedule_rates_match_pytorch(schedule, options, warmup):
    reference_library("torch")
    X, y = _clf_data()
    max_iter = 15
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch's scheduler warnings
        expected = _torch_rates(schedule, options, 0.05, max_iter, warmup)
    model = MLPClassifier(
        (6,), solver="adam", learning_rate=schedule, learning_rate_init=0.05, max_iter=max_iter,
        warmup_epochs=warmup, tol=0, n_iter_no_change=100, random_state=0, **options,
    ).fit(X, y)
    assert_allclose(model.history_["learning_rate"], expected, rtol=1e-12)


def test_step_schedule_reaches_the_c_core():
    # With plain SGD (no momentum state), a 'step' schedule equals warm-start fits of one epoch
    # each at the decayed rates, to the last bit.
    X, y = _clf_data()
    common = dict(hidden_layer_sizes=(6,), solver="sgd", momentum=0.0, shuffle=False,
                  random_state=0, tol=0, n_iter_no_change=100)
    scheduled = MLPClassifier(learning_rate="step", lr_step_size=1, lr_gamma=0.5,
                              learning_rate_init=0.1, max_iter=3, **common).fit(X, y)
    manual = MLPClassifier(learning_rate_init=0.1, max_iter=1, **common).fit(X, y)
    for rate in (0.1 * 0.5**1, 0.1 * 0.5**2):
        manual.set_params(warm_start=True, learning_rate_init=rate).fit(X, y)
    _assert_same_model(scheduled, manual)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_decayed_rate_freezes_weights(solver):
    X, y = _clf_data()
    # (SGD without momentum: a velocity would keep moving the weights at any rate)
    common = dict(hidden_layer_sizes=(6,), solver=solver, random_state=0, tol=0,
                  learning_rate_init=0.01, momentum=0.0)
    one = MLPClassifier(max_iter=1, **common).fit(X, y)
    frozen = MLPClassifier(max_iter=4, learning_rate="step", lr_step_size=1, lr_gamma=1e-40,
                           **common).fit(X, y)
    for a, b in zip(one.coefs_, frozen.coefs_):
        assert_allclose(a, b, rtol=1e-25, atol=1e-30)
    # and without the decay the weights keep moving
    moving = MLPClassifier(max_iter=4, **common).fit(X, y)
    assert not np.allclose(one.coefs_[0], moving.coefs_[0], rtol=1e-6)


def test_warmup_with_constant_rate_scales_first_epochs():
    X, y = _clf_data()
    model = MLPClassifier((6,), learning_rate_init=0.01, warmup_epochs=4, max_iter=6,
                          random_state=0).fit(X, y)
    assert model.history_["learning_rate"] == [0.0025, 0.005, 0.0075, 0.01, 0.01, 0.01]


def test_epoch_count_continues_in_partial_fit_and_restarts_with_warm_start():
    X, y = _clf_data()
    model = MLPClassifier((6,), learning_rate="cosine", learning_rate_init=0.1, lr_min=0.01,
                          max_iter=4, tol=0, n_iter_no_change=100, random_state=0)
    model.fit(X, y)
    model.partial_fit(X, y)
    model.partial_fit(X, y)
    expected = [_formula("cosine", 0.1, e, 4, lr_min=0.01) for e in range(4)] + [0.01, 0.01]
    assert_allclose(model.history_["learning_rate"], expected, rtol=1e-15)
    model.set_params(warm_start=True).fit(X, y)
    assert_allclose(model.history_["learning_rate"][6:], expected[:4], rtol=1e-15)


def test_invscaling_rate_per_epoch_is_documented_formula():
    X, y = _clf_data(n_samples=150)
    model = MLPClassifier((6,), solver="sgd", learning_rate="invscaling", power_t=1.0,
                          learning_rate_init=0.5, max_iter=5, random_state=0).fit(X, y)
    n = X.shape[0]
    expected = [0.5 / ((k - 1) * n + 1) ** 1.0 for k in range(1, 6)]
    assert_allclose(model.history_["learning_rate"], expected, rtol=1e-15)


def test_default_schedule_keeps_adam_rate_and_sgd_adaptive():
    X, y = _clf_data()
    adam = MLPClassifier((6,), learning_rate="invscaling", max_iter=3, random_state=0).fit(X, y)
    assert adam.history_["learning_rate"] == [0.001] * 3


# ------------------------------------------------------ 'auto' learning rate and decay factor

# What learning_rate_init='auto' and lr_gamma='auto' resolve to, as documented.
_AUTO_RATES = {"sgd": 0.001, "adam": 0.001, "adamw": 0.001, "adagrad": 0.01, "rmsprop": 0.01,
               "adadelta": 1.0}
_AUTO_GAMMAS = {"step": 0.1, "exponential": 0.95}


@pytest.mark.parametrize("solver", sorted(_AUTO_RATES))
def test_auto_learning_rate_is_the_solvers_own(solver):
    X, y = _clf_data()
    model = MLPClassifier((6,), solver=solver, max_iter=2, random_state=0).fit(X, y)
    assert model.get_params()["learning_rate_init"] == "auto"
    assert model.learning_rate_init_ == _AUTO_RATES[solver]
    assert model.history_["learning_rate"] == [_AUTO_RATES[solver]] * 2
    explicit = MLPClassifier((6,), solver=solver, learning_rate_init=0.05, max_iter=2,
                             random_state=0).fit(X, y)
    assert explicit.learning_rate_init_ == 0.05
    assert explicit.history_["learning_rate"] == [0.05] * 2


@pytest.mark.parametrize("schedule", sorted(_AUTO_GAMMAS))
def test_auto_lr_gamma_is_the_schedules_own(schedule):
    X, y = _reg_data()
    common = dict(hidden_layer_sizes=(6,), learning_rate=schedule, lr_step_size=1, max_iter=3,
                  random_state=0)
    model = MLPRegressor(**common).fit(X, y)
    gamma = _AUTO_GAMMAS[schedule]
    assert model.get_params()["lr_gamma"] == "auto"
    assert model.lr_gamma_ == gamma
    assert_allclose(model.history_["learning_rate"], [0.001, 0.001 * gamma, 0.001 * gamma**2],
                    rtol=1e-15)
    explicit = MLPRegressor(lr_gamma=0.5, **common).fit(X, y)
    assert explicit.lr_gamma_ == 0.5
    assert_allclose(explicit.history_["learning_rate"], [0.001, 0.0005, 0.00025], rtol=1e-15)


def test_auto_rates_are_torch_optims_defaults():
    torch = reference_library("torch")
    import inspect

    classes = {"adamw": torch.optim.AdamW, "adagrad": torch.optim.Adagrad,
               "rmsprop": torch.optim.RMSprop, "adadelta": torch.optim.Adadelta}
    for solver, cls in classes.items():
        assert _AUTO_RATES[solver] == inspect.signature(cls).parameters["lr"].default, solver


@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_auto_is_scikit_learns_rate_bit_for_bit(Est, solver):
    X, y = _clf_data() if Est is MLPClassifier else _reg_data()
    common = dict(hidden_layer_sizes=(6,), solver=solver, max_iter=4, random_state=0)
    _assert_same_model(Est(**common).fit(X, y), Est(learning_rate_init=0.001, **common).fit(X, y))
    step = dict(common, learning_rate="step", lr_step_size=1)
    _assert_same_model(Est(**step).fit(X, y), Est(lr_gamma=0.1, **step).fit(X, y))


def test_resolved_values_need_a_stochastic_fit():
    X, y = _clf_data()
    assert not hasattr(MLPClassifier(), "learning_rate_init_")
    lbfgs = MLPClassifier((6,), solver="lbfgs", max_iter=5, random_state=0).fit(X, y)
    assert not hasattr(lbfgs, "learning_rate_init_")
    assert not hasattr(lbfgs, "lr_gamma_")
    with pytest.raises(AttributeError, match="learning_rate_init_"):
        lbfgs.learning_rate_init_


def test_auto_survives_clone_set_params_and_save(tmp_path):
    from sklearn.base import clone

    import fastmlp

    X, y = _clf_data()
    model = MLPClassifier((6,), solver="adagrad", max_iter=2, random_state=0).fit(X, y)
    assert clone(model).get_params()["learning_rate_init"] == "auto"
    path = tmp_path / "model.fastmlp"
    model.save(path)
    restored = fastmlp.load(path)
    assert restored.get_params()["learning_rate_init"] == "auto"
    assert restored.learning_rate_init_ == 0.01
    # partial_fit goes on with the optimizer's rate; a new fit resolves 'auto' afresh
    restored.partial_fit(X, y)
    assert restored.history_["learning_rate"][-1] == 0.01
    restored.set_params(solver="adadelta").fit(X, y)
    assert restored.learning_rate_init_ == 1.0


def _digits_split():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, random_state=0)


@pytest.mark.parametrize(
    "options",
    [
        dict(solver="adam"),
        dict(solver="adamw"),
        dict(solver="adagrad"),
        dict(solver="rmsprop"),
        dict(solver="adadelta"),
        dict(solver="adam", learning_rate="exponential"),
        dict(solver="adagrad", learning_rate="exponential"),
    ],
    ids=lambda options: "-".join(options.values()),
)
def test_default_rates_train_digits(options):
    # Out of the box, every solver and schedule learns digits as Adam does (60 epochs:
    # adam 0.967-0.976 over seeds 0-2, the others 0.924-0.976; at the former shared rate
    # 0.001 and gamma 0.1, adagrad reached about 0.8, adadelta 0.07, exponential 0.13-0.21).
    X_train, X_test, y_train, y_test = _digits_split()
    for seed in (0, 1):
        model = MLPClassifier(max_iter=60, random_state=seed, **options).fit(X_train, y_train)
        assert model.score(X_test, y_test) > 0.9, seed


# --------------------------------------------------------------------------------- class_weight


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_class_weight_equals_doubled_sample_weight(solver):
    X, y = _clf_data()
    common = dict(hidden_layer_sizes=(6,), solver=solver, max_iter=5, random_state=0)
    a = MLPClassifier(class_weight={1: 2}, **common).fit(X, y)
    b = MLPClassifier(**common).fit(X, y, sample_weight=np.where(y == 1, 2.0, 1.0))
    for x, z in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        assert_array_equal(x, z)
    assert a.loss_ == b.loss_


def test_class_weight_multiplies_sample_weight_and_string_labels():
    X, y = _clf_data()
    labels = np.array(["ant", "bee", "cat"])[y]
    sw = np.linspace(0.5, 1.5, len(y))
    common = dict(hidden_layer_sizes=(6,), max_iter=4, random_state=0)
    a = MLPClassifier(class_weight={"bee": 3.0, "cat": 0.5}, **common)
    a.fit(X, labels, sample_weight=sw)
    factor = np.select([labels == "bee", labels == "cat"], [3.0, 0.5], 1.0)
    b = MLPClassifier(**common).fit(X, labels, sample_weight=sw * factor)
    _assert_same_model(a, b)


def test_class_weight_balanced_is_compute_class_weight():
    X, y = _clf_data()
    y = np.where(np.arange(len(y)) < 150, y, 0)  # imbalanced
    common = dict(hidden_layer_sizes=(6,), max_iter=4, random_state=0)
    a = MLPClassifier(class_weight="balanced", **common).fit(X, y)
    weights = compute_class_weight("balanced", classes=np.unique(y), y=y)
    b = MLPClassifier(**common).fit(X, y, sample_weight=weights[y])
    _assert_same_model(a, b)


def test_class_weight_binary_and_early_stopping_split():
    X, y = _clf_data(n_classes=2)
    common = dict(hidden_layer_sizes=(6,), max_iter=6, random_state=0, early_stopping=True)
    a = MLPClassifier(class_weight={0: 0.25}, **common).fit(X, y)
    b = MLPClassifier(**common).fit(X, y, sample_weight=np.where(y == 0, 0.25, 1.0))
    _assert_same_model(a, b)
    assert a.validation_scores_ == b.validation_scores_


def test_class_weight_errors():
    X, y = _clf_data()
    with pytest.raises(ValueError, match=r"class_weight has labels \[7\]"):
        MLPClassifier(class_weight={7: 2.0}, max_iter=1).fit(X, y)
    with pytest.raises(ValueError, match="class_weight"):
        MLPClassifier(class_weight={0: -1.0}, max_iter=1).fit(X, y)
    with pytest.raises(ValueError, match="class_weight"):
        MLPClassifier(class_weight="bogus", max_iter=1).fit(X, y)
    Y = np.stack([y == 0, y == 1], axis=1).astype(int)
    with pytest.raises(ValueError, match="multilabel"):
        MLPClassifier(class_weight={0: 2.0}, max_iter=1).fit(X, Y)
    with pytest.raises(ValueError, match="partial_fit"):
        MLPClassifier(class_weight="balanced").partial_fit(X, y, classes=[0, 1, 2])
    # a dict works in partial_fit: the same steps as its weights given as sample_weight
    common = dict(hidden_layer_sizes=(6,), random_state=0)
    a = MLPClassifier(class_weight={2: 3.0}, **common)
    b = MLPClassifier(**common)
    for _ in range(3):
        a.partial_fit(X, y, classes=[0, 1, 2])
        b.partial_fit(X, y, classes=[0, 1, 2], sample_weight=np.where(y == 2, 3.0, 1.0))
    _assert_same_model(a, b)
    plain = MLPClassifier(**common).partial_fit(X, y, classes=[0, 1, 2])
    assert not np.array_equal(plain.coefs_[0], MLPClassifier(class_weight={2: 3.0}, **common)
                              .partial_fit(X, y, classes=[0, 1, 2]).coefs_[0])
    assert "class_weight" not in MLPRegressor().get_params()


# --------------------------------------------------------------------------------- validation data


def test_validation_data_replaces_split_and_trains_on_all_of_x():
    X, y = _clf_data(n_samples=300)
    X_val, y_val = X[:100], y[:100]
    X_tr, y_tr = X[100:], y[100:]
    common = dict(hidden_layer_sizes=(8,), max_iter=8, random_state=0, tol=0,
                  n_iter_no_change=100)
    plain = MLPClassifier(**common).fit(X_tr, y_tr)
    with_val = MLPClassifier(early_stopping=True, validation_data=(X_val, y_val),
                             restore_best_weights=False, **common).fit(X_tr, y_tr)
    # same training set, same draws (no split): the same model, plus validation scores
    _assert_same_model(plain, with_val)
    assert with_val.validation_scores_[-1] == plain.score(X_val, y_val)
    assert with_val.history_["val_score"] == with_val.validation_scores_
    # without early stopping the validation data is only recorded
    recorded = MLPClassifier(validation_data=(X_val, y_val), **common).fit(X_tr, y_tr)
    _assert_same_model(plain, recorded)
    assert recorded.validation_scores_ is None
    assert recorded.history_["val_score"] == with_val.validation_scores_


def test_validation_data_with_sample_weight_and_loss():
    X, y = _clf_data(n_samples=300)
    sw_val = np.linspace(0.1, 2.0, 100)
    model = MLPClassifier((8,), max_iter=5, random_state=0, alpha=0.01, batch_size=50,
                          validation_data=(X[:100], y[:100], sw_val)).fit(X[100:], y[100:])
    assert model.history_["val_score"][-1] == model.score(X[:100], y[:100], sample_weight=sw_val)
    penalty = 0.5 * 0.01 * sum((c**2).sum() for c in model.coefs_) / 50
    expected = log_loss(y[:100], model.predict_proba(X[:100]), sample_weight=sw_val) + penalty
    assert_allclose(model.history_["val_loss"][-1], expected, rtol=1e-12)


@pytest.mark.parametrize("target", ["binary", "multilabel"])
def test_validation_loss_logistic_outputs(target):
    X, y = _clf_data(n_samples=300)
    if target == "binary":
        Y = (y == 1).astype(int)
    else:
        Y = np.stack([y == 0, y == 1, y == 2, y != 1], axis=1).astype(int)
    model = MLPClassifier((8,), max_iter=3, random_state=0, batch_size=40,
                          validation_data=(X[:100], Y[:100])).fit(X[100:], Y[100:])
    proba = model.predict_proba(X[:100])
    Yv = Y[:100].reshape(100, -1)
    data = LOSS_FUNCTIONS["binary_log_loss"](Yv, proba[:, -Yv.shape[1]:])
    penalty = 0.5 * model.alpha * sum((c**2).sum() for c in model.coefs_) / 40
    assert_allclose(model.history_["val_loss"][-1], data + penalty, rtol=1e-12)
    if target == "binary":
        assert_allclose(data, log_loss(Y[:100], proba), rtol=1e-12)


@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
def test_validation_loss_regression(loss):
    X, y = _reg_data(n_samples=300)
    if loss == "poisson":
        y = np.exp(0.3 * y)
    model = MLPRegressor(loss=loss, hidden_layer_sizes=(8,), max_iter=3, random_state=0,
                         alpha=0.0, validation_data=(X[:100], y[:100])).fit(X[100:], y[100:])
    pred = model.predict(X[:100])
    if loss == "squared_error":
        expected = 0.5 * np.mean((y[:100] - pred) ** 2)
    else:
        expected = 0.5 * mean_poisson_deviance(y[:100], pred)
    assert_allclose(model.history_["val_loss"][-1], expected, rtol=1e-10)
    assert_allclose(model.history_["val_score"][-1], r2_score(y[:100], pred), rtol=1e-12)


def test_validation_data_errors():
    X, y = _clf_data()
    fit = lambda vd, Est=MLPClassifier, yy=y: Est(validation_data=vd, max_iter=1).fit(X, yy)
    with pytest.raises(ValueError, match="validation_data: X_val .*features"):
        fit((X[:, :5], y))
    with pytest.raises(ValueError, match=r"validation_data: y_val has classes \[7\]"):
        fit((X[:10], np.full(10, 7)))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        fit((X[:10], y[:9]))
    with pytest.raises(ValueError, match="tuple"):
        fit((X[:10],))
    with pytest.raises(ValueError, match="validation_data"):
        fit([X[:10], y[:10]])
    with pytest.raises(ValueError, match="sample_weight"):
        fit((X[:10], y[:10], np.ones(3)))
    Xr, yr = _reg_data()
    with pytest.raises(ValueError, match="non-negative"):
        MLPRegressor(loss="poisson", validation_data=(Xr[:5], -np.ones(5)), max_iter=1).fit(
            Xr, np.abs(yr)
        )
    with pytest.raises(ValueError, match="outputs"):
        MLPRegressor(validation_data=(Xr[:5], np.ones((5, 2))), max_iter=1).fit(Xr, yr)


# --------------------------------------------------------------------------------- best weights


def _overfitting_setup():
    # few noisy training rows, a big net and a high rate: the validation score peaks early
    X, y = _clf_data(n_samples=400, random_state=1)
    rng = np.random.RandomState(0)
    y_noisy = np.where(rng.rand(len(y)) < 0.3, rng.randint(0, 3, len(y)), y)
    return X[:60], y_noisy[:60], X[200:], y[200:]


def _weights_after(epochs, **params):
    X_tr, y_tr, X_val, y_val = _overfitting_setup()
    return MLPClassifier(**{**params, "max_iter": epochs, "restore_best_weights": False}).fit(
        X_tr, y_tr
    )


_BEST = dict(hidden_layer_sizes=(64,), learning_rate_init=0.05, random_state=0, tol=0,
             n_iter_no_change=1000)


def test_restore_best_weights_true_by_validation_score():
    X_tr, y_tr, X_val, y_val = _overfitting_setup()
    params = dict(_BEST, validation_data=(X_val, y_val))
    model = MLPClassifier(max_iter=40, restore_best_weights=True, **params).fit(X_tr, y_tr)
    scores = model.history_["val_score"]
    best = int(np.argmax(scores))
    assert best < len(scores) - 1 and scores[best] > scores[-1]  # the case this test needs
    _assert_same_model_weights(model, _weights_after(best + 1, **params))
    assert model.score(X_val, y_val) == scores[best]
    last = MLPClassifier(max_iter=40, restore_best_weights="auto", **params).fit(X_tr, y_tr)
    _assert_same_model_weights(last, _weights_after(40, **params))


def _assert_same_model_weights(a, b):
    for x, z in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        assert_array_equal(x, z)


def test_restore_best_weights_true_by_training_loss():
    X_tr, y_tr, _, _ = _overfitting_setup()
    params = dict(_BEST, solver="sgd", learning_rate_init=3.0)  # oscillating loss
    model = MLPClassifier(max_iter=30, restore_best_weights=True, **params).fit(X_tr, y_tr)
    losses = model.loss_curve_
    best = int(np.argmin(losses))
    assert best < len(losses) - 1 and losses[best] < losses[-1]  # the case this test needs
    assert "val_loss" not in model.history_
    _assert_same_model_weights(model, _weights_after(best + 1, **params))
    assert model.loss_curve_ == _weights_after(30, **params).loss_curve_


@pytest.mark.parametrize("restore", ["auto", True, False])
def test_restore_best_weights_with_early_stopping(restore):
    X_tr, y_tr, X_val, y_val = _overfitting_setup()
    X = np.concatenate([X_tr, X_val[:60]])
    y = np.concatenate([y_tr, y_val[:60]])
    params = dict(_BEST, early_stopping=True, validation_fraction=0.5, n_iter_no_change=8)
    model = MLPClassifier(max_iter=60, restore_best_weights=restore, **params).fit(X, y)
    scores = model.validation_scores_
    best = int(np.argmax(scores))
    assert best < len(scores) - 1  # stopped after the best epoch
    assert model.best_validation_score_ == scores[best]
    # the same fit cut at an epoch, keeping its last weights (same split, same trajectory)
    def cut(epochs):
        return MLPClassifier(max_iter=epochs, restore_best_weights=False, **params).fit(X, y)

    if restore is False:
        _assert_same_model_weights(model, cut(len(scores)))
    else:
        _assert_same_model_weights(model, cut(best + 1))
        assert cut(best + 1).validation_scores_[-1] == scores[best]


def test_restore_best_weights_auto_without_validation_keeps_last():
    X_tr, y_tr, _, _ = _overfitting_setup()
    a = MLPClassifier(max_iter=12, **_BEST).fit(X_tr, y_tr)
    b = MLPClassifier(max_iter=12, restore_best_weights=False, **_BEST).fit(X_tr, y_tr)
    _assert_same_model(a, b)


# --------------------------------------------------------------------------------- history_


def test_history_keys_and_loss_curve():
    X, y = _clf_data()
    model = MLPClassifier((6,), max_iter=4, random_state=0).fit(X, y)
    assert list(model.history_) == ["loss", "score", "time", "learning_rate"]
    assert model.history_["loss"] == model.loss_curve_
    assert all(t > 0 for t in model.history_["time"])
    model.partial_fit(X, y)
    model.partial_fit(X, y)
    assert len(model.history_["loss"]) == 6 and model.history_["loss"] == model.loss_curve_
    model.fit(X, y)  # a fresh fit resets it
    assert len(model.history_["score"]) == 4
    es = MLPClassifier((6,), max_iter=4, random_state=0, early_stopping=True).fit(X, y)
    assert list(es.history_) == ["loss", "score", "val_loss", "val_score", "time",
                                 "learning_rate"]
    assert es.history_["val_score"] == es.validation_scores_
    lbfgs = MLPClassifier((6,), solver="lbfgs", max_iter=4, random_state=0).fit(X, y)
    assert not hasattr(lbfgs, "history_")


@pytest.mark.parametrize("target", ["multiclass", "binary", "multilabel"])
@pytest.mark.parametrize("weighted", [False, True])
def test_training_score_full_batch_is_score_before_each_update(weighted, target):
    # full batch, no shuffling: the running score over the epoch's one batch is the score of
    # the weights the epoch started from (accuracy; multilabel rows count when all labels are
    # right, as scikit-learn's score)
    X, y = _clf_data(n_samples=120)
    if target == "binary":
        y = (y == 1).astype(int)
    elif target == "multilabel":
        y = np.stack([y == 0, y == 1, y != 2], axis=1).astype(int)
    sw = np.linspace(0.2, 3.0, len(y)) if weighted else None
    common = dict(hidden_layer_sizes=(6,), solver="sgd", batch_size=len(y), shuffle=False,
                  learning_rate_init=0.3, random_state=0, tol=0, n_iter_no_change=100)
    model = MLPClassifier(max_iter=5, **common).fit(X, y, sample_weight=sw)
    start = MLPClassifier(**{**common, "learning_rate_init": 1e-300}, max_iter=1)
    start.fit(X, y, sample_weight=sw)
    expected = [start.score(X, y, sample_weight=sw)]
    for k in range(1, 5):
        expected.append(MLPClassifier(max_iter=k, **common).fit(X, y, sample_weight=sw)
                        .score(X, y, sample_weight=sw))
    assert_allclose(model.history_["score"], expected, rtol=1e-12)


def test_training_score_regression_is_pooled_r2():
    X, Y = _reg_data(n_samples=120, n_targets=2)
    Y[:, 1] *= 3.0
    sw = np.linspace(0.5, 1.5, len(Y))
    common = dict(hidden_layer_sizes=(6,), solver="sgd", batch_size=len(Y), shuffle=False,
                  learning_rate_init=0.05, random_state=0, tol=0, n_iter_no_change=100)
    model = MLPRegressor(max_iter=3, **common).fit(X, Y, sample_weight=sw)
    previous = MLPRegressor(max_iter=2, **common).fit(X, Y, sample_weight=sw)
    pred = previous.predict(X)
    sse = np.sum(sw[:, None] * (Y - pred) ** 2)
    sst = np.sum(sw[:, None] * (Y - np.average(Y, weights=sw, axis=0)) ** 2)
    assert_allclose(model.history_["score"][-1], 1 - sse / sst, rtol=1e-10)
    # one output: R^2 itself
    one = MLPRegressor(max_iter=3, **common).fit(X, Y[:, 0])
    prev = MLPRegressor(max_iter=2, **common).fit(X, Y[:, 0])
    assert_allclose(one.history_["score"][-1], r2_score(Y[:, 0], prev.predict(X)), rtol=1e-10)


def test_training_score_tracks_minibatch_accuracy():
    X, y = _clf_data(n_samples=400)
    model = MLPClassifier((16,), max_iter=30, learning_rate_init=0.01, random_state=0).fit(X, y)
    scores = model.history_["score"]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scores[-1] > scores[0]
    assert abs(scores[-1] - model.score(X, y)) < 0.1


def test_history_survives_pickle():
    import pickle

    X, y = _clf_data()
    model = MLPClassifier((6,), max_iter=3, random_state=0, early_stopping=True).fit(X, y)
    restored = pickle.loads(pickle.dumps(model))
    assert restored.history_ == model.history_


# --------------------------------------------------------------------------------- plotting


def test_plot_learning_curves():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    X, y = _clf_data()
    model = MLPClassifier((6,), max_iter=5, random_state=0, early_stopping=True).fit(X, y)
    fig = plot_learning_curves(model)
    assert len(fig.axes) == 2
    loss_ax, score_ax = fig.axes
    epochs = np.arange(1, 6)
    for ax, keys in ((loss_ax, ("loss", "val_loss")), (score_ax, ("score", "val_score"))):
        lines = ax.get_lines()
        assert [ln.get_label() for ln in lines] == ["training", "validation"]
        for line, key in zip(lines, keys):
            assert_array_equal(line.get_xdata(), epochs)
            assert_array_equal(line.get_ydata(), model.history_[key])
        assert ax.get_xlabel() == "epoch"
        assert ax.get_legend() is not None
    assert score_ax.get_ylabel() == "accuracy"
    plt.close(fig)

    # given axes, no validation data, a regressor
    Xr, yr = _reg_data()
    reg = MLPRegressor(hidden_layer_sizes=(6,), max_iter=3, random_state=0).fit(Xr, yr)
    fig, axes = plt.subplots(2, 1)
    assert plot_learning_curves(reg, ax=axes) is fig
    assert [len(ax.get_lines()) for ax in axes] == [1, 1]
    assert axes[1].get_ylabel() == "R²"
    plt.close(fig)


def test_plot_learning_curves_errors(monkeypatch):
    pytest.importorskip("matplotlib")
    with pytest.raises(NotFittedError):
        plot_learning_curves(MLPClassifier())
    X, y = _clf_data()
    lbfgs = MLPClassifier((6,), solver="lbfgs", max_iter=3, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="history_"):
        plot_learning_curves(lbfgs)
    model = MLPClassifier((6,), max_iter=2, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="two matplotlib Axes"):
        plot_learning_curves(model, ax=[1, 2, 3])
    # matplotlib missing: a clear ImportError naming the extra
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(ImportError, match=r'pip install "fastmlp\[plot\]"'):
        plot_learning_curves(model)


# --------------------------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    "param, value",
    [
        ("init", "zeros"),
        ("init_std", -1.0),
        ("lr_step_size", 0),
        ("lr_gamma", 0.0),
        ("lr_min", -0.1),
        ("warmup_epochs", -1),
        ("learning_rate", "linear"),
        ("restore_best_weights", "yes"),
        ("validation_data", "data"),
    ],
)
def test_bad_parameters_name_the_parameter(param, value):
    X, y = _clf_data()
    with pytest.raises(ValueError, match=param):
        MLPClassifier(max_iter=1, **{param: value}).fit(X, y)
