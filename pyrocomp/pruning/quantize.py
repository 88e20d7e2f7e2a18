r"""
Posterior-precision quantisation (Bayesian Compression §5, paper 003 §4.3): each layer's kept weights are stored in
a float format of its own, with the significand bits :math:`t` its posterior asks for
(:func:`~pyrocomp.pruning.significand_bits`) and the exponent bits :math:`e` that span its weights' binary
exponents, so :math:`1 + t + e` bits per kept weight — the :func:`~pyrocomp.pruning.bit_precision` that
:math:`\mathrm{CR}_{bits}` counts.

A weight :math:`w = \pm (1 + f) 2^E` is rounded to the nearest :math:`\pm (1 + q 2^{-t}) 2^E`, an error of at most
:math:`2^{E - t - 1} \le |w| 2^{-t-1}`, half a posterior standard deviation when :math:`2^t \ge |\mu| / \sigma`.

The file is a `safetensors <https://huggingface.co/docs/safetensors>`_ file holding one byte tensor: per layer,
the weights' codes (sign, exponent, significand) packed bit by bit, the positions of the kept weights inside the
physically pruned tensor (none when all are kept, a bitmask, or fixed-width gaps with skip codes — whichever is
smaller, as Deep Compression stores its sparse layers), and every other tensor (biases, BatchNorm) in float32;
where each lies, in its JSON metadata.
"""
import base64
import json
import math
import zlib
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from pyrocomp.util import write_atomic

from .io import apply_conv_geometry_, resize_to_state_dict_
from .kernels import conv_geometry

FORMAT = "pyrocomp.quantized/1"


@dataclass
class QuantizedLayer:
    """Sizes of one quantised layer in the file: bits per weight, how its positions are stored, bytes in all."""

    name: str
    weights_kept: int
    significand: int
    exponent: int
    positions: str
    value_bytes: int
    position_bytes: int

    @property
    def bits(self):
        return 1 + self.significand + self.exponent


def quantize(weights, significand):
    """
    Round ``weights`` to ``significand`` significand bits (zeros stay zero).

    :param torch.Tensor weights: a layer's weights.
    :param int significand: the significand bits :math:`t \\ge 0`.
    :returns: the rounded weights, same shape and dtype.
    """
    _check_significand(significand)
    w = weights.detach().double()
    exponent = torch.floor(torch.log2(w.abs().clamp_min(torch.finfo(torch.float64).tiny)))
    step = torch.exp2(exponent - significand)
    return (torch.round(w / step) * step).to(weights.dtype).where(w != 0, torch.zeros_like(weights))


def limit_exponents(weights, exponent):
    r"""
    Keep ``weights`` within the :math:`2^e` binary exponents below their largest (``exponent`` :math:`= e` bits):
    a magnitude under :math:`2^{E_{low}}` becomes :math:`2^{E_{low}}` or 0, whichever is nearer.

    :param int exponent: exponent bits :math:`e \ge 0`.
    """
    if isinstance(exponent, bool) or not isinstance(exponent, int) or not 0 <= exponent <= 11:
        raise ValueError(f"Expected exponent bits to be an int in 0..11 but got {exponent!r}")
    w = weights.detach().double()
    magnitude = w.abs()
    if not bool((magnitude > 0).any()):
        return weights.detach().clone()
    low = math.floor(math.log2(float(magnitude.max()))) - (2 ** exponent - 1)
    floor = 2.0 ** low
    raised = torch.where(magnitude >= floor / 2, torch.full_like(w, floor), torch.zeros_like(w)) * w.sign()
    return torch.where(magnitude < floor, raised, w).to(weights.dtype)


def _check_significand(significand):
    if isinstance(significand, bool) or not isinstance(significand, int) or not 0 <= significand <= 52:
        raise ValueError(f"Expected significand bits to be an int in 0..52 but got {significand!r}")


def _codes(values, significand):
    """Sign, exponent and significand of nonzero values already rounded to ``significand`` bits, as int codes."""
    v = values.double()
    exponent = torch.floor(torch.log2(v.abs())).long()
    low, high = int(exponent.min()), int(exponent.max())
    width = math.ceil(math.log2(high - low + 1))
    fraction = torch.round((v.abs() / torch.exp2(exponent.double()) - 1) * 2 ** significand).long()
    code = ((v < 0).long() << (significand + width)) | ((exponent - low) << significand) | fraction
    return code.numpy().astype(np.uint64), width, low


def _values(code, significand, width, low):
    code = torch.from_numpy(code.astype(np.int64))
    sign = 1 - 2 * ((code >> (significand + width)) & 1).double()
    exponent = ((code >> significand) & ((1 << width) - 1)) + low
    fraction = (code & ((1 << significand) - 1)).double()
    return sign * (1 + fraction / 2 ** significand) * torch.exp2(exponent.double())


