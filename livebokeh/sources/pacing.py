"""Real-time pacing against ``time.monotonic_ns()``, the one clock of the live pipeline."""

from __future__ import annotations

import time

__all__ = ["Pacer"]


class Pacer:
    """Sleeps until the next frame is due at ``fps``, like a camera delivering frames.

    If the caller falls behind by more than two frame periods the schedule restarts
    from now instead of bursting frames to catch up (a camera drops frames too).
    """

    def __init__(self, fps: float) -> None:
        self.period_ns = int(round(1e9 / fps)) if fps > 0 else 0
        self._next_ns: int | None = None

    def wait(self) -> int:
        """Block until the next frame is due; return the ``monotonic_ns`` it was due at."""
        now = time.monotonic_ns()
        if self._next_ns is None or self.period_ns == 0:
            self._next_ns = now + self.period_ns
            return now
        due = self._next_ns
        if now < due:
            time.sleep((due - now) / 1e9)
        elif now - due > 2 * self.period_ns:
            due = now
        self._next_ns = due + self.period_ns
        return due

    def reset(self) -> None:
        """Start a new schedule at the next :meth:`wait`."""
        self._next_ns = None
