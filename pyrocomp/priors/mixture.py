import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from torch import nn

from pyro.distributions import TransformedDistribution
from torch.distributions.transforms import PowerTransform

from pyrocomp.distributions import GroupNormalMixture, ProductScale, Rayleigh, ScaleMixture
from pyrocomp.mrf.layout import from_grid, to_grid
from pyrocomp.nn import check_group
from pyrocomp.util import finite, positive

from .prior import Prior, centred_normal, register_prior

#: scale-mixture components: name -> ``f(unit) -> distribution of the scale z``, ``unit`` the
#: layer's pretrained RMS weight; extend with :func:`register_component`.
COMPONENTS = {}
#: the same components in auxiliary form: name -> ``f(like) ->`` :class:`~pyrocomp.distributions.ProductScale`
#: of the pair :math:`(a, b)` with :math:`(z / \text{unit})^2 = a b`, of the shape of the tensor ``like``;
#: extend with ``register_component(name, auxiliary=True)``.
AUXILIARY_COMPONENTS = {}


def register_component(name, auxiliary=False):
    """
    Decorator registering a scale-mixture component for :class:`MixturePrior`: ``f(unit) ->``
    the distribution of the scale, or with ``auxiliary=True`` ``f(like) ->`` the
    :class:`~pyrocomp.distributions.ProductScale` of its auxiliary pair in units of 1.
    """

    def decorator(fn):
        (AUXILIARY_COMPONENTS if auxiliary else COMPONENTS)[name] = fn
        return fn

    return decorator


@register_component("horseshoe")
def horseshoe(unit):
    r"""Horseshoe: :math:`z \sim \mathrm{C}^+(0, \text{unit})`."""
    return dist.HalfCauchy(unit)


@register_component("laplace")
def laplace(unit):
    r"""Laplace: :math:`z^2 \sim \mathrm{Exp}(1 / 2\,\text{unit}^2)`, i.e. :math:`w` marginally Laplace."""
    return Rayleigh(unit)


@register_component("normal-jeffreys")
def normal_jeffreys(unit, eps=1e-2):
    r"""
    Normal-Jeffreys made proper: :math:`z^{-2} \sim \mathrm{Gamma}(\epsilon, \epsilon\,\text{unit}^2)`,
    whose density tends to :math:`p(z) \propto 1/z` as :math:`\epsilon \to 0` (the vague-Gamma
    limit of automatic relevance determination); :math:`w` is then marginally Student-t with
    :math:`2\epsilon` degrees of freedom. An improper component has no normalising constant to weigh
    against the others, and a truncated one gives zero density to scales outside its range.
    """
    return TransformedDistribution(dist.Gamma(torch.full_like(unit, eps), eps * unit.pow(2)),
                                   [PowerTransform(torch.tensor(-0.5, dtype=unit.dtype, device=unit.device))])


@register_component("horseshoe", auxiliary=True)
def horseshoe_auxiliary(like):
    r"""Horseshoe: :math:`a \sim \mathrm{Gamma}(\tfrac12, 1)`, :math:`b \sim \mathrm{InvGamma}(\tfrac12, 1)`,
    so that :math:`\sqrt{ab} \sim \mathrm{C}^+(0, 1)` (Bayesian Compression's decomposition)."""
    half, one = torch.full_like(like, 0.5), torch.ones_like(like)
    gamma = dist.Gamma(half, one)
    return ProductScale(dist.InverseGamma(half, one), lambda b: gamma)


@register_component("laplace", auxiliary=True)
def laplace_auxiliary(like):
    r"""Laplace: :math:`b \sim \mathrm{InvGamma}(\tfrac12, 1)` and :math:`a \mid b \sim \mathrm{Exp}(b / 2)`, so
    that :math:`ab \sim \mathrm{Exp}(\tfrac12)` whatever :math:`b`: the scale is exactly the Rayleigh of
    :func:`laplace` (unit 1), and :math:`a` has an exponential tail as in the other components."""
    half, one = torch.full_like(like, 0.5), torch.ones_like(like)
    return ProductScale(dist.InverseGamma(half, one), lambda b: dist.Exponential(b / 2))


