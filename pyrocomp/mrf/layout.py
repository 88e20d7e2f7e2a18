r"""
Where each weight's support sits on the 2-D grid of its layer's Markov random field.

- **Linear** ``(M, K)`` weight: the :math:`K \times M` matrix of paper 001 Fig. 3 — row ``k``
  holds input neuron ``k``'s outgoing weights, column ``m`` output neuron ``m``'s incoming ones.
- **Conv2d** ``(O, I, k_h, k_w)`` weight: the kernels tiled as an :math:`O k_h \times I k_w`
  matrix, kernel ``(o, i)`` in the tile at block-row ``o`` and block-column ``i``. Spatial
  neighbours inside a kernel are grid neighbours, so a kernel's surviving weights gather in a
  smaller sub-kernel (001 Fig. 8: 5×5 kernels that shrink to 3×3), and the tiles of
  neighbouring input channels and of neighbouring output filters touch, so whole filters and
  whole input maps drop together.
- Any other shape: ``(shape[0], rest)``.
"""
import math


def grid_shape(weight_shape):
    """The ``(rows, columns)`` of the support grid of a weight of ``weight_shape``."""
    shape = tuple(weight_shape)
    if len(shape) == 2:
        return shape[1], shape[0]
    if len(shape) == 4:
        out, inp, kh, kw = shape
        return out * kh, inp * kw
    if len(shape) < 1:
        raise ValueError(f"Expected a weight of at least one dimension but got shape {shape}")
    return shape[0], math.prod(shape[1:])


def to_grid(weight):
    """``weight`` (or any tensor of the weight's shape) arranged on its support grid."""
    if weight.dim() == 2:
        return weight.t()
    if weight.dim() == 4:
        out, inp, kh, kw = weight.shape
        return weight.permute(0, 2, 1, 3).reshape(out * kh, inp * kw)
    return weight.reshape(grid_shape(weight.shape))


def from_grid(grid, weight_shape):
    """Inverse of :func:`to_grid`."""
    shape = tuple(weight_shape)
    if grid.shape != grid_shape(shape):
        raise ValueError(f"Expected a grid of shape {grid_shape(shape)} for weight shape {shape} but got {tuple(grid.shape)}")
    if len(shape) == 2:
        return grid.t()
    if len(shape) == 4:
        out, inp, kh, kw = shape
        return grid.reshape(out, kh, inp, kw).permute(0, 2, 1, 3)
    return grid.reshape(shape)
