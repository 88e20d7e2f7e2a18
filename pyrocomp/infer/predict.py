import torch
from pyro import poutine


@torch.no_grad()
def predict(model, guide, x, num_samples=32, seed=0):
    r"""
    Model-averaged class probabilities of a fitted classifier,

    .. math:: p(y \mid x, \mathcal{D}) \approx \frac1S \sum_{s=1}^S \mathrm{softmax}\, f(x; W_s),
        \qquad W_s \sim q(W),

    each draw a guide trace replayed through the model (with the local reparameterisation trick
    where the guide gives Gaussian weights, which has the same per-example predictive).

    :param model: a :class:`~pyrocomp.nn.BayesianNetwork` with a categorical likelihood.
    :param guide: its guide (any Pyro guide of the model).
    :param torch.Tensor x: a batch of inputs.
    :param int num_samples: posterior draws :math:`S`.
    :param int seed: seed of the draws (the global random state is left as it was).
    :returns: probabilities of shape ``(len(x), classes)``.
    """
    if not (isinstance(num_samples, int) and num_samples > 0):
        raise ValueError(f"Expected num_samples to be a positive int but got {num_samples!r}")
    if not torch.is_tensor(x):
        raise TypeError(f"Expected x to be a tensor but got {type(x).__name__}")
    total = 0
    with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
        torch.manual_seed(seed)
        for _ in range(num_samples):
            guide_trace = poutine.trace(guide).get_trace(x)
            logits = poutine.block(poutine.replay(model, trace=guide_trace))(x)
            total = total + torch.softmax(logits, -1) / num_samples
    return total
