"""Synthetic problems shared by the tests."""
import torch


def block_sparse_problem(seed, n=60, magnitude=0.5, noise=1.0):
    """
    Regression ``y = x W^T + noise`` with a 12 x 16 weight whose support grid (16 x 12, inputs by
    outputs) has two active blocks, 6 x 5 and 5 x 4; active magnitudes in [magnitude, 2 magnitude).

    :returns: ``(x, y, weight)``.
    """
    g = torch.Generator().manual_seed(seed)
    grid = torch.zeros(16, 12)
    grid[2:8, 1:6] = 1
    grid[10:15, 7:11] = 1
    weight = (grid * magnitude * (1 + torch.rand(16, 12, generator=g)) * torch.sign(torch.randn(16, 12, generator=g))).t()
    x = torch.randn(n, 16, generator=g)
    y = x @ weight.t() + noise * torch.randn(n, 12, generator=g)
    return x, y, weight
