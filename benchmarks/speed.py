"""
Measured latency of the exported networks against the dense ones, side by side in one run (001 Fig. 9).

Each method compresses each network with ``pyrocomp compress`` (a run directory under ``--runs``, default
``OUT/speed_runs``, reused when it exists unless ``--refit``); the dense network and every method's physically pruned network are then timed with
``torch.utils.benchmark`` (``blocked_autorange``: warm-up, then the median over repeated blocks), at batch sizes 1
and 64 with 1 and 2 threads, in PyTorch eager mode, eager with sparse linear layers chosen per layer by timing
(``pyrocomp.pruning.choose_execution_``), TorchScript, onnxruntime, and onnxruntime with int8 layers where the
posterior asks for at most 8 bits. Every timing is taken ``--rounds`` times, the dense and compressed networks
alternating, and the fastest median kept: the machine is shared.

    python benchmarks/speed.py --out results [--quick] [--models lenet5 ...] [--methods vd group-nj ...] [--runs DIR]

``--methods group-nj-kl8`` adds group normal-Jeffreys with KL weight 8 (a tempered posterior that removes more
whole filters), the one tuning attempt at the speed-up target.

Rows, one per network, method and engine: milliseconds per batch at batch 64 and 1 thread, speed-up over the dense
network in the same engine at (batch, threads) = (64, 1), (64, 2), (1, 1), (1, 2); the MACs ratio (dense MACs /
kept MACs, the bound a perfect implementation reaches), the fraction of that bound reached at (64, 1), the
float file size, the quantised file's size beside the size the CR_bits formula predicts, and the errors.
Picture: ``speed.png``, speed-up against MACs ratio.

Targets (issue: deployment): the exported LeNet-5 and LeNet-5-Caffe run >= 2x faster than dense on the CPU at
batch 64, at >= 70 % of the MACs bound for these sequential networks; the quantised file is within 20 % of the size
CR_bits predicts.
"""
import copy
import json
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from common import parser, print_table, setup, write_rows  # noqa: E402
from pyrocomp.cli import main as pyrocomp  # noqa: E402
from pyrocomp.data import load_dataset  # noqa: E402
from pyrocomp.models import build_model  # noqa: E402
from pyrocomp.pruning import (SparseLinear, choose_execution_, exponent_bits_of, export_format,  # noqa: E402
                              export_network, load_compressed, load_quantized, measure, save_quantized)

MODELS = ["lenet300", "lenet5-caffe", "lenet5"]
#: method -> the ``pyrocomp compress`` options beyond the shared ones
METHODS = {"vd": ["--prior", "vd"], "group-nj": ["--prior", "group-nj"], "group-hs": ["--prior", "group-hs"],
           # the tuning attempt for the 2x target: a tempered posterior (KL weight 8) that shrinks whole filters harder
           "group-nj-kl8": ["--prior", "group-nj", "--kl-weight", "8"]}
DEFAULT_METHODS = ["vd", "group-nj", "group-hs"]
CONFIGS = [(64, 1), (64, 2), (1, 1), (1, 2)]
ENGINES = ["eager", "eager-sparse", "torchscript", "onnxruntime", "onnxruntime-int8"]
COLUMNS = [
    ("model", "model", ""), ("method", "method", ""), ("engine", "engine", ""), ("architecture", "architecture", ""),
    ("ms_b64_t1", "ms (64, 1)", ".3f"), ("speedup_b64_t1", "speed-up (64, 1)", ".2f"),
    ("speedup_b64_t2", "(64, 2)", ".2f"), ("speedup_b1_t1", "(1, 1)", ".2f"), ("speedup_b1_t2", "(1, 2)", ".2f"),
    ("macs_ratio", "MACs ratio", ".2f"), ("bound_fraction", "of bound (64, 1)", ".2f"),
    ("file_bytes", "file bytes", ","), ("quantized_bytes", "quantised bytes", ","),
    ("formula_bytes", "CR_bits bytes", ",.0f"), ("quantized_over_formula", "quantised / formula", ".2f"),
    ("error", "error %", ".2f"), ("quantized_error", "quantised error %", ".2f"),
]


def compress_runs(args, runs):
    """Run ``pyrocomp compress`` for every model and method whose run directory does not exist yet."""
    epochs = ["--pretrain-epochs", "2", "--epochs", "3", "--finetune-epochs", "1"] if args.quick else \
        ["--pretrain-epochs", str(args.pretrain_epochs), "--epochs", str(args.epochs), "--finetune-epochs",
         str(args.finetune_epochs), "--kl-warmup-epochs", str(args.kl_warmup_epochs)]
    for model in args.models:
        for method in args.methods:
            out = runs / f"{model}-{method}"
            if (out / "report.json").exists() and not args.refit:
                continue
            status = pyrocomp(["compress", "--model", model, "--dataset", args.dataset, *METHODS[method], *epochs,
                               "--calibrate", str(args.calibrate), "--seed", str(args.seed), "--out", str(out),
                               "--overwrite", "--quiet", "--device", args.device])
            if status != 0:
                raise SystemExit(f"pyrocomp compress failed for {model} / {method}")


