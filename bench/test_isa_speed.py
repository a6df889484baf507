"""bench/isa_speed.py keeps working (tiny sizes; no timing is checked)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import isa_speed  # noqa: E402

from fastmlp import _core  # noqa: E402


def test_isa_speed_reports_every_instruction_set(capsys):
    previous = _core.isa()
    isa_speed.main(["--rounds", "1", "--samples-digits", "400", "--samples-ref", "256"])
    assert _core.isa() == previous
    lines = capsys.readouterr().out.splitlines()
    rows = [line for line in lines if line.startswith(("digits", "ref"))]
    assert len(rows) == 2 * len(_core.available_isas())
    assert all(float(row.split()[-1]) > 0 for row in rows)
