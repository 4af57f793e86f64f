"""The crop pass: where a second look at a region replaces the first pass, and how it is merged back.

A person small in the frame is seen by the model at a few dozen pixels; segmenting a
square crop around them again (:func:`crop_regions`, :func:`merge_crops`) shows them
at several times that.  Whole-body people get the per-person pose-landmark model
instead (:mod:`livebokeh.people.pose`), whose results :func:`merge_person_masks` puts
over the first pass.  Everything here works on the matte's working-size canvas.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import cv2
import numpy as np

from ..people.box import Box, Rect, ious
from ..people.person import Person
from ..people.pose import PersonMask
from .subject import components

log = logging.getLogger(__name__)

MIN_GAIN = 1.25
"""The crop pass runs on a person when the crop would show them at this many times the
resolution of the first pass: a person is "small in the frame" relative to the model."""

CROP_PAD = 0.1
"""Crop margin around a person's box, as a fraction of the box's larger side."""

MIN_CROP = 16
"""A crop narrower or shorter than this many pixels is not segmented."""

SAME_CROP_IOU = 0.6
"""A crop overlapping an earlier one by more than this is merged into it."""

MIN_BLOB = 0.002
"""A first-pass blob smaller than this fraction of the mask is a speck, not someone to crop."""

MAX_CROP_FILL = 0.8
"""A crop result that calls more than this fraction of its crop "person" is taken as a model failure and ignored."""


def crop_rect(box: Box, frame_hw: tuple[int, int], pad: float = CROP_PAD) -> Rect:
    """A square crop around ``box`` (grown by ``pad``), shifted to stay inside the frame."""
    h, w = frame_hw
    x0, y0, x1, y1 = box
    side = min(max(x1 - x0, y1 - y0) * (1 + 2 * pad), float(max(h, w)))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    sx = min(max(cx - side / 2, 0.0), max(0.0, w - side))
    sy = min(max(cy - side / 2, 0.0), max(0.0, h - side))
    return int(sx), int(sy), int(min(w, sx + side)), int(min(h, sy + side))


def resolution_gain(
    rect: Rect, frame_hw: tuple[int, int], input_size_for: Callable[[tuple[int, ...]], tuple[int, int]]
) -> float:
    """How many times more model pixels per frame pixel a crop gets than the whole frame."""
    ch, cw = rect[3] - rect[1], rect[2] - rect[0]
    mh, mw = input_size_for((ch, cw, 3))
    fh, fw = input_size_for((frame_hw[0], frame_hw[1], 3))
    crop_density = min(mh / max(1, ch), mw / max(1, cw))
    frame_density = min(fh / frame_hw[0], fw / frame_hw[1])
    return crop_density / frame_density


def blob_boxes(first_pass: np.ndarray, frame_hw: tuple[int, int]) -> list[Box]:
    """Boxes (frame pixels) of the parts of the first-pass mask that are not specks."""
    h, w = frame_hw
    mh, mw = first_pass.shape[:2]
    _, _, stats = components((first_pass >= 0.5).astype(np.uint8))
    big = stats[1:][stats[1:, cv2.CC_STAT_AREA] >= MIN_BLOB * mh * mw].astype(np.float64)
    x, y, bw, bh = big[:, 0], big[:, 1], big[:, 2], big[:, 3]
    boxes = np.stack([x * (w / mw), y * (h / mh), (x + bw) * (w / mw), (y + bh) * (h / mh)], axis=1)
    return [(x0, y0, x1, y1) for x0, y0, x1, y1 in boxes.tolist()]


def crop_regions(
    boxes: list[Box],
    frame_hw: tuple[int, int],
    input_size_for: Callable[[tuple[int, ...]], tuple[int, int]],
    *,
    min_gain: float = MIN_GAIN,
    max_height: float = 1.0,
) -> list[Rect]:
    """Crops for the second pass: one per box that the crop would show at ``min_gain`` x the resolution.

    Boxes taller than ``max_height`` of the frame are skipped (video uses 0.5: only
    people small in the frame are worth a second inference every frame).  Boxes whose
    crops mostly overlap an earlier one are merged into it.
    """
    rects: list[Rect] = []
    for box in boxes:
        if box[3] - box[1] > max_height * frame_hw[0]:
            continue
        rect = crop_rect(box, frame_hw)
        if rect[2] - rect[0] < MIN_CROP or rect[3] - rect[1] < MIN_CROP:
            continue
        if resolution_gain(rect, frame_hw, input_size_for) < min_gain:
            continue
        arr = np.array(rect, np.float32)
        if rects and float(ious(arr, np.array(rects, np.float32)).max()) > SAME_CROP_IOU:
            continue
        rects.append(rect)
    return rects


def _feather(rect: Rect, frame_hw: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
    """Weight 1 inside a crop, ramping to 0 over its outer 10% except where it meets the frame edge."""
    ch, cw = shape
    h, w = frame_hw
    ramp_y = np.ones(ch, np.float32)
    ramp_x = np.ones(cw, np.float32)
    ny, nx = max(1, ch // 10), max(1, cw // 10)
    up = np.linspace(0.0, 1.0, ny, dtype=np.float32)
    ux = np.linspace(0.0, 1.0, nx, dtype=np.float32)
    if rect[1] > 0:
        ramp_y[:ny] = np.minimum(ramp_y[:ny], up)
    if rect[3] < h:
        ramp_y[-ny:] = np.minimum(ramp_y[-ny:], up[::-1])
    if rect[0] > 0:
        ramp_x[:nx] = np.minimum(ramp_x[:nx], ux)
    if rect[2] < w:
        ramp_x[-nx:] = np.minimum(ramp_x[-nx:], ux[::-1])
    return np.outer(ramp_y, ramp_x)


def merge_crops(
    image: np.ndarray,
    first_pass: np.ndarray,
    rects: list[Rect],
    segment: Callable[[np.ndarray], np.ndarray],
    work_size: tuple[int, int],
    *,
    people: list[Person] | None = None,
    results: dict[Rect, np.ndarray] | None = None,
) -> np.ndarray:
    """Segment each crop of ``image`` and merge the results over ``first_pass`` at ``work_size`` (w, h).

    ``results`` holds crops already segmented (video carries them over a few frames); the
    others are segmented here with ``segment``.

    Inside a crop its own result replaces the first pass (it saw the person at a
    higher resolution); where crops overlap the larger probability wins, so two people
    side by side both stay.  A crop may sharpen what the first pass found and add
    what lies inside a detected person's box, but not invent person pixels far from
    both; and a crop whose result is nearly all "person" is dropped as a failure.
    """
    h, w = image.shape[:2]
    ww, wh = work_size
    canvas = cv2.resize(first_pass, (ww, wh), interpolation=cv2.INTER_LINEAR)
    if not rects:
        return canvas
    sx, sy = ww / w, wh / h
    best = np.zeros((wh, ww), np.float32)
    weight = np.zeros((wh, ww), np.float32)
    # where a crop may add person pixels: near the first pass, or inside a detected person
    near = (canvas >= 0.25).astype(np.uint8)
    grow = max(3, int(0.03 * max(ww, wh))) | 1
    allowed = cv2.dilate(near, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow, grow)))
    for person in people or []:
        x0, y0, x1, y1 = person.body
        allowed[max(0, int(y0 * sy)) : int(np.ceil(y1 * sy)), max(0, int(x0 * sx)) : int(np.ceil(x1 * sx))] = 1
    for rect in rects:
        x0, y0, x1, y1 = rect
        prob = results.get(rect) if results else None
        if prob is None:
            prob = segment(np.ascontiguousarray(image[y0:y1, x0:x1]))
        if float((prob >= 0.5).mean()) > MAX_CROP_FILL:
            log.debug("crop %s ignored: the model called %.0f%% of it person", rect, 100 * (prob >= 0.5).mean())
            continue
        wx0, wy0 = int(round(x0 * sx)), int(round(y0 * sy))
        wx1, wy1 = max(wx0 + 1, int(round(x1 * sx))), max(wy0 + 1, int(round(y1 * sy)))
        part = cv2.resize(prob, (wx1 - wx0, wy1 - wy0), interpolation=cv2.INTER_LINEAR)
        feather = _feather((wx0, wy0, wx1, wy1), (wh, ww), part.shape)
        np.maximum(best[wy0:wy1, wx0:wx1], part, out=best[wy0:wy1, wx0:wx1])
        np.maximum(weight[wy0:wy1, wx0:wx1], feather, out=weight[wy0:wy1, wx0:wx1])
    best = np.where(allowed.astype(bool), best, np.minimum(best, canvas))
    return canvas * (1.0 - weight) + best * weight


OTHER_PERSON_SHARE = 0.3
"""Inside a person's ROI, a first-pass blob less than this share of which is that person is someone else."""


