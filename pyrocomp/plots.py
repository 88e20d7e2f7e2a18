"""Pictures of a compression run: kept-weight patterns (paper 001 Figs. 1 and 8) and training curves."""
import math

import torch

from pyrocomp.pruning import kept_units
from pyrocomp.util import require

require("matplotlib", "plots").use("Agg")
plt = require("matplotlib.pyplot", "plots")


def mask_image(mask):
    """
    A 2-D picture of a weight mask: a Linear mask as its ``out × in`` matrix; a Conv2d mask
    ``(out, in, kh, kw)`` as a grid of kernels, ``out`` rows by ``in`` columns, one pixel per tap
    with a one-pixel gap between kernels.
    """
    mask = mask.detach().float().cpu()
    if mask.dim() == 2:
        return mask
    out, inp, kh, kw = mask.shape
    view = torch.full((out, kh + 1, inp, kw + 1), 0.5)
    view[:, :kh, :, :kw] = mask.permute(0, 2, 1, 3)
    return view.reshape(out * (kh + 1), inp * (kw + 1))[:-1, :-1]


def plot_masks(masks, path, title=None):
    """One panel per layer: kept weights dark, pruned light. Writes a PNG to ``path``."""
    n = len(masks)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 4 * rows), squeeze=False)
    for ax, (name, mask) in zip(axes.flat, masks.items()):
        ax.imshow(mask_image(mask).numpy(), cmap="Greys", vmin=0, vmax=1, interpolation="nearest", aspect="auto")
        kept = float(mask.float().mean())
        ax.set_title(f"{name} {tuple(mask.shape)}: {100 * kept:.1f}% kept", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_history(history, path):
    """
    The negative ELBO and its two terms (data term and weighed KL, when the history has them), the test error
    of the pruned network and the kept weights per epoch. Writes a PNG to ``path``.
    """
    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.5))
    curves = {"negative ELBO": [h["loss"] for h in history]}
    if all(h.get("kl") is not None and "nll" in h for h in history):
        curves["data term -E ln p(D|w)"] = [h["nll"] for h in history]
        curves["KL weight x KL"] = [h["kl_scale"] * h["kl"] for h in history]
    for label, values in curves.items():
        axes[0].plot(epochs, values, label=label)
    positive = all(v > 0 for values in curves.values() for v in values)
    axes[0].set(title="loss (mean over the epoch's steps)", xlabel="epoch", yscale="log" if positive else "symlog")
    if len(curves) > 1:
        axes[0].legend(fontsize=7)
    errors = [h["error"] for h in history]
    if any(e is not None for e in errors):
        axes[1].plot(epochs, [100 * e for e in errors])
    axes[1].set(title="error of the pruned network (%)", xlabel="epoch")
    kept = [100 * h["kept_fraction"] for h in history]
    axes[2].plot(epochs, kept)
    axes[2].set(title="kept weights (%)", xlabel="epoch", yscale="log" if min(kept) > 0 else "linear")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_message_change(records, path):
    r"""
    Convergence of Turbo-VBI (paper 001 Fig. 10): the mean and largest change of the support
    prior :math:`\pi = v_{h \to s}` per outer iteration, from the
    :class:`~pyrocomp.infer.TurboVBI` records. Writes a PNG to ``path``.
    """
    steps = [r["outer_iteration"] for r in records]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(steps, [r["change"] for r in records], marker="o", label="mean |Δπ|")
    ax.plot(steps, [r["change_max"] for r in records], marker=".", label="max |Δπ|")
    ax.set(xlabel="outer iteration", ylabel="change of v_h→s", yscale="log", title="Turbo-VBI message change")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_context_units(results, path, title=None):
    """
    Which input units of each layer every context's compressed network keeps (one row per context, one panel per
    layer; kept dark), from :func:`~pyrocomp.pruning.compress_contexts`'s results. Writes a PNG to ``path``.
    """
    layers = list(results[0].compression.masks)
    fig, axes = plt.subplots(1, len(layers), figsize=(4 * len(layers), 0.35 * len(results) + 1.5), squeeze=False)
    for ax, layer in zip(axes.flat, layers):
        kept = torch.stack([kept_units(r.compression.masks[layer], "in").cpu() for r in results]).float()
        ax.imshow(kept.numpy(), cmap="Greys", vmin=0, vmax=1, interpolation="nearest", aspect="auto")
        ax.set_title(f"{layer}: inputs kept", fontsize=9)
        ax.set_yticks(range(len(results)))
        ax.set_yticklabels([r.label for r in results] if ax is axes.flat[0] else [], fontsize=7)
        ax.set_xticks([])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def reliability(probs, targets, bins=10):
    """
    A reliability diagram's numbers: per confidence bin, the mean confidence, the accuracy and the examples in it,
    and the expected calibration error :math:`\\mathrm{ECE} = \\sum_b \\frac{n_b}{n} |\\mathrm{acc}_b -
    \\mathrm{conf}_b|`.

    :returns: ``(confidence, accuracy, counts, ece)`` (NaN for empty bins).
    """
    confidence, predicted = probs.max(-1)
    correct = (predicted == targets).double()
    index = (confidence.double() * bins).long().clamp(max=bins - 1)
    counts = torch.bincount(index, minlength=bins).double()
    mean_conf = torch.bincount(index, confidence.double(), minlength=bins) / counts
    accuracy = torch.bincount(index, correct, minlength=bins) / counts
    filled = counts > 0
    ece = float((counts[filled] / len(targets) * (accuracy[filled] - mean_conf[filled]).abs()).sum())
    return mean_conf, accuracy, counts, ece


