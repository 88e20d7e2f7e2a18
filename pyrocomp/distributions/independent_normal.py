from pyro.distributions import Normal


class IndependentNormal(Normal):
    r"""
    A Gaussian prior :math:`\mathcal{N}(m, s^2)` whose posterior is taken independent of the upstream sites
    that set :math:`m, s`: paper 001's mean-field :math:`q(w) = \mathcal{N}(\mu, \sigma^2)` for weights under
    the precisions :math:`\rho` (eq. (19)), which its closed-form updates read. The guide gives it
    :class:`~pyrocomp.guides.MeanFieldNormal` (a plain ``Normal`` prior gets Bayesian Compression's
    multiplicative posterior instead).
    """

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(IndependentNormal, _instance)
        return super().expand(batch_shape, _instance=new)
