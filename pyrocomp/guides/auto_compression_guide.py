import pyro
import torch
from pyro import poutine
from pyro.distributions.transforms import biject_to
from pyro.poutine.messenger import Messenger
from pyro.poutine.util import site_is_subsample
from torch import nn

from .posteriors import MeanFieldNormal, posterior_family


def _key(name):
    return name.replace(".", "/")


def init_to_pretrained(pretrained):
    """
    Initialisation strategy: a weight site starts at the plain network's weight; another site
    at ``infer["init"]`` when its prior gives one, else at its prior mean when finite, else at
    the feasible point of its support (0 on the real line, 1 on the positive reals).

    :param dict pretrained: ``{site name: value}``; its first value sets device and dtype.
    """
    like = next(iter(pretrained.values()), torch.zeros(()))

    def init(site):
        fn, shape = site["fn"], site["fn"].shape()
        if site["name"] in pretrained:
            return pretrained[site["name"]].expand(shape).clone()
        if "init" in site["infer"]:
            return torch.as_tensor(site["infer"]["init"], dtype=like.dtype, device=like.device).expand(shape).clone()
        try:
            value = fn.mean
            if bool(torch.isfinite(value).all()) and bool(fn.support.check(value).all()):
                return value.to(like).expand(shape).clone()
        except NotImplementedError:
            pass
        return biject_to(fn.support)(torch.zeros(shape, dtype=like.dtype, device=like.device))

    return init


def mean_field_weights(name, prior):
    r"""
    A ``posterior_family`` for :class:`AutoCompressionGuide` giving every weight site
    (``*.weight``) a mean-field :math:`\mathcal{N}(\mu, \sigma^2)` independent of its scales —
    paper 001's :math:`q(w)`, the right family for :class:`~pyrocomp.infer.TaylorMeanField_ELBO`,
    whose Taylor point is then exactly :math:`E_q[w] = \mu` — and the registered family to the rest.
    """
    return MeanFieldNormal if name.endswith(".weight") else posterior_family(name, prior)


class _SetupMessenger(Messenger):
    def __init__(self, guide, init_loc_fn, init_scale, family):
        super().__init__()
        self.guide, self.init_loc_fn, self.init_scale, self.family = guide, init_loc_fn, init_scale, family

    def _pyro_sample(self, msg):
        if msg["is_observed"] or site_is_subsample(msg):
            return
        prior = msg["fn"]
        init = self.init_loc_fn(msg)
        family = self.family(msg["name"], prior)
        self.guide.posteriors[_key(msg["name"])] = family(prior, init, self.init_scale)
        msg["value"] = init
        msg["done"] = True


class _PosteriorMessenger(Messenger):
    """Replaces each latent site's prior by its posterior, conditioned on upstream samples."""

    def __init__(self, guide, value_fn=None):
        super().__init__()
        self.guide, self.value_fn = guide, value_fn

    def _pyro_sample(self, msg):
        if msg["is_observed"] or site_is_subsample(msg):
            return
        try:
            posterior_module = self.guide.posteriors[_key(msg["name"])]
        except KeyError:
            raise RuntimeError(f"Site {msg['name']!r} was not in the model when the guide was set up") from None
        prior = msg["fn"]
        posterior = posterior_module(prior)
        msg["fn"] = posterior
        msg["infer"] = dict(msg["infer"], prior=prior, posterior=posterior)
        if self.value_fn is not None:
            msg["value"] = self.value_fn(posterior)
            msg["done"] = True


