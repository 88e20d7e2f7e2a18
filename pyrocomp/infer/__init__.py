from .conjugate_precision import ConjugatePrecision
from .evaluation import as_loader, classification_error
from .fit import fit, kl_warmup
from .fit_hook import FitHook
from .predict import predict
from .prior_defaults import default_elbo, fit_hooks, register_default_elbo, register_fit_hook
from .mixture_mean_field_elbo import MixtureMeanField_ELBO
from .sparse_vbi import SparseVBI, collapsed_support_evidence, module_a_elbo, precision_update, support_evidence
from .support_message_passing import SupportMessagePassing
from .taylor_mean_field_elbo import IMPROPER_PRIORS, ImproperPriorError, TaylorMeanField_ELBO
from .train import train
from .turbo_vbi import TurboSchedule, TurboVBI

__all__ = [
    "ConjugatePrecision",
    "FitHook",
    "IMPROPER_PRIORS",
    "ImproperPriorError",
    "MixtureMeanField_ELBO",
    "SparseVBI",
    "SupportMessagePassing",
    "TaylorMeanField_ELBO",
    "TurboSchedule",
    "TurboVBI",
    "as_loader",
    "classification_error",
    "collapsed_support_evidence",
    "default_elbo",
    "fit",
    "fit_hooks",
    "register_default_elbo",
    "register_fit_hook",
    "kl_warmup",
    "module_a_elbo",
    "precision_update",
    "predict",
    "support_evidence",
    "train",
]
