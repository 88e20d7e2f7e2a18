import torch
from torch import nn

from .export import PRUNABLE


@torch.no_grad()
def reinitialize_(net, seed=None):
    r"""
    Draw the weights of a pruned network afresh from its layers' own initialisation
    (``reset_parameters``), keeping every pruned weight at zero: the "Scratch-E" control of Liu,
    Sun, Zhou, Huang and Darrell, *Rethinking the value of network pruning* (ICLR 2019). Trained
    as long as the dense network (:func:`~pyrocomp.infer.train` with ``keep_zeros=True``), it
    tells what the pruned structure and mask are worth without the weights the compression
    left in them.

    :param torch.nn.Module net: a plain network whose pruned weights are zero, e.g.
        :attr:`~pyrocomp.pruning.Compression.network`.
    :param int seed: seeds the draw, leaving torch's random state as it was (``None``: the draw
        uses and advances torch's global generator).
    :returns: ``net``, changed in place.
    """
    if not isinstance(net, nn.Module):
        raise TypeError(f"Expected a torch.nn.Module but got {type(net).__name__}")
    devices = sorted({p.device.index or 0 for p in net.parameters() if p.device.type == "cuda"})
    with torch.random.fork_rng(devices=devices, enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        for module in net.modules():
            if not hasattr(module, "reset_parameters"):
                continue
            mask = module.weight.ne(0) if isinstance(module, PRUNABLE) else None
            module.reset_parameters()
            if mask is not None:
                module.weight.mul_(mask)
    return net
