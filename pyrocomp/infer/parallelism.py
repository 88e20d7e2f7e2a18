"""
How :func:`~pyrocomp.infer.fit` spreads its steps over processes: :class:`SingleProcess` (the default) or
:class:`DataParallel` over the processes of ``torch.distributed`` (launched by ``torchrun``).
"""
import datetime
import os

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from .evaluation import as_loader


class Parallelism:
    """
    Base class of the ways a fit runs its steps: which mini-batches a process sees, how the objective's gradients
    are combined, and which process writes. Subclass it for another strategy.
    """

    #: this process's rank and the number of processes
    rank, world_size = 0, 1

    @property
    def is_main(self):
        """Whether this process writes checkpoints, reports and progress."""
        return self.rank == 0

    def loader(self, data, batch_size, seed):
        """The mini-batches of ``data`` this process fits, ``batch_size`` examples per step in all processes."""
        raise NotImplementedError

    def start_epoch(self, loader, epoch):
        """Before every epoch (``epoch`` counts from 0)."""

    def wrap(self, objective):
        """The module whose forward the fit calls (``objective``, an :class:`~torch.nn.Module`, or a wrapper of it)."""
        return objective

    def mean(self, values):
        """The mean over the processes of a tensor of ``values`` (one collective call)."""
        return values


class SingleProcess(Parallelism):
    """One process: the whole data set, shuffled by a seeded generator."""

    def loader(self, data, batch_size, seed):
        return as_loader(data, batch_size, shuffle=True, seed=seed)


class DataParallel(Parallelism):
    r"""
    Data parallelism over the processes of ``torch.distributed``, which must be initialised
    (:func:`init_distributed` does it from the variables ``torchrun`` sets). Each of the :math:`P` processes fits
    ``batch_size / P`` examples of every step's global batch (a :class:`~torch.utils.data.DistributedSampler` over a
    permutation drawn anew each epoch), with the likelihood scaled to the whole data set's size :math:`N`, so that
    its loss :math:`\frac{N}{B/P} \sum_{i \in B_p} \ell_i + \mathrm{KL}` averaged over the processes is the
    single-process estimate :math:`\frac{N}{B} \sum_{i \in B} \ell_i + \mathrm{KL}` of the global batch.
    :class:`~torch.nn.parallel.DistributedDataParallel` averages the gradients, so every process takes the same
    Adam step and holds the same parameters. The guide's closed-form updates and belief propagation read those
    parameters alone, so each process computes them, identically; nothing else is exchanged.

    Every process draws the same noise (the same seed), so the estimate is the single-process one step for step
    where the draws are whole weights; under the local reparameterisation the examples at the same place of
    different processes' batches share their noise, an estimate that stays unbiased.

    ``fit``'s ``batch_size`` is the global batch and must divide by the number of processes.
    """

    def __init__(self):
        if not (dist.is_available() and dist.is_initialized()):
            raise RuntimeError("DataParallel needs torch.distributed initialised: launch with torchrun and call "
                               "pyrocomp.infer.init_distributed() (or torch.distributed.init_process_group) first")
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()

    def loader(self, data, batch_size, seed):
        dataset = as_loader(data, batch_size).dataset
        if batch_size % self.world_size:
            raise ValueError(f"Expected a batch_size divisible by the {self.world_size} processes but got "
                             f"{batch_size}")
        sampler = DistributedSampler(dataset, num_replicas=self.world_size, rank=self.rank, shuffle=True, seed=seed)
        return DataLoader(dataset, batch_size=batch_size // self.world_size, sampler=sampler)

    def start_epoch(self, loader, epoch):
        loader.sampler.set_epoch(epoch)

    def wrap(self, objective):
        return DistributedDataParallel(objective)  # buffers (BatchNorm statistics) follow rank 0

    def mean(self, values):
        values = values.clone()
        dist.all_reduce(values)
        return values / self.world_size


def init_distributed(backend=None, timeout_s=600):
    """
    Initialise ``torch.distributed`` from the environment ``torchrun`` sets (``RANK``, ``WORLD_SIZE``,
    ``MASTER_ADDR``, ``MASTER_PORT``): ``nccl`` when CUDA is there, else ``gloo``; with CUDA each process takes
    the device ``LOCAL_RANK``. Does nothing when already initialised.

    :returns: the device this process should fit on.
    :raises RuntimeError: outside a launcher (no ``RANK`` or ``WORLD_SIZE`` in the environment).
    """
    missing = [name for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if name not in os.environ]
    if not dist.is_initialized():
        if missing:
            raise RuntimeError(f"Expected the environment of a torchrun launch but {missing} are not set: run "
                               "torchrun --nproc_per_node N ...")
        backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    if torch.cuda.is_available() and dist.get_backend() == "nccl":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
        return device
    return torch.device("cpu")
