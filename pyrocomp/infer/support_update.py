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
from abc import ABC, abstractmethod

import torch


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


class SupportUpdate(ABC):
    r"""
    Base class of the closed-form :math:`q(s), q(\rho)` update of one layer in
    :class:`~pyrocomp.infer.SparseVBI`: a small strategy object, so that a new rule is a subclass.
    """

    @abstractmethod
    def __call__(self, second_moment, prior_logits, logits, hyper, sweeps):
        r"""
        :param second_moment: :math:`\langle w^2 \rangle` per weight.
        :param prior_logits: log-odds of the support prior :math:`\pi` (Module B's message).
        :param logits: log-odds of the current :math:`q(s)`.
        :param tuple hyper: :math:`(a, b, \bar a, \bar b)`.
        :param int sweeps: rounds of the two coordinate updates, where the rule iterates.
        :returns: ``(logits, concentration, rate, evidence)``: the new :math:`q(s)` and :math:`q(\rho)`, and
            the log-odds of Module A's extrinsic message (eq. (17)).
        """
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"


class CollapsedSupportUpdate(SupportUpdate):
    r"""The optimum of the structured family :math:`q(s)\,q(\rho \mid s)`, :math:`\rho` integrated out
    (:func:`collapsed_support_evidence`), then :math:`q(\rho)` by eqs. (25)-(26): one step, no iteration."""

    def __call__(self, second_moment, prior_logits, logits, hyper, sweeps):
        evidence = collapsed_support_evidence(second_moment, *hyper)
        logits = prior_logits + evidence
        concentration, rate = precision_update(torch.sigmoid(logits), second_moment, *hyper)
        return logits, concentration, rate, evidence


class FactorizedSupportUpdate(SupportUpdate):
    r"""Paper 001's factorised updates, eqs. (24)-(29): ``sweeps`` rounds of :math:`q(\rho)` then
    :math:`q(s)`, starting from the current :math:`q(s)`."""

    def __call__(self, second_moment, prior_logits, logits, hyper, sweeps):
        for _ in range(sweeps):
            concentration, rate = precision_update(torch.sigmoid(logits), second_moment, *hyper)
            evidence = support_evidence(concentration, rate, *hyper)
            logits = prior_logits + evidence
        return logits, concentration, rate, evidence


#: command-line names of the rules
SUPPORT_UPDATES = {"collapsed": CollapsedSupportUpdate, "factorized": FactorizedSupportUpdate}
