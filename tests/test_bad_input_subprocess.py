"""Bad input in a fresh interpreter: a crash (segfault, abort) of the C core fails the test.

tests/test_bad_input.py checks most of these errors in-process; here each case runs in a child
`python` (sys.executable) that reports the exception's type and message. The cases run one after
another in as few children as possible: when a child dies, the case it was running is recorded
as crashed (with its signal and faulthandler's traceback) and a new child takes the remaining
cases, so every case still gets its own verdict.
"""

import json
import subprocess
import sys

import pytest

# The child: runs each (name, code) from stdin, printing BEGIN before and RESULT after it.
CHILD = r"""
import faulthandler, json, sys, warnings
faulthandler.enable()
warnings.simplefilter("ignore")
import numpy as np
from fastmlp import MLPClassifier, MLPRegressor

rng = np.random.RandomState(0)
X = rng.normal(size=(30, 4))
Y = {"MLPClassifier": np.arange(30) % 3, "MLPRegressor": X @ np.array([1.0, -2.0, 0.5, 0.0])}
FAST = dict(hidden_layer_sizes=(5,), max_iter=5, random_state=0)

for name, code in json.loads(sys.stdin.read()):
    print("BEGIN " + name, flush=True)
    est_name = name.split("-")[0]
    namespace = {"np": np, "X": X, "y": Y[est_name], "FAST": FAST,
                 "MLPClassifier": MLPClassifier, "MLPRegressor": MLPRegressor,
                 "Est": {"MLPClassifier": MLPClassifier, "MLPRegressor": MLPRegressor}[est_name]}
    try:
        exec(code, namespace)
        result = {"type": None, "message": repr(namespace.get("result"))}
    except Exception as exc:
        result = {"type": type(exc).__name__,
                  "bases": [c.__name__ for c in type(exc).__mro__],
                  "message": str(exc)}
    print("RESULT " + json.dumps(dict(result, case=name)), flush=True)
"""

# name -> (code, exception class name or None, regex the message must match)
COMMON_CASES = {
    "nan_in_X": ("X = X.copy(); X[2, 1] = np.nan; Est(**FAST).fit(X, y)", "ValueError",
                 "NaN"),
    "inf_in_X": ("X = X.copy(); X[2, 1] = np.inf; Est(**FAST).fit(X, y)", "ValueError",
                 "infinity"),
    "nan_in_X_predict": (
        "m = Est(**FAST).fit(X, y); X = X.copy(); X[0, 0] = np.nan; m.predict(X)",
        "ValueError", "NaN",
    ),
    "inf_in_X_predict_float32": (
        "m = Est(**FAST).fit(X.astype(np.float32), y); Z = X.astype(np.float32);"
        " Z[1, 3] = -np.inf; m.predict(Z)",
        "ValueError", "infinity",
    ),
    "nan_in_y": ("y = y.astype(float); y[3] = np.nan; Est(**FAST).fit(X, y)", "ValueError",
                 "NaN"),
    "inf_in_y": ("y = y.astype(float); y[3] = np.inf; Est(**FAST).fit(X, y)", "ValueError",
                 "infinity|Unknown label type"),
    "empty_X": ("Est(**FAST).fit(np.empty((0, 4)), np.empty(0))", "ValueError", "0 sample"),
    "X_1d": ("Est(**FAST).fit(X[:, 0], y)", "ValueError", "Expected 2D array"),
    "X_3d": ("Est(**FAST).fit(X.reshape(30, 2, 2), y)", "ValueError", "dim"),
    "y_other_length": ("Est(**FAST).fit(X, y[:-2])", "ValueError",
                       "inconsistent numbers of samples"),
    "X_strings": ("Est(**FAST).fit(np.full((30, 4), 'abc'), y)", "ValueError",
                  "convert|numeric"),
    "X_complex": ("Est(**FAST).fit(X + 1j, y)", "ValueError", "[Cc]omplex"),
    "predict_other_n_features": ("Est(**FAST).fit(X, y).predict(X[:, :3])", "ValueError",
                                 "3 features.*expecting 4 features"),
    "hidden_layer_sizes_0": ("Est(**dict(FAST, hidden_layer_sizes=0)).fit(X, y)",
                             "InvalidParameterError", "hidden_layer_sizes"),
    "hidden_layer_sizes_negative": ("Est(**dict(FAST, hidden_layer_sizes=(4, -3))).fit(X, y)",
                                    "ValueError", "hidden_layer_sizes"),
    "hidden_layer_sizes_10e13": ("Est(**dict(FAST, hidden_layer_sizes=10**13)).fit(X, y)",
                                 "ValueError", "hidden_layer_sizes=10000000000000 .*memory"),
    "hidden_layer_sizes_two_10e7": (
        "Est(**dict(FAST, hidden_layer_sizes=(10**7, 10**7))).fit(X, y)",
        "ValueError", "hidden_layer_sizes.*memory",
    ),
    "batch_size_0": ("Est(**dict(FAST, batch_size=0)).fit(X, y)", "InvalidParameterError",
                     "batch_size"),
    "learning_rate_init_negative": ("Est(**dict(FAST, learning_rate_init=-0.1)).fit(X, y)",
                                    "InvalidParameterError", "learning_rate_init"),
    "activation_unknown": ("Est(**dict(FAST, activation='swish2')).fit(X, y)",
                           "InvalidParameterError", "activation"),
    "solver_unknown": ("Est(**dict(FAST, solver='newton')).fit(X, y)",
                       "InvalidParameterError", "solver"),
    "max_iter_0": ("Est(**dict(FAST, max_iter=0)).fit(X, y)", "InvalidParameterError",
                   "max_iter"),
    "partial_fit_other_n_features": (
        "kw = {'classes': np.unique(y)} if Est is MLPClassifier else {};"
        " m = Est(**FAST).partial_fit(X, y, **kw); m.partial_fit(X[:, :2], y)",
        "ValueError", "2 features.*expecting 4 features",
    ),
    "predict_before_fit": ("Est().predict(X)", "NotFittedError", "not fitted"),
}

