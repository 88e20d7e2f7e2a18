"""Posterior-precision quantisation: rounding against enumeration, the bit rule, packed files that round-trip."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from pyrocomp.models import build_model
from pyrocomp.pruning import (bit_precision, decode_positions, encode_positions, exponent_bits, limit_exponents, load_quantized, pack_bits, quantize,
                              save_quantized, significand_bits, unpack_bits)


@pytest.mark.parametrize("t", [0, 1, 3, 7])
def test_rounding_picks_the_nearest_representable_value(t):
    torch.manual_seed(0)
    w = torch.randn(500, dtype=torch.float64) * torch.exp(torch.randn(500) * 2).double()
    # every value sign * (1 + q / 2^t) * 2^E for the exponents in range, enumerated
    q = torch.arange(2 ** t, dtype=torch.float64)
    exponents = torch.arange(-12, 12, dtype=torch.float64)
    grid = ((1 + q[None] / 2 ** t) * torch.exp2(exponents[:, None])).flatten()
    grid = torch.cat([grid, -grid])
    nearest = grid[(w[:, None] - grid[None]).abs().argmin(1)]
    rounded = quantize(w, t)
    assert torch.allclose((rounded - w).abs(), (nearest - w).abs(), rtol=0, atol=1e-15)
    assert bool(((rounded - w).abs() <= w.abs() * 2.0 ** (-t - 1) * (1 + 1e-12)).all())
    assert torch.equal(quantize(torch.zeros(3), t), torch.zeros(3))


def test_the_posterior_bit_rule_rounds_no_weight_by_more_than_half_its_standard_deviation():
    torch.manual_seed(1)
    mean = torch.randn(40, 30)
    std = mean.abs() * torch.rand(40, 30) * 0.3 + 1e-3
    mask = torch.rand(40, 30) < 0.5
    t = significand_bits(mean, std ** 2, mask)
    error = (quantize(mean, t) - mean).abs()[mask]
    assert bool((error <= std[mask] / 2 + 1e-7).all())
    assert t == math.ceil(math.log2(float((mean.abs() / std)[mask].max())))


@pytest.mark.parametrize("density", [0.0005, 0.02, 0.3, 0.9, 1.0])
def test_positions_round_trip_and_take_the_cheaper_encoding(density):
    rng = np.random.default_rng(0)
    kept = rng.random(20000) < density
    kept[-1] = density == 1.0 or kept[-1]
    kind, data, width, codes = encode_positions(kept)
    assert np.array_equal(decode_positions(kind, data, width, kept.size, codes), kept)
    if density == 1.0:
        assert kind == "all" and data.size == 0
    else:
        assert data.nbytes <= math.ceil(kept.size / 8)  # never more than the bitmask
        assert kind == ("mask" if density > 0.5 else "gaps")  # dense masks take a bit each, sparse ones gaps


def test_bits_pack_and_unpack():
    rng = np.random.default_rng(1)
    for width in (1, 3, 8, 13, 32):
        codes = rng.integers(0, 2 ** width, size=101, dtype=np.uint64)
        data = pack_bits(codes, width)
        assert data.nbytes == math.ceil(101 * width / 8)
        assert np.array_equal(unpack_bits(data, width, 101), codes)
    with pytest.raises(ValueError, match="hold"):
        unpack_bits(pack_bits(codes, 32)[:-1], 32, 101)


def _pruned_lenet(generator):
    net = build_model("lenet5", (1, 28, 28), 10).eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                m.weight[torch.rand(m.weight.shape, generator=generator) < 0.7] = 0
    return net


def test_a_quantised_file_round_trips_at_the_bits_the_rule_counts(tmp_path):
    net = _pruned_lenet(torch.Generator().manual_seed(0))
    significand = {"0": 2, "3": 5, "7": 3, "9": 4, "11": 9}
    layers = save_quantized(tmp_path / "q.safetensors", net, significand, model="lenet5")
    loaded, metadata = load_quantized(tmp_path / "q.safetensors", build_model("lenet5", (1, 28, 28), 10))
    assert metadata == {"model": "lenet5"}
    for row in layers:
        layer, original = loaded.get_submodule(row.name), net.get_submodule(row.name)
        assert torch.equal(layer.weight, quantize(original.weight, significand[row.name]))
        assert torch.equal(layer.bias, original.bias)
        kept = original.weight != 0
        # the bits per weight are the bit rule's: sign, the significand, the exponents the rounded weights span,
        # which rounding up can widen by one binary exponent at most
        rounded = quantize(original.weight, significand[row.name])[kept]
        assert row.bits == 1 + significand[row.name] + exponent_bits(rounded)
        rule = bit_precision(original.weight, torch.zeros(()), kept) - 23 + significand[row.name]
        assert row.bits in (rule, rule + 1)
        assert row.value_bytes == math.ceil(int(kept.sum()) * row.bits / 8)
    x = torch.randn(2, 1, 28, 28)
    assert torch.allclose(loaded(x), net(x), atol=0.5)


def test_truncated_or_foreign_files_are_refused(tmp_path):
    net = _pruned_lenet(torch.Generator().manual_seed(1))
    path = tmp_path / "q.safetensors"
    save_quantized(path, net, {"0": 3})
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ValueError, match="not a whole quantised network file"):
        load_quantized(path, build_model("lenet5", (1, 28, 28), 10))
    torch.save({"a": 1}, path)
    with pytest.raises(ValueError, match="not a whole quantised network file"):
        load_quantized(path, build_model("lenet5", (1, 28, 28), 10))
    with pytest.raises(ValueError, match="significand"):
        save_quantized(path, net, {"0": 60})
    with pytest.raises(ValueError, match="Linear or Conv2d"):
        save_quantized(path, net, {"1": 3})


def test_limiting_exponents_keeps_the_top_binary_exponents_and_rounds_the_rest_to_the_nearest():
    w = torch.tensor([3.0, -1.5, 0.3, 0.2, -0.1, 0.06, 0.0], dtype=torch.float64)
    # largest exponent 1 (3 = 1.5 * 2^1); two exponent bits span 2^1 .. 2^-2 = 0.25
    out = limit_exponents(w, 2)
    assert out.tolist() == [3.0, -1.5, 0.3, 0.25, -0.0, 0.0, 0.0]  # 0.2 -> 0.25, 0.1 and 0.06 -> 0
    assert torch.equal(limit_exponents(w, 3), w)  # 2^1 .. 2^-6: all fit
    with pytest.raises(ValueError, match="exponent bits"):
        limit_exponents(w, -1)


def test_a_layer_with_pruned_inputs_stores_its_positions_inside_the_kept_units(tmp_path):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 10)).eval()
    with torch.no_grad():
        net[0].weight[:, torch.rand(784) < 0.7] = 0  # 70 % of the input pixels unread, the rest dense
    rows = save_quantized(tmp_path / "q.safetensors", net, {"0": 4, "2": 4}, exponent={"2": 3})
    kept_columns = int(net[0].weight.ne(0).any(0).sum())
    # the unit masks (100 + 784 bits) and no positions inside: not a bitmask over all 78,400 weights
    assert rows[0].positions == "all" and rows[0].position_bytes == math.ceil((100 + 784) / 8)
    loaded, _ = load_quantized(tmp_path / "q.safetensors", nn.Sequential(nn.Linear(784, 100), nn.ReLU(),
                                                                         nn.Linear(100, 10)))
    assert torch.equal(loaded[0].weight, quantize(net[0].weight, 4))
    assert int(loaded[0].weight.ne(0).any(0).sum()) == kept_columns
    assert torch.equal(loaded[2].weight, limit_exponents(quantize(net[2].weight, 4), 3)) and rows[1].bits <= 1 + 4 + 3