@register_component("normal-jeffreys", auxiliary=True)
def normal_jeffreys_auxiliary(like, eps=1e-2):
    r"""
    Normal-Jeffreys: :math:`a \sim \mathrm{Gamma}(\epsilon, 1)`, :math:`b \sim \mathrm{InvGamma}(\epsilon, 1)`,
    so that :math:`z^2 = ab` is beta-prime :math:`(\epsilon, \epsilon)`,
    :math:`p(z) \propto z^{2\epsilon - 1} (1 + z^2)^{-2\epsilon}`, which tends to :math:`1/z` as
    :math:`\epsilon \to 0` (Armagan, Dunson and Clyde 2011: the normal-Jeffreys member of the
    generalised beta mixtures of Gaussians).
    """
    eps, one = torch.full_like(like, eps), torch.ones_like(like)
    gamma = dist.Gamma(eps, one)
    return ProductScale(dist.InverseGamma(eps, one), lambda b: gamma)


def _sample_pair(site, fn, start):
    r"""Sample the auxiliary pair site ``site`` of prior ``fn`` (batch shape ``start.shape``), which the guide
    starts at :math:`a = \text{start}^2, b = 1`; return :math:`\sqrt{ab}`."""
    init = torch.stack([start.pow(2), torch.ones_like(start)], -1)
    return pyro.sample(site, fn.to_event(start.dim()), infer={"init": init}).prod(-1).sqrt()


