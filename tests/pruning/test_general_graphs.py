"""Physical pruning of networks that are not chains: residual additions, concatenations, BatchNorm, pooling."""
import pytest
import torch
from torch import nn

from pyrocomp.models import build_model
from pyrocomp.pruning import prune_


def _randomize_batchnorm(net, generator):
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=generator, dtype=m.running_mean.dtype) * 0.2)
            m.running_var.copy_(torch.rand(m.num_features, generator=generator, dtype=m.running_var.dtype) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=generator, dtype=m.bias.dtype) * 0.5)


def _random_masks(net, generator, filters=0.3, inputs=0.2, weights=0.3):
    """Zero whole output filters, whole input channels and single weights of every convolution / linear layer."""
    layers = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    for m in layers[:-1]:
        w = m.weight.data
        w[torch.rand(w.shape[0], generator=generator) < filters] = 0
        w[:, torch.rand(w.shape[1], generator=generator) < inputs] = 0
        w[torch.rand(w.shape, generator=generator) < weights] = 0


@torch.no_grad()
def test_resnet18_with_random_masks_exports_as_its_masked_self():
    torchvision = pytest.importorskip("torchvision")
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=10).double().eval()
    _randomize_batchnorm(net, generator)
    _random_masks(net, generator)
    x = torch.randn(4, 3, 32, 32, dtype=torch.float64)
    expected = net(x)
    dense_params = sum(p.numel() for p in net.parameters())
    layers = prune_(net, x)
    assert torch.allclose(net(x), expected, rtol=1e-10, atol=1e-10)
    assert sum(p.numel() for p in net.parameters()) < 0.75 * dense_params
    assert sum(s.macs_kept for s in layers) < 0.75 * sum(s.macs for s in layers)
    # the channels a residual chain carries go together: the stem, every block's second convolution and the
    # downsampling path of layer1's width all have the same number of channels after pruning
    widths = {net.conv1.out_channels, net.bn1.num_features, net.layer1[0].conv2.out_channels,
              net.layer1[1].conv2.out_channels, net.layer2[0].conv1.in_channels}
    assert len(widths) == 1 and widths.pop() < 64
    assert net.fc.out_features == 10  # the outputs stay


class _Concat(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(2, 4, 3), nn.Conv2d(2, 3, 3)
        self.bn = nn.BatchNorm2d(7)
        self.head = nn.Conv2d(7, 5, 1)
        self.fc = nn.Linear(5 * 4, 2)

    def forward(self, x):
        y = torch.relu(self.bn(torch.cat([self.a(x), self.b(x)], 1)))
        return self.fc(nn.functional.max_pool2d(self.head(y), 2).flatten(1))


@torch.no_grad()
def test_concatenated_branches_lose_the_channels_nothing_reads_and_fold_constants():
    torch.manual_seed(0)
    net = _Concat().double().eval()
    _randomize_batchnorm(net, torch.Generator().manual_seed(1))
    net.head.weight[:, [1, 5]] = 0  # channel 1 of branch a and channel 1 of branch b: read by nothing
    net.a.weight[3] = 0  # channel 3 of branch a: a constant, folded into the unpadded 1x1 head
    x = torch.randn(3, 2, 6, 6, dtype=torch.float64)
    expected = net(x)
    layers = prune_(net, x)
    assert torch.allclose(net(x), expected, rtol=1e-10, atol=1e-10)
    assert (net.a.out_channels, net.b.out_channels, net.bn.num_features, net.head.in_channels) == (2, 2, 4, 4)
    assert [s.out_kept for s in layers] == [2, 2, 5, 2]


@torch.no_grad()
def test_a_constant_channel_read_by_a_padded_convolution_stays_unless_it_is_zero():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Conv2d(3, 2, 3, padding=1),
                        nn.Flatten(), nn.Linear(2 * 16, 2)).double().eval()
    net[0].weight[[0, 1]] = 0  # channels 0 and 1 carry relu(beta) everywhere
    net[1].bias.copy_(torch.tensor([-1.0, 2.0, 0.0]))  # channel 0: relu(-1) = 0, channel 1: 2 (nonzero)
    x = torch.randn(4, 1, 6, 6, dtype=torch.float64)
    expected = net(x)
    prune_(net, x)
    assert torch.allclose(net(x), expected, rtol=1e-10, atol=1e-10)
    # channel 0 went (zero constant); channel 1 stays, as the padded border would see 0, not 2
    assert net[0].out_channels == 2 and net[3].in_channels == 2


@pytest.mark.parametrize("name", ["lenet300", "lenet5-caffe", "lenet5", "alexnet", "vgg11"])
@torch.no_grad()
def test_zoo_networks_with_random_masks_export_as_their_masked_selves(name):
    shape = (3, 32, 32) if name == "vgg11" else (1, 28, 28)
    torch.manual_seed(0)
    net = build_model(name, shape, 10).double().eval()
    _randomize_batchnorm(net, torch.Generator().manual_seed(2))
    _random_masks(net, torch.Generator().manual_seed(3))
    x = torch.randn(3, *shape, dtype=torch.float64)
    expected = net(x)
    layers = prune_(net, x)
    assert torch.allclose(net(x), expected, rtol=1e-10, atol=1e-10)
    assert sum(s.macs_kept for s in layers) < sum(s.macs for s in layers)


@torch.no_grad()
def test_a_frozen_network_is_pruned_all_the_same():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).eval().requires_grad_(False)
    net[2].weight[:, 1] = 0
    x = torch.randn(5, 3)
    expected = net(x)
    prune_(net, x)
    assert net[0].out_features == 3 and torch.allclose(net(x), expected, atol=1e-6)
    assert not any(p.requires_grad for p in net.parameters())
