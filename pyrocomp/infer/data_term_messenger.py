import torch
from pyro.distributions.util import scale_and_mask
from pyro.poutine.messenger import Messenger
from pyro.poutine.util import site_is_subsample


class DataTermMessenger(Messenger):
    r"""
    Records the data term of an ELBO while the ELBO runs: the sum over observed sites of
    :math:`-\ln p(y \mid \cdot)`, with the plates' scales and masks, as the ELBO scores them. Run around
    ``elbo.differentiable_loss`` (or ``loss``), :attr:`nll` divided by the ELBO's ``num_particles`` is the
    :math:`-E_q \ln p(\mathcal D \mid w)` of that loss, so that

    .. math:: \mathrm{loss} = \mathrm{nll} + \beta\, \mathrm{KL}

    splits any of pyrocomp's ELBOs (or Pyro's) into its data term and its KL weighed by the model's
    ``kl_scale`` :math:`\beta`, without touching the ELBO. The values are detached; nothing is synchronised
    with the device.

    Example::

        with DataTermMessenger() as data_term:
            loss = elbo.differentiable_loss(model, guide, x, y)
        nll = data_term.nll / elbo.num_particles
    """

    def __init__(self):
        super().__init__()
        self.nll = torch.zeros(())

    def __enter__(self):
        self.nll = torch.zeros(())
        return super().__enter__()

    def _pyro_post_sample(self, msg):
        if msg["type"] != "sample" or not msg["is_observed"] or site_is_subsample(msg):
            return
        if msg["infer"].get("is_auxiliary"):
            return
        log_prob = scale_and_mask(msg["fn"].log_prob(msg["value"]).detach(), msg["scale"], msg["mask"])
        self.nll = self.nll.to(log_prob.device) - log_prob.sum()
