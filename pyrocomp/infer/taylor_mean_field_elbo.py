import warnings

import torch
from pyro import poutine
from pyro.distributions import ImproperUniform, Normal
from pyro.distributions.util import scale_and_mask
from pyro.infer import Trace_ELBO
from pyro.infer.util import is_validation_enabled, torch_item
from pyro.poutine.messenger import Messenger
from pyro.poutine.util import prune_subsample_sites, site_is_subsample
from pyro.util import check_model_guide_match, check_site_shape, warn_if_nan
from torch.distributions import kl_divergence

from pyrocomp.distributions import LogUniform
from pyrocomp.guides import taylor_posterior_family
from pyrocomp.util import unwrap_independent

#: priors whose KL against a Gaussian has no optimum in the variance when the likelihood is
#: taken at the mean; extend when adding improper priors.
IMPROPER_PRIORS = (LogUniform, ImproperUniform)


class ImproperPriorError(ValueError):
    """A site has an improper prior, which :class:`TaylorMeanField_ELBO` cannot fit."""


def _mean(fn):
    try:
        return fn.mean
    except NotImplementedError:
        return None


class _AtMeansMessenger(Messenger):
    """Sets each latent guide site to its posterior mean (given upstream sites at their means)."""

    def _pyro_sample(self, msg):
        if msg["is_observed"] or site_is_subsample(msg) or msg["infer"].get("taylor", True) is False:
            return
        mean = _mean(msg["fn"])
        if mean is None:
            return
        msg["value"] = mean
        msg["done"] = True
        # the model is replayed at the means: no local reparameterisation noise
        msg["infer"] = {k: v for k, v in msg["infer"].items() if k != "posterior"}


def _kl_normal_fixed_scales(q, p):
    r"""
    :math:`\mathrm{KL}(\mathcal{N}(\mu, \sigma^2) \,\|\, \mathcal{N}(m, s^2))` when only :math:`\mu`
    is differentiated (closed-form variances, fixed prior): the terms without :math:`\mu` are
    computed without autograd, so the backward pass is one multiply-add per weight. ``None``
    when it does not apply.
    """
    bq, bp = unwrap_independent(q), unwrap_independent(p)
    if not (type(bq) is Normal and isinstance(bp, Normal)):
        return None
    if bq.scale.requires_grad or bp.loc.requires_grad or bp.scale.requires_grad:
        return None
    dims = tuple(range(-(q.event_dim - bq.event_dim), 0))
    total = (lambda t: t.sum(dims)) if dims else (lambda t: t)
    with torch.no_grad():
        inv_var = (bp.scale * bp.scale).reciprocal_()
        ratio = bq.scale * bq.scale * inv_var
        constant = total(ratio - 1 - ratio.log())
    diff = bq.loc - bp.loc  # without asking the device whether the prior's mean is zero
    return 0.5 * (constant + total(diff * diff * inv_var))


