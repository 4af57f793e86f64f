"""``livebokeh bench``: benchmarks that print our figure next to a baseline from the same run.

Each benchmark lives in ``livebokeh/bench/NAME.py`` and has ``register(subparsers)``.
"""

from __future__ import annotations

import argparse
import importlib

BENCHES: tuple[str, ...] = ("convert", "composite", "live", "matte", "start")


def register(sub: argparse._SubParsersAction, *, benches: bool = True) -> None:  # type: ignore[type-arg]
    """Add ``bench``; its benchmarks (whose modules import much of the package) only with ``benches``."""
    p = sub.add_parser("bench", help="benchmarks (each against a baseline measured in the same run)")
    bench_sub = p.add_subparsers(dest="bench", metavar="BENCH")
    for name in BENCHES if benches else ():
        importlib.import_module(f"livebokeh.bench.{name}").register(bench_sub)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
