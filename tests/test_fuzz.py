"""
A seeded sweep of bad and legal input. Every numeric option of ``pyrocomp compress`` with bad values (negative,
zero, NaN, infinities, huge, not a number): either refused with one clear error naming it, or parsed to a value the
prior accepts or refuses with a ValueError/TypeError — never another exception. Every prior's legal
hyper-parameters on small random networks: a finite loss. ``FUZZ_CASES`` sets how many random cases (``make fuzz``
runs more).
"""
import math
import os
import random

import pyro
import torch
from torch import nn

from pyrocomp import AutoCompressionGuide, BayesianNetwork
from pyrocomp.cli import build_parser, prior_options
from pyrocomp.cli.arguments import UsageError
from pyrocomp.infer import default_elbo
from pyrocomp.guides import posterior_family
from pyrocomp.infer import MixtureMeanField_ELBO
from pyrocomp.priors import PRIORS

CASES = int(os.environ.get("FUZZ_CASES", "40"))
BAD = ["-1", "0", "-0.5", "nan", "inf", "-inf", "1e400", "1e300", "abc", "", "99999999999999999999", "0.5", "2"]
BASE = ["compress", "--model", "lenet300", "--dataset", "digits"]


def _numeric_options():
    parser = build_parser()
    compress = parser._subparsers._group_actions[0].choices["compress"]
    owners = compress.get_default("option_owners")
    for action in compress._actions:  # options that take one number
        if action.option_strings and action.type not in (None, str) and action.nargs in (None, 1):
            yield action.option_strings[0], owners.get(action, "vd")


def test_every_bad_numeric_option_is_a_clear_error_or_a_checked_value():
    counts = dict(cases=0, clear=0, accepted=0, tracebacks=0)
    failures = []
    for option, prior in _numeric_options():
        if option in ("--init", "--data-dir", "--out", "--device"):
            continue
        for value in BAD:
            counts["cases"] += 1
            argv = BASE + ["--prior", prior, f"{option}={value}"]
            try:
                args = build_parser().parse_args(argv)
                built = prior_options(prior).build(args)
            except (UsageError, ValueError, TypeError):
                counts["clear"] += 1
                continue
            except Exception as error:  # noqa: BLE001 - what the sweep is for
                counts["tracebacks"] += 1
                failures.append((option, value, repr(error)))
                continue
            counts["accepted"] += 1
            for name, number in vars(built).items():  # what a prior accepted is a finite number
                if isinstance(number, float) and not math.isfinite(number):
                    failures.append((option, value, f"{name}={number}"))
    print(counts)
    assert counts["cases"] >= 200 and counts["tracebacks"] == 0
    assert not failures, failures


def _legal(rng, name):
    """Random legal hyper-parameters of prior ``name`` (within the ranges its constructor documents)."""
    log = lambda lo, hi: 10 ** rng.uniform(lo, hi)  # noqa: E731
    return {
        "vd": lambda: dict(threshold=rng.uniform(-3, 5)),
        "group-nj": lambda: dict(threshold=rng.uniform(-4, 2), group=rng.choice(["auto", "in", "out"])),
        "group-hs": lambda: dict(tau0=log(-5, 0), threshold=rng.uniform(-3, 5)),
        "io-nj": lambda: dict(threshold=rng.uniform(-4, 2)),
        "laplace": lambda: dict(rate=log(-1, 3)),
        "ard": lambda: dict(a=log(-3, 1), b=log(-6, 1)),
        "mixture": lambda: dict(group=rng.choice(["in", "out", "layer", None]), concentration=log(-1, 1)),
        "turbo": lambda: dict(a=log(-1, 1), b=log(-2, 1), a_bar=log(-1, 1), b_bar=log(-6, -1),
                              threshold=rng.uniform(0.05, 0.95)),
    }[name]()


def test_legal_hyper_parameters_on_random_networks_give_finite_losses():
    rng = random.Random(0)
    counts = dict(cases=0, nan=0)
    for case in range(CASES):
        name = sorted(PRIORS)[case % len(PRIORS)]
        pyro.clear_param_store()
        torch.manual_seed(case)
        width, inputs, classes = rng.randint(2, 9), rng.randint(2, 7), rng.randint(2, 4)
        net = (nn.Sequential(nn.Linear(inputs, width), nn.ReLU(), nn.Linear(width, classes)) if rng.random() < 0.5 else
               nn.Sequential(nn.Conv2d(1, width, 3), nn.ReLU(), nn.Flatten(), nn.Linear(width * 4, classes)))
        x = torch.randn(8, inputs) if isinstance(net[0], nn.Linear) else torch.randn(8, 1, 4, 4)
        y = torch.randint(0, classes, (8,))
        prior = PRIORS[name](**_legal(rng, name))
        model = BayesianNetwork(net, prior, dataset_size=rng.choice([8, 100, 10_000]))
        elbo = default_elbo(prior) or MixtureMeanField_ELBO()
        guide = AutoCompressionGuide(model, posterior_family=getattr(elbo, "posterior_family", posterior_family))
        loss = elbo.differentiable_loss(model, guide, x, y)
        counts["cases"] += 1
        if not torch.isfinite(loss):
            counts["nan"] += 1
    print(counts)
    assert counts["cases"] == CASES and counts["nan"] == 0
