import torch

from pyrocomp.infer import FitHook, classification_error

from .default_criteria import default_criterion
from .layer_posterior import summarize


class PruningMonitor(FitHook):
    """
    A :class:`~pyrocomp.infer.FitHook` that reads the pruned deterministic network off the posterior
    after every epoch: the kept fraction of the weights, and its error on ``eval_data`` when given.
    Each layer is pruned by ``criterion``, else by its prior's registered default after a fit with
    ``elbo`` (:func:`~pyrocomp.pruning.default_criterion`). Its records go into the epoch's own
    history entry as ``kept_fraction`` and ``error``.

    :param model: the :class:`~pyrocomp.nn.BayesianNetwork` being fitted.
    :param guide: its guide.
    :param eval_data: held-out data (a loader, a dataset or an ``(x, y)`` pair), or ``None``.
    :param elbo: the ELBO of the fit, which picks the default criteria.
    :param criterion: one :class:`~pyrocomp.pruning.PruningCriterion` for every layer instead.
    :param device: where the pruned network is evaluated (default: the model's).
    :param int num_samples: posterior draws for the marginal moments (8: cheap, and only a monitor).

    Example::

        fit(model, guide, train, epochs=10, callbacks=[PruningMonitor(model, guide, test)])
    """

    history_key = None

    def __init__(self, model, guide, eval_data=None, *, elbo=None, criterion=None, device=None, num_samples=8):
        self.model, self.guide, self.eval_data = model, guide, eval_data
        self.elbo, self.criterion, self.device, self.num_samples = elbo, criterion, device, num_samples

    @torch.no_grad()
    def after_epoch(self, epoch):
        posteriors = summarize(self.model, self.guide, num_samples=self.num_samples)
        layers = dict(self.model.bayesian_layers())
        kept = total = 0
        weights = {}
        for path, post in posteriors.items():
            rule = self.criterion or default_criterion(layers[path].prior, self.elbo)
            mask = rule.keep(post).expand(post.weight_mean.shape)
            kept, total = kept + int(mask.sum()), total + mask.numel()
            weights[path] = post.weight_mean * mask
        device = self.device if self.device is not None else self.model.pretrained_device()
        error = None if self.eval_data is None else classification_error(self.model.to_plain(weights), self.eval_data,
                                                                          device)
        return dict(kept_fraction=kept / total, error=error)
