import math

import pytest
import torch

from pyrocomp.pruning import bit_precision


def test_hand_computed_bits_with_small_weights():
    mean = torch.tensor([0.25, -0.1, 0.0, 0.3])
    var = torch.tensor([(0.25 / 8) ** 2, (0.1 / 3) ** 2, 1.0, 1.0])
    mask = torch.tensor([True, True, True, False])
    # significand ceil(log2 8) = 3; exponents floor(log2 .25) = -2, floor(log2 .1) = -4 -> ceil(log2 3) = 2
    assert bit_precision(mean, var, mask) == 1 + 3 + 2


def test_single_weight_and_nothing_kept():
    assert bit_precision(torch.tensor([0.01]), torch.tensor([1e-6]), torch.tensor([True])) == 1 + math.ceil(math.log2(10))
    assert bit_precision(torch.tensor([0.5]), torch.tensor([1.0]), torch.tensor([False])) == 0


@pytest.mark.parametrize("scale", [1e-3, 0.5, 4.0])
def test_bits_are_scale_invariant(scale):
    mean = torch.tensor([0.3, -0.02, 0.11])
    var = torch.tensor([1e-4, 1e-5, 1e-3])
    mask = torch.ones(3, dtype=torch.bool)
    assert bit_precision(mean * scale, var * scale**2, mask) == bit_precision(mean, var, mask)


def test_variances_at_the_edges_of_floating_point():
    mean, mask = torch.tensor([0.25, 0.5]), torch.ones(2, dtype=torch.bool)
    exponent = 1  # floor(log2 .25) = -2, floor(log2 .5) = -1: ceil(log2 2)
    assert bit_precision(mean, torch.tensor([0.0, 1e-3]), mask) == 1 + 23 + exponent  # exact: all of float32's
    assert bit_precision(mean, torch.tensor([1e-45, 1e-3]), mask) == 1 + 23 + exponent  # underflowed
    assert bit_precision(mean.double(), torch.tensor([0.0, 1e-3]).double(), mask) == 1 + 52 + exponent
    assert bit_precision(mean, torch.tensor([float("inf")] * 2), mask) == 1 + 0 + exponent
    with pytest.raises(ValueError, match="NaN"):
        bit_precision(mean, torch.tensor([float("nan"), 1.0]), mask)
