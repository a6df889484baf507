"""Fixtures shared by the test modules."""

import os
from pathlib import Path

import pytest

from fastmlp import _core

REPO = Path(__file__).resolve().parents[1]


def data_root():
    """The folder holding the real data sets (``mnist/``, ``fashion-mnist/``), or None: the
    FASTMLP_DATA environment variable when set, else the repository's ``../shared/data``, else
    the first ``shared/data`` found walking up from the repository (a clone or worktree placed
    deeper than the project's own)."""
    if os.environ.get("FASTMLP_DATA"):
        return Path(os.environ["FASTMLP_DATA"])
    for parent in REPO.parents:
        candidate = parent / "shared" / "data"
        if candidate.is_dir():
            return candidate
    return None


def data_folder(name):
    """The folder of the real data set ``name`` (``mnist`` or ``fashion-mnist``), or None."""
    root = data_root()
    if root is None or not (root / name).is_dir():
        return None
    return root / name


def reference_library(name):
    """Import the reference library ``name`` (torch) for tests that compare fastmlp with it.
    Without it they skip, unless FASTMLP_REQUIRE_REFERENCES=1 (CI's main run sets it): then a
    missing reference is a test failure, so that CI cannot pass with its reference tests
    skipped."""
    if os.environ.get("FASTMLP_REQUIRE_REFERENCES") == "1":
        try:
            return __import__(name)
        except ImportError as exc:
            pytest.fail("FASTMLP_REQUIRE_REFERENCES=1 but the reference library %r cannot be "
                        "imported (%s)" % (name, exc), pytrace=False)
    return pytest.importorskip(name)


@pytest.fixture(params=_core.available_isas())
def isa(request):
    """Runs a test under each GEMM instruction set the machine has, then restores the default."""
    previous = _core.isa()
    _core.set_isa(request.param)
    yield request.param
    _core.set_isa(previous)
