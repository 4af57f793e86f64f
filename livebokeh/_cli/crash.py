"""Internal errors (bugs) at the top of the CLI: say what broke and where its traceback went.

A user error (:class:`~livebokeh.errors.LivebokehError`) is one line.  Anything else is
a bug in livebokeh or a library it uses: the user gets what went wrong and where
(thread, innermost file and line), and the full traceback goes to a crash log in
``$XDG_STATE_HOME/livebokeh/`` (``~/.local/state/livebokeh/``; the temp folder if that
cannot be written) - or to stderr with ``--debug``.  The exit status is 70 (EX_SOFTWARE
in sysexits.h), distinct from the 1 of a user error.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from .. import __version__

EXIT_INTERNAL = 70
"""Exit status of an internal error (sysexits' EX_SOFTWARE)."""


def crash_dirs() -> list[Path]:
    """Where crash logs go, in order of preference."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return [Path(state) / "livebokeh", Path(tempfile.gettempdir())]


def _innermost(exc: BaseException) -> str:
    """``file:line in function`` of the deepest frame of the root cause (the worker's own, for a thread)."""
    root = exc
    while root.__cause__ is not None:
        root = root.__cause__
    frames = traceback.extract_tb(root.__traceback__)
    if not frames:
        return ""
    last = frames[-1]
    name = last.filename
    marker = f"{os.sep}livebokeh{os.sep}"
    if marker in name:
        name = "livebokeh" + os.sep + name.rsplit(marker, 1)[1]
    return f"{name}:{last.lineno} in {last.name}"


def _write_log(text: str) -> Path | None:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for folder in crash_dirs():
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"livebokeh-crash-{stamp}-{os.getpid()}.log"
            with open(path, "x", encoding="utf-8", errors="backslashreplace") as f:
                f.write(text)
            return path
        except OSError:
            continue
    return None


def report_internal_error(exc: BaseException, argv: Sequence[str] | None, *, debug: bool) -> int:
    """Print an internal error as two lines (what, and where the traceback is) and return :data:`EXIT_INTERNAL`."""
    what = str(exc).splitlines()[0] if str(exc) else ""
    what = f"{type(exc).__name__}: {what}" if what else type(exc).__name__
    where = _innermost(exc)
    what += f" at {where}" if where else ""
    print(f"livebokeh: internal error (a bug, not your input): {what}", file=sys.stderr)
    tb = "".join(traceback.format_exception(exc))
    if debug:
        sys.stderr.write(tb)
        print("livebokeh: please report this bug with the traceback above", file=sys.stderr)
        return EXIT_INTERNAL
    args = list(sys.argv[1:] if argv is None else argv)
    header = (
        f"livebokeh {__version__}, Python {platform.python_version()}, {platform.platform()}\n"
        f"command: livebokeh {' '.join(args)}\n\n"
    )
    path = _write_log(header + tb)
    if path is None:
        sys.stderr.write(tb)
        print("livebokeh: please report this bug with the traceback above", file=sys.stderr)
    else:
        print(
            f"livebokeh: the full traceback is in {path} (--debug prints it here); please report this bug with it",
            file=sys.stderr,
        )
    return EXIT_INTERNAL