def pack_bits(codes, width):
    """Pack unsigned int ``codes`` of ``width`` bits each, most significant bit first, into bytes (uint8 array)."""
    codes = np.asarray(codes, dtype=np.uint64)
    if width == 0 or codes.size == 0:
        return np.zeros(0, dtype=np.uint8)
    shifts = np.arange(width - 1, -1, -1, dtype=np.uint64)
    bits = ((codes[:, None] >> shifts) & np.uint64(1)).astype(np.uint8)
    return np.packbits(bits.reshape(-1))


def unpack_bits(data, width, count):
    """The inverse of :func:`pack_bits`: ``count`` codes of ``width`` bits."""
    if width == 0:
        return np.zeros(count, dtype=np.uint64)
    bits = np.unpackbits(np.asarray(data, dtype=np.uint8))[: count * width]
    if bits.size != count * width:
        raise ValueError(f"Expected {count} codes of {width} bits but the data hold {bits.size} bits")
    weights = np.uint64(1) << np.arange(width - 1, -1, -1, dtype=np.uint64)
    return (bits.reshape(count, width).astype(np.uint64) * weights).sum(1, dtype=np.uint64)


def _gap_codes(index, width):
    """Positions as gaps of ``width`` bits; the largest code skips that many positions without a weight."""
    skip = (1 << width) - 1
    gaps = np.diff(np.concatenate([[-1], index])) - 1  # positions passed over before each kept weight
    skips = gaps // skip
    codes = np.full(int(skips.sum()) + len(index), skip, dtype=np.uint64)
    codes[np.cumsum(skips + 1) - 1] = gaps - skips * skip
    return codes


