"""
Error–compression frontiers of every method under one accounting (issue: comparison harness).

Each method gives, per seed, a curve of (error, CR_prune, MACs) points: the Bayesian priors by sweeping their pruning
criterion's threshold over one fitted posterior (``pyrocomp.pruning.sweep_thresholds``, no re-fit), the baselines
by one run per keep fraction (iterative magnitude pruning, SNIP) or per penalty (L0 hard-concrete gates). A method's
front per seed is the Pareto front of its points; the table reads, for each tolerance over the dense network's error
(the same seed's), the best CR_prune on the front (mean ± sd over seeds) and the mean log10 CR_prune gap to
magnitude pruning over errors from dense to dense + 1 point (``pyrocomp.pruning.area_between_fronts``). Pictures
``frontiers_<model>_<dataset>.png``: error against CR_prune and against kept MACs, every method, each seed's front,
and on full MNIST the papers' published points (stars).

    python benchmarks/frontiers.py --out results [--quick] [--models lenet300 ...] [--dataset mnist5k|mnist|fashion-mnist]
        [--methods ...] [--seeds 3] [--epochs E]

``--quick``: LeNet-300-100 on mnist5k, one seed, a few epochs, four methods. Full MNIST at the papers' settings (200
epochs) is ``--dataset mnist --epochs 200`` (hours here).
"""
import copy
import statistics
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from common import SHARED_DATA, parser, print_table, setup, write_rows  # noqa: E402
from pyrocomp.baselines import iterative_magnitude_pruning, l0_pruning, snip_pruning  # noqa: E402
from pyrocomp.data import load_dataset  # noqa: E402
from pyrocomp.infer import classification_error, default_elbo, train  # noqa: E402
from pyrocomp.models import build_model  # noqa: E402
from pyrocomp.pipeline import compress_network  # noqa: E402
from pyrocomp.priors import get_prior  # noqa: E402
from pyrocomp.pruning import (area_between_fronts, best_compression, compress_masked, pareto_front,  # noqa: E402
                              sweep_thresholds)

KEEP_FRACTIONS = (0.5, 0.2, 0.1, 0.05, 0.02, 0.01)
L0_WEIGHTS = (0.03, 0.1, 0.3, 1.0)
BAYESIAN = ["vd", "group-nj", "group-hs", "io-nj", "mixture", "turbo"]
METHODS = ["magnitude", "snip", "l0", *BAYESIAN]
QUICK_METHODS = ["magnitude", "snip", "vd", "group-nj"]
TOLERANCES = (0.005, 0.01, 0.02)
#: the papers' published points on full MNIST, (model, dataset) -> [(label, error, CR_prune)]: sparse VD
#: (Molchanov et al. 2017) and Bayesian Compression (Louizos et al. 2017), as the issue quotes them
PUBLISHED = {("lenet300", "mnist"): [("sparse VD (published)", 0.0192, 68.0), ("BC-GNJ (published)", 0.018, 9.0),
                                     ("BC-GHS (published)", 0.018, 9.0)],
             ("lenet5-caffe", "mnist"): [("sparse VD (published)", 0.010, 63.0),
                                         ("BC-GHS (published)", 0.010, 156.0)]}
COLUMNS = [("model", "model", ""), ("dataset", "dataset", ""), ("method", "method", ""), ("seeds", "seeds", ""),
           ("dense_error", "dense error %", ".2f"), ("points", "points", ""),
           *[(f"cr_prune_at_{round(1000 * t)}", f"CR_prune at +{100 * t:g} pt", "") for t in TOLERANCES],
           ("area_vs_magnitude", "log10 CR gap to magnitude", ".2f"), ("s", "seconds", ".0f")]


def _point(result_network, report, data):
    return dict(error=classification_error(result_network, data.test), cr_prune=report.cr_prune,
                macs_kept=report.macs_kept, macs=report.macs, kept_percent=report.wr_percent,
                architecture=report.architecture)


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


def l0_points(dense, data, args, seed):
    return _masked_points(L0_WEIGHTS, _fresh(args, data, seed), lambda net, weight: l0_pruning(
        net, data.train, epochs=args.pretrain_epochs, l0_weight=weight, gate_lr=0.1, batch_size=args.batch_size,
        seed=seed), data)


