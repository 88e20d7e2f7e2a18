"""
The non-Bayesian pruning methods every compression paper compares with, under pyrocomp's accounting: each gives
masks that :func:`~pyrocomp.pruning.compress_masked` turns into a physically pruned network and a report.
"""
from .l0 import HardConcreteGate, add_l0_gates_, l0_pruning
from .magnitude import iterative_magnitude_pruning, magnitude_masks, prunable_weights
from .snip import snip_masks, snip_pruning

__all__ = ["HardConcreteGate", "add_l0_gates_", "iterative_magnitude_pruning", "l0_pruning", "magnitude_masks", "prunable_weights", "snip_masks", "snip_pruning"]
