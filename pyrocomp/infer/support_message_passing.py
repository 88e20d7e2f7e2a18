import time

import torch

from pyrocomp.mrf import SupportCanvas


class SupportMessagePassing:
    r"""
    Module B of Turbo-VBI (paper 001 §IV-C) as a guide-side hook: sum-product loopy belief
    propagation on the support priors :math:`p(\mathbf{s})` of every
    :class:`~pyrocomp.priors.TurboPrior` layer at once (one
    :class:`~pyrocomp.mrf.SupportCanvas`, log domain). Called with Module A's extrinsic
    messages :math:`v_{\eta \to s}` (eq. (17)), it computes the MRF's extrinsic messages
    :math:`v_{h \to s}` (eqs. (16), (36)-(37)) and writes them into each layer's
    ``support_prior_logits``, the prior :math:`\pi` of Module A's next round. Messages are
    kept between calls (warm start).

    :param model: a :class:`~pyrocomp.nn.BayesianNetwork`.
    :param float damping: log-domain damping of the messages.
    :param int max_iterations: sweeps per call.
    :param float tolerance: stop when no message moves by more than this (log-odds).
    """

    def __init__(self, model, damping=0.0, max_iterations=100, tolerance=1e-4):
        from pyrocomp.priors.turbo import TurboPrior

        self.layers = {path: layer for path, layer in model.bayesian_layers() if isinstance(layer.prior, TurboPrior)}
        if not self.layers:
            raise ValueError("Expected at least one layer with a TurboPrior")
        self.options = dict(damping=damping, max_iterations=max_iterations, tolerance=tolerance)
        self._canvas = None

    def _canvas_for(self, like):
        if self._canvas is None or self._canvas.prior_unary.device != like.device or self._canvas.prior_unary.dtype != like.dtype:
            entries = [(path, layer.weight_shape, layer.prior.support) for path, layer in self.layers.items()]
            self._canvas = SupportCanvas(entries, like)
        return self._canvas

    def state_dict(self):
        """The messages that warm-start the next run (``None`` before the first)."""
        return {"messages": None if self._canvas is None or self._canvas.messages is None
                else list(self._canvas.messages)}

    def load_state_dict(self, state):
        if state["messages"] is not None:
            like = next(iter(self.layers.values())).support_prior_logits
            self._canvas_for(like).messages = tuple(m.to(like) for m in state["messages"])

    @torch.no_grad()
    def __call__(self, evidence):
        r"""
        :param dict evidence: ``{layer path: log-odds of v_{η→s}}``.
        :returns: dict with ``change`` (mean and ``change_max`` largest :math:`|\Delta\pi|`),
            ``iterations``, ``converged`` and ``seconds``.
        """
        start = time.perf_counter()
        like = next(iter(self.layers.values())).support_prior_logits
        messages, result = self._canvas_for(like).extrinsic(evidence, **self.options)
        sums, maxima, count = [], [], 0
        for path, layer in self.layers.items():
            new = messages[path].to(like.dtype)
            delta = (torch.sigmoid(new) - torch.sigmoid(layer.support_prior_logits)).abs()
            sums.append(delta.sum())
            maxima.append(delta.max())
            count += delta.numel()
            layer.support_prior_logits.copy_(new)
        total, largest = torch.stack([torch.stack(sums).sum(), torch.stack(maxima).max()]).tolist()  # one sync
        return dict(change=total / count, change_max=largest, iterations=result.iterations,
                    converged=result.converged, seconds=time.perf_counter() - start)
