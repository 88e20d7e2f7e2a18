"""``pyrocomp export``: every format of a real compressed run, checked on the test data; its bad inputs."""
import json

import pytest
import torch

from pyrocomp.cli import main


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "run"
    assert main(["compress", "--model", "alexnet", "--prior", "group-nj", "--dataset", "digits", "--pretrain-epochs",
                 "1", "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    return out


@pytest.mark.parametrize("fmt", ["pt", "torchscript", "onnx"])
def test_each_format_runs_back_as_the_compressed_network(run, fmt, capsys):
    assert main(["export", str(run), "--format", fmt]) == 0
    suffix = {"pt": ".pt", "torchscript": ".torchscript.pt", "onnx": ".onnx"}[fmt]
    result = json.loads((run / f"network{suffix}.json").read_text())
    report = json.loads((run / "report.json").read_text())
    assert result["max_abs_difference"] <= 1e-5 and result["error"] == pytest.approx(report["compressed"]["error"])
    assert result["file_bytes"] == (run / f"network{suffix}").stat().st_size
    assert f"| {fmt} |" in capsys.readouterr().out
    if fmt == "pt":  # a state dict, loadable without executing code
        assert set(torch.load(run / "network.pt", weights_only=True)) >= {"state_dict", "convolutions"}


def test_quantised_exports_are_near_the_size_the_bits_predict(run):
    assert main(["export", str(run), "--format", "pt", "--quantize"]) == 0
    result = json.loads((run / "network.safetensors.json").read_text())
    report = json.loads((run / "report.json").read_text())
    assert result["quantized"] and result["file_bytes"] < result["dense_bytes"] / 4
    # the packed weights are the formula's bits; biases, positions and the header come on top
    assert result["formula_bytes"] == pytest.approx(
        sum(layer["bits"] * layer["weights_kept"] for layer in report["layers"]) / 8)
    assert result["formula_bytes"] < result["file_bytes"] < 4 * result["formula_bytes"] + 4096
    assert abs(result["error"] - report["compressed"]["error"]) < 0.05
    assert main(["export", str(run), "--format", "onnx", "--quantize"]) == 0
    assert (run / "network.int8.onnx").is_file()


def test_max_bits_caps_every_layer(run, tmp_path):
    from pyrocomp.pruning import load_quantized
    from pyrocomp.models import build_model

    out, full = tmp_path / "capped.safetensors", tmp_path / "full.safetensors"
    assert main(["export", str(run), "--quantize", "--max-bits", "6", "--out", str(out)]) == 0
    assert main(["export", str(run), "--quantize", "--out", str(full)]) == 0
    report = json.loads((run / "report.json").read_text())
    net, _ = load_quantized(out, build_model("alexnet", (1, 8, 8), 10))
    assert out.stat().st_size < full.stat().st_size
    for layer in report["layers"]:
        w = net.get_submodule(layer["name"]).weight
        kept = w[w != 0].abs()
        # at most 6 bits: the values a 6-bit float (sign, exponent, significand) can take are few
        assert kept.unique().numel() <= 2 ** 5


@pytest.mark.parametrize("argv, message", [
    (["export", "{run}", "--format", "tflite"], "unknown format 'tflite'"),
    (["export", "{missing}"], "does not exist"),
    (["export", "{empty}"], "holds no compressed network"),
    (["export", "{run}", "--format", "torchscript", "--quantize"], "has no quantised form"),
    (["export", "{run}", "--out", "{missing}/network.pt"], "does not exist"),
    (["export", "{run}", "--quantize", "--max-bits", "40"], "expected bits per weight, an integer in 2..32, but got '40'"),
    (["export", "{run}", "--quantize", "--max-bits", "x"], "an integer in 2..32, but got 'x'"),
    (["export", "{run}", "--max-bits", "8"], "add --quantize"),
    (["export", "{run}", "--quantize", "--max-bits", "2"], "for its sign and exponents alone"),
])
def test_bad_export_input_is_one_error_line(run, tmp_path, capsys, argv, message):
    (tmp_path / "empty").mkdir()
    names = {"run": run, "missing": tmp_path / "missing", "empty": tmp_path / "empty"}
    assert main([a.format(**names) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pyrocomp: error:") and message in err and len(err.strip().splitlines()) == 1


def test_a_truncated_compressed_network_is_refused(run, tmp_path, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "report.json").write_text((run / "report.json").read_text())
    whole = (run / "compressed.pt").read_bytes()
    (broken / "compressed.pt").write_bytes(whole[: len(whole) // 2])
    assert main(["export", str(broken)]) == 2
    assert "is not a whole compressed network file" in capsys.readouterr().err
