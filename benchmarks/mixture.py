"""
The mixture prior of paper 000 against each of its single components and against Bayesian
Compression's group horseshoe, on LeNet-300-100 and LeNet-5-Caffe with the embedded MNIST subset
(``mnist5k``), side by side in one run: error, |w≠0|/|w|, pruned architecture, CR_prune, CR_bits
(the columns of 000 Table II), and the posterior mixing weights of the mixture.

Every network trains on the same 90 % of the training split. Each Bayesian method's log
dropout-rate threshold is chosen on the held-out 10 % (``pyrocomp.pruning.calibrate``, on the
monotone fit of the held-out errors): the sparsest whose validation error, after fine-tuning, is
within ``--calibrate`` points of its own unpruned network's (``--reference own``) or of the dense
network's (``--reference dense``: one error for every method, but a fit whose unpruned network is
already worse than the dense one then has no admissible threshold and falls back to its most accurate
candidate). The test set chooses nothing.

The mixture and its single components are ``MixturePrior`` in auxiliary form (``--form auxiliary``: each
component's squared scale a product of two auxiliaries with log-normal posteriors) with a global scale
``--tau0`` (in units of each layer's pretrained RMS); ``--form direct`` gives each scale one log-normal, and
``--form direct --scales per-component`` one scale per group and component. ``--kl-weight`` weighs every
Bayesian method's KL terms alike.

    python benchmarks/mixture.py --out results [--quick] [--seeds 3]

With ``--seeds N`` every model runs once per seed (another split of the embedded digits, another
start), and rows with ``seed`` = ``"mean"`` add each method's mean error (and its sd), the CR of the
mean kept fraction and the mean middle, with the targets judged on those means: one calibrated run
is a 0.5-point decision on 400 held-out digits, and its CR_prune moves by about 1.5x with one step of
the threshold grid.

Targets (issue: mixture priors): the mixture reaches at least the best single component's
CR_prune at equal error (±0.3 points) on both networks, and a smaller middle than BC group
horseshoe: the entries of the pruned architecture between the first and the last (LeNet-300-100:
the first hidden layer; LeNet-5-Caffe: conv2 filters and fc1 inputs) are smaller in total (000
Table II: 336-64-16 against 311-86-14; 12-10-45-12 against 5-10-76-16).
"""
import copy
import statistics
import time

import torch

from common import calibration_fields, parser, print_table, setup, write_rows
from pyrocomp.data import hold_out, load_dataset
from pyrocomp.infer import classification_error, train
from pyrocomp.models import build_model
from pyrocomp.pipeline import compress_network
from pyrocomp.priors import AuxiliaryMixturePrior, MixturePrior, PerComponentMixturePrior, get_prior
from pyrocomp.pruning import mixing_weights

COLUMNS = [
    ("model", "model", ""), ("seed", "seed", ""), ("method", "method", ""), ("error", "error %", ".2f"),
    ("error_sd", "sd", ".2f"),
    ("error_before_finetune", "before fine-tune %", ".2f"), ("wr_percent", "|w≠0|/|w| %", ".2f"),
    ("architecture", "architecture", ""), ("middle", "middle", "g"), ("cr_prune", "CR_prune", ".1f"), ("cr_bits", "CR_bits", ".1f"),
    ("s_per_epoch", "s/epoch", ".2f"), ("criterion", "threshold", ""),
]
COMPONENTS = ("horseshoe", "laplace", "normal-jeffreys")
#: the global scale of the auxiliary form, in units of each layer's pretrained RMS: the local scales start
#: about 100 global scales up, deep in the components' tails (group horseshoe's absolute 1e-3 starts
#: LeNet-300-100's layers about 30 to 100 up)
TAU0 = 0.01


#: the mixture's form: (--scales, --form auxiliary) -> class
FORMS = {("shared", False): MixturePrior, ("shared", True): AuxiliaryMixturePrior,
         ("per-component", False): PerComponentMixturePrior}


def priors(group, threshold, tau0, auxiliary, scales):
    form = FORMS[scales, auxiliary]
    common = dict(group=group, threshold=threshold, tau0=tau0)
    out = {"mixture": form(COMPONENTS, **common)}
    out.update({name: form((name,), learn_concentration=False, **common) for name in COMPONENTS})
    out["group-hs"] = get_prior("group-hs")
    return out


