"""The API reference lists every public name, and every public parameter is documented.

``docs/api.rst`` holds the autosummary lists the reference is generated from: every name in
``fastmlp.__all__`` (and in the ``__all__`` of a public submodule) must be there. Every
parameter of a public function, of a public class's ``__init__`` and of its public methods must
be in the Parameters section of the numpydoc docstring, and nothing else may be (the docs build
checks the same with numpydoc's validation; this test needs neither Sphinx nor numpydoc).
"""

import inspect
import re
import types
from pathlib import Path

import pytest

import fastmlp

API_RST = Path(__file__).resolve().parents[1] / "docs" / "api.rst"


def documented_names(text):
    """Fully qualified names that the reST text ``text`` documents: autosummary entries and
    the targets of automodule / autofunction / autoclass / data directives, each resolved
    against the ``currentmodule`` in force."""
    names = set()
    module = ""
    in_autosummary = False
    for line in text.splitlines():
        directive = re.match(r"\.\. ([\w:-]+)::\s*(\S*)", line.strip())
        if line and not line[0].isspace():
            in_autosummary = False
        if directive and not line[0].isspace():
            kind, target = directive.groups()
            if kind in ("currentmodule", "module", "py:currentmodule"):
                module = target
            elif kind == "autosummary":
                in_autosummary = True
            elif kind in ("automodule",):
                names.add(target)
            elif kind in ("autofunction", "autoclass", "data", "function", "class"):
                names.add(target if "." in target else f"{module}.{target}")
            continue
        entry = line.strip()
        if in_autosummary and entry and not entry.startswith(":"):
            names.add(entry if entry.startswith(module + ".") else f"{module}.{entry}")
    return names


def public_names():
    """The names the API reference must list: fastmlp.__all__, and the __all__ of each public
    submodule in it."""
    names = []
    for name in fastmlp.__all__:
        names.append(f"fastmlp.{name}")
        value = getattr(fastmlp, name)
        if isinstance(value, types.ModuleType):
            members = getattr(value, "__all__", None)
            assert members is not None, f"public module {value.__name__} has no __all__"
            names += [f"{value.__name__}.{member}" for member in members]
    return names


def docstring_parameters(doc):
    """Names in the Parameters section of the numpydoc docstring ``doc``."""
    lines = inspect.cleandoc(doc or "").splitlines()
    names = []
    inside = False
    for i, line in enumerate(lines):
        underline = lines[i + 1] if i + 1 < len(lines) else ""
        if line.strip() and re.fullmatch(r"-{3,}", underline.strip()):
            inside = line.strip() == "Parameters"
            continue
        if not inside or not line.strip() or line[0].isspace() or re.fullmatch(r"-+", line):
            continue
        head = line.split(" : ")[0].strip()
        names += [part.strip().lstrip("*") for part in head.split(",") if part.strip()]
    return names


def signature_parameters(function):
    params = inspect.signature(function).parameters.values()
    return [p.name for p in params if p.name not in ("self", "cls")]


def public_callables():
    """(qualified name, callable, docstring) of every public function, class constructor and
    public method defined by fastmlp."""
    items = []
    for name in public_names():
        module_name, _, attr = name.rpartition(".")
        obj = getattr(__import__(module_name, fromlist=[attr]), attr)
        if inspect.isclass(obj):
            items.append((name, obj.__init__, obj.__doc__))
            for method_name in sorted(dir(obj)):
                if method_name.startswith("_"):
                    continue
                try:
                    method = getattr(obj, method_name)
                except AttributeError:
                    continue
                # methods defined by fastmlp; scikit-learn documents what it defines
                if inspect.isfunction(method) and method.__module__.startswith("fastmlp"):
                    items.append((f"{name}.{method_name}", method, method.__doc__))
        elif callable(obj):
            items.append((name, obj, obj.__doc__))
    return items


def test_api_reference_lists_every_public_name():
    documented = documented_names(API_RST.read_text())
    missing = [name for name in public_names() if name not in documented]
    assert not missing, f"add these to the autosummary lists of docs/api.rst: {missing}"


@pytest.mark.parametrize("name, function, doc", public_callables(),
                         ids=[item[0] for item in public_callables()])
def test_every_public_parameter_is_documented(name, function, doc):
    in_signature = signature_parameters(function)
    in_docstring = docstring_parameters(doc)
    missing = [p for p in in_signature if p not in in_docstring]
    unknown = [p for p in in_docstring if p not in in_signature]
    assert not missing, f"{name}: parameters not in the docstring's Parameters: {missing}"
    assert not unknown, f"{name}: documented parameters not in the signature: {unknown}"


def test_the_checks_catch_what_they_look_for():
    # an undocumented parameter, and a name missing from an autosummary list, are seen
    def fit(X, y, sample_weight=None):
        """Fit.

        Parameters
        ----------
        X, y : ndarray
            Data.

        Returns
        -------
        self : object
            Fitted.
        """

    assert docstring_parameters(fit.__doc__) == ["X", "y"]
    assert signature_parameters(fit) == ["X", "y", "sample_weight"]
    text = (".. currentmodule:: fastmlp\n\n.. autosummary::\n   :toctree: generated/\n\n"
            "   MLPClassifier\n\nText\n\n   load\n")
    assert documented_names(text) == {"fastmlp.MLPClassifier"}
