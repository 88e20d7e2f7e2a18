import torch
import torch.nn.functional as F
from torch.func import vmap
from pyro import poutine
from pyro.distributions import Independent, Normal
from pyro.nn import PyroModule
from torch import nn

#: plain layer type -> its Bayesian counterpart; extend with :func:`register_layer`.
BAYESIAN_LAYERS = {}


def register_layer(plain_type):
    """
    Class decorator registering a :class:`BayesianLayer` subclass as the Bayesian version
    of the plain ``torch.nn`` layer type ``plain_type``.
    """

    def decorator(cls):
        if not (isinstance(cls, type) and issubclass(cls, BayesianLayer)):
            raise TypeError(f"Expected a BayesianLayer subclass but got {cls!r}")
        BAYESIAN_LAYERS[plain_type] = cls
        return cls

    return decorator


#: the one vocabulary of weight groups: per weight, Bayesian Compression's default, per input unit, per output
#: unit, the whole layer (see :meth:`BayesianLayer.group_shape`)
GROUPS = (None, "auto", "in", "out", "layer")
#: the weight dimension an input or output unit spans
UNIT_DIMS = {"out": 0, "in": 1}


def check_group(group, allowed=GROUPS):
    """Return ``group`` after checking it is one of ``allowed`` (a part of :data:`GROUPS`)."""
    if group not in allowed:
        raise ValueError(f"Expected group in {tuple(allowed)} but got {group!r}")
    return group


def gaussian_posterior(site):
    """The ``(loc, scale)`` of a site's Gaussian posterior, or ``None``."""
    posterior = site["infer"].get("posterior") if site is not None else None
    while isinstance(posterior, Independent):
        posterior = posterior.base_dist
    if isinstance(posterior, Normal):
        return posterior.loc, posterior.scale
    return None


