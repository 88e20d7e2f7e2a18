"""Kernel shrinking (paper 001 Fig. 8) against the masked convolution, on hand-built masks with known answers."""
import pytest
import torch
from torch import nn

from pyrocomp.models import build_model
from pyrocomp.pruning import (CroppedConv2d, crop_window, load_compressed, prune_, save_compressed, shrink_kernel,
                              shrink_kernels_)


def _masked_conv(window, stride, padding, dilation=1, kernel=5):
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, kernel, stride=stride, padding=padding, dilation=dilation).double()
    (r0, r1), (c0, c1) = window
    mask = torch.zeros(kernel, kernel, dtype=torch.bool)
    mask[r0:r1 + 1, c0:c1 + 1] = True
    with torch.no_grad():
        conv.weight *= mask
        conv.weight[0, 0, r0, c0] = 0.5  # the window's corners are kept by some filter and input channel
        conv.weight[1, 2, r1, c1] = -0.5
    return conv


WINDOWS = {
    "centred 3x3": ((1, 3), (1, 3)),
    "offset 3x3": ((0, 2), (2, 4)),
    "even 4x4": ((0, 3), (1, 4)),
    "even 2x3": ((3, 4), (1, 3)),
    "1x1 corner": ((4, 4), (0, 0)),
}


@pytest.mark.parametrize("window", WINDOWS.values(), ids=WINDOWS.keys())
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("padding", [0, 2])
@pytest.mark.parametrize("dilation", [1, 2])
@pytest.mark.parametrize("size", [13, 14])
@torch.no_grad()
def test_a_cropped_kernel_computes_what_the_masked_one_does(window, stride, padding, dilation, size):
    conv = _masked_conv(window, stride, padding, dilation)
    x = torch.randn(2, 3, size, size, dtype=torch.float64)
    new = shrink_kernel(conv)
    (r0, r1), (c0, c1) = window
    assert tuple(new.kernel_size) == (r1 - r0 + 1, c1 - c0 + 1)
    assert torch.allclose(new(x), conv(x), rtol=1e-12, atol=1e-12)


@torch.no_grad()
def test_known_paddings_of_cropped_kernels():
    centred = shrink_kernel(_masked_conv(((1, 3), (1, 3)), 1, 2))
    assert type(centred) is nn.Conv2d and centred.padding == (1, 1) and centred.kernel_size == (3, 3)
    unpadded = shrink_kernel(_masked_conv(((1, 3), (1, 3)), 1, 0))  # crops one input pixel on each side
    assert isinstance(unpadded, CroppedConv2d) and unpadded.input_padding == (-1, -1, -1, -1)
    offset = shrink_kernel(_masked_conv(((0, 2), (2, 4)), 2, 2))
    # rows 0..2 of 5: 2 before, 2 - 2 = 0 after; columns 2..4: 2 - 2 = 0 before, 2 after
    assert offset.input_padding == (0, 2, 2, 0)
    full = _masked_conv(((0, 4), (0, 4)), 1, 2)
    assert shrink_kernel(full) is full
    empty = nn.Conv2d(2, 2, 3)
    empty.weight.data.zero_()
    assert shrink_kernel(empty) is empty and crop_window(empty.weight) is None


@torch.no_grad()
def test_prune_reports_kernels_and_counts_macs_of_the_cropped_kernel():
    torch.manual_seed(0)
    net = build_model("lenet5", (1, 28, 28), 10).double().eval()
    net[3].weight[:, :, [0, 4]] = 0  # the second convolution's outer ring: 5x5 -> 3x3
    net[3].weight[:, :, :, [0, 4]] = 0
    x = torch.randn(3, 1, 28, 28, dtype=torch.float64)
    expected = net(x)
    layers = prune_(net, x)
    assert torch.allclose(net(x), expected, rtol=1e-12, atol=1e-12)
    assert [s.kernel for s in layers] == [((5, 5), (5, 5)), ((5, 5), (3, 3)), None, None, None]
    assert layers[1].macs_kept == 16 * 6 * 9 * 10 * 10 and layers[1].macs == 16 * 6 * 25 * 10 * 10
    assert isinstance(net[3], CroppedConv2d)  # no padding to take away: the input is cropped instead


@torch.no_grad()
def test_cropped_networks_save_load_and_script(tmp_path):
    torch.manual_seed(0)
    net = build_model("lenet5", (1, 28, 28), 10).eval()
    net[0].weight[:, :, :, 4] = 0  # an even crop of the padded first layer: 5x5 -> 5x4, unequal padding
    net[3].weight[:, :, [0, 4]] = 0
    kernels = shrink_kernels_(net)
    assert kernels == {"0": ((5, 5), (5, 4)), "3": ((5, 5), (3, 5))}
    x = torch.randn(4, 1, 28, 28)
    save_compressed(tmp_path / "net.pt", net, {})
    loaded, _, _ = load_compressed(tmp_path / "net.pt", build_model("lenet5", (1, 28, 28), 10))
    assert torch.equal(loaded(x), net(x)) and isinstance(loaded[0], CroppedConv2d)
    assert torch.equal(torch.jit.script(loaded)(x), net(x))
