"""
Error–compression frontiers of every method under one accounting (issue: comparison harness).

Each method gives, per seed, a curve of (error, CR_prune, MACs) points: the Bayesian priors by sweeping their pruning
criterion's threshold over one fitted posterior (``pyrocomp.pruning.sweep_thresholds``, no re-fit), the baselines
by one run per keep fraction (iterative magnitude pruning, SNIP) or per penalty (L0 hard-concrete gates on every
weight, ``l0``, or on every input unit, ``l0-in``: the structured variant). The
mixture's single components (``mixture-hs``, ``mixture-laplace``, ``mixture-nj``) are the same ``MixturePrior`` with
one component, so that the mixing is the only difference. A method's front per seed is the Pareto front of its
points, in weights (CR_prune) and in multiply-accumulates (MACs ratio = MACs / kept MACs). The table reads, for each
tolerance over the dense network's error (the same seed's), the best CR_prune and the best MACs ratio on the fronts
(mean ± sd over seeds), with the fits of a Bayesian method at every ``--kl-weights`` value pooled; the mean log10
CR_prune gap to magnitude pruning over errors from dense to dense + 1 point
(``pyrocomp.pruning.area_between_fronts``); and, over the same range, on how many seeds the method's front dominates
each method it is compared with (``pyrocomp.pruning.dominates``): magnitude pruning for every Bayesian method, the
single components for the mixture, group-NJ and sparse VD in MACs for Turbo-VBI. ``bhc`` is 003's hypernetwork with the
compression-level context (c_w) over KL weights 0.1–3: one fit, every level's network at every threshold.

Robustness (seed 0): each method's network at the largest CR_prune within 1 point of the dense error (the most
accurate one when none is) and the dense network, under FGSM for ε from 0 to 0.3 (``pyrocomp.infer.fgsm_errors``)
and their expected calibration error (``pyrocomp.plots.reliability``).

Pictures ``NAME_<model>.png``: error against CR_prune and against the MACs ratio, every method, each seed's front,
and on full MNIST the papers' published points (stars); ``NAME_robustness_<model>.png``: FGSM error against ε and
the ECE. NAME is ``--name``, by default ``frontiers`` on mnist5k and ``frontiers-<dataset>`` otherwise.

    python benchmarks/frontiers.py --out results [--quick] [--models lenet300 ...] [--dataset mnist5k|mnist|fashion-mnist]
        [--methods ...] [--seeds 3] [--epochs E] [--train-size N] [--name NAME]
    python benchmarks/frontiers.py --out results --name NAME --replot

The rows keep every seed's points (``runs``), so ``--replot`` draws the pictures again without training, and
``--append --methods M ...`` runs only M and rebuilds the table with the other methods' stored points (the same
settings, the number of threads included, give the same dense networks; a different one stops the run).
``--quick``: LeNet-300-100 on mnist5k, one seed, a few epochs, four methods. Full MNIST at the papers' settings (200
epochs) is ``--dataset mnist --epochs 200`` (hours here: see ``benchmarks/README.md``). ``--train-size N`` trains on
N examples of the training split drawn per seed (the test set stays whole).
"""
import copy
import dataclasses
import json
import statistics
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pyro  # noqa: E402
import torch  # noqa: E402

from common import SHARED_DATA, command_line, parser, print_table, setup, write_rows  # noqa: E402
from pyrocomp import BayesianNetwork  # noqa: E402
from pyrocomp.baselines import iterative_magnitude_pruning, l0_pruning, snip_pruning  # noqa: E402
from pyrocomp.data import load_dataset  # noqa: E402
from pyrocomp.guides import AutoConditionalGuide, CompressionLevel  # noqa: E402
from pyrocomp.infer import classification_error, default_elbo, fgsm_errors, fit_conditional, train  # noqa: E402
from pyrocomp.models import build_model  # noqa: E402
from pyrocomp.pipeline import compress_network  # noqa: E402
from pyrocomp.plots import reliability  # noqa: E402
from pyrocomp.priors import MixturePrior, get_prior  # noqa: E402
from pyrocomp.pruning import (ScaleSitesLogAlphaThreshold, area_between_fronts, best_compression,  # noqa: E402
                              compress_contexts, compress_masked, dominates, pareto_front, sweep_thresholds)

