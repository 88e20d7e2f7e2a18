"""Posterior diagnostics with ArviZ: a compression posterior as an ``InferenceData``, several fits as chains, which
pruning decisions the fits agree on, and the variational posterior against NUTS."""
from .inference_data import to_inference_data
from .mcmc import compare_posteriors, nuts_inference_data, plot_posteriors
from .stability import pruning_stability, stack_fits

__all__ = ["compare_posteriors", "nuts_inference_data", "plot_posteriors", "pruning_stability", "stack_fits",
           "to_inference_data"]
