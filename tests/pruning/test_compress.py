import math

import pytest
import torch
from torch import nn

from pyrocomp import AutoCompressionGuide, BayesianNetwork
from pyrocomp.pruning import (
    AllOf, LogAlphaThreshold, PriorPrecisionThreshold, ScaleLogAlphaThreshold, compress, prune_, summarize,
)
from pyrocomp.priors import GroupNormalJeffreys, LogUniformPrior


def _vd_mlp(weights0, keep0, weights2, keep2):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    with torch.no_grad():
        net[0].bias.copy_(torch.tensor([0.1, 0.7, -0.2]))
    bnn = BayesianNetwork(net, LogUniformPrior())
    guide = AutoCompressionGuide(bnn)
    with torch.no_grad():
        for key, w, keep in (("0/weight", weights0, keep0), ("2/weight", weights2, keep2)):
            post = guide.posteriors[key]
            post.loc.copy_(w)
            # log alpha = log(sigma^2 / mu^2) = -4.6 where kept, +4.6 where pruned
            post.log_scale.copy_((w.abs() * torch.where(keep, 0.1, 10.0)).log())
    return bnn, guide


def test_hand_built_posterior_gives_known_masks_architecture_and_rates():
    w0 = torch.tensor([[0.5, -0.4, 0.3, 0.2], [0.6, 0.1, -0.3, 0.2], [0.2, 0.9, 0.1, -0.5]])
    k0 = torch.tensor([[1, 1, 0, 0], [0, 0, 0, 0], [0, 1, 0, 0]], dtype=torch.bool)
    w2 = torch.tensor([[0.7, -0.8, 0.3], [-0.6, 0.4, 0.2]])
    k2 = torch.tensor([[1, 1, 0], [1, 0, 0]], dtype=torch.bool)
    bnn, guide = _vd_mlp(w0, k0, w2, k2)

    post = summarize(bnn, guide, num_samples=2)
    assert torch.allclose(post["0"].log_alpha, torch.where(k0, -2 * math.log(10), 2 * math.log(10)), atol=1e-4)

    x = torch.randn(64, 4)
    c = compress(bnn, guide, x, criterion=LogAlphaThreshold(3.0))
    assert torch.equal(c.masks["0"], k0) and torch.equal(c.masks["2"], k2)
    # hidden unit 1 has no incoming weight (its constant relu(0.7) is folded), unit 2 no outgoing one
    r = c.report
    assert r.architecture_dense == "4-3" and r.architecture == "2-1"
    assert (r.weights, r.weights_kept) == (18, 4)
    assert r.cr_prune == pytest.approx(4.5) and r.wr_percent == pytest.approx(400 / 18)
    assert (r.macs, r.macs_kept) == (18, 4) and r.flops_reduction_percent == pytest.approx(100 * 14 / 18)
    assert c.network[0].weight.shape == (1, 4) and c.network[2].weight.shape == (2, 1)
    # the exported network computes what the masked deterministic network computes
    masked = bnn.to_plain({p: w * m for p, w, m in ((p, post[p].weight_mean, c.masks[p]) for p in post)})
    assert torch.allclose(c.network(x), masked(x), atol=1e-6)
    assert r.cr_bits > r.cr_prune
    assert "2-1" in r.to_markdown() and r.to_dict()["params_nonzero"] == 4


def test_export_through_conv_batchnorm_pool_flatten():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(4 * 3 * 3, 5), nn.ReLU(), nn.Linear(5, 3))
    net[1].running_mean.uniform_(-0.2, 0.2)
    net[1].running_var.uniform_(0.5, 2.0)
    net.eval()
    with torch.no_grad():
        net[0].weight[1] = 0  # filter 1: a constant channel, folded into the linear bias
        net[5].weight[:, 18:27] = 0  # channel 2 feeds nothing
        net[5].weight[:, [0, 4]] = 0  # two dead features of the live channel 0
    x = torch.randn(8, 1, 8, 8)
    expected = net(x)
    layers = prune_(net, x)
    assert net[0].out_channels == 2 and net[1].num_features == 2 and net[5].in_features == 18
    assert torch.allclose(net(x), expected, atol=1e-5)
    conv, linear = layers[0], layers[1]
    assert (conv.macs, conv.macs_kept) == (4 * 9 * 36, 2 * 9 * 36)
    assert [s.name for s in layers] == ["0", "5", "7"]
    # the linear layer reads 2 channels x 9 features, less the 2 dead ones
    assert (linear.in_units, linear.in_kept) == (36, 16) and linear.macs_kept == 16 * 5


