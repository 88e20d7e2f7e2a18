from .auto_compression_guide import AutoCompressionGuide, init_to_pretrained
from .guide_hook import GUIDE_HOOKS, GuideHook, register_guide_hook
from .quantiles import posterior_quantiles, register_quantile
from .posteriors import ClosedFormBernoulli, DirichletPosterior, TaylorNormal, taylor_posterior_family, ClosedFormGamma, ClosedFormPosterior, LogNormalPosterior, MeanFieldNormal, NonCenteredNormal, Posterior, PosteriorFamilies, mean_field_weights, posterior_family, register_posterior

__all__ = [
    "AutoCompressionGuide",
    "ClosedFormBernoulli",
    "GUIDE_HOOKS",
    "GuideHook",
    "ClosedFormGamma",
    "ClosedFormPosterior",
    "DirichletPosterior",
    "LogNormalPosterior",
    "MeanFieldNormal",
    "NonCenteredNormal",
    "Posterior",
    "PosteriorFamilies",
    "init_to_pretrained",
    "mean_field_weights",
    "posterior_family",
    "posterior_quantiles",
    "register_quantile",
    "register_guide_hook",
    "register_posterior",
    "TaylorNormal",
    "taylor_posterior_family",
]
