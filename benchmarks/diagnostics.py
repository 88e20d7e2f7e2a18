"""
Posterior diagnostics, measured: the variational posterior against NUTS, three priors ranked by PSIS-LOO, and what
the diagnostics cost beside the fit.

1. ``logistic``: Bayesian logistic regression with automatic relevance determination (one Gamma(1, 1) precision
   per input, one logit) on scikit-learn's breast-cancer data, fitted by SVI (mean-field Gaussian weights) and
   sampled by NUTS (weights non-centred), 2 chains. Per input: the mean and sd of weight and precision under both
   (``diagnostics-logistic.md``, pictures ``diagnostics-logistic_*.png``); summary: R-hat and ESS of NUTS,
   divergences, the median sd ratio VI / NUTS, the rank correlation of the two posteriors' mean precisions (do they
   shrink the same inputs), and both predictive densities on the test split.
2. ``mlp``: a 64-8-10 tanh network on scikit-learn's digits with the same prior, SVI against NUTS. Hidden units can
   be permuted and their signs flipped, so weights are not compared one by one: the input units' weight norms
   (invariant to both) and the predictive densities are.
3. ``compare``: sparse VD, group normal-Jeffreys and group horseshoe on LeNet-300-100 / ``mnist5k`` (``pyrocomp
   compress``), ranked by ``az.compare`` (PSIS-LOO on the first 500 test examples), with the direct held-out
   log predictive density beside it (no importance sampling: the test examples are not in the fit).
4. ``timing``: ``to_inference_data`` (2 chains of 100 draws, each scoring the test examples ``pyrocomp diagnose``
   scores by default) and ``pyrocomp diagnose`` on LeNet-5-Caffe / ``mnist5k`` against the fit's own time
   (target: under 10 %).

    python benchmarks/diagnostics.py --out results [--quick] [--parts logistic mlp compare timing] [--runs DIR]

Rows, one per part and method, in ``diagnostics.json``.
"""
import json
import math
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import arviz as az  # noqa: E402
import numpy as np  # noqa: E402
import pyro  # noqa: E402
import torch  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402
from torch import nn  # noqa: E402

from common import parser, print_table, setup, write_rows  # noqa: E402
from pyrocomp import AutoCompressionGuide, BayesianNetwork  # noqa: E402
from pyrocomp.cli import load_run, main as pyrocomp  # noqa: E402
from pyrocomp.cli.diagnose import EXAMPLES as DIAGNOSE_EXAMPLES  # noqa: E402
from pyrocomp.data import load_dataset  # noqa: E402
from pyrocomp.diagnostics import compare_posteriors, nuts_inference_data, plot_posteriors, to_inference_data  # noqa
from pyrocomp.guides import mean_field_weights  # noqa: E402
from pyrocomp.infer import fit  # noqa: E402
from pyrocomp.nn import BernoulliLikelihood  # noqa: E402
from pyrocomp.priors import AutomaticRelevanceDetermination  # noqa: E402

#: (epochs of SVI, NUTS draws per chain, NUTS warm-up, NUTS tree depth), full and --quick
SIZES = {"logistic": ((300, 300, 300, 7), (60, 40, 40, 5)), "mlp": ((200, 250, 250, 6), (30, 30, 30, 4))}
#: pyrocomp compress options, full and --quick
COMPRESS = (["--pretrain-epochs", "10", "--epochs", "30"],
            ["--pretrain-epochs", "1", "--epochs", "2", "--finetune-epochs", "0"])
COMPARED = {"vd": "sparse VD", "group-nj": "group-NJ", "group-hs": "group-HS"}
EXAMPLES = 500
COLUMNS = [("part", "part", ""), ("method", "method", ""), ("model", "model", ""), ("dataset", "dataset", ""),
           ("vi_s", "VI s", ".1f"), ("nuts_s", "NUTS s", ".1f"), ("rhat_max", "R-hat max", ".3f"),
           ("ess_bulk_min", "ESS min", ".0f"), ("divergences", "divergent", ""),
           ("sd_ratio_median", "sd VI/NUTS (median)", ".2f"), ("rank_correlation", "rank corr.", ".2f"),
           ("vi_lppd", "VI lppd/ex", ".3f"), ("nuts_lppd", "NUTS lppd/ex", ".3f"),
           ("elpd_loo", "elpd LOO", ".1f"), ("p_loo", "p LOO", ".1f"), ("pareto_k_bad", "k > 0.7", ""),
           ("rank", "LOO rank", ""), ("lppd", "held-out lppd/ex", ".3f"), ("error", "error %", ".2f"),
           ("cr_prune", "CR_prune", ".1f"), ("fit_s", "fit s", ".1f"), ("inference_data_s", "to_inference_data s", ".1f"),
           ("inference_data_percent_of_fit", "% of fit", ".1f"), ("diagnose_s", "diagnose s", ".1f"),
           ("percent_of_fit", "% of fit", ".1f")]
