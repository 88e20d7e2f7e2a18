from abc import ABC, abstractmethod

import pyro.distributions as dist


def centred_normal(scale):
    r""":math:`\mathcal{N}(0, \text{scale}^2)` with its zero mean as a broadcast scalar, which
    closed-form KL terms recognise and skip."""
    return dist.Normal(scale.new_zeros(()).expand(scale.shape), scale)


class Prior(ABC):
    r"""
    Base class of sparsity priors. A prior is Pyro code: its one method issues the
    ``pyro.sample`` statements for one layer's weight (and its scales or other
    hyper-parameters) and returns the weight.

    Site names start with the layer's module path ``name`` (``features.0.weight``,
    ``features.0.scale``, ...). Sites must declare their full shape as event dimensions
    (``.to_event()``), and group scales should have a shape that broadcasts against the
    weight, which :meth:`~pyrocomp.nn.BayesianLayer.group_shape` provides. A site may carry
    ``infer={"init": value}`` to tell guides where to start.

    A user-declared group Student-t prior::

        class GroupStudentT(Prior):
            def __call__(self, name, layer):
                shape = layer.group_shape("in")
                precision = pyro.sample(f"{name}.precision",
                                        dist.Gamma(layer.full(shape, 1.5), layer.full(shape, 1.5 * 0.01)).to_event(len(shape)))
                scale = layer.expand(precision.rsqrt())
                return pyro.sample(f"{name}.weight",
                                   centred_normal(scale).to_event(len(layer.weight_shape)))

    Any callable ``prior(name, layer) -> weight`` is a prior for
    :class:`~pyrocomp.nn.BayesianNetwork`; this base class adds :meth:`setup`, a ``repr`` and a
    command-line name. How a prior is fitted and pruned is not its job: see
    :func:`~pyrocomp.infer.register_default_elbo`, :func:`~pyrocomp.infer.register_fit_hook` and
    :func:`~pyrocomp.pruning.register_criterion`.
    """

    #: short name used on the command line, set by :func:`register_prior`
    name = None

    @abstractmethod
    def __call__(self, name, layer):
        """
        :param str name: the layer's module path, the prefix of every site name.
        :param layer: the :class:`~pyrocomp.nn.BayesianLayer` whose weight is sampled.
        :returns: the sampled weight, of shape ``layer.weight_shape``.
        :rtype: torch.Tensor
        """
        raise NotImplementedError

    def setup(self, name, layer):
        """
        Called once when ``layer`` is made Bayesian with this prior, before any site is sampled:
        a prior that keeps per-layer state (e.g. the support prior probabilities that belief
        propagation updates) registers it here as buffers of ``layer``. Default: nothing.
        """

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


#: command-line name -> :class:`Prior` subclass; fill with :func:`register_prior`
PRIORS = {}


def register_prior(name):
    """
    Class decorator registering a :class:`Prior` under a command-line name.

    :param str name: e.g. ``"group-nj"``.
    """

    def decorator(cls):
        if not (isinstance(cls, type) and issubclass(cls, Prior)):
            raise TypeError(f"Expected a Prior subclass but got {cls!r}")
        cls.name = name
        PRIORS[name] = cls
        return cls

    return decorator


def get_prior(name, **kwargs):
    """Instantiate the registered prior called ``name``."""
    if name not in PRIORS:
        raise ValueError(f"Unknown prior {name!r}; expected one of {sorted(PRIORS)}")
    return PRIORS[name](**kwargs)
