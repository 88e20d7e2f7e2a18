"""
One Bayesian hypernetwork, a compressed network per class pair (paper 003, BHC): fit once on tasks of two
consecutive digit classes, then read off in one pass the network each pair needs.

    python examples/conditional_classes.py [--dataset mnist5k] [--epochs 50] [--device cpu]

Prints, per pair of classes, the error of the dense network and of the pair's compressed network on that pair's
test digits (predicting between the pair's two classes), the pruned architecture, CR_prune and the milliseconds it
took to produce the network.
"""
import argparse

import torch

from pyrocomp import BayesianNetwork
from pyrocomp.data import load_dataset
from pyrocomp.guides import AutoConditionalGuide, ClassSubset
from pyrocomp.infer import fit_conditional, train
from pyrocomp.models import build_model
from pyrocomp.priors import InputOutputNormalJeffreys
from pyrocomp.pruning import ScaleSitesLogAlphaThreshold, compress_contexts, context_error


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--dataset", default="mnist5k")
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--pretrain-epochs", type=int, default=5)
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    torch.manual_seed(args.seed)
    data = load_dataset(args.dataset, seed=args.seed)
    net = build_model("lenet300", data.input_shape, data.num_classes)
    train(net, data.train, epochs=args.pretrain_epochs, lr=1e-3, device=args.device, progress=False)

    context = ClassSubset(data.num_classes)  # tasks: random consecutive class pairs
    model = BayesianNetwork(net, InputOutputNormalJeffreys())
    guide = AutoConditionalGuide(model, context)  # scales per context, weights shared
    fit_conditional(model, guide, data.train, epochs=args.epochs, lr=1e-3, device=args.device, seed=args.seed)

    x, y = (t.to(args.device) for t in data.test.tensors)
    tests = context.test_contexts(data.test)
    results = compress_contexts(model, guide, tests, x[:1], data=data.test, criterion=ScaleSitesLogAlphaThreshold())
    print("| classes | dense error % | error % | architecture | CR_prune | ms |")
    print("|---|---|---|---|---|---|")
    for result, (_, c, rows) in zip(results, tests):
        dense = context_error(net.eval(), (x[rows], y[rows]), context.output_classes(c))
        report = result.compression.report
        print(f"| {result.label.removeprefix('classes ')} | {100 * dense:.1f} | {100 * result.error:.1f} | "
              f"{report.architecture} | {report.cr_prune:.0f} | {result.milliseconds:.0f} |")
    return results


if __name__ == "__main__":
    main()
