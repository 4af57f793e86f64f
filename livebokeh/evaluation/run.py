"""One evaluation as the options ask: photos, videos, or both (what ``livebokeh eval`` runs)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from .options import EvalOptions
from .photos import PhotoEvaluation, evaluate_photos
from .videos import VideoEvaluation, evaluate_videos


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The results of :func:`evaluate`: photo scores and video figures, each ``None`` when not asked for."""

    photos: PhotoEvaluation | None = None
    videos: VideoEvaluation | None = None

    def as_dict(self) -> dict[str, Any]:
        """Photo results at the top level (``images``, ``summary``, ...), video results under ``videos``."""
        payload: dict[str, Any] = self.photos.as_dict() if self.photos is not None else {}
        if self.videos is not None:
            payload["videos"] = self.videos.as_dict()
        return payload


def evaluate(options: EvalOptions) -> Evaluation:
    """Score the photos in ``options.images`` and the clips in ``options.videos`` / ``options.moving_from``."""
    if options.images is None and options.videos is None and options.moving_from is None:
        raise InputError("nothing to evaluate: give --images DIR (and --masks DIR), --videos DIR or --moving-from DIR")
    photos = evaluate_photos(options) if options.images is not None else None
    videos = evaluate_videos(options) if options.videos is not None or options.moving_from is not None else None
    return Evaluation(photos, videos)
