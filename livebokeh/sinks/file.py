"""Record the processed live stream into a video file (wraps :class:`~.video.VideoFileSink`).

Timestamps follow the capture clock, so a recording keeps real time even when frames
were dropped.  The file appears under its name only when the recording ends cleanly.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import LivebokehError, SinkError
from ..frames import Frame
from ..safe_write import check_target
from . import BaseSink

if TYPE_CHECKING:
    from .video import VideoFileSink

__all__ = ["FileSink"]

LIVE_PRESET = "veryfast"
LIVE_CRF = 20


class FileSink(BaseSink):
    """A video file written while the pipeline runs (``.mp4``, ``.mkv``, ``.webm``, ``.mov``)."""

    def __init__(
        self, path: str | Path, *, overwrite: bool = False, crf: int = LIVE_CRF, preset: str | None = LIVE_PRESET
    ) -> None:
        from .video import container_for

        self.path = Path(path)
        self.name = str(self.path)
        container_for(self.path)  # unsupported extension -> OutputError now, not mid-run
        check_target(self.path, overwrite=overwrite)  # existing file, missing folder -> now too
        self.overwrite = overwrite
        self.crf = crf
        self.preset = preset
        self._writer: VideoFileSink | None = None
        self._t0: int | None = None
        self._last_pts = -1
        self._fps = 30.0

    def open(self, size: tuple[int, int], fps: float) -> None:
        from .video import VideoFileSink

        self._fps = fps
        codec_preset = self.preset if self.path.suffix.lower() in (".mp4", ".mkv", ".mov") else None
        self._writer = VideoFileSink(
            self.path, fps=fps, crf=self.crf, preset=codec_preset, overwrite=self.overwrite, size=size
        )

    def write(self, frame: Frame) -> None:
        if self._writer is None:
            raise SinkError(f"video file {self.path} was not opened")
        if self._t0 is None:
            self._t0 = frame.timestamp_ns
        pts = max(self._last_pts + 1, round((frame.timestamp_ns - self._t0) * self._fps / 1e9))
        self._last_pts = pts
        try:
            self._writer.write(frame.image, pts=pts)
        except LivebokehError:
            raise
        except Exception as exc:  # noqa: BLE001 - an encoder failure drops this sink only
            raise SinkError(f"recording to {self.path} failed: {exc}") from exc

    @property
    def frames_written(self) -> int:
        return self._writer.frames_written if self._writer is not None else 0

    def _release(self) -> None:
        if self._writer is not None:
            self._writer.close()

    def abort(self) -> None:
        """Remove the partial file (a failure or interruption)."""
        if not self._closed:
            self._closed = True
            if self._writer is not None:
                self._writer.abort()