def test_group_criterion_prunes_whole_input_neurons():
    torch.manual_seed(0)
    bnn = BayesianNetwork(nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 2)), GroupNormalJeffreys())
    guide = AutoCompressionGuide(bnn)
    with torch.no_grad():
        scale = guide.posteriors["0/scale"]
        scale.loc[0, 3] = 1e-3  # noise dominates: log alpha_z = log(0.01^2 / 1e-6) = 4.6
    c = compress(bnn, guide, torch.randn(16, 5), num_samples=512)
    assert c.masks["0"][:, 3].logical_not().all() and c.masks["0"][:, [0, 1, 2, 4]].all()
    assert c.report.architecture == "4-4"
    both = AllOf(ScaleLogAlphaThreshold(-1.0), LogAlphaThreshold(3.0))
    assert torch.equal(both.keep(c.posteriors["0"]), c.masks["0"])


def test_bad_criterion_is_a_type_error():
    bnn, guide = _vd_mlp(torch.ones(3, 4), torch.ones(3, 4, dtype=torch.bool), torch.ones(2, 3),
                         torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(TypeError, match="PruningCriterion"):
        compress(bnn, guide, torch.randn(2, 4), criterion=3.0)
    with pytest.raises(TypeError, match="PruningCriterion"):
        AllOf()


def test_prior_precision_criterion_on_a_hand_built_posterior():
    from pyrocomp.guides import mean_field_weights
    from pyrocomp.priors import AutomaticRelevanceDetermination

    bnn = BayesianNetwork(nn.Sequential(nn.Linear(3, 2)), AutomaticRelevanceDetermination(group="out"))
    guide = AutoCompressionGuide(bnn, posterior_family=mean_field_weights)
    with torch.no_grad():
        guide.posteriors["0/weight"].loc.copy_(torch.tensor([[0.5, 0.05, -0.3], [0.01, 0.2, 0.0]]))
        precision = guide.posteriors["0/precision"]  # log-normal: E[rho] = exp(m + s^2 / 2)
        precision.loc.copy_(torch.tensor([[4.0], [1.0]]).log())
        precision.log_scale.fill_(-10.0)
    post = summarize(bnn, guide, num_samples=4)
    assert torch.allclose(post["0"].prior_precision, torch.tensor([[4.0], [1.0]]).expand(2, 3), rtol=1e-4)
    # keep where ln(mu^2 E[rho]) > -3: mu^2 E[rho] = [[1, .01, .36], [1e-4, .04, 0]]
    keep = PriorPrecisionThreshold(-3.0).keep(post["0"])
    assert keep.tolist() == [[True, False, True], [False, False, False]]
    with pytest.raises(ValueError, match="no Gaussian prior precision"):
        vd, vd_guide = _vd_mlp(torch.ones(3, 4), torch.ones(3, 4, dtype=torch.bool), torch.ones(2, 3),
                               torch.ones(2, 3, dtype=torch.bool))
        PriorPrecisionThreshold().keep(summarize(vd, vd_guide, num_samples=1)["0"])


def test_export_when_a_whole_layer_is_pruned():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 4), nn.ReLU(),
                        nn.Linear(4, 2)).eval()
    with torch.no_grad():
        net[0].weight.zero_()  # every filter gone: the network outputs a constant
    x = torch.randn(5, 1, 6, 6)
    expected = net(x)
    layers = prune_(net, x)
    assert torch.allclose(net(x), expected, atol=1e-6)
    assert layers[0].out_kept == 0 and layers[0].macs_kept == 0 and layers[1].in_kept == 0


