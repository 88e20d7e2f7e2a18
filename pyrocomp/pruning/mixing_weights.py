import torch


@torch.no_grad()
def mixing_weights(model, guide):
    r"""
    Which prior each layer chose: the posterior mean :math:`E_q[\boldsymbol\pi_l] = \tilde{\boldsymbol\alpha}_l / \sum_k \tilde\alpha_{lk}`
    of the Dirichlet mixing weights of every :class:`~pyrocomp.priors.MixturePrior` layer.

    :returns: ``{layer path: {component name: weight}}``.
    """
    from pyrocomp.priors.mixture import MixturePrior

    out = {}
    for path, layer in model.bayesian_layers():
        if isinstance(layer.prior, MixturePrior):
            mean = guide.posterior(f"{path}.mixing_weights")(None).mean
            out[path] = {name: float(w) for name, w in zip(layer.prior.components, mean)}
    return out