KEEP_FRACTIONS = (0.5, 0.2, 0.1, 0.05, 0.02, 0.01)
L0_WEIGHTS = (0.03, 0.1, 0.3, 1.0)
#: the mixture's components alone, as one-component mixtures: method -> component
SINGLE_COMPONENTS = {"mixture-hs": "horseshoe", "mixture-laplace": "laplace", "mixture-nj": "normal-jeffreys"}
BAYESIAN = ["vd", "group-nj", "group-hs", "io-nj", "mixture", *SINGLE_COMPONENTS, "turbo"]
BASELINES = ["magnitude", "snip", "l0", "l0-in"]
METHODS = [*BASELINES, *BAYESIAN, "bhc"]
#: the KL weights BHC's compression-level context spans
BHC_LEVELS = (0.1, 0.3, 1.0, 3.0)
#: method -> [(a method its front is compared with, the compression axis)]: every Bayesian method with magnitude
#: pruning in weights and with magnitude pruning and structured L0 in MACs; Turbo-VBI also with group-NJ and sparse
#: VD in MACs (001 Table II), the mixture with its single components in weights (000 Table II)
AGAINST_BASELINES = [("magnitude", "cr_prune"), ("magnitude", "macs_ratio"), ("l0-in", "macs_ratio")]
COMPARED = {**{m: AGAINST_BASELINES for m in [*BAYESIAN, "bhc"]},
            "turbo": [("group-nj", "macs_ratio"), ("vd", "macs_ratio"), *AGAINST_BASELINES],
            "mixture": [*[(m, "cr_prune") for m in SINGLE_COMPONENTS], *AGAINST_BASELINES]}
AXES = {"cr_prune": "CR", "macs_ratio": "MACs"}
EPSILONS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
QUICK_METHODS = ["magnitude", "snip", "vd", "group-nj"]
TOLERANCES = (0.005, 0.01, 0.02)
COLOURS = plt.get_cmap("tab20")
#: the papers' published points on full MNIST, (model, dataset) -> [(label, error, CR_prune)]: sparse VD
#: (Molchanov et al. 2017) and Bayesian Compression (Louizos et al. 2017), as the issue quotes them
PUBLISHED = {("lenet300", "mnist"): [("sparse VD (published)", 0.0192, 68.0), ("BC-GNJ (published)", 0.018, 9.0),
                                     ("BC-GHS (published)", 0.018, 9.0)],
             ("lenet5-caffe", "mnist"): [("sparse VD (published)", 0.010, 63.0),
                                         ("BC-GHS (published)", 0.010, 156.0)]}
COLUMNS = [("model", "model", ""), ("dataset", "dataset", ""), ("method", "method", ""), ("seeds", "seeds", ""),
           ("dense_error", "dense error %", ".2f"), ("points", "points", ""),
           *[(f"cr_prune_at_{round(1000 * t)}", f"CR_prune at +{100 * t:g} pt", "") for t in TOLERANCES],
           *[(f"macs_ratio_at_{round(1000 * t)}", f"MACs ratio at +{100 * t:g} pt", "") for t in TOLERANCES[1:2]],
           ("area_vs_magnitude", "log10 CR gap to magnitude", ".2f"), ("dominates", "dominates (seeds)", ""),
           ("robust_error", "chosen: error %", ".2f"), ("robust_cr_prune", "chosen: CR_prune", ".1f"),
           ("ece_percent", "ECE %", ".1f"), *[(f"fgsm_error_at_{round(100 * e)}", f"FGSM ε={e:g} error %", ".1f")
                                               for e in (0.1, 0.2, 0.3)],
           ("epochs", "epochs", ""), ("s", "seconds", ".0f")]


