"""``pyrocomp compress``: pre-train (or load) a network, fit a prior, prune, fine-tune, report."""
import contextlib
import json
import math
import sys
import tempfile
import time
from collections import namedtuple
from pathlib import Path

import pyro
import torch

from pyrocomp.data import hold_out, load_dataset
from pyrocomp.infer import (SECOND_MOMENTS, DataParallel, ImproperPriorError, MixtureMeanField_ELBO, SingleProcess,
                            TaylorMeanField_ELBO, TurboVBI, classification_error, default_elbo, init_distributed, train)
from pyrocomp.models import build_model
from pyrocomp.pipeline import compress_network
from pyrocomp.plots import plot_history, plot_masks, plot_message_change
from pyrocomp.pruning import mixing_weights, save_atomic, save_compressed, save_posterior

from .arguments import UsageError
from .run_directory import run_directory
from .prior_options import prior_options

ELBO = namedtuple("ELBO", "elbo_type description")
#: the ELBOs of ``--elbo``: name -> class and what it computes
ELBOS = {
    "meanfield": ELBO(MixtureMeanField_ELBO, "closed-form KL terms where registered, Monte Carlo elsewhere "
                      "(pyro.infer.TraceMeanField_ELBO, with per-component mixture scales marginalised)"),
    "trace": ELBO(pyro.infer.Trace_ELBO, "Monte-Carlo KL terms"),
    "taylor": ELBO(TaylorMeanField_ELBO, "deterministic: likelihood at the posterior means (001 eq. 35); proper "
                   "priors only (ard, laplace, group-hs, turbo); the default for turbo"),
}


def _device(text):
    try:
        device = torch.device(text)
    except RuntimeError:
        raise UsageError(f"unknown device {text!r}; expected cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise UsageError(f"unsupported device {text!r}; expected cpu, cuda or cuda:N")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {text!r} requested but CUDA is not available")
    return device


def seed_run(args):
    """Seed every random number generator of a run with ``--seed`` and empty Pyro's param store: first, before the
    network is built, so that the same seed gives the same run with or without ``--init``."""
    torch.manual_seed(args.seed)
    pyro.set_rng_seed(args.seed)
    pyro.clear_param_store()


def dense_network(net, args, data, device):
    """Load ``--init`` into ``net`` or pre-train it; returns the seconds it took."""
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
              device=device, seed=args.seed, progress=not args.quiet, desc="pretrain")
    return time.perf_counter() - start


def _refuse_options_of_other_priors(args):
    for action, owner in getattr(args, "option_owners", {}).items():
        if owner != args.prior and getattr(args, action.dest) != action.default:
            raise UsageError(f"{action.option_strings[0]} is an option of --prior {owner}, not of --prior {args.prior}")


def _dry_run(net, prior, elbo, elbo_name, data, device):
    # one loss on two examples before any training: an ELBO the prior cannot be fitted with is an input error
    from pyrocomp.guides import AutoCompressionGuide, posterior_family
    from pyrocomp.nn import BayesianNetwork

    x, y = (t[:2].to(device) for t in data.train.tensors)
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            model = BayesianNetwork(net, prior, dataset_size=len(data.train)).to(device)
            guide = AutoCompressionGuide(model, posterior_family=getattr(elbo, "posterior_family", posterior_family))
            elbo.differentiable_loss(model, guide, x, y)
    except (ValueError, TypeError, NotImplementedError, ImproperPriorError) as error:
        raise UsageError(f"--elbo {elbo_name} cannot fit --prior {prior.name}: {str(error).splitlines()[0]}") from None
    finally:
        pyro.clear_param_store()


def _parallel(args):
    """The fit's parallelism and this process's device: one process on ``--device``, or with ``--distributed`` the
    processes of torchrun, each on the device its launch gives it."""
    if not args.distributed:
        return SingleProcess(), _device(args.device)
    try:
        device = init_distributed()
    except RuntimeError as error:
        raise UsageError(f"--distributed: {error}") from None
    parallel = DataParallel()
    if args.batch_size % parallel.world_size:
        raise UsageError(f"--distributed: --batch-size {args.batch_size} does not divide among the "
                         f"{parallel.world_size} processes")
    return parallel, device


