"""fastmlp's own elementwise functions (csrc/fm_math.h: exp, log, expm1, log1p, tanh, erf), which
training and prediction use instead of the C library's so that every platform computes the same
bits: their accuracy against mpmath (independent arbitrary-precision references) and NumPy,
their special values, and the same bits under every instruction set the machine has."""

import math

import numpy as np
import pytest

from conftest import reference_library
from fastmlp import _core

FUNCTIONS = ("exp", "log", "expm1", "log1p", "tanh", "erf")

# Wide ranges, and the narrow ones where each method changes (reduction, series, intervals).
RANGES = {
    "exp": [(-708.3, 709.7), (-1.0, 1.0), (-1e-3, 1e-3), (-30.0, 30.0)],
    "log": [(0.5, 2.0), (0.999, 1.001), (1e-5, 10.0)],
    "expm1": [(-40.0, 40.0), (-0.5, 0.5), (-1e-6, 1e-6), (-700.0, 700.0), (0.35, 0.45)],
    "log1p": [(-0.999999, 10.0), (-1e-5, 1e-5), (-0.5, 0.5)],
    "tanh": [(-25.0, 25.0), (-1.0, 1.0), (-1e-4, 1e-4), (0.5, 0.6)],
    "erf": [(-7.0, 7.0), (-0.6, 0.6), (-3.0, 3.0), (2.0, 6.0), (0.45, 0.55)],
}
# Largest error in units in the last place (double), measured when the functions were written:
# exp 0.51, log 0.74, expm1 0.69, log1p 1.14, tanh 1.28, erf 0.63.
MAX_ULP = {"exp": 0.6, "log": 1.0, "expm1": 1.0, "log1p": 1.5, "tanh": 1.5, "erf": 1.0}


def _samples(name, n, seed=0):
    rng = np.random.default_rng(seed)
    parts = [rng.uniform(lo, hi, n) for lo, hi in RANGES[name]]
    if name == "log":  # every binade
        parts.append(np.exp(rng.uniform(math.log(1e-300), math.log(1e300), n)))
    if name == "log1p":
        parts.append(np.exp(rng.uniform(math.log(1e-300), math.log(1e300), n)))
    return np.concatenate(parts)


def _mp_function(mp, name):
    return {"exp": mp.exp, "log": mp.log, "expm1": mp.expm1, "log1p": mp.log1p,
            "tanh": mp.tanh, "erf": mp.erf}[name]


def _ulp_errors(got, x, name, mp):
    f = _mp_function(mp, name)
    errors = []
    for xi, yi in zip(x.tolist(), got.tolist()):
        ref = f(mp.mpf(xi))
        ref_double = float(ref)
        unit = math.ulp(abs(ref_double)) if ref_double != 0 else math.ulp(0.0)
        errors.append(float(abs(mp.mpf(yi) - ref)) / unit)
    return np.array(errors)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_double_accuracy_against_mpmath(name):
    mp = reference_library("mpmath")
    mp.mp.prec = 120
    x = _samples(name, 600)
    got = _core.math(name, x, np.float64)
    errors = _ulp_errors(got, x, name, mp)
    worst = int(np.argmax(errors))
    assert errors[worst] <= MAX_ULP[name], "%s(%r): %.3f ulp" % (name, x[worst], errors[worst])


@pytest.mark.parametrize("name", FUNCTIONS)
def test_float_is_within_an_ulp_of_mpmath(name):
    # The float32 functions: the double ones rounded once (exp: its own correctly rounded rows),
    # so within one float ulp, and nearly always correctly rounded.
    mp = reference_library("mpmath")
    mp.mp.prec = 80
    with np.errstate(over="ignore"):
        x = _samples(name, 400, seed=1).astype(np.float32)
    x = x[np.isfinite(x) & ((x == 0) | (np.abs(x) >= np.finfo(np.float32).tiny))]
    if name in ("exp", "expm1"):
        x = x[(x > -87) & (x < 88)]  # normal float results
    got = _core.math(name, x, np.float32)
    f = _mp_function(mp, name)
    ref = np.array([float(f(mp.mpf(float(v)))) for v in x]).astype(np.float32)
    ulps = np.abs(got.view(np.int32).astype(np.int64) - ref.view(np.int32).astype(np.int64))
    assert ulps.max() <= 1
    assert (ulps == 0).mean() > 0.999


