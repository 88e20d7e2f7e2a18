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