@register_prior("mixture")
class MixturePrior(Prior):
    r"""
    The mixture prior of paper 000 (§III-A): a group's Gaussian scale comes from a finite
    mixture of scale-mixture-of-normals components — horseshoe, Laplace and normal-Jeffreys by
    default — with Dirichlet mixing weights,

    .. math::

        \boldsymbol\pi_l \sim \mathrm{Dir}(\boldsymbol\alpha_l), \qquad
        z_g \mid \boldsymbol\pi_l \sim \sum_k \pi_{lk}\, p_k(z_g), \qquad
        w_{ij} \mid z \sim \mathcal{N}(0, z_{g(ij)}^2).

    Sites: ``{name}.mixing_weights`` (one Dirichlet per layer) and ``{name}.scale`` (one per
    group); the weight is ``{name}.weight``. The component of each group is marginalised in
    closed form (:class:`~pyrocomp.distributions.ScaleMixture`: a log-sum-exp, exact);
    the enumerable form (the component a discrete site) is the tests' oracle: they check
    the two agree under :class:`~pyro.infer.TraceEnum_ELBO`. The concentrations
    :math:`\boldsymbol\alpha_l` are layer parameters learned by type-II maximum likelihood
    (they maximise the ELBO through :math:`-\mathrm{KL}(q(\boldsymbol\pi) \,\|\, \mathrm{Dir}(\boldsymbol\alpha))`);
    ``learn_concentration=False`` keeps them fixed. Component scales are in units of the layer's
    pretrained RMS weight. The guide gets a Dirichlet posterior for the mixing weights
    (:class:`~pyrocomp.guides.DirichletPosterior`) and log-normals for the scales;
    :func:`~pyrocomp.pruning.mixing_weights` reports which prior each layer chose.

    **Group sparsity** (000 §III-B): ``group="in"`` shares a scale per input neuron / input
    feature map, ``"out"`` per output neuron / feature map, ``"layer"`` one per layer, ``None``
    one per weight.

    **Block sparsity** (000 §III-B): ``block=BlockCoupling((h, w), ...)`` couples each weight's precision to
    its neighbours' (:class:`BlockCoupling`). It needs per-weight scales (``group=None``).

    **Global scale**: with ``tau0`` set, every weight's scale is :math:`\tau z_g`, with one
    :math:`\tau \sim \mathrm{C}^+(0, \tau_0)` per layer (site ``{name}.global_scale``, in units of
    the layer's pretrained RMS) and the components in units of :math:`\tau` — the global-local form of
    Bayesian Compression's group horseshoe (Louizos et al. 2017, §3.2), which lets the data shrink a
    whole layer's groups together.

    **Forms**: this class draws one scale per group from the mixture, each with a log-normal posterior;
    :class:`AuxiliaryMixturePrior` writes every component through a pair of auxiliary variables, and
    :class:`PerComponentMixturePrior` gives every group one scale per component.

    :param components: names in :attr:`registry` (:data:`COMPONENTS`).
    :param group: ``"in"``, ``"out"``, ``"layer"`` or ``None``.
    :param float concentration: initial Dirichlet concentration of every component.
    :param bool learn_concentration: learn :math:`\alpha` by type-II maximum likelihood.
    :param BlockCoupling block: ``None`` or the block coupling.
    :param float tau0: scale of the global half-Cauchy (``None``: no global scale).
    :param float threshold: log dropout-rate threshold of the marginal weight posterior.
    """

    #: the components this form draws from
    registry = COMPONENTS

    def __init__(self, components=("horseshoe", "laplace", "normal-jeffreys"), group="in", concentration=1.0,
                 learn_concentration=True, block=None, threshold=3.0, tau0=None):
        components = tuple(components)
        unknown = [c for c in components if c not in self.registry]
        if not components or unknown:
            raise ValueError(f"Expected components of {type(self).__name__} among {sorted(self.registry)} but got "
                             f"{list(components)}")
        check_group(group, ("in", "out", "layer", None))
        if block is not None:
            if not isinstance(block, BlockCoupling):
                raise TypeError(f"Expected block to be a BlockCoupling but got {block!r}")
            if group is not None:
                raise ValueError(f"Block sparsity couples per-weight scales: expected group=None with block={block!r}")
        self.components, self.group, self.block = components, group, block
        self.concentration = positive("concentration", concentration)
        self.learn_concentration = bool(learn_concentration)
        self.threshold = finite("threshold", threshold)
        self.tau0 = None if tau0 is None else positive("tau0", tau0)

    def setup(self, name, layer):
        log_alpha = torch.full((len(self.components),), float(self.concentration), dtype=layer.weight_init.dtype).log()
        if self.learn_concentration:
            layer.mixture_log_concentration = nn.Parameter(log_alpha)
        else:
            layer.register_buffer("mixture_log_concentration", log_alpha)

    def scale_shape(self, layer):
        return layer.group_shape(self.group)

    def __call__(self, name, layer):
        shape = self.scale_shape(layer)
        alpha = layer.mixture_log_concentration.exp()
        pi = pyro.sample(f"{name}.mixing_weights", dist.Dirichlet(alpha))
        unit = layer.pretrained_rms(layer.weight_shape).reshape(-1)[0].detach()
        init = layer.pretrained_rms(shape).expand(shape)
        tau = None
        if self.tau0 is not None:
            tau_scale = self.tau0 * unit.expand((1,) * len(shape))
            tau = self.global_scale(f"{name}.global_scale", tau_scale)
            # local scales in units of tau, starting where tau * z is the pretrained RMS: with a small
            # tau0 they start in the components' tails, which pull the irrelevant groups down
            init, unit = init / tau_scale, torch.ones_like(unit)
        batch = pi.shape[:-1]  # vectorised particles
        pi = pi.reshape(batch + (1,) * len(shape) + pi.shape[-1:]).expand(batch + shape + pi.shape[-1:])
        weight = self.weight(name, layer, pi, unit, init, tau)
        if self.block is not None:
            self.block.factor(name, weight, layer)
        return weight

    def global_scale(self, site, tau_scale):
        r"""The layer's :math:`\tau \sim \mathrm{C}^+(0, \tau_0 u)`, started at :math:`\tau_0 u`."""
        return pyro.sample(site, dist.HalfCauchy(tau_scale).to_event(tau_scale.dim()), infer={"init": tau_scale})

    def weight(self, name, layer, pi, unit, init, tau):
        """Sample the group scales and the weight; ``pi`` broadcast to the groups, the components in units
        ``unit``, the scales started at ``init``, ``tau`` the global scale or ``None``."""
        components = [self.registry[c](unit.expand(init.shape)) for c in self.components]
        z = pyro.sample(f"{name}.scale", ScaleMixture(pi, components).to_event(init.dim()), infer={"init": init})
        return self._gaussian_weight(name, z if tau is None else tau * z, layer)

    def _gaussian_weight(self, name, z, layer):
        scale = self._weight_scale(z, layer)
        return pyro.sample(f"{name}.weight", centred_normal(scale).to_event(len(layer.weight_shape)))

    def _weight_scale(self, z, layer):
        """The group scale ``z`` broadcast to the weights, pattern-coupled with ``block``."""
        return layer.expand(z) if self.block is None else self.block.scale(z, layer)


