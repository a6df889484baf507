"""Release metadata: one version everywhere, and the license and changelog that ship."""

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import fastmlp

ROOT = Path(__file__).resolve().parents[1]


def pyproject_version():
    text = (ROOT / "pyproject.toml").read_text()
    return re.search(r'^version = "([^"]+)"', text, re.MULTILINE).group(1)


def test_version_agrees_everywhere():
    version = importlib.metadata.version("fastmlp")
    assert fastmlp.__version__ == version
    assert version == pyproject_version()


def test_command_line_prints_the_version():
    result = subprocess.run([sys.executable, "-m", "fastmlp", "--version"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"fastmlp {fastmlp.__version__}"


def test_package_metadata():
    meta = importlib.metadata.metadata("fastmlp")
    assert meta["Author"] == "The fastmlp developers"
    assert meta["License-Expression"] == "BSD-3-Clause"
    classifiers = meta.get_all("Classifier")
    assert "Operating System :: POSIX :: Linux" in classifiers
    assert "Intended Audience :: Science/Research" in classifiers
    assert any(c.startswith("Development Status ::") for c in classifiers)
    assert meta.get_all("License-File") == ["LICENSE"]


def test_license_ships_in_the_installed_package():
    files = importlib.metadata.files("fastmlp")
    licenses = [f for f in files if f.name == "LICENSE"]
    assert licenses, "LICENSE is not among the installed files"
    text = licenses[0].read_text()
    assert "BSD 3-Clause License" in text
    assert "Copyright (c) 2026, The fastmlp developers" in text
    assert text == (ROOT / "LICENSE").read_text()


def test_changelog_has_the_current_version():
    text = (ROOT / "CHANGELOG.md").read_text()
    assert f"## [{pyproject_version()}]" in text
