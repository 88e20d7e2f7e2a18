r"""
Contexts of conditional compression (paper 003, BHC): what a compressed network is asked for — a subset of the
classes, one kind of input, a compression level. A context is a small class that checks a context tensor
:math:`c`, encodes it (its ``encoder``, the first part of :class:`~pyrocomp.guides.AutoConditionalGuide`'s
hypernetwork) and samples the training tasks: every mini-batch is one task, a batch of one context's data with
that context, its data-set size (which scales the likelihood, 003 eq. (2)) and its KL weight
:math:`\lambda_{KL}` (003 eq. (3)). Register another with :func:`register_context`.
"""
from collections import namedtuple

import torch
from torch import nn

#: one training step's task: inputs, labels, the context tensor, the size of the context's data (the likelihood's
#: scale) and the KL weight :math:`\lambda_{KL}`
Task = namedtuple("Task", ["x", "y", "context", "size", "kl_weight"])

#: name -> :class:`Context` subclass; fill with :func:`register_context`
CONTEXTS = {}


def register_context(name):
    """Class decorator registering a :class:`Context` subclass under a command-line name."""

    def decorator(cls):
        if not (isinstance(cls, type) and issubclass(cls, Context)):
            raise TypeError(f"Expected a Context subclass but got {cls!r}")
        cls.name = name
        CONTEXTS[name] = cls
        return cls

    return decorator


class Context:
    """
    Base class of contexts. Subclasses set :attr:`shape` (of one context tensor) and :attr:`embedding_dim`
    and implement :meth:`encoder`, :meth:`check`, :meth:`tasks` and :meth:`test_contexts`; :meth:`kl_weight`
    and :meth:`output_classes` have defaults. The built-in encoders end in ``tanh``: embeddings in [-1, 1], on
    which the heads' scaling (:class:`~pyrocomp.guides.FullHead`) keeps a step of the hypernetwork as large as a
    step of the unconditional guide.
    """

    #: command-line name, set by :func:`register_context`
    name = None
    #: shape of one context tensor
    shape = ()
    #: size of the encoder's output
    embedding_dim = 100

    def encoder(self):
        """A fresh module mapping one context tensor (:attr:`shape`) to an embedding of :attr:`embedding_dim`."""
        raise NotImplementedError

    def check(self, context):
        """``context`` as a float tensor of :attr:`shape`, or a :class:`ValueError` naming what is wrong."""
        if not torch.is_tensor(context):
            raise TypeError(f"Expected a context tensor of shape {tuple(self.shape)} but got {type(context).__name__}")
        if tuple(context.shape) != tuple(self.shape):
            raise ValueError(f"Expected a {type(self).__name__} context of shape {tuple(self.shape)} but got "
                             f"{tuple(context.shape)}")
        if not bool(torch.isfinite(context).all()):
            raise ValueError(f"Expected a finite {type(self).__name__} context but got {context}")
        return context.float() if not context.is_floating_point() else context

    def tasks(self, data, batch_size, generator):
        """One epoch of training :class:`Task` s from ``data`` (a :class:`~torch.utils.data.TensorDataset`)."""
        raise NotImplementedError

    def test_contexts(self, data):
        """``[(label, context, indices)]``: the contexts to evaluate on ``data`` and the examples of each."""
        raise NotImplementedError

    def kl_weight(self, context):
        r""":math:`\lambda_{KL}` of ``context`` (003 eq. (3)); default 1."""
        return 1.0

    def output_classes(self, context):
        """The classes a compressed network of ``context`` must predict (``None``: all)."""
        return None

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


def _mlp(inputs, hidden, outputs):
    return nn.Sequential(nn.Flatten(0), nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, outputs), nn.Tanh())