class AuxiliaryMixturePrior(MixturePrior):
    r"""
    :class:`MixturePrior` in auxiliary form.

    Every component is written through two positive
    auxiliary variables whose product is the squared scale, :math:`(z / u)^2 = a b`
    (:data:`AUXILIARY_COMPONENTS`, :class:`~pyrocomp.distributions.ProductScale`), the site
    ``{name}.scale`` holds the pairs :math:`(a, b)` (a last dimension of size 2), each with a
    log-normal posterior, and the mixture is over their joint density — the form Bayesian
    Compression gives its group horseshoe, extended to every component as in the generalised beta
    mixtures of Gaussians (Armagan, Dunson and Clyde, NIPS 2011); the global scale is then the
    horseshoe's pair too, :math:`\tau = \tau_0 u \sqrt{a_\tau b_\tau}`. Every component has a factor
    :math:`a` with an exponential tail; started deep in it (a small ``tau0``), every group's scale is
    pulled down and only those the likelihood holds up grow back, which on the benchmark networks removes
    whole units (``benchmarks/results/notes/mixture.md``).

    :param components: names in :data:`AUXILIARY_COMPONENTS`; the rest as :class:`MixturePrior`.
    """

    registry = AUXILIARY_COMPONENTS

    def global_scale(self, site, tau_scale):
        """:math:`\\tau / \\tau_0 u = \\sqrt{ab}`, the horseshoe's pair, started at :math:`a = b = 1`."""
        one = torch.ones_like(tau_scale)
        return tau_scale * _sample_pair(site, horseshoe_auxiliary(one), one)

    def weight(self, name, layer, pi, unit, init, tau):
        components = [self.registry[c](init) for c in self.components]
        z = unit * _sample_pair(f"{name}.scale", ScaleMixture(pi, components), init / unit)
        return self._gaussian_weight(name, z if tau is None else tau * z, layer)


class PerComponentMixturePrior(MixturePrior):
    r"""
    :class:`MixturePrior` with one scale per group and component.

    Every group has one scale per component,
    :math:`z_{gk} \sim p_k` (sites ``{name}.{component}_scale``, log-normal posteriors), and the group's
    component picks which of them its weights use,
    :math:`\mathbf w_g \mid \mathbf z_g \sim \sum_k \pi_k \prod_{i \in g} \mathcal N(w_i \mid 0, z_{gk}^2)`
    (:class:`~pyrocomp.distributions.GroupNormalMixture`; the weights get a mean-field Gaussian posterior).
    The marginal prior of the weights is the same mixture. The fit is
    :class:`~pyrocomp.infer.MixtureMeanField_ELBO`'s (:func:`~pyrocomp.infer.fit`'s default): a component's
    scale keeps its prior unless the group chooses that component, so each group weighs every component
    at that component's own fit, its ELBO with the scale's KL, rather than every component's density at
    one shared scale, where the start of the fit can decide (``benchmarks/results/notes/mixture.md``). It has no auxiliary
    form: the mean-field gap of the auxiliary pairs differs by component and would bias the comparison.

    :param components: names in :data:`COMPONENTS`; the rest as :class:`MixturePrior`.
    """

    def weight(self, name, layer, pi, unit, init, tau):
        _refuse_particles(self, pi.shape[: pi.dim() - len(init.shape) - 1])
        sites = [f"{name}.{c}_scale" for c in self.components]
        z = [self._weight_scale(pyro.sample(site, self.registry[c](unit.expand(init.shape)).to_event(init.dim()),
                                            infer={"init": init}), layer)
             for site, c in zip(sites, self.components)]  # K components, not weights
        return pyro.sample(f"{name}.weight", GroupNormalMixture(pi, torch.stack(z), tau, component_sites=sites))


