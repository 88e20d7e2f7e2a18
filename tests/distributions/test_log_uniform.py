import pytest
import torch

from pyrocomp.distributions import LogUniform


def test_log_prob_is_minus_log_abs():
    x = torch.tensor([[-2.0, 0.5, 3.0]])
    assert torch.allclose(LogUniform((1, 3)).log_prob(x), -x.abs().log())


def test_scale_invariance_of_log_density_differences():
    d = LogUniform((4,))
    x, y = torch.rand(4) + 0.1, torch.rand(4) + 0.1
    assert torch.allclose(d.log_prob(x) - d.log_prob(y), d.log_prob(7 * x) - d.log_prob(7 * y), atol=1e-6)


def test_expand_and_event_shape():
    d = LogUniform((3,)).expand((2, 3)).to_event(2)
    assert d.batch_shape == () and d.event_shape == (2, 3)
    assert d.log_prob(torch.ones(2, 3)).shape == ()


def test_sampling_warns_and_gives_the_feasible_point():
    with pytest.warns(RuntimeWarning, match="improper"):
        value = LogUniform((2,)).sample((3,))
    assert torch.equal(value, torch.ones(3, 2))


def test_bad_shape_is_a_type_error():
    with pytest.raises(TypeError, match="batch_shape"):
        LogUniform(3)
