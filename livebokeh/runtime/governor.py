"""The CPU budget governor: when the live inference thread computes its next mask.

A video call needs most of the machine, so a live run keeps the whole process within
``--cpu-budget`` percent of one core.  The compositor's work is fixed by the frame rate
(every frame is composited); what can give is how often the model runs.  Between masks
the compositor moves the newest mask along the optical flow, so a still or smoothly moving
scene needs few masks, and a person changing shape needs many.  After each mask the
:class:`InferenceGovernor` sets the gap until the next one from two readings:

* **motion**: :func:`~livebokeh.matte.warp.predicted_change` - how far the previous mask,
  moved along the flow to the new frame, is from the new mask (``1 - IoU``).  Below
  ``STILL_CHANGE`` the flow covered the gap and the gap grows by ``SLOW_DOWN``; above
  ``MOVING_CHANGE`` it halves; in between it stays.
* **budget**: over the last ``WINDOW_S`` seconds, the process's CPU without the inference
  thread (the compositor, capture, sinks) and the inference thread's CPU per mask give the
  mask rate the rest of the budget affords; the gap is never shorter than that.

The gap stays between one frame (``ceiling_hz``: the frame rate or ``--inference-fps``) and
``1 / floor_hz``: the floor wins over the budget, so the matte never falls further behind
than that however busy the machine is (the budget is then exceeded and the stats say so).
The governor only decides *when*; ``cost_level`` is passed down to the estimator (how
often it runs the person detectors, about half of a mask's cost when they run every tenth
mask) as the one knob of the matte's cost: 1 while the budget holds the rate below what
the scene asks for.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "DEFAULT_CPU_BUDGET",
    "FLOOR_HZ",
    "GovernorReport",
    "InferenceGovernor",
]

DEFAULT_CPU_BUDGET = 40.0
"""Default ``--cpu-budget`` in percent of one core.  On the 2-core dev machine a still person at the 15 Hz
floor takes 17-18 % of a core for raw 1080p frames, 19 % from a 720p MJPEG camera and 26-28 % from a 1080p
MJPEG one (capture, matte and compositor included); what is left of 40 % buys masks while the person
moves, up to one on every frame (31-33 % at 1080p MJPEG)."""

FLOOR_HZ = 15.0
"""Fewest masks per second under any budget: at 30 fps a mask every other frame at least, which the matte thread
applies to its own frame (:data:`~livebokeh.runtime.live.OWN_MASK_WAIT`) - so no frame gets a mask more than one
frame old (mask age p95 33 ms), where a 10 Hz floor left every third frame's two frames old (100 ms at p95 with
the previous mask applied, 67 ms with the own one).  ``eval --videos --infer-every 2`` at 30 fps measures its
cost."""

STILL_CHANGE = 0.01
"""``1 - IoU`` of the flowed previous mask vs the new one below which the scene counts as still.

What the flow leaves uncovered two frames apart (median): talking heads 0.0006-0.017, the bundled
sample clip 0.008, the synthetic source's hand-held drift 0.015; moving-person clips 0.06-0.26
(lower quartile 0.03 and up).  The model's own frame-to-frame wobble is most of the first group's."""

MOVING_CHANGE = 0.03
"""... and above which the person counts as moving (the gap halves).  Between the two the gap stays.

At 0.004 / 0.012 a talking head that nods, or a still person under a hand-held drift, counted as
moving and got a mask on every frame.  Replayed on the clips (masks computed / IoU of the applied mask
against a fresh mask every frame): talking heads 0.35-0.79 -> 0.35-0.48 of the frames at IoU 0.991 or
more; the synthetic drift 1.00 -> 0.50 at 0.994; moving-person clips with ground truth, IoU cost of
the schedule against a mask every frame at most 0.006 (before 0.0014)."""

SLOW_DOWN = 1.25
"""Factor the gap grows by after each still mask."""

WINDOW_S = 2.0
"""CPU readings are taken over (about) this many seconds."""

MIN_WINDOW_S = 0.5
"""No budget decision before this much time has been measured."""


@dataclass(frozen=True, slots=True)
class GovernorReport:
    """The governor's state, for the stats and the HUD."""

    budget_percent: float | None
    gap_s: float
    limited_by: str
    """``motion`` (the scene asks for this rate), ``budget``, ``floor`` or ``ceiling``."""
    change: float | None
    """The last :func:`~livebokeh.matte.warp.predicted_change`."""
    cost_level: int


