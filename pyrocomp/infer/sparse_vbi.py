import torch

from pyrocomp.guides.posteriors import ClosedFormBernoulli, ClosedFormGamma, MeanFieldNormal, TaylorNormal
from pyrocomp.priors import TurboPrior

from .second_moment import FirstOrderSecondMoment, SecondMoment
from .support_update import CollapsedSupportUpdate, SupportUpdate


class SparseVBI:
    r"""
    The closed-form half of Module A for every layer of ``model`` under a
    :class:`~pyrocomp.priors.TurboPrior`: reads :math:`q(w)` off the guide's mean-field weight
    posteriors and rewrites the guide's :class:`~pyrocomp.guides.ClosedFormGamma` and
    :class:`~pyrocomp.guides.ClosedFormBernoulli` buffers.

    :param model: a :class:`~pyrocomp.nn.BayesianNetwork`.
    :param guide: its :class:`~pyrocomp.guides.AutoCompressionGuide` built with
        ``posterior_family=mean_field_weights``.
    :param SupportUpdate support_update: the :math:`q(s), q(\rho)` rule (default
        :class:`~pyrocomp.infer.CollapsedSupportUpdate`; paper 001's own eqs. (24)-(29) are
        :class:`~pyrocomp.infer.FactorizedSupportUpdate`).
    :param SecondMoment second_moment: :math:`\langle w^2 \rangle` in the updates (default
        :class:`~pyrocomp.infer.FirstOrderSecondMoment`, the rule under
        :class:`~pyrocomp.infer.TaylorMeanField_ELBO`: feeding back :math:`\sigma^2`, whose optimum there
        is the prior variance, makes every active weight's slab variance keep it active).
    """

    def __init__(self, model, guide, support_update=None, second_moment=None):
        self.support_update = CollapsedSupportUpdate() if support_update is None else support_update
        self.second_moment = FirstOrderSecondMoment() if second_moment is None else second_moment
        if not isinstance(self.support_update, SupportUpdate):
            raise TypeError(f"Expected support_update to be a SupportUpdate but got {support_update!r}")
        if not isinstance(self.second_moment, SecondMoment):
            raise TypeError(f"Expected second_moment to be a SecondMoment but got {second_moment!r}")
        self.layers = []
        for path, layer in model.bayesian_layers():
            if not isinstance(layer.prior, TurboPrior):
                continue
            weight = guide.posterior(f"{path}.weight")
            if not isinstance(weight, (MeanFieldNormal, TaylorNormal)):
                raise TypeError(
                    f"Expected a mean-field Normal posterior for {path}.weight (paper 001's q(w)) but got "
                    f"{type(weight).__name__}; build the guide with posterior_family=mean_field_weights or "
                    "taylor_posterior_family"
                )
            precision = guide.posterior(f"{path}.precision")
            support = guide.posterior(f"{path}.support")
            if not (isinstance(precision, ClosedFormGamma) and isinstance(support, ClosedFormBernoulli)):
                raise TypeError(f"Expected closed-form Gamma and Bernoulli posteriors for layer {path!r}")
            self.layers.append((path, layer, weight, precision, support))
        if not self.layers:
            raise ValueError("Expected at least one layer with a TurboPrior")
        self.evidence = {}

    @torch.no_grad()
    def update(self, sweeps=1):
        r"""
        ``sweeps`` rounds of the :math:`q(\rho)` then :math:`q(s)` updates in every layer, with
        :math:`q(w)` fixed. Leaves each layer's extrinsic log-odds (eq. (17)) in :attr:`evidence`.
        """
        for path, layer, weight, precision, support in self.layers:
            hyper = layer.prior.hyperparameters(layer)
            variance = weight.scale.pow(2) if isinstance(weight, TaylorNormal) else (2 * weight.log_scale).exp()
            second = self.second_moment(weight.loc, variance)
            logits, concentration, rate, evidence = self.support_update(
                second, layer.support_prior_logits, support.logits, hyper, sweeps)
            support.logits.copy_(logits)
            precision.concentration.copy_(concentration)
            precision.rate.copy_(rate)
            self._set_scale(weight, concentration, rate)
            self.evidence[path] = evidence

    @staticmethod
    def _set_scale(weight, concentration, rate):
        # the exact minimiser of eq. (35) in sigma: the prior variance 1 / E[rho]
        if isinstance(weight, TaylorNormal):
            weight.scale.copy_((rate / concentration).sqrt())