class AutoCompressionGuide(nn.Module):
    r"""
    The guide of pyrocomp's compression models: runs the network's priors (no data) and
    replaces each latent site's prior by a posterior chosen through the registry in
    :mod:`pyrocomp.guides.posteriors` — the multiplicative Gaussian
    :math:`q(W \mid z) = \mathcal{N}(z\tilde\mu, z^2\tilde\sigma^2)` of Bayesian Compression for
    weights under Gaussian scale-mixture priors, mean-field Gaussians for other real sites and
    log-normals for positive scales, so that

    .. math:: q(W, \theta) = \prod_{\text{scales}} q(\theta_k) \prod_{\text{layers}} q(W_l \mid \theta).

    The posterior of every weight site is attached to it as ``infer["posterior"]``, which the
    Bayesian layers use for the local reparameterisation trick.

    :param model: a :class:`~pyrocomp.nn.BayesianNetwork`.
    :param callable init_loc_fn: per-site initial value (default :func:`init_to_pretrained`).
    :param float init_scale: initial relative posterior scale of every site.
    :param str name: prefix of the guide's parameters in Pyro's param store.
    :param callable posterior_family: ``(site name, prior) -> Posterior`` class; default the
        registry's choice (see also :func:`mean_field_weights`).

    Example::

        guide = AutoCompressionGuide(bnn)
        svi = SVI(bnn, guide, pyro.optim.Adam({"lr": 1e-3}), TraceMeanField_ELBO())
    """

    def __init__(self, model, *, init_loc_fn=None, init_scale=1e-2, name="guide", posterior_family=posterior_family):
        super().__init__()
        if not callable(getattr(model, "sample_latents", None)):
            raise TypeError(f"Expected a pyrocomp BayesianNetwork but got {type(model).__name__}")
        if not (init_scale > 0):
            raise ValueError(f"Expected init_scale > 0 but got {init_scale}")
        self._model = (model,)  # not a submodule: its parameters belong to the model
        self.name = name
        self.posteriors = nn.ModuleDict()
        init_loc_fn = init_to_pretrained(model.pretrained()) if init_loc_fn is None else init_loc_fn
        with torch.no_grad(), _SetupMessenger(self, init_loc_fn, init_scale, posterior_family):
            model.sample_latents()

    @property
    def model(self):
        return self._model[0]

    def posterior(self, site):
        """The :class:`~pyrocomp.guides.Posterior` module of the latent site named ``site``."""
        return self.posteriors[_key(site)]

    def _run(self, value_fn=None):
        # observed sites of the priors (factors such as a block-variance term) belong to the model only
        with poutine.block(hide_fn=lambda msg: msg["type"] == "sample" and msg["is_observed"]):
            with _PosteriorMessenger(self, value_fn):
                return self.model.sample_latents()

    def forward(self, *args, **kwargs):
        """Sample every latent site from the posterior; returns ``{weight site: weight}``."""
        pyro.module(self.name, self)
        return self._run()

    def trace(self):
        """A trace of one posterior draw of every latent site (without data)."""
        return poutine.trace(self._run).get_trace()

    @torch.no_grad()
    def mean(self):
        r"""
        Posterior means, each site's conditioned on its upstream sites at their means:
        :math:`\hat W = \mathrm{diag}(\mu_z) \tilde M \,\mathrm{diag}(\mu_s)` for the
        multiplicative posteriors (paper 003 eq. (4)).

        :returns: ``{site name: value}`` of every latent site.
        """
        trace = poutine.trace(self._run).get_trace(value_fn=lambda p: p.mean)
        return {name: site["value"] for name, site in trace.nodes.items() if site["type"] == "sample"}

    @torch.no_grad()
    def monte_carlo(self, statistic, num_samples=256, seed=0):
        """
        Average ``statistic(trace)`` (a dict of tensors) over ``num_samples`` posterior traces,
        drawn under a fixed ``seed`` without disturbing the global random state.
        """
        if not (isinstance(num_samples, int) and num_samples > 0):
            raise ValueError(f"Expected num_samples to be a positive int but got {num_samples!r}")
        total = {}
        devices = [p.device for p in self.parameters() if p.device.type == "cuda"]
        with torch.random.fork_rng(devices=devices[:1]):
            torch.manual_seed(seed)
            for _ in range(num_samples):
                for key, value in statistic(self.trace()).items():
                    total[key] = total.get(key, 0) + value / num_samples
        return total

    def moments(self, num_samples=256, seed=0):
        r"""
        Posterior mean and variance of every latent site, Rao-Blackwellised over upstream
        sites: :math:`E[x] = E_{q(\theta)}[E[x \mid \theta]]`,
        :math:`\mathrm{Var}[x] = E_{q(\theta)}[\mathrm{Var}[x \mid \theta] + E[x \mid \theta]^2] - E[x]^2`,
        with ``num_samples`` draws of the upstream sites (exact for sites without parents;
        for a product of scales it is paper 003's marginal variance, §4.3).

        :returns: ``{site name: (mean, variance)}``.
        """

        def statistic(trace):
            out = {}
            for name, site in trace.nodes.items():
                if site["type"] == "sample":
                    mean = site["fn"].mean
                    out[(name, 1)], out[(name, 2)] = mean, site["fn"].variance + mean.pow(2)
            return out

        m = self.monte_carlo(statistic, num_samples, seed)
        names = [name for name, order in m if order == 1]
        return {name: (m[name, 1], (m[name, 2] - m[name, 1].pow(2)).clamp_min(0)) for name in names}
