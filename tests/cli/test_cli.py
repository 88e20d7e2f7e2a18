import json

import pytest
import torch

from pyrocomp.cli import main
from pyrocomp.models import build_model
from pyrocomp.infer import classification_error
from pyrocomp.data import load_dataset
from pyrocomp.pruning import load_compressed

DENSE = {"error", "params", "flops"}
COMPRESSED = {"error", "params_nonzero", "wr_percent", "cr_prune", "cr_bits", "flops", "flops_reduction_percent",
              "architecture", "bits_per_layer"}
LAYER = {"name", "kind", "weights", "weights_kept", "in_units", "in_kept", "out_units", "out_kept", "bits", "macs",
         "macs_kept"}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "out"
    status = main(["compress", "--model", "lenet300", "--prior", "vd", "--dataset", "digits",
                   "--pretrain-epochs", "1", "--epochs", "2", "--finetune-epochs", "1", "--out", str(out), "--quiet"])
    return status, out


def _check_report(out, architecture, layers, epochs):
    report = json.loads((out / "report.json").read_text())
    assert {"model", "prior", "dataset", "seed", "epochs", "dense", "compressed", "layers", "timing"} <= set(report)
    assert DENSE <= set(report["dense"]) and COMPRESSED <= set(report["compressed"])
    assert all(LAYER <= set(layer) for layer in report["layers"]) and len(report["layers"]) == layers
    assert {"pretrain_s", "fit_s", "s_per_epoch"} <= set(report["timing"])
    c = report["compressed"]
    assert 0 < c["wr_percent"] < 100 and c["cr_prune"] == pytest.approx(100 / c["wr_percent"])
    assert c["cr_bits"] > c["cr_prune"] and len(c["bits_per_layer"]) == layers
    assert report["dense"]["architecture"] == architecture
    assert len(report["history"]) == epochs
    for name in ("report.md", "kept_weights.png", "training.png"):
        assert (out / name).stat().st_size > 0
    assert "| compressed |" in (out / "report.md").read_text()
    return report


def _check_reload(out, model, input_shape, dataset, masks_expected):
    report = json.loads((out / "report.json").read_text())
    net, masks, metadata = load_compressed(out / "compressed.pt", build_model(model, input_shape, 10))
    assert classification_error(net, load_dataset(dataset).test) == pytest.approx(report["compressed"]["error"])
    assert metadata["architecture"] == report["compressed"]["architecture"]
    assert {name: tuple(mask.shape) for name, mask in masks.items()} == masks_expected
    payload = torch.load(out / "compressed.pt", weights_only=True)
    assert set(payload) == {"state_dict", "masks", "convolutions", "metadata"}


def test_compress_end_to_end(run):
    status, out = run
    assert status == 0
    _check_report(out, "64-300-100", layers=3, epochs=2)


def test_compressed_file_reloads_and_reproduces_the_error(run):
    _check_reload(run[1], "lenet300", (1, 8, 8), "digits", {"1": (300, 64), "3": (100, 300), "5": (10, 100)})


@pytest.mark.slow
def test_compress_end_to_end_on_mnist5k_with_lenet5_caffe(tmp_path):
    # the embedded default with the product's convolutional model, as `make demo` runs it
    status = main(["compress", "--model", "lenet5-caffe", "--prior", "vd", "--dataset", "mnist5k",
                   "--pretrain-epochs", "1", "--epochs", "2", "--finetune-epochs", "1", "--out", str(tmp_path / "run"),
                   "--quiet"])
    assert status == 0
    _check_report(tmp_path / "run", "20-50-800-500", layers=4, epochs=2)
    _check_reload(tmp_path / "run", "lenet5-caffe", (1, 28, 28), "mnist5k",
                  {"0": (20, 1, 5, 5), "3": (50, 20, 5, 5), "7": (500, 800), "9": (10, 500)})


def test_list(capsys):
    assert main(["list"]) == 0
    text = capsys.readouterr().out
    for name in ("lenet300", "lenet5-caffe", "lenet5", "alexnet", "vgg11", "vd", "group-nj", "group-hs", "io-nj",
                 "laplace", "ard", "turbo", "mixture", "mnist5k", "digits", "breast-cancer", "mnist", "fashion-mnist", "cifar10",
                 "cifar100"):
        assert f"  {name} " in text