class TaylorMeanField_ELBO(Trace_ELBO):
    r"""
    The deterministic ELBO of paper 001 §IV-B: the expected log-likelihood by its first-order
    Taylor approximation at the posterior means (eq. (34), :math:`E_\xi\, g(\mu + \xi\sigma) \approx g(\mu)`)
    and the prior part in closed form (eqs. (31)-(33)),

    .. math::

        \mathcal{L} = \sum_k \mathrm{KL}\big(q(\theta_k \mid \bar\theta_{pa(k)}) \,\|\, p(\theta_k \mid \bar\theta_{pa(k)})\big)
                      - \ln p(\mathcal{D} \mid \bar\theta), \qquad \bar\theta = E_q[\theta],

    eq. (35) for a whole hierarchical model: the guide is replayed with every latent site at
    its mean (upstream sites at theirs), the model is replayed there without local
    reparameterisation, the observed sites are scored once, and each latent site contributes
    its KL from :func:`~torch.distributions.kl_divergence` — a Gaussian weight whose prior
    precision is a Gamma (or log-normal) latent thus meets the prior at :math:`E[\rho]`
    (eqs. (32)-(33)). With :class:`~pyrocomp.guides.AutoCompressionGuide`'s multiplicative
    weight posterior that KL does not depend on the scales at all, so only the likelihood is
    approximated. A site without a registered KL falls back to a Monte-Carlo estimate with
    ``num_kl_samples`` draws (and a warning). Plate scales and masks apply as in Pyro's ELBOs.

    Which sites are set to their means: every latent site whose distribution defines a mean,
    unless it is marked ``infer={"taylor": False}`` (then it is sampled).

    Improper priors (the log-uniform of sparse variational dropout, normal-Jeffreys scales)
    are refused: with the likelihood at the mean their KL has no optimum in the posterior
    variance and every weight would look prunable. Fit those with
    :class:`~pyro.infer.Trace_ELBO` or :class:`~pyro.infer.TraceMeanField_ELBO`.

    Its guide's families are :data:`posterior_family` (:data:`~pyrocomp.guides.taylor_posterior_family`:
    weight variances and conjugate Gamma precisions in closed form, see
    :class:`~pyrocomp.infer.ConjugatePrecision`).

    :param int num_kl_samples: draws for the Monte-Carlo fallback.

    Example::

        svi = SVI(model, guide, pyro.optim.Adam({"lr": 1e-3}), TaylorMeanField_ELBO())
    """

    #: the posterior families of this ELBO's guide (:class:`~pyrocomp.guides.AutoCompressionGuide`)
    posterior_family = taylor_posterior_family

    def __init__(self, num_kl_samples=16, **kwargs):
        super().__init__(**kwargs)
        if not (isinstance(num_kl_samples, int) and num_kl_samples > 0):
            raise ValueError(f"Expected num_kl_samples to be a positive int but got {num_kl_samples!r}")
        self.num_kl_samples = num_kl_samples
        self._warned = set()

    def _get_trace(self, model, guide, args, kwargs):
        with _AtMeansMessenger():
            guide_trace = poutine.trace(guide).get_trace(*args, **kwargs)
        model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(*args, **kwargs)
        if is_validation_enabled():  # Pyro's own checks, as in get_importance_trace
            check_model_guide_match(model_trace, guide_trace, self.max_plate_nesting)
        guide_trace = prune_subsample_sites(guide_trace)
        model_trace = prune_subsample_sites(model_trace)
        model_trace.compute_log_prob(site_filter=lambda name, site: site["is_observed"])
        if is_validation_enabled():  # the latent sites' terms are KLs, checked by kl_divergence's shapes
            for site in model_trace.nodes.values():
                if site["type"] == "sample" and site["is_observed"]:
                    check_site_shape(site, self.max_plate_nesting)
        return model_trace, guide_trace

    def _kl(self, name, q, p):
        base = unwrap_independent(p)
        if isinstance(base, IMPROPER_PRIORS):
            raise ImproperPriorError(
                f"Site {name!r} has the improper prior {type(base).__name__}: with the likelihood at the posterior "
                "mean its KL term has no optimum in the posterior variance, so every weight would look prunable. "
                "Fit this prior with Trace_ELBO or TraceMeanField_ELBO."
            )
        fast = _kl_normal_fixed_scales(q, p)
        if fast is not None:
            return fast
        try:
            return kl_divergence(q, p)
        except NotImplementedError:
            if name not in self._warned:
                self._warned.add(name)
                warnings.warn(
                    f"No closed-form KL({type(unwrap_independent(q)).__name__} || {type(base).__name__}) for site {name!r}; "
                    f"using a Monte-Carlo estimate with {self.num_kl_samples} draws",
                    RuntimeWarning,
                )
            x = q.rsample((self.num_kl_samples,))
            return (q.log_prob(x) - p.log_prob(x)).mean(0)

    def _differentiable_loss_particle(self, model_trace, guide_trace):
        elbo = 0.0
        for name, site in model_trace.nodes.items():
            if site["type"] != "sample":
                continue
            if site["is_observed"]:
                elbo = elbo + site["log_prob_sum"]
                continue
            guide_site = guide_trace.nodes.get(name)
            if guide_site is None:
                raise ValueError(f"The model's latent site {name!r} has no site in the guide; the Taylor ELBO needs "
                                 "a posterior for every latent site")
            kl = scale_and_mask(self._kl(name, guide_site["fn"], site["fn"]), guide_site["scale"], guide_site["mask"])
            elbo = elbo - (kl.sum() if torch.is_tensor(kl) else kl)
        loss = -torch_item(elbo)
        return loss, -elbo

    def loss(self, model, guide, *args, **kwargs):
        """:returns: the (deterministic) negative Taylor ELBO."""
        loss = 0.0
        for model_trace, guide_trace in self._get_traces(model, guide, args, kwargs):
            loss = loss + self._differentiable_loss_particle(model_trace, guide_trace)[0] / self.num_particles
        warn_if_nan(loss, "loss")
        return loss
