import contextlib

import torch
from pyro.nn.module import to_pyro_module_
from torch import nn

from pyrocomp.util import own_param_store_names

from .auto_compression_guide import AutoCompressionGuide, _key
from .contexts import Context
from .heads import Heads
from .posteriors import ClosedFormPosterior, Posterior


class AutoConditionalGuide(AutoCompressionGuide):
    r"""
    The amortised guide of conditional compression (paper 003, BHC): a hypernetwork that maps a context
    :math:`c` to the posterior of the compressed network, :math:`q_\phi(W, z, s \mid c)`, as Pyro's VAE guide
    maps an image to :math:`q(z \mid x)`. The context's encoder (:meth:`~pyrocomp.guides.Context.encoder`)
    embeds :math:`c`; per-parameter heads (:class:`~pyrocomp.guides.Heads`) map the embedding to the
    context-dependent part of every variational parameter of every site — with the ``io-nj`` prior the input and
    output scales' :math:`\mu_z, \sigma_z, \mu_s, \sigma_s`, which decide the masks, and (depending on ``heads``)
    the weights' means and log-variances (003 Algorithm 1, line 1) — and the posterior families of
    :class:`~pyrocomp.guides.AutoCompressionGuide` turn the parameters into distributions:

    .. math:: \theta_k(c) = \theta_k + h_k(e(c)), \qquad q_\phi(W, z, s \mid c) = q_{\theta(c)}(W, z, s).

    The families' own parameters :math:`\theta_k` are the heads' biases; every head starts at zero, so at
    initialisation the guide is its unconditional posterior (or ``unconditional``'s) for every context
    (003 §5.2). The forward passes are the Bayesian layers' local reparameterisation (003 Algorithms 1-2).

    The model is called as ``model(x, y, context)`` (:class:`~pyrocomp.nn.BayesianNetwork` ignores the
    context) and the guide with the same arguments, so plain ``pyro.infer.SVI`` fits it one task per step
    (:func:`~pyrocomp.infer.fit_conditional` does it with the tasks' likelihood scales and KL weights). To
    read the posterior of one context — ``mean()``, ``median()``, ``quantiles()``, ``trace()`` and
    :func:`~pyrocomp.pruning.compress` — fix it with ``with guide.given(context):``.

    :param model: a :class:`~pyrocomp.nn.BayesianNetwork`.
    :param context: a :class:`~pyrocomp.guides.Context`.
    :param heads: a :class:`~pyrocomp.guides.Heads` (default: context-generated scales, shared weights).
    :param unconditional: an :class:`~pyrocomp.guides.AutoCompressionGuide` of ``model`` to start from
        (default: the pretrained weights, as that guide starts).
    :param init_loc_fn: as :class:`~pyrocomp.guides.AutoCompressionGuide`'s.
    :param float init_scale: as :class:`~pyrocomp.guides.AutoCompressionGuide`'s.

    Example::

        context = ClassSubset(num_classes=10)
        guide = AutoConditionalGuide(model, context)
        svi = SVI(model, guide, pyro.optim.Adam({"lr": 1e-3}), TraceMeanField_ELBO())
        svi.step(x, y, context.context_of([3, 4]))
        with guide.given(context.context_of([3, 4])):
            network = compress(model, guide, x[:100]).network
    """

    def __init__(self, model, context, *, heads=None, unconditional=None, init_loc_fn=None, init_scale=1e-2):
        if not isinstance(context, Context):
            raise TypeError(f"Expected a pyrocomp Context but got {context!r}")
        heads = Heads() if heads is None else heads
        if not isinstance(heads, Heads):
            raise TypeError(f"Expected heads to be a pyrocomp Heads but got {heads!r}")
        super().__init__(model, init_loc_fn=init_loc_fn, init_scale=init_scale)
        if self.hooks:
            raise TypeError(f"The priors of this model are fitted in closed form ({self.hooks}), which an amortised "
                            "guide cannot do per context; use priors fitted by gradient (e.g. io-nj)")
        for key, module in self.posteriors.items():
            if isinstance(module, ClosedFormPosterior) or type(module).distribution is Posterior.distribution:
                raise TypeError(f"Site {key.replace('/', '.')!r} has the posterior family {type(module).__name__}, "
                                "which cannot be amortised: it needs distribution(prior, **params)")
        if unconditional is not None:
            self._start_from(unconditional)
        self.context = context
        self.encoder = context.encoder()
        weight_sites = {layer.weight_site for _, layer in model.bayesian_layers()}
        self.heads = nn.ModuleDict()
        with torch.no_grad():
            for key, module in self.posteriors.items():
                for name, value in module.params().items():
                    head = heads.head(value, context.embedding_dim, key.replace("/", ".") in weight_sites)
                    if head is not None:
                        self.heads[f"{key}:{name}"] = head
        like = next(iter(self.posteriors.parameters()))
        self.encoder.to(like)
        self.heads.to(like)
        to_pyro_module_(self.encoder)
        to_pyro_module_(self.heads)
        own_param_store_names(self)
        self._shift = None

    def _start_from(self, unconditional):
        if not isinstance(unconditional, AutoCompressionGuide) or set(unconditional.posteriors) != set(self.posteriors):
            raise ValueError("Expected unconditional to be an AutoCompressionGuide of the same model")
        with torch.no_grad(), unconditional._pyro_context:
            values = {key: {name: value.detach().clone() for name, value in module.params().items()}
                      for key, module in unconditional.posteriors.items()}
        with torch.no_grad():
            for key, module in self.posteriors.items():
                for name, value in values[key].items():  # the built-in families' parameters are unconstrained
                    getattr(module, f"{name}_unconstrained").copy_(value)

    def shifts(self, context):
        """``{site key: {parameter: tensor}}``: the context-dependent part of every headed parameter."""
        like = next(iter(self.posteriors.parameters()))
        embedding = self.encoder(self.context.check(context).to(like))
        shifts = {}
        for name, head in self.heads.items():
            key, _, param = name.partition(":")
            shifts.setdefault(key, {})[param] = head(embedding)
        return shifts

    @contextlib.contextmanager
    def given(self, context):
        """Within the block the guide is the posterior of ``context`` (a tensor the context type accepts)."""
        self._follow_model()
        previous, self._shift = self._shift, self.shifts(context)
        try:
            yield self
        finally:
            self._shift = previous

    def get_posterior(self, name, prior):
        if self._shift is None:
            raise RuntimeError("AutoConditionalGuide needs a context: call guide(x, y, context), or read a posterior "
                               "inside `with guide.given(context):`")
        try:
            module = self.posteriors[_key(name)]
        except KeyError:
            raise RuntimeError(f"Site {name!r} was not in the model when the guide was set up") from None
        return module(prior, self._shift.get(_key(name)))

    def forward(self, x=None, y=None, context=None):
        """Sample every latent site from the posterior of ``context`` (the data are not needed)."""
        if context is None:
            raise ValueError("Expected a context: the guide is called as guide(x, y, context), like its model")
        with self.given(context):
            return self._run()
