"""One compression run: fit a prior to a pretrained network, prune, fine-tune, evaluate."""
import time
from dataclasses import dataclass, field

import pyro
import torch

from pyrocomp.guides import AutoCompressionGuide, posterior_family
from pyrocomp.infer import ConjugatePrecision, SecondMoment, classification_error, default_elbo, fit, fit_hooks, train
from pyrocomp.nn import BayesianNetwork
from pyrocomp.pruning import PruningMonitor, compress, default_criterion
from pyrocomp.pruning import calibrate as calibrate_threshold


@dataclass
class CompressionRun:
    """What :func:`compress_network` returns: the :class:`~pyrocomp.pruning.Compression`, the
    fitted model and guide, the per-epoch history, timings in seconds and the
    :class:`~pyrocomp.pruning.Calibration` when the threshold was chosen on held-out data."""

    result: object
    model: object
    guide: object
    history: list
    timing: dict = field(default_factory=dict)
    calibration: object = None


def compress_network(net, prior, data, *, epochs, lr=1e-3, batch_size=100, elbo=None, kl_warmup_epochs=0,
                     kl_weight=1.0, finetune_epochs=0, finetune_lr=1e-4, device="cpu", seed=0, progress=True, criterion=None,
                     calibrate=None, calibration_reference=None, second_moment=None, checkpoint=None, resume=False,
                     parallel=None):
    """
    Fit ``prior`` to the pretrained ``net`` on ``data.train`` with SVI, read the pruned network
    off the posterior, fine-tune its surviving weights for ``finetune_epochs`` and set the
    report's test error on ``data.test``. ``net`` itself is not changed. With
    :class:`~pyrocomp.infer.TaylorMeanField_ELBO` the guide is
    :func:`~pyrocomp.guides.taylor_posterior_family`'s (variances and conjugate Gamma precisions
    in closed form, through :class:`~pyrocomp.infer.ConjugatePrecision`). ``elbo=None`` takes the
    prior's registered default (:func:`~pyrocomp.infer.default_elbo`:
    :class:`~pyrocomp.infer.TaylorMeanField_ELBO` for the Turbo-VBI prior), else
    :func:`~pyrocomp.infer.fit`'s. The priors' fit hooks (:func:`~pyrocomp.infer.fit_hooks`) run
    during the fit, and a :class:`~pyrocomp.pruning.PruningMonitor` records the pruned network's
    test error every epoch.

    :param data: a :class:`~pyrocomp.data.DataSplit`.
    :param float kl_weight: the weight of the KL terms, see :func:`~pyrocomp.infer.fit`.
    :param criterion: the :class:`~pyrocomp.pruning.PruningCriterion`; default: each layer's
        :func:`~pyrocomp.pruning.default_criterion` after a fit with ``elbo``.
    :param float calibrate: when given, the criterion's threshold is chosen on ``data.validation``
        (see :func:`~pyrocomp.data.hold_out`) by :func:`~pyrocomp.pruning.calibrate`: the
        sparsest of :meth:`~pyrocomp.pruning.PruningCriterion.sweep` whose held-out error, after the
        ``finetune_epochs`` of fine-tuning, is within ``calibrate`` (a fraction) of the unpruned
        network's. The run's ``calibration`` holds the table.
    :param float calibration_reference: the held-out error ``calibrate`` is measured from instead
        (e.g. a dense network's, to compare several priors at one error).
    :param SecondMoment second_moment: for Taylor fits, the ⟨w²⟩ of the closed-form
        precision updates (:class:`~pyrocomp.infer.ConjugatePrecision`; default
        :class:`~pyrocomp.infer.FirstOrderSecondMoment`, paper 001 eq. 34).
    :param checkpoint: a :class:`~pyrocomp.infer.Checkpoint` (or path) of the fit; ``resume`` goes on from it
        (see :func:`~pyrocomp.infer.fit`).
    :param parallel: how the fit spreads over processes (:class:`~pyrocomp.infer.DataParallel`; default one
        process). Pre-training, pruning and fine-tuning run in every process alike.
    :raises ValueError: for ``calibrate`` without a validation part.
    :rtype: CompressionRun
    """
    if calibrate is not None and data.validation is None:
        raise ValueError(f"calibrate={calibrate} needs held-out data, but data set {data.name!r} has no validation "
                         "part; see pyrocomp.data.hold_out")
    device = torch.device(device)
    pyro.set_rng_seed(seed)
    elbo = default_elbo(prior) if elbo is None else elbo
    model = BayesianNetwork(net.to(device), prior, dataset_size=len(data.train))
    # the ELBO's own families (the Taylor ELBO's: paper 001's q(w), variances and conjugate precisions in
    # closed form), else the registry's
    guide = AutoCompressionGuide(model, posterior_family=getattr(elbo, "posterior_family", posterior_family))
    if second_moment is not None and not isinstance(second_moment, SecondMoment):  # also without a conjugate hook
        raise TypeError(f"Expected second_moment to be a SecondMoment but got {second_moment!r}")
    conjugate = guide.hook(ConjugatePrecision)
    if conjugate is not None and second_moment is not None:  # the conjugate updates' second-moment rule
        conjugate.second_moment = second_moment
    callbacks = fit_hooks(model, guide)
    callbacks.append(PruningMonitor(model, guide, data.test, elbo=elbo, device=device))
    start = time.perf_counter()
    history = fit(model, guide, data.train, epochs=epochs, lr=lr, batch_size=batch_size, elbo=elbo,
                  kl_warmup_epochs=kl_warmup_epochs, kl_weight=kl_weight, device=device, seed=seed, progress=progress,
                  callbacks=callbacks, checkpoint=checkpoint, resume=resume, parallel=parallel)
    fit_s = time.perf_counter() - start
    example = data.train.tensors[0][:256].to(device)

    def finetune(network, progress=False):
        train(network, data.train, epochs=finetune_epochs, lr=finetune_lr, batch_size=batch_size, device=device,
              seed=seed, keep_zeros=True, progress=progress, desc="finetune")

    calibration = None
    if calibrate is not None:
        if criterion is None:
            criterion = default_criterion(prior, elbo)
        calibration = calibrate_threshold(model, guide, data.validation, example, criterion.sweep(),
                                          tolerance=calibrate, reference_error=calibration_reference,
                                          finetune=finetune if finetune_epochs else None)
        result = calibration.compression
    else:
        result = compress(model, guide, example, criterion=criterion, elbo=elbo)
    result.report.error_before_finetune = classification_error(result.network, data.test, device)
    if finetune_epochs:
        finetune(result.network, progress=progress)
    result.report.error = classification_error(result.network, data.test, device)
    timing = {"fit_s": fit_s, "s_per_epoch": fit_s / epochs, "s_per_epoch_svi_only": sum(h["seconds"] for h in history) / epochs}
    return CompressionRun(result, model, guide, history, timing, calibration)
