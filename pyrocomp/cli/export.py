"""``pyrocomp export RUN_DIR``: write a compressed run's network as pt, TorchScript or ONNX, then run the file back on
the test data and report its size, error and distance from the PyTorch network."""
import json
from pathlib import Path

import torch

from pyrocomp.data import load_dataset
from pyrocomp.models import build_model
from pyrocomp.pruning import EXPORT_FORMATS, exponent_bits, export_format, export_network, load_compressed, quantize
from pyrocomp.util import write_atomic

from .arguments import UsageError, choice, int_in


bits_per_weight = int_in(2, 32, "bits per weight")


def add_arguments(p):
    p.add_argument("run_dir", help="a directory written by pyrocomp compress")
    p.add_argument("--format", default="pt", type=choice(EXPORT_FORMATS, "format"),
                   help="; ".join(f"{name}: {fmt.__doc__.split(':', 1)[-1].strip().split(';')[0]}"
                                  for name, fmt in EXPORT_FORMATS.items()))
    p.add_argument("--quantize", action="store_true",
                   help="store the weights at the precision their posterior asks for: " + "; ".join(
                       f"{name}: {fmt.quantizes}" for name, fmt in EXPORT_FORMATS.items() if fmt.quantizes))
    p.add_argument("--max-bits", type=bits_per_weight, default=None,
                   help="with --quantize: at most this many bits per weight in any layer (2..32), fewer significand "
                        "bits than the posterior asks for where it asks for more")
    p.add_argument("--out", default=None, help="the file to write (default: RUN_DIR/network.<format's suffix>)")
    p.add_argument("--data-dir", default=None, help="directory of the torchvision data sets")


def _read_run(run_dir):
    run = Path(run_dir)
    report, compressed = run / "report.json", run / "compressed.pt"
    if not run.is_dir():
        raise UsageError(f"run directory {str(run)!r} does not exist")
    if not (report.is_file() and compressed.is_file()):
        raise UsageError(f"{str(run)!r} holds no compressed network (report.json and compressed.pt); "
                         "expected a directory written by pyrocomp compress")
    try:
        return json.loads(report.read_text()), compressed
    except json.JSONDecodeError as error:
        raise UsageError(f"{str(report)!r} is not a whole report: {error}") from None


def _cap_bits(net, significand, max_bits):
    """Significand bits per layer with no layer above ``max_bits`` per weight, and the bits per weight that gives."""
    capped, bits = {}, {}
    for name, t in significand.items():
        weight = net.get_submodule(name).weight.detach()
        kept = weight[weight != 0]
        exponent = exponent_bits(quantize(kept, t)) if kept.numel() else 0
        if 1 + exponent >= max_bits:
            raise UsageError(f"--max-bits {max_bits}: layer {name!r} needs {1 + exponent} bits for its sign and "
                             f"exponents alone; expected at least {2 + exponent}")
        capped[name] = min(t, max_bits - 1 - exponent)
        bits[name] = 1 + capped[name] + (exponent_bits(quantize(kept, capped[name])) if kept.numel() else 0)
    return capped, bits


def export_command(args):
    """Run ``pyrocomp export``; returns the summary dictionary it also writes beside the exported file."""
    summary, compressed = _read_run(args.run_dir)
    fmt = export_format(args.format)
    if args.quantize and fmt.quantizes is None:
        raise UsageError(f"--format {args.format} has no quantised form; --quantize works with "
                         + ", ".join(sorted(n for n, f in EXPORT_FORMATS.items() if f.quantizes)))
    data = load_dataset(summary["dataset"], args.data_dir, seed=summary["seed"])

    def dense():
        return build_model(summary["model"], data.input_shape, data.num_classes)

    try:
        net, _, metadata = load_compressed(compressed, dense())
    except ValueError as error:
        raise UsageError(str(error)) from None
    significand = bits = None
    if args.quantize:
        significand = metadata.get("significand")
        if significand is None:
            raise UsageError(f"{str(compressed)!r} holds no posterior precision per layer; re-run pyrocomp compress")
        bits = metadata.get("bits", {})
        if args.max_bits is not None:
            significand, bits = _cap_bits(net, significand, args.max_bits)
    elif args.max_bits is not None:
        raise UsageError("--max-bits caps the bits of a quantised export; add --quantize")
    out = Path(args.out) if args.out else Path(args.run_dir) / fmt.file_name(args.quantize)
    if not out.parent.is_dir():
        raise UsageError(f"--out {str(out)!r}: directory {str(out.parent)!r} does not exist")
    x, y = data.test.tensors
    export_network(net, out, args.format, x[:8], significand=significand, bits=bits, model=summary["model"],
                   dataset=summary["dataset"])
    run = fmt.runner(out, dense)
    with torch.no_grad():
        reference = torch.cat([net(b) for b in x.split(1000)])
        outputs = torch.cat([run(b) for b in x.split(1000)])
    layers = summary["layers"]
    weights = sum(layer["weights"] for layer in layers)
    result = {
        "run": str(args.run_dir), "format": args.format, "quantized": args.quantize, "file": str(out),
        "file_bytes": out.stat().st_size, "dense_bytes": 4 * weights,
        "formula_bytes": sum(layer["bits"] * layer["weights_kept"] for layer in layers) / 8 if args.quantize
        else 4 * sum(layer["weights_kept"] for layer in layers),
        "cr_bits": summary["compressed"]["cr_bits"], "error": float((outputs.argmax(1) != y).float().mean()),
        "error_pytorch": float((reference.argmax(1) != y).float().mean()),
        "max_abs_difference": float((outputs - reference).abs().max()),
    }
    result["cr_file"] = result["dense_bytes"] / result["file_bytes"]
    write_atomic(out.with_name(out.name + ".json"), lambda f: f.write(json.dumps(result, indent=2).encode()))
    print(f"| format | file | bytes | bytes by the CR_bits formula | CR_file | CR_bits | error % | max |out - PyTorch| |\n"
          f"|---|---|---|---|---|---|---|---|\n"
          f"| {args.format}{' quantised' if args.quantize else ''} | {out} | {result['file_bytes']:,} "
          f"| {result['formula_bytes']:,.0f} | {result['cr_file']:.1f} | {result['cr_bits']:.1f} "
          f"| {100 * result['error']:.2f} | {result['max_abs_difference']:.2e} |")
    return result
