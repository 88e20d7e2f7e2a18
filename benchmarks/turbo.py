"""
Turbo-VBI structured compression against sparse VD and group normal-Jeffreys on LeNet-5
(6-16-120-84), side by side in one run per data set: the embedded MNIST subset (``mnist5k``)
and Fashion-MNIST when ``../shared/data`` (or ``--data-dir``) holds it. Columns of paper 001
Table II(a) — error, |w≠0|/|w|, pruned structure, FLOPs reduction — plus the number of clusters
of at least 3×3 and the time of one belief-propagation run (Module B) as a fraction of an epoch.

    python benchmarks/turbo.py --out results [--quick]

With several ``--b`` values (the active Gamma rate, which sets the width of the slab) or several
``--kl-weight`` values (the weight of Turbo-VBI's KL terms, a tempered posterior), a stratified
``--validation`` part of the training split is held out for every method, Turbo-VBI is fitted once
per pair, and the row keeps the sparsest fit whose held-out error, after fine-tuning, is within
``--tolerance`` points of the dense network's (``pyrocomp.pruning.choose_sparsest``); the test set
chooses nothing. The row lists every candidate under ``candidates``.

Targets (issue: Turbo-VBI, after 001 Table II(a)): Turbo-VBI keeps <= 1.2 % of the weights
with an error within 0.5 points of the dense net's, cuts FLOPs by >= 70 %, has a more compact
pruned structure than group normal-Jeffreys, and BP costs <= 5 % of an epoch. Writes the
kept-weight pictures to ``OUT/turbo_<dataset>_<method>.png``.

``--scratch`` adds a row ``<method>-scratch`` per compressed network: its structure and mask with the
weights drawn afresh (``pyrocomp.pruning.reinitialize_``) and trained as long as the dense network —
the Scratch-E control of Liu et al. (ICLR 2019), which tells whether an error comes from the structure
the compression chose or from the weights it left in it. ``benchmarks/frontier.py`` draws the
networks of ``turbo.json`` on the error-FLOPs frontier of narrower LeNet-5s trained from scratch.
"""
import copy
import itertools
import math
import time
from pathlib import Path

import torch

from common import SHARED_DATA, parser, print_table, setup, write_rows
from pyrocomp.data import DataError, hold_out, load_dataset
from pyrocomp.infer import TurboSchedule, classification_error, train
from pyrocomp.models import build_model
from pyrocomp.mrf import IsingSupport
from pyrocomp.pipeline import compress_network
from pyrocomp.plots import plot_masks, plot_message_change
from pyrocomp.priors import TurboPrior, get_prior
from pyrocomp.pruning import choose_sparsest, reinitialize_

COLUMNS = [
    ("dataset", "data", ""), ("method", "method", ""), ("error", "error %", ".2f"),
    ("error_before_finetune", "before fine-tune %", ".2f"), ("wr_percent", "|w≠0|/|w| %", ".2f"),
    ("architecture", "pruned structure", ""), ("flops_reduction_percent", "FLOPs red. %", ".1f"),
    ("clusters", "clusters ≥3×3", ""), ("bp_fraction_of_epoch", "BP / epoch", ".3f"), ("s_per_epoch", "s/epoch", ".2f"),
    ("b", "b", "g"), ("kl_weight", "KL weight", "g"),
]


#: the SVI mini-batch of every fit
BATCH = 64


def turbo_prior(args, b, data):
    support = IsingSupport(args.p01, args.p10, args.p01_col, args.p10_col)
    steps = math.ceil(len(data.train) / BATCH)  # --bp-every and --bp-start count epochs, the schedule SVI steps
    schedule = TurboSchedule(bp_every=args.bp_every * steps, bp_start=args.bp_start * steps, damping=args.damping)
    return TurboPrior(support, a=args.a, b=b, a_bar=args.a_bar, b_bar=args.b_bar, schedule=schedule,
                      scale=None if args.rate_units == "absolute" else "pretrained")


def select_turbo(net, data, args, dense_validation_error):
    """Fit Turbo-VBI once per (``--b``, ``--kl-weight``); the sparsest run within ``--tolerance`` of the
    dense held-out error."""
    runs, table = [], []
    for b, kl_weight in candidates(args):
        run = fit_and_prune(net, turbo_prior(args, b, data), data, args, kl_weight=kl_weight)
        error = classification_error(run.result.network, data.validation, args.device)
        runs.append(run)
        table.append(dict(b=b, kl_weight=kl_weight, weights_kept=run.result.report.weights_kept, error=error,
                          wr_percent=run.result.report.wr_percent, test_error=100 * run.result.report.error))
        print(f"  b = {b:g}, KL weight {kl_weight:g}: held-out error {100 * error:.2f} %, "
              f"kept {run.result.report.wr_percent:.2f} %", flush=True)
    index, _ = choose_sparsest(table, dense_validation_error, args.tolerance / 100)
    for row in table:
        row["error"], row["smoothed_error"] = 100 * row["error"], 100 * row["smoothed_error"]
    return runs[index], table


