"""The user's controls of a live run: hotkeys, and the HUD text that shows their state.

:class:`LiveControls` is what an interactive sink (the preview window) gets through
``Sink.attach``: it turns keys into effect and view changes and composes the HUD
figures and status line.  The pipeline reads :attr:`LiveControls.view_mask` and
:attr:`LiveControls.bypass` for each frame; everything here runs on the compositor
thread (the preview calls it from ``write``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from ..config import EffectOptions
from ..effect_kinds import Blur, Bokeh, EffectKind, MaskView, Passthrough
from ..effects import BaseCompositor
from ..frames import Mask
from ..sources import Source
from ..stats import LiveStats
from .guard import InferenceGuard

__all__ = ["EFFECT_CYCLE", "STRENGTH_STEP", "LiveControls"]

EFFECT_CYCLE: tuple[EffectKind, ...] = (Blur(), Bokeh())
"""Effects the ``b`` hotkey cycles through (plus the effect the run started with)."""
STRENGTH_STEP = 0.1
"""How much ``+`` and ``-`` change the strength."""


class LiveControls:
    """Hotkeys and HUD of one live run (implements :class:`~livebokeh.sinks.Controls`).

    ``started`` is the effect the run began with (the ``b`` cycle keeps it);
    ``stop`` ends the run with a reason; ``newest_mask`` says whether a mask exists yet.
    """

    def __init__(
        self,
        *,
        compositor: BaseCompositor,
        started: EffectOptions,
        stop: Callable[[str], None],
        stats: LiveStats,
        source: Source,
        guard: InferenceGuard,
        newest_mask: Callable[[], Mask | None],
    ) -> None:
        self.compositor = compositor
        self.started = started
        self._stop = stop
        self._stats = stats
        self._source = source
        self._guard = guard
        self._newest_mask = newest_mask
        self.view_mask = False
        """Show the alpha instead of the composite (``m``)."""
        self.bypass = False
        """Pass frames through untouched (space)."""

    def handle_key(self, key: str) -> None:
        """``b`` cycle effects, ``m`` mask view, ``space`` bypass, ``+``/``-`` strength, ``q`` quit."""
        opts = self.compositor.options
        if key == "q":
            self._stop("quit")
        elif key == "m":
            self.view_mask = not self.view_mask
        elif key in ("space", " "):
            self.bypass = not self.bypass
        elif key == "b":
            cycle = list(EFFECT_CYCLE)
            started = self.started.effect
            if started not in cycle and not isinstance(started, (MaskView, Passthrough)):
                cycle.append(started)
            nxt = cycle[(cycle.index(opts.effect) + 1) % len(cycle)] if opts.effect in cycle else cycle[0]
            self.compositor.set_options(dataclasses.replace(opts, effect=nxt))
        elif key in ("+", "-"):
            step = STRENGTH_STEP if key == "+" else -STRENGTH_STEP
            strength = round(min(1.0, max(0.0, float(opts.strength) + step)), 2)
            self.compositor.set_options(dataclasses.replace(opts, strength=strength))

    def hud(self) -> dict[str, Any]:
        """Live figures for the preview HUD, plus a ``status`` line."""
        figures: dict[str, Any] = dict(self._stats.hud())
        if self.bypass:
            status = "BYPASS"
        elif self.view_mask:
            status = "mask view"
        else:
            options = self.compositor.options
            status = f"{options.effect}  strength {options.strength:.1f}"
        if self._newest_mask() is None:
            status += "  (starting: no mask yet)"
        for warning in (self._source.status, self._guard.warning()):
            if warning:
                status += f"  ! {warning}"
        figures["status"] = status
        return figures