def engines(net, example, directory, name, significand, bits):
    """Callables running ``net`` in each engine (``None`` where an engine does not apply), per batch size."""
    out = {"eager": lambda x: net(x)}
    sparse = {}
    for batch in sorted({b for b, _ in CONFIGS}):  # the fastest layout depends on the batch size
        sparse[batch] = copy.deepcopy(net)
        choose_execution_(sparse[batch], batch_of(example, batch))
    out["eager-sparse"] = lambda x: sparse[len(x)](x)
    script = export_network(net, directory / f"{name}.torchscript.pt", "torchscript", example)
    out["torchscript"] = export_format("torchscript").runner(script, None)
    onnx = export_network(net, directory / f"{name}.onnx", "onnx", example)
    out["onnxruntime"] = onnx
    out["onnxruntime-int8"] = None
    if significand and any(b <= 8 for b in bits.values()):
        out["onnxruntime-int8"] = export_network(net, directory / f"{name}.int8.onnx", "onnx", example,
                                                 significand=significand, bits=bits)
    return out


def batch_of(example, size):
    """``size`` copies of the first example: the latency of a batch does not depend on its values."""
    return example[:1].expand(size, *example.shape[1:]).contiguous()


def onnx_runner(path, threads):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x.numpy()})[0]


def time_all(networks, example, args):
    """``{(name, engine, batch, threads): seconds}``: the fastest of ``--rounds`` medians, networks alternating."""
    seconds = {}
    for threads in sorted({t for _, t in CONFIGS}):
        torch.set_num_threads(threads)
        runners = {}
        for name, engine_map in networks.items():
            for engine, fn in engine_map.items():
                if fn is None:
                    continue
                runners[name, engine] = onnx_runner(fn, threads) if isinstance(fn, Path) else fn
        for batch in sorted({b for b, t in CONFIGS if t == threads}):
            x = batch_of(example, batch)
            for _ in range(args.rounds):
                for (name, engine), fn in runners.items():
                    s = measure(fn, x, min_run_time=args.min_run_time)
                    key = (name, engine, batch, threads)
                    seconds[key] = min(seconds.get(key, float("inf")), s)
    return seconds


def error_of(net, data):
    x, y = data.test.tensors
    with torch.no_grad():
        return 100 * float((torch.cat([net(b) for b in x.split(1000)]).argmax(1) != y).float().mean())


def bench_model(model, args, runs, data, directory):
    dense = build_model(model, data.input_shape, data.num_classes).eval()
    example = data.test.tensors[0][:8]
    networks = {"dense": engines(dense, example, directory, f"{model}-dense", None, {})}
    info = {"dense": dict(architecture=None, macs_ratio=1.0, error=None, file_bytes=None)}
    for method in args.methods:
        run = runs / f"{model}-{method}"
        report = json.loads((run / "report.json").read_text())
        net, _, metadata = load_compressed(run / "compressed.pt", build_model(model, data.input_shape,
                                                                            data.num_classes))
        c, layers = report["compressed"], report["layers"]
        quantized = directory / f"{model}-{method}.safetensors"
        save_quantized(quantized, net, metadata["significand"],
                       exponent=exponent_bits_of(metadata["significand"], metadata["bits"]))
        qnet, _ = load_quantized(quantized, build_model(model, data.input_shape, data.num_classes))
        formula = sum(layer["bits"] * layer["weights_kept"] for layer in layers) / 8
        float_file = export_network(net, directory / f"{model}-{method}.pt", "pt", example)
        info[method] = dict(architecture=c["architecture"], macs_ratio=report["dense"]["flops"] / max(c["flops"], 1),
                            error=error_of(net, data), quantized_error=error_of(qnet, data),
                            file_bytes=float_file.stat().st_size, quantized_bytes=quantized.stat().st_size,
                            formula_bytes=formula, quantized_over_formula=quantized.stat().st_size / formula,
                            cr_prune=c["cr_prune"], cr_bits=c["cr_bits"],
                            flops_reduction_percent=c["flops_reduction_percent"],
                            dense_error=100 * report["dense"]["error"])
        info["dense"]["error"] = 100 * report["dense"]["error"]
        info["dense"]["architecture"] = report["dense"]["architecture"]
        networks[method] = engines(net, example, directory, f"{model}-{method}", metadata["significand"],
                                   metadata["bits"])
    info["dense"]["file_bytes"] = export_network(dense, directory / f"{model}-dense.pt", "pt", example).stat().st_size
    seconds = time_all(networks, example, args)
    rows = []
    for method in ["dense", *args.methods]:
        for engine in ENGINES:
            if (method, engine, 64, 1) not in seconds:
                continue
            row = dict(model=model, dataset=args.dataset, method=method, engine=engine, **info[method])
            row["ms_b64_t1"] = 1e3 * seconds[method, engine, 64, 1]
            for batch, threads in CONFIGS:
                base = seconds.get(("dense", engine if engine != "onnxruntime-int8" else "onnxruntime", batch,
                                    threads))
                row[f"speedup_b{batch}_t{threads}"] = base / seconds[method, engine, batch, threads]
                row[f"ms_b{batch}_t{threads}"] = 1e3 * seconds[method, engine, batch, threads]
            row["bound_fraction"] = row["speedup_b64_t1"] / row["macs_ratio"]
            rows.append(row)
    return rows


