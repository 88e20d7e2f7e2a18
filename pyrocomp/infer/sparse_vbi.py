r"""
Module A of Turbo-VBI (paper 001 §IV-B): the closed-form mean-field updates of the precision
and support posteriors, given the weight posterior :math:`q(w) = \mathcal{N}(\mu, \sigma^2)`
and the support prior :math:`\hat p(s_n) = \mathrm{Bernoulli}(\pi_n)` from Module B.

For real weights with :math:`p(w \mid \rho) = \mathcal{N}(0, 1/\rho)` the update of eqs.
(24)-(26) is

.. math::

    q(\rho_n) = \mathrm{Gamma}(\tilde a_n, \tilde b_n), \quad
    \tilde a_n = \tilde\pi_n a + (1 - \tilde\pi_n)\bar a + \tfrac12, \quad
    \tilde b_n = \tilde\pi_n b + (1 - \tilde\pi_n)\bar b + \tfrac12(\mu_n^2 + \sigma_n^2)

(the paper prints the complex-Gaussian form, with :math:`+1` and no :math:`\tfrac12`), and that
of eqs. (27)-(29), in log-odds,

.. math::

    \operatorname{logit}\tilde\pi_n = \operatorname{logit}\pi_n
        + \big[a\ln b - \ln\Gamma(a) + (a-1)\langle\ln\rho_n\rangle - b\langle\rho_n\rangle\big]
        - \big[\bar a\ln\bar b - \ln\Gamma(\bar a) + (\bar a-1)\langle\ln\rho_n\rangle - \bar b\langle\rho_n\rangle\big],

with :math:`\langle\rho\rangle = \tilde a/\tilde b`, :math:`\langle\ln\rho\rangle = \psi(\tilde a) - \ln\tilde b`.
The bracketed difference is the log-odds of Module A's extrinsic message
:math:`v_{\eta_n \to s_n} = q(s_n) / v_{h \to s_n}` (eq. (17)) that Module B receives.

These factorised updates are coordinate-wise exact but have two stable fixed points per weight
whatever the data: with :math:`a = \bar a` an active weight's evidence,
:math:`\ln(b/\bar b) - (b - \bar b)\langle\rho\rangle \ge \ln(b/\bar b) - (a + \tfrac12)`,
does not depend on its magnitude, so once active (or once inactive) a weight stays so. The
*collapsed* support update (the default of :class:`SparseVBI`) removes that: it sets
:math:`q(s)` to the optimum of the structured family :math:`q(s)\,q(\rho \mid s)`, where
:math:`\rho` is integrated out under its optimal :math:`q(\rho \mid s)`,

.. math::

    \operatorname{logit}\tilde\pi_n = \operatorname{logit}\pi_n + \ln Z_1 - \ln Z_0, \qquad
    \ln Z_1 = a\ln b - \ln\Gamma(a) + \ln\Gamma(a + \tfrac12) - (a + \tfrac12)\ln\big(b + \tfrac12 E[w_n^2]\big)

(:math:`\ln Z_0` likewise with :math:`\bar a, \bar b`): the exact Bayes factor of the two
Student-t marginals of :math:`w` at :math:`E[w^2]`. :math:`q(\rho)` then follows eqs. (25)-(26).
"""
import math

import torch

from pyrocomp.guides.posteriors import ClosedFormBernoulli, ClosedFormGamma, MeanFieldNormal, TaylorNormal


def precision_update(support_probs, second_moment, a, b, a_bar, b_bar):
    r"""Eqs. (24)-(26), real form: :math:`(\tilde a, \tilde b)` given :math:`\tilde\pi` and :math:`E[w^2] = \mu^2 + \sigma^2`."""
    p = support_probs
    return p * a + (1 - p) * a_bar + 0.5, p * b + (1 - p) * b_bar + 0.5 * second_moment


def support_evidence(concentration, rate, a, b, a_bar, b_bar):
    r"""Log-odds of :math:`v_{\eta \to s}` (eqs. (17), (28)-(29)): what :math:`q(\rho)` says about :math:`s`."""
    mean, mean_log = concentration / rate, torch.digamma(concentration) - rate.log()
    return _log_gamma_term(a, b, mean, mean_log) - _log_gamma_term(a_bar, b_bar, mean, mean_log)


def _log(x):
    return torch.log(x) if torch.is_tensor(x) else math.log(x)


def _log_gamma_term(a, b, mean, mean_log):
    r""":math:`E_q[\ln \mathrm{Gamma}(\rho; a, b)]` given :math:`E[\rho]` and :math:`E[\ln\rho]`."""
    return a * _log(b) - math.lgamma(a) + (a - 1) * mean_log - b * mean


