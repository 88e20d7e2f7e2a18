"""The numerical helpers of the benchmark scripts, against hand-computed values."""
import json
import statistics

import common  # benchmarks/ is on pytest's pythonpath (pyproject.toml)
import frontier
import mixture
import pytest
import torch

from pyrocomp.models import build_model


def _lenet5_macs(c1, c2, f1, f2):
    """LeNet-5's multiply-accumulates on 28×28 inputs, by hand: padded 5×5 conv to 28×28, pool, 5×5 conv
    to 10×10, pool, then 25 c2 -> f1 -> f2 -> 10."""
    return c1 * 25 * 28 * 28 + c2 * c1 * 25 * 10 * 10 + c2 * 25 * f1 + f1 * f2 + f2 * 10


@pytest.mark.parametrize("widths", [(6, 16, 120, 84), (3, 5, 16, 17), (2, 8, 60, 60)], ids=str)
def test_frontier_structure_counts_macs_weights_and_architecture(widths):
    net = build_model("lenet5", (1, 28, 28), 10, widths=widths)
    macs, weights, architecture = frontier.structure(net, torch.zeros(2, 1, 28, 28))
    c1, c2, f1, f2 = widths
    assert macs == _lenet5_macs(*widths)
    assert weights == c1 * 25 + c2 * c1 * 25 + c2 * 25 * f1 + f1 * f2 + f2 * 10
    assert architecture == f"{c1}-{c2}-{25 * c2}-{f1}-{f2}"


def test_frontier_reduction_of_001s_structure():
    # 001 Table II(a) reports 76.03 % for 3-5-16-17; by hand 1 - 98,742 / 416,520
    assert _lenet5_macs(3, 5, 16, 17) == 98_742 and _lenet5_macs(6, 16, 120, 84) == 416_520
    net, dense = (build_model("lenet5", (1, 28, 28), 10, widths=w) for w in [(3, 5, 16, 17), (6, 16, 120, 84)])
    x = torch.zeros(2, 1, 28, 28)
    reduction = 100 * (1 - frontier.structure(net, x)[0] / frontier.structure(dense, x)[0])
    assert reduction == pytest.approx(100 * (1 - 98_742 / 416_520))


@pytest.mark.parametrize("text,match", [("3-5-16", "four positive"), ("3-5-0-17", "four positive"),
                                        ("3-5-x-17", "widths like")])
def test_frontier_refuses_bad_widths(text, match):
    with pytest.raises(ValueError, match=match):
        frontier.parse_widths(text)


def _row(seed, method, error, cr, architecture):
    return dict(model="lenet300", seed=seed, method=method, error=error, cr_prune=cr, cr_bits=4 * cr,
                wr_percent=100 / cr, architecture=architecture, middle=mixture.middle(architecture))


def test_mixture_aggregate_means_and_judges_on_the_means():
    rows = [
        _row(0, "mixture", 6.0, 10.0, "784-200-80"), _row(1, "mixture", 6.2, 30.0, "784-100-80"),
        _row(0, "horseshoe", 6.1, 20.0, "784-250-80"), _row(1, "horseshoe", 6.1, 20.0, "784-250-80"),
        _row(0, "laplace", 7.0, 90.0, "784-90-80"), _row(1, "laplace", 7.0, 90.0, "784-90-80"),
        _row(0, "normal-jeffreys", 5.0, 90.0, "784-90-80"), _row(1, "normal-jeffreys", 5.0, 90.0, "784-90-80"),
        _row(0, "group-hs", 6.5, 5.0, "784-160-80"), _row(1, "group-hs", 6.5, 5.0, "784-160-80"),
    ]
    means = {r["method"]: r for r in mixture.aggregate(rows)}
    mix = means["mixture"]
    assert mix["seed"] == "mean" and mix["seeds"] == [0, 1]
    assert mix["error"] == pytest.approx(6.1)
    assert mix["error_sd"] == pytest.approx(statistics.stdev([6.0, 6.2]))
    # the CR of the mean kept fraction: kept 10 % and 3.33 %, mean 6.67 %, CR 15 (not the mean ratio 20)
    assert mix["cr_prune"] == pytest.approx(15.0)
    assert mix["cr_bits"] == pytest.approx(60.0)
    assert mix["wr_percent"] == pytest.approx(100 / 15)
    assert mix["middle"] == 150
    # within 0.3 points only the horseshoe (CR 20 > 15): the first target fails on the means
    assert mix["target_met"] is False
    rows = [dict(r, cr_prune=10.0) if r["method"] == "horseshoe" else r for r in rows]
    assert {r["method"]: r for r in mixture.aggregate(rows)}["mixture"]["target_met"] is True  # 15 >= 10, 150 < 160


