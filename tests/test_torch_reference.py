"""fastmlp against independent PyTorch references (float64, step by step).

Each test builds the same network in PyTorch from scikit-learn's initial draw (reproduced here
from ``random_state``, not read from fastmlp), trains it with torch autograd and ``torch.optim``
(scikit-learn's Adam by its explicit formula), and compares fastmlp's parameters, reported
losses and predictions with it:

* every hidden activation (identity, logistic, tanh, relu, leaky_relu, prelu, elu, softplus,
  gelu, maxout) for multiclass classification and regression: forward pass and SGD steps;
* losses: binary log loss, hinge and perceptron (multiclass and binary), multi-output squared
  error, L2 ``alpha`` and L1 ``alpha_l1`` penalties (with an uneven last batch);
* every stochastic solver over 3 epochs of 2 batches;
* batch normalization (training-mode statistics, running statistics, eval-mode predict);
* dropout: exact step given the masks (read off which units did not move), mask rates, and
  invariants (rate 0 is no dropout, reproducibility, deterministic predict).
"""

import warnings

import numpy as np
import pytest

from conftest import reference_library

torch = reference_library("torch")
F = torch.nn.functional

from fastmlp import MLPClassifier, MLPRegressor  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

RTOL = 1e-9
ATOL = 1e-12

ACTIVATIONS = [
    "identity",
    "logistic",
    "tanh",
    "relu",
    "leaky_relu",
    "prelu",
    "elu",
    "softplus",
    "gelu",
    "maxout",
]


@pytest.fixture(autouse=True, scope="module")
def _torch_one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------------------------- data


def make_data(kind, n_samples=20, n_features=4, seed=0):
    """X (float64) and y: labels 0..C-1 ('multiclass' 3 classes, 'binary'), or real targets
    ('regression' one output, 'regression2' two outputs)."""
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n_samples, n_features))
    if kind == "multiclass":
        y = np.arange(n_samples) % 3
        rng.shuffle(y)
    elif kind == "binary":
        y = np.arange(n_samples) % 2
        rng.shuffle(y)
    elif kind == "regression":
        y = np.sin(X[:, 0]) + 0.5 * X[:, 1] + 0.1 * rng.standard_normal(n_samples)
    elif kind == "regression2":
        y = np.column_stack([np.sin(X[:, 0]) + X[:, 1], X[:, 2] * X[:, 3] - 0.5])
    else:
        raise ValueError(kind)
    return X, y


def base_params(epochs, n_samples, **params):
    """Estimator parameters for an exact, deterministic run of `epochs` epochs."""
    out = dict(
        hidden_layer_sizes=(6, 5),
        activation="relu",
        solver="sgd",
        learning_rate_init=0.1,
        learning_rate="constant",
        momentum=0.0,
        alpha=0.0,
        batch_size=n_samples,
        max_iter=epochs,
        shuffle=False,
        early_stopping=False,
        tol=0.0,
        n_iter_no_change=epochs + 1,
        random_state=0,
    )
    out.update(params)
    return out