def _refuse_particles(form, batch):
    if batch.numel() > 1:
        raise NotImplementedError(f"{type(form).__name__} draws one weight tensor at a time and has no batch "
                                  f"dimensions for vectorised particles (got {tuple(batch)}); use "
                                  "vectorize_particles=False")


class BlockCoupling:
    r"""
    Block sparsity for :class:`MixturePrior` (000 §III-B): each weight's precision is coupled to those of
    its neighbours in an ``h × w`` window on the support grid (:mod:`pyrocomp.mrf.layout`), the
    pattern-coupled sparse Bayesian learning of Fang, Shen, Li and Li (IEEE TSP 2015):
    :math:`w_i \sim \mathcal{N}(0, (\alpha_i + \beta \sum_{j \in \mathcal{N}(i)} \alpha_j)^{-1})`,
    :math:`\alpha_i = z_i^{-2}` — blocks of equal size, unknown position, overlapping. ``variance=γ`` adds
    the block-variance term as a factor :math:`-\gamma\, H(\mathbf{e})`, the entropy of the share of weight
    energy :math:`e_b \propto \sum_{i \in b} w_i^2` of the non-overlapping blocks, which favours energy
    concentrated in few blocks (a skewed distribution over blocks).

    :param tuple block: ``(h, w)``.
    :param float coupling: :math:`\beta`.
    :param float variance: :math:`\gamma` (0: off).
    """

    def __init__(self, block, coupling=0.3, variance=0.0):
        if len(tuple(block)) != 2 or not all(isinstance(b, int) and b > 0 for b in block):
            raise ValueError(f"Expected block to be a pair of positive ints but got {block!r}")
        self.block = tuple(block)
        self.coupling = positive("coupling", coupling)
        if not variance >= 0:
            raise ValueError(f"Expected variance >= 0 but got {variance}")
        self.variance = float(variance)

    def __repr__(self):
        return f"BlockCoupling({self.block!r}, coupling={self.coupling!r}, variance={self.variance!r})"

    def scale(self, z, layer):
        """Pattern-coupled scale: precision :math:`\\alpha_i + \\beta\\sum_{j \\in N(i)} \\alpha_j` on the grid."""
        _refuse_particles(self, z.shape[: z.dim() - len(layer.weight_shape)])
        h, w = self.block
        precision = to_grid(z.pow(-2))
        window = F.conv2d(precision[None, None], torch.ones(1, 1, h, w, dtype=z.dtype, device=z.device),
                          padding=(h // 2, w // 2))[0, 0, : precision.shape[0], : precision.shape[1]]
        coupled = precision + self.coupling * (window - precision)
        return from_grid(coupled, layer.weight_shape).rsqrt()

    def factor(self, name, weight, layer):
        """The block-variance factor ``{name}.block_variance``, when ``variance`` > 0."""
        if self.variance > 0:
            pyro.factor(f"{name}.block_variance", -self.variance * self._entropy(weight))

    def _entropy(self, weight):
        h, w = self.block
        energy = F.avg_pool2d(to_grid(weight).pow(2)[None, None], (h, w), ceil_mode=True).reshape(-1)
        share = energy / energy.sum().clamp_min(torch.finfo(energy.dtype).tiny)
        return -(torch.xlogy(share, share)).sum()
