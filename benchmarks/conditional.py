"""
Conditional compression (paper 003, BHC) against the unconditional methods, side by side in one run: one Bayesian
hypernetwork per kind of context (class pair c_y, input domain c_x, compression level c_w) against sparse VD and
Bayesian Compression's group normal-Jeffreys, group horseshoe and input-output normal-Jeffreys, on LeNet-300-100
and LeNet-5-Caffe.

    python benchmarks/conditional.py --out DIR [--quick] [--dataset mnist5k|mnist] [--models lenet300 lenet5-caffe]

Accounting (the same for every method). The test contexts are the consecutive class pairs (0+1, 1+2, ..., 9+0).
For class-subset contexts every method is scored per test example of a pair on its own context, predicting among
the pair's two classes only: an unconditional network's logits are restricted to the pair, BHC-c_y's network has
the pair's two outputs alone. ``error`` is the mean over the pairs of their error (%); ``error_plain`` is the
plain 10-class test error of the unconditional networks. BHC-c_x sees only the mean input of a pair's examples,
so its networks keep all ten outputs and are scored with the plain argmax on each pair's examples; BHC-c_w's two
levels are scored on the whole test set. CR_prune, CR_bits and FLOPs reduction are averaged over the contexts (an
unconditional network has one value). Each method's pruning threshold (log dropout rate) is chosen on a
validation tenth held out of the training split: the sparsest whose validation error, under the same accounting,
is within ``--tolerance`` points of the dense network's; the test set chooses nothing. No method is fine-tuned
after pruning. ``ms_per_context`` is the time to produce one context's compressed network from the fitted
hypernetwork (batched posterior draws; 003's masks read off each scale's posterior).

Targets (issue: conditional compression), after 003 Table 1: BHC-c_y's mean CR_prune is at least 2x the best
unconditional method's at an error within 0.3 points of it; one context's network takes <= 100 ms on CPU.
"""
import copy
import time

import pyro
import torch

from common import parser, print_table, setup, write_rows
from pyrocomp import AutoCompressionGuide, BayesianNetwork
from pyrocomp.data import hold_out, load_dataset
from pyrocomp.guides import AutoConditionalGuide, ClassSubset, CompressionLevel, InputDomain
from pyrocomp.infer import classification_error, fit, fit_conditional, train
from pyrocomp.models import build_model
from pyrocomp.priors import get_prior
from pyrocomp.pruning import (AllOf, LogAlphaThreshold, ScaleLogAlphaThreshold, ScaleSitesLogAlphaThreshold, compress,
                              compress_contexts, context_error, summarize)

UNCONDITIONAL = ["vd", "group-nj", "group-hs", "io-nj"]
GRID = tuple(x / 2 for x in range(-16, 17))  # log dropout rate thresholds from -8 to 8
COLUMNS = [
    ("model", "model", ""), ("method", "method", ""), ("context", "context", ""), ("error", "error %", ".2f"),
    ("error_plain", "10-class error %", ".2f"), ("validation_error", "val. error %", ".2f"),
    ("threshold", "threshold", ".1f"), ("cr_prune", "CR_prune", ".1f"), ("cr_bits", "CR_bits", ".1f"),
    ("flops_reduction_percent", "FLOPs red. %", ".1f"), ("architecture", "architecture", ""),
    ("bits_per_layer", "bits", ""), ("fit_s", "fit s", ".0f"), ("ms_per_context", "ms / context", ".0f"),
]


def _criterion(method, threshold):
    if method == "vd":
        return LogAlphaThreshold(threshold)
    if method.startswith("bhc"):
        return ScaleSitesLogAlphaThreshold(threshold)
    return AllOf(ScaleLogAlphaThreshold(threshold), LogAlphaThreshold(3.0))


def _pair_errors(network, pairs, data, restrict=True):
    x, y = data.tensors
    return [context_error(network, (x[rows], y[rows]), ClassSubset(10).output_classes(c) if restrict else None)
            for _, c, rows in pairs]


def _sparsest(candidates, reference, tolerance):
    """The candidate with the largest mean CR whose validation error is within ``tolerance`` of ``reference``,
    else the most accurate one."""
    admissible = [c for c in candidates if c["validation_error"] <= reference + tolerance + 1e-9]
    return max(admissible, key=lambda c: c["cr_prune"]) if admissible else min(candidates, key=lambda c: c["validation_error"])