def test_write_rows_writes_the_json_rows_and_a_dated_result_page(tmp_path):
    rows = [{"method": "dense", "error": 1.234}, {"method": "vd", "error": 2.5, "cr_prune": 40.0}]
    columns = [("method", "method", ""), ("error", "error %", ".2f"), ("cr_prune", "CR_prune", ".1f")]
    (tmp_path / "demo_kept.png").write_bytes(b"")
    (tmp_path / "other.png").write_bytes(b"")
    path = common.write_rows(tmp_path, "demo", rows, columns)
    assert json.loads(path.read_text()) == rows
    page = (tmp_path / "demo.md").read_text()
    assert "| dense | 1.23 |  |" in page and "| vd | 2.50 | 40.0 |" in page
    assert "- run: 20" in page and "- command: `python benchmarks/" in page and "[demo_kept.png](demo_kept.png)" in page and "other.png" not in page
    assert not list(tmp_path.glob("*.tmp"))


def test_speed_keeps_the_fastest_round_of_every_network_engine_batch_and_thread_count(monkeypatch):
    import argparse

    import speed

    times = iter([5.0, 7.0, 4.0, 6.0] * 4 + [1.0, 2.0] * 8)  # two rounds of (dense, compressed) per configuration

    def fake(fn, x, min_run_time):
        assert x.shape[0] in (1, 64)
        return next(times)

    monkeypatch.setattr(speed, "measure", fake)
    networks = {"dense": {"eager": lambda x: x}, "vd": {"eager": lambda x: x, "onnxruntime-int8": None}}
    seconds = speed.time_all(networks, torch.zeros(8, 3), argparse.Namespace(rounds=2, min_run_time=0.01))
    assert set(seconds) == {(n, "eager", b, t) for n in ("dense", "vd") for b, t in speed.CONFIGS}
    # the first configuration's rounds: dense 5 then 4, compressed 7 then 6
    first = sorted(speed.CONFIGS, key=lambda c: (c[1], c[0]))[0]
    assert seconds["dense", "eager", first[0], first[1]] == 4.0 and seconds["vd", "eager", *first] == 6.0
    assert speed.batch_of(torch.arange(6.0).reshape(3, 2), 4).tolist() == [[0.0, 1.0]] * 4


def test_diagnostics_lppd_is_the_log_of_the_mean_likelihood_over_every_chain_and_draw():
    import math

    import arviz as az
    import diagnostics
    import numpy as np

    likelihood = np.array([[[0.5, 0.1], [0.3, 0.2]], [[0.1, 0.9], [0.7, 0.4]]])  # (chain, draw, example)
    idata = az.from_dict(log_likelihood={"obs": np.log(likelihood)})
    expected = (math.log(np.mean([0.5, 0.3, 0.1, 0.7])) + math.log(np.mean([0.1, 0.2, 0.9, 0.4]))) / 2
    assert diagnostics.lppd(idata) == pytest.approx(expected)


def test_scale_times_a_plain_and_a_bayesian_step_of_a_cifar_shaped_network():
    import scale

    x, y = scale.fake_data(6, seed=0)
    assert x.shape == (6, 3, 32, 32) and y.dtype == torch.long and int(y.max()) < 10
    plain = scale.time_step("lenet300", "plain", batch=2, steps=2, device=torch.device("cpu"))
    bayes = scale.time_step("lenet300", "group-nj", batch=2, steps=2, device=torch.device("cpu"))
    assert plain["params"] == bayes["params"] == 3072 * 300 + 300 + 300 * 100 + 100 + 100 * 10 + 10
    assert plain["s_per_step"] > 0 and bayes["s_per_step"] > 0 and bayes["peak_mb"] > 0


