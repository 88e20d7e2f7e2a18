"""
Compress a small MLP for a medical tabular task (Wisconsin breast-cancer diagnosis, shipped with
scikit-learn) with the mixture prior of paper 000, and show which sparsity prior each layer chose.

    python examples/breast_cancer_mixture.py [--epochs 200] [--device cpu]

Prints the dense and compressed accuracy, the pruned architecture, and per layer the posterior
mixing weights of the horseshoe, Laplace and normal-Jeffreys components.
"""
import argparse
import copy

from pyrocomp.data import load_dataset
from pyrocomp.infer import classification_error, train
from pyrocomp.models import build_model
from pyrocomp.pipeline import compress_network
from pyrocomp.priors import MixturePrior
from pyrocomp.pruning import mixing_weights


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    data = load_dataset("breast-cancer", seed=args.seed)
    net = build_model("lenet300", data.input_shape, data.num_classes)  # 30-300-100-2
    train(net, data.train, epochs=50, lr=1e-3, batch_size=32, device=args.device, seed=args.seed, progress=False)
    dense_error = classification_error(net, data.test, args.device)
    run = compress_network(copy.deepcopy(net), MixturePrior(group="in"), data, epochs=args.epochs, lr=3e-3,
                           batch_size=32, kl_warmup_epochs=args.epochs // 10, finetune_epochs=20, finetune_lr=1e-4,
                           device=args.device, seed=args.seed, progress=False)
    report = run.result.report
    print(f"dense:      accuracy {100 * (1 - dense_error):.1f} %, architecture {report.architecture_dense}, "
          f"{report.weights:,} weights")
    print(f"compressed: accuracy {100 * (1 - report.error):.1f} %, architecture {report.architecture}, "
          f"{report.weights_kept:,} weights ({report.wr_percent:.2f} %), CR_prune {report.cr_prune:.0f}, "
          f"CR_bits {report.cr_bits:.0f}")
    for path, weights in mixing_weights(run.model, run.guide).items():
        print(f"layer {path}: " + ", ".join(f"{name} {w:.2f}" for name, w in weights.items()))
    return run, dense_error


if __name__ == "__main__":
    main()
