"""Where a converted video leaves: the output file with the input's audio, and the optional mask.

:class:`ConvertedVideo` is opened before the first frame is known and creates its files
on the first frame, whose size and display rotation fix the video stream (and the
mask's).  Audio packets that arrive before it are held and written right after, so
the muxer sees audio and video in the order the input had them.  Everything is written
under temporary names and appears only on :meth:`ConvertedVideo.close`;
:meth:`ConvertedVideo.abort` removes it all.  The mask goes to a grey video
(``.mp4``/``.mkv``/``.mov``/``.webm``) or to a folder of PNG files
(:class:`MaskFolder`).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import OutputError
from .video import CONTAINERS, AudioRoute, VideoFileSink

log = logging.getLogger(__name__)

__all__ = ["ConvertedVideo", "MaskFolder"]


class MaskFolder:
    """A folder of ``NNNNNN.png`` masks that appears under its final name only when complete."""

    def __init__(self, path: Path, *, overwrite: bool) -> None:
        self.path = path
        if path.exists() and not path.is_dir():
            raise OutputError(f"--mask-out {path} is a file: give a folder for PNG masks or a .mp4 name")
        if path.exists() and any(path.iterdir()) and not overwrite:
            raise OutputError(f"mask folder {path} already exists and is not empty: pass --overwrite to replace it")
        parent = path.parent if str(path.parent) else Path(".")
        if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            raise OutputError(f"cannot create mask folder {path}: {parent} is missing or not writable")
        self._tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".part", dir=parent))
        self.count = 0
        self.closed = False

    def write(self, alpha: np.ndarray) -> None:
        """Write the next mask (``uint8``, one channel)."""
        name = self._tmp / f"{self.count:06d}.png"
        if not cv2.imwrite(str(name), alpha, [cv2.IMWRITE_PNG_COMPRESSION, 1]):
            raise OutputError(f"cannot write mask {name}: is the disk full?")
        self.count += 1

    def close(self) -> None:
        """Move the finished folder to its name (replacing an older one). Idempotent."""
        if self.closed:
            return
        self.closed = True
        old = None
        if self.path.exists():
            old = self.path.with_name(f".{self.path.name}.old")
            os.replace(self.path, old)
        os.replace(self._tmp, self.path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def abort(self) -> None:
        """Remove the unfinished folder. Idempotent."""
        if not self.closed:
            self.closed = True
            shutil.rmtree(self._tmp, ignore_errors=True)


class ConvertedVideo:
    """The output of one conversion: video ``path`` with the ``audio`` streams, and the mask at ``mask``.

    ``rate``, ``time_base`` and ``color`` are the input stream's (timestamps are carried
    over unchanged); ``codec``, ``crf``, ``preset``, ``threads``, ``thread_type`` and
    ``faststart`` set the encoder and muxer as for :class:`~livebokeh.sinks.video.VideoFileSink`
    (the mask video shares them).
    """

    def __init__(
        self,
        path: Path,
        *,
        mask: Path | None = None,
        overwrite: bool = False,
        rate: Fraction,
        time_base: Fraction,
        color: dict[str, int] | None = None,
        audio: list[Any] | None = None,
        codec: str | None = None,
        crf: int | None = None,
        preset: str | None = None,
        threads: int | None = None,
        thread_type: str | None = None,
        faststart: bool = True,
    ) -> None:
        self.path = path
        self.mask_path = mask
        self._overwrite = overwrite
        self._rate = rate
        self._time_base = time_base
        self._color = color
        self._audio_in = list(audio or [])
        self._encoder: dict[str, Any] = {
            "crf": crf,
            "preset": preset,
            "threads": threads,
            "thread_type": thread_type,
            "faststart": faststart,
        }
        self._codec = codec
        self.video: VideoFileSink | None = None
        """The output file, once the first frame has opened it."""
        self._mask: VideoFileSink | MaskFolder | None = None
        self._routes: dict[int, AudioRoute] = {}
        self._pending_audio: list[Any] = []
        self.audio: list[str] = []
        """How each audio stream was carried, e.g. ``#1 aac copied`` (known once the file is open)."""

    @property
    def frames_written(self) -> int:
        """Video frames encoded so far."""
        return self.video.frames_written if self.video is not None else 0

    def _open(self, size: tuple[int, int], rotation: int) -> VideoFileSink:
        video = VideoFileSink(
            self.path,
            fps=self._rate,
            codec=self._codec,
            overwrite=self._overwrite,
            size=size,
            time_base=self._time_base,
            rotation=rotation,
            color=self._color,
            **self._encoder,
        )
        self.video = video  # from here on abort() removes it, whatever fails next
        for stream in self._audio_in:
            route = video.add_audio(stream)
            self._routes[stream.index] = route
            self.audio.append(f"#{stream.index} {route.codec} {route.how}")
        if self.mask_path is not None:
            self._mask = self._open_mask(self.mask_path, size, rotation)
        for packet in self._pending_audio:
            video.write_audio(self._routes[packet.stream.index], packet)
        self._pending_audio.clear()
        return video

    def _open_mask(self, path: Path, size: tuple[int, int], rotation: int) -> VideoFileSink | MaskFolder:
        if path.suffix.lower() not in CONTAINERS:
            return MaskFolder(path, overwrite=self._overwrite)
        codec = None if path.suffix.lower() == ".webm" else "libx264"
        return VideoFileSink(
            path,
            fps=self._rate,
            codec=codec,
            overwrite=self._overwrite,
            size=size,
            time_base=self._time_base,
            pix_fmt="gray" if codec == "libx264" else None,
            rotation=rotation,
            **self._encoder,
        )

    def write_audio(self, packet: Any) -> None:
        """Write one demuxed packet of an input audio stream (held until the first frame opens the file)."""
        if self.video is None:
            self._pending_audio.append(packet)
        else:
            self.video.write_audio(self._routes[packet.stream.index], packet)

    def write_video(self, vframe: Any, pts: int, rotation: int, alpha: np.ndarray | None) -> None:
        """Encode one :class:`av.VideoFrame` at ``pts`` and its mask ``alpha`` (both as stored, not upright)."""
        video = self.video or self._open((vframe.width, vframe.height), rotation)
        video.write_av(vframe, pts)
        if isinstance(self._mask, VideoFileSink):
            assert alpha is not None
            self._mask.write_gray(alpha, pts)
        elif self._mask is not None:
            assert alpha is not None
            self._mask.write(alpha)

    def close(self) -> None:
        """Finish the mask, then the video, and move them to their names."""
        if self._mask is not None:
            self._mask.close()
        if self.video is not None:
            self.video.close()

    def abort(self) -> None:
        """Remove everything written so far (idempotent)."""
        if self.video is not None:
            self.video.abort()
        if self._mask is not None:
            self._mask.abort()
