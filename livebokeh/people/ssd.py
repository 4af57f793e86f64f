"""The bundled single-shot (SSD-style) detectors: anchors rebuilt here, rows decoded into boxes.

Every output row of a MediaPipe detector is a box and keypoints *relative to a fixed
anchor*, with one logit.  The anchors are not stored in the model, so they are rebuilt
from the published anchor settings (strides, anchors per cell) and checked against the
model's output row count.

* ``face-short`` (128x128, faces within ~2 m) and ``face-full`` (192x192, up to
  ~5 m): box = the face; 6 keypoints (eyes, nose, mouth, ears).
* ``pose-detection`` (224x224, letterboxed): box = the face; keypoint 0 is the
  mid-hip and keypoint 1 lies on the circle around the whole body, so
  ``|kp1 - kp0|`` is the body's radius.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .. import models
from ..errors import ModelLoadError
from ..segmentation.runtime import make_interpreter
from .box import Box, ious


@dataclass(frozen=True, slots=True)
class AnchorSpec:
    """SSD anchor layout of one detector: input side, strides and anchors per cell for each layer."""

    size: int
    strides: tuple[int, ...]
    per_layer: int  # anchors each layer adds per cell (consecutive equal strides share cells)
    score_threshold: float


SPECS: dict[str, AnchorSpec] = {
    "face-short": AnchorSpec(128, (8, 16, 16, 16), 2, 0.5),
    "face-full": AnchorSpec(192, (4,), 1, 0.6),
    "pose-detection": AnchorSpec(224, (8, 16, 32, 32, 32), 2, 0.5),
}
"""The anchor layout of each bundled detector, by model name."""

NMS_IOU = 0.3
"""Non-maximum suppression drops a detection overlapping a better one by more than this."""


def anchors(spec: AnchorSpec) -> np.ndarray:
    """Anchor centres ``(N, 2)`` in ``[0, 1]`` (x, y), in the order the model emits rows."""
    out: list[np.ndarray] = []
    i = 0
    strides = spec.strides
    while i < len(strides):
        j = i
        while j < len(strides) and strides[j] == strides[i]:
            j += 1
        per_cell = spec.per_layer * (j - i)
        cells = int(np.ceil(spec.size / strides[i]))
        ys, xs = np.mgrid[0:cells, 0:cells].astype(np.float32)
        centres = np.stack([(xs + 0.5) / cells, (ys + 0.5) / cells], axis=-1).reshape(-1, 1, 2)
        out.append(np.repeat(centres, per_cell, axis=1).reshape(-1, 2))
        i = j
    return np.concatenate(out, axis=0)


@dataclass(frozen=True, slots=True)
class Detection:
    """One raw detection in frame pixels: a box, keypoints ``(K, 2)``, a score and the detector's name."""

    box: Box
    keypoints: np.ndarray
    score: float
    kind: str


class SsdDetector:
    """One bundled MediaPipe detector with its anchors decoded here."""

    def __init__(self, name: str, *, num_threads: int = 1, runtime: str | None = None) -> None:
        if name not in SPECS:
            raise ModelLoadError(f"detector {name!r} is unknown: use one of {', '.join(SPECS)}")
        info = models.resolve(name)
        self.name = name
        self.spec = SPECS[name]
        self._interp, self.runtime = make_interpreter(str(info.path), num_threads, runtime)
        inp = self._interp.get_input_details()[0]
        self._input_index = int(inp["index"])
        outs = sorted(self._interp.get_output_details(), key=lambda d: -int(d["shape"][-1]))
        self._reg_index, self._cls_index = int(outs[0]["index"]), int(outs[1]["index"])
        self._anchors = anchors(self.spec)
        rows = int(outs[0]["shape"][1])
        if rows != len(self._anchors):
            raise ModelLoadError(f"detector {name}: model has {rows} anchors, expected {len(self._anchors)}")
        self._buf = np.zeros((1, self.spec.size, self.spec.size, 3), np.float32)

    def detect(self, image: np.ndarray, threshold: float | None = None) -> list[Detection]:
        """Detections in ``image`` (BGR uint8), letterboxed to the model's square input."""
        h, w = image.shape[:2]
        side = max(h, w)
        scale = self.spec.size / side
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        ox, oy = (self.spec.size - nw) // 2, (self.spec.size - nh) // 2
        small = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
        self._buf.fill(0.0)
        rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB).astype(np.float32)
        self._buf[0, oy : oy + nh, ox : ox + nw] = rgb * (2.0 / 255.0) - 1.0
        self._interp.set_tensor(self._input_index, self._buf)
        self._interp.invoke()
        reg = self._interp.get_tensor(self._reg_index)[0]
        logits = self._interp.get_tensor(self._cls_index)[0, :, 0]
        thr = self.spec.score_threshold if threshold is None else threshold
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -80.0, 80.0)))
        keep = np.nonzero(scores >= thr)[0]
        if keep.size == 0:
            return []
        size = float(self.spec.size)
        a = self._anchors[keep]
        r = reg[keep]
        cx = r[:, 0] / size + a[:, 0]
        cy = r[:, 1] / size + a[:, 1]
        bw = r[:, 2] / size
        bh = r[:, 3] / size
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
        kps = r[:, 4:].reshape(len(keep), -1, 2) / size + a[:, None, :]
        # model-input units [0, 1] -> frame pixels (undo the letterbox)
        to_px = np.array([size / scale, size / scale], np.float32)
        off = np.array([ox / scale, oy / scale], np.float32)
        boxes = boxes.reshape(-1, 2, 2) * to_px - off
        kps = kps * to_px - off
        order = nms(boxes.reshape(-1, 4), scores[keep])
        return [
            Detection(tuple(float(v) for v in boxes[i].reshape(4)), kps[i], float(scores[keep][i]), self.name)  # type: ignore[arg-type]
            for i in order
        ]

    def close(self) -> None:
        self._interp = None


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float = NMS_IOU) -> list[int]:
    """Indices kept by greedy non-maximum suppression, best first."""
    order = list(np.argsort(-scores))
    kept: list[int] = []
    while order:
        i = order.pop(0)
        kept.append(int(i))
        if order:
            overlap = ious(boxes[i], boxes[order])
            order = [o for o, v in zip(order, overlap, strict=True) if v < iou_threshold]
    return kept
