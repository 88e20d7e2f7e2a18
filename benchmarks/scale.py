"""
What the Bayesian step costs as the network grows, and what a second process buys (issue: scale out).

For each network (LeNet-300-100, LeNet-5-Caffe, VGG-11, ResNet-18) on random CIFAR-shaped batches (torchvision's
``FakeData``, 3×32×32, 10 classes) this times plain training (``pyrocomp.infer.train``: Adam on the cross-entropy)
and one SVI step of every prior (``pyrocomp.infer.fit`` with the prior's default ELBO and guide), each in a process
of its own so that its peak memory is its own: seconds per step (the second epoch's, after a first that warms up),
the ratio to the plain step, and the peak resident memory (CUDA: peak allocated memory). Then VGG-11's SVI step
(group normal-Jeffreys) in one process with one and with two threads, and in two processes of one thread each
(``DataParallel`` over gloo, each fitting half of every global batch): examples per second.

    python benchmarks/scale.py --out results [--quick] [--networks ...] [--methods ...] [--device cuda]

Rows, one per network and method (``method`` = ``plain`` or a prior), and one per process layout
(``part`` = ``processes``). Picture: ``scale.png``, the ratio to plain training against the parameter count.
With ``--batch-size B`` (default 32 per process) the files are ``scale-batchB.*``.

Targets: the Bayesian step costs <= 3x the plain step for every prior on every network, not growing with the
parameter count; two processes give >= 1.6x the throughput of one for VGG-11.
"""
import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from common import parser, print_table, setup, write_rows  # noqa: E402

NETWORKS = ["lenet300", "lenet5-caffe", "vgg11", "resnet18"]
METHODS = ["vd", "group-nj", "group-hs", "io-nj", "ard", "laplace", "mixture", "turbo"]
QUICK = {"networks": ["lenet300", "lenet5-caffe"], "methods": ["vd", "group-nj"]}
#: (batch size, steps per epoch), full and --quick; --batch-size overrides the batch
SIZES = ((32, 6), (16, 3))


def sizes(args):
    batch, steps = SIZES[args.quick]
    return (args.batch_size or batch), steps
SHAPE, CLASSES = (3, 32, 32), 10
COLUMNS = [("part", "part", ""), ("model", "model", ""), ("method", "method", ""), ("params", "parameters", ","),
           ("batch_size", "batch/process", ""),
           ("s_per_step", "s/step", ".3f"), ("ratio_to_plain", "x plain", ".2f"), ("peak_mb", "peak MB", ".0f"),
           ("processes", "processes", ""), ("threads", "threads/process", ""),
           ("examples_per_s", "examples/s", ".1f"), ("throughput_ratio", "x 1 process, 1 thread", ".2f")]


def fake_data(size, seed):
    """``size`` random CIFAR-shaped examples from torchvision's ``FakeData``, as an ``(x, y)`` pair of tensors."""
    from torchvision.datasets import FakeData
    from torchvision.transforms import ToTensor

    data = FakeData(size=size, image_size=SHAPE, num_classes=CLASSES, transform=ToTensor(), random_offset=seed)
    x = torch.stack([data[i][0] for i in range(size)])
    return x, torch.tensor([int(data[i][1]) for i in range(size)])


def _peak_mb(device):
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 10  # kilobytes on Linux


def _bayesian(network, method, dataset_size):
    from pyrocomp import AutoCompressionGuide, BayesianNetwork
    from pyrocomp.guides import posterior_family
    from pyrocomp.infer import default_elbo
    from pyrocomp.models import build_model
    from pyrocomp.priors import get_prior

    prior = get_prior(method)
    elbo = default_elbo(prior)
    model = BayesianNetwork(build_model(network, SHAPE, CLASSES), prior, dataset_size=dataset_size)
    guide = AutoCompressionGuide(model, posterior_family=getattr(elbo, "posterior_family", posterior_family))
    return model, guide, elbo


