"""The public :class:`Segmenter`: one object, any backend, frames checked at the boundary.

:func:`create_segmenter` opens the backend for a model name or path; :class:`Segmenter`
wraps it with the frame check.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import TracebackType

import numpy as np

from ..config import SegmenterOptions
from ..errors import ModelLoadError
from ..frames import check_image
from .base import SegmenterProtocol
from .tflite import TFLiteSegmenter

log = logging.getLogger(__name__)

__all__ = ["Segmenter", "create_segmenter"]


def create_segmenter(
    model: str | Path = "auto", *, num_threads: int = 1, person_class: int | None = None
) -> SegmenterProtocol:
    """Open the backend for a model name or path (``.pb`` -> DeepLab, else TFLite)."""
    spec = str(model)
    if spec.endswith(".pb"):
        from .deeplab import PERSON_CLASS, DeepLabSegmenter

        return DeepLabSegmenter(spec, num_threads=num_threads, person_class=person_class or PERSON_CLASS)
    if Path(spec).suffix and Path(spec).suffix not in (".tflite", ".pb") and not Path(spec).is_file():
        raise ModelLoadError(f"model {spec!r} does not exist: give a bundled model name or a .tflite/.pb file")
    return TFLiteSegmenter(spec, num_threads=num_threads, person_class=person_class)


class Segmenter:
    """Person segmentation: a BGR ``uint8`` frame in, a person-probability mask out.

    ``Segmenter()`` loads the default bundled model (``auto``: the square or landscape
    selfie model by each frame's aspect ratio).  ``model`` may also name another
    bundled model (see ``livebokeh models``) or be a path to a compatible ``.tflite``
    file (one output channel, or several classes with ``person_class``) or a DeepLab
    frozen graph (``.pb``).  An incompatible model raises
    :class:`~livebokeh.errors.ModelLoadError` at construction.

    The mask is ``float32`` in ``[0, 1]`` at the model's resolution
    (:meth:`input_size_for`); :class:`~livebokeh.Effect` upsamples it.  One instance
    owns one interpreter: use it from one thread at a time, and ``close()`` it (or use
    ``with``) when done.
    """

    def __init__(
        self,
        model: str | Path = "auto",
        *,
        threads: int = 1,
        person_class: int | None = None,
    ) -> None:
        options = SegmenterOptions(model=str(model), threads=threads, person_class=person_class)
        self.options = options
        """The options this segmenter was created with."""
        self._backend: SegmenterProtocol = create_segmenter(
            options.model, num_threads=options.threads, person_class=options.person_class
        )
        self._last_ts: int | None = None

    @classmethod
    def from_options(cls, options: SegmenterOptions) -> Segmenter:
        """Create a segmenter from :class:`~livebokeh.SegmenterOptions` (e.g. a config file's ``[model]``)."""
        return cls(options.model, threads=options.threads, person_class=options.person_class)

    @property
    def name(self) -> str:
        """The model in use (bundled name or file path)."""
        return self._backend.name

    @property
    def runtime(self) -> str:
        """Which runtime loaded the model (e.g. ``ai-edge-litert``); for reports, not for branching."""
        return self._backend.runtime

    @property
    def backend(self) -> SegmenterProtocol:
        """The backend object (TFLite or DeepLab) doing the work."""
        return self._backend

    def input_size_for(self, frame_shape: tuple[int, ...]) -> tuple[int, int]:
        """``(height, width)`` of the mask :meth:`segment` returns for a frame of this shape."""
        return self._backend.input_size_for(frame_shape)

    def segment(self, image: np.ndarray) -> np.ndarray:
        """Person probability (``float32``, ``[0, 1]``, model resolution) for one BGR ``uint8`` image."""
        return self._backend.segment(check_image(image, what="image"))

    def segment_for_video(self, image: np.ndarray, timestamp_ns: int) -> np.ndarray:
        """Like :meth:`segment`, for consecutive frames of one stream (``timestamp_ns``: ``time.monotonic_ns()``).

        Backends with per-stream state use the timestamps; use one segmenter per stream
        and call :meth:`reset` when a new stream starts.
        """
        if self._last_ts is not None and timestamp_ns < self._last_ts:
            log.debug("timestamp went backwards (%d < %d): treating it as a new stream", timestamp_ns, self._last_ts)
        self._last_ts = int(timestamp_ns)
        return self._backend.segment_for_video(check_image(image), int(timestamp_ns))

    def reset(self) -> None:
        """Forget the last video timestamp (a new stream starts)."""
        self._last_ts = None

    def close(self) -> None:
        """Release the interpreter; idempotent."""
        self._backend.close()

    def __enter__(self) -> Segmenter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Segmenter(model={self.name!r}, runtime={self.runtime!r})"