@pytest.mark.parametrize("name", FUNCTIONS)
def test_double_agrees_with_numpy(name):
    # NumPy's functions (the C library's; erf: Python's math.erf, also the C library's) on many
    # more arguments: within 2 ulp of them (each is within about an ulp of the true value).
    x = _samples(name, 20000, seed=2)
    reference = {"exp": np.exp, "log": np.log, "expm1": np.expm1, "log1p": np.log1p,
                 "tanh": np.tanh, "erf": np.vectorize(math.erf)}[name]
    got = _core.math(name, x, np.float64)
    with np.errstate(over="ignore", under="ignore"):
        ref = reference(x)
    normal = np.abs(ref) >= np.finfo(np.float64).tiny  # the core flushes subnormal results
    np.testing.assert_array_less(np.abs(got - ref)[normal], 2.01 * np.spacing(np.abs(ref))[normal])
    assert not got[~normal].any() or np.array_equal(got[~normal], ref[~normal])


TINY = np.finfo(np.float64).tiny
SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 1e-300, -1e-300, 1e300,
                    -1e300, TINY, -TINY, 5e-324, -5e-324, 2.2e-308, 1e-20, -1e-20, 0.5, -0.5,
                    709.78, 709.79, -745.1, -745.2, 22.0, 6.0, 5.9, 40.0, -40.0, 88.7, -103.9])


def _expected(name, x):
    """C99's value of the function at a special argument, or None (checked against mpmath)."""
    if np.isnan(x):
        return np.nan
    table = {
        "exp": {np.inf: np.inf, -np.inf: 0.0, 0.0: 1.0},
        "log": {np.inf: np.inf, -np.inf: np.nan, 0.0: -np.inf, 1.0: 0.0},
        "expm1": {np.inf: np.inf, -np.inf: -1.0, 0.0: x},
        "log1p": {np.inf: np.inf, -np.inf: np.nan, 0.0: x, -1.0: -np.inf},
        "tanh": {np.inf: 1.0, -np.inf: -1.0, 0.0: x},
        "erf": {np.inf: 1.0, -np.inf: -1.0, 0.0: x},
    }[name]
    if x in table:
        return table[x]
    if name == "log" and x < 0:
        return np.nan
    if name == "log1p" and x < -1:
        return np.nan
    return None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_special_values(name, dtype):
    mp = reference_library("mpmath")
    mp.mp.prec = 120
    with np.errstate(over="ignore", under="ignore"):
        x = SPECIAL.astype(dtype)
    got = _core.math(name, x, dtype)
    f = _mp_function(mp, name)
    info = np.finfo(dtype)
    for xi, yi in zip(x, got):
        if 0 < abs(xi) < info.tiny:
            # a subnormal argument counts as zero in the core's mode (flush to zero)
            at_zero = _core.math(name, np.array([0.0], dtype), dtype)[0]
            assert yi == at_zero or yi == dtype(float(f(mp.mpf(float(xi))))), (name, xi, yi)
            continue
        expected = _expected(name, float(xi))
        if expected is not None:
            if np.isnan(expected):
                assert np.isnan(yi), "%s(%r) = %r" % (name, xi, yi)
            else:
                assert yi == expected and np.signbit(yi) == np.signbit(expected), \
                    "%s(%r) = %r, expected %r" % (name, xi, yi, expected)
            continue
        ref = f(mp.mpf(float(xi)))
        with np.errstate(over="ignore", under="ignore"):
            ref_rounded = dtype(float(ref))
        if abs(ref_rounded) < info.tiny and ref_rounded != 0 or (ref != 0 and ref_rounded == 0):
            assert yi == 0 or abs(yi) < 2 * info.tiny, (name, xi, yi)  # flushed, or rounded
            continue
        if np.isinf(ref_rounded):
            assert yi == ref_rounded, (name, xi, yi)
            continue
        tol = 2 * np.spacing(abs(ref_rounded))
        assert abs(float(yi) - float(ref)) <= tol, "%s(%r) = %r, reference %s" % (name, xi, yi,
                                                                                 ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_same_bits_on_every_instruction_set(name, dtype):
    rng = np.random.default_rng(3)
    width = np.uint32 if dtype == np.float32 else np.uint64
    random_bits = rng.integers(0, np.iinfo(width).max, 50000, dtype=width, endpoint=True)
    with np.errstate(over="ignore"):
        x = np.concatenate([_samples(name, 5000, seed=4).astype(dtype), random_bits.view(dtype),
                            SPECIAL.astype(dtype)])
    previous = _core.isa()
    results = {}
    try:
        for isa in _core.available_isas():
            _core.set_isa(isa)
            results[isa] = _core.math(name, x, dtype)
    finally:
        _core.set_isa(previous)
    reference = results["generic"]
    for isa, got in results.items():
        same = (got.view(width) == reference.view(width)) | (np.isnan(got) & np.isnan(reference))
        assert same.all(), "%s under %s at %r" % (name, isa, x[~same][:5])


def test_bad_arguments():
    with pytest.raises(ValueError, match="name"):
        _core.math("sin", [1.0], np.float64)
    with pytest.raises(ValueError, match="dtype"):
        _core.math("exp", [1.0], np.float16)
