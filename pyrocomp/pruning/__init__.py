from .bits import bit_precision
from .calibration import Calibration, calibrate, choose_sparsest, monotone_errors
from .clusters import weight_clusters
from .compress import Compression, compress
from .criteria import (
    AllOf,
    GroupLogAlphaThreshold,
    LogAlphaThreshold,
    PriorPrecisionThreshold,
    PruningCriterion,
    ScaleLogAlphaThreshold,
    SupportThreshold,
)
from .default_criteria import default_criterion, register_criterion
from .export import LayerStructure, prune_
from .io import load_compressed, resize_to_state_dict_, save_compressed
from .mixing_weights import mixing_weights
from .pruning_monitor import PruningMonitor
from .reinitialize import reinitialize_
from .layer_posterior import LayerPosterior, summarize
from .report import CompressionReport, LayerReport

__all__ = [
    "AllOf",
    "Calibration",
    "Compression",
    "GroupLogAlphaThreshold",
    "CompressionReport",
    "LayerPosterior",
    "LayerReport",
    "LayerStructure",
    "LogAlphaThreshold",
    "PriorPrecisionThreshold",
    "PruningCriterion",
    "PruningMonitor",
    "ScaleLogAlphaThreshold",
    "SupportThreshold",
    "bit_precision",
    "calibrate",
    "choose_sparsest",
    "monotone_errors",
    "compress",
    "default_criterion",
    "register_criterion",
    "load_compressed",
    "mixing_weights",
    "resize_to_state_dict_",
    "save_compressed",
    "prune_",
    "reinitialize_",
    "summarize",
    "weight_clusters",
]
