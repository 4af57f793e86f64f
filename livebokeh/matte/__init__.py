"""Where the mask is refined and applied: from the segmenter's output to the alpha that is composited.

* inference side - :mod:`.estimate` (:class:`MaskEstimator`: the steps, in order) with its two
  modes :mod:`.estimate_video` and :mod:`.estimate_photo`; the crop pass :mod:`.crops`; the main
  subject and stray blobs :mod:`.subject`; temporal smoothing :mod:`.temporal`;
* compositor side - :mod:`.apply` (:class:`VideoApplier`, :class:`PhotoApplier`): stale masks
  moved along the flow (:mod:`.warp`), edge-aware upsampling (:mod:`.upsample`);
* :mod:`.matte` - :class:`Matte`, the two halves of one stream held together.
"""

from __future__ import annotations

from .apply import MaskApplier, PhotoApplier, VideoApplier
from .estimate import MaskEstimator, Passes
from .estimate_photo import PhotoEstimator
from .estimate_video import DETECT_EVERY, VIDEO_WORKING_SIDE, VideoEstimator
from .matte import Matte

__all__ = [
    "DETECT_EVERY",
    "VIDEO_WORKING_SIDE",
    "MaskApplier",
    "MaskEstimator",
    "Matte",
    "Passes",
    "PhotoApplier",
    "PhotoEstimator",
    "VideoApplier",
    "VideoEstimator",
]
