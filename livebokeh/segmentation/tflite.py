"""TFLite person segmentation (MediaPipe selfie models or any compatible model).

One interpreter per model, created once and reused for every frame.  ``auto`` holds
the square (256x256) and landscape (144x256) selfie models and picks per frame by
aspect ratio: landscape for frames at least 3:2 wide (``LANDSCAPE_MIN_ASPECT``); still
photos (:meth:`TFLiteSegmenter.for_stills`) take it only from 16:9-like widths on.
"""

from __future__ import annotations

import copy
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

STILL_LANDSCAPE_MIN_ASPECT = 1.7
"""The same for still photos (:meth:`TFLiteSegmenter.for_stills`): the landscape model is the faster,
coarser variant (144 rows instead of 256) made for 16:9 video calls.  A photo has the time for the square
model's resolution and gives it up only when it is about as wide as the landscape model's own 16:9 input,
where the square model would squeeze it most (16:9 DAVIS frames, raw IoU: landscape 0.417, square 0.380;
3:2 and 16:10 photos keep the square model's 256 rows)."""


DYNAMIC_INPUT_SIZE = (256, 256)
"""``(height, width)`` given to a model whose input size is dynamic (``-1``)."""

MIN_MASK_SIDE = 8
"""The smallest output height and width that can be a mask (detectors output N x K tables)."""

_TFLITE_MAGIC = b"TFL3"


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
    output_kind: str = "probability"  # "probability" (or logits), "quantized", "classes"
    output_scale: float = 1.0
    output_zero_point: int = 0


def _shape_text(shape: Any) -> str:
    return "x".join(str(int(s)) for s in shape)


def check_tflite_file(path: Path) -> None:
    """Raise :class:`ModelLoadError` unless ``path`` looks like a TFLite flatbuffer (``TFL3`` identifier)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise ModelLoadError(f"model {path} cannot be read: {exc.strerror or exc}") from exc
    if len(head) < 8 or head[4:8] != _TFLITE_MAGIC:
        raise ModelLoadError(
            f"model {path} is not a TFLite model (no TFL3 identifier in its header): "
            "give a .tflite segmentation model, a DeepLab .pb graph, or a bundled name (see `livebokeh models`)"
        )


def _is_mask_shape(shape: tuple[int, ...], in_h: int, in_w: int) -> bool:
    """1 x h x w [x C] with h, w of a picture and about the input's aspect ratio."""
    if len(shape) not in (3, 4) or shape[0] != 1:
        return False
    h, w = shape[1], shape[2]
    if h < MIN_MASK_SIDE or w < MIN_MASK_SIDE:
        return False
    if len(shape) == 4 and shape[3] > 256:
        return False
    return abs((h / w) / (in_h / in_w) - 1.0) <= 0.15


