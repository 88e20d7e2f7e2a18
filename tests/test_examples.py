"""Every example runs with tiny arguments and prints what its tutorial shows; each is referenced from a tutorial;
with their default lengths they reach what the tutorials say (slow)."""
import runpy
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
#: example -> (tiny arguments, what its output shows)
TINY = {
    "custom_prior.py": (["--epochs", "1"], ["dense error", "| layer | kind |", "architecture 64-100 -> "]),
    "breast_cancer_mixture.py": (["--epochs", "2"], ["dense:", "compressed:", "layer 1: horseshoe"]),
    "diagnose.py": (["--epochs", "2", "--samples", "10", "--warmup", "10", "--max-tree-depth", "3", "--draws", "20"],
                    ["| variable | VI mean |", "picture: vi_vs_nuts.png", "PSIS-LOO", "group-HS"]),
    "deploy.py": (["--epochs", "1", "--pretrain-epochs", "1"],
                  ["| dense onnx |", "| compressed onnx int8 |", "| compressed, packed at the posterior's bits |"]),
    "distributed.py": (["--epochs", "2", "--pretrain-epochs", "1", "--processes", "2"],
                       ["2 processes, global batch 100", "| 2 |", "compressed: architecture 784-"]),
    "conditional_classes.py": (["--dataset", "digits", "--epochs", "1", "--pretrain-epochs", "1"],
                               ["| classes | dense error % |", "| 3+4 |", "| 9+0 |"]),
}


def _main(name):
    return runpy.run_path(str(ROOT / "examples" / name), run_name="not_main")["main"]


def test_every_example_has_tiny_arguments():
    assert {path.name for path in EXAMPLES} == set(TINY)


#: examples whose tiny run still launches processes: with the slow tests
SLOW = {"distributed.py"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in sorted(TINY)])
def test_example_runs_with_tiny_arguments(name, capsys):
    argv, shown = TINY[name]
    _main(name)(argv)
    out = capsys.readouterr().out
    assert all(text in out for text in shown), out


@pytest.mark.parametrize("name", sorted(TINY))
def test_example_is_referenced_from_a_tutorial(name):
    tutorials = "".join(p.read_text() for p in (ROOT / "docs" / "tutorials").glob("*.md"))
    assert f"examples/{name}" in tutorials


def test_user_declared_prior_example_prunes_at_small_error():
    result = _main("custom_prior.py")(["--epochs", "25"])
    assert result.report.wr_percent < 100.0 and result.report.error < 0.1
    assert "1.precision" in result.posteriors["1"].sites


@pytest.mark.slow
def test_breast_cancer_mixture_example_compresses_and_reports_the_mixing_weights():
    from pyrocomp.pruning import mixing_weights

    run, dense_error = _main("breast_cancer_mixture.py")(["--epochs", "60"])
    report = run.result.report
    assert report.wr_percent < 50.0 and report.error - dense_error <= 0.05
    # the reported weights are the posterior means of the layers' Dirichlet posteriors
    for path, weights in mixing_weights(run.model, run.guide).items():
        alpha = run.guide.posterior(f"{path}.mixing_weights").log_concentration.detach().exp()
        assert torch.allclose(torch.tensor(list(weights.values()), dtype=alpha.dtype), alpha / alpha.sum())
