"""Sphinx configuration of pyrocomp's documentation (``sphinx-build -W docs docs/_build``)."""
import os
import sys

sys.path.insert(0, os.path.abspath(".."))

project = "pyrocomp"
author = "the pyrocomp developers"
copyright = "2026, the pyrocomp developers"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
templates_path = ["_templates"]

autosummary_generate = True
autodoc_member_order = "bysource"
autodoc_default_options = {"show-inheritance": True}
autodoc_inherit_docstrings = False  # torch's and Pyro's docstrings are not written for Sphinx
myst_heading_anchors = 3
myst_enable_extensions = ["dollarmath"]
suppress_warnings = ["myst.xref_missing"]  # links to files outside docs/ (examples, benchmarks) stay links

html_theme = "furo"
html_title = "pyrocomp"
