"""Files written by fastmlp's save format 1 (tests/data/format1_*.npz, made by
tests/data/make_format1.py before the format changed) keep loading: the same predictions, and
training continues from the stored optimizer state exactly as it did in the model that wrote
them."""

import os
import pickle
import sys
import warnings

import numpy as np
import pytest

import fastmlp

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
sys.path.insert(0, DATA)
import make_format1  # noqa: E402

NAMES = ["classifier", "regressor", "early_stopping", "bn_prelu", "adam_partial",
         "float32_maxout"]


@pytest.fixture(scope="module")
def expected():
    with np.load(os.path.join(DATA, "format1_expected.npz")) as f:
        return dict(f)


@pytest.mark.parametrize("name", NAMES)
def test_format1_file_predicts_and_continues(name, expected):
    model = fastmlp.load(os.path.join(DATA, "format1_%s.npz" % name))
    assert np.array_equal(make_format1.outputs(name, model), expected[name + "_before"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        make_format1.continue_training(name, model)
    assert np.array_equal(make_format1.outputs(name, model), expected[name + "_after"])
    flat = np.concatenate([np.ravel(c) for c in model.coefs_])
    n = flat.size
    assert np.array_equal(flat, expected[name + "_params_after"][:n])


def test_format1_pickle_loads_and_continues(expected):
    with open(os.path.join(DATA, "format1_adam_partial.pkl"), "rb") as f:
        model = pickle.load(f)
    assert np.array_equal(make_format1.outputs("adam_partial", model),
                          expected["adam_partial_before"])
    make_format1.continue_training("adam_partial", model)
    assert np.array_equal(make_format1.outputs("adam_partial", model),
                          expected["adam_partial_after"])


def test_format1_file_saves_again(tmp_path, expected):
    """A format-1 file read and saved again reads back with the same predictions."""
    model = fastmlp.load(os.path.join(DATA, "format1_bn_prelu.npz"))
    path = tmp_path / "again.npz"
    model.save(path)
    again = fastmlp.load(path)
    assert np.array_equal(make_format1.outputs("bn_prelu", again), expected["bn_prelu_before"])