def fit_fastmlp(kind, X, y, params):
    cls = MLPRegressor if kind.startswith("regression") else MLPClassifier
    est = cls(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    return est


# ---------------------------------------------------------------------------------- reference


def sklearn_init(units, activation, pieces, random_state):
    """scikit-learn's Glorot-uniform draw (one maxout layer has width units * pieces)."""
    rng = np.random.RandomState(random_state)
    factor = 2.0 if activation == "logistic" else 6.0
    n_layers = len(units) - 1
    coefs, intercepts = [], []
    for i in range(n_layers):
        fan_in = units[i]
        width = units[i + 1] * (pieces if i < n_layers - 1 else 1)
        bound = np.sqrt(factor / (fan_in + width))
        coefs.append(rng.uniform(-bound, bound, (fan_in, width)))
        intercepts.append(rng.uniform(-bound, bound, width))
    return coefs, intercepts


def _leaf(a):
    return torch.tensor(np.array(a, dtype=np.float64), requires_grad=True)


class RefNet:
    """A float64 MLP with fastmlp's parameter layout (X @ W + b), written with torch ops."""

    def __init__(self, coefs, intercepts, activation, pieces=2, batch_norm=False,
                 prelu_slopes=None, bn=None):
        self.activation = activation
        self.pieces = pieces if activation == "maxout" else 1
        self.W = [_leaf(c) for c in coefs]
        self.b = [_leaf(c) for c in intercepts]
        hidden_widths = [np.shape(c)[1] for c in coefs[:-1]]
        hidden_units = [w // self.pieces for w in hidden_widths]
        self.slopes = []
        if activation == "prelu":
            if prelu_slopes is None:
                prelu_slopes = [np.full(u, 0.25) for u in hidden_units]
            self.slopes = [_leaf(s) for s in prelu_slopes]
        self.batch_norm = batch_norm
        self.gamma, self.beta, self.mean, self.var = [], [], [], []
        if batch_norm:
            if bn is None:
                bn = dict(
                    scales=[np.ones(w) for w in hidden_widths],
                    shifts=[np.zeros(w) for w in hidden_widths],
                    means=[np.zeros(w) for w in hidden_widths],
                    vars=[np.ones(w) for w in hidden_widths],
                )
            self.gamma = [_leaf(a) for a in bn["scales"]]
            self.beta = [_leaf(a) for a in bn["shifts"]]
            self.mean = [torch.tensor(np.array(a, dtype=np.float64)) for a in bn["means"]]
            self.var = [torch.tensor(np.array(a, dtype=np.float64)) for a in bn["vars"]]

    def weights(self):
        return list(self.W)

    def others(self):
        return self.b + self.slopes + self.gamma + self.beta

    def _activate(self, z, layer):
        a = self.activation
        if a == "identity":
            return z
        if a == "logistic":
            return torch.sigmoid(z)
        if a == "tanh":
            return torch.tanh(z)
        if a == "relu":
            return torch.relu(z)
        if a == "leaky_relu":
            return F.leaky_relu(z, negative_slope=0.01)
        if a == "prelu":
            return F.prelu(z, self.slopes[layer])
        if a == "elu":
            return F.elu(z, alpha=1.0)
        if a == "softplus":
            return F.softplus(z, beta=1.0, threshold=20.0)
        if a == "gelu":
            return F.gelu(z, approximate="none")
        if a == "maxout":
            n, width = z.shape
            return z.reshape(n, width // self.pieces, self.pieces).max(dim=-1).values
        raise ValueError(a)

    def forward(self, X, training, masks=None):
        """Raw output-layer values (logits / scores / regression outputs). masks: one 0/1 array
        per hidden layer (rows x units) and its rate, for inverted dropout."""
        h = torch.as_tensor(X, dtype=torch.float64)
        n_layers = len(self.W)
        for layer in range(n_layers):
            z = h @ self.W[layer] + self.b[layer]
            if layer == n_layers - 1:
                return z
            if self.batch_norm:
                z = F.batch_norm(z, self.mean[layer], self.var[layer], self.gamma[layer],
                                 self.beta[layer], training=training, momentum=0.1, eps=1e-5)
            h = self._activate(z, layer)
            if masks is not None and masks[layer] is not None:
                mask, rate = masks[layer]
                h = h * torch.as_tensor(mask, dtype=torch.float64) / (1.0 - rate)
        raise AssertionError("unreachable")

    def predict_output(self, X, out_activation):
        """What fastmlp's forward pass returns (predict_proba for log loss), eval mode."""
        with torch.no_grad():
            z = self.forward(X, training=False)
            if out_activation == "softmax":
                return torch.softmax(z, dim=1).numpy()
            if out_activation == "logistic2":
                p = torch.sigmoid(z[:, 0])
                return torch.stack([1 - p, p], dim=1).numpy()
            return z.numpy()


def data_loss(out, target, loss):
    """(gradient objective, reported loss) of one batch, without penalties."""
    if loss == "log_loss":
        value = F.cross_entropy(out, target)
    elif loss == "binary_log_loss":
        value = F.binary_cross_entropy_with_logits(out[:, 0], target)
    elif loss == "squared_error":
        # scikit-learn's gradient is that of 0.5 * sum over outputs, averaged over rows; its
        # reported loss averages over the outputs too (the same with one output).
        value = 0.5 * ((out - target) ** 2).sum(dim=1).mean()
        return value, (0.5 * ((out - target) ** 2).mean()).item()
    elif loss == "hinge":
        value = F.multi_margin_loss(out, target, p=1, margin=1.0)
    elif loss == "perceptron":
        value = (out.max(dim=1).values - out.gather(1, target.view(-1, 1))[:, 0]).mean()
    else:
        raise ValueError(loss)
    return value, value.item()


class RefOptimizer:
    """torch.optim for sgd/adamw/adagrad/rmsprop/adadelta; scikit-learn's Adam in numpy."""

    def __init__(self, net, solver, lr, momentum=0.9, nesterov=True, beta_1=0.9,
                 beta_2=0.999, epsilon=1e-8, weight_decay=0.01, rho=None):
        weights, others = net.weights(), net.others()
        self.params = weights + others
        self.solver = solver
        self.opt = None
        groups = [{"params": weights}, {"params": others}]
        if solver == "sgd":
            self.opt = torch.optim.SGD(groups, lr=lr, momentum=momentum,
                                       nesterov=bool(nesterov and momentum > 0))
        elif solver == "adamw":
            self.opt = torch.optim.AdamW(
                [{"params": weights, "weight_decay": weight_decay},
                 {"params": others, "weight_decay": 0.0}],
                lr=lr, betas=(beta_1, beta_2), eps=epsilon,
            )
        elif solver == "adagrad":
            self.opt = torch.optim.Adagrad(groups, lr=lr, eps=epsilon)
        elif solver == "rmsprop":
            self.opt = torch.optim.RMSprop(groups, lr=lr, alpha=0.99 if rho is None else rho,
                                           eps=epsilon)
        elif solver == "adadelta":
            self.opt = torch.optim.Adadelta(groups, lr=lr, rho=0.9 if rho is None else rho,
                                            eps=epsilon)
        elif solver == "adam":
            self.lr, self.b1, self.b2, self.eps = lr, beta_1, beta_2, epsilon
            self.t = 0
            self.m = [np.zeros(tuple(p.shape)) for p in self.params]
            self.v = [np.zeros(tuple(p.shape)) for p in self.params]
        else:
            raise ValueError(solver)

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        if self.opt is not None:
            self.opt.step()
            return
        # scikit-learn's AdamOptimizer: eps added to sqrt(v), bias corrections in the rate.
        self.t += 1
        lr_t = self.lr * np.sqrt(1 - self.b2 ** self.t) / (1 - self.b1 ** self.t)
        with torch.no_grad():
            for p, m, v in zip(self.params, self.m, self.v):
                g = p.grad.numpy() if p.grad is not None else np.zeros(tuple(p.shape))
                m *= self.b1
                m += (1 - self.b1) * g
                v *= self.b2
                v += (1 - self.b2) * g * g
                p -= torch.from_numpy(lr_t * m / (np.sqrt(v) + self.eps))


def reference_setup(kind, X, y, params):
    """(RefNet at scikit-learn's initial draw, loss name, targets tensor, output activation)."""
    loss = params.get("loss")
    if kind.startswith("regression"):
        Y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        n_out, loss, target, out_act = Y.shape[1], "squared_error", torch.tensor(Y), "identity"
    else:
        n_classes = len(np.unique(y))
        loss = loss or "log_loss"
        if loss in ("hinge", "perceptron"):
            n_out, out_act = n_classes, "identity"
            target = torch.tensor(np.asarray(y), dtype=torch.long)
        elif n_classes == 2:
            n_out, loss, out_act = 1, "binary_log_loss", "logistic2"
            target = torch.tensor(np.asarray(y, dtype=np.float64))
        else:
            n_out, out_act = n_classes, "softmax"
            target = torch.tensor(np.asarray(y), dtype=torch.long)
    hidden = list(np.atleast_1d(params["hidden_layer_sizes"]))
    units = [X.shape[1]] + [int(h) for h in hidden] + [n_out]
    activation = params.get("activation", "relu")
    pieces = params.get("maxout_pieces", 2) if activation == "maxout" else 1
    coefs, intercepts = sklearn_init(units, activation, pieces, params.get("random_state"))
    net = RefNet(coefs, intercepts, activation, pieces=pieces,
                 batch_norm=params.get("batch_norm", False))
    return net, loss, target, out_act


def reference_train(net, X, target, loss, params, mask_fn=None):
    """Trains net as fastmlp's params say (no shuffling); returns the per-epoch loss curve."""
    solver = params.get("solver", "adam")
    opt = RefOptimizer(
        net, solver, params["learning_rate_init"],
        momentum=params.get("momentum", 0.9),
        nesterov=params.get("nesterovs_momentum", True),
        beta_1=params.get("beta_1", 0.9),
        beta_2=params.get("beta_2", 0.999),
        epsilon=params.get("epsilon", 1e-8),
        weight_decay=params.get("weight_decay", 0.01),
        rho=params.get("rho"),
    )
    alpha, alpha_l1 = params.get("alpha", 1e-4), params.get("alpha_l1", 0.0)
    n = X.shape[0]
    batch_size = params["batch_size"]
    curve = []
    step = 0
    for _ in range(params["max_iter"]):
        total = 0.0
        for start in range(0, n, batch_size):
            rows = slice(start, min(start + batch_size, n))
            nb = rows.stop - rows.start
            opt.zero_grad()
            masks = mask_fn(step) if mask_fn is not None else None
            out = net.forward(X[rows], training=True, masks=masks)
            objective, reported = data_loss(out, target[rows], loss)
            penalty = 0.0
            if alpha:
                penalty = penalty + 0.5 * alpha * sum((W ** 2).sum() for W in net.W) / nb
            if alpha_l1:
                penalty = penalty + alpha_l1 * sum(W.abs().sum() for W in net.W) / nb
            objective = objective + penalty
            reported += float(penalty.detach()) if torch.is_tensor(penalty) else penalty
            objective.backward()
            opt.step()
            total += reported * nb
            step += 1
        curve.append(total / n)
    return curve


def assert_params_match(est, net, rtol=RTOL, atol=ATOL):
    assert len(est.coefs_) == len(net.W)
    for i, (c, W) in enumerate(zip(est.coefs_, net.W)):
        np.testing.assert_allclose(c, W.detach().numpy(), rtol=rtol, atol=atol,
                                   err_msg="coefs_[%d]" % i)
    for i, (c, b) in enumerate(zip(est.intercepts_, net.b)):
        np.testing.assert_allclose(c, b.detach().numpy(), rtol=rtol, atol=atol,
                                   err_msg="intercepts_[%d]" % i)
    if net.slopes:
        assert len(est.prelu_slopes_) == len(net.slopes)
        for i, (s, t) in enumerate(zip(est.prelu_slopes_, net.slopes)):
            np.testing.assert_allclose(s, t.detach().numpy(), rtol=rtol, atol=atol,
                                       err_msg="prelu_slopes_[%d]" % i)
    if net.batch_norm:
        pairs = [
            ("batch_norm_scales_", net.gamma),
            ("batch_norm_shifts_", net.beta),
            ("batch_norm_means_", net.mean),
            ("batch_norm_vars_", net.var),
        ]
        for name, tensors in pairs:
            arrays = getattr(est, name)
            assert len(arrays) == len(tensors), name
            for i, (a, t) in enumerate(zip(arrays, tensors)):
                np.testing.assert_allclose(a, t.detach().numpy(), rtol=rtol, atol=atol,
                                           err_msg="%s[%d]" % (name, i))


def fastmlp_output(est, X, out_act):
    """fastmlp's counterpart of RefNet.predict_output."""
    if out_act in ("softmax", "logistic2"):
        return est.predict_proba(X)
    return est.predict(X).reshape(len(X), -1)


def check_against_reference(kind, params, X=None, y=None, mask_fn=None):
    """Fits fastmlp and the torch reference with the same params; compares parameters and the
    loss curve. Returns (estimator, reference net, output activation)."""
    if X is None:
        X, y = make_data(kind)
    est = fit_fastmlp(kind, X, y, params)
    net, loss, target, out_act = reference_setup(kind, X, y, params)
    curve = reference_train(net, X, target, loss, params, mask_fn=mask_fn)
    assert est.n_iter_ == params["max_iter"]
    assert_params_match(est, net)
    np.testing.assert_allclose(est.loss_curve_, curve, rtol=RTOL, atol=ATOL,
                               err_msg="loss_curve_")
    return est, net, out_act


# ---------------------------------------------------------------------------------- 0. init


@pytest.mark.parametrize("activation", ["relu", "logistic", "maxout"])
def test_initial_draw_is_scikit_learns(activation):
    # One SGD step of rate 1e-300 leaves every weight bitwise at its initial value.
    X, y = make_data("multiclass")
    params = base_params(1, len(X), activation=activation, learning_rate_init=1e-300,
                         maxout_pieces=3, random_state=7)
    est = fit_fastmlp("multiclass", X, y, params)
    net, _, _, _ = reference_setup("multiclass", X, y, params)
    for c, W in zip(est.coefs_, net.W):
        np.testing.assert_array_equal(c, W.detach().numpy())
    for c, b in zip(est.intercepts_, net.b):
        np.testing.assert_array_equal(c, b.detach().numpy())


# ---------------------------------------------------------------------------------- 1. activations


KINDS = ["multiclass", "regression"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activation_sgd_steps(activation, kind):
    X, y = make_data(kind)
    params = base_params(3, len(X), activation=activation)
    check_against_reference(kind, params, X, y)


@pytest.mark.parametrize("pieces", [1, 3])
@pytest.mark.parametrize("kind", KINDS)
def test_maxout_pieces_sgd_steps(kind, pieces):
    X, y = make_data(kind)
    params = base_params(2, len(X), activation="maxout", maxout_pieces=pieces)
    est, _, _ = check_against_reference(kind, params, X, y)
    assert est.coefs_[0].shape == (X.shape[1], 6 * pieces)
    assert est.coefs_[1].shape == (6, 5 * pieces)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activation_forward(activation, kind):
    X, y = make_data(kind)
    params = base_params(2, len(X), activation=activation)
    est = fit_fastmlp(kind, X, y, params)
    _, _, _, out_act = reference_setup(kind, X, y, params)
    X_test = make_data(kind, n_samples=15, seed=1)[0] * 2.0

    # 1) with the fitted parameters (fastmlp's fast predict path)
    net = RefNet([np.array(c) for c in est.coefs_], [np.array(b) for b in est.intercepts_],
                 activation, pieces=2,
                 prelu_slopes=[np.array(s) for s in est.prelu_slopes_]
                 if activation == "prelu" else None)
    np.testing.assert_allclose(fastmlp_output(est, X_test, out_act),
                               net.predict_output(X_test, out_act), rtol=1e-10, atol=1e-13)

    # 2) with assigned parameters (large enough to reach every regime: softplus past 20, ...)
    rng = np.random.RandomState(3)
    coefs = [rng.uniform(-2, 2, np.shape(c)) for c in est.coefs_]
    intercepts = [rng.uniform(-2, 2, np.shape(b)) for b in est.intercepts_]
    est.coefs_, est.intercepts_ = coefs, intercepts
    slopes = None
    if activation == "prelu":
        slopes = [rng.uniform(-0.5, 1.5, np.shape(s)) for s in est.prelu_slopes_]
        est.prelu_slopes_ = slopes
    net = RefNet(coefs, intercepts, activation, pieces=2, prelu_slopes=slopes)
    X_big = np.vstack([X_test, 8.0 * X_test])
    expected = net.predict_output(X_big, out_act)
    np.testing.assert_allclose(fastmlp_output(est, X_big, out_act), expected,
                               rtol=1e-10, atol=1e-13)
    if kind == "multiclass":
        np.testing.assert_array_equal(est.predict(X_big), expected.argmax(axis=1))


# ---------------------------------------------------------------------------------- 2. losses


LOSS_CASES = [
    ("binary", "log_loss"),
    ("binary", "hinge"),
    ("multiclass", "hinge"),
    ("binary", "perceptron"),
    ("multiclass", "perceptron"),
]


@pytest.mark.parametrize("kind,loss", LOSS_CASES)
def test_classifier_losses_sgd_steps(kind, loss):
    X, y = make_data(kind)
    params = base_params(3, len(X), activation="tanh", loss=loss, hidden_layer_sizes=(7,))
    est, _, out_act = check_against_reference(kind, params, X, y)
    fitted = RefNet(est.coefs_, est.intercepts_, "tanh")
    with torch.no_grad():
        scores = fitted.forward(X, training=False).numpy()
    if loss != "log_loss":
        assert not hasattr(est, "predict_proba")
        assert scores.shape[1] == len(est.classes_)
        expected = scores[:, 1] - scores[:, 0] if scores.shape[1] == 2 else scores
        np.testing.assert_allclose(est.decision_function(X), expected, rtol=1e-11, atol=1e-14)
        np.testing.assert_array_equal(est.predict(X), scores.argmax(axis=1))
    else:
        assert scores.shape[1] == 1
        np.testing.assert_allclose(est.predict_proba(X), fitted.predict_output(X, out_act),
                                   rtol=1e-11, atol=1e-14)
        np.testing.assert_array_equal(est.predict(X), (scores[:, 0] > 0).astype(int))


PENALTY_CASES = [
    ("multiclass", dict(alpha=0.5)),
    ("regression", dict(alpha=0.5)),
    ("binary", dict(alpha=0.3)),
    ("multiclass", dict(alpha_l1=0.05)),
    ("regression", dict(alpha_l1=0.05)),
    ("multiclass", dict(alpha=0.2, alpha_l1=0.02, batch_size=8)),
    ("regression", dict(alpha=0.2, alpha_l1=0.02, batch_size=8)),
    ("regression2", dict(alpha=0.1)),
    ("regression2", dict()),
]


@pytest.mark.parametrize("kind,extra", PENALTY_CASES)
def test_penalties_sgd_steps(kind, extra):
    X, y = make_data(kind)
    params = base_params(3, len(X), activation="tanh")
    params.update(extra)
    check_against_reference(kind, params, X, y)


# ---------------------------------------------------------------------------------- 3. solvers


SOLVER_CASES = {
    "sgd_plain": dict(solver="sgd", learning_rate_init=0.1, momentum=0.0),
    "sgd_momentum": dict(solver="sgd", learning_rate_init=0.05, momentum=0.9,
                         nesterovs_momentum=False),
    "sgd_nesterov": dict(solver="sgd", learning_rate_init=0.05, momentum=0.8,
                         nesterovs_momentum=True),
    "adam": dict(solver="adam", learning_rate_init=0.01),
    "adam_custom": dict(solver="adam", learning_rate_init=0.02, beta_1=0.8, beta_2=0.95,
                        epsilon=1e-3),
    "adamw": dict(solver="adamw", learning_rate_init=0.01),
    "adamw_custom": dict(solver="adamw", learning_rate_init=0.02, beta_1=0.85, beta_2=0.98,
                         epsilon=1e-3, weight_decay=0.3),
    "adagrad": dict(solver="adagrad", learning_rate_init=0.05, epsilon=1e-3),
    "rmsprop": dict(solver="rmsprop", learning_rate_init=0.01),
    "rmsprop_rho": dict(solver="rmsprop", learning_rate_init=0.01, rho=0.8, epsilon=1e-3),
    "adadelta": dict(solver="adadelta", learning_rate_init=1.0, epsilon=1e-6),
    "adadelta_rho": dict(solver="adadelta", learning_rate_init=0.5, rho=0.7, epsilon=1e-4),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", sorted(SOLVER_CASES))
def test_solver_three_epochs_two_batches(case, kind):
    X, y = make_data(kind)
    params = base_params(3, len(X), activation="tanh", batch_size=len(X) // 2)
    params.update(SOLVER_CASES[case])
    check_against_reference(kind, params, X, y)


def test_solver_with_penalty_and_prelu_adamw():
    # Weight decay on coefs_ only (not on biases nor PReLU slopes), with the L2 gradient too.
    X, y = make_data("multiclass")
    params = base_params(3, len(X), activation="prelu", batch_size=len(X) // 2)
    params.update(SOLVER_CASES["adamw_custom"], alpha=0.1)
    check_against_reference("multiclass", params, X, y)


# ---------------------------------------------------------------------------------- 4. batch norm


BN_CASES = [
    ("relu", "sgd", None),
    ("relu", "adam", None),
    ("tanh", "sgd", None),
    ("tanh", "adam", None),
    ("prelu", "adam", None),
    ("maxout", "sgd", None),
    ("relu", "sgd", 10),  # two batches per epoch: the running statistics move per batch
    ("tanh", "adam", 10),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("activation,solver,batch_size", BN_CASES)
def test_batch_norm_steps_and_predict(activation, solver, batch_size, kind):
    X, y = make_data(kind)
    params = base_params(2, len(X), activation=activation, batch_norm=True, solver=solver,
                         learning_rate_init=0.1 if solver == "sgd" else 0.02)
    if solver == "sgd":
        params["momentum"] = 0.9
    if batch_size is not None:
        params["batch_size"] = batch_size
    est, net, out_act = check_against_reference(kind, params, X, y)
    widths = [6 * (2 if activation == "maxout" else 1), 5 * (2 if activation == "maxout" else 1)]
    assert [len(a) for a in est.batch_norm_means_] == widths
    # the running statistics moved away from their initial values
    assert not np.allclose(est.batch_norm_means_[0], 0.0)
    assert not np.allclose(est.batch_norm_vars_[0], 1.0)
    # predict uses the running statistics (torch eval mode): against the trained reference ...
    X_test = make_data(kind, n_samples=13, seed=5)[0]
    expected = net.predict_output(X_test, out_act)
    got = fastmlp_output(est, X_test, out_act)
    np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-9 * np.abs(expected).max())
    # ... and, tightly, against eval mode on fastmlp's own fitted values
    fitted = RefNet(est.coefs_, est.intercepts_, activation, batch_norm=True,
                    prelu_slopes=getattr(est, "prelu_slopes_", None),
                    bn=dict(scales=est.batch_norm_scales_, shifts=est.batch_norm_shifts_,
                            means=est.batch_norm_means_, vars=est.batch_norm_vars_))
    expected = fitted.predict_output(X_test, out_act)
    np.testing.assert_allclose(got, expected, rtol=1e-11, atol=1e-14)
    # a single row gives the same output alone as within a batch
    np.testing.assert_allclose(fastmlp_output(est, X_test[:1], out_act), got[:1],
                               rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------------------- 5. dropout


def test_dropout_zero_is_no_dropout_bitwise():
    X, y = make_data("multiclass")
    params = base_params(3, len(X), activation="tanh", batch_size=8)
    plain = fit_fastmlp("multiclass", X, y, params)
    zero = fit_fastmlp("multiclass", X, y, dict(params, dropout=0.0))
    per_layer = fit_fastmlp("multiclass", X, y, dict(params, dropout=[0.0, 0.0]))
    for other in (zero, per_layer):
        for a, b in zip(plain.coefs_ + plain.intercepts_, other.coefs_ + other.intercepts_):
            np.testing.assert_array_equal(a, b)
    # and both are the reference's no-dropout training
    check_against_reference("multiclass", dict(params, dropout=0.0), X, y)


def _wide_dropout_params(rates, widths, **extra):
    return base_params(1, 1, hidden_layer_sizes=widths, activation="tanh", dropout=rates,
                       learning_rate_init=0.5, **extra)


@pytest.mark.parametrize("rates,widths", [(0.5, (800,)), ([0.2, 0.7], (300, 400))])
def test_dropout_exact_step_given_masks(rates, widths):
    # One SGD step on one row: a dropped unit gets no gradient at all, so its incoming weights
    # and bias stay at their initial values; a kept unit's all move (tanh, generic data). Read
    # the masks off the fitted weights, then the whole step must match torch with those masks
    # (inverted dropout: kept outputs scaled by 1 / (1 - rate)), and the dropped fraction must
    # fit the rate.
    X, y = make_data("regression", n_samples=1, n_features=5, seed=11)
    params = _wide_dropout_params(rates, widths)
    est = fit_fastmlp("regression", X, y, params)
    net0, _, _, _ = reference_setup("regression", X, y, params)
    layer_rates = [rates] * len(widths) if np.isscalar(rates) else list(rates)
    masks = []
    for layer, rate in enumerate(layer_rates):
        W0 = net0.W[layer].detach().numpy()
        b0 = net0.b[layer].detach().numpy()
        col_same = np.all(est.coefs_[layer] == W0, axis=0)
        bias_same = est.intercepts_[layer] == b0
        np.testing.assert_array_equal(col_same, bias_same)
        kept = ~col_same
        frac_dropped = 1.0 - kept.mean()
        sigma = np.sqrt(rate * (1 - rate) / kept.size)
        assert abs(frac_dropped - rate) < 5 * sigma + 1e-12, (layer, frac_dropped, rate)
        masks.append((kept[None, :].astype(np.float64), rate))
    net, loss, target, _ = reference_setup("regression", X, y, params)
    curve = reference_train(net, X, target, loss, params, mask_fn=lambda step: masks)
    assert_params_match(est, net)
    np.testing.assert_allclose(est.loss_curve_, curve, rtol=RTOL, atol=ATOL)


def _dropped_units(before, after):
    """Units of the first hidden layer whose incoming weights and bias did not move."""
    col_same = np.all(after.coefs_[0] == before[0], axis=0)
    np.testing.assert_array_equal(col_same, after.intercepts_[0] == before[1])
    return col_same


def test_dropout_masks_differ_between_epochs():
    # Two partial_fit epochs on one row: each epoch's dropped units are read off the weights
    # that did not move in it. Independent masks agree on about half the units (rate 0.5), not
    # all; and the two steps match torch given those masks.
    rate, width = 0.5, 800
    X, y = make_data("regression", n_samples=1, n_features=5, seed=12)
    params = _wide_dropout_params(rate, (width,))
    est = MLPRegressor(**params)
    init = sklearn_init([5, width, 1], "tanh", 1, params["random_state"])
    est.partial_fit(X, y)
    first = (est.coefs_[0].copy(), est.intercepts_[0].copy())
    dropped_1 = _dropped_units((init[0][0], init[1][0]), est)
    est.partial_fit(X, y)
    dropped_2 = _dropped_units(first, est)
    agree = np.mean(dropped_1 == dropped_2)
    sigma = np.sqrt(0.25 / width)
    assert abs(agree - 0.5) < 5 * sigma, agree
    for dropped in (dropped_1, dropped_2):
        assert abs(dropped.mean() - rate) < 5 * sigma, dropped.mean()

    masks = [[((~d)[None, :].astype(np.float64), rate)] for d in (dropped_1, dropped_2)]
    net, loss, target, _ = reference_setup("regression", X, y, params)
    curve = reference_train(net, X, target, loss, dict(params, max_iter=2),
                            mask_fn=lambda step: masks[step])
    assert_params_match(est, net)
    np.testing.assert_allclose(est.loss_curve_, curve, rtol=RTOL, atol=ATOL)


def test_dropout_reproducible_effective_and_deterministic_predict():
    X, y = make_data("multiclass", n_samples=40)
    params = base_params(5, len(X), hidden_layer_sizes=(200,), activation="relu",
                         batch_size=10, dropout=0.5, random_state=3)
    a = fit_fastmlp("multiclass", X, y, params)
    b = fit_fastmlp("multiclass", X, y, params)
    for p, q in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_array_equal(p, q)
    assert a.loss_curve_ == b.loss_curve_

    no_dropout = fit_fastmlp("multiclass", X, y, dict(params, dropout=0.0))
    diff = max(np.max(np.abs(p - q)) for p, q in zip(a.coefs_, no_dropout.coefs_))
    assert diff > 1e-3

    # predict: deterministic, and the plain network (no dropout, no rescaling)
    X_test = make_data("multiclass", n_samples=25, seed=9)[0]
    p1, p2 = a.predict_proba(X_test), a.predict_proba(X_test)
    np.testing.assert_array_equal(p1, p2)
    net = RefNet(a.coefs_, a.intercepts_, "relu")
    np.testing.assert_allclose(p1, net.predict_output(X_test, "softmax"), rtol=1e-10,
                               atol=1e-13)
    np.testing.assert_array_equal(a.predict(X_test), p1.argmax(axis=1))
