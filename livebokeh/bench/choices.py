"""What the benchmarks accept by name: frame sizes and clocks."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["CLOCKS", "SIZES"]

SIZES: dict[str, tuple[int, int]] = {"1080p": (1920, 1080), "720p": (1280, 720)}
"""Frame sizes the benchmarks accept by name, as ``(width, height)``."""

CLOCKS: dict[str, Callable[[], float]] = {"cpu": time.thread_time, "wall": time.perf_counter}
"""``cpu``: the calling thread's CPU time (what one-thread work costs); ``wall``: elapsed time."""
