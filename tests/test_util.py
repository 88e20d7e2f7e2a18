import pytest

from pyrocomp.util import require


def test_require_returns_the_module():
    assert require("math", "plots").sqrt(4.0) == 2.0


def test_a_missing_optional_dependency_names_its_extra():
    with pytest.raises(ImportError, match=r"pip install 'pyrocomp\[diagnostics\]'"):
        require("no_such_module_of_pyrocomp", "diagnostics")


@pytest.mark.parametrize("value", [1e300, float("inf"), -1e300])
def test_hyper_parameters_beyond_float32_are_refused(value):
    from pyrocomp.util import finite, positive

    with pytest.raises(ValueError, match="x"):
        finite("x", value)
    with pytest.raises(ValueError, match="x > 0"):
        positive("x", value)
