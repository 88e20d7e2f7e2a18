from .bayesian_layer import (BAYESIAN_LAYERS, GROUPS, UNIT_DIMS, BayesianConv2d, BayesianLayer, BayesianLinear,
                             ParticleFold, check_group, register_layer)
from .bayesian_network import BayesianNetwork
from .likelihoods import BernoulliLikelihood, CategoricalLikelihood, GaussianLikelihood, Likelihood

__all__ = [
    "BAYESIAN_LAYERS",
    "BayesianConv2d",
    "BayesianLayer",
    "BayesianLinear",
    "BayesianNetwork",
    "GROUPS",
    "UNIT_DIMS",
    "BernoulliLikelihood",
    "CategoricalLikelihood",
    "GaussianLikelihood",
    "Likelihood",
    "ParticleFold",
    "check_group",
    "register_layer",
]
