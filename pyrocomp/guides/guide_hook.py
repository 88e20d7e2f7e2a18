class GuideHook:
    """
    Base class of the work an :class:`~pyrocomp.guides.AutoCompressionGuide` does before it computes its
    posteriors, once per SVI step: closed-form posterior updates, belief propagation. The guide calls
    :meth:`on_step` at its first call after its SVI parameters have changed (an optimiser step, a
    ``load``), so that a plain ``svi.step`` loop runs the hooks and calls that only read the posterior
    (``mean()``, ``trace()``, ``Predictive``) run them at most once per step.

    Hooks are built with the guide from the factories of :func:`register_guide_hook`.
    """

    def on_step(self, step):
        """
        :param int step: the SVI steps seen so far (0 at the guide's first call).
        :returns: ``None``, or a dict recorded under the hook's class name (see
            :meth:`~pyrocomp.guides.AutoCompressionGuide.refresh`).
        """

    def state_dict(self):
        """The hook's own state beyond the guide's buffers (plain values and tensors), for a
        :class:`~pyrocomp.infer.Checkpoint`; default none."""
        return {}

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned."""


#: factories ``(model, guide) -> GuideHook or None`` consulted when a guide is built
GUIDE_HOOKS = []


def register_guide_hook(factory):
    """Register ``factory(model, guide)``, which returns a :class:`GuideHook` for models that need one and
    ``None`` otherwise; every guide built afterwards consults it. Usable as a decorator."""
    if not callable(factory):
        raise TypeError(f"Expected a callable (model, guide) -> GuideHook or None but got {factory!r}")
    GUIDE_HOOKS.append(factory)
    return factory
