import pytest

from pyrocomp.util import require


def test_require_returns_the_module():
    assert require("math", "plots").sqrt(4.0) == 2.0


def test_a_missing_optional_dependency_names_its_extra():
    with pytest.raises(ImportError, match=r"pip install 'pyrocomp\[diagnostics\]'"):
        require("no_such_module_of_pyrocomp", "diagnostics")
