import torch
from pyro.distributions import Categorical, Normal, TorchDistribution
from torch.distributions import constraints

from pyrocomp.util import group_dims



class GroupNormalMixture(TorchDistribution):
    r"""
    A weight tensor whose groups each draw their Gaussian scale from one of :math:`K` components, the
    component shared by the group's weights (paper 000 §III-A with group sparsity, §III-B):

    .. math::

        p(\mathbf w \mid \mathbf z, \boldsymbol\pi) = \prod_g \sum_k \pi_{gk}
        \prod_{i \in g} \mathcal N(w_i \mid 0, z_{k,i}^2).

    With every component's scale drawn from its own prior, :math:`z_k \sim p_k`, the marginal of a
    group's weights is the mixture :math:`\sum_k \pi_k \int \prod_i \mathcal N(w_i \mid 0, z^2)\,
    p_k(z)\,dz` of paper 000 eq. (5), the same as with one scale drawn from the mixture
    (:class:`ScaleMixture`); the difference is in the variational posterior, which then has a scale
    per component, each fitted under its own prior. The KL from a mean-field Gaussian posterior is in
    :mod:`pyrocomp.distributions.kl`.

    The whole tensor is one event (batch shape ``()``).

    :param torch.Tensor mixing_weights: :math:`\boldsymbol\pi`, shape ``group_shape + (K,)``, rows on the simplex.
    :param torch.Tensor scales: :math:`z_k` broadcast to the weights, shape ``(K,) + weight_shape``.
    :param torch.Tensor global_scale: ``None`` or a factor :math:`\tau` common to every component, broadcastable
        to the weights: the weights' scales are then :math:`\tau z_k` (``scales``, the attribute, holds them).
    :param torch.Tensor offsets: ``None`` or log-weights added to :math:`\ln\pi_{gk}` inside the
        log-sum-exp, shape ``(K,) + group_shape``: :class:`~pyrocomp.infer.MixtureMeanField_ELBO` passes
        :math:`-\mathrm{KL}(q_k(z_{gk}) \,\|\, p_k(z_{gk}))` there, each component's scale evidence.
    :param tuple component_sites: ``None`` or the names of the :math:`K` sample sites of the components'
        scales, for :class:`~pyrocomp.infer.MixtureMeanField_ELBO`.
    """

    arg_constraints = {"mixing_weights": constraints.simplex, "scales": constraints.positive}
    has_rsample = False

    def __init__(self, mixing_weights, scales, global_scale=None, offsets=None, component_sites=None,
                 validate_args=None):
        if not isinstance(mixing_weights, torch.Tensor) or not isinstance(scales, torch.Tensor):
            raise TypeError("Expected tensors for mixing_weights and scales")
        if scales.dim() < 1 or mixing_weights.dim() < 1 or scales.shape[0] != mixing_weights.shape[-1]:
            raise ValueError(f"Expected scales of shape (K,) + weight shape with K = {mixing_weights.shape[-1]} "
                             f"components but got scales of shape {tuple(scales.shape)}")
        weight_shape = scales.shape[1:]
        group_shape = mixing_weights.shape[:-1]
        group_shape = torch.Size((1,) * (len(weight_shape) - len(group_shape)) + tuple(group_shape))
        if len(group_shape) > len(weight_shape) or any(g not in (1, n) for g, n in zip(group_shape, weight_shape)):
            raise ValueError(f"Expected mixing weights of a group shape broadcastable to {tuple(weight_shape)} "
                             f"but got {tuple(mixing_weights.shape)}")
        self.mixing_weights, self.group_shape = mixing_weights, group_shape
        self.local_scales, self.global_scale = scales, global_scale
        self.scales = scales if global_scale is None else global_scale * scales
        if offsets is not None and offsets.shape != scales.shape[:1] + group_shape:
            raise ValueError(f"Expected offsets of shape {tuple(scales.shape[:1] + group_shape)} but got {tuple(offsets.shape)}")
        self.offsets = offsets
        if component_sites is not None and len(component_sites) != scales.shape[0]:
            raise ValueError(f"Expected {scales.shape[0]} component sites but got {component_sites!r}")
        self.component_sites = None if component_sites is None else tuple(component_sites)
        self._dims = group_dims(weight_shape, group_shape)
        super().__init__(torch.Size(), weight_shape, validate_args=validate_args)

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        return constraints.independent(constraints.real, len(self.event_shape))

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(GroupNormalMixture, _instance)
        new.__dict__.update({k: v for k, v in self.__dict__.items() if k not in ("_batch_shape", "_event_shape")})
        super(GroupNormalMixture, new).__init__(torch.Size(batch_shape), self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def mean(self):
        return self.scales.new_zeros(()).expand(self.batch_shape + self.event_shape)

    @property
    def variance(self):
        r""":math:`\sum_k \pi_{gk} z_{k,i}^2`."""
        return (self.log_mixing_weights().exp() * self.scales.pow(2)).sum(0).expand(self.batch_shape + self.event_shape)

    def log_mixing_weights(self):
        r""":math:`\ln\pi` with the components first, shape ``(K,) + group shape``."""
        log_pi = self.mixing_weights.clamp_min(torch.finfo(self.scales.dtype).tiny).log()
        return log_pi.movedim(-1, 0).reshape((-1,) + tuple(self.group_shape))

    def with_offsets(self, offsets):
        """The same mixture with ``offsets`` (see above)."""
        return GroupNormalMixture(self.mixing_weights, self.local_scales, self.global_scale, offsets,
                                  self.component_sites, validate_args=False).expand(self.batch_shape)

    def group_sum(self, x):
        r"""Sum ``x`` (shape ``(..., K) + weight shape``) over each group's weights."""
        n = len(self.event_shape)
        dims = tuple(d - n for d in self._dims)
        return x.sum(dims, keepdim=True) if dims else x

    def group_log_prob(self, log_normal):
        r""":math:`\sum_g \ln \sum_k \pi_{gk} \exp \sum_{i \in g} \ell_{k,i}` of per-weight, per-component
        terms ``log_normal`` (shape ``(..., K) + weight shape``)."""
        n = len(self.event_shape)
        joint = self.log_mixing_weights() + self.group_sum(log_normal)
        if self.offsets is not None:
            joint = joint + self.offsets
        return torch.logsumexp(joint, -n - 1).sum(tuple(range(-n, 0)))

    def log_prob(self, value):
        value = value.unsqueeze(-len(self.event_shape) - 1)
        lp = self.group_log_prob(Normal(torch.zeros((), dtype=value.dtype, device=value.device), self.scales).log_prob(value))
        return lp.expand(torch.broadcast_shapes(lp.shape, self.batch_shape))

    def sample(self, sample_shape=torch.Size()):
        with torch.no_grad():
            sample_shape = torch.Size(sample_shape) + self.batch_shape
            shape, K = sample_shape + self.event_shape, self.scales.shape[0]
            pi = self.mixing_weights.expand(sample_shape + tuple(self.group_shape) + (K,))
            k = Categorical(pi).sample().expand(shape)
            scales = self.scales.reshape((K,) + (1,) * len(sample_shape) + self.event_shape).expand((K,) + shape)
            scale = scales.gather(0, k.unsqueeze(0)).squeeze(0)
            return torch.randn_like(scale) * scale
