"""
The papers' architectures by command-line name; input shape and class count follow the data set.

========================  ==============================================  =====================
name                      layers                                          paper
========================  ==============================================  =====================
``lenet300``              FC 300-100                                      LeNet-300-100 (000, 003, BC)
``lenet5-caffe``          conv 20-50 (5×5), FC 500                        LeNet-5-Caffe (000, 003, BC)
``lenet5``                conv 6-16 (5×5), FC 120-84                      LeNet-5 (001 Table II)
``alexnet``               conv 6-16-32-64-128 (3×3), FC 120-84            small AlexNet (001 Table II)
``vgg11``                 VGG-11 with BatchNorm, FC 512                   VGG-11 for CIFAR (001, BC)
``vgg16``                 VGG-16 with BatchNorm, FC 512                   VGG-16 for CIFAR (BC)
``resnet18``              torchvision's ResNet-18, 3×3 stem, no max-pool  ResNet-18 for CIFAR
========================  ==============================================  =====================
"""
import inspect

import torch
from torch import nn

#: model name -> its builder; fill with :func:`register_model`
MODELS = {}


def register_model(name):
    """Decorator registering ``builder(input_shape, num_classes, **options) -> nn.Module`` under ``name``."""

    def decorator(fn):
        MODELS[name] = fn
        return fn

    return decorator


def _flat_size(features, input_shape):
    with torch.no_grad():
        return features.eval()(torch.zeros(2, *input_shape))[0].numel()


def _with_classifier(features, input_shape, widths, num_classes):
    layers = [*features, nn.Flatten()]
    width = _flat_size(nn.Sequential(*features), input_shape)
    for w in widths:
        layers += [nn.Linear(width, w), nn.ReLU()]
        width = w
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def build_model(name, input_shape, num_classes, **options):
    """
    :param str name: a registered model name.
    :param tuple input_shape: one example's shape, e.g. ``(1, 28, 28)``.
    :param int num_classes: output width.
    :param options: the builder's own options, e.g. ``widths=(3, 5, 16, 17)`` for ``lenet5``.
    :raises ValueError: unknown name, bad options, or an input too small for the architecture.
    :raises TypeError: an option the model's builder does not take.
    """
    if name not in MODELS:
        raise ValueError(f"Unknown model {name!r}; expected one of {sorted(MODELS)}")
    if not (isinstance(num_classes, int) and num_classes >= 2):
        raise ValueError(f"Expected num_classes >= 2 but got {num_classes!r}")
    accepted = list(inspect.signature(MODELS[name]).parameters)[2:]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise TypeError(f"Model {name!r} takes the options {accepted} but got {unknown}")
    try:
        net = MODELS[name](tuple(input_shape), num_classes, **options)
        with torch.no_grad():
            net.eval()(torch.zeros(2, *input_shape))
    except RuntimeError as error:
        first = str(error).splitlines()[0]
        raise ValueError(f"Model {name!r} does not fit inputs of shape {tuple(input_shape)}: {first}") from None
    return net.train()


@register_model("lenet300")
def lenet300(input_shape, num_classes):
    """LeNet-300-100: a multilayer perceptron on the flattened input."""
    return _with_classifier([], input_shape, [300, 100], num_classes)


def _needs_image(name, input_shape):
    if len(input_shape) != 3:
        raise RuntimeError(f"{name} needs image inputs (channels, height, width)")


@register_model("lenet5-caffe")
def lenet5_caffe(input_shape, num_classes):
    """LeNet-5-Caffe: conv 20 (5×5), pool, conv 50 (5×5), pool, FC 500."""
    _needs_image("lenet5-caffe", input_shape)
    features = [nn.Conv2d(input_shape[0], 20, 5), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(20, 50, 5), nn.ReLU(), nn.MaxPool2d(2)]
    return _with_classifier(features, input_shape, [500], num_classes)


@register_model("lenet5")
def lenet5(input_shape, num_classes, widths=(6, 16, 120, 84)):
    """
    LeNet-5 (6-16-120-84): conv 6 (5×5, padded), pool, conv 16 (5×5), pool, FC 120-84.

    :param widths: ``(conv1, conv2, fc1, fc2)`` output widths; a narrower LeNet-5 is what a
        structured pruning of the default one can shrink it to (``benchmarks/frontier.py``).
    """
    _needs_image("lenet5", input_shape)
    widths = tuple(widths)
    if len(widths) != 4 or not all(isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in widths):
        raise ValueError(f"Expected widths to be four positive ints (conv1, conv2, fc1, fc2) but got {widths!r}")
    c1, c2, f1, f2 = widths
    features = [nn.Conv2d(input_shape[0], c1, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(c1, c2, 5), nn.ReLU(), nn.MaxPool2d(2)]
    return _with_classifier(features, input_shape, [f1, f2], num_classes)


@register_model("alexnet")
def alexnet(input_shape, num_classes):
    """The small AlexNet of paper 001 (6-16-32-64-128-120-84): five 3×3 convolutions, FC 120-84."""
    _needs_image("alexnet", input_shape)
    c = input_shape[0]
    features = [nn.Conv2d(c, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(6, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
                nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
                nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
    return _with_classifier(features, input_shape, [120, 84], num_classes)


def _vgg(name, config, input_shape, num_classes):
    _needs_image(name, input_shape)
    features, c = [], input_shape[0]
    for v in config:
        if v == "M":
            features.append(nn.MaxPool2d(2))
        else:
            features += [nn.Conv2d(c, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU()]
            c = v
    return _with_classifier(features, input_shape, [512], num_classes)


@register_model("vgg11")
def vgg11(input_shape, num_classes):
    """VGG-11 with BatchNorm for 32×32 inputs (configuration A), classifier FC 512."""
    return _vgg("vgg11", [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"], input_shape, num_classes)


@register_model("vgg16")
def vgg16(input_shape, num_classes):
    """VGG-16 with BatchNorm for 32×32 inputs (configuration D), classifier FC 512."""
    return _vgg("vgg16", [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
                input_shape, num_classes)


@register_model("resnet18")
def resnet18(input_shape, num_classes):
    """
    torchvision's ResNet-18 for small images (32×32 CIFAR, 28×28 MNIST): the 7×7 stride-2 stem and its max-pool
    give way to one 3×3 stride-1 convolution, as is usual for CIFAR; residual blocks, BatchNorm and the final
    average pool are torchvision's.
    """
    from torchvision.models import resnet18 as torchvision_resnet18

    _needs_image("resnet18", input_shape)
    net = torchvision_resnet18(num_classes=num_classes)
    net.conv1 = nn.Conv2d(input_shape[0], 64, 3, stride=1, padding=1, bias=False)
    net.maxpool = nn.Identity()
    return net
