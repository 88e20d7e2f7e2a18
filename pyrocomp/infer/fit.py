import math
import sys
import time

import pyro
import torch
from tqdm.auto import tqdm

from .checkpoint import Checkpoint
from .data_term_messenger import DataTermMessenger
from .evaluation import as_loader
from .mixture_mean_field_elbo import MixtureMeanField_ELBO
from .parallelism import SingleProcess
from .prior_defaults import fit_hooks


def kl_warmup(epoch, warmup_epochs, kl_weight=1.0):
    r"""KL weight :math:`\beta \min(1, (e + 1) / E_{warm})` at (0-based) ``epoch``, :math:`\beta` = ``kl_weight``."""
    return kl_weight * (1.0 if warmup_epochs <= 0 else min(1.0, (epoch + 1) / warmup_epochs))


def fit(model, guide, data, *, epochs, lr=1e-3, batch_size=100, elbo=None, kl_warmup_epochs=0, kl_weight=1.0,
        device=None, seed=0, progress=True, clip_norm=10.0, validate=False, callbacks=None, checkpoint=None,
        resume=False, parallel=None):
    r"""
    Fit a :class:`~pyrocomp.nn.BayesianNetwork` and its guide by stochastic variational
    inference: each step minimises ``elbo.differentiable_loss`` with one (foreach) Adam over the
    parameters of model and guide, gradients clipped to norm ``clip_norm`` — the same objective
    as ``pyro.infer.SVI`` with ``pyro.optim.ClippedAdam``, without one optimiser per tensor.

    The likelihood is scaled to the data-set size (``model.dataset_size``, set to
    ``len(data)`` when unset); the KL weight rises linearly to ``kl_weight`` over
    ``kl_warmup_epochs`` through ``model.kl_scale``. Stops with :class:`FloatingPointError` on a
    non-finite loss.

    :param data: a loader, a dataset or an ``(x, y)`` pair of tensors.
    :param int epochs: passes over the data.
    :param float lr: Adam learning rate (gradients clipped at ``clip_norm``).
    :param float kl_weight: :math:`\beta`, the weight of the KL (prior) terms after warm-up. The
        optimum of :math:`\beta\,\mathrm{KL}(q \,\|\, p) - E_q \ln p(\mathcal{D} \mid w)` is the
        tempered posterior :math:`\propto p(w)\, p(\mathcal{D} \mid w)^{1/\beta}`: the prior weighs
        as if the data set had :math:`N / \beta` examples, so :math:`\beta > 1` compresses more.
        Closed-form hooks (:class:`~pyrocomp.infer.TurboVBI`, :class:`~pyrocomp.infer.ConjugatePrecision`)
        need no change: their factors appear in the KL alone, whose maximiser :math:`\beta` does not move.
    :param elbo: a Pyro ELBO (default :class:`~pyrocomp.infer.MixtureMeanField_ELBO`, which is
        :class:`~pyro.infer.TraceMeanField_ELBO` for models without per-component mixture scales).
    :param device: ``"cpu"``, ``"cuda"``, ... (default: where the model is).
    :param bool validate: run with Pyro's argument validation (about a quarter slower; useful
        while developing a prior).

    The guide's own hooks (closed-form updates, Turbo-VBI, :class:`~pyrocomp.guides.GuideHook`) run inside
    the guide at every step; after each epoch ``fit`` calls ``guide.refresh()`` so that what is due at the
    epoch's last step runs there, and their records join the epoch's history under the hook's class name.

    :param callbacks: :class:`~pyrocomp.infer.FitHook` instances (e.g. :class:`~pyrocomp.infer.TurboVBI`,
        or :class:`~pyrocomp.pruning.PruningMonitor` for the pruned network's error every epoch); by
        default those registered for the model's priors (:func:`~pyrocomp.infer.register_fit_hook`).
    :param checkpoint: a :class:`~pyrocomp.infer.Checkpoint` or a path (a checkpoint after every epoch).
    :param bool resume: go on from ``checkpoint`` (the same ``epochs`` and arguments); the result is
        bit-identical to an uninterrupted fit.
    :param parallel: a :class:`~pyrocomp.infer.Parallelism`: :class:`~pyrocomp.infer.SingleProcess` (default) or
        :class:`~pyrocomp.infer.DataParallel` over the processes of ``torch.distributed`` (launched by ``torchrun``;
        ``batch_size`` is then the global batch, and only the main process shows progress and writes the
        checkpoint).
    :returns: per-epoch history: list of dicts with ``epoch, loss`` (mean negative ELBO of the
        epoch's steps, at full-data scale), its two terms ``nll`` (the data term
        :math:`-E_q \ln p(\mathcal D \mid w)`) and ``kl`` (the KL before weighing, so that
        ``loss = nll + kl_scale * kl`` step by step, read by :class:`~pyrocomp.infer.DataTermMessenger`),
        ``kl_scale, lr, seconds`` and the hooks' records.
    """
    _check_fit_arguments(epochs, lr, kl_weight)
    check_guide(model, guide)
    device = torch.device(device) if device is not None else model.pretrained_device()
    model.to(device)
    guide.to(device)
    parallel = SingleProcess() if parallel is None else parallel
    loader = parallel.loader(data, batch_size, seed)
    if model.dataset_size is None:
        model.dataset_size = len(loader.dataset)
    elbo = MixtureMeanField_ELBO() if elbo is None else elbo
    callbacks = fit_hooks(model, guide) if callbacks is None else list(callbacks)
    adam_step = _adam_step(model, guide, elbo, lr, clip_norm, parallel)

    def step(batch):
        x, y = batch
        return adam_step(x.to(device), y.to(device))

    with pyro.validation_enabled(validate):
        return _checkpointed(model, guide, adam_step.optimizer, loader, epochs, checkpoint, resume,
                             lambda start, history, saved: _fit_loop(
                                 model, step, loader, epochs, lr, kl_warmup_epochs, progress and parallel.is_main,
                                 callbacks, float(kl_weight), getattr(guide, "refresh", None), guide, start, history,
                                 saved, parallel),
                             parallel.is_main)


