"""``pyrocomp diagnose`` and ``pyrocomp compress --diagnose`` on real runs; their bad inputs."""
import json

import arviz as az
import pytest

from pyrocomp.cli import main

TINY = ["compress", "--model", "lenet300", "--prior", "group-nj", "--dataset", "digits", "--pretrain-epochs", "1",
        "--epochs", "2", "--quiet"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("diagnose")
    assert main(TINY + ["--out", str(root / "a"), "--diagnose"]) == 0
    assert main(TINY + ["--out", str(root / "b"), "--seed", "1"]) == 0
    return root / "a", root / "b"


def test_compress_diagnose_writes_the_inference_data_summary_and_pictures(runs):
    out = runs[0] / "diagnostics"
    assert {p.name for p in out.iterdir()} >= {"inference_data.nc", "summary.csv", "group_log_alpha.png",
                                               "scales.png", "training.png", "reliability.png"}
    idata = az.from_netcdf(out / "inference_data.nc")
    assert {"posterior", "log_likelihood", "posterior_predictive", "observed_data", "sample_stats",
            "constant_data"} <= set(idata.groups())
    assert idata.posterior["1.scale"].dims == ("chain", "draw", "1_in")
    assert idata.log_likelihood["obs"].shape[-1] == len(idata.observed_data["obs"])
    report = json.loads((runs[0] / "report.json").read_text())
    assert report["arguments"]["prior"] == "group-nj" and report["files"]["diagnostics"] == "diagnostics/"
    assert (out / "summary.csv").read_text().splitlines()[0].endswith("r_hat")


def test_diagnose_several_runs_tells_which_units_they_agree_to_prune(runs, tmp_path, capsys):
    out = tmp_path / "both"
    assert main(["diagnose", str(runs[0]), str(runs[1]), "--num-samples", "20", "--examples", "40", "--out",
                 str(out)]) == 0
    stability = (out / "stability.md").read_text()
    assert stability.startswith("| layer | side | units | pruned by all |") and "- 1.scale: " in stability
    assert (out / "stability.png").stat().st_size > 1000
    first = az.from_netcdf(out / "run0" / "inference_data.nc").posterior["1.norm_in"].mean(("chain", "draw"))
    second = az.from_netcdf(out / "run1" / "inference_data.nc").posterior["1.norm_in"].mean(("chain", "draw"))
    assert float(abs(first - second).max()) > 1e-3  # each run's own posterior, not the last one loaded
    assert "diagnostics of 2 run(s)" in capsys.readouterr().out
    assert az.from_netcdf(out / "run0" / "inference_data.nc").log_likelihood["obs"].shape == (2, 20, 40)


@pytest.mark.parametrize("make, message", [
    (lambda d: None, "does not exist"),
    (lambda d: (d.mkdir(), (d / "report.json").write_text("{}")), "lacks posterior.pt"),
])
def test_bad_diagnose_input_is_one_error_line(tmp_path, capsys, make, message):
    run = tmp_path / "run"
    make(run)
    assert main(["diagnose", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pyrocomp: error:") and message in err and len(err.strip().splitlines()) == 1


def test_a_report_without_arguments_is_refused(runs, tmp_path, capsys):
    broken = tmp_path / "old"
    broken.mkdir()
    for name in ("posterior.pt", "compressed.pt", "dense.pt"):
        (broken / name).write_bytes((runs[1] / name).read_bytes())
    report = json.loads((runs[1] / "report.json").read_text())
    del report["arguments"]
    (broken / "report.json").write_text(json.dumps(report))
    assert main(["diagnose", str(broken)]) == 2
    assert "is not a whole report of pyrocomp compress" in capsys.readouterr().err