class BayesianLayer(PyroModule):
    r"""
    Base class of layers whose weight is a Pyro sample site declared by a prior (a
    :class:`~pyrocomp.priors.Prior` or any callable ``prior(name, layer) -> weight``); the bias stays a
    point estimate.

    When a guide attaches the weight's Gaussian posterior to the site as
    ``infer["posterior"]`` (as :class:`~pyrocomp.guides.AutoCompressionGuide` does), the
    forward pass uses the local reparameterisation trick (Kingma et al. 2015; paper 003
    Algorithms 1-2): it samples the pre-activations

    .. math::

        b \sim \mathcal{N}\big(\mathrm{op}(x, \mu_W) + \text{bias},\; \mathrm{op}(x^2, \sigma_W^2)\big)

    instead of the weights. Otherwise it uses the sampled weight.

    Subclasses implement :meth:`op` and set :attr:`auto_group`.

    :param torch.nn.Module module: the plain layer; its weight initialises the posterior.
    :param prior: the prior of the weight; its ``setup(name, layer)``, when it has one, runs here.
    :param str name: the module path, prefix of the layer's site names.
    """

    def __init__(self, module, prior, name):
        super().__init__()
        self.site_prefix = name
        self.prior = prior
        self.local_reparam = True
        self.register_buffer("weight_init", module.weight.detach().clone())
        self.bias = None if module.bias is None else nn.Parameter(module.bias.detach().clone())
        setup = getattr(prior, "setup", None)
        if setup is not None:
            setup(name, self)

    @property
    def weight_site(self):
        return f"{self.site_prefix}.weight"

    @property
    def weight_shape(self):
        return self.weight_init.shape

    def full(self, shape, value):
        """
        ``value`` broadcast to ``shape`` on this layer's device and dtype: a stride-0 view, so
        constant hyper-parameters cost no memory and closed-form KLs can compute their constant
        terms once (read-only; clone before writing).
        """
        return torch.tensor(float(value), device=self.weight_init.device, dtype=self.weight_init.dtype).expand(
            tuple(shape))

    def pretrained_rms(self, shape, power=1):
        """
        Root mean square of the pretrained weights over each group of ``shape`` (the whole layer
        when ``shape`` is the weight's own), floored at 1e-6 and raised to ``power``: a scale
        (``power=1``) or precision (``power=-2``) to start a prior's posterior at
        (``infer={"init": ...}``). Computed once per shape, power, device and dtype (priors ask
        for it at every model call).
        """
        shape = tuple(shape)
        w = self.weight_init
        key = (shape, power, w.device, w.dtype, w._version)
        cache = self.__dict__.setdefault("_rms_cache", {})
        if key not in cache:
            w2 = w * w
            if shape == tuple(self.weight_shape):
                value = w2.mean().sqrt().clamp_min(1e-6).pow(power).expand(shape)
            else:
                dims = [d for d, n in enumerate(shape) if n == 1]
                value = w2.mean(dims, keepdim=True).sqrt().clamp_min(1e-6).pow(power)
            for stale in [k for k in cache if k[2:] != key[2:]]:  # another device, dtype or version
                del cache[stale]
            cache[key] = value
        return cache[key]

    #: what ``group="auto"`` means for this layer type (Bayesian Compression's default)
    auto_group = None

    def group_shape(self, group):
        """
        The shape of a scale shared by a group of this layer's weights, broadcastable against the weight:
        one per weight (``None``), per input unit (``"in"``), per output unit or filter (``"out"``), one for
        the layer (``"layer"``), or Bayesian Compression's default (``"auto"``: :attr:`auto_group`).

        :raises ValueError: for a group outside :data:`GROUPS`.
        """
        check_group(group)
        shape = tuple(self.weight_shape)
        if group is None:
            return shape
        if group == "layer":
            return (1,) * len(shape)
        dim = UNIT_DIMS[self.auto_group if group == "auto" else group]
        return tuple(n if d == dim else 1 for d, n in enumerate(shape))

    def expand(self, value):
        """
        ``value`` of a group shape (:meth:`group_shape`), after any batch dimensions of vectorised
        particles, expanded to the weight shape: what a prior writes to broadcast a group scale over its
        weights (``scale = layer.expand(z)``).
        """
        k = len(self.weight_shape)
        return value.expand(value.shape[: value.dim() - k] + self.weight_shape)

    def op(self, x, weight, bias):
        """The layer's linear operation."""
        raise NotImplementedError

    def particle_op(self, x, weight, bias):
        """
        :meth:`op` for a batch of particles: ``x`` of shape ``(P, N, ...)``, ``weight`` of shape
        ``(P, *weight_shape)``, one shared ``bias``; returns ``(P, N, ...)``. Default: :meth:`op`
        vectorised over the particles by :func:`torch.func.vmap`.
        """
        return vmap(lambda xp, wp: self.op(xp, wp, bias))(x, weight)

    def sample_weight(self):
        """Run the prior; return the weight."""
        weight = self.prior(self.site_prefix, self)
        if not isinstance(weight, torch.Tensor) or weight.shape[-len(self.weight_shape) :] != self.weight_shape:
            got = tuple(weight.shape) if isinstance(weight, torch.Tensor) else type(weight).__name__
            raise ValueError(
                f"Expected prior {self.prior!r} to return a weight of shape {tuple(self.weight_shape)} "
                f"for layer {self.site_prefix!r} but got {got}"
            )
        return weight

    def forward(self, x):
        trace = poutine.trace(self.sample_weight).get_trace()
        weight = trace.nodes["_RETURN"]["value"]
        moments = gaussian_posterior(trace.nodes.get(self.weight_site)) if self.local_reparam else None
        particles = weight.shape[: weight.dim() - len(self.weight_shape)]
        folded = particles.numel() > 1
        op = self.particle_op if folded else self.op
        if folded:  # vectorised particles, folded into the data batch (see ParticleFold)
            x = ParticleFold.current(self).unfold(x, particles)
            weight = weight.reshape((-1,) + self.weight_shape)
            moments = None if moments is None else [m.expand(particles + self.weight_shape).reshape(weight.shape)
                                                    for m in moments]
        if moments is None:
            out = op(x, weight, self.bias)
        else:
            loc, scale = moments
            mean = op(x, loc, self.bias)
            var = op(x.pow(2), scale.pow(2), None)
            out = mean + var.clamp_min(torch.finfo(var.dtype).tiny).sqrt() * torch.randn_like(mean)
        return out.flatten(0, 1) if folded else out