def _checkpointed(model, guide, optimizer, loader, epochs, checkpoint, resume, run, writes=True):
    if checkpoint is not None and not isinstance(checkpoint, Checkpoint):
        checkpoint = Checkpoint(checkpoint)
    if resume and checkpoint is None:
        raise ValueError("Expected a checkpoint to resume from (fit(..., checkpoint=PATH, resume=True))")
    generator = getattr(loader, "generator", None)
    start, history = checkpoint.restore(model, guide, optimizer, generator) if resume else (0, [])

    def saved(epoch, history):
        if writes and checkpoint is not None and checkpoint.due(epoch, epochs):
            checkpoint.save(epoch, model, guide, optimizer, history, generator)

    try:
        return run(start, history, saved)
    except KeyboardInterrupt:
        if checkpoint is not None and checkpoint.path.exists():
            print(f"\ninterrupted; the last checkpoint is {checkpoint.path}: fit(..., resume=True) goes on from it",
                  file=sys.stderr)
        raise


def check_guide(model, guide):
    """
    Refuse a guide built for another model: a pyrocomp guide's model must have the same Bayesian layers, with the
    same weight shapes (its own model, or a copy of it).

    :raises ValueError: naming the first difference.
    """
    other = getattr(guide, "model", None)
    if other is None or other is model or not hasattr(other, "bayesian_layers"):
        return
    mine = {layer.weight_site: tuple(layer.weight_shape) for _, layer in model.bayesian_layers()}
    theirs = {layer.weight_site: tuple(layer.weight_shape) for _, layer in other.bayesian_layers()}
    if mine != theirs:
        diff = sorted(set(mine.items()) ^ set(theirs.items()))[:3]
        raise ValueError(f"The guide was built for another model: its weight sites and shapes differ at {diff}")


def _check_fit_arguments(epochs, lr, kl_weight):
    if not (isinstance(epochs, int) and epochs > 0):
        raise ValueError(f"Expected epochs to be a positive int but got {epochs!r}")
    if not (lr > 0):
        raise ValueError(f"Expected lr > 0 but got {lr!r}")
    if isinstance(kl_weight, bool) or not isinstance(kl_weight, (int, float)) or not 0 < kl_weight < math.inf:
        raise ValueError(f"Expected kl_weight to be a positive finite number but got {kl_weight!r}")


class _Objective(torch.nn.Module):
    """The negative ELBO of a batch and its data term, as a module (for the wrappers of data parallelism)."""

    def __init__(self, model, guide, elbo):
        super().__init__()
        self.model, self.guide, self.elbo = model, guide, elbo

    def forward(self, *args):
        with DataTermMessenger() as data_term:
            loss = self.elbo.differentiable_loss(self.model, self.guide, *args)
        return loss, data_term.nll.to(loss.device) / getattr(self.elbo, "num_particles", 1)


def _adam_step(model, guide, elbo, lr, clip_norm, parallel=None):
    # one Adam over every parameter of model and guide (Pyro creates none lazily: the guide is set up eagerly)
    objective = _Objective(model, guide, elbo)
    params = [p for p in objective.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=lr)
    forward = objective if parallel is None else parallel.wrap(objective)

    def step(*args):
        optimizer.zero_grad()
        loss, nll = forward(*args)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, clip_norm)
        optimizer.step()
        # the loss and its split as nll + kl_scale * kl, kept on the device until the epoch ends
        loss = loss.detach()
        kl = (loss - nll) / model.kl_scale if model.kl_scale > 0 else torch.full_like(nll, math.nan)
        return torch.stack([loss, nll, kl])

    step.optimizer = optimizer
    return step


