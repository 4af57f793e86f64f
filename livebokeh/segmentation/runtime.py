"""Find a TFLite interpreter: ai-edge-litert, then tflite_runtime, then tensorflow.lite.

Which one loaded is reported (``livebokeh doctor``, logs), never branched on by callers.
``LIVEBOKEH_TFLITE_RUNTIME`` (``ai-edge-litert``, ``tflite_runtime`` or ``tensorflow``)
forces one, for tests and for working around a broken install.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
from collections.abc import Callable
from functools import cache
from typing import Any

from .. import native_stderr
from ..errors import ModelLoadError

log = logging.getLogger(__name__)

RUNTIMES: dict[str, tuple[str, str]] = {
    "ai-edge-litert": ("ai_edge_litert.interpreter", "Interpreter"),
    "tflite_runtime": ("tflite_runtime.interpreter", "Interpreter"),
    "tensorflow": ("tensorflow", "lite.Interpreter"),
}


def _load(name: str) -> Callable[..., Any]:
    module_name, attr = RUNTIMES[name]
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj  # type: ignore[no-any-return]


def available_runtimes() -> list[str]:
    """Names of the runtimes that import on this machine, in preference order."""
    found = []
    for name in RUNTIMES:
        try:
            _load(name)
        except Exception:  # noqa: BLE001 - any import failure means "not available"
            continue
        found.append(name)
    return found


@cache
def interpreter_class(preferred: str | None = None) -> tuple[Callable[..., Any], str]:
    """Return ``(Interpreter class, runtime name)`` for the first runtime that imports."""
    choice = preferred or os.environ.get("LIVEBOKEH_TFLITE_RUNTIME") or None
    if choice is not None and choice not in RUNTIMES:
        raise ModelLoadError(f"unknown TFLite runtime {choice!r}: use one of {', '.join(RUNTIMES)}")
    order = [choice] if choice else list(RUNTIMES)
    errors = []
    for name in order:
        try:
            cls = _load(name)
        except Exception as exc:  # noqa: BLE001
            errors.append(f"{name}: {exc}")
            continue
        log.info("TFLite runtime: %s", name)
        return cls, name
    raise ModelLoadError(
        "no TFLite runtime could be loaded (" + "; ".join(errors) + "): install one with `pip install ai-edge-litert`"
    )


def _quiet_native_stderr() -> contextlib.AbstractContextManager[None]:
    """Hide the runtime's native start-up chatter ("Created TensorFlow Lite XNNPACK delegate").

    The C++ runtimes write straight to file descriptor 2, which Python logging cannot filter;
    it is silenced only while an interpreter is created, and not at all with debug logging.
    """
    if log.isEnabledFor(logging.DEBUG):
        return contextlib.nullcontext()
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # no real stderr to silence
        return contextlib.nullcontext()
    return native_stderr.redirected()


def make_interpreter(model_path: str, num_threads: int = 1, runtime: str | None = None) -> tuple[Any, str]:
    """Create and allocate one interpreter (XNNPACK is the default CPU delegate in all three runtimes)."""
    cls, name = interpreter_class(runtime)
    try:
        with _quiet_native_stderr():
            interp = cls(model_path=model_path, num_threads=max(1, int(num_threads)))
            interp.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(f"cannot load model {model_path}: {first} - is it a TFLite model?") from exc
    return interp, name
