"""One stream's matte: the estimator for the inference thread and the applier for the compositor thread.

:class:`Matte` only pairs the two halves and hands each call to its own: :meth:`Matte.compute`
to the :class:`~.estimate.MaskEstimator` (where the mask is refined) and :meth:`Matte.apply_to`
to the :class:`~.apply.MaskApplier` (where it is applied).  ``video`` picks the stream or the
photo kind of each; code that runs the halves in different places can take
:attr:`Matte.estimator` and :attr:`Matte.applier` themselves.
"""

from __future__ import annotations

import numpy as np

from ..config import MatteOptions
from ..frames import Frame, Mask
from ..people.detect import DetectorProtocol
from ..people.pose import PoseSegmenterProtocol
from ..segmentation import SegmenterProtocol
from .apply import MaskApplier, PhotoApplier, VideoApplier
from .estimate import MaskEstimator, Passes
from .estimate_photo import PhotoEstimator
from .estimate_video import VideoEstimator


class Matte:
    """Segmenter output -> applied alpha, with the options in :class:`~livebokeh.MatteOptions`.

    ``video`` selects stream behaviour (temporal smoothing, tracking, cheaper sizes);
    photos use ``video=False``.  ``detector`` (a :class:`~livebokeh.people.PersonDetector`
    or anything with its ``detect``) and ``pose`` (a :class:`~livebokeh.people.PoseSegmenter`
    or a stand-in) may be passed to share them; otherwise each is opened on first use when
    crops or ``subject="main"`` need it.  ``matting`` (an :class:`~livebokeh.segmentation.onnx.OnnxMatting`
    or a stand-in) is the model of ``quality="best"``, opened on first use if not given.
    """

    def __init__(
        self,
        segmenter: SegmenterProtocol,
        options: MatteOptions | None = None,
        *,
        video: bool = True,
        detector: DetectorProtocol | None = None,
        pose: PoseSegmenterProtocol | None = None,
        matting: SegmenterProtocol | None = None,
    ) -> None:
        self.options = options or MatteOptions()
        self.video = video
        self.estimator: MaskEstimator
        self.applier: MaskApplier
        if video:
            self.estimator = VideoEstimator(segmenter, self.options, detector=detector, pose=pose, matting=matting)
            self.applier = VideoApplier(self.options)
        else:
            self.estimator = PhotoEstimator(segmenter, self.options, detector=detector, pose=pose, matting=matting)
            self.applier = PhotoApplier(refine=self.options.refine)

    @property
    def segmenter(self) -> SegmenterProtocol:
        return self.estimator.segmenter

    @property
    def last(self) -> Passes:
        """What the last :meth:`compute` ran beyond the first pass (crops, pose-landmark people, time)."""
        return self.estimator.last

    def compute(self, frame: Frame) -> Mask:
        """Segment and refine one frame (inference side): see :class:`~.estimate.MaskEstimator`."""
        return self.estimator.compute(frame)

    def apply_to(
        self, mask: Mask, frame: Frame, out: np.ndarray | None = None, *, size: tuple[int, int] | None = None
    ) -> np.ndarray:
        """Full-resolution ``uint8`` alpha of ``mask`` for ``frame`` (compositor side): see :mod:`.apply`.

        If ``mask`` came from an earlier frame and ``compensate`` is on, it is first moved
        along the optical flow between that frame and this one (video).  ``size``
        (``(width, height)``) asks for the alpha at another size than the frame's.
        """
        return self.applier.apply(mask, frame, out, size=size)

    def reset(self) -> None:
        """Forget temporal state (a new stream starts)."""
        self.estimator.reset()
        self.applier.reset()
