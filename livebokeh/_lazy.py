"""Lazy re-exports for a package's ``__init__`` (PEP 562).

A public name listed here is imported from its module the first time it is used, so importing
the package does not import NumPy, OpenCV and the model runtimes for a caller that needs none of
them (``livebokeh photo`` starts reading its picture while the rest loads).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_exports(package: str, names: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: each of ``names`` (name -> relative module) on first use.

    A name once imported is stored in the package, so later uses are plain attribute reads.
    Any other name raises :class:`AttributeError`, which lets ``from package import submodule``
    import the submodule as usual.
    """
    namespace = sys.modules[package].__dict__

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(module, package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *names})

    return __getattr__, __dir__
