"""
Export formats of a physically pruned network: a registry of :class:`ExportFormat` (``pt``, ``torchscript``,
``onnx``) that each write a network to a file atomically and run a written file back, so that the file itself is
what gets evaluated and timed. A user's format is one :func:`register_format` away.
"""
import contextlib
import copy
import io
import logging
import os
import tempfile
import warnings
from pathlib import Path

import torch

from pyrocomp.util import require, write_atomic

from .io import load_compressed, save_compressed
from .quantize import limit_exponents, load_quantized, quantize, save_quantized

#: format name -> :class:`ExportFormat` instance; fill with :func:`register_format`
EXPORT_FORMATS = {}

#: a layer whose posterior asks for at most this many bits per weight runs in int8 where a format offers it
INT8_BITS = 8


def register_format(cls):
    """Class decorator registering an :class:`ExportFormat` subclass under its ``name``."""
    EXPORT_FORMATS[cls.name] = cls()
    return cls


def export_format(name):
    """The registered :class:`ExportFormat` called ``name``.

    :raises ValueError: naming the registered formats when ``name`` is not one."""
    if name not in EXPORT_FORMATS:
        raise ValueError(f"Unknown export format {name!r}; expected one of {sorted(EXPORT_FORMATS)}")
    return EXPORT_FORMATS[name]


class ExportFormat:
    """
    How a pruned network is written and run back. Subclasses set ``name`` and ``suffix`` and implement
    :meth:`write` and :meth:`runner`; one that stores quantised weights sets ``quantizes`` and honours
    ``significand`` and ``bits``.
    """

    name = None
    suffix = None
    quantized_suffix = None
    #: what ``quantize`` does in this format (``None``: the format has no quantised form)
    quantizes = None

    def file_name(self, quantized=False):
        return "network" + (self.quantized_suffix if quantized else self.suffix)

    def write(self, network, path, example_input, significand=None, bits=None, **metadata):
        """
        Write ``network`` (plain, physically pruned, in eval mode) to ``path`` atomically.

        :param torch.Tensor example_input: a batch of inputs (traces the graph).
        :param dict significand: ``{layer: significand bits}`` to quantise with (``None``: float32 weights).
        :param dict bits: ``{layer: bits per weight}`` the posterior asks for.
        :param metadata: plain values stored where the format has room.
        """
        raise NotImplementedError

    def runner(self, path, dense):
        """
        A callable running the file at ``path`` on a CPU batch and returning a tensor of outputs.

        :param dense: a builder of the dense network (``dense()`` returns a new one), for formats storing weights
            alone.
        :raises ValueError: when the file is not a whole file of this format.
        """
        raise NotImplementedError


@register_format
class StateDictFormat(ExportFormat):
    """``pt``: the state dict, masks and kernel geometry (loads with ``torch.load(..., weights_only=True)``); quantised,
    the packed safetensors file of :func:`~pyrocomp.pruning.save_quantized`."""

    name, suffix, quantized_suffix = "pt", ".pt", ".safetensors"
    quantizes = "packed at the posterior's bits per weight"

    def write(self, network, path, example_input, significand=None, bits=None, **metadata):
        if significand is None:
            save_compressed(path, network, {}, **metadata)
        else:
            save_quantized(path, network, significand, exponent=exponent_bits_of(significand, bits), **metadata)

    def runner(self, path, dense):
        if Path(path).suffix == self.quantized_suffix:
            net, _ = load_quantized(path, dense())
        else:
            net, _, _ = load_compressed(path, dense())
        return _no_grad(net)


@register_format
class TorchScriptFormat(ExportFormat):
    """``torchscript``: the traced network (``torch.jit.trace``), loadable without pyrocomp's classes."""

    name, suffix = "torchscript", ".torchscript.pt"

    def write(self, network, path, example_input, significand=None, bits=None, **metadata):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # TorchScript's deprecation notice
            traced = torch.jit.trace(network.eval(), example_input)
            write_atomic(path, lambda f: torch.jit.save(traced, f))

    def runner(self, path, dense):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                module = torch.jit.load(str(path), map_location="cpu")
        except RuntimeError as error:
            raise ValueError(f"{str(path)!r} is not a whole TorchScript file: {str(error).splitlines()[0]}") from None
        return _no_grad(module)