class ParticleFold:
    """
    How :class:`~pyrocomp.nn.BayesianNetwork` carries vectorised particles (``vectorize_particles=True`` in Pyro's
    ELBOs) through a plain network: the weights of each layer carry the particle dimensions in front, while the
    activations between layers keep the layout plain modules (pooling, ``Flatten``, BatchNorm) expect, with the
    ``P`` particles folded into the batch dimension, ``(P * N, ...)``. The network opens a fold for each forward
    pass; the first layer with particles expands its input to every particle, and the network unfolds its
    output to ``(*particles, N, ...)`` in the batch dimensions of Pyro's plates.
    """

    _active = []

    def __init__(self, batch_size):
        self.batch_size, self.particles = batch_size, None

    def __enter__(self):
        ParticleFold._active.append(self)
        return self

    def __exit__(self, *exc):
        ParticleFold._active.pop()

    @classmethod
    def current(cls, layer):
        if not cls._active:
            raise RuntimeError(f"Layer {layer.site_prefix!r} got weights with particle dimensions outside a "
                               "BayesianNetwork's forward pass")
        return cls._active[-1]

    def unfold(self, x, particles):
        """``x`` of shape ``(N, ...)`` or ``(P * N, ...)`` as ``(P, N, ...)``."""
        if self.particles is not None and self.particles != particles:
            raise ValueError(f"Expected every layer to have the particle dimensions {tuple(self.particles)} but got "
                             f"{tuple(particles)}")
        self.particles = particles
        p, n = particles.numel(), self.batch_size
        if x.shape[0] == n:
            return x.unsqueeze(0).expand((p,) + x.shape)
        if x.shape[0] == p * n:
            return x.unflatten(0, (p, n))
        raise ValueError(f"Expected an input batch of {n} or {p} x {n} rows but got {x.shape[0]}")

    def output(self, out):
        """The network's output ``(P * N, ...)`` as ``(*particles, N, ...)``, the particles in the plate
        dimensions left of the data plate's."""
        if self.particles is None:
            return out
        if self.particles[-1] != 1:
            raise ValueError(f"Expected weights outside the data plate (particle dimensions ending in 1) but got "
                             f"{tuple(self.particles)}")
        return out.reshape(self.particles[:-1] + (self.batch_size,) + out.shape[1:])


@register_layer(nn.Linear)
class BayesianLinear(BayesianLayer):
    """Bayesian :class:`torch.nn.Linear`; weight shape ``(out_features, in_features)``; ``"auto"`` groups are
    input features."""

    auto_group = "in"

    def __init__(self, module, prior, name):
        super().__init__(module, prior, name)
        self.in_features, self.out_features = module.in_features, module.out_features

    def op(self, x, weight, bias):
        return F.linear(x, weight, bias)


@register_layer(nn.Conv2d)
class BayesianConv2d(BayesianLayer):
    """Bayesian :class:`torch.nn.Conv2d`; weight shape ``(out, in / groups, kh, kw)``; ``"auto"`` groups are
    filters."""

    auto_group = "out"

    def __init__(self, module, prior, name):
        if module.padding_mode != "zeros":
            raise ValueError(f"Expected padding_mode 'zeros' for layer {name!r} but got {module.padding_mode!r}")
        super().__init__(module, prior, name)
        self.in_channels, self.out_channels = module.in_channels, module.out_channels
        self.stride, self.padding, self.dilation, self.groups = module.stride, module.padding, module.dilation, module.groups

    def op(self, x, weight, bias):
        return F.conv2d(x, weight, bias, self.stride, self.padding, self.dilation, self.groups)
