import pytest
from torch import nn

from pyrocomp.data import hold_out, load_dataset
from pyrocomp.infer import classification_error, train
from pyrocomp.pipeline import compress_network
from pyrocomp.priors import LogUniformPrior
from pyrocomp.pruning import LogAlphaThreshold


def _net(data):
    net = nn.Sequential(nn.Linear(30, 20), nn.ReLU(), nn.Linear(20, 2))
    train(net, data.train, epochs=5, progress=False)
    return net


def test_calibrate_needs_a_validation_part():
    data = load_dataset("breast-cancer")
    with pytest.raises(ValueError, match="no validation part; see pyrocomp.data.hold_out"):
        compress_network(_net(data), LogUniformPrior(), data, epochs=1, calibrate=0.01, progress=False)


def test_calibrated_run_reports_the_chosen_threshold_and_fine_tunes_it():
    data = hold_out(load_dataset("breast-cancer"), 0.25)
    run = compress_network(_net(data), LogUniformPrior(), data, epochs=3, calibrate=0.02, finetune_epochs=2,
                           progress=False)
    chosen = [row for row in run.calibration.table if row["chosen"]]
    assert len(chosen) == 1 and len(run.calibration.table) == len(LogAlphaThreshold.grid)
    assert isinstance(run.calibration.criterion, LogAlphaThreshold)
    assert run.result.report.weights_kept == chosen[0]["weights_kept"]
    # the chosen network was judged after the same fine-tuning the run then applies
    assert chosen[0]["error"] == classification_error(run.result.network, data.validation)


def test_calibration_reference_is_the_error_the_tolerance_counts_from():
    data = hold_out(load_dataset("breast-cancer"), 0.25)
    run = compress_network(_net(data), LogUniformPrior(), data, epochs=2, calibrate=0.0, calibration_reference=1.0,
                           progress=False)
    assert run.calibration.reference_error == 1.0
    kept = [row["weights_kept"] for row in run.calibration.table]
    assert run.result.report.weights_kept == min(kept) < max(kept)  # every candidate admissible: the sparsest