def _call(callbacks, method, *args):
    records = {}
    for hook in callbacks:
        fn = getattr(hook, method, None)
        if fn is not None:
            record = fn(*args)
            if isinstance(record, dict):
                key = getattr(hook, "history_key", type(hook).__name__)
                records.update(record if key is None else {key: record})
    return records


def _non_finite(modules):
    """Names of the parameters and buffers of ``modules`` (``{prefix: module}``) holding NaN or infinity (one host
    sync per device)."""
    named = [(f"{prefix}.{name}", value) for prefix, module in modules.items()
             for name, value in [*module.named_parameters(), *module.named_buffers()] if value.is_floating_point()]
    finite = {}
    for device in {value.device for _, value in named}:
        mine = [(name, value) for name, value in named if value.device == device]
        finite.update(zip([name for name, _ in mine], torch.stack([torch.isfinite(v).all() for _, v in mine]).tolist()))
    return [name for name, _ in named if not finite[name]]


def _non_finite_cause(modules, lr):
    bad = _non_finite(modules)
    if bad:
        return (f"the steps left non-finite values in {bad[:5]}: lower the learning rate (now {lr}) or check the "
                "prior's hyper-parameters")
    return (f"every parameter is finite, so a term of the ELBO overflowed at these values: check the prior's "
            f"hyper-parameters and the data, or lower the learning rate (now {lr})")


def _fit_loop(model, step_fn, loader, epochs, lr, kl_warmup_epochs, progress, callbacks, kl_weight, refresh=None,
              guide=None, start=0, history=(), after_epoch=None, parallel=None):
    modules = {"model": model} if guide is None else {"model": model, "guide": guide}
    bad = _non_finite(modules)
    if bad:
        raise ValueError(f"Expected finite starting values but {bad[:5]} hold NaN or infinity (the initial weights?)")
    history = list(history)
    _call(callbacks, "on_fit_start")
    bar = tqdm(range(start, epochs), desc="fit", disable=not progress, leave=False, initial=start, total=epochs)
    model.train()
    parallel = SingleProcess() if parallel is None else parallel
    for epoch in bar:
        model.kl_scale = kl_warmup(epoch, kl_warmup_epochs, kl_weight)
        parallel.start_epoch(loader, epoch)
        start, count, terms, first_bad, bad_input = time.perf_counter(), 0, 0.0, None, None
        for step, batch in enumerate(loader):
            # the first batch with a non-finite input, remembered where the batch is (no host sync)
            finite = torch.isfinite(batch[0]).all()
            bad_input = torch.where(finite, -1, step) if bad_input is None else \
                torch.where((bad_input < 0) & ~finite, step, bad_input)
            step_terms = step_fn(batch).double()  # (loss, nll, kl) on the device: no host sync within the epoch
            terms = terms + step_terms
            # the first non-finite loss of the epoch and its step, remembered without a sync
            bad = ~torch.isfinite(step_terms[:1])
            here = torch.cat([step_terms.new_tensor([step]), step_terms[:1]])
            first_bad = torch.where(bad, here, torch.full_like(here, math.nan)) if first_bad is None else \
                torch.where(bad & first_bad[:1].isnan(), here, first_bad)
            count += 1
            _call(callbacks, "after_step")
        # one sync per epoch: the epoch's means, and where an input or the ELBO first went non-finite
        if int(bad_input) >= 0:
            raise ValueError(f"Expected finite inputs but batch {int(bad_input)} of epoch {epoch} has NaN or inf")
        loss, nll, kl, bad_step, bad_loss = torch.cat([terms / count, first_bad]).tolist()
        if not math.isnan(bad_step):
            raise FloatingPointError(f"The ELBO became {bad_loss} at epoch {epoch}, step {int(bad_step)}: "
                                     + _non_finite_cause(modules, lr))
        seconds = time.perf_counter() - start
        # work the guide's hooks owe the epoch's last step (Turbo-VBI's belief propagation), then the fit's hooks
        records = refresh() if refresh is not None else {}
        records.update(_call(callbacks, "after_epoch", epoch))
        bad = _non_finite(modules)
        if bad:
            raise FloatingPointError(f"After epoch {epoch} the closed-form updates and hooks left non-finite values "
                                     f"in {bad}")
        if parallel.world_size > 1:  # the epoch's means over every process: one collective per epoch
            loss, nll, kl = parallel.mean(terms / count).tolist()
        history.append(dict(epoch=epoch + 1, loss=loss, nll=nll, kl=kl if math.isfinite(kl) else None,
                            kl_scale=model.kl_scale, lr=lr, seconds=seconds, **records))
        if after_epoch is not None:
            after_epoch(epoch, history)
        bar.set_postfix(loss=f"{loss:.3g}", **{label: f"{100 * records[key]:.2f}%"
                                                          for key, label in (("kept_fraction", "kept"), ("error", "error"))
                                                          if records.get(key) is not None})
    model.kl_scale = 1.0
    return history
