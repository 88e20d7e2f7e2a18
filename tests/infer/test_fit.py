import copy

import pyro
import pytest
import torch
from torch import nn

from pyrocomp import AutoCompressionGuide, BayesianNetwork
from pyrocomp.infer import FitHook, classification_error, fit, kl_warmup
from pyrocomp.priors import LogUniformPrior
from pyrocomp.pruning import PruningMonitor


def _setup():
    torch.manual_seed(0)
    x, y = torch.randn(60, 4), torch.randint(0, 3, (60,))
    model = BayesianNetwork(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)), LogUniformPrior())
    return model, AutoCompressionGuide(model), x, y


def test_history_warmup_and_dataset_size():
    model, guide, x, y = _setup()
    history = fit(model, guide, (x, y), epochs=3, batch_size=20, kl_warmup_epochs=3, progress=False,
                  callbacks=[PruningMonitor(model, guide, (x, y))])
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert [h["kl_scale"] for h in history] == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert model.dataset_size == 60 and model.kl_scale == 1.0
    assert all(0 <= h["kept_fraction"] <= 1 and 0 <= h["error"] <= 1 and h["loss"] > 0 for h in history)


def test_kl_warmup_schedule():
    assert [kl_warmup(e, 4) for e in range(5)] == [0.25, 0.5, 0.75, 1.0, 1.0]
    assert kl_warmup(0, 0) == 1.0
    assert [kl_warmup(e, 2, kl_weight=4.0) for e in range(3)] == [2.0, 4.0, 4.0]


@pytest.mark.parametrize("kl_weight", [0.0, -1.0, float("inf"), float("nan"), "2", True])
def test_bad_kl_weight_is_refused(kl_weight):
    model, guide, x, y = _setup()
    with pytest.raises(ValueError, match="kl_weight"):
        fit(model, guide, (x, y), epochs=1, kl_weight=kl_weight, progress=False)


@pytest.mark.filterwarnings("ignore:Encountered NaN")  # the inputs are checked when the epoch ends, without a sync
def test_non_finite_inputs_are_refused():
    model, guide, x, y = _setup()
    x[5, 0] = float("nan")
    with pytest.raises(ValueError, match="batch 0 of epoch 0 has NaN"):
        fit(model, guide, (x, y), epochs=1, batch_size=60, progress=False)
    model, guide, x, y = _setup()
    x[45, 1], x[59, 2] = float("inf"), float("nan")  # batch 2 of an unshuffled loader, after two clean ones
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=20)
    with pytest.raises(ValueError, match="batch 2 of epoch 0 has NaN or inf"):
        fit(model, guide, loader, epochs=1, progress=False)


def test_non_finite_starting_values_are_named_before_the_fit():
    model, guide, x, y = _setup()
    with torch.no_grad():
        guide.posteriors["0/weight"].loc[0, 0] = float("inf")
    with pytest.raises(ValueError, match=r"guide.posteriors.0/weight.loc_unconstrained.*hold NaN or infinity"):
        fit(model, guide, (x, y), epochs=1, batch_size=60, progress=False)


@pytest.mark.filterwarnings("ignore:Encountered NaN")
def test_a_diverged_fit_names_the_values_that_went_non_finite():
    model, guide, x, y = _setup()
    with pyro.validation_enabled(False), pytest.raises(FloatingPointError, match=r"epoch \d+, step \d+: the steps "
                                                                                   r"left non-finite values in \['"):
        fit(model, guide, (x, y), epochs=20, batch_size=60, lr=1e12, progress=False)


def test_values_a_hook_leaves_non_finite_are_caught_after_the_epoch():
    from pyrocomp.infer import FitHook

    class Breaks(FitHook):
        def after_epoch(self, epoch):
            with torch.no_grad():
                guide.posteriors["0/weight"].log_scale[0, 0] = float("nan")

    model, guide, x, y = _setup()
    with pytest.raises(FloatingPointError, match=r"After epoch 0 .*guide.posteriors.0/weight.log_scale_unconstrained"):
        fit(model, guide, (x, y), epochs=2, batch_size=60, progress=False, callbacks=[Breaks()])


