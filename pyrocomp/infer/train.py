import math
import time

import torch
from torch import nn
from tqdm.auto import tqdm

from .evaluation import as_loader


@torch.no_grad()
def _zero_masks(net):
    return {m: m.weight.ne(0) for m in net.modules() if isinstance(m, (nn.Linear, nn.Conv2d))}


def train(net, data, *, epochs, lr=1e-3, batch_size=100, device=None, seed=0, keep_zeros=False, progress=True,
          desc="train", penalty=None, param_groups=None):
    """
    Plain maximum-likelihood training with Adam and cross-entropy: pre-training the dense
    network, or fine-tuning a pruned one (``keep_zeros=True`` keeps pruned weights at zero).

    :param penalty: ``penalty()`` -> a scalar tensor added to every step's mean cross-entropy (a regulariser such
        as the :math:`L_0` gates' expected count, :func:`~pyrocomp.baselines.l0_pruning`).
    :param param_groups: Adam's parameter groups, for learning rates per group (default: every parameter of
        ``net`` at ``lr``).
    :returns: per-epoch history: list of dicts with ``epoch, loss, seconds`` (the loss with the penalty).
    :raises FloatingPointError: when an epoch's loss is not finite, naming the epoch.
    """
    if not (isinstance(epochs, int) and epochs >= 0):
        raise ValueError(f"Expected epochs to be a non-negative int but got {epochs!r}")
    if not (lr > 0):
        raise ValueError(f"Expected lr > 0 but got {lr!r}")
    if penalty is not None and not callable(penalty):
        raise TypeError(f"Expected penalty to be a callable returning a scalar tensor but got {penalty!r}")
    device = torch.device(device) if device is not None else next(net.parameters()).device
    net.to(device).train()
    loader = as_loader(data, batch_size, shuffle=True, seed=seed)
    masks = _zero_masks(net) if keep_zeros else {}
    optimizer = torch.optim.Adam(net.parameters() if param_groups is None else param_groups, lr=lr)
    history = []
    for epoch in tqdm(range(epochs), desc=desc, disable=not progress, leave=False):
        start, count = time.perf_counter(), 0
        total = torch.zeros((), device=device)
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(net(x), y)
            if penalty is not None:
                loss = loss + penalty()
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                for module, mask in masks.items():
                    module.weight.mul_(mask)
            total, count = total + loss.detach() * len(x), count + len(x)
        total = float(total)  # one read per epoch
        if not math.isfinite(total):
            rates = f"{lr}" if param_groups is None else str([g.get("lr", lr) for g in optimizer.param_groups])
            raise FloatingPointError(f"Training loss became {total} in epoch {epoch}; lower the learning rate (now "
                                     f"{rates})")
        history.append(dict(epoch=epoch + 1, loss=total / count, seconds=time.perf_counter() - start))
    net.eval()
    return history