def _unconditional(method, net, data, pairs, args):
    pyro.clear_param_store()
    model = BayesianNetwork(copy.deepcopy(net), get_prior(method), dataset_size=len(data.train))
    guide = AutoCompressionGuide(model)
    start = time.perf_counter()
    fit(model, guide, data.train, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
        kl_warmup_epochs=args.kl_warmup_epochs, device=args.device, seed=args.seed, progress=not args.quiet)
    fit_s = time.perf_counter() - start
    x = data.train.tensors[0][:100].to(args.device)
    posteriors = summarize(model, guide, seed=args.seed)
    candidates = []
    for threshold in GRID:
        result = compress(model, guide, x, criterion=_criterion(method, threshold), posteriors=posteriors)
        val = _pair_errors(result.network, pairs["validation"], data.validation)
        candidates.append(dict(threshold=threshold, result=result, validation_error=100 * sum(val) / len(val),
                               cr_prune=result.report.cr_prune))
    chosen = _sparsest(candidates, pairs["dense_validation"], args.tolerance)
    report, network = chosen["result"].report, chosen["result"].network
    test = _pair_errors(network, pairs["test"], data.test)
    return dict(method=method, context="one network", error=100 * sum(test) / len(test),
                error_plain=100 * classification_error(network, data.test, args.device),
                validation_error=chosen["validation_error"], threshold=chosen["threshold"], cr_prune=report.cr_prune,
                cr_bits=report.cr_bits, flops_reduction_percent=report.flops_reduction_percent,
                architecture=report.architecture, bits_per_layer=[layer.bits for layer in report.layers], fit_s=fit_s)


def _mean_architecture(results):
    widths = [[w for w in r.compression.report.architecture.split("-")] for r in results]
    return "-".join(f"{sum(int(w[i]) for w in widths) / len(widths):.0f}" for i in range(len(widths[0])))


def _conditional(method, context, net, data, args, validation_contexts, test_contexts, restrict):
    pyro.clear_param_store()
    model = BayesianNetwork(copy.deepcopy(net), get_prior("io-nj"))
    guide = AutoConditionalGuide(model, context)
    start = time.perf_counter()
    fit_conditional(model, guide, data.train, epochs=args.bhc_epochs, lr=args.bhc_lr, batch_size=args.batch_size,
                    kl_warmup_epochs=args.kl_warmup_epochs, device=args.device, seed=args.seed,
                    progress=not args.quiet)
    fit_s = time.perf_counter() - start
    x = data.train.tensors[0][:1].to(args.device)  # one input: spatial sizes; dead units fold to constants
    reference = sum(validation_contexts["dense"]) / len(validation_contexts["dense"])
    candidates = []
    for threshold in GRID:
        results = compress_contexts(model, guide, validation_contexts["contexts"], x, data=data.validation,
                                    criterion=_criterion(method, threshold), seed=args.seed)
        candidates.append(dict(threshold=threshold, validation_error=100 * sum(r.error for r in results) / len(results),
                               cr_prune=sum(r.compression.report.cr_prune for r in results) / len(results)))
    chosen = _sparsest(candidates, reference, args.tolerance)
    rows = []
    for label, contexts in test_contexts:
        results = compress_contexts(model, guide, contexts, x, data=data.test,
                                    criterion=_criterion(method, chosen["threshold"]), seed=args.seed)
        mean = lambda f: sum(f(r) for r in results) / len(results)  # noqa: E731
        rows.append(dict(method=method, context=label, error=100 * mean(lambda r: r.error),
                         validation_error=chosen["validation_error"], threshold=chosen["threshold"],
                         cr_prune=mean(lambda r: r.compression.report.cr_prune),
                         cr_bits=mean(lambda r: r.compression.report.cr_bits),
                         flops_reduction_percent=mean(lambda r: r.compression.report.flops_reduction_percent),
                         architecture=_mean_architecture(results),
                         bits_per_layer=[round(mean(lambda r, i=i: r.compression.report.layers[i].bits), 1)
                                         for i in range(len(results[0].compression.report.layers))],
                         fit_s=fit_s, ms_per_context=mean(lambda r: r.milliseconds),
                         per_context=[dict(context=r.label, error=100 * r.error,
                                           architecture=r.compression.report.architecture,
                                           cr_prune=r.compression.report.cr_prune) for r in results]))
    return rows


