"""
Data-parallel SVI over several processes with torch.distributed: LeNet-300-100 with the group normal-Jeffreys prior
on mnist5k, each process fitting its share of every global batch, then the compressed network from the first.

    torchrun --nproc_per_node 2 examples/distributed.py --epochs 10
    python examples/distributed.py --processes 2 --epochs 10      # launches torchrun itself
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pyro
import torch


def fit_in_this_process(args):
    """One process of the group: the same model and data everywhere, the fit split by DataParallel."""
    from pyrocomp import AutoCompressionGuide, BayesianNetwork
    from pyrocomp.data import load_dataset
    from pyrocomp.infer import DataParallel, classification_error, fit, init_distributed, train
    from pyrocomp.models import build_model
    from pyrocomp.priors import GroupNormalJeffreys
    from pyrocomp.pruning import compress

    device = init_distributed()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    pyro.set_rng_seed(0)
    parallel = DataParallel()
    data = load_dataset("mnist5k")
    net = build_model("lenet300", data.input_shape, data.num_classes)
    train(net, data.train, epochs=args.pretrain_epochs, lr=1e-3, batch_size=100, device=device, progress=False)
    model = BayesianNetwork(net, GroupNormalJeffreys(), dataset_size=len(data.train))
    guide = AutoCompressionGuide(model)
    history = fit(model, guide, data.train, epochs=args.epochs, lr=1e-3, batch_size=args.batch_size, device=device,
                  parallel=parallel, progress=False)
    if parallel.is_main:
        result = compress(model, guide, data.train.tensors[0][:256].to(device))
        error = classification_error(result.network, data.test, device)
        Path(args.result).write_text(json.dumps({
            "processes": parallel.world_size, "history": history,
            "architecture": result.report.architecture, "kept_percent": result.report.wr_percent,
            "error": error}))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--processes", type=int, default=2, help="processes to launch (without torchrun)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--pretrain-epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=100, help="the global batch, split among the processes")
    parser.add_argument("--result", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if "RANK" in os.environ:  # a process torchrun started
        return fit_in_this_process(args)
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(args.processes), __file__,
                   *(argv if argv is not None else sys.argv[1:]), "--result", str(result)]
        subprocess.run(command, check=True)
        summary = json.loads(result.read_text())
    print(f"{summary['processes']} processes, global batch {args.batch_size}")
    print("| epoch | negative ELBO | data term | KL |\n|---|---|---|---|")
    for h in summary["history"]:
        print(f"| {h['epoch']} | {h['loss']:.1f} | {h['nll']:.1f} | {h['kl']:.1f} |")
    print(f"compressed: architecture {summary['architecture']}, {summary['kept_percent']:.2f} % of the weights kept, "
          f"test error {100 * summary['error']:.2f} %")
    return summary


if __name__ == "__main__":
    main()