@pytest.mark.parametrize("kwargs,match", [
    (dict(epochs=0), "epochs"), (dict(epochs=1, lr=-1.0), "lr"), (dict(epochs=1, batch_size=0), "batch_size"),
])
def test_bad_arguments(kwargs, match):
    model, guide, x, y = _setup()
    with pytest.raises(ValueError, match=match):
        fit(model, guide, (x, y), progress=False, **kwargs)


def test_bad_data():
    model, guide, x, y = _setup()
    with pytest.raises(ValueError, match="equal length"):
        fit(model, guide, (x, y[:3]), epochs=1, progress=False)
    with pytest.raises(TypeError, match="DataLoader"):
        fit(model, guide, [1, 2, 3], epochs=1, progress=False)


def test_classification_error_oracle():
    net = nn.Linear(2, 2)
    with torch.no_grad():
        net.weight.copy_(torch.eye(2))
        net.bias.zero_()
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0], [0.0, 3.0]])
    assert classification_error(net, (x, torch.tensor([0, 1, 1, 1]))) == 0.25


def test_a_guide_built_for_another_model_is_refused():
    x, y = torch.randn(20, 4), torch.randint(0, 2, (20,))
    model = BayesianNetwork(nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)), LogUniformPrior())
    other = BayesianNetwork(nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 2)), LogUniformPrior())
    with pytest.raises(ValueError, match="built for another model"):
        fit(model, AutoCompressionGuide(other), (x, y), epochs=1, progress=False)
    fit(copy.deepcopy(model), AutoCompressionGuide(model), (x, y), epochs=1, progress=False)  # a copy is the same model


def _resumable(kind, seed=5):
    from pyrocomp.guides import taylor_posterior_family
    from pyrocomp.infer import TurboSchedule
    from pyrocomp.priors import GroupNormalJeffreys, TurboPrior

    pyro.clear_param_store()
    torch.manual_seed(seed)
    x, y = torch.randn(90, 6), torch.randint(0, 3, (90,))
    net = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    if kind == "turbo":  # closed-form posteriors and belief propagation in the guide's hook, every 3 steps
        model = BayesianNetwork(net, TurboPrior(schedule=TurboSchedule(bp_every=3)))
        return model, AutoCompressionGuide(model, posterior_family=taylor_posterior_family), (x, y)
    model = BayesianNetwork(net, GroupNormalJeffreys())
    return model, AutoCompressionGuide(model), (x, y)


def _state(model, guide):
    with torch.no_grad():
        return {**{f"model.{k}": v.clone() for k, v in model.state_dict().items()},
                **{f"guide.{k}": v.clone() for k, v in guide.state_dict().items()}}


@pytest.mark.parametrize("kind", ["group-nj", "turbo"])
def test_a_fit_interrupted_and_resumed_is_bit_identical_to_an_uninterrupted_one(tmp_path, kind):
    from pyrocomp.infer import TaylorMeanField_ELBO

    kwargs = dict(epochs=5, batch_size=20, lr=1e-2, kl_warmup_epochs=3, progress=False, callbacks=[])
    if kind == "turbo":
        kwargs["elbo"] = TaylorMeanField_ELBO()
    model, guide, data = _resumable(kind)
    whole = fit(model, guide, data, **kwargs)
    expected = _state(model, guide)

    class Interrupt(FitHook):  # Ctrl-C after the second epoch's checkpoint
        def after_epoch(self, epoch):
            if epoch == 2:
                raise KeyboardInterrupt

    model, guide, data = _resumable(kind)
    with pytest.raises(KeyboardInterrupt):
        fit(model, guide, data, checkpoint=tmp_path / "fit.ckpt", **{**kwargs, "callbacks": [Interrupt()]})
    assert torch.load(tmp_path / "fit.ckpt", weights_only=True)["epoch"] == 2
    torch.manual_seed(123)  # whatever happened since, the checkpoint's random states take over
    model, guide, _ = _resumable(kind)
    resumed = fit(model, guide, data, checkpoint=tmp_path / "fit.ckpt", resume=True, **kwargs)
    got = _state(model, guide)
    assert got.keys() == expected.keys()
    assert max((got[k] - expected[k]).abs().max().item() for k in got if got[k].is_floating_point()) == 0
    drop = lambda h: [{k: v for k, v in e.items() if k not in ("seconds", "TurboVBI")} for e in h]  # noqa: E731
    assert drop(resumed) == drop(whole)


