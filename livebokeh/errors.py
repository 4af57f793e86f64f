"""The errors livebokeh raises on purpose.

Everything a user can cause or fix derives from :class:`LivebokehError`; the CLI
catches it at the top, prints its message on one line and exits non-zero.  Any
other exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class LivebokehError(Exception):
    """Root of every error that is the user's input or environment, not a bug."""


class ModelLoadError(LivebokehError):
    """A model file is missing, damaged, of the wrong kind, or no runtime can load it."""


class FrameFormatError(LivebokehError, ValueError):
    """A frame or mask does not have the shape or dtype the boundary expects."""


class InputError(LivebokehError):
    """An input file or folder cannot be read or is not what it claims to be."""


class OutputError(LivebokehError):
    """An output path cannot be written, or exists and ``--overwrite`` was not given."""


class CameraOpenError(LivebokehError):
    """A camera or other live source cannot be opened."""


class SourceError(LivebokehError):
    """A live source failed while it was running."""


class SinkError(LivebokehError):
    """A sink (window, virtual camera, file) cannot be opened or failed while writing."""


class ConfigError(LivebokehError, ValueError):
    """An option or configuration-file value is unknown or out of range."""
