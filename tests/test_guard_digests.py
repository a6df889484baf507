"""Guard digests: the exact bits of a matrix of trainings.

Every configuration below trains a small model and hashes its weights, biases (and the extra
arrays: PReLU slopes, batch-norm values), loss curve, iteration count and predictions. The
hashes are recorded in guard_digests.json. A restructuring of the core or of the estimators must
leave every one of them unchanged; a change that alters numbers on purpose re-records them
(``FASTMLP_RECORD_DIGESTS=1 pytest tests/test_guard_digests.py``) and says why in its commit.

Every instruction set gives the same bits (the portable C kernels, which aarch64 runs too, AVX2
and AVX-512: the same fused multiply-adds in the same k order and blocking, fastmlp's own
elementwise functions), so one table serves all of them, and each is checked against it. The C
tests (csrc/tests/test_core.c) hash trainings of their own the same way on any architecture.

The one part of a training that is not fastmlp's arithmetic: solver 'lbfgs' runs scipy's
L-BFGS-B, whose vector algebra (dot products among it) goes through OpenBLAS, and OpenBLAS picks
its kernels for the CPU when it loads; they add in different orders (its Haswell and SkylakeX
kernels give float64 lbfgs trainings different last bits). The lbfgs trainings are therefore
recorded and checked in a child process that pins OpenBLAS to its Haswell (AVX2) kernels, which
any x86-64 CPU with fastmlp's AVX2 path runs: the table stays one table on every such CPU.
"""

import functools
import hashlib
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from threadpoolctl import threadpool_limits

from fastmlp import MLPClassifier, MLPRegressor, _core

DIGESTS = Path(__file__).with_name("guard_digests.json")
RECORD = os.environ.get("FASTMLP_RECORD_DIGESTS") == "1"

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _configs():
    """name -> (estimator kind, dtype, parameters, data shape (rows, features), fit mode)."""
    out = {}
    base = dict(hidden_layer_sizes=(12, 7), max_iter=4, random_state=3, batch_size=40)
    for dtype in ("float32", "float64"):
        for solver in ("sgd", "adam", "adamw", "adagrad", "rmsprop", "adadelta"):
            out["clf-%s-%s" % (solver, dtype)] = (
                "clf", dtype, dict(base, solver=solver, learning_rate_init=0.01), (200, 10), "fit")
        out["clf-lbfgs-%s" % dtype] = (
            "clf", dtype, dict(base, solver="lbfgs", max_iter=15), (200, 10), "fit")
        out["reg-lbfgs-%s" % dtype] = (
            "reg", dtype, dict(base, solver="lbfgs", max_iter=15), (200, 10), "fit")
        for act in ("identity", "logistic", "tanh", "relu", "leaky_relu", "prelu", "elu",
                    "maxout", "softplus", "gelu"):
            out["clf-act-%s-%s" % (act, dtype)] = (
                "clf", dtype, dict(base, activation=act), (200, 10), "fit")
        out["clf-dropout-relu-%s" % dtype] = (
            "clf", dtype, dict(base, dropout=0.3), (200, 10), "fit")
        out["clf-dropout-tanh-%s" % dtype] = (
            "clf", dtype, dict(base, dropout=0.25, activation="tanh"), (200, 10), "fit")
        out["clf-batchnorm-%s" % dtype] = (
            "clf", dtype, dict(base, batch_norm=True), (200, 10), "fit")
        out["clf-batchnorm-dropout-elu-%s" % dtype] = (
            "clf", dtype, dict(base, batch_norm=True, dropout=0.2, activation="elu"),
            (200, 10), "fit")
        out["clf-l1-%s" % dtype] = (
            "clf", dtype, dict(base, alpha_l1=1e-3, alpha=1e-3), (200, 10), "fit")
        for schedule in ("invscaling", "adaptive"):
            out["clf-sgd-%s-%s" % (schedule, dtype)] = (
                "clf", dtype,
                dict(base, solver="sgd", learning_rate=schedule, learning_rate_init=0.05,
                     max_iter=8), (200, 10), "fit")
        for schedule in ("step", "exponential", "cosine"):
            out["clf-adam-%s-%s" % (schedule, dtype)] = (
                "clf", dtype,
                dict(base, learning_rate=schedule, lr_step_size=2, lr_gamma=0.5,
                     warmup_epochs=1, max_iter=6), (200, 10), "fit")
        out["clf-early-stopping-%s" % dtype] = (
            "clf", dtype, dict(base, early_stopping=True, max_iter=12), (200, 10), "fit")
        out["clf-hinge-%s" % dtype] = ("clf", dtype, dict(base, loss="hinge"), (200, 10), "fit")
        out["clf-partial-fit-%s" % dtype] = ("clf", dtype, dict(base), (200, 10), "partial")
        out["reg-adam-%s" % dtype] = ("reg", dtype, dict(base), (200, 10), "fit")
        out["reg-sgd-nesterov-%s" % dtype] = (
            "reg", dtype, dict(base, solver="sgd", learning_rate_init=0.01), (200, 10), "fit")
        out["reg-poisson-%s" % dtype] = ("reg", dtype, dict(base, loss="poisson"), (200, 10),
                                         "fit")
        # Batches of 100 and 70 rows: cut into row blocks (3 and 2) whose gradients are added
        # in block order (fm_row_blocks in csrc/internal.h).
        blocks = dict(base, batch_size=100)
        out["clf-blocks-adam-%s" % dtype] = ("clf", dtype, blocks, (200, 10), "fit")
        out["clf-blocks-sgd-dropout-%s" % dtype] = (
            "clf", dtype, dict(blocks, solver="sgd", dropout=0.3, learning_rate_init=0.05),
            (200, 10), "fit")
        out["clf-blocks-prelu-dropout-l1-%s" % dtype] = (
            "clf", dtype, dict(blocks, activation="prelu", dropout=0.2, alpha_l1=1e-3,
                               solver="adamw"), (200, 10), "fit")
        out["clf-blocks-maxout-hinge-%s" % dtype] = (
            "clf", dtype, dict(blocks, activation="maxout", loss="hinge", dropout=0.25,
                               solver="rmsprop"), (200, 10), "fit")
        out["reg-blocks-adadelta-%s" % dtype] = (
            "reg", dtype, dict(blocks, solver="adadelta", learning_rate_init=1.0), (200, 10),
            "fit")
        out["clf-blocks-partial-fit-%s" % dtype] = (
            "clf", dtype, dict(base, batch_size=70), (200, 10), "partial")
        # Large enough for the packed GEMM paths; 140-160-96-3 trains in row blocks, the
        # larger 140-480-3 with its products shared among threads.
        out["clf-wider-%s" % dtype] = (
            "clf", dtype,
            dict(hidden_layer_sizes=(480,), max_iter=2, random_state=5, batch_size=150),
            (600, 140), "fit")
        out["clf-wide-%s" % dtype] = (
            "clf", dtype,
            dict(hidden_layer_sizes=(160, 96), max_iter=2, random_state=5, batch_size=150),
            (600, 140), "fit")
        out["clf-wide-dropout-%s" % dtype] = (
            "clf", dtype,
            dict(hidden_layer_sizes=(160,), max_iter=2, random_state=5, batch_size=150,
                 dropout=0.2), (600, 140), "fit")
    # bfloat16 products (float32 models only): the same bits from AMX and from the
    # emulations (tests/test_bf16.py), recorded like the rest
    bf16 = dict(matmul_precision="bfloat16")
    out["clf-bf16-adam-float32"] = ("clf", "float32", dict(base, **bf16), (200, 10), "fit")
    out["clf-bf16-act-tanh-float32"] = (
        "clf", "float32", dict(base, activation="tanh", **bf16), (200, 10), "fit")
    out["reg-bf16-lbfgs-float32"] = (
        "reg", "float32", dict(base, solver="lbfgs", max_iter=15, **bf16), (200, 10), "fit")
    out["clf-bf16-wide-float32"] = (
        "clf", "float32",
        dict(hidden_layer_sizes=(160, 96), max_iter=2, random_state=5, batch_size=150, **bf16),
        (600, 140), "fit")
    out["clf-bf16-wide-dropout-float32"] = (
        "clf", "float32",
        dict(hidden_layer_sizes=(160,), max_iter=2, random_state=5, batch_size=150,
             dropout=0.2, **bf16), (600, 140), "fit")
    return out