def candidates(args):
    """The (b, KL weight) pairs Turbo-VBI is fitted with."""
    return list(itertools.product(args.b, args.kl_weight))


def fit_and_prune(net, prior, data, args, kl_warmup_epochs=0, kl_weight=1.0):
    return compress_network(copy.deepcopy(net), prior, data, epochs=args.epochs, lr=args.lr, batch_size=BATCH,
                            kl_warmup_epochs=kl_warmup_epochs, kl_weight=kl_weight, finetune_epochs=args.finetune_epochs,
                            finetune_lr=args.finetune_lr, device=args.device, seed=args.seed)


#: the default row and column transition probabilities p01 = p10 of the support MRF
TRANSITION = 0.3

#: (pre-training, SVI, fine-tuning) epochs per data set: Fashion-MNIST has 15 times the examples of
#: ``mnist5k``, so fewer passes give more steps; fine-tuning is 001 §V's 15 epochs.
EPOCHS = {"mnist5k": (20, 100, 15), "fashion-mnist": (5, 25, 15)}


def run_dataset(name, data, args, out):
    default = EPOCHS.get(name, EPOCHS["mnist5k"])
    args = copy.copy(args)
    for i, key in enumerate(["pretrain_epochs", "epochs", "finetune_epochs"]):
        if getattr(args, key) is None:
            setattr(args, key, default[i])
    torch.manual_seed(args.seed)
    net = build_model("lenet5", data.input_shape, data.num_classes)
    initial = copy.deepcopy(net)
    train(net, data.train, epochs=args.pretrain_epochs, lr=1e-3, batch_size=64, device=args.device, seed=args.seed,
          desc="pretrain")
    dense = copy.deepcopy(net)
    start = time.perf_counter()
    epochs = args.epochs + args.finetune_epochs
    train(dense, data.train, epochs=epochs, lr=1e-3, batch_size=64, device=args.device, seed=args.seed, desc="dense")
    plain_s = (time.perf_counter() - start) / epochs
    dense_error = classification_error(dense, data.test, args.device)
    dense_validation = classification_error(dense, data.validation, args.device) if data.validation is not None else None
    print(f"{name} dense: error {100 * dense_error:.2f} %", flush=True)
    rows = [dict(method="dense", model="lenet5", dataset=name, error=100 * dense_error, wr_percent=100.0,
                 architecture="6-16-400-120-84", flops_reduction_percent=0.0, clusters=None, s_per_epoch=plain_s,
                 epochs=epochs, validation_error=None if dense_validation is None else 100 * dense_validation)]
    for method in args.methods:
        table = None
        start = initial if method == "turbo" and args.start == "random" else net
        if method == "turbo" and len(candidates(args)) > 1:
            run, table = select_turbo(start, data, args, dense_validation)
        elif method == "turbo":
            run = fit_and_prune(start, turbo_prior(args, args.b[0], data), data, args, kl_weight=args.kl_weight[0])
        else:
            run = fit_and_prune(net, get_prior(method), data, args, kl_warmup_epochs=args.kl_warmup_epochs)
        r = run.result.report
        picture = Path(out) / f"turbo_{name}_{method}.png"
        plot_masks(run.result.masks, picture, title=f"{method} on {name}: kept weights")
        row = dict(method=method, model="lenet5", dataset=name, error=100 * r.error,
                   error_before_finetune=100 * r.error_before_finetune, wr_percent=r.wr_percent,
                   architecture=r.architecture, flops_reduction_percent=r.flops_reduction_percent,
                   cr_prune=r.cr_prune, cr_bits=r.cr_bits, clusters=r.clusters,
                   s_per_epoch=run.timing["s_per_epoch_svi_only"], epochs=args.epochs,
                   finetune_epochs=args.finetune_epochs, kept_weights_png=str(picture))
        if method == "turbo":
            records = [h["TurboVBI"] for h in run.history if "TurboVBI" in h]
            bp = [rec["seconds"] for rec in records]
            if records:
                plot_message_change(records, Path(out) / f"turbo_{name}_message_change.png")
            chosen = next(c for c in table if c["chosen"]) if table else dict(b=args.b[0], kl_weight=args.kl_weight[0])
            row.update(b=chosen["b"], kl_weight=chosen["kl_weight"], candidates=table, start=args.start)
            row.update(bp_fraction_of_epoch=(sum(bp) / len(bp)) / run.timing["s_per_epoch_svi_only"] if bp else None,
                       outer_iterations=len(records), message_change=[rec["change"] for rec in records],
                       message_change_max=[rec["change_max"] for rec in records],
                       error_gap=100 * (r.error - dense_error))
            row["target_met"] = bool(r.wr_percent <= 1.2 and r.error - dense_error <= 0.005 + 1e-9
                                     and r.flops_reduction_percent >= 70 and (row["bp_fraction_of_epoch"] or 0) <= 0.05)
        rows.append(row)
        print(f"{name} {method}: error {row['error']:.2f} %, kept {r.wr_percent:.2f} %, {r.architecture}", flush=True)
        if args.scratch:
            rows.append(scratch_row(row, run.result.network, data, args.pretrain_epochs + epochs, args))
    return rows


