import torch
from torch.utils.data import DataLoader, TensorDataset


def as_loader(data, batch_size, shuffle=False, seed=0):
    """A :class:`~torch.utils.data.DataLoader` from a loader, a dataset or an ``(x, y)`` pair."""
    if isinstance(data, DataLoader):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(torch.is_tensor(t) for t in data):
        if len(data[0]) != len(data[1]):
            raise ValueError(f"Expected x and y of equal length but got {len(data[0])} and {len(data[1])}")
        data = TensorDataset(*data)
    if not isinstance(data, torch.utils.data.Dataset):
        raise TypeError(f"Expected a DataLoader, a Dataset or an (x, y) pair of tensors but got {type(data).__name__}")
    if not (isinstance(batch_size, int) and batch_size > 0):
        raise ValueError(f"Expected batch_size to be a positive int but got {batch_size!r}")
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(data, batch_size=batch_size, shuffle=shuffle, generator=generator)


@torch.no_grad()
def classification_error(net, data, device=None, batch_size=1000):
    """
    Fraction of misclassified examples of a deterministic network, in eval mode.

    :param torch.nn.Module net: maps inputs to logits.
    :param data: a loader, a dataset or an ``(x, y)`` pair.
    :param device: where to evaluate (default: where ``net`` is).
    """
    device = torch.device(device) if device is not None else next(net.parameters()).device
    was_training = net.training
    net.eval()
    wrong = total = 0
    try:
        for x, y in as_loader(data, batch_size):
            x, y = x.to(device), y.to(device)
            wrong += int((net(x).argmax(-1) != y).sum())
            total += len(y)
    finally:
        net.train(was_training)
    if total == 0:
        raise ValueError("Expected a non-empty data set")
    return wrong / total


def fgsm_errors(net, data, epsilons, device=None, batch_size=1000):
    r"""
    Error of a deterministic network under the fast gradient sign attack (Goodfellow et al. 2015; paper 001
    Fig. 12): each input moves by :math:`\epsilon\, r\, \mathrm{sign}(\nabla_x \mathrm{CE})`, then is clipped to
    the data's range, where :math:`r` is that range (the largest input value minus the smallest, over ``data``), so
    that :math:`\epsilon` is a fraction of it — for normalised images, of a pixel's 0–1 range.

    :param epsilons: the attack strengths, each >= 0.
    :returns: the error at each :math:`\epsilon`, in order.
    """
    epsilons = [float(e) for e in epsilons]
    if not epsilons or any(not (e >= 0) for e in epsilons):
        raise ValueError(f"Expected non-negative attack strengths but got {epsilons}")
    device = torch.device(device) if device is not None else next(net.parameters()).device
    loader = as_loader(data, batch_size)
    low, high = min(float(x.min()) for x, _ in loader), max(float(x.max()) for x, _ in loader)
    was_training = net.training
    net.eval()
    wrong, total = torch.zeros(len(epsilons), device=device), 0
    try:
        for x, y in loader:
            x, y = x.to(device).requires_grad_(True), y.to(device)
            direction = torch.autograd.grad(torch.nn.functional.cross_entropy(net(x), y, reduction="sum"), x)[0].sign()
            with torch.no_grad():
                for i, eps in enumerate(epsilons):
                    attacked = (x + eps * (high - low) * direction).clamp(low, high)
                    wrong[i] += (net(attacked).argmax(-1) != y).sum()
            total += len(y)
    finally:
        net.train(was_training)
    if total == 0:
        raise ValueError("Expected a non-empty data set")
    return (wrong / total).tolist()