def run_model(name, data, args):
    torch.manual_seed(args.seed)
    net = build_model(name, data.input_shape, data.num_classes)
    train(net, data.train, epochs=args.pretrain_epochs, lr=1e-3, device=args.device, seed=args.seed, desc="pretrain")
    epochs = args.epochs[name]
    dense = copy.deepcopy(net)
    start = time.perf_counter()
    train(dense, data.train, epochs=epochs + args.finetune_epochs, lr=1e-3, device=args.device, seed=args.seed,
          desc="dense")
    plain_s = (time.perf_counter() - start) / (epochs + args.finetune_epochs)
    dense_error = classification_error(dense, data.test, args.device)
    reference = classification_error(dense, data.validation, args.device) if args.reference == "dense" else None
    rows = [dict(method="dense", model=name, dataset="mnist5k", error=100 * dense_error, wr_percent=100.0,
                 cr_prune=1.0, cr_bits=1.0, s_per_epoch=plain_s,
                 validation_error=None if reference is None else 100 * reference)]
    for method, prior in priors(args.group, args.threshold, args.tau0, args.form == "auxiliary", args.scales).items():
        if method not in args.methods:
            continue
        run = compress_network(copy.deepcopy(net), prior, data, epochs=epochs, lr=args.lr,
                               kl_warmup_epochs=args.kl_warmup_epochs, kl_weight=args.kl_weight,
                               finetune_epochs=args.finetune_epochs,
                               finetune_lr=args.finetune_lr, device=args.device, seed=args.seed,
                               calibrate=args.calibrate / 100 if args.calibrate >= 0 else None,
                               calibration_reference=reference)
        r = run.result.report
        rows.append(dict(method=method, model=name, dataset="mnist5k", error=100 * r.error,
                         error_before_finetune=100 * r.error_before_finetune, wr_percent=r.wr_percent,
                         architecture=r.architecture, cr_prune=r.cr_prune, cr_bits=r.cr_bits,
                         flops_reduction_percent=r.flops_reduction_percent,
                         s_per_epoch=run.timing["s_per_epoch_svi_only"], epochs=epochs,
                         form=None if method == "group-hs" else args.form, tau0=None if method == "group-hs" else args.tau0,
                         scales=None if method == "group-hs" else args.scales, kl_weight=args.kl_weight,
                         **calibration_fields(run.calibration),
                         mixing_weights=mixing_weights(run.model, run.guide) if method == "mixture" else None))
        print(f"{name} {method}: error {100 * r.error:.2f} %, CR_prune {r.cr_prune:.1f}, {r.architecture}", flush=True)
    rows[0]["architecture"] = r.architecture_dense
    for row in rows:
        row.update(seed=args.seed, middle=middle(row["architecture"]))
    judge(rows)
    return rows


def middle(architecture):
    """The entries of a pruned architecture between the first and the last, summed."""
    return sum(int(n) for n in architecture.split("-")[1:-1])


def judge(rows):
    """Set the mixture row's ``target_met``: CR_prune at least the best single component's within 0.3
    points of its error (none there: not met), and a smaller middle than group horseshoe's."""
    if not {"mixture", "group-hs", *COMPONENTS} <= {row["method"] for row in rows}:
        return
    mixture = next(row for row in rows if row["method"] == "mixture")
    singles = [row for row in rows if row["method"] in COMPONENTS and abs(row["error"] - mixture["error"]) <= 0.3 + 1e-9]
    best = max((row["cr_prune"] for row in singles), default=None)  # None: no single component at equal error
    hs = next(row for row in rows if row["method"] == "group-hs")
    mixture["target_met"] = bool(best is not None and mixture["cr_prune"] >= best and mixture["middle"] < hs["middle"])


def aggregate(rows):
    """One row per (model, method) over the seeds: mean and sd of the error, mean kept fraction (CR_prune
    and CR_bits of the mean kept weights and bits), mean middle; the targets judged on these means."""
    out = []
    for model in dict.fromkeys(row["model"] for row in rows):
        means = []
        for method in dict.fromkeys(row["method"] for row in rows if row["model"] == model):
            mine = [row for row in rows if row["model"] == model and row["method"] == method]
            errors = [row["error"] for row in mine]
            means.append(dict(method=method, model=model, dataset="mnist5k", seed="mean",
                              seeds=[row["seed"] for row in mine], errors=errors, error=statistics.mean(errors),
                              error_sd=statistics.stdev(errors) if len(errors) > 1 else 0.0,
                              wr_percent=statistics.mean(row["wr_percent"] for row in mine),
                              cr_prune=1 / statistics.mean(1 / row["cr_prune"] for row in mine),
                              cr_bits=1 / statistics.mean(1 / row["cr_bits"] for row in mine),
                              middle=statistics.mean(row["middle"] for row in mine),
                              architecture="mean of " + ", ".join(row["architecture"] for row in mine)))
        judge(means)
        out += means
    return out


