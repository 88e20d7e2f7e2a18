"""Every export format against the masked network it was written from, and its files' failure modes."""
import pytest
import torch
from torch import nn

from pyrocomp.models import build_model
from pyrocomp.pruning import EXPORT_FORMATS, export_format, export_network, prune_
from pyrocomp.util import write_atomic

#: the largest difference from the pruned network in memory (the masked one is 1e-5 away: fewer terms summed)
TOLERANCE = {"pt": 0.0, "torchscript": 1e-6, "onnx": 1e-5}


def _masked(name, shape, seed=0):
    torch.manual_seed(seed)
    net = build_model(name, shape, 10).eval()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in [m for m in net.modules() if isinstance(m, (nn.Linear, nn.Conv2d))][:-1]:
            m.weight[torch.rand(m.weight.shape[0], generator=generator) < 0.4] = 0
            m.weight[torch.rand(m.weight.shape, generator=generator) < 0.5] = 0
        if isinstance(net[0], nn.Conv2d):
            net[0].weight[:, :, 0] = 0  # a cropped kernel
    return net


@pytest.mark.parametrize("name", ["lenet300", "lenet5-caffe", "lenet5"])
@pytest.mark.parametrize("fmt", sorted(TOLERANCE))
def test_every_format_runs_as_the_masked_network(name, fmt, tmp_path):
    net = _masked(name, (1, 28, 28))
    x = torch.randn(64, 1, 28, 28)
    with torch.no_grad():
        masked = net(x)
        prune_(net, x[:8])
        pruned = net(x)
    path = export_network(net, tmp_path / export_format(fmt).file_name(), fmt, x[:8])
    run = export_format(fmt).runner(path, lambda: build_model(name, (1, 28, 28), 10))
    assert torch.allclose(run(x), pruned, rtol=0, atol=TOLERANCE[fmt])
    assert torch.allclose(run(x), masked, rtol=0, atol=1e-5)
    assert torch.allclose(run(x[:1]), masked[:1], rtol=0, atol=1e-5)  # any batch size


def test_a_pruned_resnet18_exports_to_onnx_and_back():
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=10).eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                m.weight[torch.rand(m.weight.shape[0], generator=generator) < 0.3] = 0
                m.weight[:, torch.rand(m.weight.shape[1], generator=generator) < 0.2] = 0
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        expected = net(x)
        prune_(net, x)
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        path = export_network(net, f"{tmp}/net.onnx", "onnx", x)
        assert torch.allclose(export_format("onnx").runner(path, None)(x), expected, rtol=0, atol=1e-4)


def test_quantised_exports_are_smaller_and_run_at_the_posterior_precision(tmp_path):
    net = _masked("lenet5", (1, 28, 28))
    x = torch.randn(32, 1, 28, 28)
    with torch.no_grad():
        prune_(net, x[:8])
        expected = net(x)
    layers = [name for name, m in net.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    significand = dict.fromkeys(layers, 4)
    bits = {name: 7 if name == "9" else 12 for name in layers}  # one layer asks for <= 8 bits: int8
    dense = lambda: build_model("lenet5", (1, 28, 28), 10)  # noqa: E731
    plain = export_network(net, tmp_path / "float.pt", "pt", x[:8])
    packed = export_network(net, tmp_path / "q.safetensors", "pt", x[:8], significand=significand, bits=bits)
    assert packed.stat().st_size < plain.stat().st_size / 3
    out = export_format("pt").runner(packed, dense)(x)
    assert 0 < float((out - expected).abs().max()) < 0.1 * float(expected.abs().max())
    onnx = pytest.importorskip("onnx")
    int8 = export_network(net, tmp_path / "q.onnx", "onnx", x[:8], significand=significand, bits=bits)
    ops = {node.op_type for node in onnx.load(str(int8)).graph.node}
    assert "MatMulInteger" in ops or "DynamicQuantizeMatMul" in ops
    out = export_format("onnx").runner(int8, None)(x)
    assert float((out - expected).abs().max()) < 0.1 * float(expected.abs().max())


def test_bad_formats_and_truncated_files_are_refused(tmp_path):
    net = _masked("lenet300", (1, 28, 28))
    x = torch.randn(4, 1, 28, 28)
    with pytest.raises(ValueError, match="Unknown export format 'tflite'"):
        export_network(net, tmp_path / "n", "tflite", x)
    with pytest.raises(ValueError, match="no quantised form"):
        export_network(net, tmp_path / "n", "torchscript", x, significand={"1": 3})
    dense = lambda: build_model("lenet300", (1, 28, 28), 10)  # noqa: E731
    for fmt in sorted(EXPORT_FORMATS):
        path = export_network(net, tmp_path / export_format(fmt).file_name(), fmt, x)
        whole = path.read_bytes()
        path.write_bytes(whole[: len(whole) // 2])
        with pytest.raises(ValueError, match="is not a whole"):
            export_format(fmt).runner(path, dense)(x)


def test_a_failed_write_leaves_the_previous_file_whole(tmp_path):
    path = tmp_path / "network.pt"
    path.write_bytes(b"previous")

    def fails(f):
        f.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, fails)
    assert path.read_bytes() == b"previous" and [p.name for p in tmp_path.iterdir()] == ["network.pt"]