def _open(path: Path, num_threads: int, person_class: int | None, runtime: str | None) -> _Model:
    """Load one model and check that it is a person-segmentation model livebokeh can drive."""
    check_tflite_file(path)
    interp, runtime_name = make_interpreter(str(path), num_threads, runtime)
    inputs = interp.get_input_details()
    outputs = interp.get_output_details()
    if len(inputs) != 1:
        raise ModelLoadError(
            f"model {path} has {len(inputs)} inputs; a segmentation model needs exactly one image input"
        )
    inp = inputs[0]
    shape = tuple(int(s) for s in inp["shape"])
    signature = tuple(int(s) for s in inp.get("shape_signature", inp["shape"]))
    if len(shape) != 4 or shape[0] != 1 or shape[3] != 3:
        raise ModelLoadError(
            f"model {path} takes input of shape {_shape_text(shape)}, which is not an image: "
            "a segmentation model takes one RGB image, 1 x H x W x 3"
        )
    if len(signature) == 4 and (signature[1] < 0 or signature[2] < 0):
        h, w = DYNAMIC_INPUT_SIZE
        interp.resize_tensor_input(int(inp["index"]), [1, h, w, 3])
        interp.allocate_tensors()
        inp = interp.get_input_details()[0]
        outputs = interp.get_output_details()
        shape = tuple(int(s) for s in inp["shape"])
        log.info("model %s has a dynamic input size: using %dx%d", path, h, w)
    if shape[1] < MIN_MASK_SIDE or shape[2] < MIN_MASK_SIDE:
        raise ModelLoadError(f"model {path} takes {_shape_text(shape)} input: too small to be an image model")
    in_dtype = np.dtype(inp["dtype"])
    if in_dtype not in (np.float32, np.uint8, np.int8):
        raise ModelLoadError(f"model {path} takes {in_dtype} input; supported are float32, uint8 and int8")
    in_h, in_w = shape[1], shape[2]
    masks = [o for o in outputs if _is_mask_shape(tuple(int(s) for s in o["shape"]), in_h, in_w)]
    if not masks:
        found = ", ".join(_shape_text(o["shape"]) for o in outputs)
        hint = ""
        for info in models.manifest().values():
            if info.path.name == path.name and info.kind != "segmentation":
                hint = f" (it is the bundled {info.kind} model {info.name!r})"
        raise ModelLoadError(
            f"model {path} is not a segmentation model{hint}: its outputs ({found}) are not a mask; "
            f"livebokeh needs an output of 1 x h x w (x C) shaped like the {in_h}x{in_w} input"
        )
    out = max(masks, key=lambda o: int(o["shape"][1]) * int(o["shape"][2]))
    oshape = tuple(int(s) for s in out["shape"])
    out_dtype = np.dtype(out["dtype"])
    scale, zero_point = (out.get("quantization") or (0.0, 0))[:2]
    channels = oshape[3] if len(oshape) == 4 else 1
    if out_dtype == np.float32:
        kind = "probability"
    elif out_dtype in (np.uint8, np.int8) and scale:
        kind = "quantized"
    elif out_dtype.kind in "iu" and channels == 1:
        kind = "classes"
    else:
        raise ModelLoadError(f"model {path} outputs {out_dtype} {_shape_text(oshape)}, which livebokeh cannot read")
    if kind == "classes":
        if person_class is None:
            raise ModelLoadError(
                f"model {path} outputs a class id per pixel: say which class is the person with --person-class"
            )
    elif channels > 1:
        if person_class is None:
            raise ModelLoadError(
                f"model {path} outputs {channels} classes per pixel: say which one is the person with --person-class "
                f"(0 to {channels - 1}; e.g. 1 for a background/person model, 15 for PASCAL VOC)"
            )
        if not 0 <= person_class < channels:
            raise ModelLoadError(
                f"--person-class {person_class} is out of range for model {path}: its {channels} classes are "
                f"0 to {channels - 1}"
            )
    model = _Model(
        interpreter=interp,
        runtime=runtime_name,
        input_index=int(inp["index"]),
        output_index=int(out["index"]),
        height=in_h,
        width=in_w,
        channels=channels,
        input_range=(0.0, 1.0),
        person_class=person_class if (channels > 1 or kind == "classes") else None,
        input_buf=np.zeros((1, in_h, in_w, 3), dtype=in_dtype),
        output_kind=kind,
        output_scale=float(scale or 1.0),
        output_zero_point=int(zero_point or 0),
    )
    try:  # one run now, so that a model with an op the runtime lacks fails at load, not mid-stream
        interp.set_tensor(model.input_index, model.input_buf)
        interp.invoke()
    except (RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(f"model {path} loads but cannot run with {runtime_name}: {first}") from exc
    return model


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
                    f"model {spec!r} is neither a bundled model ({', '.join(models.manifest())}, auto) "
                    "nor an existing file"
                )
            self._models[path.name] = _open(path, num_threads, person_class, runtime)
            self._name = str(path)
        self._runtime = next(iter(self._models.values())).runtime
        self._last_ts = -1
        self.landscape_min_aspect = LANDSCAPE_MIN_ASPECT
        """``auto``: width/height at or above which the landscape model is used."""
        log.info("segmenter %s loaded with %s", self._name, self._runtime)

    @property
    def name(self) -> str:
        return self._name

    @property
    def runtime(self) -> str:
        return self._runtime

    def describe(self) -> list[dict[str, object]]:
        """What each loaded model takes and gives (for ``livebokeh models --check`` and logs)."""
        out: list[dict[str, object]] = []
        for name, m in self._models.items():
            if m.output_kind == "classes":
                output = f"class id per pixel, person = {m.person_class}"
            elif m.channels > 1:
                output = f"{m.channels} class scores per pixel, person = class {m.person_class}"
            else:
                output = "person probability" + (" (uint8-quantised)" if m.output_kind == "quantized" else "")
            out.append(
                {
                    "model": name,
                    "input": f"1x{m.height}x{m.width}x3 {m.input_buf.dtype}",
                    "output": output,
                }
            )
        return out

    def _pick(self, frame_shape: tuple[int, ...]) -> _Model:
        if len(self._models) == 1:
            return next(iter(self._models.values()))
        h, w = frame_shape[0], frame_shape[1]
        return self._models["selfie-landscape" if w >= self.landscape_min_aspect * h else "selfie"]

    def for_stills(self) -> TFLiteSegmenter:
        """This segmenter as still photos use it: the same interpreters, but ``auto`` keeps the square model
        for every photo narrower than ``STILL_LANDSCAPE_MIN_ASPECT`` (3:2, 16:10).  Use the view from the
        thread that uses this segmenter; closing either closes both."""
        view = copy.copy(self)
        view.landscape_min_aspect = STILL_LANDSCAPE_MIN_ASPECT
        return view

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
        elif m.input_buf.dtype == np.int8:
            np.subtract(rgb, 128, out=m.input_buf[0], casting="unsafe")
        else:
            m.input_buf[0] = rgb
        m.interpreter.set_tensor(m.input_index, m.input_buf)
        m.interpreter.invoke()
        out: np.ndarray = m.interpreter.get_tensor(m.output_index)[0]
        if m.output_kind == "classes":
            classes = out if out.ndim == 2 else out[:, :, 0]
            hard: np.ndarray = np.ascontiguousarray(classes == m.person_class, dtype=np.float32)
            if hard.shape != (m.height, m.width):
                hard = cv2.resize(hard, (m.width, m.height), interpolation=cv2.INTER_NEAREST)
            return hard
        if m.output_kind == "quantized":
            out = (out.astype(np.float32) - np.float32(m.output_zero_point)) * np.float32(m.output_scale)
        if out.ndim == 2:
            prob = out
        elif m.channels == 1:
            prob = out[:, :, 0]
        else:
            prob = _class_probability(out, m.person_class or 0)
        prob = np.asarray(prob, dtype=np.float32)
        if prob.shape != (m.height, m.width):  # a model whose mask is smaller than its input
            prob = cv2.resize(prob, (m.width, m.height), interpolation=cv2.INTER_LINEAR)
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