def main(argv=None):
    p = parser(__doc__.strip().splitlines()[0])
    p.add_argument("--pretrain-epochs", type=int, default=20)
    p.add_argument("--epochs-lenet300", type=int, default=100)
    p.add_argument("--epochs-lenet5", type=int, default=60)
    p.add_argument("--finetune-epochs", type=int, default=10)
    p.add_argument("--finetune-lr", type=float, default=5e-4)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--kl-warmup-epochs", type=int, default=10)
    p.add_argument("--kl-weight", type=float, default=1.0,
                   help="weight of every Bayesian method's KL terms (a tempered posterior, pyrocomp.infer.fit)")
    p.add_argument("--group", default="in", choices=["in", "out", "layer"])
    p.add_argument("--calibrate", type=float, default=0.5,
                   help="validation-error tolerance (points) of the pruning thresholds; negative: fixed --threshold")
    p.add_argument("--validation", type=float, default=0.1, help="fraction of the training split held out")
    p.add_argument("--reference", choices=["own", "dense"], default="own",
                   help="the validation error --calibrate counts from: the dense network's or each fit's unpruned one")
    p.add_argument("--threshold", type=float, default=3.0,
                   help="log dropout-rate threshold of the mixture and its single components without --calibrate")
    p.add_argument("--form", choices=["auxiliary", "direct"], default="auxiliary",
                   help="the components' form: auxiliary pairs z^2 = a b, or one log-normal scale (AuxiliaryMixturePrior)")
    p.add_argument("--scales", choices=["shared", "per-component"], default="shared",
                   help="one scale per group drawn from the mixture, or one per group and component (PerComponentMixturePrior)")
    p.add_argument("--tau0", type=float, default=None,
                   help="global half-Cauchy scale of the mixture and its single components, in units of the layer's "
                        f"pretrained RMS (default: {TAU0} with the auxiliary form, none with the direct form)")
    p.add_argument("--models", nargs="+", default=["lenet300", "lenet5-caffe"])
    p.add_argument("--seeds", type=int, default=1, help="runs per model, seeds --seed, --seed + 1, ...")
    p.add_argument("--methods", nargs="+", default=["mixture", *COMPONENTS, "group-hs"],
                   choices=["mixture", *COMPONENTS, "group-hs"], help="a subset, for trials; targets need all")
    args = p.parse_args(argv)
    args.epochs = {"lenet300": args.epochs_lenet300, "lenet5-caffe": args.epochs_lenet5}
    if args.tau0 is None and args.form == "auxiliary":
        args.tau0 = TAU0
    if args.quick:
        args.pretrain_epochs, args.finetune_epochs, args.kl_warmup_epochs = 1, 1, 1
        args.epochs = {"lenet300": 2, "lenet5-caffe": 1}
    if args.seeds < 1:
        p.error(f"--seeds expects a positive count but got {args.seeds}")
    if (args.scales, args.form == "auxiliary") not in FORMS:
        p.error("--scales per-component has no auxiliary form; use --form direct")
    setup(args)
    rows = []
    for seed in range(args.seed, args.seed + args.seeds):
        args.seed = seed
        data = hold_out(load_dataset("mnist5k", seed=seed), args.validation, seed=seed)
        rows += [row for name in args.models for row in run_model(name, data, args)]
    if args.seeds > 1:
        rows += aggregate(rows)
    print_table(rows, COLUMNS)
    for row in rows:
        if row.get("mixing_weights"):
            print(row["model"], "mixing weights:", {k: {c: round(w, 2) for c, w in v.items()} for k, v in row["mixing_weights"].items()})
    print(f"wrote {write_rows(args.out, 'mixture', rows, COLUMNS)}")


if __name__ == "__main__":
    main()
