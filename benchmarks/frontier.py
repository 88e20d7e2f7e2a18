"""
The error-FLOPs frontier of LeNet-5 trained from scratch: narrower LeNet-5s, each trained as long as
the dense network of ``turbo.py``, over several seeds. A structured pruning of LeNet-5 ends at one of
these widths; training that width from scratch ("Scratch-E" of Liu, Sun, Zhou, Huang and Darrell,
*Rethinking the value of network pruning*, ICLR 2019) tells how accurate a network of that size gets
on the data, and so whether an error target and a FLOPs target can be met together.

    python benchmarks/frontier.py --out results [--quick] [--compare results/turbo.json]
    python benchmarks/frontier.py --out results --replot --compare results/turbo.json
    python benchmarks/frontier.py --out results --widths 3-7-60-40 --seeds 1 --compress vd turbo

Rows: ``method`` ``dense`` (6-16-120-84), ``scratch`` or, with ``--compress``, the prior's name, with the mean, standard deviation and
per-seed test errors, the gap to the dense mean, the FLOPs reduction against the dense LeNet-5
(multiply-accumulates counted by ``pyrocomp.pruning.prune_``) and the weights kept. ``--compare``
draws the rows of a ``turbo.json`` (the compressed networks) on the same axes. ``--compress vd turbo``
also compresses each width's first trained network with those priors (``turbo.py``'s SVI and
fine-tuning epochs and its Turbo-VBI defaults): a compression that starts from a structure already
narrow enough, with weights and FLOPs counted against the dense LeNet-5. Writes
``OUT/frontier.json`` and ``OUT/frontier_<dataset>.png``; ``--replot`` draws the pictures again from
``OUT/frontier.json`` without training.
"""
import copy
import json
import statistics
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from common import SHARED_DATA, parser, print_table, setup, write_rows  # noqa: E402
from pyrocomp.data import DataError, load_dataset  # noqa: E402
from pyrocomp.infer import classification_error, train  # noqa: E402
from pyrocomp.models import build_model  # noqa: E402
from pyrocomp.mrf import IsingSupport  # noqa: E402
from pyrocomp.pipeline import compress_network  # noqa: E402
from pyrocomp.priors import TurboPrior, get_prior  # noqa: E402
from pyrocomp.pruning import prune_  # noqa: E402
from turbo import EPOCHS, TRANSITION  # noqa: E402

DENSE = (6, 16, 120, 84)
#: widths from the dense net down to 001's 3-5-16-17; those from 3-7-60-40 on cut FLOPs by >= 70 %
WIDTHS = ["6-16-120-84", "4-8-30-30", "4-5-60-60", "4-4-60-60", "3-7-60-40", "3-6-60-60", "3-5-16-17", "2-8-60-60"]

#: one colour per compression method, in every picture
COLOURS = {"vd": "C0", "group-nj": "C1", "turbo": "C2"}

COLUMNS = [
    ("dataset", "data", ""), ("method", "method", ""), ("widths", "widths", ""), ("architecture", "structure", ""),
    ("flops_reduction_percent", "FLOPs red. %", ".1f"), ("wr_percent", "|w|/|w dense| %", ".2f"),
    ("error", "error %", ".2f"), ("error_sd", "sd", ".2f"), ("error_gap", "gap to dense", "+.2f"),
]


def parse_widths(text):
    try:
        widths = tuple(int(w) for w in text.split("-"))
    except ValueError:
        raise ValueError(f"Expected widths like 3-5-16-17 but got {text!r}") from None
    if len(widths) != 4 or min(widths) < 1:
        raise ValueError(f"Expected four positive widths like 3-5-16-17 but got {text!r}")
    return widths


def structure(net, example):
    """MACs, weights and the architecture string (the reports' convention) of a dense ``net``."""
    layers = prune_(copy.deepcopy(net), example)
    architecture = "-".join(str(l.width[0]) for l in layers)
    return sum(l.macs for l in layers), sum(l.weights for l in layers), architecture