BASE = ["compress", "--model", "lenet300", "--prior", "vd", "--dataset", "digits", "--quiet"]
MIXTURE = ["compress", "--model", "lenet300", "--prior", "mixture", "--dataset", "digits", "--quiet"]
TURBO = ["compress", "--model", "lenet300", "--prior", "turbo", "--dataset", "digits", "--quiet"]


@pytest.mark.parametrize("argv,message", [
    (["compress", "--model", "resnet", "--prior", "vd", "--dataset", "digits"], "unknown model 'resnet'"),
    (["compress", "--model", "lenet300", "--prior", "spike", "--dataset", "digits"], "unknown prior 'spike'"),
    (["compress", "--model", "lenet300", "--prior", "vd", "--dataset", "imagenet"], "unknown dataset 'imagenet'"),
    (BASE + ["--epochs", "0"], "expected a positive integer but got 0"),
    (BASE + ["--epochs", "-3"], "expected a positive integer"),
    (BASE + ["--lr", "0"], "expected a positive number"),
    (BASE + ["--kl-weight", "-2"], "expected a positive number but got '-2'"),
    (BASE + ["--kl-weight", "inf"], "expected a positive number but got 'inf'"),
    (BASE + ["--pretrain-epochs", "-1"], "non-negative integer"),
    (["compress", "--model", "lenet300", "--prior", "vd", "--dataset", "mnist", "--data-dir", "/nonexistent/dir"],
     "does not exist"),
    (["compress", "--model", "lenet300", "--prior", "vd", "--dataset", "cifar10", "--data-dir", "/"],
     "cifar-10-batches-py"),
    (["compress", "--model", "lenet5-caffe", "--prior", "vd", "--dataset", "digits"], "does not fit inputs of shape (1, 8, 8)"),
    (["compress", "--model", "vgg11", "--prior", "vd", "--dataset", "breast-cancer"], "needs image inputs"),
    (BASE + ["--device", "cuda:7"] if not torch.cuda.is_available() else BASE + ["--device", "tpu"], "device"),
    (BASE + ["--init", "/nonexistent.pt"], "cannot load --init"),
    ([], "required"),
    (BASE + ["--elbo", "taylor"], "--elbo taylor cannot fit --prior vd: Site '1.weight' has the improper prior"),
    (BASE + ["--elbo", "exact"], "unknown ELBO 'exact'"),
    (TURBO + ["--p01", "0"], "Expected p01_row in the open interval (0, 1) but got 0.0"),
    (TURBO + ["--support", "chain", "--p10", "1.5"], "Expected p10 in the open interval (0, 1) but got 1.5"),
    (TURBO + ["--b-bar", "-1"], "Expected b_bar > 0 but got -1.0"),
    (TURBO + ["--bp-damping", "1"], "Expected damping in [0, 1) but got 1.0"),
    (TURBO + ["--support", "tree"], "unknown support prior 'tree'"),
    (MIXTURE + ["--components", "cauchy"], "unknown component 'cauchy'"),
    (MIXTURE + ["--block", "3", "3"], "Block sparsity couples per-weight scales: expected group=None"),
    (MIXTURE + ["--group", "none", "--block", "2", "2", "--block-variance", "-2"], "Expected variance >= 0"),
    (MIXTURE + ["--tau0", "-1"], "Expected tau0 > 0 but got -1.0"),
    (MIXTURE + ["--auxiliary", "--scales", "per-component"], "--scales per-component has no auxiliary form"),
    (BASE + ["--calibrate", "-1"], "expected percentage points in [0, 100] but got '-1'"),
    (BASE + ["--calibrate", "1", "--validation", "1.5"], "expected a fraction in (0, 1) but got '1.5'"),
    (BASE + ["--second-moment", "mu"], "unknown second moment rule 'mu'"),
    (BASE + ["--device", "meta"], "unsupported device 'meta'"),
    (BASE + ["--seed", "-1"], "expected a seed in 0..4294967295 but got '-1'"),
    (BASE + ["--epochs", "99999999999999999999"], "expected a positive integer up to 2147483647"),
    (BASE + ["--lr", "1e300"], "expected a positive number but got '1e300'"),
    (BASE + ["--p01", "5"], "--p01 is an option of --prior turbo, not of --prior vd"),
    (BASE + ["--elbo", "taylor", "--pretrain-epochs", "1000"], "--elbo taylor cannot fit --prior vd"),  # at once
    (BASE + ["--distributed"], "--distributed: Expected the environment of a torchrun launch"),
])
def test_bad_arguments_exit_2_with_one_line(argv, message, capsys, tmp_path):
    assert main(argv + (["--out", str(tmp_path / "run")] if argv and argv[0] == "compress" else [])) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pyrocomp: error:") and message in lines[0], captured.err
    assert "Traceback" not in captured.err


