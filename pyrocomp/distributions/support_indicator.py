from pyro.distributions import Bernoulli


class SupportIndicator(Bernoulli):
    r"""
    The support indicator :math:`s_n \in \{0, 1\}` of a weight (paper 001 eq. (1)): a Bernoulli whose
    posterior is fitted in closed form (Module A of Turbo-VBI, :class:`~pyrocomp.infer.SparseVBI`), not by
    SVI, so the guide gives it :class:`~pyrocomp.guides.ClosedFormBernoulli`. A plain ``Bernoulli`` site has
    no posterior family: marginalise it in the prior, or declare it with this type and fit it in closed form.
    """

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(SupportIndicator, _instance)
        return super().expand(batch_shape, _instance=new)
