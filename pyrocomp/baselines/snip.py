"""SNIP: single-shot pruning at initialisation by connection sensitivity (Lee, Ajanthan and Torr, ICLR 2019)."""
import torch
from torch import nn

from pyrocomp.infer import train

from .magnitude import apply_masks_, prunable_weights, top_masks


def snip_masks(network, x, y, keep_fraction):
    r"""
    Keep the ``keep_fraction`` of the weights with the largest connection sensitivity
    :math:`|\partial L / \partial w \cdot w|` of the cross-entropy :math:`L` on the mini-batch ``(x, y)``
    (SNIP eq. (6); its normalisation by the sum does not change the order), one threshold for the whole network.

    :returns: ``{module path: bool mask}``.
    """
    weights = prunable_weights(network)
    device = next(iter(weights.values())).device
    loss = nn.functional.cross_entropy(network(x.to(device)), y.to(device))
    grads = torch.autograd.grad(loss, list(weights.values()))
    return top_masks({path: (g * w).abs() for (path, w), g in zip(weights.items(), grads)}, keep_fraction)


def snip_pruning(network, data, keep_fraction, *, epochs, batch_size=100, lr=1e-3, device=None, seed=0,
                 progress=False):
    """
    SNIP end to end: masks from one mini-batch at the network's initialisation, then training of the kept weights
    (zeros kept). ``network`` is changed in place.

    :returns: the masks ``{module path: bool mask}``.
    """
    if isinstance(data, torch.utils.data.TensorDataset):
        data = data.tensors
    if not (isinstance(data, (tuple, list)) and len(data) == 2 and all(torch.is_tensor(t) for t in data)):
        raise TypeError(f"Expected an (x, y) pair of tensors or a TensorDataset but got {type(data).__name__}")
    x, y = data
    generator = torch.Generator().manual_seed(seed)
    batch = torch.randperm(len(x), generator=generator)[:batch_size]
    masks = snip_masks(network, x[batch], y[batch], keep_fraction)
    apply_masks_(network, masks)
    train(network, data, epochs=epochs, lr=lr, batch_size=batch_size, device=device, seed=seed, keep_zeros=True,
          progress=progress, desc="snip")
    return masks
