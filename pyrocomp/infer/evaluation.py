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
