"""Magnitude pruning and SNIP against hand computations, and end to end on real digits."""
import pytest
import torch
from torch import nn

from pyrocomp.baselines import iterative_magnitude_pruning, magnitude_masks, snip_masks, snip_pruning
from pyrocomp.data import load_dataset
from pyrocomp.infer import classification_error, train
from pyrocomp.models import build_model
from pyrocomp.pruning import compress_masked


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3))


def test_magnitude_keeps_the_largest_weights_of_the_whole_network():
    net = _net()
    weights = torch.cat([net[0].weight.flatten(), net[2].weight.flatten()]).abs()
    for keep in (0.1, 0.5, 1.0):
        masks = magnitude_masks(net, keep)
        k = round(keep * 32)
        kept = torch.cat([masks["0"].flatten(), masks["2"].flatten()])
        assert int(kept.sum()) == k
        assert set(kept.nonzero().flatten().tolist()) == set(torch.topk(weights, k).indices.tolist())
    for bad, error in ((0.0, ValueError), (1.5, ValueError), ("half", TypeError)):
        with pytest.raises(error, match="keep_fraction"):
            magnitude_masks(net, bad)


def test_snip_scores_are_the_connection_sensitivities_of_a_linear_classifier():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(6, 3, bias=False)).double()
    x, y = torch.randn(8, 6, dtype=torch.float64), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    w = net[0].weight.detach()
    # d mean CE / dW = (softmax(x W^T) - onehot(y))^T x / n, by hand
    grad = (torch.softmax(x @ w.t(), 1) - nn.functional.one_hot(y, 3).double()).t() @ x / len(x)
    expected = torch.topk((grad * w).abs().flatten(), 5).indices
    mask = snip_masks(net, x, y, 5 / 18)["0"]
    assert set(mask.flatten().nonzero().flatten().tolist()) == set(expected.tolist())


def test_compress_masked_counts_what_the_masks_keep_and_refuses_foreign_masks():
    net = _net()
    masks = {"0": torch.ones(4, 5, dtype=torch.bool), "2": torch.ones(3, 4, dtype=torch.bool)}
    masks["0"][1] = False  # hidden unit 1 reads nothing: its outgoing weights go with it
    result = compress_masked(net, masks, torch.randn(2, 5))
    assert result.report.weights_kept == 15 + 9 and result.report.architecture.startswith("5-3")
    assert result.report.cr_bits == pytest.approx(result.report.cr_prune)  # 32 bits per kept weight
    x = torch.randn(7, 5)
    reference = _net()
    with torch.no_grad():
        reference[0].weight.mul_(masks["0"])
    assert torch.allclose(result.network(x), reference(x), atol=1e-6)
    with pytest.raises(ValueError, match="'1'"):
        compress_masked(net, {"1": torch.ones(4, 5, dtype=torch.bool)}, x)
    with pytest.raises(ValueError, match=r"\(5, 4\)"):
        compress_masked(net, {"0": torch.ones(5, 4, dtype=torch.bool)}, x)


def test_iterative_magnitude_pruning_and_snip_keep_their_zeros_and_stay_accurate_on_digits():
    data = load_dataset("digits")
    torch.manual_seed(0)
    dense = build_model("lenet300", data.input_shape, data.num_classes)
    train(dense, data.train, epochs=10, lr=1e-3, batch_size=64, progress=False)
    dense_error = classification_error(dense, data.test)
    net = build_model("lenet300", data.input_shape, data.num_classes)
    net.load_state_dict(dense.state_dict())
    masks = iterative_magnitude_pruning(net, data.train, 0.1, rounds=2, retrain_epochs=3, lr=1e-3, batch_size=64)
    total = sum(m.numel() for m in masks.values())
    assert sum(int(m.sum()) for m in masks.values()) == round(0.1 * total)
    weights = [m.weight for m in net.modules() if isinstance(m, nn.Linear)]
    assert all(bool((w[~mask] == 0).all()) for w, mask in zip(weights, masks.values()))  # retraining kept zeros
    result = compress_masked(net, masks, data.train.tensors[0][:8])
    assert result.report.cr_prune >= 9.9
    assert classification_error(result.network, data.test) <= dense_error + 0.03
    torch.manual_seed(0)
    fresh = build_model("lenet300", data.input_shape, data.num_classes)
    snip = snip_pruning(fresh, data.train.tensors, 0.1, epochs=10, batch_size=64)
    assert sum(int(m.sum()) for m in snip.values()) == round(0.1 * total)
    assert classification_error(compress_masked(fresh, snip, data.train.tensors[0][:8]).network, data.test) <= 0.12


def test_hard_concrete_gates_are_nonzero_as_often_as_the_closed_form_says():
    from pyrocomp.baselines import HardConcreteGate
    from pyrocomp.baselines.l0 import BETA, GAMMA, ZETA

    gate = HardConcreteGate((3,))
    with torch.no_grad():
        gate.log_alpha.copy_(torch.tensor([-3.0, 0.0, 2.0]))
    torch.manual_seed(0)
    with torch.no_grad():
        draws = torch.stack([gate.gates() for _ in range(20000)])  # training mode: random gates
    assert torch.allclose((draws > 0).float().mean(0), gate.probability_nonzero().detach(), atol=0.01)
    assert float(draws.min()) == 0.0 and float(draws.max()) == 1.0  # stretched, then clipped to [0, 1]
    gate.eval()
    expected = (torch.sigmoid(gate.log_alpha) * (ZETA - GAMMA) + GAMMA).clamp(0, 1)
    assert torch.equal(gate.gates(), expected)
    assert BETA == pytest.approx(2 / 3)


def test_l0_pruning_trades_weights_for_its_penalty_on_digits():
    from pyrocomp.baselines import l0_pruning

    data = load_dataset("digits")
    kept, errors = [], []
    for weight in (0.1, 1.0):  # measured: 15,754 weights at 3.9 % error, 2,288 at 8.5 %
        torch.manual_seed(0)
        net = build_model("lenet300", data.input_shape, data.num_classes)
        masks = l0_pruning(net, data.train, epochs=8, l0_weight=weight, lr=3e-3, gate_lr=0.1, batch_size=64)
        assert not any(hasattr(m, "parametrizations") for m in net.modules())  # a plain network again
        result = compress_masked(net, masks, data.train.tensors[0][:8])
        kept.append(result.report.weights_kept)
        errors.append(classification_error(result.network, data.test))
    assert kept[1] < 0.8 * kept[0] and max(errors) < 0.15
    torch.manual_seed(0)
    net = build_model("lenet300", data.input_shape, data.num_classes)
    masks = l0_pruning(net, data.train, epochs=2, l0_weight=50.0, group="in", lr=3e-3, gate_lr=0.1, batch_size=64)
    assert all(bool((m == m[:1]).all()) for m in masks.values())  # one gate per input unit: whole columns


def test_the_baselines_refuse_bad_data_and_a_diverging_l0_fit():
    from pyrocomp.baselines import l0_pruning

    with pytest.raises(TypeError, match=r"\(x, y\) pair of tensors"):
        snip_pruning(_net(), [torch.zeros(3, 5)], 0.5, epochs=1)
    x, y = torch.randn(20, 5), torch.randint(0, 3, (20,))
    with pytest.raises(FloatingPointError, match="loss became nan in epoch 0"):
        l0_pruning(_net(), (x, y), epochs=1, l0_weight=float("nan"), batch_size=10)
