"""livebokeh: blur or replace the background behind people, live and in files."""

from __future__ import annotations

__version__ = "0.1.0"

from typing import TYPE_CHECKING

from ._lazy import lazy_exports
from .config import Config, EffectOptions, MatteOptions, SegmenterOptions, load_config
from .effect_kinds import Blur, Bokeh, Color, MaskView, Passthrough, Replace
from .errors import (
    CameraOpenError,
    ConfigError,
    FrameFormatError,
    InputError,
    LivebokehError,
    ModelLoadError,
    OutputError,
    SinkError,
    SourceError,
)

if TYPE_CHECKING:
    from .effects.effect import Effect
    from .frames import Frame, Mask
    from .matte import Matte
    from .runtime.live import LiveOptions, Pipeline
    from .segmentation import Segmenter, SegmenterProtocol
    from .sinks import Sink, open_sink
    from .sources import Source, open_source

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "Effect": ".effects.effect",
        "Frame": ".frames",
        "Mask": ".frames",
        "Matte": ".matte",
        "LiveOptions": ".runtime.live",
        "Pipeline": ".runtime.live",
        "Segmenter": ".segmentation",
        "SegmenterProtocol": ".segmentation",
        "Sink": ".sinks",
        "open_sink": ".sinks",
        "Source": ".sources",
        "open_source": ".sources",
    },
)  # imported on first use: ``import livebokeh`` and the command line start without NumPy and OpenCV

__all__ = [
    "Blur",
    "Bokeh",
    "CameraOpenError",
    "Color",
    "Config",
    "ConfigError",
    "Effect",
    "EffectOptions",
    "Frame",
    "FrameFormatError",
    "InputError",
    "LiveOptions",
    "LivebokehError",
    "Mask",
    "MaskView",
    "Matte",
    "MatteOptions",
    "ModelLoadError",
    "OutputError",
    "Passthrough",
    "Pipeline",
    "Replace",
    "Segmenter",
    "SegmenterOptions",
    "SegmenterProtocol",
    "Sink",
    "SinkError",
    "Source",
    "SourceError",
    "__version__",
    "load_config",
    "open_sink",
    "open_source",
]
