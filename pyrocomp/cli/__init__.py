"""
The ``pyrocomp`` command: ``pyrocomp compress ...``, ``pyrocomp conditional ...``, ``pyrocomp export RUN_DIR``,
``pyrocomp diagnose RUN_DIR ...`` and ``pyrocomp list``.
"""
import sys

from pyrocomp.data import DATASETS, DataError
from pyrocomp.guides import CONTEXTS
from pyrocomp.infer import SECOND_MOMENTS
from pyrocomp.models import MODELS
from pyrocomp.priors import PRIORS

from .arguments import (Parser, UsageError, choice, finite_float, fraction, non_negative_int, percentage_points,
                        positive_float, positive_int, seed)
from . import conditional, diagnose, export
from .compress import ELBOS, compress_command
from .diagnose import load_run
from .prior_options import PRIOR_OPTIONS, PriorOptions, prior_options, register_prior_options

__all__ = ["PRIOR_OPTIONS", "PriorOptions", "UsageError", "build_parser", "compress_command", "load_run",
           "main", "register_prior_options", "run"]


def build_parser():
    parser = Parser(prog="pyrocomp", description="Bayesian compression of neural networks with Pyro.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    sub.add_parser("list", help="list the models, priors, data sets and contexts")
    c = sub.add_parser("compress", help="train, fit a sparsity prior, prune, fine-tune, evaluate and report")
    _shared_arguments(c)
    c.add_argument("--prior", required=True, type=choice(PRIORS, "prior"))
    c.add_argument("--epochs", type=positive_int, default=30, help="SVI epochs")
    c.add_argument("--kl-weight", type=positive_float, default=1.0,
                   help="weight of the KL terms after warm-up; > 1 weighs the prior as if the data set were smaller "
                        "(a tempered posterior) and compresses more")
    c.add_argument("--elbo", default=None, type=choice(ELBOS, "ELBO"),
                   help="default: taylor for --prior turbo, meanfield otherwise")
    c.add_argument("--threshold", type=finite_float, default=None,
                   help="threshold of the prior's criterion (log dropout rate; support probability for turbo)")
    c.add_argument("--calibrate", type=percentage_points, default=None, metavar="POINTS",
                   help="choose the pruning threshold on held-out training data: the sparsest whose validation "
                        "error is within POINTS percentage points of the unpruned network's")
    c.add_argument("--validation", type=fraction, default=0.1,
                   help="fraction of the training data held out for --calibrate (default 0.1)")
    c.add_argument("--second-moment", default="taylor", type=choice(SECOND_MOMENTS, "second moment rule"),
                   help="<w^2> of the closed-form precision updates under --elbo taylor: mu^2 (paper 001 eq. 34) "
                        "or mu^2 + sigma^2")
    c.add_argument("--finetune-epochs", type=non_negative_int, default=0)
    c.add_argument("--diagnose", action="store_true",
                   help="also write the posterior's ArviZ diagnostics into OUT/diagnostics (pyrocomp diagnose)")
    c.add_argument("--resume", action="store_true",
                   help="go on from the checkpoint an interrupted run with the same arguments left beside --out")
    c.add_argument("--distributed", action="store_true",
                   help="fit data-parallel over the processes torchrun starts (torchrun --nproc_per_node N -m "
                        "pyrocomp compress ... --distributed); --batch-size is the global batch; the first process "
                        "writes --out")
    owners = {}
    for name in PRIORS:
        options = prior_options(name)
        if options.description is not None:
            before = len(c._actions)
            options.add_arguments(c.add_argument_group(name, options.description))
            owners.update({action: name for action in c._actions[before:]})
    c.set_defaults(option_owners=owners)
    h = sub.add_parser("conditional", help="fit one Bayesian hypernetwork (paper 003, BHC), then compress the "
                                           "network for every context of a kind, each in one pass")
    _shared_arguments(h, out="runs/conditional")
    conditional.add_arguments(h, choice, positive_int, positive_float)
    e = sub.add_parser("export", help="write a compressed run's network as pt, TorchScript or ONNX, optionally "
                                      "quantised to its posterior's precision, and check the file on the test data")
    export.add_arguments(e)
    d = sub.add_parser("diagnose", help="the posterior of compress runs as ArviZ InferenceData, its summary and "
                                        "pictures; with several runs, which pruning decisions they agree on")
    diagnose.add_arguments(d, positive_int)
    return parser


def _shared_arguments(c, out="runs/compress"):
    c.add_argument("--model", required=True, type=choice(MODELS, "model"))
    c.add_argument("--dataset", required=True, type=choice(DATASETS, "dataset"))
    c.add_argument("--data-dir", default=None, help="directory of the torchvision data sets")
    c.add_argument("--pretrain-epochs", type=non_negative_int, default=10)
    c.add_argument("--init", default=None, help="state dict of the dense network instead of pre-training")
    c.add_argument("--batch-size", type=positive_int, default=100)
    c.add_argument("--lr", type=positive_float, default=1e-3)
    c.add_argument("--pretrain-lr", type=positive_float, default=1e-3)
    c.add_argument("--kl-warmup-epochs", type=non_negative_int, default=0)
    c.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    c.add_argument("--seed", type=seed, default=0)
    c.add_argument("--out", default=out, help="output directory (written whole when the run ends, or not at all)")
    c.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    c.add_argument("--quiet", action="store_true", help="no progress bars")


def _list():
    for title, table in (("models", MODELS), ("priors", PRIORS), ("datasets", DATASETS), ("contexts", CONTEXTS)):
        print(f"{title}:")
        for name, entry in table.items():
            summary = (entry.__doc__ or "").strip().splitlines() or [""]  # a user's entry may have no docstring
            print(f"  {name:14s} {summary[0].rstrip(':')}")
    print("elbos:")
    for name, entry in ELBOS.items():
        print(f"  {name:14s} {entry.elbo_type.__name__}: {entry.description}")


def main(argv=None):
    """Entry point of the ``pyrocomp`` console script; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
        if args.command == "list":
            _list()
        elif args.command == "conditional":
            conditional.conditional_command(args)
        elif args.command == "export":
            export.export_command(args)
        elif args.command == "diagnose":
            diagnose.diagnose_command(args)
        else:
            compress_command(args)
    except (UsageError, DataError, FloatingPointError) as error:  # bad input, or hyper-parameters that diverge
        print(f"pyrocomp: error: {error}", file=sys.stderr)
        return 2
    return 0


def run():
    """Console-script wrapper: ``sys.exit(main())``."""
    sys.exit(main())
