from .checkpoint import Checkpoint
from .conjugate_precision import ConjugatePrecision
from .data_term_messenger import DataTermMessenger
from .evaluation import as_loader, classification_error, fgsm_errors
from .fit import check_guide, fit, kl_warmup
from .fit_conditional import TaskLoader, fit_conditional
from .fit_hook import FitHook
from .parallelism import DataParallel, Parallelism, SingleProcess, init_distributed
from .predict import predict
from .prior_defaults import default_elbo, fit_hooks, register_default_elbo, register_fit_hook
from .mixture_mean_field_elbo import MixtureMeanField_ELBO
from .second_moment import SECOND_MOMENTS, ExactSecondMoment, FirstOrderSecondMoment, SecondMoment
from .sparse_vbi import SparseVBI
from .support_update import (SUPPORT_UPDATES, CollapsedSupportUpdate, FactorizedSupportUpdate, SupportUpdate,
                             collapsed_support_evidence, precision_update, support_evidence)
from .support_message_passing import SupportMessagePassing
from .taylor_mean_field_elbo import IMPROPER_PRIORS, ImproperPriorError, TaylorMeanField_ELBO
from .train import train
from .turbo_vbi import TurboSchedule, TurboVBI

__all__ = [
    "Checkpoint",
    "check_guide",
    "TaskLoader",
    "fit_conditional",
    "CollapsedSupportUpdate",
    "ConjugatePrecision",
    "DataParallel",
    "DataTermMessenger",
    "ExactSecondMoment",
    "FactorizedSupportUpdate",
    "FirstOrderSecondMoment",
    "FitHook",
    "IMPROPER_PRIORS",
    "ImproperPriorError",
    "MixtureMeanField_ELBO",
    "Parallelism",
    "SECOND_MOMENTS",
    "SUPPORT_UPDATES",
    "SecondMoment",
    "SingleProcess",
    "SparseVBI",
    "SupportUpdate",
    "SupportMessagePassing",
    "TaylorMeanField_ELBO",
    "TurboSchedule",
    "TurboVBI",
    "as_loader",
    "classification_error",
    "collapsed_support_evidence",
    "default_elbo",
    "fit",
    "fgsm_errors",
    "fit_hooks",
    "init_distributed",
    "register_default_elbo",
    "register_fit_hook",
    "kl_warmup",
    "precision_update",
    "predict",
    "support_evidence",
    "train",
]
