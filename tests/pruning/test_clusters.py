import torch

from pyrocomp.pruning import weight_clusters


def test_clusters_of_at_least_3x3_on_the_support_grid():
    grid = torch.zeros(8, 10, dtype=torch.bool)  # the K x M grid of a Linear (M=10, K=8) weight
    grid[0:3, 0:3] = True  # a 3x3 block: one cluster
    grid[5, 2:9] = True  # a 1x7 strip: too thin
    grid[4:8, 8] = True  # an L joined to the strip: bounding box 4 x 7, 10 weights
    grid[7, 0] = True  # a single weight
    clusters = weight_clusters(grid.t())
    assert sorted(clusters) == [(3, 3, 9), (4, 7, 10)]


def test_conv_kernel_block_is_a_cluster():
    mask = torch.zeros(2, 3, 5, 5, dtype=torch.bool)
    mask[1, 2, 1:4, 1:4] = True  # a 3x3 sub-kernel of a 5x5 kernel
    assert weight_clusters(mask) == [(3, 3, 9)]
    assert weight_clusters(torch.zeros(4, 4, dtype=torch.bool)) == []
