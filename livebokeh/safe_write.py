"""Write outputs so that nothing half-written ever carries the final name.

:func:`atomic_output` yields a temporary path in the target's folder; on success the
file is renamed over the target, on any failure (exception, Ctrl-C) it is removed.
Temporary files still pending when the interpreter exits (a second Ctrl-C that cut the
clean-up short) are removed then.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import OutputError

log = logging.getLogger(__name__)


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


def ensure_folder(path: Path, *, what: str = "output folder") -> None:
    """Create the folder ``path`` (and its parents) unless it exists; :class:`OutputError` if it cannot be.

    An existing path that is not a folder, a parent that is a file, or a place the user
    may not write is refused with one line naming the path and the fix.
    """
    if path.is_dir():
        return
    if path.exists() or path.is_symlink():
        raise OutputError(f"{what} {path} exists and is not a folder: give a folder name")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in reversed(path.parents) if p.exists() and not p.is_dir()), path)
        raise OutputError(f"cannot create {what} {path}: {blocker} is a file, not a folder") from None
    except PermissionError:
        ancestor = next((p for p in path.parents if p.exists()), Path("."))
        raise OutputError(
            f"cannot create {what} {path}: {ancestor} is not writable: choose another place or fix its permissions"
        ) from None
    except OSError as exc:
        raise OutputError(f"cannot create {what} {path}: {exc.strerror or exc}") from None
    log.info("created %s %s", what, path)


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
