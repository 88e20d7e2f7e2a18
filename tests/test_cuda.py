"""The same work on a GPU: every entry point on ``cuda``, tensors where the model is, and no host syncs inside the
fit's steps. Skipped on machines without CUDA."""
import pyro
import pytest
import torch
from torch import nn

from pyrocomp import AutoCompressionGuide, BayesianNetwork
from pyrocomp.guides import taylor_posterior_family
from pyrocomp.infer import FitHook, TaylorMeanField_ELBO, fit
from pyrocomp.priors import GroupNormalJeffreys, LogUniformPrior, TurboPrior
from pyrocomp.pruning import compress

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def _problem(prior, **guide_options):
    pyro.clear_param_store()
    torch.manual_seed(0)
    x = torch.randn(120, 6, device="cuda")
    y = (x[:, 0] > 0).long()
    model = BayesianNetwork(nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 2)).cuda(), prior)
    return model, AutoCompressionGuide(model, **guide_options), (x, y)


@pytest.mark.parametrize("kind", ["vd", "group-nj", "turbo"])
def test_a_fit_on_cuda_stays_there_and_syncs_only_between_epochs(kind):
    if kind == "turbo":
        model, guide, data = _problem(TurboPrior(), posterior_family=taylor_posterior_family)
        elbo = TaylorMeanField_ELBO()
    else:
        model, guide, data = _problem(LogUniformPrior() if kind == "vd" else GroupNormalJeffreys())
        elbo = None
    fit(model, guide, data, epochs=1, batch_size=40, elbo=elbo, progress=False)  # warm-up

    class NoSyncWithinAnEpoch(FitHook):  # a host sync raises from the first step's end to the last step's
        steps = 0

        def after_step(self):
            self.steps += 1
            torch.cuda.set_sync_debug_mode("default" if self.steps % 3 == 0 else "error")

    try:
        history = fit(model, guide, data, epochs=2, batch_size=40, elbo=elbo, progress=False,
                      callbacks=[NoSyncWithinAnEpoch()])
    except RuntimeError as error:
        pytest.fail(f"a host sync inside an epoch: {error}")
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert len(history) == 2
    assert all(p.device.type == "cuda" for p in [*model.parameters(), *guide.parameters()])
    result = compress(model, guide, data[0][:8])
    assert result.network(data[0][:8]).device.type == "cuda"


def test_diagnostics_and_export_read_a_model_on_cuda(tmp_path):
    from pyrocomp.diagnostics import to_inference_data
    from pyrocomp.pruning import export_network

    model, guide, (x, y) = _problem(GroupNormalJeffreys())
    fit(model, guide, (x, y), epochs=2, batch_size=40, progress=False)
    idata = to_inference_data(model, guide, (x[:30], y[:30]), num_samples=10, num_chains=2)
    assert idata.log_likelihood["obs"].shape == (2, 10, 30)
    result = compress(model, guide, x[:8])
    for fmt in ("pt", "torchscript"):
        export_network(result.network, tmp_path / f"net.{fmt}", format=fmt, example_input=x[:8])
        assert (tmp_path / f"net.{fmt}").stat().st_size > 0


def test_the_cli_compresses_on_cuda(tmp_path):
    from pyrocomp.cli import main

    assert main(["compress", "--model", "lenet300", "--prior", "group-nj", "--dataset", "digits", "--device", "cuda",
                 "--pretrain-epochs", "1", "--epochs", "1", "--quiet", "--out", str(tmp_path / "run")]) == 0
