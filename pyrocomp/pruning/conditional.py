import time
from dataclasses import dataclass
from typing import Optional

import torch

from .compress import Compression, compress


@dataclass
class ContextCompression:
    """
    One context's compressed network (:func:`compress_contexts`).

    :ivar label: the context's name (e.g. ``"classes 3+4"``).
    :ivar context: the context tensor.
    :ivar compression: the :class:`Compression` (network, masks, report; ``outputs`` for a class subset).
    :ivar error: the network's error on the context's test examples (``None`` without test data).
    :ivar milliseconds: wall time to produce the network from the fitted hypernetwork.
    """

    label: str
    context: torch.Tensor
    compression: Compression
    error: Optional[float]
    milliseconds: float


@torch.no_grad()
def context_error(network, data, classes=None):
    r"""
    Error of a classifier on one context's examples, predicting among the context's classes only (the rule of
    every method in the conditional benchmark): a network with one output per class of ``classes`` predicts
    ``classes[argmax]``; a network with an output per class of the data set has its logits restricted to
    ``classes`` first; without ``classes`` the plain argmax.

    :param data: an ``(x, y)`` pair of tensors.
    :param list classes: the context's classes, in the order of the network's outputs when it has that many.
    """
    x, y = data
    network.eval()
    logits = network(x)
    if classes is None:
        return (logits.argmax(-1) != y).float().mean().item()
    classes = torch.as_tensor(list(classes), device=logits.device)
    if logits.shape[-1] != len(classes):
        logits = logits.index_select(-1, classes)
    return (classes[logits.argmax(-1)] != y).float().mean().item()


def compress_contexts(model, guide, contexts, example_input, *, data=None, num_samples=8, vectorize_particles=True,
                      **kwargs):
    """
    A compressed network for each of a batch of contexts from one fitted hypernetwork
    (:class:`~pyrocomp.guides.AutoConditionalGuide`), each timed and, with ``data``, scored on its own examples
    (:func:`context_error`).

    :param contexts: ``[(label, context)]`` or ``[(label, context, indices)]``, e.g.
        ``guide.context.test_contexts(test_data)`` (``indices`` pick the context's examples of ``data``).
    :param torch.Tensor example_input: inputs, as :func:`compress` takes; one suffices (it sets the spatial sizes,
        and a disconnected unit's output, folded into the next bias, is a constant), and a large batch costs time.
    :param data: the test :class:`~torch.utils.data.TensorDataset` the indices refer to.
    :param int num_samples: batched posterior draws per context for the weights' marginal variances (bit
        precision) and the criteria that read draws; :class:`~pyrocomp.pruning.ScaleSitesLogAlphaThreshold`, 003's
        rule, reads exact moments.
    :param kwargs: passed to :func:`compress` (``criterion``, ``seed``, ...).
    :rtype: list of :class:`ContextCompression`
    """
    results = []
    for entry in contexts:
        label, context, indices = (*entry, None)[:3] if len(entry) == 2 else entry
        start = time.perf_counter()
        compression = compress(model, guide, example_input, context=context, num_samples=num_samples,
                               vectorize_particles=vectorize_particles, **kwargs)
        milliseconds = 1000 * (time.perf_counter() - start)
        error = None
        if data is not None:
            x, y = data.tensors if indices is None else (t[indices] for t in data.tensors)
            classes = compression.outputs if compression.outputs is not None else guide.context.output_classes(context)
            error = context_error(compression.network, (x.to(example_input.device), y.to(example_input.device)),
                                  classes)
        results.append(ContextCompression(label, context, compression, error, milliseconds))
    return results
