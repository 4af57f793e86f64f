"""Write outputs so that nothing half-written ever carries the final name.

:func:`atomic_output` yields a temporary path in the target's folder; on success the
file is renamed over the target, on any failure (exception, Ctrl-C) it is removed.
Temporary files still pending when the interpreter exits (a second Ctrl-C that cut the
clean-up short) are removed then.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import OutputError


def check_target(path: Path, *, overwrite: bool) -> None:
    """Raise :class:`OutputError` if ``path`` cannot be written as an output."""
    if path.exists() and path.is_dir():
        raise OutputError(f"output {path} is a directory: give a file name")
    if path.exists() and not overwrite:
        raise OutputError(f"output {path} already exists: pass --overwrite to replace it")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"output folder {folder} does not exist: create it first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"output folder {folder} is not writable: choose another place or fix its permissions")


_PENDING: set[Path] = set()
"""Temporary outputs being written right now."""


@atexit.register
def _remove_pending() -> None:
    """At exit, remove temporary outputs whose writer never finished (never leave a half-written file)."""
    for tmp in list(_PENDING):
        with contextlib.suppress(OSError):
            tmp.unlink()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temp path beside ``path``; rename it to ``path`` only if the block succeeds."""
    target = Path(path)
    check_target(target, overwrite=overwrite)
    folder = target.parent if str(target.parent) else Path(".")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".part{target.suffix}", dir=folder)
    os.close(fd)
    tmp = Path(tmp_name)
    _PENDING.add(tmp)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a finished output gets the usual mode
    try:
        yield tmp
        if not overwrite and target.exists():
            raise OutputError(f"output {target} appeared while writing: pass --overwrite to replace it")
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    finally:
        _PENDING.discard(tmp)
