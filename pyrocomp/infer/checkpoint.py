import random
from pathlib import Path

import numpy as np
import torch

from pyrocomp.util import save_atomic


class Checkpoint:
    """
    Where and how often :func:`~pyrocomp.infer.fit` saves everything a fit needs to go on: the model's and the
    guide's parameters and buffers (closed-form posteriors, Turbo-VBI's support probabilities), the optimiser's
    state, the epoch, the history, the data order's generator and every random state (torch, Python, NumPy). It is
    written atomically at the end of every ``every``-th epoch (and of the last); ``fit(..., resume=True)`` goes on
    from it, and the resumed fit is bit-identical to an uninterrupted one on the same machine. Read with
    ``torch.load(path, weights_only=True)``.

    :param path: the checkpoint file.
    :param int every: epochs between checkpoints.
    """

    def __init__(self, path, every=1):
        if not (isinstance(every, int) and every > 0):
            raise ValueError(f"Expected every to be a positive int but got {every!r}")
        self.path, self.every = Path(path), every

    def __repr__(self):
        return f"Checkpoint({str(self.path)!r}, every={self.every})"

    def due(self, epoch, epochs):
        """Whether to save after the 0-based ``epoch`` of ``epochs``."""
        return (epoch + 1) % self.every == 0 or epoch + 1 == epochs

    def save(self, epoch, model, guide, optimizer, history, generator=None):
        """Save the state after ``epoch`` + 1 completed epochs."""
        numpy_state = np.random.get_state()
        save_atomic(self.path, {
            "epoch": epoch + 1,
            "model": model.state_dict(),
            "guide": guide.state_dict(),
            "optimizer": optimizer.state_dict(),
            "hooks": guide.hook_state() if hasattr(guide, "hook_state") else None,
            "history": history,
            "generator": None if generator is None else generator.get_state(),
            "rng": {"torch": torch.get_rng_state(), "python": random.getstate(),
                    "numpy": (numpy_state[0], torch.from_numpy(numpy_state[1].astype(np.int64)), *numpy_state[2:]),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
        })

    def restore(self, model, guide, optimizer, generator=None):
        """
        Load the checkpoint into the fit's objects and random states.

        :returns: ``(completed epochs, history)``.
        :raises ValueError: when there is no checkpoint to resume from.
        """
        if not self.path.exists():
            raise ValueError(f"Cannot resume: no checkpoint at {str(self.path)!r}")
        state = torch.load(self.path, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        guide.load_state_dict(state["guide"])
        optimizer.load_state_dict(state["optimizer"])
        if state["hooks"] is not None:
            guide.load_hook_state(state["hooks"])
        if generator is not None and state["generator"] is not None:
            generator.set_state(state["generator"])
        rng = state["rng"]
        torch.set_rng_state(rng["torch"])
        python = rng["python"]
        random.setstate((python[0], tuple(python[1]), python[2]))
        name, keys, *rest = rng["numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
        if rng["cuda"]:
            torch.cuda.set_rng_state_all(rng["cuda"])
        # load_state_dict wrote into the modules' own tensors, which Pyro's param store (or the modules) hold
        return state["epoch"], state["history"]
