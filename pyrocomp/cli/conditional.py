"""``pyrocomp conditional``: fit one Bayesian hypernetwork (paper 003, BHC), then a compressed network per context."""
import json
import time

from pyrocomp.data import load_dataset
from pyrocomp.guides import AutoConditionalGuide, ClassSubset, CompressionLevel, FullHead, Heads, InputDomain, \
    LowRankHead
from pyrocomp.infer import classification_error, fit_conditional
from pyrocomp.models import build_model
from pyrocomp.nn import BayesianNetwork
from pyrocomp.plots import plot_context_units
from pyrocomp.priors import InputOutputNormalJeffreys
from pyrocomp.pruning import ScaleSitesLogAlphaThreshold, compress_contexts, context_error, save_hypernetwork

from .arguments import UsageError, finite_float
from .run_directory import run_directory
from .compress import _device, dense_network, seed_run

#: ``--context``: name -> builder from the command's arguments and the data set
CONTEXT_BUILDERS = {
    "classes": lambda args, data: ClassSubset(data.num_classes),
    "inputs": lambda args, data: InputDomain(data.input_shape, data.num_classes),
    "level": lambda args, data: CompressionLevel(tuple(args.kl_weights)),
}
#: ``--heads``: name -> which parameters the hypernetwork generates
HEADS = {
    "shared": lambda: Heads(),
    "low-rank": lambda: Heads(weights=LowRankHead(8)),
    "full": lambda: Heads(weights=FullHead),
}


def add_arguments(c, choice, positive_int, positive_float):
    """The options of ``pyrocomp conditional`` beyond those it shares with ``pyrocomp compress``."""
    c.add_argument("--context", required=True, type=choice(CONTEXT_BUILDERS, "context"),
                   help="classes: a class subset (003 c_y); inputs: the input domain (c_x); level: a compression "
                        "level (c_w)")
    c.add_argument("--heads", default="shared", type=choice(HEADS, "heads"),
                   help="what the hypernetwork generates per context: shared (the scales; weights shared), "
                        "low-rank (and the weights through rank-8 maps), full (every weight, 003 Algorithm 1)")
    c.add_argument("--kl-weights", type=positive_float, nargs="+", default=[0.1, 1.0],
                   help="KL weight of each compression level of --context level (003 §5.4: 0.1 1)")
    c.add_argument("--epochs", type=positive_int, default=30, help="epochs of tasks")
    c.add_argument("--threshold", type=finite_float, default=-1.0,
                   help="log dropout rate threshold of each input and output scale (003 eq. (4))")
    c.add_argument("--num-samples", type=positive_int, default=8,
                   help="posterior draws per context for the weights' marginal variances (bit precision)")


def conditional_command(args):
    """Run ``pyrocomp conditional``; returns the report dictionary."""
    seed_run(args)
    device = _device(args.device)
    data = load_dataset(args.dataset, args.data_dir, seed=args.seed)
    try:
        context = CONTEXT_BUILDERS[args.context](args, data)
        net = build_model(args.model, data.input_shape, data.num_classes)
    except ValueError as error:
        raise UsageError(f"{error} (data set {args.dataset!r})") from None
    with run_directory(args.out, args.overwrite) as out:
        return _conditional_run(args, out, device, data, context, net)


def _conditional_run(args, out, device, data, context, net):
    progress = not args.quiet
    pretrain_s = dense_network(net, args, data, device)

    model = BayesianNetwork(net, InputOutputNormalJeffreys(args.threshold)).to(device)
    guide = AutoConditionalGuide(model, context, heads=HEADS[args.heads]())
    start = time.perf_counter()
    history = fit_conditional(model, guide, data.train, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                              kl_warmup_epochs=args.kl_warmup_epochs, device=device, seed=args.seed, progress=progress)
    fit_s = time.perf_counter() - start
    x_test, y_test = (t.to(device) for t in data.test.tensors)
    results = compress_contexts(model, guide, context.test_contexts(data.test), x_test[:1],
                                data=data.test, criterion=ScaleSitesLogAlphaThreshold(args.threshold),
                                num_samples=args.num_samples, seed=args.seed)
    net.eval()
    rows = []
    for r, (_, _, indices) in zip(results, context.test_contexts(data.test)):
        report = r.compression.report
        examples = (x_test, y_test) if indices is None else (x_test[indices], y_test[indices])
        rows.append({"context": r.label, "classes": r.compression.outputs, "examples": len(examples[1]),
                     "dense_error": context_error(net, examples, context.output_classes(r.context)),
                     "error": r.error, "architecture": report.architecture, "wr_percent": report.wr_percent,
                     "cr_prune": report.cr_prune, "cr_bits": report.cr_bits,
                     "flops_reduction_percent": report.flops_reduction_percent,
                     "bits_per_layer": [layer.bits for layer in report.layers], "milliseconds": r.milliseconds})
    save_hypernetwork(out / "hypernetwork.pt", guide, model=args.model, dataset=args.dataset, context=args.context,
                      heads=args.heads, kl_weights=list(args.kl_weights), threshold=args.threshold)
    plot_context_units(results, out / "context_units.png",
                       title=f"{args.model} / {args.dataset}: units kept per {args.context} context")
    mean = lambda key: sum(row[key] for row in rows) / len(rows)  # noqa: E731
    summary = {
        "model": args.model, "dataset": args.dataset, "context": args.context, "heads": args.heads,
        "seed": args.seed, "epochs": args.epochs, "threshold": args.threshold, "device": str(device),
        "dense": {"error": classification_error(net, data.test, device),
                  "architecture": results[0].compression.report.architecture_dense},
        "mean": {key: mean(key) for key in ("dense_error", "error", "cr_prune", "cr_bits", "flops_reduction_percent",
                                            "milliseconds")},
        "contexts": rows,
        "timing": {"pretrain_s": pretrain_s, "fit_s": fit_s, "s_per_epoch": fit_s / args.epochs},
        "history": history,
        "files": {"hypernetwork": "hypernetwork.pt", "context_units": "context_units.png"},
    }
    table = _markdown(summary)
    (out / "report.json").write_text(json.dumps(summary, indent=2))  # out is the run's own directory (run_directory)
    (out / "report.md").write_text(table + "\n")
    print(table)
    return summary


def _markdown(summary):
    lines = [f"# pyrocomp conditional: {summary['model']} / {summary['dataset']} / {summary['context']} contexts "
             f"(seed {summary['seed']})", "",
             f"Dense network: {100 * summary['dense']['error']:.2f} % error, architecture "
             f"{summary['dense']['architecture']}. Errors count each context's test examples, predicting among "
             "the context's classes only.", "",
             "| context | dense error % | error % | architecture | \\|w≠0\\|/\\|w\\| % | CR_prune | CR_bits | "
             "FLOPs red. % | ms |", "|---|---|---|---|---|---|---|---|---|"]
    for row in summary["contexts"] + [dict(summary["mean"], context="**mean**", architecture="", wr_percent=None)]:
        wr = "" if row["wr_percent"] is None else f"{row['wr_percent']:.2f}"
        lines.append(f"| {row['context']} | {100 * row['dense_error']:.2f} | {100 * row['error']:.2f} | "
                     f"{row['architecture']} | {wr} | {row['cr_prune']:.1f} | {row['cr_bits']:.1f} | "
                     f"{row['flops_reduction_percent']:.1f} | {row['milliseconds']:.0f} |")
    return "\n".join(lines)