def _point(network, report, data):
    return dict(error=classification_error(network, data.test), cr_prune=report.cr_prune,
                macs_kept=report.macs_kept, macs=report.macs, macs_ratio=report.macs / max(report.macs_kept, 1),
                kept_percent=report.wr_percent, architecture=report.architecture, network=network)


def _masked_points(settings, start, prune, data):
    """One point per setting: ``prune(network, setting)`` prunes (and trains) the network ``start()`` gives and
    returns its masks."""
    points = []
    for setting in settings:
        net = start()
        masks = prune(net, setting)
        result = compress_masked(net, masks, data.train.tensors[0][:256])
        points.append(dict(_point(result.network, result.report, data), setting=setting))
    return points


def _fresh(args, data, seed):
    def start():
        torch.manual_seed(seed)
        return build_model(args.model, data.input_shape, data.num_classes)
    return start


def magnitude_points(dense, data, args, seed):
    return _masked_points(KEEP_FRACTIONS, lambda: copy.deepcopy(dense), lambda net, keep: iterative_magnitude_pruning(
        net, data.train, keep, rounds=3, retrain_epochs=args.finetune_epochs, lr=args.finetune_lr,
        batch_size=args.batch_size, seed=seed), data)


def snip_points(dense, data, args, seed):
    return _masked_points(KEEP_FRACTIONS, _fresh(args, data, seed), lambda net, keep: snip_pruning(
        net, data.train.tensors, keep, epochs=args.pretrain_epochs, batch_size=args.batch_size, seed=seed), data)


def l0_points(group):
    def points(dense, data, args, seed):
        return _masked_points(L0_WEIGHTS, _fresh(args, data, seed), lambda net, weight: l0_pruning(
            net, data.train, epochs=args.pretrain_epochs, l0_weight=weight, group=group, gate_lr=0.1,
            batch_size=args.batch_size, seed=seed), data)
    return points


def _prior(method):
    if method in SINGLE_COMPONENTS:
        return MixturePrior((SINGLE_COMPONENTS[method],), learn_concentration=False)
    return get_prior(method)


