"""A sink that discards frames (benchmarks), counting them."""

from __future__ import annotations

from ..frames import Frame
from .base import BaseSink

__all__ = ["NullSink"]


class NullSink(BaseSink):
    """Discards every frame; :attr:`frames` counts them."""

    name = "null"

    def __init__(self) -> None:
        self.frames = 0
        self.size: tuple[int, int] | None = None

    def open(self, size: tuple[int, int], fps: float) -> None:
        self.size = size

    def write(self, frame: Frame) -> None:
        self.frames += 1
