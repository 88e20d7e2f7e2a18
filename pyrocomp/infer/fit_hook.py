class FitHook:
    """
    Base class of the hooks :func:`~pyrocomp.infer.fit` calls around its SVI steps (monitoring, schedules
    of the fit itself; closed-form posterior updates belong to the guide, :class:`~pyrocomp.guides.GuideHook`).
    Override any of the three methods; each does nothing here.

    A dict that :meth:`after_epoch` returns goes into that epoch's history under :attr:`history_key`,
    or into the epoch's own entry when :attr:`history_key` is ``None``.
    """

    #: key of this hook's records in the fit history (default: the class name)
    history_key = property(lambda self: type(self).__name__)

    def on_fit_start(self):
        """Before the first step."""

    def after_step(self):
        """After every SVI step."""

    def after_epoch(self, epoch):
        """After every epoch (``epoch`` counts from 0); may return a dict for the history."""
