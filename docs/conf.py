"""Sphinx configuration of fastmlp's documentation.

Build it from the repository root with::

    pip install ".[docs]"
    sphinx-build -W --keep-going -b html docs docs/_build/html

The API reference documents the installed ``fastmlp`` package: its pages come from the
numpydoc docstrings (autosummary lists in ``api.rst``), and numpydoc's validation turns an
undocumented or misnamed parameter into a warning, which ``-W`` makes an error.
"""

import os
import re
import warnings

import fastmlp

# -- project ---------------------------------------------------------------------------------
project = "fastmlp"
author = "The fastmlp developers"
copyright = "2026, The fastmlp developers"
release = fastmlp.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "matplotlib.sphinxext.plot_directive",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**/*.ipynb", "**/*.py.md5",
                    "auto_examples/*.py", "auto_examples/*.zip"]
root_doc = "index"
default_role = "code"

# -- API reference -----------------------------------------------------------------------------
autosummary_generate = True
autodoc_default_options = {"members": False}
autodoc_typehints = "none"

# numpydoc renders the sections; the class template (_templates/class.rst) lists the methods.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False
# "Every public parameter appears in the API reference": a parameter missing from a docstring
# (PR01), documented but absent from the signature (PR02), without a type (PR04) or a
# description (PR07), or an object without a docstring (GL08) is a warning, an error under -W.
numpydoc_validation_checks = {"PR01", "PR02", "PR04", "PR07", "GL08"}
# scikit-learn's generated metadata-routing methods are documented by scikit-learn
numpydoc_validation_exclude = {r"\.set_\w+_request$", r"\.get_metadata_routing$"}

intersphinx_mapping = {}  # offline build: no inventories are fetched
# Every cross-reference must resolve (a broken one is a warning, an error under -W), except
# those into scikit-learn's documentation, which the offline build has no inventory for.
nitpicky = True
nitpick_ignore_regex = [(r"py:.*", r"sklearn\..*")]

# -- figures: the plot directive and the gallery ------------------------------------------------
plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 96)]
plot_rcparams = {"figure.figsize": (6.4, 3.6), "figure.dpi": 96}
plot_pre_code = "import numpy as np\nimport matplotlib.pyplot as plt\n"

sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "min_reported_time": 10**9,  # no timings in the pages: they change from build to build
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
    "reset_modules": ("matplotlib",),
    "matplotlib_animations": False,
    "doc_module": ("fastmlp",),
    "backreferences_dir": "generated/backreferences",
}

# The examples print nothing from training's own warnings (max_iter reached on purpose).
warnings.filterwarnings("ignore", category=UserWarning, message="Matplotlib is currently using agg")
os.environ.setdefault("MPLBACKEND", "Agg")

# -- HTML ------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"fastmlp {release}"
html_show_sourcelink = False
html_theme_options = {
    "navbar_end": ["navbar-icon-links"],
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
html_static_path = []
html_context = {"default_mode": "light"}



def _plain_sklearn_refs(app, what, name, obj, options, lines):
    """Methods inherited from scikit-learn (``score``, ``get_params``, ``set_fit_request``, ...)
    refer to labels and glossary terms of scikit-learn's own documentation
    (``:ref:`accuracy_score```, ``:term:`meta-estimator```); shown here, they become plain text
    instead of broken links."""
    if not getattr(obj, "__module__", "").startswith("sklearn."):
        return
    lines[:] = [_SKLEARN_REF.sub(r"\1", line) for line in lines]


_SKLEARN_REF = re.compile(r":(?:ref|term):`([^`<]+?)(?:\s*<[^>]+>)?`")


def setup(app):
    app.connect("autodoc-process-docstring", _plain_sklearn_refs)
