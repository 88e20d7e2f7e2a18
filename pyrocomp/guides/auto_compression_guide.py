import pyro
import torch
from pyro import poutine
from pyro.distributions.transforms import biject_to
from pyro.infer.autoguide import AutoGuide
from pyro.nn import PyroModule
from pyro.poutine.guide import GuideMessenger
from pyro.poutine.messenger import Messenger
from pyro.poutine.util import site_is_subsample

from pyrocomp.nn import BayesianNetwork
from pyrocomp.util import own_param_store_names

from .guide_hook import GUIDE_HOOKS
from .posteriors import posterior_family
from .quantiles import posterior_quantiles


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


class _SetupMessenger(Messenger):
    def __init__(self, guide, init_loc_fn, init_scale, family):
        super().__init__()
        self.guide, self.init_loc_fn, self.init_scale, self.family = guide, init_loc_fn, init_scale, family

    def _pyro_sample(self, msg):
        if msg["is_observed"] or site_is_subsample(msg):
            return
        key = _key(msg["name"])
        if key in self.guide.posteriors:
            raise ValueError(f"Site {msg['name']!r} is sampled twice by the model's priors; every layer's sites "
                             "need names of their own (start them with the layer path the prior is given)")
        prior = msg["fn"]
        family = self.family(msg["name"], prior)
        init = self.init_loc_fn(msg)
        posterior = family(prior, init, self.init_scale)
        _check_interface(msg["name"], family, posterior.forward(prior))  # outside any Pyro context: no param site
        setattr(self.guide.posteriors, key, posterior)
        msg["value"] = init
        msg["done"] = True


def _check_interface(name, family, q):
    # what pruning and the summaries read off every posterior
    for attribute in ("mean", "variance"):
        try:
            finite = bool(torch.isfinite(getattr(q, attribute)).all())
        except NotImplementedError:
            finite = False
        if not finite:
            raise TypeError(f"The posterior family {family.__name__} of site {name!r} gives a "
                            f"{type(q).__name__}, which has no finite {attribute}; pyrocomp reads the mean and "
                            "variance of every posterior")


class _LatentMessenger(GuideMessenger):
    """Pyro's effect-based guide over the model's latent sites (its priors, run without data): each site's
    prior is replaced by :meth:`AutoCompressionGuide.get_posterior`, also recorded as ``infer["posterior"]``
    (which the Bayesian layers read for the local reparameterisation trick)."""

    def __init__(self, guide, value_fn=None):
        super().__init__(guide.model.sample_latents)
        self.guide, self.value_fn = guide, value_fn

    def get_posterior(self, name, prior):
        posterior = self.guide.get_posterior(name, prior)
        return posterior if self.value_fn is None else self.value_fn(name, posterior)

    def _pyro_sample(self, msg):
        if msg["is_observed"] or site_is_subsample(msg):
            return
        super()._pyro_sample(msg)
        msg["infer"]["posterior"] = msg["fn"]


class _AtMean(Messenger):
    """Sites named in ``names`` take their distribution's mean instead of a draw."""

    def __init__(self, names):
        super().__init__()
        self.names = names

    def _pyro_sample(self, msg):
        if msg["name"] in self.names and not msg["is_observed"]:
            msg["value"] = msg["fn"].mean
            msg["done"] = True


class _Posteriors(PyroModule):
    """The posterior modules of :class:`AutoCompressionGuide`, keyed by site name with ``/`` for ``.``;
    attribute access keeps them in the guide's Pyro context (param store names, module-local params)."""

    def __getitem__(self, key):
        if key not in self._modules:
            raise KeyError(key)
        return getattr(self, key)

    def __contains__(self, key):
        return key in self._modules

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def keys(self):
        return self._modules.keys()

    def items(self):
        return [(key, self[key]) for key in self._modules]

    def values(self):
        return [self[key] for key in self._modules]


