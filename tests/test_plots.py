"""The numbers behind the pictures, against hand computations."""
import math

import torch

from pyrocomp.plots import plot_reliability, reliability


def test_reliability_bins_and_expected_calibration_error_by_hand(tmp_path):
    # four examples: confidences 0.95, 0.92 (bin 9), 0.65 (bin 6), 0.55 (bin 5); the first and third are right
    probs = torch.tensor([[0.95, 0.05], [0.08, 0.92], [0.65, 0.35], [0.45, 0.55]])
    targets = torch.tensor([0, 0, 0, 0])
    conf, acc, counts, ece = reliability(probs, targets, bins=10)
    assert counts.tolist() == [0, 0, 0, 0, 0, 1, 1, 0, 0, 2]
    assert math.isclose(float(conf[9]), 0.935, rel_tol=1e-6) and float(acc[9]) == 0.5 and float(acc[6]) == 1.0
    # ECE = 2/4 |0.5 - 0.935| + 1/4 |1 - 0.65| + 1/4 |0 - 0.55|
    assert math.isclose(ece, 0.5 * 0.435 + 0.25 * 0.35 + 0.25 * 0.55, rel_tol=1e-6)
    assert torch.isnan(conf[0]) and torch.isnan(acc[0])  # empty bins
    plot_reliability({"net": probs}, targets, tmp_path / "r.png")
    assert (tmp_path / "r.png").stat().st_size > 1000


def test_the_training_picture_draws_the_loss_and_its_two_terms(tmp_path):
    from pyrocomp.plots import plot_history

    history = [dict(epoch=e, loss=10.0 - e, nll=8.0 - e, kl=4.0, kl_scale=0.5, kept_fraction=0.5 / e, error=0.1)
               for e in range(1, 4)]
    plot_history(history, tmp_path / "training.png")
    # without the terms (an older history) and with a negative loss (the Taylor ELBO can go below zero)
    plot_history([{**h, "loss": -h["loss"], "kl": None} for h in history], tmp_path / "older.png")
    assert (tmp_path / "training.png").stat().st_size > 10_000 and (tmp_path / "older.png").stat().st_size > 10_000
