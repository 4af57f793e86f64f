"""Finding people before segmenting them: detectors, per-person regions, the per-person model, the rotation search.

* :mod:`.box` - the :data:`Box` type and the one intersection-over-union.
* :mod:`.ssd` - the bundled SSD detectors (anchors rebuilt, rows decoded).
* :mod:`.detect` - :class:`PersonDetector`: faces and bodies merged into :class:`Person` entries.
* :mod:`.person` - :class:`Person`, and who is framed for a per-person pass.
* :mod:`.roi` - :class:`PersonRoi`: the upright square around one body, and the maps in and out of it.
* :mod:`.pose` - :class:`PoseSegmenter`: the pose-landmark model's per-person segmentation.
* :mod:`.search` - :func:`search_person`: a person the detectors missed, found by rotation.
"""

from __future__ import annotations

from .box import Box, Rect, iou, ious, scale_box
from .detect import DetectorProtocol, PersonDetector
from .person import MAX_ROI_SIDE, Person, body_roi, close_up, full_body_people
from .pose import PersonMask, PoseSegmenter, PoseSegmenterProtocol, person_masks
from .roi import PersonRoi, crop_roi, roi_from_face, roi_from_pose, roi_matrix, roi_to_frame
from .search import Found, search_person
from .ssd import Detection, SsdDetector

__all__ = [
    "MAX_ROI_SIDE",
    "Box",
    "Detection",
    "DetectorProtocol",
    "Found",
    "Person",
    "PersonDetector",
    "PersonMask",
    "PersonRoi",
    "PoseSegmenter",
    "PoseSegmenterProtocol",
    "Rect",
    "SsdDetector",
    "body_roi",
    "close_up",
    "crop_roi",
    "full_body_people",
    "iou",
    "ious",
    "person_masks",
    "roi_from_face",
    "roi_from_pose",
    "roi_matrix",
    "roi_to_frame",
    "scale_box",
    "search_person",
]
