"""What goes behind the person, as typed values: :class:`Blur`, :class:`Bokeh`, :class:`Replace`, ...

The command line and the config file spell an effect as text (``blur``, ``bokeh``,
``replace:FILE``, ``color:#RRGGBB``, ``mask``, ``none``); :func:`parse_effect` turns
that text into one of these values once, where options are read
(:class:`~livebokeh.config.EffectOptions` does it on construction), and everything
downstream matches on the type.  ``str()`` of a value gives its text back.
How strong the blur is (``strength``, ``falloff``, ``blades``) stays in
:class:`~livebokeh.config.EffectOptions`: those settings outlive a switch of effect.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, TypeAlias

from .errors import ConfigError

__all__ = [
    "Blur",
    "Bokeh",
    "Color",
    "EffectKind",
    "MaskView",
    "Passthrough",
    "Replace",
    "parse_color",
    "parse_effect",
]


@dataclass(frozen=True, slots=True)
class Blur:
    """A Gaussian blur of the background (``blur``)."""

    name: ClassVar[str] = "blur"

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class Bokeh:
    """A lens blur: bright lights become discs of the aperture's shape (``bokeh``)."""

    name: ClassVar[str] = "bokeh"

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class Replace:
    """An image or a looping video behind the person (``replace:PATH``); the file is opened by the compositor."""

    path: Path
    name: ClassVar[str] = "replace"

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    def __str__(self) -> str:
        return f"{self.name}:{self.path}"


@dataclass(frozen=True, slots=True)
class Color:
    """A solid colour behind the person (``color:#RRGGBB``), kept as ``(B, G, R)`` like the frames."""

    bgr: tuple[int, int, int]
    name: ClassVar[str] = "color"

    def __post_init__(self) -> None:
        bgr = tuple(self.bgr)
        if len(bgr) != 3 or not all(type(v) is int and 0 <= v <= 255 for v in bgr):
            raise ConfigError(f"colour {self.bgr!r} is not (B, G, R) with each 0-255: write e.g. Color((64, 177, 0))")
        object.__setattr__(self, "bgr", bgr)

    def __str__(self) -> str:
        b, g, r = self.bgr
        return f"{self.name}:#{r:02x}{g:02x}{b:02x}"


@dataclass(frozen=True, slots=True)
class MaskView:
    """The person alpha itself, as a grey picture (``mask``)."""

    name: ClassVar[str] = "mask"

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class Passthrough:
    """The frame unchanged (``none``)."""

    name: ClassVar[str] = "none"

    def __str__(self) -> str:
        return self.name


EffectKind: TypeAlias = Blur | Bokeh | Replace | Color | MaskView | Passthrough
"""Any of the effect values."""

_PLAIN: dict[str, EffectKind] = {"blur": Blur(), "bokeh": Bokeh(), "mask": MaskView(), "none": Passthrough()}
_HEX = re.compile(r"#?([0-9a-fA-F]{2})([0-9a-fA-F]{2})([0-9a-fA-F]{2})")


def parse_color(spec: str) -> tuple[int, int, int]:
    """``"#RRGGBB"`` (``#`` optional) -> ``(B, G, R)`` as the frame's channel order."""
    m = _HEX.fullmatch(spec.strip())
    if m is None:
        raise ConfigError(f"colour {spec!r} is not #RRGGBB: write e.g. color:#00ff00")
    r, g, b = (int(x, 16) for x in m.groups())
    return b, g, r


def parse_effect(text: str) -> EffectKind:
    """The effect named by ``text`` as the CLI and the config file spell it; :class:`ConfigError` otherwise."""
    plain = _PLAIN.get(text)
    if plain is not None:
        return plain
    kind, colon, rest = text.partition(":")
    if colon and kind == Replace.name and rest:
        return Replace(Path(rest))
    if colon and kind == Color.name:
        if _HEX.fullmatch(rest) is None:
            raise ConfigError(f"effect {text!r}: a colour is written color:#RRGGBB, e.g. color:#00ff00")
        return Color(parse_color(rest))
    allowed = ", ".join(_PLAIN) + ", replace:IMAGE_OR_VIDEO, color:#RRGGBB"
    raise ConfigError(f"effect {text!r} is unknown: use one of {allowed}")
