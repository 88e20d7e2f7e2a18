from dataclasses import asdict, dataclass, field
from typing import List, Optional, Tuple


@dataclass
class LayerReport:
    """
    One layer of a :class:`CompressionReport`; ``macs`` are multiply-accumulates per example, ``width`` is
    the ``(dense, kept)`` width of the layer in the architecture string (Bayesian Compression's convention:
    output channels of a convolution, input features of a linear layer), ``kernel`` a convolution's kernel size
    before and after cropping (:func:`~pyrocomp.pruning.shrink_kernels_`), ``significand`` the significand bits of
    the posterior's precision (:func:`~pyrocomp.pruning.significand_bits`; ``None`` for a layer without a prior).
    """

    name: str
    kind: str
    weights: int
    weights_kept: int
    in_units: int
    in_kept: int
    out_units: int
    out_kept: int
    bits: int
    macs: int
    macs_kept: int
    width: Tuple[int, int]
    clusters: List[tuple] = field(default_factory=list)
    kernel: Optional[Tuple[Tuple[int, int], Tuple[int, int]]] = None
    significand: Optional[int] = None


@dataclass
class CompressionReport:
    r"""
    Sizes and compression rates of a pruned network:
    :math:`\mathrm{CR}_{prune} = |w| / |w \ne 0|`,
    :math:`\mathrm{CR}_{bits} = 32 |w| / \sum_l b_l |w_l \ne 0|`.
    """

    layers: List[LayerReport] = field(default_factory=list)
    error: Optional[float] = None
    error_before_finetune: Optional[float] = None

    @property
    def weights(self):
        return sum(layer.weights for layer in self.layers)

    @property
    def weights_kept(self):
        return sum(layer.weights_kept for layer in self.layers)

    @property
    def wr_percent(self):
        return 100.0 * self.weights_kept / self.weights

    @property
    def cr_prune(self):
        return self.weights / max(self.weights_kept, 1)

    @property
    def cr_bits(self):
        bits = sum(layer.bits * layer.weights_kept for layer in self.layers)
        return 32.0 * self.weights / max(bits, 1)

    @property
    def macs(self):
        return sum(layer.macs for layer in self.layers)

    @property
    def macs_kept(self):
        return sum(layer.macs_kept for layer in self.layers)

    @property
    def flops_reduction_percent(self):
        return 100.0 * (1 - self.macs_kept / self.macs)

    @property
    def clusters(self):
        """Number of clusters of kept weights of at least 3×3 (:func:`~pyrocomp.pruning.weight_clusters`)."""
        return sum(len(layer.clusters) for layer in self.layers)

    @property
    def architecture_dense(self):
        return "-".join(str(layer.width[0]) for layer in self.layers)

    @property
    def architecture(self):
        return "-".join(str(layer.width[1]) for layer in self.layers)

    def to_dict(self):
        """The report as plain JSON-ready data."""
        return {
            "error": self.error,
            "error_before_finetune": self.error_before_finetune,
            "params": self.weights,
            "params_nonzero": self.weights_kept,
            "wr_percent": self.wr_percent,
            "cr_prune": self.cr_prune,
            "cr_bits": self.cr_bits,
            "flops_dense": self.macs,
            "flops": self.macs_kept,
            "flops_reduction_percent": self.flops_reduction_percent,
            "architecture_dense": self.architecture_dense,
            "architecture": self.architecture,
            "bits_per_layer": [layer.bits for layer in self.layers],
            "clusters": self.clusters,
            "weights_in_clusters": sum(kept for layer in self.layers for _, _, kept in layer.clusters),
            "layers": [asdict(layer) for layer in self.layers],
        }

    def to_markdown(self):
        """Per-layer and total table in Markdown."""
        rows = [
            "| layer | kind | kept / total weights | in kept | out kept | kernel | bits | MACs kept / dense |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in self.layers:
            kernel = "" if r.kernel is None else "{}x{} -> {}x{}".format(*r.kernel[0], *r.kernel[1])
            rows.append(
                f"| {r.name} | {r.kind} | {r.weights_kept:,} / {r.weights:,} | {r.in_kept}/{r.in_units} "
                f"| {r.out_kept}/{r.out_units} | {kernel} | {r.bits} | {r.macs_kept:,} / {r.macs:,} |"
            )
        error = "n/a" if self.error is None else f"{100 * self.error:.2f} %"
        rows += [
            "",
            f"architecture {self.architecture_dense} -> {self.architecture}; error {error}; "
            f"|w!=0|/|w| {self.wr_percent:.2f} %; CR_prune {self.cr_prune:.1f}; CR_bits {self.cr_bits:.1f}; "
            f"FLOPs reduction {self.flops_reduction_percent:.1f} %; {self.clusters} clusters of at least 3x3",
        ]
        return "\n".join(rows)