class InferenceGovernor:
    """Sets the gap between masks from the scene's motion and the process's CPU budget.

    ``budget_percent`` (``None``: no budget, motion alone) is in percent of one core;
    ``floor_hz`` and ``ceiling_hz`` bound the mask rate.  ``process_cpu`` and ``clock``
    (seconds) are what the budget reads - the process's CPU time and the monotonic clock -
    replaceable for tests and for offline evaluation.
    """

    def __init__(
        self,
        *,
        budget_percent: float | None,
        floor_hz: float = FLOOR_HZ,
        ceiling_hz: float = 30.0,
        process_cpu: Callable[[], float] = time.process_time,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ceiling_hz <= 0 or floor_hz <= 0:
            raise ValueError("floor_hz and ceiling_hz must be above 0")
        self.budget_percent = budget_percent
        self.min_gap = 1.0 / ceiling_hz
        self.max_gap = max(self.min_gap, 1.0 / floor_hz)
        self._motion_gap = self.min_gap
        self._budget_gap = self.min_gap
        self.gap = self.min_gap
        """Seconds from the start of one mask to the start of the next."""
        self._process_cpu = process_cpu
        self._clock = clock
        self._samples: deque[tuple[float, float, float, int]] = deque()
        self._masks = 0
        self.change: float | None = None
        self.limited_by = "ceiling"
        self.cost_level = 0
        """0: the matte at full cost; 1: the budget holds the rate below what the scene asks for - the
        estimator runs its person detectors less often, so that each mask costs less and more fit."""

    def observed(self, change: float | None, inference_cpu_s: float) -> float:
        """Take the readings after one mask; returns the new gap in seconds.

        ``change`` is :func:`~livebokeh.matte.warp.predicted_change` of the previous mask
        against this one (``None`` for the first); ``inference_cpu_s`` is the inference
        thread's CPU time so far (``time.thread_time()`` there).
        """
        self._masks += 1
        self.change = change
        if change is not None:
            if change > MOVING_CHANGE:
                self._motion_gap = max(self.min_gap, self._motion_gap / 2)
            elif change < STILL_CHANGE:
                self._motion_gap = min(self.max_gap, self._motion_gap * SLOW_DOWN)
        if self.budget_percent is not None:
            self._budget_gap = self._affordable_gap(inference_cpu_s)
        wanted = max(self._motion_gap, self._budget_gap)
        self.gap = min(self.max_gap, max(self.min_gap, wanted))
        if wanted > self.max_gap:
            self.limited_by = "floor"
        elif self.gap <= self.min_gap and self._motion_gap <= self.min_gap:
            self.limited_by = "ceiling"
        elif self._budget_gap > self._motion_gap:
            self.limited_by = "budget"
        else:
            self.limited_by = "motion"
        self.cost_level = 1 if self._budget_gap > self._motion_gap and self._budget_gap > self.min_gap else 0
        return self.gap

    def _affordable_gap(self, inference_cpu_s: float) -> float:
        """The shortest gap the budget affords, from the CPU used over the last ``WINDOW_S`` seconds."""
        now = self._clock()
        self._samples.append((now, self._process_cpu(), inference_cpu_s, self._masks))
        while len(self._samples) > 2 and now - self._samples[1][0] >= WINDOW_S:
            self._samples.popleft()
        t0, p0, i0, m0 = self._samples[0]
        wall = now - t0
        if wall < MIN_WINDOW_S or self._masks == m0:
            return self._budget_gap
        _, p1, i1, m1 = self._samples[-1]
        per_mask = max(1e-4, (i1 - i0) / (m1 - m0))
        others = max(0.0, (p1 - p0) - (i1 - i0)) / wall  # cores busy outside the inference thread
        spare = (self.budget_percent or 0.0) / 100.0 - others
        return per_mask / spare if spare > 0 else math.inf

    def report(self) -> GovernorReport:
        """The current state (stats, HUD)."""
        return GovernorReport(
            budget_percent=self.budget_percent,
            gap_s=self.gap,
            limited_by=self.limited_by,
            change=self.change,
            cost_level=self.cost_level,
        )
