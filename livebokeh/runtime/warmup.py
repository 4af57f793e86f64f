"""Start-up practice for a live run: every stage once on made-up frames before the clock starts.

Compiled kernels, interpreter allocations and first-call caches then cost start-up time
instead of a stall (and dropped frames) in the first seconds of the stream.
"""

from __future__ import annotations

import time

import cv2
import numpy as np

from ..effects import BaseCompositor
from ..frames import Frame
from ..matte import Matte

__all__ = ["practice_frames", "warm_up"]


def practice_frames(size: tuple[int, int], now_ns: int) -> list[Frame]:
    """Two frames of ``size`` = ``(width, height)``: a smooth random texture, then the same moved 4 px.

    Indices are negative (never a stream's), a frame interval apart from ``now_ns``.
    """
    w, h = size
    texture = np.random.default_rng(0).integers(0, 256, size=(h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
    base = cv2.resize(texture, (w + 8, h), interpolation=cv2.INTER_LINEAR)
    return [
        Frame(image=np.ascontiguousarray(base[:, i * 4 : i * 4 + w]), timestamp_ns=now_ns + i * 33_000_000, index=i - 2)
        for i in range(2)
    ]


def warm_up(
    matte: Matte,
    compositor: BaseCompositor,
    size: tuple[int, int],
    *,
    alpha_buf: np.ndarray,
    out: np.ndarray,
    shrink: tuple[tuple[int, int], int] | None = None,
) -> float:
    """Run the matte and the compositor as a live run does, on :func:`practice_frames`; returns seconds.

    Both mask paths are taken (a mask from the same frame, and a stale one that the
    matte moves along the motion), and the compositor blends a soft edge.  ``shrink``
    is the inference thread's ``(size, interpolation)`` for large frames, if it shrinks
    them.  The matte is reset afterwards; ``alpha_buf`` and ``out`` are the run's buffers.
    """
    t0 = time.monotonic()
    w, h = size
    frames = practice_frames(size, time.monotonic_ns())
    first = frames[0]
    if shrink is not None:
        image = cv2.resize(first.image, shrink[0], interpolation=shrink[1])
        first = Frame(image=image, timestamp_ns=first.timestamp_ns, index=first.index)
    mask = matte.compute(first)
    for frame in (frames[1], frames[0]):  # a stale mask (moved along the motion), then a fresh one
        alpha = matte.apply_to(mask, frame, out=alpha_buf, size=(alpha_buf.shape[1], alpha_buf.shape[0]))
        compositor.apply(frame.image, alpha, out=out, timestamp_ns=frame.timestamp_ns, reduced=frame.reduced)
    ramp = np.broadcast_to(np.linspace(0, 255, w, dtype=np.float32).astype(np.uint8), (h, w))
    compositor.apply(frames[1].image, np.ascontiguousarray(ramp), out=out, timestamp_ns=frames[1].timestamp_ns)
    matte.reset()
    return time.monotonic() - t0
