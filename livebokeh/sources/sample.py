"""The clip shipped with livebokeh, so a live run works on any machine.

``livebokeh/data/sample.mp4`` is made by ``scripts/make_sample.py`` from a NASA
public-domain photo; ``livebokeh/data/PROVENANCE.md`` records where it comes from.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..errors import InputError
from .video import VideoSource

__all__ = ["SampleSource", "sample_path"]

SAMPLE_NAME = "sample.mp4"


def sample_path() -> Path:
    """Path of the bundled sample clip; :class:`InputError` if the installation lacks it."""
    path = Path(str(resources.files("livebokeh") / "data" / SAMPLE_NAME))
    if not path.is_file():
        raise InputError(
            f"the bundled sample clip {path} is missing: reinstall livebokeh (pip install --force-reinstall livebokeh)"
        )
    return path


class SampleSource(VideoSource):
    """The bundled sample clip, played in real time (looped with ``loop=True``)."""

    def __init__(self, *, loop: bool = False, size: tuple[int, int] | None = None, realtime: bool = True) -> None:
        super().__init__(sample_path(), loop=loop, size=size, realtime=realtime, name="sample")
