"""
Ship a compressed network: compress a small convolutional network on scikit-learn's digits with the group
normal-Jeffreys prior, then export it as ONNX (float and int8) and as a packed file at the posterior's precision,
run each file back and compare sizes, errors and latency with the dense network.

    python examples/deploy.py --epochs 30 --out deploy
"""
import argparse
import tempfile
from pathlib import Path

import pyro
import torch
from torch import nn

from pyrocomp import AutoCompressionGuide, BayesianNetwork
from pyrocomp.data import load_dataset
from pyrocomp.infer import classification_error, fit, train
from pyrocomp.priors import GroupNormalJeffreys
from pyrocomp.pruning import compress, export_format, export_network, measure, save_quantized


def error(run, data):
    x, y = data.test.tensors
    return float((torch.as_tensor(run(x)).argmax(1) != y).float().mean())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--pretrain-epochs", type=int, default=20)
    parser.add_argument("--out", default=None, help="directory for the exported files (default: a temporary one)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    pyro.set_rng_seed(0)
    data = load_dataset("digits")
    net = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 16, 64), nn.ReLU(), nn.Linear(64, 10))
    train(net, data.train, epochs=args.pretrain_epochs, lr=3e-3, batch_size=64, device=args.device, progress=False)

    pyro.clear_param_store()
    model = BayesianNetwork(net, GroupNormalJeffreys(), dataset_size=len(data.train))
    guide = AutoCompressionGuide(model)
    fit(model, guide, data.train, epochs=args.epochs, lr=3e-3, batch_size=64, device=args.device, progress=False)
    example = data.test.tensors[0][:64].to(args.device)
    result = compress(model, guide, example)
    pruned = result.network.cpu().eval()
    print(result.report.to_markdown())

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        out.mkdir(parents=True, exist_ok=True)
        significand = {r.name: r.significand for r in result.report.layers if r.significand is not None}
        bits = {r.name: r.bits for r in result.report.layers}
        files = {
            "dense onnx": export_network(net.cpu().eval(), out / "dense.onnx", "onnx", example.cpu()),
            "compressed onnx": export_network(pruned, out / "network.onnx", "onnx", example.cpu()),
            "compressed onnx int8": export_network(pruned, out / "network.int8.onnx", "onnx", example.cpu(),
                                                   significand=significand, bits=bits),
        }
        packed = out / "network.safetensors"
        save_quantized(packed, pruned, significand)
        print("\n| file | bytes | error % | ms per batch of 64 |\n|---|---|---|---|")
        for name, path in files.items():
            run = export_format("onnx").runner(path, None)
            print(f"| {name} | {path.stat().st_size:,} | {100 * error(run, data):.2f} "
                  f"| {1e3 * measure(run, example.cpu()):.3f} |")
        dense_error = classification_error(net, data.test)
        print(f"| compressed, packed at the posterior's bits | {packed.stat().st_size:,} | | |")
        print(f"\ndense error {100 * dense_error:.2f} %; CR_bits {result.report.cr_bits:.1f}")
    return result


if __name__ == "__main__":
    main()
