r"""
Kernel shrinking (paper 001 Fig. 8): when every kept weight of a convolution lies inside a smaller window of its
kernel — the same window for all its filters and input channels, centred or not — the kernel is cropped to that
window and the input padding adjusted so that each output reads the same inputs with the same weights.

A convolution with stride :math:`s`, dilation :math:`d` and padding :math:`p` whose kept kernel rows are
:math:`r_0..r_1` of :math:`k` computes output :math:`o` from inputs
:math:`o s - p + r d` for :math:`r \in [r_0, r_1]`; the cropped kernel reads the same inputs with padding
:math:`p - r_0 d` before and :math:`p - (k - 1 - r_1) d` after. Equal paddings stay an ``nn.Conv2d``; unequal or
negative ones (a negative padding crops the input) make a :class:`CroppedConv2d`.
"""
import torch
from torch import nn
from torch.nn import functional as F


class CroppedConv2d(nn.Conv2d):
    """
    A ``Conv2d`` whose input is padded by ``input_padding = (left, right, top, bottom)`` before an unpadded
    convolution; a negative entry crops that side instead. Its state dict is a ``Conv2d``'s.
    """

    def __init__(self, in_channels, out_channels, kernel_size, input_padding, stride=1, dilation=1, groups=1,
                 bias=True, device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0, dilation=dilation,
                         groups=groups, bias=bias, device=device, dtype=dtype)
        self.input_padding = tuple(int(p) for p in input_padding)

    def forward(self, x):
        left, right, top, bottom = self.input_padding
        x = x[..., max(-top, 0):x.shape[-2] - max(-bottom, 0), max(-left, 0):x.shape[-1] - max(-right, 0)]
        x = F.pad(x, (max(left, 0), max(right, 0), max(top, 0), max(bottom, 0)))
        return self._conv_forward(x, self.weight, self.bias)

    def extra_repr(self):
        return super().extra_repr() + f", input_padding={self.input_padding}"


def _window(alive):
    """First and last kept index of a bool vector."""
    kept = alive.nonzero().flatten()
    return int(kept[0]), int(kept[-1])


def _paddings(module):
    if isinstance(module, CroppedConv2d):
        left, right, top, bottom = module.input_padding
        return (top, bottom), (left, right)
    return tuple((p, p) for p in module.padding)


def _convolution(module, kernel, input_padding):
    """A new convolution like ``module`` with ``kernel`` and ``input_padding = (left, right, top, bottom)``."""
    left, right, top, bottom = input_padding
    options = dict(stride=module.stride, dilation=module.dilation, groups=module.groups,
                   bias=module.bias is not None, device=module.weight.device, dtype=module.weight.dtype)
    if top == bottom >= 0 and left == right >= 0:
        return nn.Conv2d(module.in_channels, module.out_channels, kernel, padding=(top, left), **options)
    return CroppedConv2d(module.in_channels, module.out_channels, kernel, input_padding, **options)


def crop_window(weight):
    """
    The smallest window of a convolution's kernel that holds every nonzero weight, as
    ``((first row, last row), (first column, last column))``; ``None`` when every weight is zero.
    """
    alive = weight.ne(0).flatten(0, 1).any(0)
    if not bool(alive.any()):
        return None
    return _window(alive.any(1)), _window(alive.any(0))


@torch.no_grad()
def shrink_kernel(module):
    """
    A convolution equal to ``module`` whose kernel is cropped to :func:`crop_window`, or ``module`` itself when
    nothing can be cropped (its kernel is already the window, every weight is zero, or its padding is not zeros).

    :param torch.nn.Conv2d module: an ungrouped or grouped convolution with numeric padding.
    :rtype: torch.nn.Conv2d
    """
    window = crop_window(module.weight)
    kernel = tuple(module.weight.shape[2:])
    if window is None or module.padding_mode != "zeros" or isinstance(module.padding, str):
        return module
    (r0, r1), (c0, c1) = window
    if (r1 - r0 + 1, c1 - c0 + 1) == kernel:
        return module
    (top, bottom), (left, right) = _paddings(module)
    dh, dw = module.dilation
    top, bottom = top - r0 * dh, bottom - (kernel[0] - 1 - r1) * dh
    left, right = left - c0 * dw, right - (kernel[1] - 1 - c1) * dw
    weight = module.weight[:, :, r0:r1 + 1, c0:c1 + 1]
    new = _convolution(module, tuple(weight.shape[2:]), (left, right, top, bottom))
    new.weight.copy_(weight)
    if module.bias is not None:
        new.bias.copy_(module.bias)
    return new.train(module.training)


def shrink_kernels_(net):
    """
    Replace, in place, every convolution of ``net`` by its :func:`shrink_kernel`.

    :returns: ``{path: (kernel before, kernel after)}`` of every ``Conv2d``, in module order.
    :rtype: dict
    """
    kernels = {}
    for path, module in list(net.named_modules()):
        if not isinstance(module, nn.Conv2d):
            continue
        new = shrink_kernel(module)
        if new is not module:
            parent, _, name = path.rpartition(".")
            setattr(net.get_submodule(parent) if parent else net, name, new)
        kernels[path] = (tuple(module.kernel_size), tuple(new.kernel_size))
    return kernels


def conv_geometry(module):
    """The kernel size and input padding of a convolution, to rebuild it (:func:`apply_conv_geometry_`)."""
    (top, bottom), (left, right) = _paddings(module)
    return {"kernel_size": list(module.kernel_size), "input_padding": [left, right, top, bottom]}


def apply_conv_geometry_(net, geometry):
    """
    Give the convolutions of ``net`` the kernel sizes and paddings ``{path: conv_geometry(...)}`` records, replacing
    each by a :class:`CroppedConv2d` where its paddings are unequal or negative.
    """
    for path, g in geometry.items():
        module = net.get_submodule(path)
        if not isinstance(module, nn.Conv2d):
            raise ValueError(f"Expected {path!r} to be a Conv2d but it is a {type(module).__name__}")
        new = _convolution(module, tuple(g["kernel_size"]), tuple(g["input_padding"]))
        parent, _, name = path.rpartition(".")
        setattr(net.get_submodule(parent) if parent else net, name, new)
    return net
