"""``livebokeh models``: list the bundled models and verify their hashes."""

from __future__ import annotations

import argparse

from .. import models
from ..errors import ModelLoadError


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("models", help="list bundled models and verify their hashes")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    bad = 0
    print(f"{'name':<18} {'kind':<17} {'input HxW':<10} {'size':>9}  {'license':<11} status")
    for info in models.manifest().values():
        try:
            models.verify(info)
            status = "OK"
        except ModelLoadError as exc:
            status = f"BAD: {exc}"
            bad += 1
        size = f"{info.size_bytes / 1024:.0f} KiB"
        hw = f"{info.input_size[0]}x{info.input_size[1]}"
        print(f"{info.name:<18} {info.kind:<17} {hw:<10} {size:>9}  {'Apache-2.0':<11} {status}")
    print(f"models folder: {models.models_dir()}")
    return 1 if bad else 0