CONFIGS = _configs()


def _data(kind, dtype, rows, features):
    if kind == "clf":
        X, y = make_classification(n_samples=rows, n_features=features, n_informative=6,
                                   n_classes=3, random_state=0)
    else:
        X, y = make_regression(n_samples=rows, n_features=features, noise=1.0, random_state=0)
        y = np.abs(y) / y.std() + 0.1  # positive: the Poisson loss needs it
    X = (X - X.mean(0)) / X.std(0)
    return X.astype(dtype), y


def _digest(name):
    kind, dtype, params, (rows, features), mode = CONFIGS[name]
    X, y = _data(kind, dtype, rows, features)
    est = (MLPClassifier if kind == "clf" else MLPRegressor)(**params)
    if mode == "partial":
        classes = np.unique(y)
        for start in range(0, rows, 70):
            est.partial_fit(X[start:start + 70], y[start:start + 70], classes=classes)
    else:
        est.fit(X, y)
    h = hashlib.sha256()
    arrays = list(est.coefs_) + list(est.intercepts_)
    for attr in ("prelu_slopes_", "batch_norm_scales_", "batch_norm_shifts_",
                 "batch_norm_means_", "batch_norm_vars_"):
        arrays += list(getattr(est, attr, None) or [])
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(np.asarray(getattr(est, "loss_curve_", []), dtype=np.float64).tobytes())
    h.update(repr((est.n_iter_, float(est.loss_))).encode())
    out = est.predict_proba(X) if hasattr(est, "predict_proba") else est.predict(X)
    h.update(np.ascontiguousarray(out).tobytes())
    return h.hexdigest()


def _recorded():
    return json.loads(DIGESTS.read_text()) if DIGESTS.exists() else {}


