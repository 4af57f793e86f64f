"""TFLite person segmentation (MediaPipe selfie models or any compatible model).

One interpreter per model, created once and reused for every frame.  ``auto`` holds
the square (256x256) and landscape (144x256) selfie models and picks per frame by
aspect ratio: landscape for frames wider than 4:3.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .. import models
from ..errors import ModelLoadError
from .runtime import make_interpreter

log = logging.getLogger(__name__)

LANDSCAPE_MIN_ASPECT = 1.5
"""Width/height at or above which ``auto`` uses the 144x256 landscape model (16:9 is 1.78)."""


@dataclass(slots=True)
class _Model:
    interpreter: Any
    runtime: str
    input_index: int
    output_index: int
    height: int
    width: int
    channels: int
    input_range: tuple[float, float]
    person_class: int | None
    input_buf: np.ndarray


def _open(path: Path, num_threads: int, person_class: int | None, runtime: str | None) -> _Model:
    interp, runtime_name = make_interpreter(str(path), num_threads, runtime)
    inputs = interp.get_input_details()
    outputs = interp.get_output_details()
    if len(inputs) != 1:
        raise ModelLoadError(f"model {path} has {len(inputs)} inputs; a segmentation model needs exactly one image input")
    inp = inputs[0]
    shape = tuple(int(s) for s in inp["shape"])
    if len(shape) != 4 or shape[0] != 1 or shape[3] != 3:
        raise ModelLoadError(f"model {path} takes input of shape {shape}; a segmentation model needs 1 x H x W x 3")
    if inp["dtype"] not in (np.float32, np.uint8):
        raise ModelLoadError(f"model {path} takes {np.dtype(inp['dtype'])} input; supported are float32 and uint8")
    out = outputs[0]
    oshape = tuple(int(s) for s in out["shape"])
    if len(oshape) == 4 and oshape[0] == 1:
        channels = oshape[3]
    elif len(oshape) == 3 and oshape[0] == 1:
        channels = 1
    else:
        raise ModelLoadError(f"model {path} has output shape {oshape}; a segmentation model needs 1 x H x W x C")
    if channels > 1:
        if person_class is None:
            raise ModelLoadError(
                f"model {path} outputs {channels} classes: say which one is the person with --person-class"
            )
        if not 0 <= person_class < channels:
            raise ModelLoadError(f"--person-class {person_class} is out of range for model {path} with {channels} classes")
    h, w = shape[1], shape[2]
    return _Model(
        interpreter=interp,
        runtime=runtime_name,
        input_index=int(inp["index"]),
        output_index=int(out["index"]),
        height=h,
        width=w,
        channels=channels,
        input_range=(0.0, 1.0),
        person_class=person_class if channels > 1 else None,
        input_buf=np.zeros((1, h, w, 3), dtype=inp["dtype"]),
    )


class TFLiteSegmenter:
    """Person segmentation with a TFLite model.

    ``model`` is ``"auto"`` (square or landscape selfie model by aspect ratio), a
    bundled model name (``selfie``, ``selfie-landscape``) or a path to a ``.tflite``
    file whose single output is a person probability (or ``C`` classes with
    ``person_class``).
    """

    def __init__(
        self,
        model: str | Path = models.DEFAULT_MODEL,
        *,
        num_threads: int = 1,
        person_class: int | None = None,
        runtime: str | None = None,
    ) -> None:
        self._models: dict[str, _Model] = {}
        spec = str(model)
        if spec == "auto":
            for name in ("selfie", "selfie-landscape"):
                self._models[name] = _open(models.resolve(name).path, num_threads, None, runtime)
            self._name = "auto"
        elif spec in models.manifest():
            info = models.resolve(spec)
            if info.kind != "segmentation":
                raise ModelLoadError(f"bundled model {spec!r} is a {info.kind} model, not a segmentation model")
            self._models[spec] = _open(info.path, num_threads, None, runtime)
            self._name = spec
        else:
            path = Path(spec).expanduser()
            if not path.is_file():
                raise ModelLoadError(
                    f"model {spec!r} is neither a bundled model ({', '.join(models.manifest())}, auto) nor an existing file"
                )
            self._models[path.name] = _open(path, num_threads, person_class, runtime)
            self._name = str(path)
        self._runtime = next(iter(self._models.values())).runtime
        self._last_ts = -1
        log.info("segmenter %s loaded with %s", self._name, self._runtime)

    @property
    def name(self) -> str:
        return self._name

    @property
    def runtime(self) -> str:
        return self._runtime

    def _pick(self, frame_shape: tuple[int, ...]) -> _Model:
        if len(self._models) == 1:
            return next(iter(self._models.values()))
        h, w = frame_shape[0], frame_shape[1]
        return self._models["selfie-landscape" if w >= LANDSCAPE_MIN_ASPECT * h else "selfie"]

    def input_size_for(self, frame_shape: tuple[int, ...]) -> tuple[int, int]:
        m = self._pick(frame_shape)
        return m.height, m.width

    def segment(self, image: np.ndarray) -> np.ndarray:
        """Person probability for a BGR ``uint8`` image, ``float32`` at model resolution."""
        m = self._pick(image.shape)
        small = cv2.resize(image, (m.width, m.height), interpolation=cv2.INTER_AREA)
        rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
        if m.input_buf.dtype == np.float32:
            np.multiply(rgb, np.float32(1.0 / 255.0), out=m.input_buf[0], casting="unsafe")
        else:
            m.input_buf[0] = rgb
        m.interpreter.set_tensor(m.input_index, m.input_buf)
        m.interpreter.invoke()
        out = m.interpreter.get_tensor(m.output_index)[0]
        if out.ndim == 2:
            prob = out
        elif m.channels == 1:
            prob = out[:, :, 0]
        else:
            prob = _class_probability(out, m.person_class or 0)
        prob = np.asarray(prob, dtype=np.float32)
        if prob.min() < 0.0 or prob.max() > 1.0:  # logits from a third-party model
            prob = 1.0 / (1.0 + np.exp(-prob))
        return np.ascontiguousarray(prob, dtype=np.float32)

    def segment_for_video(self, image: np.ndarray, timestamp_ns: int) -> np.ndarray:
        """Like :meth:`segment`, for frames of one stream with increasing timestamps."""
        self._last_ts = timestamp_ns
        return self.segment(image)

    def close(self) -> None:
        self._models.clear()

    def __enter__(self) -> TFLiteSegmenter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _class_probability(out: np.ndarray, person_class: int) -> np.ndarray:
    """Softmax probability of one class from ``H x W x C`` scores (probabilities pass through)."""
    scores = out.astype(np.float32)
    sums = scores.sum(axis=2)
    if scores.min() >= 0.0 and np.allclose(sums, 1.0, atol=1e-3):
        return scores[:, :, person_class]
    scores -= scores.max(axis=2, keepdims=True)
    np.exp(scores, out=scores)
    return scores[:, :, person_class] / scores.sum(axis=2)
