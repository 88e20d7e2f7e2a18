"""
The ``pyrocomp`` command: ``pyrocomp compress ...`` and ``pyrocomp list``.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import pyro
import torch

from pyrocomp.data import DATASETS, DataError, hold_out, load_dataset
from pyrocomp.infer import (ImproperPriorError, MixtureMeanField_ELBO, TaylorMeanField_ELBO, TurboSchedule,
                            classification_error, train)
from pyrocomp.models import MODELS, build_model
from pyrocomp.pipeline import compress_network
from pyrocomp.mrf import SUPPORT_PRIORS, get_support
from pyrocomp.plots import plot_history, plot_masks, plot_message_change
from pyrocomp.priors import COMPONENTS, PRIORS, MixturePrior, TurboPrior, get_prior
from pyrocomp.pruning import mixing_weights, save_compressed


ELBOS = {
    "meanfield": ("pyrocomp.infer.MixtureMeanField_ELBO", "closed-form KL terms where registered, Monte Carlo "
                  "elsewhere (pyro.infer.TraceMeanField_ELBO, with per-component mixture scales marginalised)"),
    "trace": ("pyro.infer.Trace_ELBO", "Monte-Carlo KL terms"),
    "taylor": ("pyrocomp.infer.TaylorMeanField_ELBO", "deterministic: likelihood at the posterior means (001 eq. 35); "
               "proper priors only (ard, laplace, group-hs, turbo); the default for turbo"),
}


class UsageError(Exception):
    """Bad command-line input: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer but got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer but got {value}")
    return value


def _non_negative_int(text):
    value = int(text) if text.lstrip("-").isdigit() else None
    if value is None or value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer but got {text!r}")
    return value


def _float_where(accept, expected):
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected} but got {text!r}")
        return value

    return parse


_positive_float = _float_where(lambda v: 0 < v < float("inf"), "a positive number")
_percentage_points = _float_where(lambda v: 0 <= v <= 100, "percentage points in [0, 100]")
_fraction = _float_where(lambda v: 0 < v < 1, "a fraction in (0, 1)")


def _choice(names, kind):
    def parse(text):
        if text not in names:
            raise argparse.ArgumentTypeError(f"unknown {kind} {text!r}; expected one of {', '.join(sorted(names))}")
        return text

    return parse


