from .bits import bit_precision
from .compress import Compression, compress
from .criteria import AllOf, GroupLogAlphaThreshold, LogAlphaThreshold, PruningCriterion, ScaleLogAlphaThreshold
from .export import LayerStructure, prune_
from .layer_posterior import LayerPosterior, summarize
from .report import CompressionReport, LayerReport

__all__ = [
    "AllOf",
    "Compression",
    "GroupLogAlphaThreshold",
    "CompressionReport",
    "LayerPosterior",
    "LayerReport",
    "LayerStructure",
    "LogAlphaThreshold",
    "PruningCriterion",
    "ScaleLogAlphaThreshold",
    "bit_precision",
    "compress",
    "prune_",
    "summarize",
]
