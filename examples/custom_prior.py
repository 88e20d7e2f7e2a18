"""
Declare a new hierarchical sparsity prior in a few lines of Pyro and compress with it.

A group Student-t prior: one precision per input neuron, rho_i ~ Gamma(nu/2, nu s^2/2), and
w_ij | rho_i ~ N(0, 1/rho_i); marginally each input neuron's weights are Student-t.

    python examples/custom_prior.py --epochs 30
"""
import argparse

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from pyrocomp import AutoCompressionGuide, BayesianNetwork
from pyrocomp.data import load_dataset
from pyrocomp.infer import classification_error, fit, train
from pyrocomp.priors import Prior
from pyrocomp.pruning import compress


class GroupStudentT(Prior):
    """rho_g ~ Gamma(nu / 2, nu s^2 / 2), w | rho ~ N(0, 1 / rho_g), one group per input neuron."""

    def __init__(self, nu=1.0, s=0.05):
        self.nu, self.s = nu, s

    def __call__(self, name, layer):
        shape = layer.group_shape("in")
        concentration, rate = layer.full(shape, self.nu / 2), layer.full(shape, self.nu * self.s**2 / 2)
        rho = pyro.sample(f"{name}.precision", dist.Gamma(concentration, rate).to_event(len(shape)))
        scale = layer.expand(rho.rsqrt())
        return pyro.sample(f"{name}.weight",
                           dist.Normal(torch.zeros_like(scale), scale).to_event(len(layer.weight_shape)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)

    data = load_dataset("digits")
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 100), nn.ReLU(), nn.Linear(100, 10))
    train(net, data.train, epochs=40, lr=1e-2, batch_size=128, device=args.device, progress=False)

    pyro.clear_param_store()
    model = BayesianNetwork(net, GroupStudentT())
    guide = AutoCompressionGuide(model)
    fit(model, guide, data.train, epochs=args.epochs, lr=1e-2, batch_size=128, device=args.device)
    result = compress(model, guide, data.train.tensors[0][:256].to(args.device))
    result.report.error = classification_error(result.network, data.test)
    print(f"dense error {100 * classification_error(net, data.test):.2f} %")
    print(result.report.to_markdown())
    return result


if __name__ == "__main__":
    main()
