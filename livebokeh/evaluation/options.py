"""What an evaluation runs on and with which settings (:class:`EvalOptions`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..config import SUBJECTS, MatteOptions, SegmenterOptions
from ..errors import ConfigError

RAW_MODELS = ("best", "selfie", "selfie-landscape")
"""Raw baselines with a name of their own; ``best`` takes whichever bundled selfie model scores higher."""


@dataclass(frozen=True, kw_only=True, slots=True)
class EvalOptions:
    """Inputs and settings of one evaluation: photos with ground-truth masks, videos, or both.

    Photos: ``images`` (and ``masks``, default the same folder) are scored for the raw model
    (``raw_model``) and for livebokeh's matte, or for ready-made masks in ``pred``.
    ``subject_for`` gives images whose name starts with a prefix their own ``subject``
    (``(("davis16", "main"),)``); the others use ``matte.subject``.  Videos: ``videos``
    holds clips (``*.mp4``: temporal instability; ``NAME/frames`` + ``NAME/masks``: the IoU
    lost to a stale mask every ``infer_every`` frames), ``moving_from`` a folder of photos +
    masks to paste onto backgrounds as moving clips (written to ``save_clips`` if given);
    at most ``max_frames`` frames per clip.  ``segmenter`` and ``matte`` are the settings
    under test (photos are scored without temporal smoothing, videos with it).
    """

    images: Path | None = None
    masks: Path | None = None
    pred: Path | None = None
    raw_model: str = "best"
    subject_for: tuple[tuple[str, str], ...] = ()
    videos: Path | None = None
    moving_from: Path | None = None
    save_clips: Path | None = None
    max_frames: int = 150
    infer_every: int = 3
    segmenter: SegmenterOptions = field(default_factory=SegmenterOptions)
    matte: MatteOptions = field(default_factory=MatteOptions)

    def __post_init__(self) -> None:
        for prefix, subject in self.subject_for:
            if not prefix or subject not in SUBJECTS:
                raise ConfigError(
                    f"subject rule {prefix!r} -> {subject!r}: give a file-name prefix and one of {', '.join(SUBJECTS)}"
                )
        if not isinstance(self.max_frames, int) or self.max_frames < 1:
            raise ConfigError(f"max_frames {self.max_frames!r} is out of range: use a whole number >= 1")
        if not isinstance(self.infer_every, int) or self.infer_every < 1:
            raise ConfigError(f"infer_every {self.infer_every!r} is out of range: use a whole number >= 1")

    @property
    def mask_folder(self) -> Path | None:
        """Where the ground-truth masks are: ``masks``, else the images' own folder."""
        return self.masks or self.images

    def subject_of(self, stem: str) -> str:
        """The subject rule for the image named ``stem``: the longest matching prefix, else ``matte.subject``."""
        best, subject = -1, self.matte.subject
        for prefix, rule in self.subject_for:
            if stem.startswith(prefix) and len(prefix) >= best:  # the longest; the last of equals
                best, subject = len(prefix), rule
        return subject
