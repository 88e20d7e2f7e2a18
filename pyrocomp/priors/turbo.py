import pyro
import torch

from pyrocomp.distributions import IndependentNormal, SpikeSlabGamma, SupportIndicator
from pyrocomp.mrf import IsingSupport, SupportPrior

from pyrocomp.util import positive, probability

from .prior import Prior, register_prior


@register_prior("turbo")
class TurboPrior(Prior):
    r"""
    The three-layer hierarchical prior of paper 001 (eqs. (1)-(6)), per layer

    .. math::

        \mathbf{s} \sim p(\mathbf{s}), \qquad
        \rho_n \mid s_n \sim \mathrm{Gamma}(a, b)^{s_n}\, \mathrm{Gamma}(\bar a, \bar b)^{1 - s_n}, \qquad
        w_n \mid \rho_n \sim \mathcal{N}(0, 1/\rho_n),

    with sites ``{name}.support`` (Bernoulli), ``{name}.precision``
    (:class:`~pyrocomp.distributions.SpikeSlabGamma`) and ``{name}.weight``.

    The structured support prior :math:`p(\mathbf{s})` — a 2-D Markov random field
    (:class:`~pyrocomp.mrf.IsingSupport`, the default), row Markov chains or independent
    Bernoullis — is not a sample site: as in the turbo framework (001 §IV-A, eqs. (15)-(16)),
    the model's support site is the factorised prior :math:`\hat p(s_n) = \mathrm{Bernoulli}(\pi_n)`,
    whose probabilities :math:`\pi_n = v_{h \to s_n}` are the extrinsic messages that belief
    propagation on :math:`p(\mathbf{s})` (Module B) returns. They are kept as the layer buffer
    ``support_prior_logits`` and start at the support prior's marginal.

    Fit it with :class:`~pyrocomp.infer.TurboVBI` (which :func:`~pyrocomp.infer.fit` runs
    through :meth:`fit_callbacks`), the guide's :math:`q(\rho), q(s)` being updated in closed
    form and :math:`q(w)` by SVI with :class:`~pyrocomp.infer.TaylorMeanField_ELBO`.
    Weights survive where :math:`\tilde\pi = q(s = 1) >` ``threshold``.

    Defaults are those of 001 §V: :math:`a = b = \bar a = 1`, :math:`\bar b = 10^{-3}`. 001 chooses
    them for weights of variance :math:`O(1)`; with ``scale="pretrained"`` (the default) the
    rates are in units of the layer's pretrained mean square weight :math:`\overline{w^2}`,
    :math:`b \to b\,\overline{w^2}`, :math:`\bar b \to \bar b\,\overline{w^2}` — the same
    prior for a layer rescaled to unit weight variance. ``scale=None`` takes them as they are.

    :param SupportPrior support: :math:`p(\mathbf{s})`.
    :param float a: active Gamma shape.  :param float b: active Gamma rate.
    :param float a_bar: inactive Gamma shape.  :param float b_bar: inactive Gamma rate.
    :param float threshold: pruning threshold on :math:`\tilde\pi`.
    :param schedule: a :class:`~pyrocomp.infer.TurboSchedule` (default: its defaults).
    :param scale: ``"pretrained"`` or ``None``, see above.
    """

    def __init__(self, support=None, a=1.0, b=1.0, a_bar=1.0, b_bar=1e-3, threshold=0.5, schedule=None,
                 scale="pretrained"):
        self.support = IsingSupport() if support is None else support
        if not isinstance(self.support, SupportPrior):
            raise TypeError(f"Expected support to be a pyrocomp.mrf.SupportPrior but got {support!r}")
        self.a, self.b = positive("a", a), positive("b", b)
        self.a_bar, self.b_bar = positive("a_bar", a_bar), positive("b_bar", b_bar)
        self.threshold = probability("threshold", threshold)
        self.schedule = schedule
        if scale not in ("pretrained", None):
            raise ValueError(f"Expected scale in ('pretrained', None) but got {scale!r}")
        self.scale = scale

    def setup(self, name, layer):
        p = self.support.marginal
        logit = torch.tensor(p, dtype=layer.weight_init.dtype).logit().item()
        layer.register_buffer("support_prior_logits", torch.full_like(layer.weight_init, logit))
        unit = layer.weight_init.pow(2).mean().clamp_min(1e-12) if self.scale == "pretrained" else torch.ones(())
        layer.register_buffer("precision_rate_unit", unit.to(layer.weight_init))

    def hyperparameters(self, layer):
        """``(a, b, a_bar, b_bar)`` of ``layer``, the rates in the layer's units (tensors)."""
        unit = layer.precision_rate_unit
        return self.a, self.b * unit, self.a_bar, self.b_bar * unit

    def __call__(self, name, layer):
        logits = layer.support_prior_logits
        event = logits.dim()
        s = pyro.sample(f"{name}.support", SupportIndicator(logits=logits).to_event(event),
                        infer={"init": torch.sigmoid(logits)})
        shape = layer.weight_shape
        a, b, a_bar, b_bar = self.hyperparameters(layer)
        rho = pyro.sample(
            f"{name}.precision",
            SpikeSlabGamma(s, layer.full(shape, a), b.expand(shape), layer.full(shape, a_bar), b_bar.expand(shape)).to_event(event),
            infer={"init": layer.pretrained_rms(shape, -2)},
        )
        scale = rho.rsqrt()
        # paper 001's q(w) is mean-field: the guide's posterior of the weight does not follow rho
        return pyro.sample(f"{name}.weight", IndependentNormal(scale.new_zeros(()).expand(scale.shape), scale).to_event(event))
