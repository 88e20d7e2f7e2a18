from .evaluation import as_loader, classification_error
from .fit import fit, kl_warmup
from .train import train

__all__ = ["as_loader", "classification_error", "fit", "kl_warmup", "train"]
