r"""
The heads of :class:`~pyrocomp.guides.AutoConditionalGuide`'s hypernetwork: each maps the context's embedding to
the context-dependent part of one variational parameter of one site. A head's output starts at zero, so that at
initialisation the guide's posterior is its unconditional one for every context (003 §5.2), and the family's own
parameter plays the head's bias. :class:`Heads` says which sites get which head.
"""
from torch import nn


class FullHead(nn.Module):
    r"""
    A linear map from the embedding to every element of the parameter: 003 Algorithm 1, line 1. Costs
    ``embedding_dim × numel`` weights; its weights start at zero. The map is divided by ``embedding_dim``, so
    that an optimiser step that moves every head weight by :math:`\eta` (Adam's) moves the parameter by about
    :math:`\eta`, as it moves the family's own parameter, whatever the embedding's size.
    """

    def __init__(self, value, embedding_dim):
        super().__init__()
        self.shape = tuple(value.shape)
        self.linear = nn.Linear(embedding_dim, value.numel(), bias=False)
        nn.init.zeros_(self.linear.weight)
        self.gain = 1.0 / embedding_dim

    def forward(self, embedding):
        return (self.gain * self.linear(embedding)).reshape(self.shape)


class LowRankHead(nn.Module):
    r"""
    :math:`U V e / r`: a rank-``rank`` linear map from the embedding, costing ``rank × (embedding_dim + numel)``
    weights instead of ``embedding_dim × numel``; :math:`V` starts random (Kaiming uniform), :math:`U` at zero;
    divided by the rank for the reason :class:`FullHead` is divided by the embedding's size.

    :param int rank: the rank.
    """

    def __init__(self, rank):
        if not (isinstance(rank, int) and rank > 0):
            raise ValueError(f"Expected rank to be a positive int but got {rank!r}")
        self.rank = rank

    def __call__(self, value, embedding_dim):
        return _LowRank(value, embedding_dim, self.rank)

    def __repr__(self):
        return f"LowRankHead({self.rank})"


class _LowRank(nn.Module):
    def __init__(self, value, embedding_dim, rank):
        super().__init__()
        self.shape = tuple(value.shape)
        self.down = nn.Linear(embedding_dim, rank, bias=False)
        self.up = nn.Linear(rank, value.numel(), bias=False)
        nn.init.zeros_(self.up.weight)
        self.gain = 1.0 / rank

    def forward(self, embedding):
        return (self.gain * self.up(self.down(embedding))).reshape(self.shape)


class Heads:
    """
    Which head each site's parameters get: ``scales`` for every latent site but the layers' weights, ``weights``
    for the weights; each a head class or factory ``(value, embedding_dim) -> module``, or ``None`` for a
    parameter shared by every context.

    - ``Heads()`` (the default): context-generated scales (they decide the masks) with context-shared weights, the
      cheapest form;
    - ``Heads(weights=LowRankHead(8))``: weights too, through rank-8 maps;
    - ``Heads(weights=FullHead)``: every weight's mean and log-variance generated in full, as 003 Algorithm 1.
    """

    def __init__(self, scales=FullHead, weights=None):
        for name, factory in (("scales", scales), ("weights", weights)):
            if factory is not None and not callable(factory):
                raise TypeError(f"Expected {name} to be a head factory (value, embedding_dim) -> module or None but "
                                f"got {factory!r}")
        self.scales, self.weights = scales, weights

    def head(self, value, embedding_dim, is_weight):
        """The head of one parameter (or ``None``)."""
        factory = self.weights if is_weight else self.scales
        return None if factory is None else factory(value, embedding_dim)

    def __repr__(self):
        name = lambda f: getattr(f, "__name__", repr(f))  # noqa: E731
        return f"Heads(scales={name(self.scales)}, weights={name(self.weights)})"