VARIABLE_COLUMNS = [("variable", "variable", ""), ("feature", "input", ""), ("vi_mean", "VI mean", ".3f"),
                    ("vi_sd", "VI sd", ".3f"), ("reference_mean", "NUTS mean", ".3f"),
                    ("reference_sd", "NUTS sd", ".3f"), ("sd_ratio", "sd VI/NUTS", ".2f")]


def lppd(idata):
    """Held-out log pointwise predictive density per example: log of the mean likelihood over the draws."""
    ll = idata.log_likelihood["obs"].values
    ll = ll.reshape(-1, ll.shape[-1])
    return float(np.mean(np.logaddexp.reduce(ll, axis=0) - math.log(ll.shape[0])))


def vi_against_nuts(model, data, sizes, seed, variables, progress):
    """Fit ``model`` by SVI and sample it by NUTS; both as InferenceData on the test split, with the timings."""
    epochs, draws, warmup, depth = sizes
    guide = AutoCompressionGuide(model, posterior_family=mean_field_weights)
    start = time.perf_counter()
    fit(model, guide, data.train.tensors, epochs=epochs, batch_size=32, lr=1e-2, progress=progress, seed=seed)
    vi_s = time.perf_counter() - start
    vi = to_inference_data(model, guide, data.test.tensors, num_samples=1000, num_chains=2, seed=seed,
                           weights=[path for path, _ in model.bayesian_layers()])
    start = time.perf_counter()
    nuts = nuts_inference_data(model, data.train.tensors, num_samples=draws, warmup_steps=warmup, num_chains=2,
                               seed=seed, test=data.test.tensors, max_tree_depth=depth, target_accept_prob=0.9,
                               progress=progress)
    nuts_s = time.perf_counter() - start
    summary = az.summary(nuts, var_names=variables, kind="diagnostics")
    return vi, nuts, dict(vi_s=vi_s, nuts_s=nuts_s, rhat_max=float(summary["r_hat"].max()),
                          ess_bulk_min=float(summary["ess_bulk"].min()),
                          divergences=int(nuts.sample_stats["diverging"].values.sum()),
                          vi_lppd=lppd(vi), nuts_lppd=lppd(nuts))


def logistic(args, out, runs=None):
    from sklearn.datasets import load_breast_cancer

    features = list(load_breast_cancer().feature_names)
    data = load_dataset("breast-cancer", seed=args.seed)
    pyro.clear_param_store()
    torch.manual_seed(args.seed)
    model = BayesianNetwork(nn.Linear(data.input_shape[0], 1),
                            AutomaticRelevanceDetermination(a=1.0, b=1.0, group="in"),
                            likelihood=BernoulliLikelihood(), dataset_size=len(data.train))
    vi, nuts, row = vi_against_nuts(model, data, SIZES["logistic"][args.quick], args.seed,
                                    ["0.weight", "0.precision"], not args.quiet)
    variables = compare_posteriors(vi, nuts, var_names=["0.weight", "0.precision"])
    for r in variables:
        r["feature"] = features[int(r["variable"].rstrip("]").split(",")[-1])]
    write_rows(out, "diagnostics-logistic", variables, VARIABLE_COLUMNS)
    for site in ("weight", "precision"):
        plot_posteriors(vi, nuts, out / f"diagnostics-logistic_{site}.png", var_names=[f"0.{site}"])
    weights = [r for r in variables if r["variable"].startswith("0.weight")]
    precisions = [r for r in variables if r["variable"].startswith("0.precision")]
    row.update(part="logistic", method="ARD", model="logistic regression", dataset="breast-cancer",
               sd_ratio_median=float(np.median([r["sd_ratio"] for r in weights])),
               sd_ratio_precision_median=float(np.median([r["sd_ratio"] for r in precisions])),
               rank_correlation=float(spearmanr([r["vi_mean"] for r in precisions],
                                                [r["reference_mean"] for r in precisions]).statistic),
               mean_gap_max=max(abs(r["vi_mean"] - r["reference_mean"]) / r["reference_sd"] for r in weights))
    return [row]


