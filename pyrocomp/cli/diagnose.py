"""``pyrocomp diagnose RUN_DIR [RUN_DIR ...]`` and ``pyrocomp compress --diagnose``: the run's posterior as ArviZ
InferenceData, its summary and the pictures a statistician looks at; with several runs, which pruning decisions
they agree on."""
import argparse
import json
import math
from pathlib import Path

import pyro
import torch

from pyrocomp.data import load_dataset
from pyrocomp.diagnostics import pruning_stability, stack_fits, to_inference_data
from pyrocomp.guides import AutoCompressionGuide, posterior_family
from pyrocomp.infer import TurboVBI, predict
from pyrocomp.models import build_model
from pyrocomp.nn import BayesianNetwork
from pyrocomp.plots import plot_group_log_alpha, plot_history, plot_message_change, plot_mixing_weights, \
    plot_reliability, plot_stability
from pyrocomp.pruning import load_compressed, load_posterior, mixing_weights
from pyrocomp.util import require

from .arguments import UsageError
from .prior_options import prior_options

#: how many examples of the test set the log-likelihood and the reliability diagram use by default: the draws'
#: forward passes over them are most of the work
EXAMPLES = 250


def add_arguments(p, positive_int):
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="directories written by pyrocomp compress")
    p.add_argument("--num-samples", type=positive_int, default=100, help="posterior draws per chain (2 chains)")
    p.add_argument("--examples", type=positive_int, default=EXAMPLES,
                   help=f"test examples scored by every draw (log-likelihood, LOO, reliability; default {EXAMPLES})")
    p.add_argument("--out", default=None, help="directory for the files (default: RUN_DIR/diagnostics of the first)")
    p.add_argument("--data-dir", default=None, help="directory of the torchvision data sets")


def _check_run(run_dir):
    """The files of a run directory ``diagnose`` reads, after checking they are there."""
    run = Path(run_dir)
    if not run.is_dir():
        raise UsageError(f"run directory {str(run)!r} does not exist")
    files = [run / name for name in ("report.json", "posterior.pt", "compressed.pt", "dense.pt")]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise UsageError(f"{str(run)!r} lacks {', '.join(missing)}; expected a directory written by pyrocomp compress")
    try:
        summary = json.loads(files[0].read_text())
        summary["arguments"], summary["elbo"], summary["layers"]
    except (json.JSONDecodeError, KeyError) as error:
        raise UsageError(f"{str(files[0])!r} is not a whole report of pyrocomp compress: {error}") from None
    return files, summary


def load_run(run_dir, data_dir):
    """
    A run directory of ``pyrocomp compress`` loaded back: ``{"summary", "data", "model", "guide", "masks",
    "compressed", "dense"}`` (its report, data set, fitted model and guide, pruned network and masks, dense network).

    :raises UsageError: a directory that is not a whole run.
    """
    files, summary = _check_run(run_dir)
    args = argparse.Namespace(**summary["arguments"])
    data = load_dataset(args.dataset, data_dir, seed=args.seed)
    from .compress import ELBOS

    prior = prior_options(args.prior).build(args, steps_per_epoch=math.ceil(len(data.train) / args.batch_size),
                                            **({} if args.threshold is None else {"threshold": args.threshold}))
    elbo = ELBOS[summary["elbo"]].elbo_type()
    model = BayesianNetwork(build_model(args.model, data.input_shape, data.num_classes), prior,
                            dataset_size=len(data.train))
    guide = AutoCompressionGuide(model, posterior_family=getattr(elbo, "posterior_family", posterior_family))
    try:
        load_posterior(files[1], model, guide)
        compressed, masks, _ = load_compressed(files[2], build_model(args.model, data.input_shape, data.num_classes))
        dense = build_model(args.model, data.input_shape, data.num_classes)
        dense.load_state_dict(torch.load(files[3], map_location="cpu", weights_only=True))
    except (ValueError, RuntimeError) as error:
        raise UsageError(str(error).splitlines()[0]) from None
    return dict(summary=summary, data=data, model=model, guide=guide, masks=masks, compressed=compressed,
                dense=dense.eval())


