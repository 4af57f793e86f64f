"""``color:#RRGGBB``: a solid colour behind the person (green screen, brand colour)."""

from __future__ import annotations

import re

from ..errors import ConfigError


def parse_color(spec: str) -> tuple[int, int, int]:
    """``"#RRGGBB"`` (``#`` optional) -> ``(B, G, R)`` as the frame's channel order."""
    m = re.fullmatch(r"#?([0-9a-fA-F]{2})([0-9a-fA-F]{2})([0-9a-fA-F]{2})", spec.strip())
    if m is None:
        raise ConfigError(f"colour {spec!r} is not #RRGGBB: write e.g. color:#00ff00")
    r, g, b = (int(x, 16) for x in m.groups())
    return b, g, r