def collapsed_support_evidence(second_moment, a, b, a_bar, b_bar):
    r"""
    :math:`\ln Z_1 - \ln Z_0`, with
    :math:`Z_s = \int p(\rho \mid s)\, \exp E_{q(w)}[\ln p(w \mid \rho) + \tfrac12 \ln 2\pi]\, d\rho`:
    the log-odds of :math:`v_{\eta \to s}` with :math:`\rho` integrated out.
    """
    half = 0.5 * second_moment

    def log_z(alpha, beta):
        return alpha * _log(beta) - math.lgamma(alpha) + math.lgamma(alpha + 0.5) - (alpha + 0.5) * torch.log(beta + half)

    return log_z(a, b) - log_z(a_bar, b_bar)


def module_a_elbo(second_moment, concentration, rate, support_probs, prior_probs, a, b, a_bar, b_bar):
    r"""
    The terms of the Module-A ELBO (eq. (20)) that depend on :math:`q(\rho), q(s)`, per weight,
    exactly:

    .. math::

        E_q[\ln p(w \mid \rho) + \ln p(\rho \mid s) + \ln \hat p(s)] + H[q(\rho)] + H[q(s)].

    The closed-form updates maximise it coordinate-wise.
    """
    mean, mean_log = concentration / rate, torch.digamma(concentration) - rate.log()
    p, pi = support_probs, prior_probs
    log_w = 0.5 * mean_log - 0.5 * math.log(2 * math.pi) - 0.5 * mean * second_moment
    log_rho = p * _log_gamma_term(a, b, mean, mean_log) + (1 - p) * _log_gamma_term(a_bar, b_bar, mean, mean_log)
    log_s = torch.xlogy(p, pi) + torch.xlogy(1 - p, 1 - pi)
    entropy_rho = torch.distributions.Gamma(concentration, rate).entropy()
    entropy_s = -(torch.xlogy(p, p) + torch.xlogy(1 - p, 1 - p))
    return log_w + log_rho + log_s + entropy_rho + entropy_s


class SparseVBI:
    r"""
    The closed-form half of Module A for every layer of ``model`` under a
    :class:`~pyrocomp.priors.TurboPrior`: reads :math:`q(w)` off the guide's mean-field weight
    posteriors and rewrites the guide's :class:`~pyrocomp.guides.ClosedFormGamma` and
    :class:`~pyrocomp.guides.ClosedFormBernoulli` buffers.

    :param model: a :class:`~pyrocomp.nn.BayesianNetwork`.
    :param guide: its :class:`~pyrocomp.guides.AutoCompressionGuide` built with
        ``posterior_family=mean_field_weights``.
    :param str support_update: ``"collapsed"`` (default) or ``"factorized"`` (eqs. (27)-(29)).
    :param str second_moment: :math:`\langle w^2 \rangle` in the updates: ``"exact"``,
        :math:`\mu^2 + \sigma^2`, or ``"taylor"``, :math:`\mu^2` — eq. (34)'s first-order
        approximation :math:`E_\xi\, g(\mu + \xi\sigma) \approx g(\mu)` applied to
        :math:`g(w) = w^2`. Under :class:`~pyrocomp.infer.TaylorMeanField_ELBO` use ``"taylor"``:
        there :math:`\sigma^2` carries no information from the data (its optimum in eq. (35) is
        the prior variance :math:`1/\langle\rho\rangle`), and feeding it back makes every
        active weight's slab variance keep it active.
    """

    def __init__(self, model, guide, support_update="collapsed", second_moment="taylor"):
        if support_update not in ("collapsed", "factorized"):
            raise ValueError(f"Expected support_update in ('collapsed', 'factorized') but got {support_update!r}")
        if second_moment not in ("taylor", "exact"):
            raise ValueError(f"Expected second_moment in ('taylor', 'exact') but got {second_moment!r}")
        self.second_moment = second_moment
        self.support_update = support_update
        from pyrocomp.priors.turbo import TurboPrior

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
            second = weight.loc.pow(2) + (variance if self.second_moment == "exact" else 0)
            if self.support_update == "collapsed":
                evidence = collapsed_support_evidence(second, *hyper)
                support.logits.copy_(layer.support_prior_logits + evidence)
                concentration, rate = precision_update(torch.sigmoid(support.logits), second, *hyper)
                precision.concentration.copy_(concentration)
                precision.rate.copy_(rate)
                self._set_scale(weight, concentration, rate)
                self.evidence[path] = evidence
                continue
            for _ in range(sweeps):
                concentration, rate = precision_update(torch.sigmoid(support.logits), second, *hyper)
                evidence = support_evidence(concentration, rate, *hyper)
                support.logits.copy_(layer.support_prior_logits + evidence)
                precision.concentration.copy_(concentration)
                precision.rate.copy_(rate)
            self._set_scale(weight, concentration, rate)
            self.evidence[path] = evidence

    @staticmethod
    def _set_scale(weight, concentration, rate):
        # the exact minimiser of eq. (35) in sigma: the prior variance 1 / E[rho]
        if isinstance(weight, TaylorNormal):
            weight.scale.copy_((rate / concentration).sqrt())
