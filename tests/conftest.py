"""Fixtures shared by the test modules."""

import pytest

from fastmlp import _core


@pytest.fixture(params=_core.available_isas())
def isa(request):
    """Runs a test under each GEMM instruction set the machine has, then restores the default."""
    previous = _core.isa()
    _core.set_isa(request.param)
    yield request.param
    _core.set_isa(previous)
