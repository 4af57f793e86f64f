"""The command line's entry point: :func:`main` parses, runs one command and maps its outcome to an exit status.

Each module in ``COMMANDS`` has ``register(subparsers)``, which adds its sub-parser
and sets ``func`` to a ``(args) -> int`` handler.  Errors derived from
:class:`~livebokeh.errors.LivebokehError` become one line on stderr and exit 1; any
other exception is a bug, reported by :mod:`.crash` (exit 70, traceback in a crash log
or, with ``--debug``, on stderr).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib
import logging
import os
import signal
import sys
from collections.abc import Sequence

from .. import __version__, native_stderr
from ..errors import LivebokehError
from . import signals
from .common import add_config_args, apply_config
from .crash import report_internal_error
from .signals import Terminated

COMMANDS = ("photo", "convert", "live", "demo", "eval", "models", "bench", "doctor")


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole command line; ``argv`` (the arguments about to be parsed) lets a command that is
    not used skip importing what only its sub-commands need (``bench``'s benchmarks)."""
    parser = argparse.ArgumentParser(
        prog="livebokeh",
        description="Blur or replace the background behind people in photos, video files and live video.",
    )
    parser.add_argument("--version", action="version", version=f"livebokeh {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    parser.add_argument("--debug", action="store_true", default=False, help=_DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f".{name}", __package__)
        if name == "bench":
            module.register(sub, benches=argv is None or "bench" in argv)
        else:
            module.register(sub)
    for command in sub.choices.values():
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=_DEBUG_HELP)
    add_config_args(parser, sub)
    return parser


_DEBUG_HELP = "on an internal error (a bug), print its full traceback here instead of to a crash log"


def _wants_debug(argv: Sequence[str] | None) -> bool:
    return "--debug" in (sys.argv[1:] if argv is None else argv)


def _tolerant_streams() -> None:
    """File names that are not valid UTF-8 (kept by Python as surrogates) print escaped instead of crashing."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # a closed or odd stream: leave it as it is
                pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit status.

    Ctrl-C or SIGTERM at any moment from here on (building the parser, loading the
    model, working) ends the command with one line on stderr and exit 130 / 143, never
    a traceback; commands with their own handlers (live, convert) take over meanwhile.
    Any exception that is not a :class:`LivebokehError` is a bug: see :mod:`.crash`.
    """
    _tolerant_streams()
    signals.forget()
    previous: dict[int, object] = {}
    unraisable = sys.unraisablehook
    sys.unraisablehook = signals.quiet_dropped(unraisable)
    try:
        previous[signal.SIGTERM] = signal.signal(signal.SIGTERM, signals.raise_caught)
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not where Ctrl-C is ignored
            previous[signal.SIGINT] = signal.signal(signal.SIGINT, signals.raise_caught)
    except ValueError:  # not the main thread: leave signals alone
        pass
    try:
        return _run_command(argv)
    except KeyboardInterrupt:
        native_stderr.restore()  # the signal may have cut a model load short while fd 2 was silenced
        print("livebokeh: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        native_stderr.restore()
        print("livebokeh: terminated", file=sys.stderr)
        return 143
    except Exception as exc:  # noqa: BLE001 - a bug: reported with where its traceback went
        native_stderr.restore()
        return report_internal_error(exc, argv, debug=_wants_debug(argv))
    finally:
        sys.unraisablehook = unraisable
        for sig, handler in previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]


def _run_command(argv: Sequence[str] | None) -> int:
    given = sys.argv[1:] if argv is None else list(argv)
    if given == ["--version"]:  # answered before the parser imports every command's modules
        print(f"livebokeh {__version__}")
        return 0
    parser = build_parser(given)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        apply_config(parser, args, argv)
        return int(args.func(args) or 0)
    except LivebokehError as exc:
        native_stderr.restore()
        print(f"livebokeh: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        native_stderr.restore()
        print("livebokeh: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1


def run() -> None:
    """Console-script entry point: run the command, then exit without the interpreter's teardown.

    Once :func:`main` has returned, every output is closed and renamed; what is left is the
    atexit handlers (run here, as at any exit) and the finalisation of every loaded module,
    which for LLVM/numba alone costs ~0.25 s on a quiet machine and seconds under load -
    time between Ctrl-C and the prompt - and can run a still-compiling daemon thread into
    a half-finalised interpreter (a traceback after the command ended).
    """
    code = main()
    try:
        atexit._run_exitfuncs()  # the handlers Python would run: temp-file sweep, logging, Ray's shutdown
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # a closed pipe: nothing more to say
                stream.flush()
        os._exit(code)
