from .belief_propagation import BeliefPropagationResult, PairwisePotentials, loopy_belief_propagation
from .layout import from_grid, grid_shape, to_grid
from .support_canvas import SupportCanvas
from .support_priors import (
    SUPPORT_PRIORS,
    BernoulliSupport,
    IsingSupport,
    MarkovChainSupport,
    SupportPrior,
    get_support,
    register_support,
)

__all__ = [
    "BeliefPropagationResult",
    "BernoulliSupport",
    "IsingSupport",
    "MarkovChainSupport",
    "PairwisePotentials",
    "SUPPORT_PRIORS",
    "SupportCanvas",
    "SupportPrior",
    "from_grid",
    "get_support",
    "grid_shape",
    "loopy_belief_propagation",
    "register_support",
    "to_grid",
]
