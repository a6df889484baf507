"""README.md's Python blocks run as written: extracted in order and run as one script in a fresh
interpreter, from a scratch folder laid out like a clone (the real data, when there is some, at
``../shared/data``), so that an example that stops working fails here."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, data_root, reference_library

README = REPO / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```\n", re.S | re.M)
DATA = "../shared/data/"

# The MNIST examples train for 3 and 20 epochs; one shows that they run. Each replacement must
# match exactly once, so that an edited example updates this table.
FEWER_EPOCHS = {
    "for epoch in range(3):": "for epoch in range(1):",
    "batch_size=128, max_iter=20, random_state=0)": "batch_size=128, max_iter=1, random_state=0)",
}

# Checks appended after the blocks: the grid search searched the digits of the usage example,
# not data a block in between rebound X and y to.
CHECKS = """
assert search.n_features_in_ == 64, search.n_features_in_  # the 8 x 8 digits
print("README blocks ran")
"""


def readme_blocks():
    return BLOCK.findall(README.read_text(encoding="utf-8"))


def _script(blocks, with_data):
    parts = []
    for block in blocks:
        if DATA in block and not with_data:
            continue
        if "dask" in block:
            continue  # a script of its own: test_readme_dask_example_runs
        parts.append(block)
    script = "\n".join(parts)
    if with_data:
        for old, new in FEWER_EPOCHS.items():
            assert script.count(old) == 1, old
            script = script.replace(old, new)
    return script + CHECKS


def test_readme_has_the_blocks_this_test_knows():
    blocks = readme_blocks()
    assert len(blocks) >= 10
    assert sum(DATA in block for block in blocks) == 2
    assert sum("dask" in block for block in blocks) == 1


def test_readme_python_blocks_run_in_order(tmp_path):
    root = data_root()
    with_data = root is not None and (root / "mnist").is_dir()
    clone = tmp_path / "fastmlp"
    clone.mkdir()
    if with_data:
        (tmp_path / "shared").mkdir()
        (tmp_path / "shared" / "data").symlink_to(root.resolve(), target_is_directory=True)
    script = clone / "readme_blocks.py"
    script.write_text(_script(readme_blocks(), with_data), encoding="utf-8")
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONWARNINGS="ignore")
    result = subprocess.run([sys.executable, str(script)], cwd=clone, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stdout.rstrip().endswith("README blocks ran")
    if not with_data:
        pytest.skip("the README's MNIST blocks were left out: no data (set FASTMLP_DATA)")


def test_readme_dask_example_runs(tmp_path):
    """The scale-out example is a script of its own (its __main__ guard keeps the work out of
    the worker processes, which import it): run as written, on a LocalCluster."""
    reference_library("dask")
    reference_library("distributed")
    (block,) = [block for block in readme_blocks() if "dask" in block]
    script = tmp_path / "dask_example.py"
    script.write_text(block, encoding="utf-8")
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    lines = result.stdout.strip().splitlines()
    assert len(lines) >= 3, result.stdout
    assert float(lines[0].split()[0]) > 0.9  # the lbfgs model's accuracy
