"""Imports go down the layers only: util -> distributions, mrf, data, models -> nn -> priors -> guides ->
infer -> pruning -> pipeline, plots, diagnostics -> cli (the package's own ``__init__`` is the facade)."""
import ast
import pathlib

import pytest

import pyrocomp

LAYERS = {
    "util": 0,
    "distributions": 1, "mrf": 1, "data": 1, "models": 1,
    "nn": 2,
    "priors": 3,
    "guides": 4,
    "infer": 5,
    "pruning": 6,
    "pipeline": 7, "plots": 7, "diagnostics": 7, "baselines": 7,
    "cli": 8,
    "__main__": 9,  # python -m pyrocomp: the command line
}
ROOT = pathlib.Path(pyrocomp.__file__).parent
MODULES = sorted(p for p in ROOT.rglob("*.py") if p != ROOT / "__init__.py")


def _package(path):
    return path.relative_to(ROOT).parts[0].removesuffix(".py")


def _imported_packages(source, own):
    """Every pyrocomp package that the module ``own`` (its path parts under ``pyrocomp/``) imports in
    ``source``, at any depth (function-level imports too)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's own package
                base = own[: len(own) - node.level]
                parts = list(base) + (node.module.split(".") if node.module else [])
                if not parts:  # ``from .. import x`` at the top of the package
                    parts = [alias.name for alias in node.names]
            elif node.module and node.module.split(".")[0] == "pyrocomp":
                parts = node.module.split(".")[1:] or [alias.name for alias in node.names]
            else:
                continue
            yield node.lineno, parts[0]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "pyrocomp" and len(parts) > 1:
                    yield node.lineno, parts[1]


def test_every_module_has_a_layer():
    assert {_package(p) for p in MODULES} <= set(LAYERS), "a new package needs a place in LAYERS"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_go_down_the_layers(path):
    here = _package(path)
    upward = [f"line {line}: {here} imports {there}" for line, there in _imported_packages(path.read_text(), path.relative_to(ROOT).with_suffix("").parts)
              if LAYERS[there] > LAYERS[here] or (LAYERS[there] == LAYERS[here] and there != here)]
    assert not upward, "; ".join(upward)


def test_the_checker_sees_function_level_and_relative_imports():
    source = "import torch\ndef f():\n    from pyrocomp.pruning.criteria import X\nfrom ..infer import fit\nimport pyrocomp.nn\n"
    assert sorted(there for _, there in _imported_packages(source, ("priors", "prior"))) == ["infer", "nn", "pruning"]