def test_turbo_end_to_end(tmp_path):
    status = main(["compress", "--model", "lenet300", "--prior", "turbo", "--dataset", "digits", "--pretrain-epochs", "2",
                   "--epochs", "3", "--bp-every", "1", "--kl-weight", "2", "--out", str(tmp_path / "run"), "--quiet"])
    assert status == 0
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["elbo"] == "taylor" and [h["kl_scale"] for h in report["history"]] == [2.0, 2.0, 2.0]
    history = [h["TurboVBI"] for h in report["history"] if "TurboVBI" in h]
    assert len(history) >= 1 and [h["outer_iteration"] for h in history] == list(range(1, len(history) + 1))
    assert all(0 <= h["change"] <= h["change_max"] <= 1 for h in history)
    assert isinstance(report["compressed"]["clusters"], int) and report["compressed"]["wr_percent"] < 100
    assert (tmp_path / "run" / "message_change.png").stat().st_size > 0


@pytest.mark.parametrize("form", [[], ["--auxiliary"], ["--scales", "per-component"]])
def test_mixture_on_breast_cancer_reports_mixing_weights(tmp_path, form):
    status = main(["compress", "--model", "lenet300", "--prior", "mixture", "--dataset", "breast-cancer",
                   "--pretrain-epochs", "2", "--epochs", "2", "--group", "out", "--tau0", "0.1", "--out", str(tmp_path / "run"),
                   "--quiet", *form])
    assert status == 0
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    weights = report["mixing_weights"]
    assert set(weights) == {"1", "3", "5"}  # Flatten, then three Linear layers
    text = (tmp_path / "run" / "report.md").read_text()
    assert "posterior mixing weights" in text
    for path, layer in weights.items():
        assert set(layer) == {"horseshoe", "laplace", "normal-jeffreys"} and all(0 < w < 1 for w in layer.values())
        assert f"- layer {path}: " + ", ".join(f"{name} {w:.2f}" for name, w in layer.items()) in text


def test_calibrated_group_prior_tunes_its_group_threshold(tmp_path):
    out = tmp_path / "run"
    assert main(["compress", "--model", "lenet300", "--prior", "group-nj", "--dataset", "digits", "--pretrain-epochs",
                 "1", "--epochs", "1", "--calibrate", "1", "--out", str(out), "--quiet"]) == 0
    criterion = json.loads((out / "report.json").read_text())["calibration"]["criterion"]
    assert criterion.startswith("AllOf(criteria=(ScaleLogAlphaThreshold(")


def test_calibrated_taylor_ard_on_breast_cancer(tmp_path):
    status = main(["compress", "--model", "lenet300", "--prior", "ard", "--dataset", "breast-cancer", "--elbo", "taylor",
                   "--second-moment", "exact", "--pretrain-epochs", "5", "--epochs", "3", "--calibrate", "1",
                   "--finetune-epochs", "2",
                   "--validation", "0.2", "--out", str(tmp_path / "run"), "--quiet"])
    assert status == 0
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    cal = report["calibration"]
    assert cal["validation_size"] == 80  # 20 % of the 398 training examples, rounded up
    chosen = [row for row in cal["table"] if row["chosen"]]
    assert len(chosen) == 1 and chosen[0]["criterion"].startswith("PriorPrecisionThreshold")
    assert chosen[0]["error"] <= cal["reference_error"] + 0.01 + 1e-12
    assert report["compressed"]["params_nonzero"] == chosen[0]["weights_kept"]


