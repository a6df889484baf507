"""Files written by fastmlp's save format 1 (tests/data/format1_*.npz, made by
tests/data/make_format1.py before the format changed) keep loading: the same predictions, and
training continues from the stored optimizer state exactly as it did in the model that wrote
them."""

import io
import json
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
from test_persistence import _set  # noqa: E402  (the metadata edit the format-2 tests use)

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


@pytest.mark.parametrize("name", NAMES)
def test_format1_file_saved_again_is_format2_and_continues(name, expected, tmp_path):
    """A format-1 file read and saved again is a format-2 file that holds all it held: the
    same predictions, and training continues as the model that wrote the format-1 file."""
    model = fastmlp.load(os.path.join(DATA, "format1_%s.npz" % name))
    path = tmp_path / "again.npz"
    model.save(path)
    with np.load(path, allow_pickle=False) as npz:
        assert json.loads(npz["metadata"].tobytes())["format_version"] == 2
    again = fastmlp.load(path)
    assert np.array_equal(make_format1.outputs(name, again), expected[name + "_before"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        make_format1.continue_training(name, again)
    assert np.array_equal(make_format1.outputs(name, again), expected[name + "_after"])


def _format1_rewrite(name, edit=None, arrays=None):
    """The bytes of fixture format1_<name>.npz with its metadata edited and / or members
    replaced."""
    with np.load(os.path.join(DATA, "format1_%s.npz" % name), allow_pickle=False) as npz:
        members = {key: npz[key] for key in npz.files}
    metadata = json.loads(members["metadata"].tobytes())
    if edit is not None:
        edit(metadata)
    members["metadata"] = np.frombuffer(json.dumps(metadata).encode(), dtype=np.uint8)
    members.update(arrays or {})
    buffer = io.BytesIO()
    np.savez(buffer, **members)
    return buffer.getvalue()


def _optimizer_state_key(name):
    with np.load(os.path.join(DATA, "format1_%s.npz" % name), allow_pickle=False) as npz:
        metadata = json.loads(npz["metadata"].tobytes())
    return metadata["attributes"]["_optimizer"]["state"]["state"]["__array__"]


def _binarizer_classes_key(name):
    with np.load(os.path.join(DATA, "format1_%s.npz" % name), allow_pickle=False) as npz:
        metadata = json.loads(npz["metadata"].tobytes())
    return metadata["attributes"]["_label_binarizer"]["state"]["classes_"]["__array__"]


BAD_FORMAT1 = {
    "unknown_object": (
        lambda: _format1_rewrite("classifier", _set(["attributes", "x_"], {
            "__object__": "builtins.eval", "state": {}})),
        "'builtins.eval'",
    ),
    "dunder_attribute": (
        lambda: _format1_rewrite("classifier", _set(["attributes", "__class__"], "x")),
        "'__class__'",
    ),
    "optimizer_state": (
        lambda: _format1_rewrite("classifier", arrays={
            _optimizer_state_key("classifier"): np.zeros(3)}),
        "optimizer state",
    ),
    "optimizer_missing_field": (
        lambda: _format1_rewrite("classifier", lambda m: m["attributes"]["_optimizer"][
            "state"].pop("beta_1")),
        "optimizer has no field 'beta_1'",
    ),
    "optimizer_not_object": (
        lambda: _format1_rewrite("classifier", _set(["attributes", "_optimizer"], 3)),
        "optimizer is malformed",
    ),
    "label_binarizer": (
        lambda: _format1_rewrite("classifier", _set(
            ["attributes", "_label_binarizer", "state", "neg_label"], -1)),
        "label binarizer is malformed",
    ),
    "label_binarizer_classes_0d": (
        lambda: _format1_rewrite("classifier", arrays={
            _binarizer_classes_key("classifier"): np.array(3)}),
        "label binarizer is malformed",
    ),
    "n_outputs": (
        lambda: _format1_rewrite("classifier", _set(["attributes", "n_outputs_"], 2)),
        "its n_outputs_ is 2",
    ),
    "best_params": (
        lambda: _format1_rewrite("early_stopping", _set(["attributes", "_best_params"], 1.0)),
        "best parameters do not match",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FORMAT1))
def test_damaged_format1_file_gives_value_error(case, tmp_path):
    make, problem = BAD_FORMAT1[case]
    path = tmp_path / "bad.npz"
    path.write_bytes(make())
    with pytest.raises(ValueError, match=problem) as info:
        fastmlp.load(path)
    assert str(path) in str(info.value)