@register_format
class OnnxFormat(ExportFormat):
    """``onnx``: an ONNX graph with a dynamic batch dimension, run by onnxruntime; quantised, the weights are rounded
    to the posterior's precision and the layers whose posterior asks for at most 8 bits run in int8
    (onnxruntime's dynamic quantisation)."""

    name, suffix, quantized_suffix = "onnx", ".onnx", ".int8.onnx"
    quantizes = "int8 where the posterior asks for at most 8 bits, the posterior's precision elsewhere"

    def write(self, network, path, example_input, significand=None, bits=None, **metadata):
        require("onnx", "deploy")
        network = copy.deepcopy(network).eval().cpu()
        if significand is not None:
            with torch.no_grad():
                exponent = exponent_bits_of(significand, bits) or {}
                for name, t in significand.items():
                    layer = network.get_submodule(name)
                    weight = quantize(layer.weight, t)
                    layer.weight.copy_(weight if name not in exponent else limit_exponents(weight, exponent[name]))
        quiet = io.StringIO()
        with contextlib.redirect_stdout(quiet), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(network, (example_input.cpu(),), dynamo=True, verbose=False,
                                        input_names=["input"], output_names=["output"],
                                        dynamic_shapes=({0: torch.export.Dim("batch")},))
        proto = program.model_proto
        int8 = sorted(name for name, b in (bits or {}).items() if significand is not None and b <= INT8_BITS)
        if int8:
            proto = _int8(proto, {f"{name}.weight" for name in int8}, Path(path).parent)
        data = proto.SerializeToString()
        write_atomic(path, lambda f: f.write(data))

    def runner(self, path, dense):
        ort = require("onnxruntime", "deploy")
        try:
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own exception types
            raise ValueError(f"{str(path)!r} is not a whole ONNX file: {str(error).splitlines()[0]}") from None
        name = session.get_inputs()[0].name
        return lambda x: torch.from_numpy(session.run(None, {name: x.detach().cpu().numpy()})[0])


def exponent_bits_of(significand, bits):
    """The exponent bits per layer that ``bits`` per weight leave beside a sign and ``significand`` bits: the
    posterior's, which :func:`~pyrocomp.pruning.save_quantized` holds fine-tuned weights to (``None`` without
    ``bits``)."""
    if not bits:
        return None
    return {name: max(0, bits[name] - 1 - t) for name, t in significand.items() if name in bits}


def _int8(proto, weights, directory):
    """``proto`` with the nodes reading the initializers ``weights`` quantised to int8 by onnxruntime."""
    onnx = require("onnx", "deploy")
    quantization = require("onnxruntime.quantization", "deploy")
    from onnxruntime.quantization.onnx_model import ONNXModel

    model = ONNXModel(proto)
    model.replace_gemm_with_matmul()  # int8 linear layers are MatMulInteger: a Gemm's weight becomes "<w>_Transposed"
    proto = model.model
    nodes = [node.name for node in proto.graph.node
             if any(name.removesuffix("_Transposed") in weights for name in node.input)]
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        source, target = os.path.join(tmp, "float.onnx"), os.path.join(tmp, "int8.onnx")
        onnx.save(proto, source)
        logging.disable(logging.WARNING)  # onnxruntime's advice to pre-process, on the root logger
        try:
            quantization.quantize_dynamic(source, target, weight_type=quantization.QuantType.QInt8,
                                          nodes_to_quantize=nodes)
        finally:
            logging.disable(logging.NOTSET)
        return onnx.load(target)


def _no_grad(module):
    module.eval()

    def run(x):
        with torch.no_grad():
            return module(x)

    return run


def export_network(network, path, format="pt", example_input=None, significand=None, bits=None, **metadata):
    """
    Write a physically pruned network to ``path`` in ``format`` (:data:`EXPORT_FORMATS`), atomically.

    :param torch.nn.Module network: e.g. :attr:`Compression.network <pyrocomp.pruning.Compression>`.
    :param str format: ``"pt"``, ``"torchscript"``, ``"onnx"`` or a registered name.
    :param torch.Tensor example_input: a batch of inputs.
    :param dict significand: quantise with these significand bits per layer (``None``: float32).
    :param dict bits: bits per weight per layer (the int8 choice of ``onnx``).
    :raises ValueError: an unknown format, or quantisation asked of a format that has none.
    """
    fmt = export_format(format)
    if significand is not None and fmt.quantizes is None:
        raise ValueError(f"Export format {format!r} has no quantised form; "
                         f"formats that have one: {sorted(n for n, f in EXPORT_FORMATS.items() if f.quantizes)}")
    fmt.write(network.eval(), path, example_input, significand=significand, bits=bits, **metadata)
    return Path(path)