def prior(method):
    """``method``'s prior, Turbo-VBI with ``turbo.py``'s default transition probabilities."""
    return TurboPrior(IsingSupport(TRANSITION, TRANSITION)) if method == "turbo" else get_prior(method)


def compressed_row(method, net, text, name, data, dense_macs, dense_weights, args):
    """Compress the trained narrow ``net`` with ``method``; sizes against the dense LeNet-5."""
    _, svi_epochs, finetune_epochs = EPOCHS.get(name, EPOCHS["mnist5k"])
    if args.quick:
        svi_epochs, finetune_epochs = 1, 1
    run = compress_network(copy.deepcopy(net), prior(method), data, epochs=svi_epochs, lr=1e-3, batch_size=64,
                           kl_warmup_epochs=0 if method == "turbo" else min(5, svi_epochs), finetune_epochs=finetune_epochs,
                           finetune_lr=5e-4, device=args.device, seed=args.seed)
    r = run.result.report
    print(f"{name} {text} {method}: error {100 * r.error:.2f} %, {r.architecture}", flush=True)
    return dict(method=method, model="lenet5", dataset=name, widths=text, architecture=r.architecture,
                error=100 * r.error, error_sd=0.0, error_before_finetune=100 * r.error_before_finetune,
                flops_reduction_percent=100 * (1 - r.macs_kept / dense_macs),
                wr_percent=100 * r.weights_kept / dense_weights, epochs=svi_epochs, finetune_epochs=finetune_epochs,
                start="trained narrow network")


def run_dataset(name, data, args):
    epochs = args.epochs or sum(EPOCHS.get(name, EPOCHS["mnist5k"]))
    example = data.train.tensors[0][:2]
    dense_macs, dense_weights, _ = structure(build_model("lenet5", data.input_shape, data.num_classes), example)
    rows = []
    for text in args.widths:
        widths = parse_widths(text)
        errors, seconds, first = [], [], None
        for seed in range(args.seed, args.seed + args.seeds):
            torch.manual_seed(seed)
            net = build_model("lenet5", data.input_shape, data.num_classes, widths=widths)
            start = time.perf_counter()
            train(net, data.train, epochs=epochs, lr=args.lr, batch_size=64, device=args.device, seed=seed,
                  desc=f"{name} {text} seed {seed}")
            seconds.append((time.perf_counter() - start) / epochs)
            errors.append(100 * classification_error(net, data.test, args.device))
            print(f"{name} {text} seed {seed}: error {errors[-1]:.2f} %", flush=True)
            first = net if first is None else first
        macs, weights, architecture = structure(net, example)
        rows.append(dict(method="dense" if widths == DENSE else "scratch", model="lenet5", dataset=name,
                         widths=text, architecture=architecture, error=statistics.mean(errors),
                         error_sd=statistics.stdev(errors) if len(errors) > 1 else 0.0, errors=errors,
                         flops_reduction_percent=100 * (1 - macs / dense_macs), wr_percent=100 * weights / dense_weights,
                         epochs=epochs, lr=args.lr, seeds=list(range(args.seed, args.seed + args.seeds)),
                         s_per_epoch=statistics.mean(seconds)))
        rows += [compressed_row(m, first, text, name, data, dense_macs, dense_weights, args) for m in args.compress]
    dense = next((r["error"] for r in rows if r["method"] == "dense"), None)
    for row in rows:
        row["error_gap"] = None if dense is None else row["error"] - dense
    return rows