def bayesian_points(method):
    def points(dense, data, args, seed):
        prior = _prior(method)
        example, found = data.train.tensors[0][:256], []
        for kl_weight in args.kl_weights:
            run = compress_network(copy.deepcopy(dense), prior, data, epochs=args.epochs, lr=1e-3,
                                   batch_size=args.batch_size, kl_warmup_epochs=min(10, args.epochs // 3),
                                   kl_weight=kl_weight, seed=seed, progress=False)
            try:
                swept = sweep_thresholds(run.model, run.guide, data.test, example, elbo=default_elbo(prior),
                                         posteriors=run.result.posteriors)
            except TypeError:  # a criterion without a grid of thresholds: the fit's own point
                swept = [dict(_point(run.result.network, run.result.report, data), threshold=None)]
            found += [dict(p, setting=[kl_weight, p["threshold"]]) for p in swept]
        return found
    return points


def bhc_points(dense, data, args, seed):
    """BHC (003) with the compression-level context c_w: one hypernetwork over the KL weights :data:`BHC_LEVELS`
    (io-NJ prior), every level's network at every threshold of 003's rule (each scale site's log dropout rate)."""
    pyro.clear_param_store()
    model = BayesianNetwork(copy.deepcopy(dense), get_prior("io-nj"))
    context = CompressionLevel(BHC_LEVELS)
    guide = AutoConditionalGuide(model, context)
    fit_conditional(model, guide, data.train, epochs=args.epochs, lr=1e-3, batch_size=args.batch_size,
                    kl_warmup_epochs=min(10, args.epochs // 3), seed=seed, progress=False)
    points = []
    for threshold in ScaleSitesLogAlphaThreshold.grid:
        results = compress_contexts(model, guide, context.test_contexts(data.test), data.train.tensors[0][:1],
                                    criterion=ScaleSitesLogAlphaThreshold(threshold), seed=seed)
        for level, r in zip(BHC_LEVELS, results):
            points.append(dict(_point(r.compression.network, r.compression.report, data), setting=[level, threshold]))
    return points


#: method -> points(dense, data, args, seed)
POINTS = {"magnitude": magnitude_points, "snip": snip_points, "l0": l0_points(None), "l0-in": l0_points("in"),
          **{m: bayesian_points(m) for m in BAYESIAN}, "bhc": bhc_points}


def best_at(front, dense_error, tolerance, x="cr_prune"):
    """The largest ``x`` of a front within ``tolerance`` of the dense error (1 when none is)."""
    return best_compression(front, dense_error + tolerance, x)


def robustness(network, data):
    """The FGSM errors at :data:`EPSILONS` and the expected calibration error of a deterministic network."""
    network.eval()
    x, y = data.test.tensors
    with torch.no_grad():
        probs = torch.cat([torch.softmax(network(batch), -1) for batch in x.split(1000)])
    errors = fgsm_errors(network, data.test, EPSILONS)
    return dict(ece_percent=100 * reliability(probs, y)[3],
                fgsm_errors={f"{e:g}": 100 * err for e, err in zip(EPSILONS, errors)},
                **{f"fgsm_error_at_{round(100 * e)}": 100 * err for e, err in zip(EPSILONS, errors)})


#: the robustness fields of a row
ROBUST_KEYS = ("robust_error", "robust_cr_prune", "ece_percent", "fgsm_errors",
               *[f"fgsm_error_at_{round(100 * e)}" for e in EPSILONS])


def chosen(points, dense_error, tolerance=0.01):
    """The point of largest CR_prune within ``tolerance`` of the dense error; the most accurate when none is."""
    within = [p for p in points if p["error"] <= dense_error + tolerance]
    return max(within, key=lambda p: p["cr_prune"]) if within else min(points, key=lambda p: p["error"])


def _mean_sd(values, fmt=".1f"):
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):{fmt}} ± {sd:{fmt}}"


def summarise(model, dataset, method, runs, curves):
    """One row per method: over seeds, the best CR_prune (and MACs ratio) at each tolerance, the gap to magnitude
    pruning and the seeds on which the front dominates each compared method's. ``runs``: per seed
    ``(dense error, points, seconds)``; ``curves``: every method's runs."""
    row = dict(model=model, dataset=dataset, method=method, seeds=len(runs),
               dense_error=100 * statistics.mean(r[0] for r in runs), points=sum(len(r[1]) for r in runs),
               s=sum(r[2] for r in runs))
    for t in TOLERANCES:
        row[f"cr_prune_at_{round(1000 * t)}"] = _mean_sd([best_at(pareto_front(points), dense, t)
                                                          for dense, points, _ in runs])
        row[f"macs_ratio_at_{round(1000 * t)}"] = _mean_sd([best_at(pareto_front(points, "macs_ratio"), dense, t,
                                                                    "macs_ratio") for dense, points, _ in runs], ".2f")
    if "magnitude" in curves:
        gaps = [area_between_fronts(pareto_front(points), pareto_front(reference), (dense, dense + 0.01))
                for (dense, points, _), (_, reference, _) in zip(runs, curves["magnitude"])]
        row["area_vs_magnitude"] = statistics.mean(gaps)
    wins = {}
    for other, x in COMPARED.get(method, []):
        if other in curves:
            wins[f"{other} ({AXES[x]})"] = sum(
                dominates(pareto_front(points, x), pareto_front(reference, x), (dense, dense + 0.01), x)
                for (dense, points, _), (_, reference, _) in zip(runs, curves[other]))
    if wins:
        row["dominates"] = ", ".join(f"{other} {n}/{len(runs)}" for other, n in wins.items())
        row["dominated_seeds"] = wins
    return row


def plot(model, dataset, curves, path):
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for i, (method, runs) in enumerate(curves.items()):
        colour, style = COLOURS(i % 20), "-" if i < 20 else "--"
        for seed, (dense, points, _) in enumerate(runs):
            label = method if seed == 0 else None
            for ax, x in zip(axes, ("cr_prune", "macs_ratio")):
                front = pareto_front(points, x)
                ax.plot([p[x] for p in front], [100 * p["error"] for p in front], marker="o", ms=3, color=colour,
                        linestyle=style, label=label)
    for label, error, cr in PUBLISHED.get((model, dataset), []):
        axes[0].scatter([cr], [100 * error], marker="*", s=90, zorder=3, label=label)
    dense = statistics.mean(r[0] for runs in curves.values() for r in runs)
    top = max(5, 100 * dense + 8)
    for ax, x in zip(axes, ("cr_prune", "macs_ratio")):
        ax.axhline(100 * dense, color="grey", linestyle=":", lw=1, label="dense")
        # the compressions reached within the picture's errors set the x range, not the broken networks
        shown = [p[x] for runs in curves.values() for r in runs for p in r[1] if 100 * p["error"] <= top]
        shown += [cr for _, _, cr in PUBLISHED.get((model, dataset), []) if x == "cr_prune"]
        right = max(shown, default=10)
        # a log axis over less than a factor of 5 has no labels worth reading
        ax.set(ylabel="test error %", ylim=(0, top), xscale="log" if right >= 5 else "linear",
               xlim=(0.8, 1.5 * right) if right >= 5 else (0.95, 1.05 * right))
    axes[0].set(xlabel="CR_prune = |w| / |w≠0|", title=f"{model} / {dataset}: error against CR_prune")
    axes[1].set(xlabel="MACs ratio = MACs / kept MACs", title="error against MACs")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_robustness(model, dataset, robust, path):
    """FGSM error against ε and the ECE of the dense network and each method's chosen network."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw=dict(width_ratios=(3, 2)))
    for i, (method, r) in enumerate(robust.items()):
        label = method if method == "dense" else f"{method} (CR {r['robust_cr_prune']:.0f})"
        axes[0].plot(EPSILONS, list(r["fgsm_errors"].values()), marker="o", ms=3, color=COLOURS(i % 20),
                     linestyle="-" if i < 20 else "--", label=label)
    axes[0].set(xlabel="FGSM ε (fraction of the input range)", ylabel="test error %",
                title=f"{model} / {dataset}: error under FGSM (001 Fig. 12)")
    axes[0].legend(fontsize=7)
    axes[1].barh(list(robust), [r["ece_percent"] for r in robust.values()], color=[COLOURS(i % 20) for i in range(len(robust))])
    axes[1].invert_yaxis()
    axes[1].set(xlabel="expected calibration error %", title="calibration")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def subsample(data, size, seed):
    """``data`` with ``size`` training examples drawn by ``seed`` (all of them when ``size`` is None)."""
    if size is None:
        return data
    x, y = data.train.tensors
    if not 0 < size <= len(y):
        raise SystemExit(f"pyrocomp: error: --train-size must be in 1..{len(y)} but got {size}")
    index = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))[:size]
    return dataclasses.replace(data, train=torch.utils.data.TensorDataset(x[index], y[index]))


def stored_rows(path, model, methods, seeds):
    """``{method: row}`` of ``path``'s rows for ``model``, but ``methods`` and the dense row, for ``--append``."""
    if not path.is_file():
        raise SystemExit(f"pyrocomp: error: --append needs {path}, which does not exist")
    rows = {r["method"]: r for r in json.loads(path.read_text()) if r["model"] == model and "runs" in r}
    for method, row in rows.items():
        if len(row["runs"]) != seeds:
            raise SystemExit(f"pyrocomp: error: {path} has {len(row['runs'])} seeds of {method}, expected --seeds {seeds}")
    return {m: r for m, r in rows.items() if m not in methods}


def build_rows(model, dataset, curves, robust, dense_row, settings, train_size):
    """The table's rows of one network: the dense row, then one per method in :data:`METHODS` order with its
    summary, its robustness, its ``settings`` (``epochs``, ``kl_weights``) and every seed's points (``runs``)."""
    rows = [dense_row]
    for method in sorted(curves, key=METHODS.index):
        runs = curves[method]
        rows.append(dict(summarise(model, dataset, method, runs, curves),
                         **{k: robust[method][k] for k in ROBUST_KEYS if k in robust[method]}, **settings[method],
                         train_size=train_size, runs=[dict(dense_error=d, points=q, s=t) for d, q, t in runs]))
    return rows


def draw(out, name, model, dataset, curves, robust):
    order = ["dense", *sorted(curves, key=METHODS.index)]
    plot(model, dataset, {m: curves[m] for m in order[1:]}, out / f"{name}_{model}.png")
    plot_robustness(model, dataset, {m: robust[m] for m in order}, out / f"{name}_robustness_{model}.png")


def replot(out, name):
    """Score and draw again from ``OUT/NAME.json`` (its rows keep every seed's points): the table, with the current
    comparisons, and the pictures. The page keeps the command that trained."""
    path = out / f"{name}.json"
    rows, new = json.loads(path.read_text()), []
    command = rows[0].get("command") or _page_command(out / f"{name}.md")
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = {r["method"]: r for r in rows if r["model"] == model}
        curves = {m: [(q["dense_error"], q["points"], q["s"]) for q in r["runs"]] for m, r in mine.items() if "runs" in r}
        settings = {m: {k: r.get(k) for k in ("epochs", "kl_weights")} for m, r in mine.items()}
        new += build_rows(model, mine["dense"]["dataset"], curves, mine, mine["dense"], settings,
                          mine["dense"].get("train_size"))
        draw(out, name, model, mine["dense"]["dataset"], curves, mine)
    for row in new:
        row["command"] = command
    write_rows(out, name, new, COLUMNS, command=command)
    return new


def _page_command(page):
    """The command a result page records (``- command: `...```), or None."""
    for line in page.read_text().splitlines() if page.is_file() else []:
        if line.startswith("- command: `"):
            return line[len("- command: `"):-1]
    return None


def main(argv=None):
    p = parser(__doc__.splitlines()[1])
    p.add_argument("--models", nargs="+", default=None)
    p.add_argument("--dataset", default="mnist5k")
    p.add_argument("--data-dir", default=str(SHARED_DATA))
    p.add_argument("--methods", nargs="+", choices=METHODS, default=None)
    p.add_argument("--seeds", type=int, default=None)
    p.add_argument("--pretrain-epochs", type=int, default=None, help="dense training (and SNIP's, L0's) epochs")
    p.add_argument("--epochs", type=int, default=None, help="SVI epochs of the Bayesian methods")
    p.add_argument("--finetune-epochs", type=int, default=None, help="retraining epochs per magnitude round")
    p.add_argument("--finetune-lr", type=float, default=1e-4)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--kl-weights", type=float, nargs="+", default=[1.0],
                   help="fit each Bayesian method once per KL weight and pool the points into its front")
    p.add_argument("--train-size", type=int, default=None, help="train on this many examples, drawn per seed")
    p.add_argument("--name", default=None, help="NAME of NAME.json, NAME.md and the pictures")
    p.add_argument("--replot", action="store_true", help="draw the pictures again from OUT/NAME.json, no training")
    p.add_argument("--append", action="store_true",
                   help="run only --methods and keep OUT/NAME.json's other methods (same seeds and dense networks)")
    args = p.parse_args(argv)
    setup(args)
    name = args.name or ("frontiers" if args.dataset == "mnist5k" else f"frontiers-{args.dataset}")
    if args.replot:
        return replot(Path(args.out), name)
    quick = args.quick
    models = args.models or (["lenet300"] if quick else ["lenet300", "lenet5-caffe"])
    methods = args.methods or (QUICK_METHODS if quick else METHODS)
    seeds = args.seeds or (1 if quick else 3)
    args.pretrain_epochs = args.pretrain_epochs or (5 if quick else 20)
    args.epochs = args.epochs or (20 if quick else 100)
    args.finetune_epochs = args.finetune_epochs or (1 if quick else 5)
    out = Path(args.out)
    # --append keeps the stored rows of the networks not run now
    rows = [r for r in json.loads((out / f"{name}.json").read_text()) if r["model"] not in models] if (
        args.append and (out / f"{name}.json").is_file()) else []
    for model in models:
        args.model = model
        curves, dense_runs, robust = {}, [], {}
        stored = stored_rows(out / f"{name}.json", model, methods, seeds) if args.append else {}
        for method, row in stored.items():
            curves[method] = [(q["dense_error"], q["points"], q["s"]) for q in row["runs"]]
            robust[method] = row
        for seed in range(seeds):
            data = subsample(load_dataset(args.dataset, args.data_dir, seed=seed), args.train_size, seed)
            torch.manual_seed(seed)
            dense = build_model(model, data.input_shape, data.num_classes)
            start = time.perf_counter()
            train(dense, data.train, epochs=args.pretrain_epochs, batch_size=args.batch_size, seed=seed,
                  progress=not quick)
            dense_error = classification_error(dense, data.test)
            dense_runs.append((dense_error, time.perf_counter() - start))
            for method in stored:
                runs = curves[method]
                if runs[seed][0] != dense_error:
                    raise SystemExit(f"pyrocomp: error: seed {seed}'s dense network has error {dense_error}, but "
                                     f"{method}'s stored one had {runs[seed][0]}: --append needs the same settings")
            if seed == 0:
                robust["dense"] = dict(robustness(copy.deepcopy(dense), data), robust_error=100 * dense_error,
                                       robust_cr_prune=1.0)
            for method in methods:
                start = time.perf_counter()
                points = POINTS[method](dense, data, args, seed)
                seconds = time.perf_counter() - start
                if seed == 0:
                    pick = chosen(points, dense_error)
                    robust[method] = dict(robustness(pick["network"], data), robust_error=100 * pick["error"],
                                          robust_cr_prune=pick["cr_prune"])
                for q in points:  # keep the numbers, not the networks
                    q.pop("network", None)
                curves.setdefault(method, []).append((dense_error, points, seconds))
                print(f"{model} seed {seed} {method}: {len(points)} points, best error "
                      f"{100 * min(q['error'] for q in points):.2f} %, {seconds:.0f} s", flush=True)
        dense_row = dict(model=model, dataset=args.dataset, method="dense", seeds=seeds, points=seeds,
                         dense_error=100 * statistics.mean(e for e, _ in dense_runs), epochs=args.pretrain_epochs,
                         s=sum(t for _, t in dense_runs), train_size=len(data.train),
                         **{f"cr_prune_at_{round(1000 * t)}": "1.0" for t in TOLERANCES}, **robust["dense"])
        settings = {m: {k: stored[m].get(k) for k in ("epochs", "kl_weights")} if m in stored else dict(
            epochs=None if m in BASELINES else args.epochs,
            kl_weights=None if m in BASELINES or m == "bhc" else args.kl_weights) for m in curves}
        new = build_rows(model, args.dataset, curves, robust, dense_row, settings, len(data.train))
        for row in new:  # the rows kept from an earlier run keep its command
            row["command"] = command_line()
        rows += new
        draw(out, name, model, args.dataset, curves, robust)
        write_rows(out, name, rows, COLUMNS)  # each network's rows as soon as they are in
    print_table(rows, COLUMNS)
    return rows


if __name__ == "__main__":
    main()