def compress_command(args):
    """Run ``pyrocomp compress``; returns the report dictionary."""
    _refuse_options_of_other_priors(args)
    seed_run(args)
    parallel, device = _parallel(args)
    data = load_dataset(args.dataset, args.data_dir, seed=args.seed)
    if args.calibrate is not None:
        data = hold_out(data, args.validation, seed=args.seed)
    try:
        prior = prior_options(args.prior).build(args, steps_per_epoch=math.ceil(len(data.train) / args.batch_size),
                                                **({} if args.threshold is None else {"threshold": args.threshold}))
    except (ValueError, TypeError) as error:
        raise UsageError(str(error)) from None
    elbo = ELBOS[args.elbo].elbo_type() if args.elbo else default_elbo(prior) or MixtureMeanField_ELBO()
    elbo_name = next(name for name, entry in ELBOS.items() if type(elbo) is entry.elbo_type)
    try:
        net = build_model(args.model, data.input_shape, data.num_classes)
    except ValueError as error:
        raise UsageError(f"{error} (data set {args.dataset!r})") from None
    _dry_run(net, prior, elbo, elbo_name, data, device)
    checkpoint = checkpoint_path(args.out)
    if args.resume and not checkpoint.exists():
        raise UsageError(f"--resume: no checkpoint of an interrupted run at {str(checkpoint)!r}")
    try:  # the main process writes --out; the others work in a directory thrown away
        with run_directory(args.out, args.overwrite) if parallel.is_main else _discarded() as out:
            summary = _compress_run(args, out, device, data, prior, elbo, elbo_name, net, checkpoint, parallel)
    except KeyboardInterrupt:
        if checkpoint.exists():
            print(f"interrupted; {args.out!r} is unchanged. The same command with --resume goes on from the last "
                  f"epoch's checkpoint ({checkpoint})", file=sys.stderr)
        raise
    if parallel.is_main:
        checkpoint.unlink(missing_ok=True)  # the run is whole
    return summary


@contextlib.contextmanager
def _discarded():
    with tempfile.TemporaryDirectory(prefix="pyrocomp-rank-") as work:
        yield Path(work)


def checkpoint_path(out):
    """Where a run into ``out`` keeps its fit's checkpoint: beside ``out``, outside the run's own directory."""
    out = Path(out)
    return out.parent / f".{out.name}.checkpoint.pt"


def _compress_run(args, out, device, data, prior, elbo, elbo_name, net, checkpoint, parallel):
    progress = not args.quiet and parallel.is_main
    pretrain_s = dense_network(net, args, data, device)
    dense_error = classification_error(net, data.test, device)
    save_atomic(out / "dense.pt", {k: v.detach().cpu() for k, v in net.state_dict().items()})

    try:
        run = compress_network(net, prior, data, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                               elbo=elbo, kl_warmup_epochs=args.kl_warmup_epochs,
                               kl_weight=args.kl_weight,
                               finetune_epochs=args.finetune_epochs, finetune_lr=args.pretrain_lr * 0.1,
                               device=device, seed=args.seed, progress=progress,
                               calibrate=None if args.calibrate is None else args.calibrate / 100,
                               second_moment=SECOND_MOMENTS[args.second_moment](), checkpoint=checkpoint,
                               resume=args.resume, parallel=parallel)
    except ImproperPriorError as error:
        raise UsageError(f"--elbo taylor cannot fit --prior {args.prior}: {error}") from None
    result, history, fit_s = run.result, run.history, run.timing["fit_s"]
    report = result.report

    save_compressed(out / "compressed.pt", result.network, result.masks, model=args.model, dataset=args.dataset,
                    prior=args.prior, error=report.error, architecture=report.architecture,
                    significand={r.name: r.significand for r in report.layers if r.significand is not None},
                    bits={r.name: r.bits for r in report.layers})
    save_posterior(out / "posterior.pt", run.model, run.guide, network=args.model, prior=args.prior)
    plot_masks(result.masks, out / "kept_weights.png", title=f"{args.model} / {args.prior} / {args.dataset}")
    plot_history(history, out / "training.png")
    files = {"compressed": "compressed.pt", "posterior": "posterior.pt", "dense": "dense.pt",
             "kept_weights": "kept_weights.png", "training": "training.png"}
    turbo = [h[TurboVBI.__name__] for h in history if TurboVBI.__name__ in h]
    if turbo:
        plot_message_change(turbo, out / "message_change.png")
        files["message_change"] = "message_change.png"

    compressed = report.to_dict()
    layers = compressed.pop("layers")
    summary = {
        "model": args.model, "prior": args.prior, "dataset": args.dataset, "seed": args.seed,
        "epochs": args.epochs, "elbo": elbo_name, "device": str(device), "processes": parallel.world_size,
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
        "arguments": {k: v for k, v in vars(args).items() if v is None or isinstance(v, (bool, int, float, str))},
    }
    if args.diagnose:
        from .diagnose import diagnose

        (out / "diagnostics").mkdir()
        start = time.perf_counter()
        diagnose(out / "diagnostics", run.model, run.guide, data, history, result.masks,
                 {row.name: row.bits for row in report.layers}, result.network, net, seed=args.seed,
                 threshold=args.threshold, run=str(args.out), prior=args.prior)
        summary["timing"]["diagnose_s"] = time.perf_counter() - start
        files["diagnostics"] = "diagnostics/"
    (out / "report.json").write_text(json.dumps(summary, indent=2))
    table = _markdown(summary, report)
    (out / "report.md").write_text(table + "\n")
    if parallel.is_main:
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