def plot(rows, compare, path, name):
    fig, ax = plt.subplots(figsize=(7, 4.5))
    dense = next((r for r in rows if r["method"] == "dense"), None)
    compressed = [r for r in rows if r["method"] not in ("dense", "scratch")]
    rows = [r for r in rows if r["method"] in ("dense", "scratch")]
    ax.errorbar([r["flops_reduction_percent"] for r in rows], [r["error"] for r in rows],
                yerr=[r["error_sd"] for r in rows], fmt="o", color="k", capsize=3, label="trained from scratch")
    for method in sorted({r["method"] for r in compressed}):
        mine = [r for r in compressed if r["method"] == method]
        ax.plot([r["flops_reduction_percent"] for r in mine], [r["error"] for r in mine], "^",
                color=COLOURS.get(method), label=f"{method}, from a trained narrower LeNet-5")
    for i, r in enumerate(sorted(rows, key=lambda r: r["flops_reduction_percent"])):
        ax.annotate(r["widths"], (r["flops_reduction_percent"], r["error"]), fontsize=7,
                    xytext=(-40, 8) if i % 2 else (5, -10), textcoords="offset points")
    for r in compare:
        if r.get("dataset") == name and r.get("method") != "dense" and r.get("flops_reduction_percent") is not None:
            scratch = r["method"].endswith("-scratch")  # hollow: the same mask trained from fresh weights
            colour = COLOURS.get(r["method"].removesuffix("-scratch"), "C3")
            ax.plot(r["flops_reduction_percent"], r["error"], "s", label=r["method"], markersize=7, color=colour,
                    markerfacecolor="none" if scratch else colour)
    if dense is not None:
        ax.axhspan(dense["error"] - 0.5, dense["error"] + 0.5, color="tab:green", alpha=0.15,
                   label="dense ± 0.5 points")
    ax.axvline(70, color="tab:red", linestyle="--", label="FLOPs −70 %")
    ax.set(xlabel="FLOPs reduction against LeNet-5 (%)", ylabel="test error (%)", title=f"LeNet-5 widths on {name}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def read_rows(p, path, option):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        p.error(f"{option}: cannot read rows from {path}: {error}")


def main(argv=None):
    p = parser(__doc__.strip().splitlines()[0])
    p.add_argument("--data-dir", default=str(SHARED_DATA))
    p.add_argument("--datasets", nargs="+", default=["mnist5k", "fashion-mnist"])
    p.add_argument("--widths", nargs="+", default=WIDTHS, help="conv1-conv2-fc1-fc2 widths, e.g. 3-5-16-17")
    p.add_argument("--seeds", type=int, default=3, help="seeds per width, from --seed on")
    p.add_argument("--epochs", type=int, default=None,
                   help="training epochs (default: the dense network's in turbo.py, pre-training + SVI + fine-tuning)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--compare", default=None, help="a turbo.json whose compressed networks join the pictures")
    p.add_argument("--compress", nargs="*", default=[], choices=["vd", "group-nj", "turbo"],
                   help="also compress each width's first trained network with these priors")
    p.add_argument("--replot", action="store_true", help="draw the pictures from OUT/frontier.json, no training")
    args = p.parse_args(argv)
    try:
        for text in args.widths:
            parse_widths(text)
    except ValueError as error:
        p.error(str(error))
    if args.seeds < 1:
        p.error(f"--seeds expects a positive count but got {args.seeds}")
    if args.epochs is not None and args.epochs < 1:
        p.error(f"--epochs expects a positive count but got {args.epochs}")
    if not 0 < args.lr < float("inf"):
        p.error(f"--lr expects a positive finite number but got {args.lr}")
    compare = read_rows(p, args.compare, "--compare") if args.compare else []
    if args.replot:
        rows = read_rows(p, Path(args.out) / "frontier.json", "--replot")
        for name in sorted({r["dataset"] for r in rows}):
            plot([r for r in rows if r["dataset"] == name], compare, Path(args.out) / f"frontier_{name}.png", name)
        print_table(rows, COLUMNS)
        return
    if args.quick:
        args.epochs, args.seeds, args.widths = 1, 2, args.widths[:2]
    setup(args)
    rows = []
    for name in args.datasets:
        try:
            data = load_dataset(name, data_dir=args.data_dir if name != "mnist5k" else None, seed=args.seed)
        except DataError as error:
            print(f"skipping {name}: {error}")
            continue
        found = run_dataset(name, data, args)
        plot(found, compare, Path(args.out) / f"frontier_{name}.png", name)
        rows += found
    print_table(rows, COLUMNS)
    print(f"wrote {write_rows(args.out, 'frontier', rows, COLUMNS)}")


if __name__ == "__main__":
    main()