def encode_positions(kept):
    """
    The cheapest encoding of the positions of ``kept`` (a flat bool array), as ``(kind, bytes, width, codes)``:
    ``"all"`` when all are kept, ``"mask"`` a bitmask, ``"gaps"`` ``codes`` gap codes of ``width`` bits.
    """
    kept = np.asarray(kept, dtype=bool)
    if kept.all():
        return "all", np.zeros(0, dtype=np.uint8), 0, 0
    index = np.flatnonzero(kept)
    gaps = np.diff(np.concatenate([[-1], index])) - 1
    best = (kept.size, 1, 0)  # a bitmask: one bit per position
    for width in range(1, 17):
        count = len(index) + int((gaps // ((1 << width) - 1)).sum())
        if count * width < best[0]:
            best = (count * width, width, count)
    _, width, count = best
    if count == 0:
        return "mask", np.packbits(kept), 1, kept.size
    return "gaps", pack_bits(_gap_codes(index, width), width), width, count


def decode_positions(kind, data, width, size, count):
    """The flat bool array of ``size`` positions that :func:`encode_positions` encoded."""
    if kind == "all":
        return np.ones(size, dtype=bool)
    if kind == "mask":
        return np.unpackbits(np.asarray(data, dtype=np.uint8), count=size).astype(bool)
    codes = unpack_bits(data, width, count)
    skip = (1 << width) - 1
    advance = np.where(codes == skip, skip, codes + 1)
    kept = np.zeros(size, dtype=bool)
    kept[(np.cumsum(advance) - 1)[codes != skip]] = True
    return kept


def save_quantized(path, network, significand, exponent=None, **metadata):
    """
    Quantise the ``Linear`` and ``Conv2d`` weights of a physically pruned ``network`` with the significand bits
    ``{layer path: t}`` (layers not named stay float32) and save it, packed, to ``path`` atomically.

    :param dict exponent: ``{layer path: e}``: at most ``e`` exponent bits in that layer, the smallest magnitudes
        raised or flushed to zero (:func:`limit_exponents`); the posterior's, when the stored weights were
        fine-tuned after pruning and span more binary exponents than the posterior means did. ``None``: as many
        as the weights span.
    :param dict metadata: plain JSON-ready values stored in the file.
    :returns: one :class:`QuantizedLayer` per quantised layer.
    :raises ValueError: a significand out of 0..52 or a path that is not a layer of ``network``.
    """
    from safetensors.numpy import save

    modules = dict(network.named_modules())
    for name, t in significand.items():
        if not isinstance(modules.get(name), (nn.Linear, nn.Conv2d)):
            raise ValueError(f"Expected {name!r} to be a Linear or Conv2d layer of the network")
        _check_significand(t)
    parts, layout, layers = [], {}, []

    def add(array):  # the array's bytes appended to the file's one byte blob: (offset, length)
        data = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
        parts.append(data)
        return [sum(p.nbytes for p in parts[:-1]), data.nbytes]

    for key, value in network.state_dict().items():
        layer = key.rpartition(".")[0]
        if key.endswith("weight") and layer in significand:
            entry, packed = _pack_layer(value, significand[layer], (exponent or {}).get(layer))
            entry.update(values=add(packed["values"]), positions_data=add(packed["positions"]),
                         units=add(packed["units"]))
            layers.append(QuantizedLayer(layer, entry["count"], entry["significand"], entry["exponent"],
                                         entry["positions"], packed["values"].nbytes,
                                         packed["positions"].nbytes + packed["units"].nbytes))
        else:
            array = value.detach().cpu()
            array = (array.float() if array.is_floating_point() else array).numpy()
            entry = {"shape": list(array.shape), "dtype": str(array.dtype), "data": add(array)}
        layout[key] = entry
    header = {"format": FORMAT, "layout": layout, "metadata": metadata,
              "convolutions": {p: conv_geometry(m) for p, m in modules.items() if isinstance(m, nn.Conv2d)}}
    blob = np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint8)
    layout_text = base64.b64encode(zlib.compress(json.dumps(header, separators=(",", ":")).encode(), 9)).decode()
    data = save({"data": blob}, metadata={"format": FORMAT, "pyrocomp": layout_text})
    write_atomic(path, lambda f: f.write(data))
    return layers


def _pack_layer(weight, significand, exponent=None):
    w = quantize(weight.detach().cpu(), significand)
    if exponent is not None:
        w = limit_exponents(w, exponent)
    kept = (w != 0).numpy()
    # the rows (output units) and columns (input units) holding a kept weight, then the positions inside them
    rows, columns = kept.reshape(kept.shape[0], -1).any(1), kept.swapaxes(0, 1).reshape(kept.shape[1], -1).any(1)
    units = np.zeros(0, dtype=np.uint8) if rows.all() and columns.all() else np.packbits(np.concatenate([rows,
                                                                                                        columns]))
    kind, positions, position_width, position_codes = encode_positions(kept[rows][:, columns].reshape(-1))
    flat = w.flatten()
    entry = {"shape": list(weight.shape), "count": int(kept.sum()), "significand": significand, "exponent": 0,
             "low": 0, "positions": kind, "position_width": position_width, "position_codes": position_codes}
    values = np.zeros(0, dtype=np.uint8)
    if entry["count"]:
        codes, width, low = _codes(flat[flat != 0], significand)
        entry.update(exponent=width, low=low)
        values = pack_bits(codes, 1 + significand + width)
    return entry, {"values": values, "positions": positions, "units": units}


def load_quantized(path, net, map_location="cpu"):
    """
    Load a file written by :func:`save_quantized` into ``net``, a dense network of the same architecture (resized
    in place), with the quantised weights.

    :returns: ``(net, metadata)``.
    :raises ValueError: when the file is not such a file, is truncated or does not fit ``net``.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load

    try:
        with open(path, "rb") as f:
            raw = f.read()
        tensors = load(raw)
        header = json.loads(zlib.decompress(base64.b64decode(_metadata(raw)["pyrocomp"])))
    except (SafetensorError, KeyError, ValueError, json.JSONDecodeError, zlib.error) as error:
        raise ValueError(f"{str(path)!r} is not a whole quantised network file: {error}") from None
    if header.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} has format {header.get('format')!r}, expected {FORMAT!r}")
    blob = tensors.get("data", np.zeros(0, dtype=np.uint8))

    def part(span):
        offset, length = span
        if offset + length > blob.nbytes:
            raise ValueError(f"{str(path)!r} is not a whole quantised network file: a tensor lies past its end")
        return blob[offset:offset + length]

    state = {}
    for key, entry in header["layout"].items():
        if "significand" in entry:
            state[key] = _unpack_layer(entry, part(entry["values"]), part(entry["positions_data"]),
                                       part(entry["units"]))
        else:
            array = part(entry["data"]).view(np.dtype(entry["dtype"])).reshape(entry["shape"])
            state[key] = torch.from_numpy(array.copy())
    apply_conv_geometry_(net, header["convolutions"])
    resize_to_state_dict_(net, {k: v.to(map_location) for k, v in state.items()})
    return net.eval(), header["metadata"]


def _metadata(raw):
    length = int.from_bytes(raw[:8], "little")
    return json.loads(raw[8:8 + length])["__metadata__"]


def _unpack_layer(entry, values, positions, units):
    shape = entry["shape"]
    rows, columns = np.ones(shape[0], dtype=bool), np.ones(shape[1], dtype=bool)
    if units.size:
        masks = np.unpackbits(units, count=shape[0] + shape[1]).astype(bool)
        rows, columns = masks[:shape[0]], masks[shape[0]:]
    inner = (int(rows.sum()), int(columns.sum()), *shape[2:])
    kept = np.zeros(shape, dtype=bool)
    inside = decode_positions(entry["positions"], positions, entry["position_width"], math.prod(inner),
                              entry["position_codes"]).reshape(inner)
    kept[np.ix_(rows, columns)] = inside
    w = torch.zeros(math.prod(shape), dtype=torch.float64)
    if entry["count"]:
        codes = unpack_bits(values, 1 + entry["significand"] + entry["exponent"], entry["count"])
        w[torch.from_numpy(kept.reshape(-1))] = _values(codes, entry["significand"], entry["exponent"], entry["low"])
    return w.float().reshape(shape)
