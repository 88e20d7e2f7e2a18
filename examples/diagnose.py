"""
A statistician's check of compression posteriors on scikit-learn's breast-cancer data: a Bayesian logistic regression
with automatic relevance determination (one logit, one Gamma(1, 1) precision per input) fitted by SVI and sampled by
NUTS, side by side (which inputs each shrinks, how wide each is, whether NUTS converged); then three priors on one
network ranked by PSIS-LOO (``az.compare``).

    python examples/diagnose.py --epochs 300 --out diagnose
"""
import argparse
import tempfile
from pathlib import Path

import arviz as az
import pyro
import torch
from torch import nn

from pyrocomp import AutoCompressionGuide, BayesianNetwork
from pyrocomp.data import load_dataset
from pyrocomp.diagnostics import compare_posteriors, nuts_inference_data, plot_posteriors, to_inference_data
from pyrocomp.guides import mean_field_weights
from pyrocomp.infer import fit
from pyrocomp.nn import BernoulliLikelihood
from pyrocomp.priors import AutomaticRelevanceDetermination, GroupHorseshoe, GroupNormalJeffreys, LogUniformPrior


def logistic_regression(data, args):
    """ARD logistic regression (one logit): SVI and NUTS on the same Pyro model; their posteriors side by side."""
    x, y = data.train.tensors
    pyro.clear_param_store()
    model = BayesianNetwork(nn.Linear(x.shape[1], 1), AutomaticRelevanceDetermination(a=1.0, b=1.0, group="in"),
                            likelihood=BernoulliLikelihood(), dataset_size=len(x))
    guide = AutoCompressionGuide(model, posterior_family=mean_field_weights)
    fit(model, guide, (x, y), epochs=args.epochs, batch_size=32, lr=1e-2, progress=False)
    vi = to_inference_data(model, guide, num_samples=1000, weights=["0"])
    nuts = nuts_inference_data(model, (x, y), num_samples=args.samples, warmup_steps=args.warmup, num_chains=2,
                               max_tree_depth=args.max_tree_depth, target_accept_prob=0.9)
    return vi, nuts


def compare_priors(data, args):
    """Sparse VD, group normal-Jeffreys and group horseshoe on one network, ranked by PSIS-LOO on the test data."""
    x, y = data.train.tensors
    fits = {}
    for name, prior in (("sparse VD", LogUniformPrior()), ("group-NJ", GroupNormalJeffreys()),
                        ("group-HS", GroupHorseshoe())):
        torch.manual_seed(0)
        pyro.clear_param_store()
        model = BayesianNetwork(nn.Sequential(nn.Linear(x.shape[1], 16), nn.ReLU(), nn.Linear(16, 2)), prior,
                                dataset_size=len(x))
        guide = AutoCompressionGuide(model)
        fit(model, guide, (x, y), epochs=args.epochs, batch_size=64, lr=1e-2, progress=False)
        fits[name] = to_inference_data(model, guide, data.test.tensors, num_samples=args.draws, num_chains=2)
    return az.compare(fits)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--samples", type=int, default=300, help="NUTS draws after warm-up")
    parser.add_argument("--warmup", type=int, default=200, help="NUTS warm-up steps")
    parser.add_argument("--draws", type=int, default=200, help="variational draws per chain for PSIS-LOO")
    parser.add_argument("--max-tree-depth", type=int, default=7, help="NUTS's largest tree depth")
    parser.add_argument("--out", default=None, help="directory for the pictures (default: a temporary one)")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    pyro.set_rng_seed(0)
    data = load_dataset("breast-cancer")

    vi, nuts = logistic_regression(data, args)
    rows = compare_posteriors(vi, nuts, var_names=["0.weight", "0.precision"])
    print("| variable | VI mean | VI sd | NUTS mean | NUTS sd | sd VI / NUTS |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['variable']} | {r['vi_mean']:.3f} | {r['vi_sd']:.3f} | {r['reference_mean']:.3f} "
              f"| {r['reference_sd']:.3f} | {r['sd_ratio']:.2f} |")
    ratios = sorted(r["sd_ratio"] for r in rows if r["variable"].startswith("0.weight"))
    print(f"\nweights: median sd ratio VI / NUTS {ratios[len(ratios) // 2]:.2f} (below 1: mean-field VI too narrow)")
    diagnostics = az.summary(nuts, var_names=["0.weight", "0.precision"], kind="diagnostics")
    print(f"NUTS: largest R-hat {diagnostics['r_hat'].max():.3f}, smallest bulk ESS {diagnostics['ess_bulk'].min():.0f}, "
          f"{int(nuts.sample_stats['diverging'].sum())} divergent transitions")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        out.mkdir(parents=True, exist_ok=True)
        path = plot_posteriors(vi, nuts, out / "vi_vs_nuts.png", var_names=["0.precision"])
        print(f"picture: {path.name}")
    print("\nPSIS-LOO on the test data, one network, three priors:\n")
    print(compare_priors(data, args).to_string())
    return rows


if __name__ == "__main__":
    main()
