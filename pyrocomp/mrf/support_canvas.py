r"""
All layers' support grids packed into one canvas, so one run of
:func:`~pyrocomp.mrf.loopy_belief_propagation` serves every node of every layer.

Grids are stacked top to bottom and padded on the right to the widest; no edge crosses from
one layer to the next and padding cells have no edges, so the canvas is the disjoint union of
the layers' factor graphs.
"""
import torch

from .belief_propagation import PairwisePotentials, loopy_belief_propagation
from .layout import from_grid, grid_shape, to_grid


class SupportCanvas:
    """
    :param layers: ``[(name, weight_shape, support_prior)]``.
    :param torch.Tensor like: dtype and device of the canvas.
    """

    def __init__(self, layers, like):
        if not layers:
            raise ValueError("Expected at least one layer on the support canvas")
        self.shapes = {name: tuple(shape) for name, shape, _ in layers}
        grids = {name: grid_shape(shape) for name, shape in self.shapes.items()}
        self.height = sum(r for r, _ in grids.values())
        self.width = max(c for _, c in grids.values())
        self.offsets, row = {}, 0
        for name in self.shapes:
            self.offsets[name] = row
            row += grids[name][0]
        H, W = self.height, self.width
        opts = dict(dtype=like.dtype, device=like.device)
        self.prior_unary = torch.zeros(H, W, **opts)
        h = [torch.zeros(H, max(W - 1, 0), **opts) for _ in range(4)] + [torch.zeros(H, max(W - 1, 0), dtype=torch.bool, device=like.device)]
        v = [torch.zeros(max(H - 1, 0), W, **opts) for _ in range(4)] + [torch.zeros(max(H - 1, 0), W, dtype=torch.bool, device=like.device)]
        for name, _, support in layers:
            (r, c), top = grids[name], self.offsets[name]
            unary, horizontal, vertical = support.potentials(r, c, like)
            self.prior_unary[top:top + r, :c] = unary
            if horizontal is not None:
                for dst, src in zip(h, (horizontal.f00, horizontal.f01, horizontal.f10, horizontal.f11, horizontal.mask)):
                    dst[top:top + r, :c - 1] = src
            if vertical is not None:
                for dst, src in zip(v, (vertical.f00, vertical.f01, vertical.f10, vertical.f11, vertical.mask)):
                    dst[top:top + r - 1, :c] = src
        self.horizontal = PairwisePotentials(*h) if bool(h[4].any()) else None
        self.vertical = PairwisePotentials(*v) if bool(v[4].any()) else None
        self.messages = None

    def pack(self, tensors):
        """``{name: tensor of the weight's shape}`` -> ``(height, width)`` canvas, zero-padded."""
        canvas = self.prior_unary.new_zeros(self.height, self.width)
        for name in self.shapes:
            grid, top = to_grid(tensors[name]), self.offsets[name]
            canvas[top:top + grid.shape[0], :grid.shape[1]] = grid
        return canvas

    def unpack(self, canvas):
        """Inverse of :meth:`pack`."""
        out = {}
        for name, shape in self.shapes.items():
            (r, c), top = grid_shape(shape), self.offsets[name]
            out[name] = from_grid(canvas[top:top + r, :c], shape)
        return out

    def extrinsic(self, evidence, **options):
        r"""
        The MRF's extrinsic message to every support given the evidence from Module A
        (paper 001 eqs. (16)-(18)): belief propagation with unary factors
        :math:`h_{B,n} = v_{\eta_n \to s_n}` (eq. (18)) and the prior's own factors, and
        :math:`v_{h \to s_n}` = the belief divided by :math:`h_{B,n}`. Messages are kept and
        warm-start the next call.

        :param dict evidence: ``{name: log-odds of v_{η→s}}`` in weight shapes.
        :param options: ``damping``, ``max_iterations``, ``tolerance``.
        :returns: ``({name: log-odds of v_{h→s}}, BeliefPropagationResult)``.
        """
        unary = self.pack(evidence)
        result = loopy_belief_propagation(unary + self.prior_unary, self.horizontal, self.vertical, self.messages, **options)
        self.messages = result.messages
        return self.unpack(result.log_odds - unary), result