def merge_person_masks(canvas: np.ndarray, masks: list[PersonMask], *, only: bool = False) -> np.ndarray:
    """Put per-person masks over ``canvas`` (same size).

    Inside a person's ROI their own mask replaces the first pass: it knows the whole
    body, where the selfie model smears full-body people into the background.  Parts
    of the first pass inside the ROI that do not touch that person (someone else
    standing in the ROI) are kept.  ``only``: the result is the people's masks alone
    (``--subject main``: the main person defines what stays sharp).
    """
    if not masks:
        return canvas
    union = np.max([m.prob for m in masks], axis=0) if len(masks) > 1 else masks[0].prob
    if only:
        return np.ascontiguousarray(union, dtype=np.float32)
    cover = np.max([m.coverage for m in masks], axis=0) if len(masks) > 1 else masks[0].coverage
    count, labels = cv2.connectedComponents((canvas >= 0.5).astype(np.uint8), connectivity=8)
    inside = np.zeros_like(canvas)
    if count > 1:
        person = union >= 0.5
        total = np.bincount(labels.ravel(), minlength=count).astype(np.float32)
        shared = np.bincount(labels[person].ravel(), minlength=count).astype(np.float32)
        other = shared < OTHER_PERSON_SHARE * np.maximum(total, 1.0)  # blobs mostly not this person: someone else
        other[0] = False
        keep = cv2.dilate(other[labels].astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        inside = np.where(keep, np.maximum(canvas, union), union)
    else:
        inside = union
    return np.ascontiguousarray(cover * inside + (1.0 - cover) * canvas, dtype=np.float32)


def refined_regions(
    shape: tuple[int, ...], image_hw: tuple[int, int], rects: list[Rect], masks: list[PersonMask]
) -> np.ndarray | None:
    """Where a crop or a per-person mask replaced the first pass, as a ``uint8`` map of ``shape`` (``None``: nowhere).

    ``rects`` are in pixels of a picture of ``image_hw``; the masks' coverage is at any size.
    """
    if not rects and not masks:
        return None
    h, w = shape[:2]
    out = np.zeros((h, w), np.uint8)
    sy, sx = h / image_hw[0], w / image_hw[1]
    for x0, y0, x1, y1 in rects:
        out[int(y0 * sy) : int(np.ceil(y1 * sy)), int(x0 * sx) : int(np.ceil(x1 * sx))] = 1
    for m in masks:
        cover = m.coverage if m.coverage.shape[:2] == (h, w) else cv2.resize(m.coverage, (w, h))
        out[cover > 0.5] = 1
    return out