def scratch_row(row, network, data, epochs, args):
    """The compressed ``network``'s structure and mask, weights drawn afresh, trained for ``epochs``."""
    net = reinitialize_(copy.deepcopy(network), seed=args.seed)
    train(net, data.train, epochs=epochs, lr=1e-3, batch_size=64, device=args.device, seed=args.seed,
          keep_zeros=True, desc="scratch")
    error = 100 * classification_error(net, data.test, args.device)
    print(f"{row['dataset']} {row['method']}-scratch: error {error:.2f} %", flush=True)
    return dict(method=f"{row['method']}-scratch", model="lenet5", dataset=row["dataset"], error=error,
                wr_percent=row["wr_percent"], architecture=row["architecture"],
                flops_reduction_percent=row["flops_reduction_percent"], epochs=epochs)


def main(argv=None):
    p = parser(__doc__.strip().splitlines()[0])
    p.add_argument("--data-dir", default=str(SHARED_DATA))
    p.add_argument("--pretrain-epochs", type=int, default=None, help="default: per data set, see EPOCHS")
    p.add_argument("--epochs", type=int, default=None, help="SVI epochs (default: per data set, see EPOCHS)")
    p.add_argument("--finetune-epochs", type=int, default=None, help="default: per data set, see EPOCHS")
    p.add_argument("--finetune-lr", type=float, default=5e-4)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--kl-warmup-epochs", type=int, default=5)
    p.add_argument("--methods", nargs="+", default=["vd", "group-nj", "turbo"])
    p.add_argument("--datasets", nargs="+", default=["mnist5k", "fashion-mnist"])
    p.add_argument("--p01", type=float, default=TRANSITION)
    p.add_argument("--p10", type=float, default=TRANSITION)
    p.add_argument("--p01-col", type=float, default=None, help="column chains (default: --p01)")
    p.add_argument("--p10-col", type=float, default=None, help="column chains (default: --p10)")
    p.add_argument("--a", type=float, default=1.0)
    p.add_argument("--b", type=float, nargs="+", default=[1.0],
                   help="active Gamma rate; several values: chosen on held-out data (see above)")
    p.add_argument("--kl-weight", type=float, nargs="+", default=[1.0],
                   help="Turbo-VBI's KL weight (a tempered posterior, see pyrocomp.infer.fit; the baselines keep 1); "
                        "several values, or several --b: every pair is fitted and one chosen on held-out data")
    p.add_argument("--start", choices=["pretrained", "random"], default="pretrained",
                   help="Turbo-VBI starts from the pre-trained network or from its random initialisation "
                        "(the baselines start pre-trained)")
    p.add_argument("--validation", type=float, default=0.1,
                   help="fraction of the training split held out when several --b or --kl-weight are given")
    p.add_argument("--tolerance", type=float, default=0.5,
                   help="held-out error (points) allowed above the dense network's when choosing --b")
    p.add_argument("--a-bar", type=float, default=1.0)
    p.add_argument("--b-bar", type=float, default=1e-3)
    p.add_argument("--rate-units", choices=["pretrained", "absolute"], default="pretrained",
                   help="b and b_bar in units of each layer's pretrained mean square weight, or as given")
    p.add_argument("--bp-every", type=int, default=1)
    p.add_argument("--bp-start", type=int, default=0)
    p.add_argument("--damping", type=float, default=0.0)
    p.add_argument("--scratch", action="store_true",
                   help="add each compressed network's structure and mask trained from fresh weights (Scratch-E)")
    args = p.parse_args(argv)
    for name in ("b", "kl_weight"):
        bad = [v for v in getattr(args, name) if not 0 < v < float("inf")]
        if bad:
            p.error(f"--{name.replace('_', '-')} expects positive finite numbers but got {bad}")
    if args.quick:
        args.pretrain_epochs, args.epochs, args.finetune_epochs, args.kl_warmup_epochs = 2, 2, 1, 1
    setup(args)
    rows = []
    for name in args.datasets:
        try:
            data = load_dataset(name, data_dir=args.data_dir if name != "mnist5k" else None, seed=args.seed)
            if len(candidates(args)) > 1:
                data = hold_out(data, args.validation, seed=args.seed)
        except DataError as error:
            print(f"skipping {name}: {error}")
            continue
        rows += run_dataset(name, data, args, args.out)
    print_table(rows, COLUMNS)
    print(f"wrote {write_rows(args.out, 'turbo', rows, COLUMNS)}")


if __name__ == "__main__":
    main()
