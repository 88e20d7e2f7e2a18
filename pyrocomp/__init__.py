"""pyrocomp: Bayesian compression of deep neural networks, written natively on Pyro and PyTorch."""
from pyrocomp import distributions, guides, infer, nn, priors  # noqa: F401  infer registers the guide hooks
from pyrocomp.guides import AutoCompressionGuide
from pyrocomp.nn import BayesianNetwork

__version__ = "0.1.0"

__all__ = ["AutoCompressionGuide", "BayesianNetwork", "__version__"]