def time_step(network, method, batch, steps, device, seed=0, parallel=None):
    """Seconds per step of ``method`` (``plain`` or a prior) on ``network``: the second epoch of two."""
    import pyro

    from pyrocomp.infer import fit, train
    from pyrocomp.models import build_model

    torch.manual_seed(seed)
    pyro.set_rng_seed(seed)
    pyro.clear_param_store()
    world = 1 if parallel is None else parallel.world_size
    data = fake_data(batch * steps, seed)
    params = sum(p.numel() for p in build_model(network, SHAPE, CLASSES).parameters())
    if method == "plain":
        net = build_model(network, SHAPE, CLASSES)
        history = train(net, data, epochs=2, batch_size=batch, device=device, seed=seed, progress=False)
    else:
        model, guide, elbo = _bayesian(network, method, len(data[0]))
        history = fit(model, guide, data, epochs=2, batch_size=batch * world, elbo=elbo, device=device, seed=seed,
                      progress=False, callbacks=[], parallel=parallel)
    return dict(params=params, s_per_step=history[-1]["seconds"] / (steps // world), peak_mb=_peak_mb(device))


def _one(args):
    """This process's one measurement (``--one NETWORK METHOD``), printed as JSON."""
    batch, steps = sizes(args)
    print(json.dumps(time_step(*args.one, batch, steps, torch.device(args.device), args.seed)))


def _in_process(args, network, method, threads):
    command = [sys.executable, __file__, "--out", args.out, "--device", args.device, "--seed", str(args.seed),
               "--threads", str(threads), "--one", network, method, *(["--quick"] if args.quick else []),
               *(["--batch-size", str(args.batch_size)] if args.batch_size else [])]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{network} / {method} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _data_parallel_worker(rank, init_file, out, network, method, batch, steps, seed):
    import torch.distributed as dist

    from pyrocomp.infer import DataParallel

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        row = time_step(network, method, batch, 2 * steps, torch.device("cpu"), seed, parallel=DataParallel())
        if rank == 0:
            Path(out).write_text(json.dumps(row))
    finally:
        dist.destroy_process_group()


def processes(args, network="vgg11", method="group-nj"):
    """One process with 1 and with 2 threads against 2 processes of 1 thread (CPU): examples per second."""
    import torch.multiprocessing as mp

    batch, steps = sizes(args)
    rows = []
    for threads in (1, 2):
        row = _in_process(args, network, method, threads)
        rows.append(dict(part="processes", model=network, method=method, processes=1, threads=threads, batch_size=batch,
                         s_per_step=row["s_per_step"], examples_per_s=batch / row["s_per_step"]))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "row.json"
        mp.spawn(_data_parallel_worker, args=(str(Path(tmp) / "init"), str(out), network, method, batch, steps,
                                              args.seed), nprocs=2, join=True)
        row = json.loads(out.read_text())
    rows.append(dict(part="processes", model=network, method=method, processes=2, threads=1, batch_size=batch,
                     s_per_step=row["s_per_step"], examples_per_s=2 * batch / row["s_per_step"]))
    for row in rows:
        row["throughput_ratio"] = row["examples_per_s"] / rows[0]["examples_per_s"]
    return rows


def plot(rows, path):
    fig, ax = plt.subplots(figsize=(6, 4))
    methods = sorted({r["method"] for r in rows if r["part"] == "step" and r["method"] != "plain"})
    for method in methods:
        mine = sorted((r for r in rows if r["part"] == "step" and r["method"] == method), key=lambda r: r["params"])
        ax.plot([r["params"] for r in mine], [r["ratio_to_plain"] for r in mine], marker="o", label=method)
    ax.axhline(3, color="grey", linestyle="--", label="target 3x")
    ax.set(xscale="log", xlabel="parameters", ylabel="SVI step / plain step", title="Bayesian overhead by size")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    p = parser(__doc__.splitlines()[1])
    p.add_argument("--networks", nargs="+", choices=NETWORKS, default=None)
    p.add_argument("--methods", nargs="+", choices=METHODS, default=None)
    p.add_argument("--no-processes", action="store_true", help="skip the 1 vs 2 processes comparison")
    p.add_argument("--batch-size", type=int, default=None, help="examples per step and process (default 32)")
    p.add_argument("--one", nargs=2, metavar=("NETWORK", "METHOD"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    setup(args)
    if args.one:
        return _one(args)
    networks = args.networks or (QUICK["networks"] if args.quick else NETWORKS)
    methods = args.methods or (QUICK["methods"] if args.quick else METHODS)
    threads = args.threads or torch.get_num_threads()
    batch = sizes(args)[0]
    rows = []
    for network in networks:
        plain = _in_process(args, network, "plain", threads)
        rows.append(dict(part="step", model=network, method="plain", ratio_to_plain=1.0, threads=threads,
                         batch_size=batch, **plain))
        for method in methods:
            row = _in_process(args, network, method, threads)
            rows.append(dict(part="step", model=network, method=method, threads=threads, batch_size=batch,
                             ratio_to_plain=row["s_per_step"] / plain["s_per_step"], **row))
            print(f"{network} {method}: {row['s_per_step']:.3f} s/step, {rows[-1]['ratio_to_plain']:.2f}x plain",
                  flush=True)
    if not args.no_processes and torch.device(args.device).type == "cpu":
        rows += processes(args, "vgg11" if not args.quick else "lenet5-caffe")
    out = Path(args.out)
    name = "scale" if args.batch_size is None else f"scale-batch{args.batch_size}"
    plot(rows, out / f"{name}.png")
    print_table(rows, COLUMNS)
    write_rows(out, name, rows, COLUMNS)
    return rows


if __name__ == "__main__":
    main()