def build_parser():
    parser = _Parser(prog="pyrocomp", description="Bayesian compression of neural networks with Pyro.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("list", help="list the models, priors and data sets")
    c = sub.add_parser("compress", help="train, fit a sparsity prior, prune, fine-tune, evaluate and report")
    c.add_argument("--model", required=True, type=_choice(MODELS, "model"))
    c.add_argument("--prior", required=True, type=_choice(PRIORS, "prior"))
    c.add_argument("--dataset", required=True, type=_choice(DATASETS, "dataset"))
    c.add_argument("--data-dir", default=None, help="directory of the torchvision data sets")
    c.add_argument("--pretrain-epochs", type=_non_negative_int, default=10)
    c.add_argument("--init", default=None, help="state dict of the dense network instead of pre-training")
    c.add_argument("--epochs", type=_positive_int, default=30, help="SVI epochs")
    c.add_argument("--batch-size", type=_positive_int, default=100)
    c.add_argument("--lr", type=_positive_float, default=1e-3)
    c.add_argument("--pretrain-lr", type=_positive_float, default=1e-3)
    c.add_argument("--kl-warmup-epochs", type=_non_negative_int, default=0)
    c.add_argument("--kl-weight", type=_positive_float, default=1.0,
                   help="weight of the KL terms after warm-up; > 1 weighs the prior as if the data set were smaller "
                        "(a tempered posterior) and compresses more")
    c.add_argument("--elbo", default=None, type=_choice(ELBOS, "ELBO"),
                   help="default: taylor for --prior turbo, meanfield otherwise")
    c.add_argument("--threshold", type=float, default=None,
                   help="threshold of the prior's criterion (log dropout rate; support probability for turbo)")
    c.add_argument("--calibrate", type=_percentage_points, default=None, metavar="POINTS",
                   help="choose the pruning threshold on held-out training data: the sparsest whose validation "
                        "error is within POINTS percentage points of the unpruned network's")
    c.add_argument("--validation", type=_fraction, default=0.1,
                   help="fraction of the training data held out for --calibrate (default 0.1)")
    c.add_argument("--second-moment", default="taylor", choices=["taylor", "exact"],
                   help="<w^2> of the closed-form precision updates under --elbo taylor: mu^2 (paper 001 eq. 34) "
                        "or mu^2 + sigma^2")
    c.add_argument("--finetune-epochs", type=_non_negative_int, default=0)
    c.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--out", default="runs/compress", help="output directory")
    c.add_argument("--quiet", action="store_true", help="no progress bars")
    t = c.add_argument_group("turbo", "the Turbo-VBI prior (--prior turbo, paper 001)")
    t.add_argument("--support", default="ising", type=_choice(SUPPORT_PRIORS, "support prior"),
                   help="support prior p(s): ising (2-D MRF), chain (row Markov chains) or bernoulli")
    t.add_argument("--p01", type=float, default=0.3, help="row transition probability p(1|0) (ising, chain)")
    t.add_argument("--p10", type=float, default=0.3, help="row transition probability p(0|1) (ising, chain)")
    t.add_argument("--p01-col", type=float, default=None, help="column p(1|0) (ising; default --p01)")
    t.add_argument("--p10-col", type=float, default=None, help="column p(0|1) (ising; default --p10)")
    t.add_argument("--support-p", type=float, default=0.2, help="p(s=1) of the bernoulli support prior")
    t.add_argument("--a", type=float, default=1.0, help="active Gamma shape")
    t.add_argument("--b", type=float, default=1.0, help="active Gamma rate")
    t.add_argument("--a-bar", type=float, default=1.0, help="inactive Gamma shape")
    t.add_argument("--b-bar", type=float, default=1e-3, help="inactive Gamma rate")
    t.add_argument("--bp-every", type=_positive_int, default=1, help="epochs between belief-propagation runs")
    t.add_argument("--bp-start", type=_non_negative_int, default=0, help="epochs before the first run")
    t.add_argument("--bp-iterations", type=_positive_int, default=100, help="sweeps per belief-propagation run")
    t.add_argument("--bp-damping", type=float, default=0.0, help="message damping in [0, 1)")
    t.add_argument("--bp-tolerance", type=_positive_float, default=1e-4)
    t.add_argument("--turbo-iterations", type=_positive_int, default=None,
                   help="I_max, the most belief-propagation runs (default: until converged)")
    m = c.add_argument_group("mixture", "the mixture prior (--prior mixture, paper 000)")
    m.add_argument("--components", nargs="+", default=["horseshoe", "laplace", "normal-jeffreys"],
                   type=_choice(COMPONENTS, "component"), help="scale-mixture components")
    m.add_argument("--group", default="in", choices=["in", "out", "layer", "none"],
                   help="scales shared per input unit, output unit, layer, or none (per weight)")
    m.add_argument("--block", nargs=2, type=_positive_int, default=None, metavar=("H", "W"),
                   help="block sparsity: couple each weight's precision to its H x W neighbourhood (needs --group none)")
    m.add_argument("--coupling", type=_positive_float, default=0.3, help="block coupling beta")
    m.add_argument("--block-variance", type=float, default=0.0, help="weight of the block-variance term")
    m.add_argument("--concentration", type=_positive_float, default=1.0, help="initial Dirichlet concentration")
    m.add_argument("--fixed-concentration", action="store_true", help="do not learn the Dirichlet concentration")
    m.add_argument("--tau0", type=float, default=None,
                   help="scale of a global half-Cauchy scale per layer, in units of its pretrained RMS (default: none)")
    m.add_argument("--auxiliary", action="store_true",
                   help="write every component through two auxiliary variables, z^2 = a b (docs/mixture.md)")
    m.add_argument("--scales", choices=["shared", "per-component"], default="shared",
                   help="one scale per group drawn from the mixture, or one per group and component (docs/mixture.md)")
    return parser


def _mixture_prior(args):
    kwargs = {} if args.threshold is None else {"threshold": args.threshold}
    return MixturePrior(args.components, group=None if args.group == "none" else args.group,
                        concentration=args.concentration, learn_concentration=not args.fixed_concentration,
                        block=tuple(args.block) if args.block else None, coupling=args.coupling,
                        block_variance=args.block_variance, tau0=args.tau0, auxiliary=args.auxiliary,
                        scales=args.scales, **kwargs)


def _turbo_prior(args):
    kind = args.support
    if kind == "ising":
        support = get_support(kind, p01_row=args.p01, p10_row=args.p10, p01_col=args.p01_col, p10_col=args.p10_col)
    elif kind == "chain":
        support = get_support(kind, p01=args.p01, p10=args.p10)
    else:
        support = get_support(kind, p=args.support_p)
    schedule = TurboSchedule(bp_every=args.bp_every, bp_start=args.bp_start, bp_iterations=args.bp_iterations,
                             damping=args.bp_damping, bp_tolerance=args.bp_tolerance, max_outer=args.turbo_iterations)
    kwargs = {} if args.threshold is None else {"threshold": args.threshold}
    return TurboPrior(support, a=args.a, b=args.b, a_bar=args.a_bar, b_bar=args.b_bar, schedule=schedule, **kwargs)


def _list():
    print("models:")
    for name, fn in MODELS.items():
        print(f"  {name:14s} {fn.__doc__.strip().splitlines()[0]}")
    print("priors:")
    for name, cls in PRIORS.items():
        print(f"  {name:14s} {cls.__doc__.strip().splitlines()[0].rstrip(':')}")
    print("datasets:")
    for name, fn in DATASETS.items():
        print(f"  {name:14s} {fn.__doc__.strip().splitlines()[0]}")
    print("elbos:")
    for name, (cls, what) in ELBOS.items():
        print(f"  {name:14s} {cls}: {what}")


def _device(text):
    try:
        device = torch.device(text)
    except RuntimeError:
        raise UsageError(f"unknown device {text!r}; expected cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {text!r} requested but CUDA is not available")
    return device


def _elbo(name):
    return {"meanfield": MixtureMeanField_ELBO, "trace": pyro.infer.Trace_ELBO,
            "taylor": TaylorMeanField_ELBO}[name]()


def compress_command(args):
    """Run ``pyrocomp compress``; returns the report dictionary."""
    device = _device(args.device)
    try:
        if args.prior == "turbo":
            prior = _turbo_prior(args)
        elif args.prior == "mixture":
            prior = _mixture_prior(args)
        else:
            prior = get_prior(args.prior, **({} if args.threshold is None else {"threshold": args.threshold}))
    except (ValueError, TypeError) as error:
        raise UsageError(str(error)) from None
    elbo_name = args.elbo or ("taylor" if args.prior == "turbo" else "meanfield")
    data = load_dataset(args.dataset, args.data_dir, seed=args.seed)
    if args.calibrate is not None:
        data = hold_out(data, args.validation, seed=args.seed)
    try:
        net = build_model(args.model, data.input_shape, data.num_classes)
    except ValueError as error:
        raise UsageError(f"{error} (data set {args.dataset!r})") from None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    pyro.set_rng_seed(args.seed)
    pyro.clear_param_store()
    progress = not args.quiet

    start = time.perf_counter()
    if args.init:
        try:
            state = torch.load(args.init, map_location="cpu", weights_only=True)
            net.load_state_dict(state.get("state_dict", state) if isinstance(state, dict) else state)
        except (OSError, RuntimeError, KeyError, TypeError) as error:
            raise UsageError(f"cannot load --init {args.init!r}: {str(error).splitlines()[0]}") from None
        net.to(device)
    else:
        train(net, data.train, epochs=args.pretrain_epochs, lr=args.pretrain_lr, batch_size=args.batch_size,
              device=device, seed=args.seed, progress=progress, desc="pretrain")
    pretrain_s = time.perf_counter() - start
    dense_error = classification_error(net, data.test, device)

    try:
        run = compress_network(net, prior, data, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                               elbo=_elbo(elbo_name), kl_warmup_epochs=args.kl_warmup_epochs,
                               kl_weight=args.kl_weight,
                               finetune_epochs=args.finetune_epochs, finetune_lr=args.pretrain_lr * 0.1,
                               device=device, seed=args.seed, progress=progress,
                               calibrate=None if args.calibrate is None else args.calibrate / 100,
                               second_moment=args.second_moment)
    except ImproperPriorError as error:
        raise UsageError(f"--elbo taylor cannot fit --prior {args.prior}: {error}") from None
    result, history, fit_s = run.result, run.history, run.timing["fit_s"]
    report = result.report

    save_compressed(out / "compressed.pt", result.network, result.masks, model=args.model, dataset=args.dataset,
                    prior=args.prior, error=report.error, architecture=report.architecture)
    plot_masks(result.masks, out / "kept_weights.png", title=f"{args.model} / {args.prior} / {args.dataset}")
    plot_history(history, out / "training.png")
    files = {"compressed": "compressed.pt", "kept_weights": "kept_weights.png", "training": "training.png"}
    turbo = [h["TurboVBI"] for h in history if "TurboVBI" in h]
    if turbo:
        plot_message_change(turbo, out / "message_change.png")
        files["message_change"] = "message_change.png"

    compressed = report.to_dict()
    layers = compressed.pop("layers")
    summary = {
        "model": args.model, "prior": args.prior, "dataset": args.dataset, "seed": args.seed,
        "epochs": args.epochs, "elbo": elbo_name, "device": str(device),
        "dense": {"error": dense_error, "params": report.weights, "flops": report.macs,
                  "architecture": report.architecture_dense},
        "compressed": {"error_before_finetune": report.error_before_finetune,
                       **{k: compressed[k] for k in ("error", "params_nonzero", "wr_percent", "cr_prune", "cr_bits",
                                                   "flops", "flops_reduction_percent", "architecture",
                                                   "bits_per_layer", "clusters", "weights_in_clusters")}},
        "layers": layers,
        "mixing_weights": mixing_weights(run.model, run.guide),
        "calibration": None if run.calibration is None else {
            "criterion": repr(run.calibration.criterion), "validation_size": len(data.validation),
            "reference_error": run.calibration.reference_error, "table": run.calibration.table},
        "timing": {"pretrain_s": pretrain_s, "fit_s": fit_s, "s_per_epoch": fit_s / args.epochs},
        "history": history,
        "files": files,
    }
    (out / "report.json").write_text(json.dumps(summary, indent=2))
    table = _markdown(summary, report)
    (out / "report.md").write_text(table + "\n")
    print(table)
    return summary


def _markdown(summary, report):
    d, c = summary["dense"], summary["compressed"]
    head = [
        f"# pyrocomp compress: {summary['model']} / {summary['prior']} / {summary['dataset']} (seed {summary['seed']})",
        "",
        "| network | error % | architecture | kept weights | |w!=0|/|w| % | CR_prune | CR_bits | MACs | FLOPs reduction % |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| dense | {100 * d['error']:.2f} | {d['architecture']} | {d['params']:,} | 100.00 | 1.0 | 1.0 | {d['flops']:,} | 0.0 |",
        f"| compressed | {100 * c['error']:.2f} | {c['architecture']} | {c['params_nonzero']:,} | {c['wr_percent']:.2f} "
        f"| {c['cr_prune']:.1f} | {c['cr_bits']:.1f} | {c['flops']:,} | {c['flops_reduction_percent']:.1f} |",
        "",
        f"fit {summary['timing']['fit_s']:.1f} s ({summary['timing']['s_per_epoch']:.2f} s/epoch), "
        f"pretrain {summary['timing']['pretrain_s']:.1f} s",
        "",
    ]
    tail = []
    if summary.get("mixing_weights"):
        tail = ["", "posterior mixing weights (which prior each layer chose):", ""]
        tail += [f"- layer {path}: " + ", ".join(f"{name} {w:.2f}" for name, w in weights.items())
                 for path, weights in summary["mixing_weights"].items()]
    return "\n".join(head + report.to_markdown().splitlines()[:-2] + tail)


def main(argv=None):
    """Entry point of the ``pyrocomp`` console script; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
        if args.command == "list":
            _list()
        else:
            compress_command(args)
    except (UsageError, DataError) as error:
        print(f"pyrocomp: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())


def run():
    """Console-script wrapper: ``sys.exit(main())``."""
    sys.exit(main())
