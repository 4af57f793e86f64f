"""Where the mask is made: the public :class:`Segmenter`, the :class:`SegmenterProtocol` and its backends."""

from __future__ import annotations

from pathlib import Path

from ..errors import ModelLoadError
from .base import SegmenterProtocol
from .segmenter import Segmenter
from .tflite import TFLiteSegmenter

__all__ = ["Segmenter", "SegmenterProtocol", "TFLiteSegmenter", "create_segmenter"]


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