def plot_reliability(curves, targets, path, bins=10):
    """
    Reliability diagrams (accuracy against confidence) of several networks' class probabilities on the same
    examples, ``curves = {label: probs}``, with each one's expected calibration error. Writes a PNG to ``path``.
    """
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="calibrated")
    for label, probs in curves.items():
        conf, acc, _, ece = reliability(probs, targets, bins)
        ax.plot(conf.numpy(), acc.numpy(), marker="o", label=f"{label} (ECE {100 * ece:.1f} %)")
    ax.set(xlabel="confidence", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1), title="reliability")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_group_log_alpha(rates, path, threshold=None):
    """
    Each layer's group log dropout rates, input units sorted (``{layer: rates}``), with the pruning threshold when
    given: the units above it are the ones the group criterion removes. Writes a PNG to ``path``.
    """
    fig, axes = plt.subplots(1, len(rates), figsize=(4 * len(rates), 3.2), squeeze=False)
    for ax, (layer, values) in zip(axes.flat, rates.items()):
        ax.plot(sorted(float(v) for v in values), marker=".", lw=0.8)
        if threshold is not None:
            ax.axhline(threshold, color="C3", lw=1, ls="--", label=f"threshold {threshold:g}")
            ax.legend(fontsize=7)
        ax.set(title=f"{layer}: group log α of input units", xlabel="input unit (sorted)", ylabel="log α")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_mixing_weights(weights, path):
    """The posterior mixing weights of each mixture layer (``{layer: {component: weight}}``), as bars."""
    fig, ax = plt.subplots(figsize=(1.5 + 1.2 * len(weights), 3.2))
    components = list(next(iter(weights.values())))
    width = 0.8 / len(components)
    for k, name in enumerate(components):
        ax.bar([i + k * width for i in range(len(weights))], [w[name] for w in weights.values()], width, label=name)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(weights))])
    ax.set_xticklabels(list(weights))
    ax.set(ylabel="posterior mean weight", ylim=(0, 1), title="mixing weights per layer (000)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_stability(rows, path):
    """
    How many units of each layer every run prunes, some runs prune and no run prunes, from
    :func:`~pyrocomp.diagnostics.pruning_stability`'s rows, as stacked bars per layer and side. Writes a PNG.
    """
    labels = [f"{r['layer']} {r['side']}" for r in rows]
    fig, ax = plt.subplots(figsize=(1.5 + 0.8 * len(rows), 3.5))
    bottom = [0] * len(rows)
    for key, color in (("all", "C3"), ("some", "C1"), ("none", "C0")):
        values = [r[key] / r["units"] for r in rows]
        ax.bar(labels, values, bottom=bottom, color=color, label=f"pruned by {key}")
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set(ylabel="fraction of units", title="pruning decisions across runs")
    ax.tick_params(axis="x", labelrotation=45, labelsize=8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
