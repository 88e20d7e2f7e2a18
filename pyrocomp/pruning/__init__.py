from .bits import bit_precision, exponent_bits, significand_bits
from .calibration import Calibration, calibrate, choose_sparsest, monotone_errors
from .clusters import weight_clusters
from .compress import Compression, compress, compress_masked
from .conditional import ContextCompression, compress_contexts, context_error
from .criteria import (
    AllOf,
    GroupLogAlphaThreshold,
    LogAlphaThreshold,
    PriorPrecisionThreshold,
    PruningCriterion,
    ScaleLogAlphaThreshold,
    ScaleSitesLogAlphaThreshold,
    SupportThreshold,
    group_log_alpha,
    kept_units,
)
from .default_criteria import default_criterion, register_criterion
from .export import LayerStructure, prune_, select_outputs_
from .kernels import CroppedConv2d, apply_conv_geometry_, conv_geometry, crop_window, shrink_kernel, shrink_kernels_
from .frontier import area_between_fronts, best_compression, dominates, pareto_front, sweep_thresholds
from .formats import EXPORT_FORMATS, ExportFormat, exponent_bits_of, export_format, export_network, register_format
from .sparse_execution import SparseLinear, choose_execution_, measure
from .io import (load_compressed, load_hypernetwork, load_posterior, resize_to_state_dict_, save_atomic,
                 save_compressed, save_hypernetwork, save_posterior)
from .quantize import (QuantizedLayer, decode_positions, encode_positions, limit_exponents, load_quantized,
                       pack_bits, quantize, save_quantized, unpack_bits)
from .mixing_weights import mixing_weights
from .pruning_monitor import PruningMonitor
from .reinitialize import reinitialize_
from .layer_posterior import LayerPosterior, summarize
from .report import CompressionReport, LayerReport

__all__ = [
    "compress_masked",
    "area_between_fronts",
    "best_compression",
    "dominates",
    "pareto_front",
    "sweep_thresholds",
    "kept_units",
    "group_log_alpha",
    "load_posterior",
    "save_posterior",
    "SparseLinear",
    "choose_execution_",
    "measure",
    "EXPORT_FORMATS",
    "ExportFormat",
    "export_format",
    "export_network",
    "register_format",
    "QuantizedLayer",
    "limit_exponents",
    "exponent_bits_of",
    "decode_positions",
    "encode_positions",
    "exponent_bits",
    "load_quantized",
    "pack_bits",
    "quantize",
    "save_quantized",
    "significand_bits",
    "unpack_bits",
    "CroppedConv2d",
    "apply_conv_geometry_",
    "conv_geometry",
    "crop_window",
    "shrink_kernel",
    "shrink_kernels_",
    "ScaleSitesLogAlphaThreshold",
    "load_hypernetwork",
    "save_atomic",
    "save_hypernetwork",
    "ContextCompression",
    "compress_contexts",
    "context_error",
    "select_outputs_",
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
