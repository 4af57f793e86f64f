"""Where the mask is made: the public :class:`Segmenter`, the :class:`SegmenterProtocol` and its backends.

Modules::

    base.py        SegmenterProtocol: what every backend provides
    segmenter.py   Segmenter (frames checked at the boundary) and create_segmenter (backend by model)
    tflite.py      TFLite models (bundled or your own);  runtime.py: which TFLite interpreter loads
    deeplab.py     a DeepLab frozen graph (.pb) through TensorFlow
"""

from __future__ import annotations

from .base import SegmenterProtocol
from .segmenter import Segmenter, create_segmenter
from .tflite import TFLiteSegmenter

__all__ = ["Segmenter", "SegmenterProtocol", "TFLiteSegmenter", "create_segmenter"]
