"""Command-line interface: argument parsing only, every command in its own module.

:mod:`.entry` is the entry point (:func:`main`, :func:`run`); each module in
``entry.COMMANDS`` registers one command; :mod:`.common` holds the option groups
several commands share and the config-file merge; :mod:`.crash` reports bugs;
:mod:`.signals` turns SIGTERM into an exception that unwinds like Ctrl-C.
"""

from __future__ import annotations

from .entry import COMMANDS, build_parser, main, run

__all__ = ["COMMANDS", "build_parser", "main", "run"]
