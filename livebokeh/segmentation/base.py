"""The segmenter contract shared by every backend (:class:`SegmenterProtocol`)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class SegmenterProtocol(Protocol):
    """What every segmenter backend provides: turns a BGR ``uint8`` frame into a person-probability mask.

    ``segment`` returns ``float32`` in ``[0, 1]`` at the model's own resolution
    (``input_size`` for the frame just given); callers upsample.  A segmenter owns one
    interpreter and is not shared between threads.
    """

    @property
    def name(self) -> str: ...

    @property
    def runtime(self) -> str: ...

    def input_size_for(self, frame_shape: tuple[int, ...]) -> tuple[int, int]:
        """``(height, width)`` of the mask ``segment`` returns for a frame of this shape."""
        ...

    def segment(self, image: np.ndarray) -> np.ndarray: ...

    def segment_for_video(self, image: np.ndarray, timestamp_ns: int) -> np.ndarray: ...

    def close(self) -> None: ...
