r"""
Sum-product loopy belief propagation on binary pairwise Markov random fields laid out on a
grid, in the log domain and fully vectorised (paper 001 §IV-C, eqs. (36)-(37)).

Every variable :math:`s_{r,c} \in \{0, 1\}` has a unary factor and up to four pairwise
factors: a *horizontal* one with its right neighbour :math:`s_{r,c+1}` and a *vertical* one
with the neighbour below, :math:`s_{r+1,c}`. Edges can be switched off one by one (by giving
their log-potentials as ``None`` rows or through a mask), so the same routine covers chains,
trees (exact after as many sweeps as the diameter) and loopy grids, and many layers packed
into one canvas. Binary messages are carried as log-odds, :math:`m = \ln v(1) - \ln v(0)`,
so a sweep costs a handful of element-wise ``logaddexp`` on ``(R, C)`` tensors.
"""
from dataclasses import dataclass

import torch


@dataclass
class PairwisePotentials:
    r"""
    Log-potentials :math:`\ln f(i, j)` of one edge direction, each broadcastable to the
    edges' shape (``(R, C-1)`` horizontal, ``(R-1, C)`` vertical), with ``i`` the state of the
    left (upper) node and ``j`` of the right (lower) one, and a boolean ``mask`` of present edges.
    """

    f00: torch.Tensor
    f01: torch.Tensor
    f10: torch.Tensor
    f11: torch.Tensor
    mask: torch.Tensor


@dataclass
class BeliefPropagationResult:
    """
    :ivar log_odds: belief log-odds :math:`\\ln b(1) - \\ln b(0)` of every node, ``(R, C)``.
    :ivar messages: the final messages (pass them back in to warm-start the next run).
    :ivar int iterations: sweeps done.
    :ivar bool converged: whether the largest message change fell below the tolerance.
    :ivar float change: the largest message change of the last sweep.
    """

    log_odds: torch.Tensor
    messages: tuple
    iterations: int
    converged: bool
    change: float


def _forward(cavity, p):
    """Log-odds of the message a left/upper node with ``cavity`` log-odds sends right/down."""
    return torch.logaddexp(p.f01, cavity + p.f11) - torch.logaddexp(p.f00, cavity + p.f10)


def _backward(cavity, p):
    """Log-odds of the message a right/lower node with ``cavity`` log-odds sends left/up."""
    return torch.logaddexp(p.f10, cavity + p.f11) - torch.logaddexp(p.f00, cavity + p.f01)


def loopy_belief_propagation(unary, horizontal=None, vertical=None, messages=None, *, damping=0.0,
                             max_iterations=100, tolerance=1e-4):
    r"""
    Sum-product belief propagation with a flooding schedule:

    .. math::

        m_{t \to s}(x_s) \propto \sum_{x_t} f(x_t, x_s)\, \phi_t(x_t)
            \prod_{u \in n(t) \setminus s} m_{u \to t}(x_t),
        \qquad b_s(x_s) \propto \phi_s(x_s) \prod_{t \in n(s)} m_{t \to s}(x_s)

    (eqs. (36)-(37) with variable and factor messages merged), damped in the log domain,
    :math:`m \leftarrow (1-\delta)\, m_{new} + \delta\, m_{old}`, and stopped when no message
    moves by more than ``tolerance`` (in log-odds) or after ``max_iterations`` sweeps.

    :param torch.Tensor unary: unary log-odds :math:`\ln\phi(1) - \ln\phi(0)`, shape ``(R, C)``.
    :param PairwisePotentials horizontal: edges ``(r, c) - (r, c+1)``, or ``None``.
    :param PairwisePotentials vertical: edges ``(r, c) - (r+1, c)``, or ``None``.
    :param messages: messages of an earlier run to start from (``None``: uniform).
    :param float damping: :math:`\delta \in [0, 1)`.
    :rtype: BeliefPropagationResult
    """
    if unary.dim() != 2:
        raise ValueError(f"Expected unary log-odds of shape (R, C) but got {tuple(unary.shape)}")
    if not 0.0 <= damping < 1.0:
        raise ValueError(f"Expected damping in [0, 1) but got {damping}")
    if not (isinstance(max_iterations, int) and max_iterations > 0):
        raise ValueError(f"Expected max_iterations to be a positive int but got {max_iterations!r}")
    if not tolerance > 0:
        raise ValueError(f"Expected tolerance > 0 but got {tolerance}")
    R, C = unary.shape
    zeros = torch.zeros_like(unary)
    # messages into each node from its left, right, upper and lower neighbour
    left, right, up, down = (zeros.clone() for _ in range(4)) if messages is None else (m.clone() for m in messages)
    iterations, change = 0, float("inf")
    for iterations in range(1, max_iterations + 1):
        belief = unary + left + right + up + down
        new = [zeros.clone() for _ in range(4)]
        if horizontal is not None and C > 1:
            h = horizontal
            new[0][:, 1:] = torch.where(h.mask, _forward((belief - right)[:, :-1], h), 0.0)
            new[1][:, :-1] = torch.where(h.mask, _backward((belief - left)[:, 1:], h), 0.0)
        if vertical is not None and R > 1:
            v = vertical
            new[2][1:] = torch.where(v.mask, _forward((belief - down)[:-1], v), 0.0)
            new[3][:-1] = torch.where(v.mask, _backward((belief - up)[1:], v), 0.0)
        if damping:
            new = [(1 - damping) * n + damping * o for n, o in zip(new, (left, right, up, down))]
        # one host sync per iteration, for the stopping rule
        change = float(torch.stack([(n - o).abs().max() for n, o in zip(new, (left, right, up, down))]).max())
        left, right, up, down = new
        if change < tolerance:
            break
    belief = unary + left + right + up + down
    return BeliefPropagationResult(belief, (left, right, up, down), iterations, change < tolerance, change)
