"""Posterior diagnostics with ArviZ: a compression posterior as an ``InferenceData``, several fits as chains, and
which pruning decisions the fits agree on."""
from .inference_data import to_inference_data
from .stability import pruning_stability, stack_fits

__all__ = ["pruning_stability", "stack_fits", "to_inference_data"]
