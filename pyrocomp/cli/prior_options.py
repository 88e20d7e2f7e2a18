"""
The command-line options of each prior of ``pyrocomp compress``: a registry of :class:`PriorOptions`, one per
prior name. A prior without an entry takes the common ``--threshold`` only; a prior of your own gets options
by registering a subclass::

    @register_prior_options("group-t")
    class GroupStudentTOptions(PriorOptions):
        def add_arguments(self, group):
            group.add_argument("--dof", type=float, default=3.0)

        def build(self, args, steps_per_epoch=1, **common):
            return GroupStudentT(dof=args.dof, **common)
"""
from pyrocomp.infer import TurboSchedule
from pyrocomp.mrf import get_support
from pyrocomp.priors import (COMPONENTS, AuxiliaryMixturePrior, BlockCoupling, MixturePrior, PerComponentMixturePrior,
                             TurboPrior, get_prior)

from .arguments import choice, non_negative_int, positive_float, positive_int


class PriorOptions:
    """
    Base class: the options of one prior, added to their own argument group, and the prior built from them.

    :param str name: the prior's command-line name (:func:`~pyrocomp.priors.register_prior`).
    """

    #: the argument group's description (``None``: the options have no group of their own)
    description = None

    def __init__(self, name):
        self.name = name

    def add_arguments(self, group):
        """Add this prior's options to the argparse ``group``."""

    def build(self, args, steps_per_epoch=1, **common):
        """The prior from the parsed ``args``; ``steps_per_epoch`` converts options counted in epochs, ``common``
        holds the options every prior takes (``threshold``)."""
        return get_prior(self.name, **common)


#: prior name -> its :class:`PriorOptions` (command-line options); fill with :func:`register_prior_options`
PRIOR_OPTIONS = {}


def register_prior_options(name):
    """Class decorator registering a :class:`PriorOptions` subclass for the prior called ``name``."""

    def decorator(cls):
        if not (isinstance(cls, type) and issubclass(cls, PriorOptions)):
            raise TypeError(f"Expected a PriorOptions subclass but got {cls!r}")
        PRIOR_OPTIONS[name] = cls
        return cls

    return decorator


def prior_options(name):
    """The :class:`PriorOptions` of the prior called ``name``."""
    return PRIOR_OPTIONS.get(name, PriorOptions)(name)


#: the options of each support prior's constructor: support name -> ``f(args) -> kwargs``
SUPPORT_ARGUMENTS = {
    "ising": lambda args: dict(p01_row=args.p01, p10_row=args.p10, p01_col=args.p01_col, p10_col=args.p10_col),
    "chain": lambda args: dict(p01=args.p01, p10=args.p10),
    "bernoulli": lambda args: dict(p=args.support_p),
}


@register_prior_options("turbo")
class TurboOptions(PriorOptions):
    description = "the Turbo-VBI prior (--prior turbo, paper 001)"

    def add_arguments(self, group):
        group.add_argument("--support", default="ising", type=choice(SUPPORT_ARGUMENTS, "support prior"),
                           help="support prior p(s): ising (2-D MRF), chain (row Markov chains) or bernoulli")
        group.add_argument("--p01", type=float, default=0.3, help="row transition probability p(1|0) (ising, chain)")
        group.add_argument("--p10", type=float, default=0.3, help="row transition probability p(0|1) (ising, chain)")
        group.add_argument("--p01-col", type=float, default=None, help="column p(1|0) (ising; default --p01)")
        group.add_argument("--p10-col", type=float, default=None, help="column p(0|1) (ising; default --p10)")
        group.add_argument("--support-p", type=float, default=0.2, help="p(s=1) of the bernoulli support prior")
        group.add_argument("--a", type=float, default=1.0, help="active Gamma shape")
        group.add_argument("--b", type=float, default=1.0, help="active Gamma rate")
        group.add_argument("--a-bar", type=float, default=1.0, help="inactive Gamma shape")
        group.add_argument("--b-bar", type=float, default=1e-3, help="inactive Gamma rate")
        group.add_argument("--bp-every", type=positive_int, default=1, help="epochs between belief-propagation runs")
        group.add_argument("--bp-start", type=non_negative_int, default=0, help="epochs before the first run")
        group.add_argument("--bp-iterations", type=positive_int, default=100, help="sweeps per belief-propagation run")
        group.add_argument("--bp-damping", type=float, default=0.0, help="message damping in [0, 1)")
        group.add_argument("--bp-tolerance", type=positive_float, default=1e-4)
        group.add_argument("--turbo-iterations", type=positive_int, default=None,
                           help="I_max, the most belief-propagation runs (default: until converged)")

    def build(self, args, steps_per_epoch=1, **common):
        support = get_support(args.support, **SUPPORT_ARGUMENTS[args.support](args))
        schedule = TurboSchedule(bp_every=args.bp_every * steps_per_epoch, bp_start=args.bp_start * steps_per_epoch,
                                 bp_iterations=args.bp_iterations,
                                 damping=args.bp_damping, bp_tolerance=args.bp_tolerance,
                                 max_outer=args.turbo_iterations)
        return TurboPrior(support, a=args.a, b=args.b, a_bar=args.a_bar, b_bar=args.b_bar, schedule=schedule,
                          **common)


@register_prior_options("mixture")
class MixtureOptions(PriorOptions):
    description = "the mixture prior (--prior mixture, paper 000)"

    def add_arguments(self, group):
        group.add_argument("--components", nargs="+", default=["horseshoe", "laplace", "normal-jeffreys"],
                           type=choice(COMPONENTS, "component"), help="scale-mixture components")
        group.add_argument("--group", default="in", choices=["in", "out", "layer", "none"],
                           help="scales shared per input unit, output unit, layer, or none (per weight)")
        group.add_argument("--block", nargs=2, type=positive_int, default=None, metavar=("H", "W"),
                           help="block sparsity: couple each weight's precision to its H x W neighbourhood "
                                "(needs --group none)")
        group.add_argument("--coupling", type=positive_float, default=0.3, help="block coupling beta")
        group.add_argument("--block-variance", type=float, default=0.0, help="weight of the block-variance term")
        group.add_argument("--concentration", type=positive_float, default=1.0, help="initial Dirichlet concentration")
        group.add_argument("--fixed-concentration", action="store_true", help="do not learn the Dirichlet concentration")
        group.add_argument("--tau0", type=float, default=None,
                           help="scale of a global half-Cauchy scale per layer, in units of its pretrained RMS "
                                "(default: none)")
        group.add_argument("--auxiliary", action="store_true",
                           help="write every component through two auxiliary variables, z^2 = a b (docs/tutorials/mixture.md)")
        group.add_argument("--scales", choices=["shared", "per-component"], default="shared",
                           help="one scale per group drawn from the mixture, or one per group and component "
                                "(docs/tutorials/mixture.md)")

    #: the mixture's form: (--scales, --auxiliary) -> class
    FORMS = {("shared", False): MixturePrior, ("shared", True): AuxiliaryMixturePrior,
             ("per-component", False): PerComponentMixturePrior}

    def build(self, args, steps_per_epoch=1, **common):
        form = self.FORMS.get((args.scales, args.auxiliary))
        if form is None:
            raise ValueError("--scales per-component has no auxiliary form: the mean-field gap of the auxiliary "
                             "pairs differs by component")
        block = None if args.block is None else BlockCoupling(tuple(args.block), args.coupling, args.block_variance)
        return form(args.components, group=None if args.group == "none" else args.group,
                    concentration=args.concentration, learn_concentration=not args.fixed_concentration,
                    block=block, tau0=args.tau0, **common)