ISAS = _core.available_isas()
# OpenBLAS's kernels for the lbfgs trainings (module docstring)
PINNED_BLAS = {"OPENBLAS_CORETYPE": "Haswell"}


def _through_scipy_blas(name):
    """Whether training ``name`` does part of its arithmetic in scipy's BLAS (lbfgs)."""
    return CONFIGS[name][2].get("solver") == "lbfgs"


_CHILD = """
import json, sys
sys.path.insert(0, sys.argv[1])
import test_guard_digests as t
from fastmlp import _core
names = [n for n in sorted(t.CONFIGS) if t._through_scipy_blas(n)]
out = {}
for isa in t.ISAS:
    _core.set_isa(isa)
    out[isa] = {n: t._digest(n) for n in names}
print(json.dumps(out))
"""


@functools.lru_cache(maxsize=None)
def _pinned_digests():
    """{instruction set: {name: digest}} of the lbfgs trainings, computed in a child process with
    OpenBLAS pinned to PINNED_BLAS."""
    if platform.machine().lower() not in ("x86_64", "amd64") or "avx2" not in ISAS:
        pytest.skip("the lbfgs trainings' table is recorded with OpenBLAS's x86-64 AVX2 "
                    "kernels, which this CPU does not run")
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, str(Path(__file__).parent)],
        env=dict(os.environ, **PINNED_BLAS), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _checked_digest(name, isa=None):
    """The digest of training ``name`` under instruction set ``isa`` (None: the one in use): in
    this process, or with OpenBLAS pinned for the lbfgs trainings."""
    if _through_scipy_blas(name):
        return _pinned_digests()[isa or _core.isa()][name]
    return _digest(name)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_guard_digest(name, request):
    digest = _checked_digest(name)
    if RECORD:
        table = _recorded()
        table[name] = digest
        DIGESTS.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
        return
    table = _recorded()
    assert name in table, "no digest recorded for %s: record with FASTMLP_RECORD_DIGESTS=1" % name
    assert digest == table[name], "training %s changed its bits" % name


@pytest.mark.skipif(RECORD, reason="recording")
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_guard_digest_every_isa(name):
    """The portable kernels, AVX2 and AVX-512 give the same bits (the table is recorded with
    the default)."""
    previous = _core.isa()
    try:
        for isa in ISAS:
            _core.set_isa(isa)
            assert _checked_digest(name, isa) == _recorded()[name], "%s under %s" % (name, isa)
    finally:
        _core.set_isa(previous)


def _fit(name):
    kind, dtype, params, (rows, features), mode = CONFIGS[name]
    X, y = _data(kind, dtype, rows, features)
    est = (MLPClassifier if kind == "clf" else MLPRegressor)(**params)
    if mode == "partial":
        for start in range(0, rows, 70):
            est.partial_fit(X[start:start + 70], y[start:start + 70], classes=np.unique(y))
    else:
        est.fit(X, y)
    return est, X


@pytest.mark.skipif(RECORD, reason="recording")
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_predictions_same_on_every_isa(name):
    """A model trained once predicts the same bits under every instruction set, for the whole
    data and for blocks of every height around the register tiles (1 to 13 rows: the small
    GEMM paths, whose choice depends on the instruction set's tile)."""
    previous = _core.isa()
    est, X = _fit(name)
    predict = est.predict_proba if hasattr(est, "predict_proba") else est.predict
    blocks = [X] + [X[:rows] for rows in range(1, 14)]
    results = {}
    try:
        for isa in ISAS:
            _core.set_isa(isa)
            results[isa] = [np.ascontiguousarray(predict(b)).tobytes() for b in blocks]
    finally:
        _core.set_isa(previous)
    for isa in ISAS:
        assert results[isa] == results[ISAS[0]], "%s: predictions under %s" % (name, isa)


@pytest.mark.parametrize("name", ["clf-wide-float32", "clf-wide-dropout-float64",
                                  "clf-batchnorm-float32", "clf-adam-cosine-float64",
                                  "clf-bf16-wide-float32", "clf-bf16-wide-dropout-float32"])
def test_guard_digest_one_thread(name):
    """The same bits on one thread as on all of them."""
    if RECORD:
        pytest.skip("recording")
    with threadpool_limits(limits=1):
        digest = _digest(name)
    assert digest == _recorded()[name]


def test_table_covers_the_matrix():
    """Every configuration has a digest, and no digest is left over from a removed one."""
    if RECORD:
        pytest.skip("recording")
    assert sorted(_recorded()) == sorted(CONFIGS)


@pytest.mark.skipif(RECORD or "generic" not in _core.available_isas(), reason="recording")
@pytest.mark.parametrize("name", sorted(n for n in CONFIGS if "-bf16-" in n))
def test_guard_digest_bf16_portable(name):
    """The bfloat16 trainings give the x86 bits with the portable code's own bfloat16 kernel
    (not the hardware's or an x86 emulation)."""
    previous = _core.isa()
    try:
        _core.set_isa("generic")
        assert _core.bf16_kernel() == "generic"
        assert _checked_digest(name, "generic") == _recorded()[name]
    finally:
        _core.set_isa(previous)
