from .auto_compression_guide import AutoCompressionGuide, init_to_pretrained
from .auto_conditional_guide import AutoConditionalGuide
from .contexts import CONTEXTS, ClassSubset, CompressionLevel, Context, InputDomain, Task, get_context, register_context
from .heads import FullHead, Heads, LowRankHead
from .guide_hook import GUIDE_HOOKS, GuideHook, register_guide_hook
from .quantiles import posterior_quantiles, register_quantile
from .posteriors import ClosedFormBernoulli, DirichletPosterior, TaylorNormal, taylor_posterior_family, ClosedFormGamma, ClosedFormPosterior, LogNormalPosterior, MeanFieldNormal, NonCenteredNormal, Posterior, PosteriorFamilies, mean_field_weights, posterior_family, register_posterior

__all__ = [
    "AutoCompressionGuide",
    "AutoConditionalGuide",
    "CONTEXTS",
    "ClassSubset",
    "CompressionLevel",
    "Context",
    "FullHead",
    "Heads",
    "InputDomain",
    "LowRankHead",
    "Task",
    "get_context",
    "register_context",
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
