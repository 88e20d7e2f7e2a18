import pytest
import torch
from torch import nn

from pyrocomp import AutoCompressionGuide, BayesianNetwork
from pyrocomp.infer import classification_error
from pyrocomp.priors import LogUniformPrior
from pyrocomp.pruning import (
    AllOf,
    LogAlphaThreshold,
    PruningCriterion,
    SupportThreshold,
    calibrate,
    choose_sparsest,
    compress,
    monotone_errors,
    summarize,
)


def _teacher_posterior():
    """A posterior whose mean network labels the data (reference error 0) and whose log dropout
    rates spread over the calibration grid, small weights being the most prunable."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    bnn = BayesianNetwork(net, LogUniformPrior())
    guide = AutoCompressionGuide(bnn)
    with torch.no_grad():
        for key in ("0/weight", "2/weight"):
            post = guide.posteriors[key]
            w = torch.randn_like(post.loc)
            post.loc.copy_(w)
            # log alpha from -3 (largest |w|) to 3.9 (smallest |w|): the grid's top keeps everything
            rank = w.abs().flatten().argsort(descending=True).argsort().float().reshape(w.shape)
            log_alpha = -3 + 6.9 * rank / (w.numel() - 1)
            post.log_scale.copy_(w.abs().log() + log_alpha / 2)
    x = torch.randn(400, 6)
    means = {p: s.weight_mean for p, s in summarize(bnn, guide, num_samples=2).items()}
    y = bnn.to_plain(means)(x).argmax(-1)
    return bnn, guide, (x, y)


@pytest.mark.parametrize("tolerance", [0.0, 0.05, 1.0])
def test_calibration_picks_the_sparsest_admissible_threshold(tolerance):
    bnn, guide, data = _teacher_posterior()
    candidates = LogAlphaThreshold().sweep()
    cal = calibrate(bnn, guide, data, data[0][:32], candidates, tolerance=tolerance, num_samples=2, smooth=False)
    assert cal.reference_error == 0.0  # the mean network labelled the data
    # oracle: every candidate evaluated independently
    table = []
    for c in candidates:
        r = compress(bnn, guide, data[0][:32], criterion=c, num_samples=2)
        table.append((r.report.weights_kept, classification_error(r.network, data)))
    assert [(row["weights_kept"], row["error"]) for row in cal.table] == table
    admissible = [kept for kept, err in table if err <= tolerance]
    assert cal.compression.report.weights_kept == min(admissible)
    assert sum(row["chosen"] for row in cal.table) == 1 and cal.chosen["chosen"]
    if tolerance == 1.0:  # anything goes: the sparsest candidate, the grid's first
        assert cal.compression.report.weights_kept == min(kept for kept, _ in table)
        assert cal.table[0]["chosen"]
    index = [row["chosen"] for row in cal.table].index(True)
    assert cal.at_edge == (index in (0, len(candidates) - 1))
    # the grid really trades error for sparsity on this posterior, so the test can fail
    assert table[0][0] < table[-1][0] and table[0][1] > 0.05


def test_calibration_falls_back_to_the_most_accurate_candidate():
    bnn, guide, data = _teacher_posterior()
    candidates = [LogAlphaThreshold(t) for t in (-3.0, -2.5)]
    cal = calibrate(bnn, guide, data, data[0][:32], candidates, tolerance=0.0, num_samples=2, smooth=False)
    errors = [row["error"] for row in cal.table]
    assert min(errors) > 0 and cal.table[errors.index(min(errors))]["chosen"]


def test_with_threshold_and_bad_arguments():
    c = SupportThreshold(0.5).with_threshold(0.9)
    assert isinstance(c, SupportThreshold) and c.threshold == 0.9
    with pytest.raises(ValueError, match="1.5"):
        SupportThreshold(0.5).with_threshold(1.5)
    assert AllOf(LogAlphaThreshold(), SupportThreshold()).with_threshold(1.0).criteria[0].threshold == 1.0

    class KeepAll(PruningCriterion):
        def keep(self, posterior):
            return torch.ones_like(posterior.weight_mean, dtype=torch.bool)

    with pytest.raises(TypeError, match="no threshold"):
        AllOf(KeepAll(), LogAlphaThreshold()).with_threshold(1.0)
    with pytest.raises(TypeError, match="no grid"):
        AllOf(KeepAll()).sweep()
    assert [c.threshold for c in LogAlphaThreshold().sweep()] == list(LogAlphaThreshold.grid)
    bnn, guide, data = _teacher_posterior()
    with pytest.raises(ValueError, match="at least one"):
        calibrate(bnn, guide, data, data[0][:8], [])
    with pytest.raises(ValueError, match="tolerance"):
        calibrate(bnn, guide, data, data[0][:8], [LogAlphaThreshold()], tolerance=-0.1)
    with pytest.raises(TypeError, match="PruningCriterion"):
        calibrate(bnn, guide, data, data[0][:8], [3.0])


def test_calibration_judges_candidates_after_finetuning():
    bnn, guide, data = _teacher_posterior()
    candidates = LogAlphaThreshold().sweep()
    calls = []

    def finetune(network):  # an oracle "fine-tuning": restore the teacher's labels exactly
        assert torch.is_grad_enabled()  # real fine-tuning trains
        calls.append(network)
        teacher = bnn.to_plain({p: s.weight_mean for p, s in summarize(bnn, guide, num_samples=2).items()})
        network.forward = teacher.forward

    cal = calibrate(bnn, guide, data, data[0][:32], candidates, tolerance=0.0, finetune=finetune, num_samples=2)
    assert len(calls) == len(candidates) + 1  # every candidate and the reference, on copies
    assert all(row["error"] == 0.0 for row in cal.table)
    assert cal.table[0]["chosen"]  # everything recovers: the sparsest candidate wins
    # the returned network is the pruned one, not the fine-tuned copy
    assert cal.compression.network is not calls[1] and classification_error(cal.compression.network, data) > 0


def _minmax_fit(y):
    """Oracle of the non-increasing least-squares fit of ``y`` (ordered by a growing count): the
    min-max formula f_i = min_{j<=i} max_{k>=i} mean(y[j..k])."""
    n = len(y)
    return [min(max(sum(y[j:k + 1]) / (k + 1 - j) for k in range(i, n)) for j in range(i + 1)) for i in range(n)]


def test_monotone_errors_is_the_isotonic_fit():
    torch.manual_seed(1)
    for n in (1, 2, 5, 12):
        kept = torch.randperm(1000)[:n].tolist()
        errors = torch.rand(n).tolist()
        order = sorted(range(n), key=lambda i: kept[i])
        expected = _minmax_fit([errors[i] for i in order])
        fit = monotone_errors(kept, errors)
        assert [fit[i] for i in order] == pytest.approx(expected, abs=1e-12)
    # equal counts share one value; the lucky sparse candidate is pooled with its denser neighbour
    assert monotone_errors([10, 20, 20, 30], [0.3, 0.1, 0.3, 0.25]) == pytest.approx([0.3] + [0.65 / 3] * 3)
    assert monotone_errors([], []) == []
    with pytest.raises(ValueError, match="as many"):
        monotone_errors([1, 2], [0.1])


def test_smoothed_calibration_does_not_believe_a_lucky_candidate():
    """Fine-tuning is replaced by an oracle that makes each evaluated network err on an exact
    number of held-out examples: the reference first, then the candidates from sparse to dense."""
    bnn, guide, data = _teacher_posterior()
    candidates = [LogAlphaThreshold(t) for t in (-1.0, -0.5, 0.0, 1.0)]  # kept weights 13, 19, 25, 42
    # held-out errors: reference 0.10; candidates 0.30, 0.12 (lucky), 0.20, 0.14
    mistakes = [40, 120, 48, 80, 56]
    x, y = data

    def run(smooth):
        calls = iter(mistakes)

        def finetune(network):
            wrong = next(calls)

            def forward(inputs):
                logits = torch.nn.functional.one_hot(y, 3).to(inputs.dtype) if inputs.shape[0] == len(y) else None
                if logits is None:  # not the held-out data
                    return torch.zeros(inputs.shape[0], 3)
                logits = logits.clone()
                logits[:wrong] = logits[:wrong].roll(1, dims=1)
                return logits

            network.forward = forward

        return calibrate(bnn, guide, data, x[:32], candidates, tolerance=0.05, finetune=finetune, num_samples=2,
                         smooth=smooth)

    raw = run(False)
    assert [row["error"] for row in raw.table] == pytest.approx([0.30, 0.12, 0.20, 0.14])
    assert raw.reference_error == pytest.approx(0.10) and raw.table[1]["chosen"]  # 0.12 <= 0.15: the lucky one
    smoothed = run(True)
    kept = [row["weights_kept"] for row in smoothed.table]
    assert kept == sorted(kept) and len(set(kept)) == len(kept)
    fit = _minmax_fit([0.30, 0.12, 0.20, 0.14, 0.10])  # [0.30, 0.16, 0.16, 0.14, 0.10]
    assert [row["smoothed_error"] for row in smoothed.table] == pytest.approx(fit[:-1])
    assert smoothed.reference_error == pytest.approx(fit[-1])
    assert smoothed.table[3]["chosen"]  # the only smoothed error within 0.10 + 0.05


def test_choose_sparsest_rule_on_a_table():
    rows = lambda: [dict(weights_kept=k, error=e) for k, e in [(10, 0.30), (20, 0.12), (30, 0.20), (40, 0.14)]]  # noqa: E731
    table = rows()
    assert choose_sparsest(table, 0.10, 0.05, smooth=False) == (1, 0.10) and table[1]["chosen"]
    table = rows()  # smoothed: 0.30, 0.16, 0.16, 0.14; the measured reference (50 weights, 0.10) joins the fit
    assert choose_sparsest(table, 0.10, 0.05, reference_kept=50) == (3, pytest.approx(0.10))
    assert [r["chosen"] for r in table] == [False, False, False, True]
    table = rows()  # nothing within 0.01 of 0.10: the most accurate, the sparsest of a pooled pair
    assert choose_sparsest(table, 0.10, 0.01, smooth=False)[0] == 1
    table = [dict(weights_kept=k, error=e) for k, e in [(10, 0.3), (20, 0.2), (30, 0.2)]]
    assert choose_sparsest(table, 0.0, 0.0)[0] == 1
    with pytest.raises(ValueError, match="at least one"):
        choose_sparsest([], 0.1, 0.0)
    with pytest.raises(ValueError, match="tolerance >= 0 but got -0.1"):
        choose_sparsest(rows(), 0.1, -0.1)