def diagnose(out, model, guide, data, history, masks, bits, compressed, dense, num_samples=100, seed=0,
             threshold=None, examples=EXAMPLES, **attrs):
    """
    Write a run's diagnostics into ``out``: ``inference_data.nc`` (the whole InferenceData, for ArviZ),
    ``summary.csv`` (``az.summary`` of the prior's sites, or of the unit norms for a prior without any), ``group_log_alpha.png``, ``scales.png`` (a forest of the first layer's
    posterior), ``training.png`` (the ELBO and the pruned network per epoch), ``reliability.png`` (compressed
    against dense), and where they apply ``message_change.png`` (Turbo-VBI, 001 Fig. 10) and
    ``mixing_weights.png`` (000).

    :returns: the InferenceData.
    """
    az = require("arviz", "diagnostics")
    plt = require("matplotlib.pyplot", "plots")
    x, y = (t[:examples] for t in data.test.tensors)
    device = next(model.parameters()).device
    idata = to_inference_data(model, guide, (x.to(device), y.to(device)), history, masks=masks, bits=bits,
                              num_samples=num_samples, num_chains=2, seed=seed, **attrs)
    idata.to_netcdf(str(out / "inference_data.nc"), engine="h5netcdf")
    names = [v for v in idata.posterior.data_vars if not v.endswith(".weight")]
    sampled = [v for v in names if ".norm_" not in v] or names  # the prior's own sites when it has any
    az.summary(idata, var_names=sampled).to_csv(out / "summary.csv")
    rates = {v.rsplit(".", 1)[0]: idata.constant_data[v].values for v in idata.constant_data.data_vars
             if v.endswith(".group_log_alpha_in")}
    plot_group_log_alpha(rates, out / "group_log_alpha.png", threshold)
    first = next((v for v in names if v.endswith(".scale") or v.endswith(".precision")), names[0])
    units = idata.posterior[first].dims[2:]
    coords = {units[0]: idata.posterior[units[0]].values[:40]} if units else None
    axes = az.plot_forest(idata, var_names=[first], coords=coords, combined=True, hdi_prob=0.9)
    axes.ravel()[0].figure.savefig(out / "scales.png", dpi=110, bbox_inches="tight")
    plt.close("all")
    if history:
        plot_history(history, out / "training.png")
        turbo = [h[TurboVBI.__name__] for h in history if TurboVBI.__name__ in h]
        if turbo:
            plot_message_change(turbo, out / "message_change.png")
    weights = mixing_weights(model, guide)
    if weights:
        plot_mixing_weights(weights, out / "mixing_weights.png")
    with torch.no_grad():
        curves = {"dense": torch.softmax(dense.cpu()(x), -1), "compressed": torch.softmax(compressed.cpu()(x), -1),
                  "Bayesian model average": predict(model, guide, x.to(device), num_samples=16).cpu()}
    plot_reliability(curves, y, out / "reliability.png")
    return idata


def diagnose_command(args):
    """Run ``pyrocomp diagnose``; returns the InferenceData of every run."""
    from .run_directory import run_directory

    for run_dir in args.run_dirs:  # every input checked before any work
        _check_run(run_dir)
    out = Path(args.out) if args.out else Path(args.run_dirs[0]) / "diagnostics"
    idatas, runs = [], []
    with run_directory(out, overwrite=True) as tmp:
        for i, run_dir in enumerate(args.run_dirs):
            # one run at a time: the guides of several runs share their parameters' names in Pyro's param store
            pyro.clear_param_store()
            run = load_run(run_dir, args.data_dir)
            runs.append({"masks": run["masks"]})
            target = tmp if len(args.run_dirs) == 1 else tmp / f"run{i}"
            target.mkdir(exist_ok=True)
            s = run["summary"]
            idatas.append(diagnose(target, run["model"], run["guide"], run["data"], s.get("history"), run["masks"],
                                   {r["name"]: r["bits"] for r in s["layers"]}, run["compressed"], run["dense"],
                                   args.num_samples, seed=s["seed"], threshold=s["arguments"].get("threshold"),
                                   examples=args.examples,
                                   run=str(args.run_dirs[i]), prior=s["prior"]))
        if len(runs) > 1:
            _stability(tmp, runs, idatas)
    print(f"diagnostics of {len(runs)} run(s) in {out}")
    return idatas


def _stability(out, runs, idatas):
    az = require("arviz", "diagnostics")
    rows = pruning_stability([run["masks"] for run in runs])
    lines = ["| layer | side | units | pruned by all | by some | by none | disputed units |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['layer']} | {r['side']} | {r['units']} | {r['all']} | {r['some']} | {r['none']} "
              f"| {', '.join(map(str, r['some_units'][:20]))}{' ...' if len(r['some_units']) > 20 else ''} |"
              for r in rows]
    try:
        rhat = az.rhat(stack_fits(idatas))
        lines += ["", "largest R-hat of each variable across the runs (near 1: the runs agree):", ""]
        lines += [f"- {v}: {float(rhat[v].max()):.3f}" for v in rhat.data_vars]
    except ValueError as error:
        lines += ["", f"R-hat across the runs not computed: {error}"]
    (out / "stability.md").write_text("\n".join(lines) + "\n")
    plot_stability(rows, out / "stability.png")