def test_frontiers_reads_the_best_compression_within_each_tolerance_and_the_gap_to_magnitude():
    import math

    import frontiers

    # one seed: dense error 2 %; the method reaches CR 10 at 2.4 % and CR 50 at 3.5 %; magnitude CR 4 at 2.2 %
    method = [(0.02, [dict(error=0.024, cr_prune=10.0, macs_ratio=2.0), dict(error=0.035, cr_prune=50.0, macs_ratio=3.0),
                      dict(error=0.05, cr_prune=40.0, macs_ratio=5.0)], 1.0)]
    magnitude = [(0.02, [dict(error=0.022, cr_prune=4.0, macs_ratio=1.5)], 2.0)]
    assert frontiers.best_at(method[0][1], 0.02, 0.005) == 10.0
    assert frontiers.best_at(method[0][1], 0.02, 0.02) == 50.0
    assert frontiers.best_at(method[0][1], 0.02, 0.001) == 1.0  # nothing within 0.1 point: no compression
    row = frontiers.summarise("lenet300", "mnist5k", "vd", method, {"vd": method, "magnitude": magnitude})
    assert row["cr_prune_at_5"] == "10.0 ± 0.0" and row["cr_prune_at_20"] == "50.0 ± 0.0"
    assert row["macs_ratio_at_10"] == "2.00 ± 0.00" and row["macs_ratio_at_20"] == "3.00 ± 0.00"
    # from 2.2 % to 2.4 % magnitude compresses and the method does not: no dominance on [2 %, 3 %]
    assert row["dominated_seeds"] == {"magnitude (CR)": 0, "magnitude (MACs)": 0}
    assert row["dominates"] == "magnitude (CR) 0/1, magnitude (MACs) 0/1"
    assert row["points"] == 3 and row["dense_error"] == pytest.approx(2.0)
    # over [2 %, 3 %]: from 2.2 % magnitude has CR 4 and the method 1; from 2.4 % the method has 10
    expected = (0.002 * 0 + 0.002 * (0 - math.log10(4)) + 0.006 * (1 - math.log10(4))) / 0.01
    assert row["area_vs_magnitude"] == pytest.approx(expected)


def test_frontiers_draws_the_published_points_on_full_mnist(tmp_path):
    import frontiers

    runs = {"vd": [(0.02, [dict(error=0.025, cr_prune=30.0, macs_ratio=2.0)], 1.0)]}
    frontiers.plot("lenet300", "mnist", runs, tmp_path / "mnist.png")
    frontiers.plot("lenet300", "mnist5k", runs, tmp_path / "mnist5k.png")
    assert (tmp_path / "mnist.png").stat().st_size > (tmp_path / "mnist5k.png").stat().st_size > 10_000
    assert [p[2] for p in frontiers.PUBLISHED[("lenet5-caffe", "mnist")]] == [63.0, 156.0]


def test_frontiers_compares_turbo_in_macs_and_chooses_the_network_within_one_point():
    import frontiers

    turbo = [(0.02, [dict(error=0.021, cr_prune=3.0, macs_ratio=4.0)], 1.0),
             (0.03, [dict(error=0.031, cr_prune=3.0, macs_ratio=1.2)], 1.0)]
    vd = [(0.02, [dict(error=0.021, cr_prune=9.0, macs_ratio=2.0)], 1.0),
          (0.03, [dict(error=0.031, cr_prune=9.0, macs_ratio=2.0)], 1.0)]
    row = frontiers.summarise("lenet5", "fashion-mnist", "turbo", turbo, {"turbo": turbo, "vd": vd})
    # in MACs turbo is above vd on the first seed only, though vd keeps fewer weights on both
    assert row["dominated_seeds"] == {"vd (MACs)": 1} and row["dominates"] == "vd (MACs) 1/2"
    assert row["macs_ratio_at_10"] == "2.60 ± 1.98"
    points = [dict(error=0.02, cr_prune=2.0), dict(error=0.028, cr_prune=20.0), dict(error=0.04, cr_prune=90.0)]
    assert frontiers.chosen(points, 0.02)["cr_prune"] == 20.0
    assert frontiers.chosen(points, 0.001)["cr_prune"] == 2.0  # none within a point: the most accurate


