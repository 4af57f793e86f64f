"""Where the mask is refined: from the segmenter's output to the alpha that is applied.

:class:`Matte` has two halves, each used from one thread:

* :meth:`Matte.compute` (inference side) runs the segmenter on a frame and does all
  low-resolution work that depends only on that frame and earlier masks.
* :meth:`Matte.apply_to` (compositor side) takes the newest mask and the frame it is
  about to be applied to, and returns full-resolution ``uint8`` alpha (255 = person).
"""

from __future__ import annotations

import numpy as np

from ..config import MatteOptions
from ..frames import Frame, Mask
from ..segmentation import SegmenterProtocol
from . import upsample

__all__ = ["Matte"]


class Matte:
    """Segmenter output -> applied alpha, with the options in :class:`MatteOptions`."""

    def __init__(self, segmenter: SegmenterProtocol, options: MatteOptions | None = None, *, video: bool = True) -> None:
        self.segmenter = segmenter
        self.options = options or MatteOptions()
        self.video = video

    def compute(self, frame: Frame) -> Mask:
        """Segment one frame (inference side)."""
        prob = self.segmenter.segment_for_video(frame.image, frame.timestamp_ns) if self.video else self.segmenter.segment(frame.image)
        return Mask(alpha=prob, timestamp_ns=frame.timestamp_ns, index=frame.index)

    def apply_to(self, mask: Mask, frame: Frame, out: np.ndarray | None = None) -> np.ndarray:
        """Full-resolution ``uint8`` alpha of ``mask`` for ``frame`` (compositor side)."""
        h, w = frame.image.shape[:2]
        return upsample.bilinear(mask.alpha, (w, h), out=out)

    def reset(self) -> None:
        """Forget temporal state (a new stream starts)."""