@pytest.mark.parametrize("context,heads", [("classes", "shared"), ("inputs", "low-rank"), ("level", "full")])
def test_conditional_writes_a_table_per_context_and_a_reloadable_hypernetwork(tmp_path, context, heads):
    from pyrocomp.guides import AutoConditionalGuide
    from pyrocomp.nn import BayesianNetwork
    from pyrocomp.priors import InputOutputNormalJeffreys
    from pyrocomp.pruning import load_hypernetwork

    from pyrocomp.cli.conditional import CONTEXT_BUILDERS, HEADS

    status = main(["conditional", "--context", context, "--heads", heads, "--model", "lenet300", "--dataset", "digits",
                   "--pretrain-epochs", "1", "--epochs", "1", "--lr", "1e-2", "--out", str(tmp_path / "run"), "--quiet"])
    assert status == 0
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    rows = report["contexts"]
    assert len(rows) == {"classes": 10, "inputs": 10, "level": 2}[context]
    for row in rows:
        assert 0 <= row["error"] <= 1 and row["cr_prune"] >= 1 and row["milliseconds"] > 0
        assert (row["classes"] is not None) == (context == "classes")
    assert report["mean"]["cr_prune"] == pytest.approx(sum(r["cr_prune"] for r in rows) / len(rows))
    assert "| **mean** |" in (tmp_path / "run" / "report.md").read_text()
    assert (tmp_path / "run" / "context_units.png").stat().st_size > 0
    # the hypernetwork reloads into a fresh guide and gives the same networks
    data = load_dataset("digits")
    args = type("Args", (), {"kl_weights": report.get("kl_weights", [0.1, 1.0])})()
    model = BayesianNetwork(build_model("lenet300", data.input_shape, 10), InputOutputNormalJeffreys(-1.0))
    guide = AutoConditionalGuide(model, CONTEXT_BUILDERS[context](args, data), heads=HEADS[heads]())
    guide, metadata = load_hypernetwork(tmp_path / "run" / "hypernetwork.pt", guide)
    assert metadata["context"] == context and metadata["heads"] == heads
    saved = torch.load(tmp_path / "run" / "hypernetwork.pt", weights_only=True)["state_dict"]
    assert saved.keys() == guide.state_dict().keys()
    assert all(torch.equal(value, saved[key]) for key, value in guide.state_dict().items())


def test_conditional_refuses_an_unknown_context():
    assert main(["conditional", "--context", "colour", "--model", "lenet300", "--dataset", "digits"]) == 2


def test_the_same_seed_gives_the_same_run_without_init(tmp_path):
    reports = []
    for run in ("a", "b"):
        argv = BASE + ["--pretrain-epochs", "1", "--epochs", "1", "--seed", "3", "--out", str(tmp_path / run)]
        assert main(argv) == 0
        reports.append(json.loads((tmp_path / run / "report.json").read_text()))
    for key in ("dense", "compressed"):
        assert reports[0][key] == reports[1][key]
    assert [h["loss"] for h in reports[0]["history"]] == [h["loss"] for h in reports[1]["history"]]
    a, b = (torch.load(tmp_path / run / "compressed.pt", weights_only=True) for run in ("a", "b"))
    assert a["state_dict"].keys() == b["state_dict"].keys()
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    assert all(torch.equal(a["masks"][k], b["masks"][k]) for k in a["masks"])


TINY = BASE + ["--pretrain-epochs", "1", "--epochs", "1"]


