"""Option dataclasses: frozen, keyword-only, validated on construction.

The CLI parses arguments into these; the library never reads ``sys.argv``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ConfigError

EFFECT_NAMES = ("blur", "bokeh", "mask", "none")
EFFECT_PREFIXES = ("replace:", "color:")
SUBJECTS = ("all", "main")


def validate_effect(effect: str) -> str:
    """Return ``effect`` if it names a known effect, else raise :class:`ConfigError`."""
    if effect in EFFECT_NAMES:
        return effect
    if effect.startswith("replace:") and len(effect) > len("replace:"):
        return effect
    if effect.startswith("color:"):
        if re.fullmatch(r"color:#?[0-9a-fA-F]{6}", effect):
            return effect
        raise ConfigError(f"effect {effect!r}: a colour is written color:#RRGGBB, e.g. color:#00ff00")
    allowed = ", ".join(EFFECT_NAMES) + ", replace:IMAGE_OR_VIDEO, color:#RRGGBB"
    raise ConfigError(f"effect {effect!r} is unknown: use one of {allowed}")


@dataclass(frozen=True, kw_only=True, slots=True)
class EffectOptions:
    """What happens to the background.

    ``strength`` in ``[0, 1]`` scales the blur radius relative to the frame height, so
    the look is the same at 480p and 4K.  ``falloff`` makes blur grow with distance from
    the person (depth-like).
    """

    effect: str = "blur"
    strength: float = 0.5
    falloff: bool = False

    def __post_init__(self) -> None:
        validate_effect(self.effect)
        if not isinstance(self.strength, (int, float)) or not 0.0 <= float(self.strength) <= 1.0:
            raise ConfigError(f"strength {self.strength!r} is out of range: use a number from 0 to 1")


@dataclass(frozen=True, kw_only=True, slots=True)
class SegmenterOptions:
    """Which model runs and how."""

    model: str = "auto"
    threads: int = 1
    person_class: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.threads, int) or self.threads < 1:
            raise ConfigError(f"threads {self.threads!r} is out of range: use a whole number >= 1")
        if self.person_class is not None and (not isinstance(self.person_class, int) or self.person_class < 0):
            raise ConfigError(f"person_class {self.person_class!r} is out of range: use a whole number >= 0")


@dataclass(frozen=True, kw_only=True, slots=True)
class MatteOptions:
    """How the model's mask becomes the alpha that is applied.

    ``refine``: edge-aware upsampling guided by the frame.  ``subject``: ``all`` keeps
    every person sharp, ``main`` only the main one.  ``temporal``: smooth the mask over
    time (video only).  ``compensate``: move a stale mask to where the person is now.
    """

    refine: bool = True
    subject: str = "all"
    temporal: bool = True
    compensate: bool = True

    def __post_init__(self) -> None:
        if self.subject not in SUBJECTS:
            raise ConfigError(f"subject {self.subject!r} is unknown: use one of {', '.join(SUBJECTS)}")