def test_frontiers_robustness_and_subsample_on_a_linear_classifier():
    import frontiers
    from pyrocomp.data import DataSplit
    from pyrocomp.plots import reliability
    from torch.utils.data import TensorDataset

    torch.manual_seed(0)
    x, y = torch.randn(40, 3), torch.randint(0, 2, (40,))
    data = DataSplit("toy", TensorDataset(x, y), TensorDataset(x, y), (3,), 2)
    net = torch.nn.Linear(3, 2)
    r = frontiers.robustness(net, data)
    assert r["fgsm_error_at_0"] == pytest.approx(100 * (net(x).argmax(1) != y).float().mean().item())
    assert r["ece_percent"] == pytest.approx(100 * reliability(torch.softmax(net(x), -1).detach(), y)[3])
    assert list(r["fgsm_errors"]) == [f"{e:g}" for e in frontiers.EPSILONS] and r["fgsm_error_at_30"] >= r["fgsm_error_at_0"]
    small = frontiers.subsample(data, 10, seed=1)
    assert len(small.train) == 10 and len(small.test) == 40
    assert torch.equal(small.train.tensors[0], frontiers.subsample(data, 10, seed=1).train.tensors[0])
    assert frontiers.subsample(data, None, seed=1) is data
    with pytest.raises(SystemExit, match="--train-size must be in 1..40 but got 41"):
        frontiers.subsample(data, 41, seed=1)


def test_frontiers_replots_from_the_rows_it_wrote(tmp_path):
    import frontiers

    points = [dict(error=0.025, cr_prune=30.0, macs_ratio=2.0)]
    robust = dict(robust_cr_prune=30.0, ece_percent=3.0, fgsm_errors={f"{e:g}": 10 + 100 * e for e in frontiers.EPSILONS})
    rows = [dict(model="lenet300", dataset="mnist", method="dense", **dict(robust, robust_cr_prune=1.0)),
            dict(model="lenet300", dataset="mnist", method="vd", runs=[dict(dense_error=0.02, points=points, s=1.0)],
                 **robust)]
    (tmp_path / "frontiers-mnist.json").write_text(json.dumps(rows))
    frontiers.replot(tmp_path, "frontiers-mnist")
    assert (tmp_path / "frontiers-mnist_lenet300.png").stat().st_size > 10_000
    assert (tmp_path / "frontiers-mnist_robustness_lenet300.png").stat().st_size > 10_000


def test_frontiers_append_reads_the_other_methods_rows_and_refuses_what_it_cannot_reuse(tmp_path):
    import frontiers

    run = dict(dense_error=0.02, points=[dict(error=0.025, cr_prune=30.0, macs_ratio=2.0)], s=1.0)
    rows = [dict(model="lenet300", method="dense"), dict(model="lenet300", method="vd", runs=[run]),
            dict(model="lenet300", method="magnitude", runs=[run]), dict(model="lenet5", method="vd", runs=[run, run])]
    path = tmp_path / "frontiers.json"
    with pytest.raises(SystemExit, match="--append needs .*frontiers.json, which does not exist"):
        frontiers.stored_rows(path, "lenet300", ["bhc"], 1)
    path.write_text(json.dumps(rows))
    assert list(frontiers.stored_rows(path, "lenet300", ["vd"], 1)) == ["magnitude"]
    with pytest.raises(SystemExit, match="has 2 seeds of vd, expected --seeds 3"):
        frontiers.stored_rows(path, "lenet5", ["bhc"], 3)
