"""MODNet portrait matting through ONNX Runtime or OpenCV's DNN module: a real alpha matte (hair strands).

MODNet (Ke et al., AAAI 2022; bundled as ``modnet``, see ``models/NOTICE``) is a
fully convolutional matting network: it takes an RGB picture of any size whose sides
are multiples of 32, scaled to ``[-1, 1]`` (NCHW), and returns one channel of alpha in
``[0, 1]`` at the same size.  It is about 20x slower than the selfie model (on one core
~140 ms at 320x256 here against ~7 ms) and loses people below a short side of ~192, so it
serves ``--quality best`` (photos, ``convert``), not the live path.

ONNX Runtime is an optional extra (``pip install 'livebokeh[onnx]'``), imported when a
matting model is opened.  Without it the model runs on OpenCV's DNN module, which every
install has (``opencv-python``): the same graph, the same alpha (30 dev portraits: within 1e-4), one
model run at a time (a ``cv2.dnn`` net is not shared between threads; OpenCV spreads each
run over its own threads instead).  ``LIVEBOKEH_MATTING_RUNTIME`` (``onnxruntime`` or
``opencv``) forces one.  ``quality="auto"`` turns MODNet on for photos only where ONNX
Runtime is installed: installing the extra is the choice of the slower, finer default
(a plain install keeps a 12-MP photo within about a second, start-up included).

Opening the session optimises the graph (constant folding, fusions, the CPU's blocked
layout), about 0.1 s of a single photo's ~1 s.  The optimised graph is kept in the user's
cache (:func:`cache_dir`), keyed by the model's hash, the ONNX Runtime version and the CPU,
and later opens load it as it is.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import platform
import threading
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


RUNTIME_ENV = "LIVEBOKEH_MATTING_RUNTIME"
RUNTIMES = ("onnxruntime", "opencv")
"""The runtimes a matting model can run on, preferred first."""


def matting_available() -> bool:
    """Whether ONNX Runtime is importable (without importing it): ``quality="auto"`` mats photos only then.

    ``quality="best"`` runs anywhere (see :func:`matting_runtime`).
    """
    return importlib.util.find_spec("onnxruntime") is not None


def matting_runtime() -> str:
    """The runtime a matting model opens on: ``$LIVEBOKEH_MATTING_RUNTIME``, else ONNX Runtime where
    installed, else OpenCV's DNN module."""
    forced = os.environ.get(RUNTIME_ENV, "").strip().lower()
    if forced:
        if forced not in RUNTIMES:
            raise ModelLoadError(f"{RUNTIME_ENV}={forced!r} is not a matting runtime: use one of {', '.join(RUNTIMES)}")
        return forced
    return "onnxruntime" if matting_available() else "opencv"


def _onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise ModelLoadError(
            f"{RUNTIME_ENV}=onnxruntime but ONNX Runtime is not installed: {INSTALL_HINT}, "
            f"or unset {RUNTIME_ENV} to run on OpenCV"
        ) from exc
    return onnxruntime


CACHE_ENV = "LIVEBOKEH_CACHE_DIR"


def cache_dir() -> Path | None:
    """Where optimised graphs are kept: ``$LIVEBOKEH_CACHE_DIR`` (empty: nowhere), else
    ``$XDG_CACHE_HOME/livebokeh`` (``~/.cache/livebokeh`` when that is unset)."""
    env = os.environ.get(CACHE_ENV)
    if env is not None:
        return Path(env).expanduser() if env else None
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "livebokeh"


def _cpu_tag() -> str:
    """A short tag of this CPU's kind and instruction sets: an optimised graph may use any of them."""
    text = platform.machine() + platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith(("flags", "Features", "model name")):
                    text += line
                if line.strip() == "":
                    break  # the first processor describes them all
    except OSError:
        pass
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _cached_graph(ort: Any, model_hash: str) -> Path | None:
    folder = cache_dir()
    if folder is None:
        return None
    return folder / "onnx" / f"{model_hash[:16]}-ort{ort.__version__}-{_cpu_tag()}.onnx"


def _open_session(ort: Any, path: Path, model_hash: str, opts: Any) -> Any:
    """An inference session of ``path``, from the cached optimised graph where there is one (made now if not)."""
    providers = ["CPUExecutionProvider"]
    cached = _cached_graph(ort, model_hash)
    if cached is not None and cached.is_file():
        ready = ort.SessionOptions()
        ready.intra_op_num_threads, ready.inter_op_num_threads = opts.intra_op_num_threads, opts.inter_op_num_threads
        ready.log_severity_level = opts.log_severity_level
        ready.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        try:
            return ort.InferenceSession(str(cached), ready, providers=providers)
        except Exception:  # a damaged cache entry: made again below
            log.info("optimised graph %s cannot be loaded; making it again", cached, exc_info=True)
            cached.unlink(missing_ok=True)
    part = None
    if cached is not None:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            part = cached.with_name(f".{cached.name}.{os.getpid()}.part")
            opts.optimized_model_filepath = str(part)
        except OSError as exc:
            log.info("not caching the optimised graph in %s: %s", cached.parent, exc)
    try:
        session = ort.InferenceSession(str(path), opts, providers=providers)
        if cached is not None and part is not None and part.is_file():
            os.replace(part, cached)  # whole or not at all
        return session
    except Exception as exc:
        if part is None:
            raise
        log.info("not caching the optimised graph in %s: %s", cached, exc)
        opts.optimized_model_filepath = ""
        return ort.InferenceSession(str(path), opts, providers=providers)  # a bad model raises here too
    finally:
        if part is not None:
            part.unlink(missing_ok=True)