def test_an_existing_out_is_refused_unless_overwrite_which_replaces_it_whole(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "stale.png").write_bytes(b"an earlier run's picture")
    assert main(TINY + ["--out", str(out)]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert main(TINY + ["--out", str(out), "--overwrite"]) == 0
    assert not (out / "stale.png").exists() and (out / "report.json").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no work directory left behind


def test_a_run_that_fails_leaves_the_previous_output_as_it_was(tmp_path, monkeypatch):
    import pyrocomp.cli.compress as command

    out = tmp_path / "run"
    assert main(TINY + ["--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(command, "plot_history", broken)  # fails after the compressed network is written
    with pytest.raises(OSError, match="disk full"):
        main(TINY + ["--out", str(out), "--overwrite", "--seed", "1"])
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".run.checkpoint.pt", "run"]  # kept for --resume


@pytest.mark.parametrize("where,message", [("", "non-empty --out"), ("file", "is a file")])
def test_a_bad_out_is_refused_before_any_training(tmp_path, monkeypatch, capsys, where, message):
    import pyrocomp.cli.compress as command

    def never(*args, **kwargs):
        raise AssertionError("trained before checking --out")

    monkeypatch.setattr(command, "train", never)
    path = tmp_path / "file"
    path.write_text("not a directory")
    assert main(TINY + ["--out", "" if where == "" else str(path)]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("command", [BASE, ["conditional", "--context", "classes", "--model", "lenet300",
                                             "--dataset", "digits"]], ids=["compress", "conditional"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "x"])
def test_a_threshold_that_is_not_a_finite_number_is_refused(command, value, capsys):
    assert main(command + [f"--threshold={value}"]) == 2
    assert f"expected a finite number but got '{value}'" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore:Encountered NaN")
def test_a_diverging_fit_is_one_error_line_naming_what_went_non_finite(tmp_path, capsys):
    assert main(TINY + ["--lr", "1e12", "--epochs", "3", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pyrocomp: error: The ELBO became") and "non-finite values in" in err
    assert not (tmp_path / "run").exists()


def test_an_interrupted_run_resumes_to_the_same_report(tmp_path, monkeypatch, capsys):
    import importlib

    fitting = importlib.import_module("pyrocomp.infer.fit")  # the module, which the function's name hides
    argv = BASE + ["--pretrain-epochs", "1", "--epochs", "4", "--seed", "2"]
    assert main(argv + ["--out", str(tmp_path / "whole")]) == 0
    whole = json.loads((tmp_path / "whole" / "report.json").read_text())
    assert not (tmp_path / ".whole.checkpoint.pt").exists()  # removed once the run is whole

    original = fitting.kl_warmup

    def interrupt(epoch, *args):  # Ctrl-C as the third epoch starts
        if epoch == 2:
            raise KeyboardInterrupt
        return original(epoch, *args)

    monkeypatch.setattr(fitting, "kl_warmup", interrupt)
    with pytest.raises(KeyboardInterrupt):
        main(argv + ["--out", str(tmp_path / "run")])
    assert "The same command with --resume goes on" in capsys.readouterr().err
    assert not (tmp_path / "run").exists() and (tmp_path / ".run.checkpoint.pt").exists()
    monkeypatch.setattr(fitting, "kl_warmup", original)
    assert main(argv + ["--out", str(tmp_path / "run"), "--resume"]) == 0
    resumed = json.loads((tmp_path / "run" / "report.json").read_text())
    assert resumed["compressed"] == whole["compressed"]
    assert [h["loss"] for h in resumed["history"]] == [h["loss"] for h in whole["history"]]


def test_resume_without_a_checkpoint_is_refused(tmp_path, capsys):
    assert main(BASE + ["--epochs", "1", "--out", str(tmp_path / "run"), "--resume"]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_turbo_with_a_sharp_support_prior_fits_without_overflow(tmp_path):
    # a legal setting whose Bernoulli KL overflowed float32 in torch's rule
    assert main(TURBO + ["--pretrain-epochs", "1", "--epochs", "2", "--b-bar", "1e-6", "--p01", "1e-4",
                         "--out", str(tmp_path / "run")]) == 0


@pytest.mark.slow
def test_compress_distributed_over_two_processes_under_torchrun(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "pyrocomp",
                           *BASE, "--pretrain-epochs", "1", "--epochs", "2", "--batch-size", "64", "--distributed",
                           "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert report["processes"] == 2 and len(report["history"]) == 2
    assert done.stdout.count("# pyrocomp compress") == 1  # the first process alone reports
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no other process's directory or checkpoint
    bad = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "pyrocomp",
                          *BASE, "--batch-size", "63", "--distributed", "--out", str(tmp_path / "bad")],
                         capture_output=True, text=True, timeout=600)
    assert bad.returncode != 0 and "--batch-size 63 does not divide among the 2 processes" in bad.stderr