class _ClassGroups(Context):
    """Tasks of consecutive class groups (003 §5.3: random consecutive class pairs)."""

    def __init__(self, num_classes, group_size=2):
        if not (isinstance(num_classes, int) and num_classes >= 2):
            raise ValueError(f"Expected num_classes to be an int >= 2 but got {num_classes!r}")
        if not (isinstance(group_size, int) and 1 <= group_size <= num_classes):
            raise ValueError(f"Expected group_size in 1..{num_classes} but got {group_size!r}")
        self.num_classes, self.group_size = num_classes, group_size

    def groups(self):
        """Every consecutive group of classes, wrapping around: ``[0, 1], [1, 2], ..., [C-1, 0]`` for pairs."""
        return [[(k + i) % self.num_classes for i in range(self.group_size)] for k in range(self.num_classes)]

    def _members(self, y):
        return [torch.nonzero(torch.isin(y, torch.tensor(g, device=y.device))).flatten() for g in self.groups()]

    def tasks(self, data, batch_size, generator):
        x, y = data.tensors
        members = self._members(y)
        for _ in range(max(1, len(y) // batch_size)):
            g = int(torch.randint(len(members), (), generator=generator))
            rows = members[g][torch.randint(len(members[g]), (min(batch_size, len(members[g])),), generator=generator)]
            yield Task(x[rows], y[rows], self.context_of(self.groups()[g], x[rows]), len(members[g]), 1.0)

    def test_contexts(self, data):
        x, y = data.tensors
        return [(f"classes {'+'.join(map(str, g))}", self.context_of(g, x[m]), m)
                for g, m in zip(self.groups(), self._members(y))]


@register_context("classes")
class ClassSubset(_ClassGroups):
    r"""
    Context :math:`c_y` of 003 §5.3: which classes occur, a vector of Bernoulli probabilities over the classes (a
    0/1 vector at test time), encoded by a 2-layer MLP of hidden size 100. Training tasks are random consecutive
    class groups (pairs by default); a context's compressed network keeps only its classes' output units.

    :param int num_classes: :math:`C`.
    :param int group_size: classes per task.
    """

    embedding_dim = 100

    @property
    def shape(self):
        return (self.num_classes,)

    def encoder(self):
        return _mlp(self.num_classes, 100, self.embedding_dim)

    def context_of(self, classes, x=None):
        """The 0/1 context of a list of class ids."""
        c = torch.zeros(self.num_classes)
        for k in classes:
            if not (isinstance(k, int) and 0 <= k < self.num_classes):
                raise ValueError(f"Unknown class {k!r}; expected ints in 0..{self.num_classes - 1}")
            c[k] = 1.0
        return c

    def check(self, context):
        context = super().check(context)
        if bool((context < 0).any() | (context > 1).any()) or not bool((context > 0).any()):
            raise ValueError(f"Expected class probabilities in [0, 1], not all 0, but got {context.tolist()}")
        return context

    def output_classes(self, context):
        return torch.nonzero(self.check(context) > 0.5).flatten().tolist()


@register_context("inputs")
class InputDomain(_ClassGroups):
    r"""
    Context :math:`c_x` of 003 §5.3: the input domain, given as the mean input of a batch (or of a representative
    set), encoded by 2 convolutions of 20 filters 3×3 with zero padding (003 §5.2), pooled to 4×4 and mapped to
    the embedding (the pooling keeps the hypernetwork's heads small). The tasks are the class groups of
    :class:`ClassSubset`, but the hypernetwork sees only their inputs' mean, not the labels.

    :param tuple input_shape: ``(channels, height, width)`` of one input.
    :param int num_classes: classes of the data.
    :param int group_size: classes per task.
    """

    embedding_dim = 100

    def __init__(self, input_shape, num_classes, group_size=2):
        super().__init__(num_classes, group_size)
        if len(tuple(input_shape)) != 3:
            raise ValueError(f"Expected an input shape (channels, height, width) but got {input_shape!r}")
        self.input_shape = tuple(input_shape)

    @property
    def shape(self):
        return self.input_shape

    def encoder(self):
        channels = self.input_shape[0]
        return nn.Sequential(nn.Unflatten(0, (1, channels)), nn.Conv2d(channels, 20, 3, padding=1), nn.ReLU(),
                             nn.Conv2d(20, 20, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten(0),
                             nn.Linear(20 * 16, self.embedding_dim), nn.Tanh())

    def context_of(self, classes, x):
        return x.mean(0)


@register_context("level")
class CompressionLevel(Context):
    r"""
    Context :math:`c_w` of 003 §5.4: a discrete compression level with its own KL weight :math:`\lambda_{KL}`
    (0.1 for high accuracy, 1 for high compression in the paper), one-hot encoded; within a level the pruning
    threshold varies the size. Every task is a random batch of the whole data at a random level.

    :param tuple kl_weights: :math:`\lambda_{KL}` of each level.
    """

    embedding_dim = 16

    def __init__(self, kl_weights=(0.1, 1.0)):
        kl_weights = tuple(float(w) for w in kl_weights)
        if not kl_weights or not all(0 < w < float("inf") for w in kl_weights):
            raise ValueError(f"Expected positive finite KL weights but got {kl_weights!r}")
        self.kl_weights = kl_weights

    @property
    def shape(self):
        return (len(self.kl_weights),)

    def encoder(self):
        return nn.Sequential(nn.Linear(len(self.kl_weights), self.embedding_dim), nn.Tanh())

    def context_of(self, level):
        """The one-hot context of level ``level``."""
        if not (isinstance(level, int) and 0 <= level < len(self.kl_weights)):
            raise ValueError(f"Unknown compression level {level!r}; the hypernetwork was trained on levels "
                             f"0..{len(self.kl_weights) - 1}")
        return torch.nn.functional.one_hot(torch.tensor(level), len(self.kl_weights)).float()

    def check(self, context):
        context = super().check(context)
        if not (bool(((context == 0) | (context == 1)).all()) and float(context.sum()) == 1.0):
            raise ValueError(f"Expected a one-hot level among {len(self.kl_weights)} trained levels but got "
                             f"{context.tolist()}")
        return context

    def level(self, context):
        return int(self.check(context).argmax())

    def kl_weight(self, context):
        return self.kl_weights[self.level(context)]

    def tasks(self, data, batch_size, generator):
        x, y = data.tensors
        for _ in range(max(1, len(y) // batch_size)):
            level = int(torch.randint(len(self.kl_weights), (), generator=generator))
            rows = torch.randint(len(y), (min(batch_size, len(y)),), generator=generator)
            yield Task(x[rows], y[rows], self.context_of(level), len(y), self.kl_weights[level])

    def test_contexts(self, data):
        everything = torch.arange(len(data))
        return [(f"level {k} (KL weight {w:g})", self.context_of(k), everything) for k, w in enumerate(self.kl_weights)]


def get_context(name, **kwargs):
    """Instantiate the registered context called ``name``."""
    if name not in CONTEXTS:
        raise ValueError(f"Unknown context {name!r}; expected one of {sorted(CONTEXTS)}")
    return CONTEXTS[name](**kwargs)