CLASSIFIER_CASES = {
    "partial_fit_unseen_class": (
        "m = Est(**FAST).partial_fit(X, y % 2, classes=[0, 1]); m.partial_fit(X, y)",
        "ValueError", "classes",
    ),
    "partial_fit_first_call_unseen_class": (
        "Est(**FAST).partial_fit(X, y, classes=[0, 1])", "ValueError", "classes",
    ),
    # scikit-learn fits a single class (one logistic output) and predicts it: so does fastmlp
    "single_class_fit": (
        "m = Est(**FAST).fit(X, np.full(30, 'only')); "
        "assert (m.predict(X) == 'only').all(); p = m.predict_proba(X);"
        " assert len(p) == 30 and np.isfinite(p).all(); result = m.classes_.tolist()",
        None, "\\['only'\\]",
    ),
    "single_class_partial_fit": (
        "m = Est(**FAST).partial_fit(X, np.full(30, 7), classes=[7]);"
        " assert (m.predict(X) == 7).all(); result = m.classes_.tolist()",
        None, "\\[7\\]",
    ),
}

REGRESSOR_CASES = {
    "loss_unknown": ("Est(**dict(FAST, loss='huber')).fit(X, y)", "InvalidParameterError",
                     "loss"),
    "y_strings": ("Est(**FAST).fit(X, np.array(['a', 'b', 'c'] * 10, dtype=object))",
                  "ValueError", "convert|numeric|string"),
}

CASES = {}
for est_name in ("MLPClassifier", "MLPRegressor"):
    extra = CLASSIFIER_CASES if est_name == "MLPClassifier" else REGRESSOR_CASES
    for case, spec in {**COMMON_CASES, **extra}.items():
        CASES["%s-%s" % (est_name, case)] = spec


def _run_in_children(names, timeout=300):
    """{name: result}; a child that dies or hangs marks its current case and a fresh child
    goes on with the rest."""
    results = {}
    pending = list(names)
    while pending:
        stdin = json.dumps([(name, CASES[name][0]) for name in pending])
        try:
            proc = subprocess.run(
                [sys.executable, "-c", CHILD], input=stdin, capture_output=True, text=True,
                timeout=timeout,
            )
            stdout, stderr, returncode = proc.stdout, proc.stderr, proc.returncode
        except subprocess.TimeoutExpired as exc:
            def text(b):
                return b.decode(errors="replace") if isinstance(b, bytes) else (b or "")
            stdout, stderr, returncode = text(exc.stdout), text(exc.stderr), "timeout"
        current = None
        for line in stdout.splitlines():
            if line.startswith("BEGIN "):
                current = line[len("BEGIN "):]
            elif line.startswith("RESULT "):
                result = json.loads(line[len("RESULT "):])
                results[result["case"]] = result
                current = None
        if current is None and returncode != 0:
            # died before its first case (or between cases): blame the next pending case
            current = next((name for name in pending if name not in results), None)
        if current is not None:
            # faulthandler's report leads stderr; the list of loaded modules follows it
            results[current] = {"crashed": returncode, "stderr": stderr[:4000]}
        pending = [name for name in pending if name not in results]
    return results


@pytest.fixture(scope="module")
def results():
    return _run_in_children(sorted(CASES))


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_in_fresh_interpreter(case, results):
    import re

    _, expected_type, pattern = CASES[case]
    result = results[case]
    assert "crashed" not in result, "the interpreter died (%s):\n%s" % (
        result.get("crashed"),
        result.get("stderr"),
    )
    if expected_type is None:
        assert result["type"] is None, result
    else:
        assert result["type"] is not None, "no exception: %r" % (result,)
        assert expected_type in result["bases"], result
        # every refusal is a ValueError or TypeError (InvalidParameterError is both)
        assert {"ValueError", "TypeError"} & set(result["bases"]) or expected_type in (
            "NotFittedError",
        ), result
    assert re.search(pattern, result["message"]), result


def test_a_crashing_child_fails_only_its_own_case(monkeypatch):
    # The harness itself: a segfault in one case is reported for that case, and the cases after
    # it still run in a fresh child.
    fake = {
        "MLPClassifier-before": ("result = 1", None, "1"),
        "MLPClassifier-segfault": ("import ctypes; ctypes.string_at(0)", None, ""),
        "MLPClassifier-after": ("raise ValueError('after ran')", "ValueError", "after ran"),
    }
    monkeypatch.setattr(sys.modules[__name__], "CASES", fake)
    out = _run_in_children(list(fake))
    assert out["MLPClassifier-before"]["type"] is None
    assert out["MLPClassifier-segfault"]["crashed"] not in (0, None)
    assert "Segmentation fault" in out["MLPClassifier-segfault"]["stderr"]
    assert out["MLPClassifier-after"]["message"] == "after ran"