def matting_size(frame_shape: tuple[int, ...], short_side: int = SHORT_SIDE) -> tuple[int, int]:
    """``(height, width)`` of the model input for a frame: short side ``short_side``, both multiples of 32."""
    h, w = frame_shape[0], frame_shape[1]
    scale = short_side / max(1, min(h, w))
    return (
        max(MULTIPLE, int(round(h * scale / MULTIPLE)) * MULTIPLE),
        max(MULTIPLE, int(round(w * scale / MULTIPLE)) * MULTIPLE),
    )


class OnnxMatting:
    """A matting model (the bundled ``modnet`` unless ``model`` names another ONNX file), run on
    :func:`matting_runtime`.

    Provides the :class:`~livebokeh.segmentation.SegmenterProtocol`: ``segment`` returns alpha
    (``float32``, ``[0, 1]``) at the model's input size for that frame (:meth:`input_size_for`).
    ``segment`` may be called from several threads at once.
    """

    def __init__(self, model: str | Path = "modnet", *, num_threads: int = 1, short_side: int = SHORT_SIDE) -> None:
        self._runtime = matting_runtime()
        spec = str(model)
        if spec in models.manifest():
            info = models.resolve(spec)
            if info.kind != "matting":
                raise ModelLoadError(f"bundled model {spec!r} is a {info.kind} model, not a matting model")
            path, model_hash = info.path, info.sha256
        else:
            path = Path(spec).expanduser()
            if not path.is_file():
                raise ModelLoadError(f"matting model {spec!r} is neither a bundled model nor an existing file")
            model_hash = models.sha256_of(path)
        self._session: Any = None
        self._net: Any = None
        self._lock = threading.Lock()
        if self._runtime == "onnxruntime":
            ort = _onnxruntime()
            version = f"onnxruntime {ort.__version__}"
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = max(1, int(num_threads))
            opts.inter_op_num_threads = 1
            opts.log_severity_level = 3
            try:
                self._session = _open_session(ort, path, model_hash, opts)
            except Exception as exc:  # onnxruntime raises its own exception types for a bad file
                raise ModelLoadError(f"cannot load matting model {path}: {str(exc).splitlines()[0]}") from exc
            inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
            shapes_ok = len(inputs) == 1 and len(inputs[0].shape) == 4 and bool(outputs) and len(outputs[0].shape) == 4
            self._input = inputs[0].name if inputs else ""
        else:
            version = f"OpenCV DNN {cv2.__version__}"
            try:
                self._net = cv2.dnn.readNetFromONNX(str(path))
                self._net.setInput(np.zeros((1, 3, MULTIPLE, MULTIPLE), np.float32))  # the layers it has no names for
                probe = self._net.forward()
            except cv2.error as exc:
                raise ModelLoadError(f"cannot load matting model {path}: {str(exc).strip().splitlines()[-1]}") from exc
            shapes_ok = probe.ndim == 4 and probe.shape[:2] == (1, 1)
        if not shapes_ok:
            raise ModelLoadError(
                f"model {path} is not a matting model: it should take one 1x3xHxW picture and give 1x1xHxW alpha"
            )
        self._name = spec
        self.short_side = short_side
        log.info("matting model %s loaded with %s", spec, version)

    @property
    def name(self) -> str:
        return self._name

    @property
    def runtime(self) -> str:
        """``onnxruntime`` or ``opencv``."""
        return self._runtime

    def input_size_for(self, frame_shape: tuple[int, ...]) -> tuple[int, int]:
        return matting_size(frame_shape, self.short_side)

    def segment(self, image: np.ndarray) -> np.ndarray:
        """Alpha of the person in a BGR ``uint8`` image, ``float32`` in ``[0, 1]`` at :meth:`input_size_for`."""
        h, w = self.input_size_for(image.shape)
        small = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        x = cv2.cvtColor(small, cv2.COLOR_BGR2RGB).astype(np.float32)
        x = (x - np.float32(127.5)) * np.float32(1.0 / 127.5)
        blob = np.ascontiguousarray(x.transpose(2, 0, 1)[None])
        if self._session is not None:
            out = self._session.run(None, {self._input: blob})[0]
        elif self._net is not None:
            with self._lock:  # one net, one run at a time
                self._net.setInput(blob)
                out = self._net.forward()
        else:
            raise ModelLoadError(f"matting model {self._name} is closed")
        alpha: np.ndarray = np.asarray(out, dtype=np.float32).reshape(out.shape[-2], out.shape[-1])
        if alpha.shape != (h, w):
            alpha = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_LINEAR)
        return np.clip(alpha, 0.0, 1.0)

    def segment_for_video(self, image: np.ndarray, timestamp_ns: int) -> np.ndarray:
        return self.segment(image)

    def close(self) -> None:
        self._session = None
        self._net = None

    def __enter__(self) -> OnnxMatting:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
