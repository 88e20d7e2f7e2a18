from .ard import AutomaticRelevanceDetermination
from .group_horseshoe import GroupHorseshoe
from .group_normal_jeffreys import GroupNormalJeffreys
from .io_normal_jeffreys import InputOutputNormalJeffreys
from .laplace import LaplacePrior
from .log_uniform import LogUniformPrior
from .mixture import (AUXILIARY_COMPONENTS, COMPONENTS, AuxiliaryMixturePrior, BlockCoupling, MixturePrior,
                      PerComponentMixturePrior, register_component)
from .turbo import TurboPrior
from .prior import PRIORS, Prior, get_prior, register_prior

__all__ = [
    "AUXILIARY_COMPONENTS",
    "COMPONENTS",
    "AuxiliaryMixturePrior",
    "BlockCoupling",
    "MixturePrior",
    "PerComponentMixturePrior",
    "register_component",
    "AutomaticRelevanceDetermination",
    "GroupHorseshoe",
    "GroupNormalJeffreys",
    "InputOutputNormalJeffreys",
    "LaplacePrior",
    "LogUniformPrior",
    "PRIORS",
    "Prior",
    "TurboPrior",
    "get_prior",
    "register_prior",
]