def run_model(model_name, data, args):
    torch.manual_seed(args.seed)
    net = build_model(model_name, data.input_shape, data.num_classes)
    train(net, data.train, epochs=args.pretrain_epochs, lr=1e-3, device=args.device, seed=args.seed,
          progress=not args.quiet, desc="pretrain")
    net.eval()
    pairs = {"validation": ClassSubset(10).test_contexts(data.validation), "test": ClassSubset(10).test_contexts(data.test)}
    dense_val = _pair_errors(net, pairs["validation"], data.validation)
    pairs["dense_validation"] = 100 * sum(dense_val) / len(dense_val)
    dense_test = _pair_errors(net, pairs["test"], data.test)
    rows = [dict(method="dense", context="one network", error=100 * sum(dense_test) / len(dense_test),
                 error_plain=100 * classification_error(net, data.test, args.device),
                 validation_error=pairs["dense_validation"], cr_prune=1.0, cr_bits=1.0, flops_reduction_percent=0.0)]
    for method in args.methods:
        if method in UNCONDITIONAL:
            rows.append(_unconditional(method, net, data, pairs, args))
        elif method == "bhc-cy":
            context = ClassSubset(data.num_classes)
            val = {"contexts": context.test_contexts(data.validation), "dense": dense_val}
            rows += _conditional(method, context, net, data, args, val,
                                 [("class pairs", context.test_contexts(data.test))], True)
        elif method == "bhc-cx":
            context = InputDomain(data.input_shape, data.num_classes)
            contexts = context.test_contexts(data.validation)
            dense = _pair_errors(net, contexts, data.validation, restrict=False)
            rows += _conditional(method, context, net, data, args, {"contexts": contexts, "dense": dense},
                                 [("pair inputs", context.test_contexts(data.test))], False)
        elif method == "bhc-cw":
            context = CompressionLevel((0.1, 1.0))
            dense = [classification_error(net, data.validation, args.device)] * 2
            levels = context.test_contexts(data.test)
            rows += _conditional(method, context, net, data, args,
                                 {"contexts": context.test_contexts(data.validation), "dense": dense},
                                 [(label, [(label, c, rows_)]) for label, c, rows_ in levels], False)
    for row in rows:
        row.update(model=model_name, dataset=args.dataset)
    return rows


def main(argv=None):
    p = parser(__doc__.strip().splitlines()[1])
    p.add_argument("--dataset", default="mnist5k")
    p.add_argument("--models", nargs="+", default=["lenet300", "lenet5-caffe"])
    p.add_argument("--methods", nargs="+", default=UNCONDITIONAL + ["bhc-cy", "bhc-cx", "bhc-cw"])
    p.add_argument("--pretrain-epochs", type=int, default=20)
    p.add_argument("--epochs", type=int, default=100, help="SVI epochs of the unconditional methods")
    p.add_argument("--bhc-epochs", type=int, default=100, help="epochs of tasks of the hypernetworks")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--bhc-lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--kl-warmup-epochs", type=int, default=10)
    p.add_argument("--tolerance", type=float, default=0.5, help="points of validation error above the dense net's")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.models = [m for m in args.models if m == "lenet300"] or args.models[:1]
        args.pretrain_epochs, args.epochs, args.bhc_epochs, args.kl_warmup_epochs = 3, 5, 10, 1
    setup(args)
    data = hold_out(load_dataset(args.dataset, seed=args.seed), 0.1, seed=args.seed)
    rows = []
    for model_name in args.models:
        rows += run_model(model_name, data, args)
        print_table(rows, COLUMNS)
    best = {}
    for row in rows:
        if row["method"] in UNCONDITIONAL and (row["model"] not in best or row["cr_prune"] > best[row["model"]]["cr_prune"]):
            best[row["model"]] = row
    for row in rows:
        if row["method"] == "bhc-cy" and row["model"] in best:
            ref = best[row["model"]]
            row["cr_ratio_to_best_unconditional"] = row["cr_prune"] / ref["cr_prune"]
            row["target_met"] = bool(row["cr_prune"] >= 2 * ref["cr_prune"] and row["error"] <= ref["error"] + 0.3
                                     and row["ms_per_context"] <= 100)
    print_table(rows, COLUMNS)
    print(f"wrote {write_rows(args.out, 'conditional', rows, COLUMNS)}")
    return rows


if __name__ == "__main__":
    main()