LAYER_COLUMNS = [
    ("layer", "layer", ""), ("kept_percent", "kept %", ".0f"), ("block", "kept in blocks of", ""),
    ("batch", "batch", ""), ("dense_us", "dense µs", ".0f"), ("csr_us", "CSR µs", ".0f"),
    ("bsr_us", "BSR 4×4 µs", ".0f"), ("best", "fastest", ""),
]


def layer_sweep(args):
    """When sparse layers win: a 500×800 linear layer (LeNet-5-Caffe's) at several kept fractions, the kept weights
    scattered or in 4×4 blocks, timed dense, CSR and BSR 4×4 at batch 64 and 1 on one thread."""
    torch.set_num_threads(1)
    rows = []
    for kept in ([2, 30] if args.quick else [1, 2, 5, 10, 20, 30, 50]):
        for block in (1, 4):
            generator = torch.Generator().manual_seed(args.seed)
            mask = torch.rand(500 // block, 800 // block, generator=generator) < kept / 100
            layer = torch.nn.Linear(800, 500)
            with torch.no_grad():
                layer.weight *= mask.repeat_interleave(block, 0).repeat_interleave(block, 1)
            for batch in (64, 1):
                x = torch.randn(batch, 800, generator=generator)
                us = {name: 1e6 * measure(module, x, min_run_time=args.min_run_time) for name, module in
                      {"dense": layer, "csr": SparseLinear.from_linear(layer, "csr"),
                       "bsr": SparseLinear.from_linear(layer, (4, 4))}.items()}
                rows.append(dict(method="linear-500x800", layer="500×800", kept_percent=kept,
                                 block="scattered" if block == 1 else "4×4", batch=batch, dense_us=us["dense"],
                                 csr_us=us["csr"], bsr_us=us["bsr"], best=min(us, key=us.get)))
    return rows


def plot(rows, path):
    fig, ax = plt.subplots(figsize=(6.5, 5))
    markers = dict(zip(ENGINES, "osD^v"))
    for row in rows:
        if row["method"] == "dense":
            continue
        ax.scatter(row["macs_ratio"], row["speedup_b64_t1"], marker=markers[row["engine"]],
                   color=f"C{MODELS.index(row['model']) if row['model'] in MODELS else 3}", alpha=0.8)
    top = max([r["macs_ratio"] for r in rows] + [r["speedup_b64_t1"] for r in rows] + [2.0])
    ax.plot([1, top], [1, top], "k--", lw=1, label="the MACs bound")
    ax.axhline(2.0, color="gray", lw=0.8, ls=":", label="target 2x")
    for model in sorted({r["model"] for r in rows}):
        ax.scatter([], [], color=f"C{MODELS.index(model) if model in MODELS else 3}", label=model)
    for engine, m in markers.items():
        ax.scatter([], [], marker=m, color="k", label=engine)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("MACs ratio (dense / kept)")
    ax.set_ylabel("measured speed-up, batch 64, 1 thread")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    p = parser(__doc__.strip().splitlines()[0])
    p.add_argument("--models", nargs="+", default=MODELS)
    p.add_argument("--methods", nargs="+", default=DEFAULT_METHODS, choices=list(METHODS))
    p.add_argument("--dataset", default="mnist5k")
    p.add_argument("--pretrain-epochs", type=int, default=10)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--finetune-epochs", type=int, default=5)
    p.add_argument("--kl-warmup-epochs", type=int, default=5)
    p.add_argument("--calibrate", type=float, default=1.0, help="points of validation error the pruning may cost")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--min-run-time", type=float, default=0.2)
    p.add_argument("--refit", action="store_true", help="compress again even where a run directory exists")
    p.add_argument("--runs", default=None, help="directory of the compress runs (default OUT/speed_runs)")
    args = p.parse_args(argv)
    if args.quick:
        args.rounds, args.min_run_time = 1, 0.05
    setup(args)
    runs = Path(args.runs) if args.runs else Path(args.out) / "speed_runs"
    runs.mkdir(parents=True, exist_ok=True)
    compress_runs(args, runs)
    data = load_dataset(args.dataset, seed=args.seed)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            rows += bench_model(model, args, runs, data, Path(tmp))
    plot(rows, Path(args.out) / "speed.png")
    print_table(rows, COLUMNS)
    write_rows(args.out, "speed", rows, COLUMNS)
    layers = layer_sweep(args)
    print_table(layers, LAYER_COLUMNS)
    write_rows(args.out, "speed-layers", layers, LAYER_COLUMNS)


if __name__ == "__main__":
    main()