class AutoCompressionGuide(AutoGuide):
    r"""
    The guide of pyrocomp's compression models, a Pyro :class:`~pyro.infer.autoguide.AutoGuide`: it
    runs the network's priors (no data) under Pyro's effect-based guide
    (:class:`~pyro.poutine.guide.GuideMessenger`), whose :meth:`get_posterior` replaces each latent
    site's prior by a posterior chosen through the registry in :mod:`pyrocomp.guides.posteriors` —
    the multiplicative Gaussian :math:`q(W \mid z) = \mathcal{N}(z\tilde\mu, z^2\tilde\sigma^2)` of
    Bayesian Compression for weights under Gaussian scale-mixture priors, mean-field Gaussians for
    other real sites and log-normals for positive scales, so that

    .. math:: q(W, \theta) = \prod_{\text{scales}} q(\theta_k) \prod_{\text{layers}} q(W_l \mid \theta).

    The posterior of every weight site is attached to it as ``infer["posterior"]``, which the
    Bayesian layers use for the local reparameterisation trick.

    The guide is a :class:`~pyro.nn.PyroModule`: its variational parameters are
    :class:`~pyro.nn.PyroParam` s of its posterior modules, so they live in Pyro's param store
    (``pyro.get_param_store().save/load`` restores a fit into a fresh model and guide) or, with
    ``pyro.settings.set(module_local_params=True)``, in the module alone; ``state_dict``,
    ``torch.save`` and ``pyro.infer.Predictive`` work as for any Pyro guide, and the guide follows its
    model to another device or dtype (``model.to(...)``) at its next call. As with any Pyro guide, the
    store holds one value per name: a new guide (and a new :class:`~pyrocomp.nn.BayesianNetwork`)
    takes its names over when built, so build the model and guide first and then ``load`` a saved
    store; to keep several fits alive in one process, use module-local parameters.

    :param model: a :class:`~pyrocomp.nn.BayesianNetwork`.
    :param callable init_loc_fn: per-site initial value (default :func:`init_to_pretrained`).
    :param float init_scale: initial relative posterior scale of every site.
    :param callable posterior_family: ``(site name, prior) -> Posterior`` class; default the
        registry's choice (a :class:`~pyrocomp.guides.PosteriorFamilies`; see also
        :data:`~pyrocomp.guides.mean_field_weights`).

    Example::

        guide = AutoCompressionGuide(bnn)
        svi = SVI(bnn, guide, pyro.optim.Adam({"lr": 1e-3}), TraceMeanField_ELBO())
    """

    def __init__(self, model, *, init_loc_fn=None, init_scale=1e-2, posterior_family=posterior_family):
        if not isinstance(model, BayesianNetwork):
            raise TypeError(f"Expected a pyrocomp BayesianNetwork but got {type(model).__name__}")
        if not (init_scale > 0):
            raise ValueError(f"Expected init_scale > 0 but got {init_scale}")
        super().__init__(model)
        self.posteriors = _Posteriors()
        init_loc_fn = init_to_pretrained(model.pretrained()) if init_loc_fn is None else init_loc_fn
        with torch.no_grad(), poutine.trace() as tracer, _SetupMessenger(self, init_loc_fn, init_scale,
                                                                           posterior_family):
            model.sample_latents()
        self.prototype_trace = tracer.trace
        own_param_store_names(self)
        self.hooks = [hook for hook in (factory(model, self) for factory in GUIDE_HOOKS) if hook is not None]
        self._signature, self._steps = None, 0

    def __getstate__(self):
        # unlike AutoGuide's, keeps the model (a module) and leaves this guide as it was
        for param in self.parameters():
            param.__dict__.pop("unconstrained", None)  # PyroParam's weak references
        return dict(self.__dict__, master=None)

    def posterior(self, site):
        """The :class:`~pyrocomp.guides.Posterior` module of the latent site named ``site``."""
        return self.posteriors[_key(site)]

    def get_posterior(self, name, prior):
        """The posterior of site ``name`` given its ``prior`` (conditioned on upstream draws), as in
        :meth:`pyro.poutine.guide.GuideMessenger.get_posterior`."""
        try:
            module = self.posteriors[_key(name)]
        except KeyError:
            raise RuntimeError(f"Site {name!r} was not in the model when the guide was set up") from None
        return module(prior)

    def _follow_model(self):
        like = next(layer for _, layer in self.model.bayesian_layers()).weight_init
        mine = next(iter(self.posteriors.parameters()), None)
        mine = next(iter(self.posteriors.buffers())) if mine is None else mine
        if mine.device != like.device or mine.dtype != like.dtype:
            self.to(like)

    def hook(self, hook_type):
        """The guide's hook of type ``hook_type`` (e.g. :class:`~pyrocomp.infer.TurboVBI`), or ``None``."""
        return next((hook for hook in self.hooks if isinstance(hook, hook_type)), None)

    @torch.no_grad()
    def refresh(self):
        """
        Run the hooks (:attr:`hooks`, :class:`~pyrocomp.guides.GuideHook`) when the SVI parameters have changed
        since they last ran; every call of the guide does this first. ``fit`` calls it after each epoch so that
        work due at the epoch's last step is done there.

        :returns: ``{hook class name: record}`` of the hooks that returned one.
        """
        if not self.hooks:
            return {}
        signature = self._parameter_signature()
        if signature == self._signature:
            return {}
        self._steps = 0 if self._signature is None else self._steps + 1
        self._signature = signature
        records = {}
        for hook in self.hooks:
            record = hook.on_step(self._steps)
            if isinstance(record, dict):
                records[type(hook).__name__] = record
        return records

    def _parameter_signature(self):
        return [(id(p), p._version) for p in self.parameters() if p.requires_grad]

    def hook_state(self):
        """The hooks' state and the guide's count of SVI steps, for a :class:`~pyrocomp.infer.Checkpoint`."""
        return {"steps": self._steps, "started": self._signature is not None,
                "hooks": [hook.state_dict() for hook in self.hooks]}

    def load_hook_state(self, state):
        """Restore what :meth:`hook_state` returned, as of the guide's current parameters."""
        self._steps = state["steps"]
        self._signature = self._parameter_signature() if state["started"] else None
        for hook, hook_state in zip(self.hooks, state["hooks"]):
            hook.load_state_dict(hook_state)

    def _run(self, value_fn=None):
        self._follow_model()
        self.refresh()
        # observed sites of the priors (factors such as a block-variance term) belong to the model only
        with poutine.block(hide_fn=lambda msg: msg["type"] == "sample" and msg["is_observed"]):
            return _LatentMessenger(self, value_fn)()

    def forward(self, *args, **kwargs):
        """Sample every latent site from the posterior (the model's data arguments are not needed);
        returns ``{site name: value}``."""
        return self._run()

    def trace(self):
        """A trace of one posterior draw of every latent site (without data)."""
        with self._pyro_context:
            return poutine.trace(self._run).get_trace()

    def _values(self, value_fn):
        with torch.no_grad(), self._pyro_context:
            trace = poutine.trace(self._run).get_trace(value_fn=value_fn)
        return {name: site["value"] for name, site in trace.nodes.items() if site["type"] == "sample"}

    def mean(self):
        r"""
        Posterior means, each site's conditioned on its upstream sites at their means:
        :math:`\hat W = \mathrm{diag}(\mu_z) \tilde M \,\mathrm{diag}(\mu_s)` for the
        multiplicative posteriors (paper 003 eq. (4)).

        :returns: ``{site name: value}`` of every latent site.
        """
        return self._values(lambda name, posterior: posterior.mean)

    def median(self, *args, **kwargs):
        """
        Posterior medians, each site's conditioned on its upstream sites at their medians (exact for
        the mean-field families; see :func:`~pyrocomp.guides.posterior_quantiles`). The model's
        arguments are accepted and not needed.

        :returns: ``{site name: value}`` of every latent site.
        """
        return self._values(lambda name, posterior: posterior_quantiles(posterior, [0.5])[0])

    def quantiles(self, quantiles, *args, **kwargs):
        """
        Marginal posterior quantiles of every latent site, each site's conditioned on its upstream
        sites at their medians.

        :param quantiles: probabilities in (0, 1).
        :returns: ``{site name: tensor}``, each with a leading dimension of ``len(quantiles)``.
        """
        found = {}

        def at_median(name, posterior):
            found[name] = posterior_quantiles(posterior, quantiles)
            return posterior_quantiles(posterior, [0.5])[0]

        self._values(at_median)
        return found

    @torch.no_grad()
    def monte_carlo(self, statistic, num_samples=256, seed=0, vectorize_particles=False):
        """
        Average ``statistic(trace)`` (a dict of tensors) over ``num_samples`` posterior traces,
        drawn under a fixed ``seed`` without disturbing the global random state.

        With ``vectorize_particles`` (as in Pyro's ELBOs) the draws are batched: each trace holds a chunk of
        draws in a plate in front of every site (chunks of at most about four million latent values), and
        ``statistic`` must then return tensors whose first dimension is the chunk's draws, as elementwise
        statistics of the sites do. The layers' weights, which no other site reads, are then not drawn: their
        sites hold their posterior means, and statistics read their distributions (``site["fn"]``). The draws
        differ from the sequential ones; the averages agree within Monte Carlo error.
        """
        if not (isinstance(num_samples, int) and num_samples > 0):
            raise ValueError(f"Expected num_samples to be a positive int but got {num_samples!r}")
        total = {}
        devices = [p.device for p in self.parameters() if p.device.type == "cuda"]
        size = sum(site["value"].numel() for site in self.prototype_trace.nodes.values() if site["type"] == "sample")
        chunk = max(1, min(num_samples, 2**22 // max(1, size))) if vectorize_particles else 1
        leaves = {layer.weight_site for _, layer in self.model.bayesian_layers()}
        # the guide's distributions were validated when it was set up and fitted; summaries skip the checks
        with torch.random.fork_rng(devices=devices[:1]), pyro.validation_enabled(False):
            torch.manual_seed(seed)
            for start in range(0, num_samples, chunk):
                draws = min(chunk, num_samples - start)
                if vectorize_particles:
                    with pyro.plate("_monte_carlo_draws", draws, dim=-1), _AtMean(leaves):
                        values = statistic(self.trace())
                    values = {key: value.expand((draws,) + value.shape[1:]).sum(0) for key, value in values.items()}
                else:
                    values = statistic(self.trace())
                for key, value in values.items():
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
