import time
from dataclasses import dataclass, field
from typing import Optional

from pyrocomp.guides import GuideHook

from .second_moment import FirstOrderSecondMoment, SecondMoment
from .sparse_vbi import SparseVBI
from .support_update import CollapsedSupportUpdate, SupportUpdate
from .support_message_passing import SupportMessagePassing


@dataclass
class TurboSchedule:
    """
    When :class:`TurboVBI` runs what.

    :ivar int closed_form_every: SVI steps between closed-form :math:`q(\\rho), q(s)` updates.
    :ivar int sweeps: rounds of the two updates each time (factorized update).
    :ivar SupportUpdate support_update: the :math:`q(s), q(\\rho)` rule, see :class:`~pyrocomp.infer.SparseVBI`.
    :ivar SecondMoment second_moment: the :math:`\\langle w^2 \\rangle` rule, see :class:`~pyrocomp.infer.SparseVBI`.
    :ivar int bp_every: SVI steps between runs of Module B (one outer iteration of Algorithm 1); ``fit``
        and the command line take epochs and convert them with the steps per epoch.
    :ivar int bp_start: SVI steps of Module A alone before the first Module B run.
    :ivar float damping: belief propagation damping.
    :ivar int bp_iterations: maximum sweeps of belief propagation per run.
    :ivar float bp_tolerance: belief propagation message tolerance (log-odds).
    :ivar float tolerance: Algorithm 1 stops calling Module B once the mean change of
        :math:`\\pi = v_{h \\to s}` falls below it.
    :ivar max_outer: :math:`I_{max}`, the most Module B runs (``None``: no limit).
    """

    closed_form_every: int = 1
    sweeps: int = 1
    support_update: SupportUpdate = field(default_factory=CollapsedSupportUpdate)
    second_moment: SecondMoment = field(default_factory=FirstOrderSecondMoment)
    bp_every: int = 100
    bp_start: int = 0
    damping: float = 0.0
    bp_iterations: int = 100
    bp_tolerance: float = 1e-4
    tolerance: float = 1e-3
    max_outer: Optional[int] = None

    def __post_init__(self):
        for name in ("closed_form_every", "sweeps", "bp_every", "bp_iterations"):
            value = getattr(self, name)
            if not (isinstance(value, int) and value > 0):
                raise ValueError(f"Expected {name} to be a positive int but got {value!r}")
        if not (isinstance(self.bp_start, int) and self.bp_start >= 0):
            raise ValueError(f"Expected bp_start to be a non-negative int but got {self.bp_start!r}")
        if self.max_outer is not None and not (isinstance(self.max_outer, int) and self.max_outer > 0):
            raise ValueError(f"Expected max_outer to be a positive int or None but got {self.max_outer!r}")
        if not isinstance(self.support_update, SupportUpdate):
            raise TypeError(f"Expected support_update to be a SupportUpdate but got {self.support_update!r}")
        if not isinstance(self.second_moment, SecondMoment):
            raise TypeError(f"Expected second_moment to be a SecondMoment but got {self.second_moment!r}")
        if not 0.0 <= self.damping < 1.0:
            raise ValueError(f"Expected damping in [0, 1) but got {self.damping}")
        if not (self.tolerance > 0 and self.bp_tolerance > 0):
            raise ValueError(f"Expected positive tolerances but got {self.tolerance}, {self.bp_tolerance}")


class TurboVBI(GuideHook):
    r"""
    The Turbo-VBI algorithm (paper 001 Algorithm 1) as a hook of the guide
    (:class:`~pyrocomp.guides.GuideHook`): SVI drives :math:`q(w)` with
    :class:`~pyrocomp.infer.TaylorMeanField_ELBO` (eq. (35)), and at the guide's first call after each SVI
    step the hook

    - every ``closed_form_every`` steps updates :math:`q(\rho)` and :math:`q(s)` in closed form
      (:class:`~pyrocomp.infer.SparseVBI`; Module A is thus block coordinate ascent);
    - every ``bp_every`` steps (after ``bp_start``) passes Module A's extrinsic messages
      (eq. (17)) to belief propagation (:class:`~pyrocomp.infer.SupportMessagePassing`, Module B),
      whose output becomes Module A's support prior :math:`\pi` (eq. (16)) — one outer iteration —
      until the mean change of :math:`\pi` falls below ``tolerance`` or ``max_outer`` is reached.

    An :class:`~pyrocomp.guides.AutoCompressionGuide` of a model with :class:`~pyrocomp.priors.TurboPrior`
    layers builds it, so a plain ``svi.step`` loop runs Algorithm 1. The change of every outer iteration is
    in :attr:`history` (paper 001 Fig. 10).

    :param model: a :class:`~pyrocomp.nn.BayesianNetwork` with :class:`~pyrocomp.priors.TurboPrior` layers.
    :param guide: its guide, with ``posterior_family=mean_field_weights`` (or the Taylor ELBO's family).
    :param TurboSchedule schedule: default :class:`TurboSchedule()`.
    """

    def __init__(self, model, guide, schedule=None):
        self.schedule = TurboSchedule() if schedule is None else schedule
        if not isinstance(self.schedule, TurboSchedule):
            raise TypeError(f"Expected schedule to be a TurboSchedule but got {schedule!r}")
        s = self.schedule
        self.module_a = SparseVBI(model, guide, s.support_update, s.second_moment)
        self.module_b = SupportMessagePassing(model, damping=s.damping, max_iterations=s.bp_iterations,
                                              tolerance=s.bp_tolerance)
        self.history = []
        self.converged = False

    def state_dict(self):
        return {"history": list(self.history), "converged": self.converged, "module_b": self.module_b.state_dict()}

    def load_state_dict(self, state):
        self.history, self.converged = list(state["history"]), bool(state["converged"])
        self.module_b.load_state_dict(state["module_b"])

    def on_step(self, step):
        """Algorithm 1: at step 0 (lines 1 and 4) initialise :math:`q(\\rho), q(s)` from the starting
        :math:`q(w)`; then Module A every ``closed_form_every`` steps and an outer iteration when due, whose
        record it returns."""
        s = self.schedule
        if step == 0 or step % s.closed_form_every == 0:
            self.module_a.update(s.sweeps)
        due = step > s.bp_start and (step - s.bp_start) % s.bp_every == 0
        if step == 0 or self.converged or not due or (s.max_outer is not None and len(self.history) >= s.max_outer):
            return None
        start = time.perf_counter()
        self.module_a.update(s.sweeps)
        record = self.module_b(self.module_a.evidence)
        self.module_a.update(s.sweeps)  # q(s) under the new prior
        record.update(outer_iteration=len(self.history) + 1, step=step, seconds=time.perf_counter() - start)
        self.history.append(record)
        self.converged = record["change"] < s.tolerance
        return record
