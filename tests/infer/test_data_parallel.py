"""Data-parallel fitting over two gloo processes against one process on the same global batches."""
import pyro
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from pyrocomp import AutoCompressionGuide, BayesianNetwork
from pyrocomp.infer import DataParallel, FitHook, SingleProcess, fit

STEPS_PER_EPOCH, EPOCHS, BATCH = 4, 2, 24


def _problem(kind):
    from pyrocomp.guides import taylor_posterior_family
    from pyrocomp.infer import TaylorMeanField_ELBO, TurboSchedule
    from pyrocomp.priors import GroupNormalJeffreys, LogUniformPrior, TurboPrior

    pyro.clear_param_store()
    torch.manual_seed(0)
    pyro.set_rng_seed(0)
    x = torch.randn(STEPS_PER_EPOCH * BATCH, 6, dtype=torch.float64)
    y = (x[:, 0] - x[:, 1] > 0).long() + (x[:, 2] > 1).long()
    net = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)).double()
    if kind == "turbo":  # deterministic Taylor ELBO; closed-form posteriors and belief propagation in the guide
        model = BayesianNetwork(net, TurboPrior(schedule=TurboSchedule(bp_every=3)))
        return model, AutoCompressionGuide(model, posterior_family=taylor_posterior_family), (x, y), \
            TaylorMeanField_ELBO()
    model = BayesianNetwork(net, LogUniformPrior() if kind == "vd" else GroupNormalJeffreys())
    for _, layer in model.bayesian_layers():  # whole weight draws: the same noise in one or two processes
        layer.local_reparam = False
    return model, AutoCompressionGuide(model), (x, y), None


def _state(model, guide):
    return {**{f"model.{k}": v.detach().clone() for k, v in model.state_dict().items()},
            **{f"guide.{k}": v.detach().clone() for k, v in guide.state_dict().items()}}


class _FailOnRank(FitHook):
    def __init__(self, rank):
        self.rank = rank

    def after_step(self):
        if dist.get_rank() == self.rank:
            raise RuntimeError(f"rank {self.rank} failed on purpose")


KINDS = ["vd", "group-nj", "turbo"]


def _fit_all(rank, world_size, init_file, out, kinds, fail_rank):
    """In one process group: fit every kind of problem, saving each state and history."""
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        torch.set_num_threads(1)
        for kind in kinds:
            model, guide, data, elbo = _problem(kind)
            callbacks = None if fail_rank is None else [_FailOnRank(fail_rank)]
            history = fit(model, guide, data, epochs=EPOCHS, batch_size=BATCH, lr=2e-2, elbo=elbo, progress=False,
                          parallel=DataParallel(), callbacks=callbacks)
            torch.save({"state": _state(model, guide), "history": history}, f"{out}-{kind}-{world_size}.{rank}")
    finally:
        dist.destroy_process_group()


def _load(out, kind, world_size):
    return [torch.load(f"{out}-{kind}-{world_size}.{rank}", weights_only=False) for rank in range(world_size)]


@pytest.fixture(scope="module")
def fits(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("data_parallel")
    out = str(tmp / "fit")
    _fit_all(0, 1, str(tmp / "init-1"), out, KINDS, None)  # one process, in this one
    mp.spawn(_fit_all, args=(2, str(tmp / "init-2"), out, KINDS, None), nprocs=2, join=True)
    return {kind: (_load(out, kind, 1)[0], _load(out, kind, 2)) for kind in KINDS}


@pytest.mark.parametrize("kind", KINDS)
def test_two_processes_fit_what_one_process_fits_on_the_same_global_batches(fits, kind):
    one, two = fits[kind]
    assert two[0]["state"].keys() == one["state"].keys()
    for name, value in one["state"].items():
        if value.is_floating_point():
            assert torch.equal(two[0]["state"][name], two[1]["state"][name]), name  # the ranks agree exactly
            assert torch.allclose(two[0]["state"][name], value, rtol=0, atol=1e-10), name
    # the history is the whole global batch's: losses averaged over the processes
    for a, b in zip(one["history"], two[0]["history"]):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-10) and a["kl"] == pytest.approx(b["kl"], rel=1e-10)
    # and something was fitted
    model, guide, _, _ = _problem(kind)
    start = _state(model, guide)
    assert any(not torch.allclose(start[k], v) for k, v in one["state"].items() if v.is_floating_point())


def test_a_failing_rank_fails_the_run_with_its_error_instead_of_hanging(tmp_path):
    with pytest.raises(Exception, match="rank 1 failed on purpose"):
        mp.spawn(_fit_all, args=(2, str(tmp_path / "init"), str(tmp_path / "fit"), ["vd"], 1), nprocs=2, join=True)


def test_the_global_batch_must_divide_among_the_processes_and_torch_distributed_must_be_running():
    with pytest.raises(RuntimeError, match="torch.distributed initialised"):
        DataParallel()
    assert SingleProcess().is_main and SingleProcess().world_size == 1
    parallel = DataParallel.__new__(DataParallel)  # as in a group of two processes
    parallel.rank, parallel.world_size = 1, 2
    x, y = torch.randn(10, 3), torch.zeros(10, dtype=torch.long)
    with pytest.raises(ValueError, match="batch_size divisible by the 2 processes but got 5"):
        parallel.loader((x, y), 5, seed=0)
    loader = parallel.loader((x, y), 4, seed=0)  # rank 1's half of every global batch of 4
    assert loader.batch_size == 2 and len(list(loader.sampler)) == 5
