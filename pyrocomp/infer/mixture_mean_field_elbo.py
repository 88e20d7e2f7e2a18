import torch
from pyro.distributions.util import sum_rightmost
from pyro.infer import TraceMeanField_ELBO
from pyro.poutine import Trace
from torch.distributions import kl_divergence

from pyrocomp.util import unwrap_independent


def group_kl(guide_site, model_site):
    r"""
    :math:`\mathrm{KL}(q(z_g) \,\|\, p(z_g))` of every group of a scale site (its batch elements before
    ``to_event``): closed form when registered, else the single-sample estimate
    :math:`\ln q(z_g) - \ln p(z_g)` at the guide's draw.
    """
    q, p = unwrap_independent(guide_site["fn"]), unwrap_independent(model_site["fn"])
    try:
        return sum_rightmost(kl_divergence(q, p), p.event_dim - q.event_dim)
    except NotImplementedError:
        value = guide_site["value"]
        return sum_rightmost(q.log_prob(value), p.event_dim - q.event_dim) - p.log_prob(value)


class MixtureMeanField_ELBO(TraceMeanField_ELBO):
    r"""
    :class:`~pyro.infer.TraceMeanField_ELBO` for mixtures whose components have their own scales
    (:class:`~pyrocomp.priors.MixturePrior` with ``scales="per-component"``), with the structured
    posterior of spike-and-slab variational inference (Titsias and Lázaro-Gredilla, NIPS 2011): given
    a group's component :math:`c_g = k`, its scale :math:`z_{gk}` has the posterior :math:`q_k` and the
    other components' scales keep their priors,

    .. math::

        q(c_g, \mathbf z_g) = q(c_g) \prod_k q_k(z_{gk})^{[c_g = k]}\, p_k(z_{gk})^{[c_g \ne k]}.

    With :math:`q(c_g)` at its optimum the group's term of the ELBO is a log-sum-exp over the
    components of each component's own ELBO,

    .. math::

        \ln \sum_k \pi_k \exp\Big(E_q \ln p(\mathbf w_g \mid z_{gk}) - \mathrm{KL}(q_k \,\|\, p_k)\Big),

    so a group weighs each component at that component's fit, its Occam factor included (paper 000
    eq. (5) with the component marginalised). The scale sites a weight site's
    :class:`~pyrocomp.distributions.GroupNormalMixture` names (``component_sites``) are taken out of the
    mean-field sum and their per-group KLs passed to it as the offsets of its log-sum-exp; every other site
    is as in :class:`~pyro.infer.TraceMeanField_ELBO`, which it is for models without such mixtures. The
    gradient each component's scales get is that of their own ELBO (the KL's note in
    :mod:`pyrocomp.distributions.kl`), with the same value and stationary points.
    """

    def _differentiable_loss_particle(self, model_trace, guide_trace):
        offsets, taken = {}, set()
        for name, site in model_trace.nodes.items():
            sites = getattr(site["fn"], "component_sites", None) if site["type"] == "sample" else None
            if sites:
                offsets[name] = _stack([-group_kl(guide_trace.nodes[s], model_trace.nodes[s]) for s in sites])
                taken.update(sites)
        if taken:
            model_trace, guide_trace = _without(model_trace, taken), _without(guide_trace, taken)
            for name, offset in offsets.items():
                site = model_trace.nodes[name]
                fn = site["fn"]
                model_trace.nodes[name] = dict(site, fn=fn.with_offsets(offset.reshape(fn.scales.shape[:1] + fn.group_shape)))
        return super()._differentiable_loss_particle(model_trace, guide_trace)


def _stack(tensors):
    return torch.stack(torch.broadcast_tensors(*tensors))


def _without(trace, names):
    """A copy of ``trace``'s nodes without ``names`` (the mean-field loss reads no edges)."""
    out = Trace(graph_type=trace.graph_type)
    out.nodes.update((name, site) for name, site in trace.nodes.items() if name not in names)
    return out
