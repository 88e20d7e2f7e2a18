import pyro
import torch

from .fit import _adam_step, _check_fit_arguments, _fit_loop, check_guide
from .mixture_mean_field_elbo import MixtureMeanField_ELBO


class TaskLoader:
    """
    One epoch of a context's training tasks per iteration (:meth:`~pyrocomp.guides.Context.tasks`), drawn from a
    seeded generator: every mini-batch is one task.
    """

    def __init__(self, context, dataset, batch_size, seed=0):
        if not (isinstance(batch_size, int) and batch_size > 0):
            raise ValueError(f"Expected batch_size to be a positive int but got {batch_size!r}")
        if not (isinstance(dataset, torch.utils.data.TensorDataset) and len(dataset.tensors) == 2):
            raise TypeError(f"Expected an (x, y) TensorDataset but got {type(dataset).__name__}")
        self.context, self.dataset, self.batch_size = context, dataset, batch_size
        self.generator = torch.Generator().manual_seed(seed)

    def __iter__(self):
        return iter(self.context.tasks(self.dataset, self.batch_size, self.generator))

    def __len__(self):
        return max(1, len(self.dataset) // self.batch_size)


def fit_conditional(model, guide, data, *, epochs, lr=1e-3, batch_size=100, elbo=None, kl_warmup_epochs=0,
                    device=None, seed=0, progress=True, clip_norm=10.0, validate=False, callbacks=()):
    r"""
    Fit a conditional compression (paper 003, BHC): the model and its
    :class:`~pyrocomp.guides.AutoConditionalGuide`, one task of the guide's context per step, each step
    minimising the negative of 003 eq. (3) for the task's context :math:`c`,

    .. math:: -E_{q(W \mid c)} \ln p(\mathcal{D}_c \mid W)
        + \lambda_{KL}(c)\, \mathrm{KL}\big(q(W, z, s \mid c) \,\|\, p(W, z, s)\big),

    the likelihood of the batch scaled to the size of the context's data (``task.size``) and the KL weighed by
    the context's :math:`\lambda_{KL}` (and by the warm-up). The steps are those of :func:`~pyrocomp.infer.fit`
    (one Adam over every parameter, gradients clipped), as are the progress bar, NaN guard and history.

    :param data: an ``(x, y)`` :class:`~torch.utils.data.TensorDataset`, from which the context draws its tasks.
    :param int epochs: passes (``len(data) // batch_size`` tasks each).
    :param elbo: a Pyro ELBO (default :class:`~pyrocomp.infer.MixtureMeanField_ELBO`).
    :returns: per-epoch history, as :func:`~pyrocomp.infer.fit`'s.
    """
    _check_fit_arguments(epochs, lr, 1.0)
    check_guide(model, guide)
    context = getattr(guide, "context", None)
    if context is None:
        raise TypeError(f"Expected an amortised guide with a context (AutoConditionalGuide) but got "
                        f"{type(guide).__name__}")
    device = torch.device(device) if device is not None else model.pretrained_device()
    model.to(device)
    guide.to(device)
    loader = TaskLoader(context, data, batch_size, seed)
    adam_step = _adam_step(model, guide, MixtureMeanField_ELBO() if elbo is None else elbo, lr, clip_norm)
    base = model.dataset_size

    def step(task):
        warm = model.kl_scale
        model.dataset_size, model.kl_scale = int(task.size), warm * float(task.kl_weight)
        try:
            return adam_step(task.x.to(device), task.y.to(device), task.context.to(device))
        finally:
            model.dataset_size, model.kl_scale = base, warm

    with pyro.validation_enabled(validate):
        return _fit_loop(model, step, loader, epochs, lr, kl_warmup_epochs, progress, list(callbacks), 1.0,
                         getattr(guide, "refresh", None), guide)
