from .bayesian_layer import BAYESIAN_LAYERS, BayesianConv2d, BayesianLayer, BayesianLinear, register_layer
from .bayesian_network import BayesianNetwork
from .likelihoods import CategoricalLikelihood, GaussianLikelihood, Likelihood

__all__ = [
    "BAYESIAN_LAYERS",
    "BayesianConv2d",
    "BayesianLayer",
    "BayesianLinear",
    "BayesianNetwork",
    "CategoricalLikelihood",
    "GaussianLikelihood",
    "Likelihood",
    "register_layer",
]
