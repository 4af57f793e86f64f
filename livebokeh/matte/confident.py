"""Never worse than the model where the model is sure: confident first-pass regions survive refinement.

The refinement steps after the first pass (crops, per-person masks, subject choice, stray
blobs) each replace parts of the model's mask with what they believe better.  They are
right most of the time, but when one is wrong it can erase a person the model saw
plainly - a pose-landmark ROI of someone behind a selfie covering the selfie-taker, a
crop whose model run fails.  :func:`protect_confident` puts back what such a step took
from a *confident* region of the first pass (probability above ``CONFIDENT``, a real
area of the frame), unless there is positive evidence that the region is not a person
who should stay sharp: with ``subject="main"`` it is the body of another detected person.

Where a step only trimmed a confident region, its core is protected (the region shrunk by
``EDGE_MODEL_PX`` model pixels): the edge is where refinement legitimately moves the contour.
Where a step erased most of it, the region comes back whole.

A per-person pass (the pose-landmark model's mask of one detected person) is positive evidence of
where that person ends, so inside its area a trimmed region's core gives way to it.  In a group
photo the first pass is sure of one blob over several people and the gaps between them; the
per-person passes cut the gaps out, and putting them back cost the 7-person CIHP photo 0.030 IoU
and 0.081 boundary F1 (0.6046 -> 0.5743).  Crops (the selfie model again, closer) are not such
evidence: letting them trim the core lost 0.003 IoU on two of the 400 dev portraits.  Erased regions
come back whole wherever they are.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..people.box import Box, scale_box
from .subject import components, grown

CONFIDENT = 0.8
"""First-pass probability above which the model is "sure" a pixel is a person."""

MIN_AREA = 0.005
"""A confident region smaller than this fraction of the frame is not protected (specks, a hand at the edge)."""

EDGE_MODEL_PX = 2.0
"""The protected core is the confident region minus this many first-pass pixels along its edge."""

ERASED_SHARE = 0.5
"""A confident region of which a step kept less than this share was erased, not trimmed: it comes back whole,
its soft edge (``EDGE_MODEL_PX`` beyond it) included; a trimmed one gets back its core only."""

SUBJECT_SHARE = 0.5
"""``subject="main"``: only a confident region with at least this share of its pixels inside the subject's box
(grown as :func:`~.subject.keep_region` grows it) is the subject's and protected; the rest is someone or
something else, which that mode blurs on purpose."""


def protect_confident(
    refined: np.ndarray,
    first: np.ndarray,
    *,
    subject: Box | None = None,
    frame_size: tuple[int, int] | None = None,
    outlined: np.ndarray | None = None,
) -> np.ndarray:
    """``refined`` with the confident core of ``first`` put back wherever a refinement step removed it.

    ``refined`` and ``first`` are ``float32`` masks of any sizes (``first`` is the model's own
    output; the result has ``refined``'s size).  With ``subject`` (the main subject's box in
    frame pixels, ``frame_size`` = ``(w, h)``) only the confident regions that are mostly inside
    it are protected.  ``outlined`` (any size, nonzero = yes) marks where a per-person pass segmented a
    detected person: there a trimmed region's core is not put back (see the module's note).
    """
    conf = (first >= CONFIDENT).astype(np.uint8)
    if not conf.any():
        return refined
    fh, fw = first.shape[:2]
    count, labels, stats = components(conf)
    keep = stats[:, cv2.CC_STAT_AREA] >= MIN_AREA * fh * fw
    keep[0] = False
    region: tuple[slice, slice] | None = None
    if subject is not None and frame_size is not None and keep.any():
        x0, y0, x1, y1 = grown(scale_box(subject, fw / frame_size[0], fh / frame_size[1]))
        region = slice(max(0, int(y0)), max(0, int(np.ceil(y1)))), slice(max(0, int(x0)), max(0, int(np.ceil(x1))))
        inside = np.bincount(labels[region].ravel(), minlength=count)
        keep &= inside >= SUBJECT_SHARE * stats[:, cv2.CC_STAT_AREA]
    if not keep.any():
        return refined
    rh, rw = refined.shape[:2]
    if (rh, rw) != (fh, fw):
        labels = cv2.resize(labels, (rw, rh), interpolation=cv2.INTER_NEAREST)
        first = cv2.resize(first, (rw, rh), interpolation=cv2.INTER_LINEAR)
    if region is not None:  # the subject's region only: what lies beyond it is cleared on purpose (keep_region)
        sy, sx = rh / fh, rw / fw
        outside = np.ones((rh, rw), bool)
        outside[
            int(region[0].start * sy) : int(region[0].stop * sy), int(region[1].start * sx) : int(region[1].stop * sx)
        ] = False
        labels[outside] = 0
    # regions a step erased (most of it gone) come back whole, soft edge included; elsewhere only the core
    held = np.bincount(labels[refined >= 0.5].ravel(), minlength=count)
    areas = np.maximum(np.bincount(labels.ravel(), minlength=count), 1)
    erased = keep & (held < ERASED_SHARE * areas)
    edge = max(1, int(round(EDGE_MODEL_PX * max(rh / fh, rw / fw))))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * edge + 1, 2 * edge + 1))
    core = cv2.erode(keep[labels].astype(np.uint8), disc) > 0
    if outlined is not None:  # a trimmed region's core gives way where a per-person pass drew someone's outline
        if outlined.shape[:2] != (rh, rw):
            outlined = cv2.resize(outlined, (rw, rh), interpolation=cv2.INTER_NEAREST)
        core &= outlined == 0
    if erased.any():
        core |= cv2.dilate(erased[labels].astype(np.uint8), disc) > 0
    lost = core & (refined < first)
    if not lost.any():
        return refined
    out = refined.copy()
    out[lost] = first[lost]
    return out
