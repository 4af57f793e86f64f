"""Geometry of one person's region: an upright, rotated square around the body, and the maps in and out of it.

A :class:`PersonRoi` is centred on the mid-hip and turned so the body points up, as
MediaPipe's pose pipeline frames a person for its pose-landmark model.  It comes from
the pose detector's hip and body-circle keypoints (:func:`roi_from_pose`), from two
tracked landmarks (:func:`roi_from_points`) or, for people only the face detector saw,
from the face box (:func:`roi_from_face`).  :func:`crop_roi` cuts it out upright and
:func:`roi_to_frame` pastes a ROI-space map back over the frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .box import Box
from .ssd import Detection

POSE_INPUT = 256
"""Side of the pose-landmark model's square input (and of its segmentation output)."""

ROI_SCALE = 1.25
"""The ROI's side is this many times the pose detector's body-circle diameter (MediaPipe's own margin)."""

FACE_TO_HIP = 3.5
"""A standing person's mid-hip lies about this many face heights below the face centre."""

FACE_TO_RADIUS = 4.5
"""The body circle around the mid-hip has a radius of about this many face heights."""


@dataclass(frozen=True, slots=True)
class PersonRoi:
    """A square, rotated region around one person, in frame pixels.

    ``centre`` is the mid-hip, ``side`` the square's side and ``rotation`` the angle
    (radians, counter-clockwise in image view) that turns the person upright: the
    region's "up" points from the hip towards the top of the body circle.
    """

    centre: tuple[float, float]
    side: float
    rotation: float

    def shifted(self, dx: float, dy: float) -> PersonRoi:
        """The same region moved by ``(dx, dy)`` pixels."""
        return PersonRoi((self.centre[0] + dx, self.centre[1] + dy), self.side, self.rotation)

    def scaled(self, sx: float, sy: float) -> PersonRoi:
        """The region in an image scaled by ``(sx, sy)`` (near-uniform scales only)."""
        return PersonRoi((self.centre[0] * sx, self.centre[1] * sy), self.side * (sx + sy) / 2, self.rotation)

    def bounds(self) -> Box:
        """Axis-aligned box around the rotated square."""
        half = self.side / 2 * (abs(math.cos(self.rotation)) + abs(math.sin(self.rotation)))
        cx, cy = self.centre
        return cx - half, cy - half, cx + half, cy + half


def roi_from_pose(det: Detection, scale: float = ROI_SCALE) -> PersonRoi:
    """The upright ROI of a ``pose-detection`` result: centred on the hip, turned so the body points up."""
    return roi_from_points(det.keypoints[0], det.keypoints[1], scale)


def roi_from_points(hip: np.ndarray, top: np.ndarray, scale: float = ROI_SCALE) -> PersonRoi:
    """The upright ROI around a body given its centre (hip) and a point on the top of its circle."""
    dx, dy = float(top[0] - hip[0]), float(top[1] - hip[1])
    radius = math.hypot(dx, dy)
    rotation = math.pi / 2 - math.atan2(-dy, dx)
    return PersonRoi((float(hip[0]), float(hip[1])), 2.0 * radius * scale, rotation)


def roi_from_face(face: Box, scale: float = ROI_SCALE) -> PersonRoi:
    """An upright whole-body ROI guessed from a face box, for people the pose detector missed.

    The pose-landmark model's presence score then says whether a body is really there.
    """
    x0, y0, x1, y1 = face
    fh = y1 - y0
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + FACE_TO_HIP * fh
    return PersonRoi((cx, cy), 2.0 * FACE_TO_RADIUS * fh * scale, 0.0)


def roi_matrix(roi: PersonRoi, size: int = POSE_INPUT) -> np.ndarray:
    """Affine ``2x3`` map from ROI pixels (``size`` x ``size``, person upright) to frame pixels.

    Its inverse (:func:`cv2.invertAffineTransform`) maps frame pixels into the ROI.
    """
    c, s = math.cos(roi.rotation), math.sin(roi.rotation)
    k = roi.side / size
    m = np.array([[c * k, -s * k, 0.0], [s * k, c * k, 0.0]], np.float64)
    half = (size - 1) / 2.0
    m[:, 2] = np.array(roi.centre, np.float64) - m[:, :2] @ np.array([half, half])
    return m


def crop_roi(image: np.ndarray, roi: PersonRoi, size: int = POSE_INPUT) -> np.ndarray:
    """The ROI of ``image`` resampled to ``size`` x ``size``, person upright (outside the frame: black).

    A ROI much larger than ``size`` is taken from a pre-shrunk copy so the resampling does not alias.
    """
    shrink = size * 1.5 / roi.side
    if shrink < 0.75:
        # shrink only the part of the frame the ROI covers
        h, w = image.shape[:2]
        bx0, by0, bx1, by1 = roi.bounds()
        x0, y0 = max(0, int(bx0)), max(0, int(by0))
        x1, y1 = min(w, int(math.ceil(bx1)) + 1), min(h, int(math.ceil(by1)) + 1)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return np.zeros((size, size, image.shape[2]), image.dtype)
        part = image[y0:y1, x0:x1]
        nw, nh = max(1, round((x1 - x0) * shrink)), max(1, round((y1 - y0) * shrink))
        image = cv2.resize(part, (nw, nh), interpolation=cv2.INTER_AREA)
        roi = roi.shifted(-x0, -y0).scaled(nw / (x1 - x0), nh / (y1 - y0))
    to_roi = cv2.invertAffineTransform(roi_matrix(roi, size))
    return cv2.warpAffine(image, to_roi, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def roi_to_frame(prob: np.ndarray, roi: PersonRoi, frame_size: tuple[int, int]) -> np.ndarray:
    """Paste a ROI-space map back into a frame of ``frame_size`` (w, h); 0 outside the ROI."""
    m = roi_matrix(roi, prob.shape[0])
    return cv2.warpAffine(prob, m, frame_size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