def mlp(args, out, runs=None):
    data = load_dataset("digits", seed=args.seed)
    pyro.clear_param_store()
    torch.manual_seed(args.seed)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.Tanh(), nn.Linear(8, data.num_classes))
    model = BayesianNetwork(net, AutomaticRelevanceDetermination(a=1.0, b=1.0, group="in"),
                            dataset_size=len(data.train))
    vi, nuts, row = vi_against_nuts(model, data, SIZES["mlp"][args.quick], args.seed, ["1.norm_in"],
                                    not args.quiet)
    norms = compare_posteriors(vi, nuts, var_names=["1.norm_in"])
    plot_posteriors(vi, nuts, out / "diagnostics-mlp_norm_in.png", var_names=["1.norm_in"])
    row.update(part="mlp", method="ARD", model="MLP 64-8-10", dataset="digits",
               sd_ratio_median=float(np.median([r["sd_ratio"] for r in norms])),
               rank_correlation=float(spearmanr([r["vi_mean"] for r in norms],
                                                [r["reference_mean"] for r in norms]).statistic))
    return [row]


def compress_run(args, runs, model, prior):
    """A ``pyrocomp compress`` run directory (reused when it exists)."""
    run = runs / f"{model}-{prior}"
    if not (run / "report.json").is_file():
        pyrocomp(["compress", "--model", model, "--dataset", "mnist5k", "--prior", prior, "--seed", str(args.seed),
                  "--out", str(run), "--overwrite", *COMPRESS[args.quick], *(["--quiet"] if args.quiet else [])])
    return run


def compare(args, out, runs):
    fits, rows = {}, {}
    for prior, name in COMPARED.items():
        pyro.clear_param_store()
        loaded = load_run(compress_run(args, runs, "lenet300", prior), None)
        x, y = loaded["data"].test.tensors
        fits[name] = to_inference_data(loaded["model"], loaded["guide"], (x[:EXAMPLES], y[:EXAMPLES]),
                                       num_samples=100, num_chains=2, seed=args.seed)
        loo = az.loo(fits[name], pointwise=True)
        compressed = loaded["summary"]["compressed"]
        rows[name] = dict(part="compare", method=name, model="lenet300", dataset="mnist5k",
                          elpd_loo=float(loo.elpd_loo), p_loo=float(loo.p_loo),
                          pareto_k_bad=int((loo.pareto_k.values > 0.7).sum()), lppd=lppd(fits[name]),
                          error=100 * compressed["error"], cr_prune=compressed["cr_prune"])
    table = az.compare(fits)
    (out / "diagnostics-compare.md").write_text("`az.compare` (PSIS-LOO) of three priors on LeNet-300-100 / mnist5k, "
                                                f"first {EXAMPLES} test examples:\n\n" + "```\n" + table.to_string() + "\n```\n")
    for name, r in table.iterrows():
        rows[name]["rank"] = int(r["rank"])
    return list(rows.values())


def timing(args, out, runs):
    run = compress_run(args, runs, "lenet5-caffe", "group-nj")
    fit_s = json.loads((run / "report.json").read_text())["timing"]["fit_s"]
    pyro.clear_param_store()
    loaded = load_run(run, None)
    x, y = loaded["data"].test.tensors
    start = time.perf_counter()
    n = DIAGNOSE_EXAMPLES  # as many test examples as pyrocomp diagnose scores by default
    to_inference_data(loaded["model"], loaded["guide"], (x[:n], y[:n]), num_samples=100, num_chains=2)
    inference_data_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        pyrocomp(["diagnose", str(run), "--out", str(Path(tmp) / "diagnostics")])
        diagnose_s = time.perf_counter() - start
    return [dict(part="timing", method="group-NJ", model="lenet5-caffe", dataset="mnist5k", fit_s=fit_s,
                 inference_data_s=inference_data_s, diagnose_s=diagnose_s,
                 inference_data_percent_of_fit=100 * inference_data_s / fit_s,
                 percent_of_fit=100 * diagnose_s / fit_s)]


#: part -> function(args, out, runs) returning its rows
PARTS = {"logistic": logistic, "mlp": mlp, "compare": compare, "timing": timing}


def main(argv=None):
    p = parser(__doc__.splitlines()[1])
    p.add_argument("--parts", nargs="+", choices=list(PARTS), default=list(PARTS))
    p.add_argument("--runs", default=None, help="directory of the pyrocomp compress runs, reused when there "
                                                "(default: one under the system's temporary directory)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    setup(args)
    out = Path(args.out)
    runs = Path(args.runs) if args.runs else \
        Path(tempfile.gettempdir()) / f"pyrocomp-diagnostics-runs{'-quick' if args.quick else ''}-{args.seed}"
    rows = []
    for part in args.parts:
        rows += PARTS[part](args, out, runs)
    print_table(rows, COLUMNS)
    write_rows(out, "diagnostics", rows, COLUMNS)
    return rows


if __name__ == "__main__":
    main()
