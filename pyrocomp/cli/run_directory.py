"""Transactional output of a ``pyrocomp`` run: everything is written into a fresh directory beside ``--out``,
renamed into place only when the run has written all of it."""
import contextlib
import shutil
import tempfile
from pathlib import Path

from .arguments import UsageError


@contextlib.contextmanager
def run_directory(out, overwrite=False):
    """
    Yield a fresh directory beside ``out`` to write a run into; when the block ends without an error, it becomes
    ``out`` (replacing an existing ``out`` whole with ``overwrite``), else it is removed and ``out`` is left as it
    was. The location is checked first, before any training: an empty path, a path that is a file, an existing
    ``out`` without ``overwrite`` and a parent that cannot be written are a :class:`UsageError`.
    """
    if not str(out).strip():
        raise UsageError("expected a non-empty --out directory")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {str(out)!r} is a file; expected a directory")
    if out.exists() and not overwrite:
        raise UsageError(f"--out {str(out)!r} exists; pass --overwrite to replace it")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".running"))
    except OSError as error:
        raise UsageError(f"cannot write --out {str(out)!r}: {error.strerror or error}") from None
    try:
        yield work
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.replaced")
        shutil.rmtree(old, ignore_errors=True)
        out.rename(old)
    work.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