def bayesian_points(method):
    def points(dense, data, args, seed):
        prior = get_prior(method)
        run = compress_network(copy.deepcopy(dense), prior, data, epochs=args.epochs, lr=1e-3,
                               batch_size=args.batch_size, kl_warmup_epochs=min(10, args.epochs // 3), seed=seed,
                               progress=False)
        example = data.train.tensors[0][:256]
        try:
            swept = sweep_thresholds(run.model, run.guide, data.test, example, elbo=default_elbo(prior),
                                     posteriors=run.result.posteriors)
        except TypeError:  # a criterion without a grid of thresholds: the fit's own point
            swept = [dict(_point(run.result.network, run.result.report, data), threshold=None)]
        return [dict(p, setting=p["threshold"], macs=run.result.report.macs) for p in swept]
    return points


#: method -> points(dense, data, args, seed)
POINTS = {"magnitude": magnitude_points, "snip": snip_points, "l0": l0_points,
          **{m: bayesian_points(m) for m in BAYESIAN}}


def best_at(front, dense_error, tolerance):
    """The largest CR_prune of a front within ``tolerance`` of the dense error (1 when none is)."""
    return best_compression(front, dense_error + tolerance)


def summarise(model, dataset, method, runs, magnitude_runs):
    """One row per method: over seeds, the best CR_prune at each tolerance and the gap to magnitude pruning.
    ``runs``: per seed ``(dense error, points, seconds)``."""
    row = dict(model=model, dataset=dataset, method=method, seeds=len(runs),
               dense_error=100 * statistics.mean(r[0] for r in runs), points=sum(len(r[1]) for r in runs),
               s=sum(r[2] for r in runs))
    for t in TOLERANCES:
        values = [best_at(pareto_front(points), dense, t) for dense, points, _ in runs]
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        row[f"cr_prune_at_{round(1000 * t)}"] = f"{statistics.mean(values):.1f} ± {sd:.1f}"
    if magnitude_runs is not None:
        gaps = [area_between_fronts(pareto_front(points), pareto_front(reference), (dense, dense + 0.01))
                for (dense, points, _), (_, reference, _) in zip(runs, magnitude_runs)]
        row["area_vs_magnitude"] = statistics.mean(gaps)
    return row


def plot(model, dataset, curves, path):
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for i, (method, runs) in enumerate(curves.items()):
        colour = f"C{i % 10}"
        for seed, (dense, points, _) in enumerate(runs):
            front = pareto_front(points)
            label = method if seed == 0 else None
            axes[0].plot([p["cr_prune"] for p in front], [100 * p["error"] for p in front], marker="o", ms=3,
                         color=colour, label=label)
            axes[1].plot([100 * p["macs_kept"] / p["macs"] for p in front], [100 * p["error"] for p in front],
                         marker="o", ms=3, color=colour, label=label)
    for label, error, cr in PUBLISHED.get((model, dataset), []):
        axes[0].scatter([cr], [100 * error], marker="*", s=90, zorder=3, label=label)
    dense = statistics.mean(r[0] for runs in curves.values() for r in runs)
    for ax in axes:
        ax.axhline(100 * dense, color="grey", linestyle="--", lw=1, label="dense")
        ax.set(ylabel="test error %", ylim=(0, max(5, 100 * dense + 6)))
    axes[0].set(xscale="log", xlabel="CR_prune = |w| / |w≠0|", title=f"{model} / {dataset}: error against CR_prune")
    axes[1].set(xscale="log", xlabel="kept MACs %", title="error against kept MACs")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


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
    args = p.parse_args(argv)
    setup(args)
    quick = args.quick
    models = args.models or (["lenet300"] if quick else ["lenet300", "lenet5-caffe"])
    methods = args.methods or (QUICK_METHODS if quick else METHODS)
    seeds = args.seeds or (1 if quick else 3)
    args.pretrain_epochs = args.pretrain_epochs or (5 if quick else 20)
    args.epochs = args.epochs or (20 if quick else 100)
    args.finetune_epochs = args.finetune_epochs or (1 if quick else 5)
    rows, out = [], Path(args.out)
    for model in models:
        args.model = model
        curves = {}
        for seed in range(seeds):
            data = load_dataset(args.dataset, args.data_dir, seed=seed)
            torch.manual_seed(seed)
            dense = build_model(model, data.input_shape, data.num_classes)
            train(dense, data.train, epochs=args.pretrain_epochs, batch_size=args.batch_size, seed=seed,
                  progress=not quick)
            dense_error = classification_error(dense, data.test)
            for method in methods:
                start = time.perf_counter()
                points = POINTS[method](dense, data, args, seed)
                curves.setdefault(method, []).append((dense_error, points, time.perf_counter() - start))
                print(f"{model} seed {seed} {method}: {len(points)} points, best error "
                      f"{100 * min(q['error'] for q in points):.2f} %", flush=True)
        magnitude = curves.get("magnitude")
        rows += [summarise(model, args.dataset, method, runs, magnitude) for method, runs in curves.items()]
        plot(model, args.dataset, curves, out / f"frontiers_{model}_{args.dataset}.png")
    print_table(rows, COLUMNS)
    write_rows(out, "frontiers", rows, COLUMNS)
    return rows


if __name__ == "__main__":
    main()