def test_resuming_needs_a_checkpoint(tmp_path):
    model, guide, data = _resumable("group-nj")
    with pytest.raises(ValueError, match="no checkpoint at"):
        fit(model, guide, data, epochs=1, progress=False, checkpoint=tmp_path / "none.ckpt", resume=True)
    with pytest.raises(ValueError, match="checkpoint to resume from"):
        fit(model, guide, data, epochs=1, progress=False, resume=True)


def test_the_loss_splits_into_the_data_term_and_the_kl_step_by_step():
    model, guide, x, y = _setup()
    history = fit(model, guide, (x, y), epochs=4, batch_size=20, kl_warmup_epochs=2, kl_weight=3.0, progress=False,
                  callbacks=[])
    for h in history:
        assert h["loss"] == pytest.approx(h["nll"] + h["kl_scale"] * h["kl"], rel=1e-5)
        assert h["nll"] > 0 and h["lr"] == 1e-3
    # the log-uniform KL is positive and the fit lowers the data term
    assert all(h["kl"] > 0 for h in history) and history[-1]["nll"] < history[0]["nll"]


def test_the_data_term_is_the_likelihood_at_the_posterior_means_under_the_taylor_elbo():
    from pyrocomp.infer import TaylorMeanField_ELBO

    model, guide, (x, y) = _resumable("turbo")
    with torch.no_grad():
        means = guide.mean()
        plain = model.to_plain({path: means[layer.weight_site] for path, layer in model.bayesian_layers()})
        expected = torch.nn.functional.cross_entropy(plain(x), y, reduction="sum").item()
    # one step over the whole data set: the data term is scored before the step moves anything
    history = fit(model, guide, (x, y), epochs=1, batch_size=len(x), elbo=TaylorMeanField_ELBO(), progress=False)
    assert history[0]["nll"] == pytest.approx(expected, rel=1e-5)
    assert history[0]["loss"] == pytest.approx(history[0]["nll"] + history[0]["kl"], rel=1e-5)


def test_data_term_messenger_scales_and_masks_as_the_elbo_does():
    import pyro.distributions as dist
    from pyro import poutine

    from pyrocomp.infer import DataTermMessenger

    y = torch.tensor([0.5, -1.0, 2.0, 0.0])
    mask = torch.tensor([True, True, False, True])

    def model():
        with pyro.plate("data", size=40, subsample=torch.arange(4)), poutine.mask(mask=mask):
            pyro.sample("obs", dist.Normal(0.0, 2.0), obs=y)

    with DataTermMessenger() as data_term:
        model()
    expected = -10 * dist.Normal(0.0, 2.0).log_prob(y[mask]).sum()
    assert data_term.nll.item() == pytest.approx(expected.item(), rel=1e-6)
    with DataTermMessenger() as again:  # a new context starts from zero
        pass
    assert again.nll.item() == 0


def test_fgsm_moves_every_input_against_its_class_by_hand_on_a_linear_classifier():
    from pyrocomp.infer import fgsm_errors

    torch.manual_seed(3)
    net = nn.Linear(5, 2).double()
    x = torch.randn(40, 5, dtype=torch.float64)
    y = (x[:, 0] + 0.3 * x[:, 1] > 0).long()
    w, b = net.weight.detach(), net.bias.detach()
    low, high = float(x.min()), float(x.max())
    expected = []
    for eps in (0.0, 0.02, 0.1, 0.3):
        # the cross-entropy grows fastest, sign-wise, against the true class: -sign(w_y - w_other)
        away = -(w[y] - w[1 - y]).sign()
        attacked = (x + eps * (high - low) * away).clamp(low, high)
        expected.append(((attacked @ w.t() + b).argmax(1) != y).double().mean().item())
    got = fgsm_errors(net, (x, y), [0.0, 0.02, 0.1, 0.3])
    assert got == pytest.approx(expected)
    assert got[0] == pytest.approx(classification_error(net, (x, y))) and got[-1] > got[0]
    with pytest.raises(ValueError, match="non-negative"):
        fgsm_errors(net, (x, y), [-0.1])