def test_group_log_alpha_on_a_hand_built_posterior():
    from pyrocomp.pruning import GroupLogAlphaThreshold, LayerPosterior

    mean = torch.tensor([[1.0, 0.1, 0.0], [1.0, 0.1, 0.0]])
    var = torch.tensor([[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]])
    post = LayerPosterior("0", mean, var, log_alpha=torch.zeros(2, 3))
    # input groups (columns): log(sum var / sum mean^2) = log(1 / 2) = -0.69, log(1 / 0.02) = 3.9, +inf
    assert GroupLogAlphaThreshold(0.0, "in").keep(post).tolist() == [[True, False, False]] * 2
    # output groups (rows): log(1.5 / 1.01) = 0.40 in both
    assert not GroupLogAlphaThreshold(0.0, "out").keep(post).any()
    assert GroupLogAlphaThreshold(0.5, "out").keep(post).all()
    with pytest.raises(ValueError, match="group"):
        GroupLogAlphaThreshold(0.0, "rows")


def test_export_removes_units_that_only_removed_units_read():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2), nn.ReLU(), nn.Linear(2, 1)).eval()
    with torch.no_grad():
        net[2].weight[0, 3] = 0  # hidden unit 3 feeds only unit 1 of the second layer ...
        net[4].weight[0, 1] = 0  # ... which the output does not read
    x = torch.randn(6, 3)
    expected = net(x)
    layers = prune_(net, x)
    assert torch.allclose(net(x), expected, atol=1e-6)
    # the second pass finds hidden unit 3 unread once unit 1 is gone
    assert (net[0].out_features, net[2].in_features, net[2].out_features) == (3, 3, 1)
    assert [(s.in_kept, s.out_kept) for s in layers] == [(3, 3), (3, 1), (1, 1)]
    assert [s.macs_kept for s in layers] == [9, 3, 1]


def test_export_leaves_batchnorm_statistics_and_mode_alone():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    with torch.no_grad():
        net[3].weight[:, 2] = 0
    mean = net[1].running_mean.clone()
    prune_(net, torch.randn(8, 3) + 5)
    assert net.training and torch.equal(net[1].running_mean, mean[[0, 1, 3]])


def test_export_when_a_single_unit_layer_is_unread():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1), nn.ReLU(), nn.Linear(1, 2)).eval()
    with torch.no_grad():
        net[4].weight.zero_()  # the one-unit layer is read by nothing: everything before it is dead too
    x = torch.randn(5, 3)
    expected = net(x)
    layers = prune_(net, x)
    assert torch.allclose(net(x), expected, atol=1e-6)
    assert [s.weights_kept for s in layers] == [0, 0, 0] and [s.macs_kept for s in layers] == [0, 0, 0]


def test_a_network_with_a_recurrent_layer_fits_and_exports_as_its_masked_self():
    from pyrocomp.infer import fit

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc0, self.lstm, self.fc = nn.Linear(4, 6), nn.LSTM(6, 8, batch_first=True), nn.Linear(8, 3)

        def forward(self, x):
            out, _ = self.lstm(torch.relu(self.fc0(x)))
            return self.fc(out[:, -1])

    torch.manual_seed(0)
    model = BayesianNetwork(Net(), LogUniformPrior(), dataset_size=10)
    guide = AutoCompressionGuide(model)
    x, y = torch.randn(10, 5, 4), torch.randint(0, 3, (10,))
    fit(model, guide, (x, y), epochs=3, batch_size=5, progress=False)
    result = compress(model, guide, x[:2])
    masked = model.to_plain({path: result.masks[path] * post.weight_mean for path, post in result.posteriors.items()})
    assert torch.allclose(masked.eval()(x), result.network(x), atol=1e-5)
    assert result.network.fc0.out_features == 6  # no unit is removed across the recurrent layer


def test_all_of_sweeps_its_first_criterion_and_keeps_the_others():
    both = AllOf(ScaleLogAlphaThreshold(-1.0), LogAlphaThreshold(3.0))
    swept = both.sweep()
    assert [c.criteria[0].threshold for c in swept] == list(ScaleLogAlphaThreshold.grid)
    assert all(c.criteria[1].threshold == 3.0 and isinstance(c, AllOf) for c in swept)
    assert both.with_threshold(-2.0).criteria[0].threshold == -2.0 and both.criteria[0].threshold == -1.0
