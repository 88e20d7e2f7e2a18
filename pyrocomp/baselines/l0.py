r"""
:math:`L_0` regularisation with hard-concrete gates (Louizos, Welling and Kingma, ICLR 2018): every weight, or every
input unit of a layer, is multiplied by a gate :math:`z \in [0, 1]` drawn from a stretched and clipped binary
concrete distribution whose probability of being non-zero is differentiable, and that probability's sum is the
penalty.
"""
import math

import torch
from torch import nn
from torch.nn.utils import parametrize

from pyrocomp.infer import as_loader, train

from .magnitude import prunable_weights

#: the stretch interval (gamma, zeta) and temperature beta of the paper's experiments
GAMMA, ZETA, BETA = -0.1, 1.1, 2 / 3


class HardConcreteGate(nn.Module):
    r"""
    Gates of one weight: :math:`z = \min(1, \max(0, \bar s))`,
    :math:`\bar s = \sigma\big((\ln u - \ln(1 - u) + \ln\alpha) / \beta\big)(\zeta - \gamma) + \gamma` with
    :math:`u \sim U(0, 1)` in training (eqs. (10)-(11)) and
    :math:`\hat z = \min(1, \max(0, \sigma(\ln\alpha)(\zeta - \gamma) + \gamma))` at test time (eq. (13)).
    Used as a parametrisation: the layer's weight becomes :math:`\tilde w \odot z`.

    :param tuple shape: the gates' shape, broadcast against the weight (the weight's own for one gate per weight;
        ``(1, in, 1, ...)`` for one per input unit).
    :param float keep_init: the initial probability of a gate being non-zero (sets :math:`\ln\alpha`).
    """

    def __init__(self, shape, keep_init=0.9):
        super().__init__()
        init = math.log(keep_init) - math.log(1 - keep_init)  # the paper starts log alpha near keep_init's logit
        self.log_alpha = nn.Parameter(torch.full(shape, init))

    def gates(self):
        if self.training:
            u = torch.rand_like(self.log_alpha).clamp(1e-6, 1 - 1e-6)
            s = torch.sigmoid((u.log() - (-u).log1p() + self.log_alpha) / BETA)
        else:
            s = torch.sigmoid(self.log_alpha)
        return (s * (ZETA - GAMMA) + GAMMA).clamp(0, 1)

    def forward(self, weight):
        return weight * self.gates()

    def probability_nonzero(self):
        r""":math:`P(z \ne 0) = \sigma(\ln\alpha - \beta \ln(-\gamma/\zeta))` of every gate (eq. (12))."""
        return torch.sigmoid(self.log_alpha - BETA * math.log(-GAMMA / ZETA))


def gate_shape(weight, group):
    """One gate per weight (``group=None``) or per input unit (``"in"``)."""
    if group is None:
        return tuple(weight.shape)
    if group == "in":
        return (1, weight.shape[1], *[1] * (weight.dim() - 2))
    raise ValueError(f"Expected group None or 'in' but got {group!r}")


def add_l0_gates_(network, group=None, keep_init=0.9):
    """Put a :class:`HardConcreteGate` on the weight of every ``Linear`` / ``Conv2d`` layer of ``network``, in place;
    returns ``{module path: gate}``."""
    modules = dict(network.named_modules())
    gates = {}
    for path, weight in prunable_weights(network).items():
        gates[path] = HardConcreteGate(gate_shape(weight, group), keep_init).to(weight.device)
        parametrize.register_parametrization(modules[path], "weight", gates[path])
    return gates


def l0_pruning(network, data, *, epochs, l0_weight=1.0, group=None, lr=1e-3, gate_lr=None, batch_size=100,
               device=None, seed=0, keep_init=0.9):
    r"""
    Train ``network`` with :math:`L_0`-gated weights, minimising
    :math:`\frac{1}{B}\sum_{i \in B} \mathrm{CE}_i + \frac{\lambda}{N} \sum_j P(z_j \ne 0)` (eq. (14) with the
    penalty per example, :math:`\lambda` = ``l0_weight``), then fold the test-time gates into the weights and
    return the masks of the gates that are non-zero. ``network`` is changed in place and left plain.

    :param str group: ``None`` (a gate per weight) or ``"in"`` (per input unit: structured).
    :param float gate_lr: Adam's learning rate of the gates' :math:`\ln\alpha` (default ``lr``; larger for short
        runs).
    :returns: ``{module path: bool mask}`` in the weights' shapes.
    """
    torch.manual_seed(seed)
    gates = add_l0_gates_(network, group, keep_init)
    gate_params = [p for g in gates.values() for p in g.parameters()]
    weights = [p for p in network.parameters() if all(p is not q for q in gate_params)]
    size = len(as_loader(data, batch_size).dataset)
    train(network, data, epochs=epochs, lr=lr, batch_size=batch_size, device=device, seed=seed, progress=False,
          penalty=lambda: l0_weight / size * sum(g.probability_nonzero().sum() for g in gates.values()),
          param_groups=[{"params": weights}, {"params": gate_params, "lr": lr if gate_lr is None else gate_lr}])
    network.eval()
    masks = {}
    modules = dict(network.named_modules())
    with torch.no_grad():
        for path, gate in gates.items():
            masks[path] = (gate.gates() > 0).expand_as(modules[path].weight).clone()
            parametrize.remove_parametrizations(modules[path], "weight", leave_parametrized=True)
    return masks
