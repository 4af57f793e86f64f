"""MODNet portrait matting through ONNX Runtime: a real alpha matte (hair strands), for photos and files.

MODNet (Ke et al., AAAI 2022; bundled as ``modnet``, see ``models/NOTICE``) is a
fully convolutional matting network: it takes an RGB picture of any size whose sides
are multiples of 32, scaled to ``[-1, 1]`` (NCHW), and returns one channel of alpha in
``[0, 1]`` at the same size.  It is about 20x slower than the selfie model (on one core
~140 ms at 320x256 here against ~7 ms) and loses people below a short side of ~192, so it
serves ``--quality best`` (photos, ``convert``), not the live path.

ONNX Runtime is an optional extra (``pip install 'livebokeh[onnx]'``): it is imported
when a matting model is opened, and its absence is a one-line :class:`ModelLoadError`
with that command.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .. import models
from ..errors import ModelLoadError

log = logging.getLogger(__name__)

SHORT_SIDE = 320
"""The picture's short side at the model's input.  MODNet was trained on 512-pixel portraits but keeps its
edges down to ~256 and collapses below ~192.  On the 400 dev portraits the bilinear-upsampled alpha scores
boundary F1 0.719 at 256, 0.723 at 320 and 0.718 at 384 (raw selfie model 0.664); fused with the
segmentation (:mod:`livebokeh.matte.matting`), 320 is +0.003 over 256 for 1.6x the cost."""

MULTIPLE = 32
"""Input sides must be multiples of this (five stride-2 stages)."""

INSTALL_HINT = "pip install 'livebokeh[onnx]'"


def matting_available() -> bool:
    """Whether ``quality="best"`` can run here: ONNX Runtime importable (without importing it)."""
    return importlib.util.find_spec("onnxruntime") is not None


def _onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise ModelLoadError(
            f"the MODNet matting model needs ONNX Runtime, which is not installed: {INSTALL_HINT}"
        ) from exc
    return onnxruntime


def matting_size(frame_shape: tuple[int, ...], short_side: int = SHORT_SIDE) -> tuple[int, int]:
    """``(height, width)`` of the model input for a frame: short side ``short_side``, both multiples of 32."""
    h, w = frame_shape[0], frame_shape[1]
    scale = short_side / max(1, min(h, w))
    return (
        max(MULTIPLE, int(round(h * scale / MULTIPLE)) * MULTIPLE),
        max(MULTIPLE, int(round(w * scale / MULTIPLE)) * MULTIPLE),
    )


class OnnxMatting:
    """A matting model run with ONNX Runtime (the bundled ``modnet`` unless ``model`` names another file).

    Provides the :class:`~livebokeh.segmentation.SegmenterProtocol`: ``segment`` returns alpha
    (``float32``, ``[0, 1]``) at the model's input size for that frame (:meth:`input_size_for`).
    """

    def __init__(self, model: str | Path = "modnet", *, num_threads: int = 1, short_side: int = SHORT_SIDE) -> None:
        ort = _onnxruntime()
        spec = str(model)
        if spec in models.manifest():
            info = models.resolve(spec)
            if info.kind != "matting":
                raise ModelLoadError(f"bundled model {spec!r} is a {info.kind} model, not a matting model")
            path = info.path
        else:
            path = Path(spec).expanduser()
            if not path.is_file():
                raise ModelLoadError(f"matting model {spec!r} is neither a bundled model nor an existing file")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, int(num_threads))
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for a bad file
            raise ModelLoadError(f"cannot load matting model {path}: {str(exc).splitlines()[0]}") from exc
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4 or not outputs or len(outputs[0].shape) != 4:
            raise ModelLoadError(
                f"model {path} is not a matting model: it should take one 1x3xHxW picture and give 1x1xHxW alpha"
            )
        self._input = inputs[0].name
        self._name = spec
        self.short_side = short_side
        log.info("matting model %s loaded with onnxruntime %s", spec, ort.__version__)

    @property
    def name(self) -> str:
        return self._name

    @property
    def runtime(self) -> str:
        return "onnxruntime"

    def input_size_for(self, frame_shape: tuple[int, ...]) -> tuple[int, int]:
        return matting_size(frame_shape, self.short_side)

    def segment(self, image: np.ndarray) -> np.ndarray:
        """Alpha of the person in a BGR ``uint8`` image, ``float32`` in ``[0, 1]`` at :meth:`input_size_for`."""
        h, w = self.input_size_for(image.shape)
        small = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        x = cv2.cvtColor(small, cv2.COLOR_BGR2RGB).astype(np.float32)
        x = (x - np.float32(127.5)) * np.float32(1.0 / 127.5)
        out = self._session.run(None, {self._input: np.ascontiguousarray(x.transpose(2, 0, 1)[None])})[0]
        alpha: np.ndarray = np.asarray(out, dtype=np.float32).reshape(out.shape[-2], out.shape[-1])
        if alpha.shape != (h, w):
            alpha = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_LINEAR)
        return np.clip(alpha, 0.0, 1.0)

    def segment_for_video(self, image: np.ndarray, timestamp_ns: int) -> np.ndarray:
        return self.segment(image)

    def close(self) -> None:
        self._session = None

    def __enter__(self) -> OnnxMatting:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
