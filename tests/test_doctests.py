"""The examples in fastmlp's docstrings run, as doctests, against the installed package.

Every module of the package is searched (the public classes and functions live in private
modules such as ``fastmlp._estimators``), so ``pytest`` runs them without
``--doctest-modules``; an example marked ``# doctest: +SKIP`` (one that needs files or prints
timings) is shown in the documentation but not run.
"""

import doctest
import importlib
import pkgutil
import re

import pytest

import fastmlp

OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


# optional libraries an example may use; its test skips when one is missing
OPTIONAL = ("matplotlib", "onnx", "onnxruntime", "skl2onnx")


def _modules():
    names = ["fastmlp"]
    names += [info.name for info in pkgutil.walk_packages(fastmlp.__path__, "fastmlp.")]
    modules = []
    for name in sorted(names):
        try:
            modules.append(importlib.import_module(name))
        except ImportError:
            # a module that exists for an optional library (fastmlp.onnx needs skl2onnx);
            # test_optional_modules_import_with_their_libraries checks it imports with it
            continue
    return modules


def _doctests():
    finder = doctest.DocTestFinder(exclude_empty=True)
    tests = {}
    for module in _modules():
        for test in finder.find(module):
            # only examples that would run; an object re-exported elsewhere is found once
            if any(not example.options.get(doctest.SKIP) for example in test.examples):
                tests.setdefault(test.name, test)
    return [tests[name] for name in sorted(tests)]


DOCTESTS = _doctests()


def test_doctests_are_found():
    # the public estimators and functions have runnable examples; an empty list would make
    # the parametrized test below pass without running anything
    names = {test.name for test in DOCTESTS}
    assert "fastmlp._estimators.MLPClassifier" in names, sorted(names)
    assert len(DOCTESTS) >= 10, sorted(names)


@pytest.mark.parametrize("test", DOCTESTS, ids=[test.name for test in DOCTESTS])
def test_docstring_examples(test, tmp_path, monkeypatch):
    for library in OPTIONAL:
        if any(re.search(rf"\bimport {library}\b|\bfrom {library}\b", example.source)
               for example in test.examples):
            pytest.importorskip(library)
    monkeypatch.chdir(tmp_path)     # an example that writes a file writes it here
    runner = doctest.DocTestRunner(optionflags=OPTIONS)
    output = []
    result = runner.run(test, out=output.append, clear_globs=True)
    assert result.failed == 0, "".join(output)
    assert result.attempted > 0


def test_optional_modules_import_with_their_libraries():
    # the modules skipped above for a missing library import once it is there
    pytest.importorskip("skl2onnx")
    pytest.importorskip("onnx")
    importlib.import_module("fastmlp.onnx")
