import pytest
import torch
from torch import nn

from pyrocomp.models import MODELS, build_model

ARCHITECTURES = {
    # name: (input shape, conv out channels, linear (in, out) sizes)
    "lenet300": ((1, 28, 28), [], [(784, 300), (300, 100), (100, 10)]),
    "lenet5-caffe": ((1, 28, 28), [20, 50], [(800, 500), (500, 10)]),
    "lenet5": ((1, 28, 28), [6, 16], [(400, 120), (120, 84), (84, 10)]),
    "alexnet": ((3, 32, 32), [6, 16, 32, 64, 128], [(128 * 4 * 4, 120), (120, 84), (84, 10)]),
    "vgg11": ((3, 32, 32), [64, 128, 256, 256, 512, 512, 512, 512], [(512, 512), (512, 10)]),
    "vgg16": ((3, 32, 32), [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512], [(512, 512), (512, 10)]),
    # the 3×3 stem, then four stages of two basic blocks (a 1×1 downsampling convolution where a stage starts)
    "resnet18": ((3, 32, 32), [64] + [64] * 4 + [128, 128, 128, 128, 128] + [256] * 5 + [512] * 5, [(512, 10)]),
}


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_papers_architectures(name):
    shape, convs, linears = ARCHITECTURES[name]
    net = build_model(name, shape, 10)
    assert [m.out_channels for m in net.modules() if isinstance(m, nn.Conv2d)] == convs
    assert [(m.in_features, m.out_features) for m in net.modules() if isinstance(m, nn.Linear)] == linears
    assert net(torch.zeros(3, *shape)).shape == (3, 10)


def test_input_shape_and_classes_follow_the_dataset():
    net = build_model("lenet300", (30,), 2)
    assert net(torch.zeros(4, 30)).shape == (4, 2)
    assert set(MODELS) == set(ARCHITECTURES)


@pytest.mark.parametrize("name,shape,match", [
    ("vgg11", (1, 28, 28), "does not fit"), ("lenet5-caffe", (1, 8, 8), "does not fit"),
    ("lenet5", (30,), "image inputs"), ("nope", (1, 28, 28), "Unknown model"),
])
def test_models_that_do_not_fit(name, shape, match):
    with pytest.raises(ValueError, match=match):
        build_model(name, shape, 10)


def test_lenet5_widths():
    net = build_model("lenet5", (1, 28, 28), 10, widths=(3, 5, 16, 17))
    assert [m.out_channels for m in net.modules() if isinstance(m, nn.Conv2d)] == [3, 5]
    assert [(m.in_features, m.out_features) for m in net.modules() if isinstance(m, nn.Linear)] == [
        (5 * 5 * 5, 16), (16, 17), (17, 10)]
    assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize("options,error,match", [
    (dict(widths=(3, 5, 16)), ValueError, "four positive ints"),
    (dict(widths=(3, 0, 16, 17)), ValueError, "four positive ints"),
    (dict(widths=(3, 5.0, 16, 17)), ValueError, "four positive ints"),
    (dict(depth=3), TypeError, r"takes the options \['widths'\] but got \['depth'\]"),
], ids=["three", "zero", "float", "unknown"])
def test_lenet5_bad_options(options, error, match):
    with pytest.raises(error, match=match):
        build_model("lenet5", (1, 28, 28), 10, **options)


def test_options_of_a_model_without_any():
    with pytest.raises(TypeError, match=r"takes the options \[\] but got \['widths'\]"):
        build_model("lenet300", (1, 28, 28), 10, widths=(3, 5, 16, 17))


def test_resnet18_keeps_32x32_resolution_in_its_stem_and_runs_on_mnist_shapes():
    net = build_model("resnet18", (3, 32, 32), 10)
    assert (net.conv1.kernel_size, net.conv1.stride) == ((3, 3), (1, 1)) and isinstance(net.maxpool, nn.Identity)
    assert build_model("resnet18", (1, 28, 28), 10)(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(ValueError, match="image inputs"):
        build_model("resnet18", (30,), 10)


def test_a_bayesian_resnet18_names_what_it_leaves_deterministic():
    from pyrocomp import BayesianNetwork
    from pyrocomp.priors import LogUniformPrior

    model = BayesianNetwork(build_model("resnet18", (3, 32, 32), 10), LogUniformPrior(), dataset_size=10)
    paths = [path for path, _ in model.bayesian_layers()]
    assert len(paths) == 21 and "layer2.0.downsample.0" in paths and paths[-1] == "fc"
    deterministic = model.deterministic_layers()
    assert set(deterministic.values()) == {"BatchNorm2d"} and len(deterministic) == 20  # 17 + 3 downsampling
    assert "layer2.0.downsample.1" in deterministic
