"""
The Taylor ELBO against Trace_ELBO and plain training, on LeNet-5-Caffe with the embedded MNIST
subset and the ARD prior (per weight, Gamma(a, b) precisions), side by side in one run: seconds
per step of (a) plain training of the same network, (b) Trace_ELBO with local
reparameterisation, (c) TaylorMeanField_ELBO; and after the same number of epochs the error,
|w≠0|/|w| and CR_prune of each Bayesian variant, after the same fine-tuning of the pruned network.

All three train on the same 90 % of the training split. Each Bayesian variant's pruning threshold
is chosen on the held-out 10 % (``pyrocomp.pruning.calibrate``): the sparsest whose validation
error is within ``--calibrate`` points of its unpruned network's, so that both are compared at
their own accuracy, never on the test set. Under the Taylor ELBO the closed-form precision update
uses the exact second moment by default (``--second-moment``; see ``ConjugatePrecision``), where
the means feel a log penalty of weight a, as under Trace_ELBO.

    python benchmarks/elbo.py --out results [--quick]

Targets (issue: Taylor ELBO): Taylor step <= 1.3x the plain step and <= 0.6x the Trace_ELBO step;
CR_prune of Taylor at least Trace_ELBO's at equal or lower error (+-0.3 points).
"""
import copy
import time

import pyro
import torch

from common import calibration_fields, parser, print_table, setup, write_rows
from pyrocomp.data import hold_out, load_dataset
from pyrocomp.infer import SECOND_MOMENTS, TaylorMeanField_ELBO, classification_error, train
from pyrocomp.models import build_model
from pyrocomp.pipeline import compress_network
from pyrocomp.priors import AutomaticRelevanceDetermination

COLUMNS = [
    ("method", "method", ""), ("s_per_step", "s/step", ".4f"), ("step_ratio_plain", "× plain", ".2f"),
    ("step_ratio_trace", "× trace", ".2f"), ("error", "error %", ".2f"), ("error_before_finetune", "before fine-tune %", ".2f"), ("wr_percent", "|w≠0|/|w| %", ".2f"),
    ("cr_prune", "CR_prune", ".1f"), ("architecture", "architecture", ""), ("criterion", "threshold", ""),
]


def main(argv=None):
    p = parser(__doc__.strip().splitlines()[0])
    p.add_argument("--pretrain-epochs", type=int, default=10)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--kl-warmup-epochs", type=int, default=0)
    p.add_argument("--finetune-epochs", type=int, default=10, help="fine-tuning of each pruned network")
    p.add_argument("--ard-a", type=float, default=0.01, help="ARD Gamma shape")
    p.add_argument("--ard-b", type=float, default=1e-4, help="ARD Gamma rate")
    p.add_argument("--second-moment", default="exact", choices=sorted(SECOND_MOMENTS),
                   help="<w^2> of the Taylor fit's closed-form precision update")
    p.add_argument("--calibrate", type=float, default=0.5,
                   help="validation-error tolerance (points) of the pruning threshold; negative: the priors' defaults")
    p.add_argument("--validation", type=float, default=0.1, help="fraction of the training split held out")
    args = p.parse_args(argv)
    if args.quick:
        args.pretrain_epochs, args.epochs, args.finetune_epochs = 1, 2, 1
    setup(args)
    torch.manual_seed(args.seed)
    data = hold_out(load_dataset("mnist5k", seed=args.seed), args.validation, seed=args.seed)
    net = build_model("lenet5-caffe", data.input_shape, data.num_classes)
    train(net, data.train, epochs=args.pretrain_epochs, lr=1e-3, batch_size=args.batch_size, device=args.device,
          seed=args.seed, desc="pretrain")
    steps = -(-len(data.train) // args.batch_size)

    plain = copy.deepcopy(net)
    history = train(plain, data.train, epochs=args.epochs, lr=1e-3, batch_size=args.batch_size, device=args.device,
                    seed=args.seed, desc="plain")
    plain_step = sum(h["seconds"] for h in history) / (args.epochs * steps)
    rows = [dict(method="plain", model="lenet5-caffe", dataset="mnist5k", prior=None, s_per_step=plain_step,
                 step_ratio_plain=1.0, error=100 * classification_error(plain, data.test, args.device),
                 wr_percent=100.0, cr_prune=1.0, architecture="20-50-800-500", epochs=args.epochs)]
    for method, elbo in (("trace", pyro.infer.Trace_ELBO()), ("taylor", TaylorMeanField_ELBO())):
        start = time.perf_counter()
        run = compress_network(copy.deepcopy(net), AutomaticRelevanceDetermination(a=args.ard_a, b=args.ard_b), data,
                               epochs=args.epochs,
                               lr=args.lr, batch_size=args.batch_size, elbo=elbo, device=args.device, seed=args.seed,
                               kl_warmup_epochs=args.kl_warmup_epochs, second_moment=SECOND_MOMENTS[args.second_moment](),
                               finetune_epochs=args.finetune_epochs,
                               calibrate=args.calibrate / 100 if args.calibrate >= 0 else None)
        r = run.result.report
        step = sum(h["seconds"] for h in run.history) / (args.epochs * steps)
        rows.append(dict(method=method, model="lenet5-caffe", dataset="mnist5k", prior=f"ard(a={args.ard_a}, b={args.ard_b})", s_per_step=step,
                         step_ratio_plain=step / plain_step, error=100 * r.error,
                         error_before_finetune=100 * r.error_before_finetune, at_edge=run.calibration and run.calibration.at_edge, wr_percent=r.wr_percent,
                         cr_prune=r.cr_prune, cr_bits=r.cr_bits, architecture=r.architecture,
                         flops_reduction_percent=r.flops_reduction_percent, epochs=args.epochs,
                         second_moment=args.second_moment if method == "taylor" else None,
                         **calibration_fields(run.calibration),
                         wall_s=time.perf_counter() - start))
    trace, taylor = rows[1], rows[2]
    for row in rows:
        row["step_ratio_trace"] = row["s_per_step"] / trace["s_per_step"]
    taylor["target_met"] = bool(taylor["step_ratio_plain"] <= 1.3 and taylor["step_ratio_trace"] <= 0.6
                                and taylor["cr_prune"] >= trace["cr_prune"] and taylor["error"] <= trace["error"] + 0.3)
    print_table(rows, COLUMNS)
    print(f"written {write_rows(args.out, 'elbo', rows, COLUMNS)}")
    return rows


if __name__ == "__main__":
    main()
