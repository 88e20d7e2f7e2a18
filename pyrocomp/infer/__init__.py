from .evaluation import as_loader, classification_error
from .fit import fit, kl_warmup
from .taylor_mean_field_elbo import IMPROPER_PRIORS, ImproperPriorError, TaylorMeanField_ELBO
from .train import train

__all__ = ["IMPROPER_PRIORS", "ImproperPriorError", "TaylorMeanField_ELBO", "as_loader", "classification_error", "fit", "kl_warmup", "train"]
