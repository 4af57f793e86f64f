"""The two data contracts: a frame and a mask.

* A **frame image** is ``numpy.uint8``, ``H x W x 3``, BGR, C-contiguous.  A
  :class:`Frame` carries it with the ``time.monotonic_ns()`` stamp of its capture and
  its index in the stream.
* A **mask** is ``float32`` in ``[0, 1]`` (1 = person) at whatever resolution made
  it - usually the model's.  A :class:`Mask` carries the timestamp and index of the
  frame it was computed from.  Only the compositor's hot path turns it into
  ``uint8`` alpha at full resolution.

:func:`check_image` is the one boundary check; code behind the boundary trusts it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import cv2
import numpy as np

from .errors import FrameFormatError


@dataclass(slots=True)
class Frame:
    """One captured picture: BGR ``uint8`` ``H x W x 3`` plus its clock stamp and index."""

    image: np.ndarray
    timestamp_ns: int
    index: int
    _levels: list[np.ndarray] = field(default_factory=list, init=False, repr=False, compare=False)
    _sized: dict[tuple[int, int], np.ndarray] = field(default_factory=dict, init=False, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels."""
        return self.image.shape[1], self.image.shape[0]

    def reduced(self, min_side: int) -> np.ndarray:
        """The image halved (2 x 2 area average) as often as its long side stays at least ``min_side``.

        Every consumer of a small copy (segmenter input, optical flow, guide image, working
        copy) takes its level from here, so a frame is shrunk once, in cheap exact halvings,
        however many of them look at it; levels are kept with the frame.  The image must not
        change after the first call.
        """
        levels = self._levels
        # Made under the frame's lock: the compositor and the inference thread start on a frame at the same
        # moment and want the same first halving; the second waits for the first's copy instead of making its
        # own (in a live run they had made it twice on nearly every frame).
        with self._lock:
            if not levels:
                levels.append(self.image)
            level = levels[0]
            k = 0
            while max(level.shape[0], level.shape[1]) // 2 >= min_side and min(level.shape[0], level.shape[1]) >= 2:
                k += 1
                if k < len(levels):
                    level = levels[k]
                    continue
                h, w = level.shape[:2]
                level = cv2.resize(level, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
                levels.append(level)
        return level

    def resized(self, size: tuple[int, int]) -> np.ndarray:
        """The image scaled to ``size`` = ``(width, height)`` from the nearest :meth:`reduced` level.

        That level is less than twice ``size``, so a bilinear step (every source pixel
        within reach of a sample) finishes the job at a seventh of the cost of an area
        resize by such a fractional factor.  Kept with the frame, so the model input and
        the optical-flow image, often the same size, are made once.
        """
        small = self._sized.get(size)
        if small is None:
            level = self.reduced(max(size))
            with self._lock:
                small = self._sized.get(size)
                if small is None:
                    same = (level.shape[1], level.shape[0]) == size
                    small = level if same else cv2.resize(level, size, interpolation=cv2.INTER_LINEAR)
                    self._sized[size] = small
        return small


@dataclass(slots=True)
class Mask:
    """A person-probability map (``float32`` in ``[0, 1]``) and the frame it belongs to.

    ``guide`` optionally holds a small ``uint8`` grey copy of that frame, so that a
    later frame can estimate how far the picture moved since (stale-mask compensation).
    ``density`` optionally says how finely each part of it was segmented.
    """

    alpha: np.ndarray
    timestamp_ns: int
    index: int
    guide: np.ndarray | None = None
    density: np.ndarray | float | None = None
    """How finely each part of ``alpha`` was segmented, in model pixels per frame pixel: a map of
    ``alpha``'s size, or one number for all of it (``None``: unknown, judged from ``alpha``'s size).
    Photos carry it, so that edge detail is restored only where a model saw the picture coarsely."""


def check_image(image: object, *, what: str = "frame") -> np.ndarray:
    """Return ``image`` if it is a C-contiguous ``uint8`` ``H x W x 3`` array, else raise.

    A non-contiguous but otherwise valid array is copied rather than refused.
    """
    if not isinstance(image, np.ndarray):
        raise FrameFormatError(f"expected {what} as a numpy uint8 array of shape (H, W, 3), got {type(image).__name__}")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise FrameFormatError(
            f"expected {what} as uint8 array of shape (H, W, 3), got {image.dtype} {tuple(image.shape)}"
        )
    if not image.flags.c_contiguous:
        image = np.ascontiguousarray(image)
    return image


def check_mask(mask: object, *, what: str = "mask") -> np.ndarray:
    """Return ``mask`` as a 2-D float32 array in ``[0, 1]`` (uint8 0-255 is rescaled), else raise."""
    if not isinstance(mask, np.ndarray):
        raise FrameFormatError(f"expected {what} as a 2-D numpy array, got {type(mask).__name__}")
    if mask.ndim == 3 and mask.shape[2] == 1:
        mask = mask[:, :, 0]
    if mask.ndim != 2 or mask.shape[0] < 1 or mask.shape[1] < 1:
        raise FrameFormatError(f"expected {what} of shape (H, W), got {tuple(mask.shape)}")
    if mask.dtype == np.uint8:
        return mask.astype(np.float32) * np.float32(1.0 / 255.0)
    if mask.dtype not in (np.float32, np.float64):
        raise FrameFormatError(f"expected {what} as float32 in [0, 1] or uint8, got {mask.dtype}")
    mask = np.asarray(mask, dtype=np.float32)
    if not np.isfinite(mask).all():
        raise FrameFormatError(f"{what} contains NaN or infinite values")
    return np.clip(mask, 0.0, 1.0, out=mask if mask.flags.writeable else None)
