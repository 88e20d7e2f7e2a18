from .auto_compression_guide import AutoCompressionGuide, init_to_pretrained
from .posteriors import LogNormalPosterior, MeanFieldNormal, NonCenteredNormal, Posterior, posterior_family, register_posterior

__all__ = [
    "AutoCompressionGuide",
    "LogNormalPosterior",
    "MeanFieldNormal",
    "NonCenteredNormal",
    "Posterior",
    "init_to_pretrained",
    "posterior_family",
    "register_posterior",
]
