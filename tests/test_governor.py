"""The CPU budget governor: fewer masks on a still scene, more on motion, within the budget, never below the floor."""

from __future__ import annotations

import json

import numpy as np
import pytest
from live_fakes import FakeSegmenter

from livebokeh._cli import main as cli_main
from livebokeh.config import MatteOptions
from livebokeh.errors import ConfigError
from livebokeh.frames import Mask
from livebokeh.matte.warp import MaskWarper, predicted_change
from livebokeh.runtime.governor import MOVING_CHANGE, STILL_CHANGE, InferenceGovernor
from livebokeh.runtime.live import LiveOptions, Pipeline
from livebokeh.sources.pacing import Pacer
from livebokeh.sources.synthetic import SyntheticSource


class FakeClock:
    """Process CPU and wall clock that a test moves by hand."""

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0

    def tick(self, seconds: float, busy_cores: float) -> None:
        self.wall += seconds
        self.cpu += seconds * busy_cores


def run(governor: InferenceGovernor, clock: FakeClock, changes: list[float], *, other: float, per_mask: float) -> list:
    """Feed one mask per gap: ``other`` cores busy outside inference, ``per_mask`` CPU seconds per mask."""
    gaps = []
    inference_cpu = 0.0
    for change in changes:
        inference_cpu += per_mask
        clock.cpu += per_mask
        gap = governor.observed(change, inference_cpu)
        gaps.append(gap)
        clock.tick(gap, other)
    return gaps


def make(budget: float | None, clock: FakeClock, floor: float = 10.0, ceiling: float = 30.0) -> InferenceGovernor:
    return InferenceGovernor(
        budget_percent=budget,
        floor_hz=floor,
        ceiling_hz=ceiling,
        process_cpu=lambda: clock.cpu,
        clock=lambda: clock.wall,
    )


def test_a_still_scene_slows_inference_down_to_the_floor_and_no_further():
    clock = FakeClock()
    governor = make(None, clock)
    gaps = run(governor, clock, [None] + [STILL_CHANGE / 4] * 40, other=0.1, per_mask=0.005)
    assert gaps[0] == pytest.approx(1 / 30)
    assert all(b >= a for a, b in zip(gaps, gaps[1:], strict=False))  # only slower while still
    assert gaps[-1] == pytest.approx(1 / 10)  # the floor: 10 masks a second
    assert max(gaps) <= 1 / 10 + 1e-12
    assert governor.limited_by == "motion"


def test_motion_brings_the_rate_back_up_quickly():
    clock = FakeClock()
    governor = make(None, clock)
    run(governor, clock, [STILL_CHANGE / 4] * 30, other=0.1, per_mask=0.005)
    assert governor.gap == pytest.approx(1 / 10)
    gaps = run(governor, clock, [MOVING_CHANGE * 3] * 4, other=0.1, per_mask=0.005)
    assert gaps[0] < 1 / 10 and gaps[-1] == pytest.approx(1 / 30)  # halved per moving mask, to every frame
    steady = run(governor, clock, [(STILL_CHANGE + MOVING_CHANGE) / 2] * 5, other=0.1, per_mask=0.005)
    assert steady == pytest.approx([1 / 30] * 5)  # in between: the rate stays


def test_the_budget_caps_the_rate_a_moving_scene_asks_for():
    clock = FakeClock()
    # 20 % of a core outside inference, 10 ms per mask, budget 40 %: 20 masks a second are affordable
    governor = make(40.0, clock)
    gaps = run(governor, clock, [MOVING_CHANGE * 3] * 120, other=0.2, per_mask=0.010)
    assert gaps[0] == pytest.approx(1 / 30)  # no reading yet: as fast as the frames
    assert np.mean(gaps[-20:]) == pytest.approx(1 / 20, rel=0.1)
    assert governor.limited_by == "budget" and governor.cost_level == 1  # and the matte is asked to cost less
    used = (clock.cpu / clock.wall) * 100
    assert used == pytest.approx(40, rel=0.15)


def test_the_floor_wins_over_the_budget_and_asks_the_matte_to_cost_less():
    clock = FakeClock()
    governor = make(30.0, clock)  # 35 % busy outside inference: nothing left for masks
    gaps = run(governor, clock, [MOVING_CHANGE * 3] * 60, other=0.35, per_mask=0.010)
    assert gaps[-1] == pytest.approx(1 / 10)  # never below the floor
    assert governor.limited_by == "floor" and governor.cost_level == 1
    # once the machine has room again, the rate and the matte's cost come back
    run(governor, clock, [MOVING_CHANGE * 3] * 60, other=0.05, per_mask=0.005)
    assert governor.gap == pytest.approx(1 / 30)  # (30 % - 5 %) / 5 ms per mask = 50 a second: every frame
    assert governor.limited_by == "ceiling" and governor.cost_level == 0


def test_predicted_change_is_what_the_flow_does_not_cover():
    h, w = 72, 128
    yy, xx = np.mgrid[0:h, 0:w]
    texture = ((np.sin(xx / 3.0) + np.cos(yy / 4.0)) * 60 + 128).astype(np.uint8)

    def mask_at(dx: int, grow: int = 0) -> Mask:
        alpha = ((np.abs(xx - 50 - dx) < 15 + grow) & (yy > 20)).astype(np.float32)
        guide = np.roll(texture, dx, axis=1)
        return Mask(alpha=alpha, timestamp_ns=0, index=0, guide=guide)

    warper = MaskWarper()
    same = predicted_change(warper, mask_at(0), mask_at(0))
    shifted = predicted_change(warper, mask_at(0), mask_at(4))  # the picture moved with the person
    grown = predicted_change(warper, mask_at(0), mask_at(0, grow=6))  # the person changed shape in place
    assert same == 0.0
    assert shifted is not None and grown is not None
    assert shifted < 0.1 < grown  # motion the flow follows costs little; a change of shape does not
    assert predicted_change(warper, Mask(alpha=mask_at(0).alpha, timestamp_ns=0, index=0), mask_at(0)) is None


# -- in the live pipeline ------------------------------------------------------------------


class ShapeShifter(FakeSegmenter):
    """A person whose outline changes on every call (arms up, arms down): the flow cannot predict it."""

    def segment(self, image: np.ndarray) -> np.ndarray:
        mask = super().segment(image)
        if self.calls % 2:
            mask[8:, 8:56] = 1.0
        return mask


class StillCamera:
    """A camera looking at a still scene: the same picture 30 times a second."""

    name = "still"
    size = (160, 96)
    fps = 30.0

    def __init__(self) -> None:
        self.image = SyntheticSource(width=160, height=96, frames=8, person=False, realtime=False).read()
        self.pacer = Pacer(self.fps)

    def read(self) -> np.ndarray:
        self.pacer.wait()
        return self.image

    def close(self) -> None:
        pass


def governed_run(segmenter: FakeSegmenter, **options: object) -> dict:
    pipeline = Pipeline(
        StillCamera(),
        ["null"],
        segmenter=segmenter,
        matte=MatteOptions(refine=False, temporal=False, compensate=False, crops=False),
        options=LiveOptions(duration=3.0, **options),  # type: ignore[arg-type]
    )
    return pipeline.run()


def test_the_pipeline_runs_the_model_less_on_a_still_scene_more_on_motion_never_below_the_floor():
    still = governed_run(FakeSegmenter(), cpu_budget=6400, inference_floor=4)
    moving = governed_run(ShapeShifter(), cpu_budget=6400, inference_floor=4)
    for summary in (still, moving):
        assert summary["governor"]["cpu_budget_percent"] == 6400
        assert summary["frames_composited"] > 30
    assert still["governor"]["limited_by"].get("motion", 0) > 0  # the scene set the rate
    assert still["inference_count"] < 0.5 * still["frames_composited"]
    seconds = still["duration_s"]
    assert still["inference_count"] >= 0.5 * 4 * seconds  # the floor: 4 masks a second (halved: a loaded machine)
    assert moving["governor"]["change_p50"] > still["governor"]["change_p50"]
    assert moving["inference_count"] > 1.5 * still["inference_count"]


def test_without_a_budget_there_is_no_governor():
    summary = governed_run(FakeSegmenter(), cpu_budget=None)
    assert summary["governor"] is None
    assert summary["inference_count"] > 0.5 * summary["frames_composited"]  # every frame the model keeps up with


def test_cli_takes_a_budget_in_percent_or_off(tmp_path, capsys):
    out = tmp_path / "s.json"
    base = ["live", "--source", "synthetic:160x96@30", "--sink", "null", "--duration", "1", "--stats-json", str(out)]
    assert cli_main([*base, "--cpu-budget", "25%", "--inference-floor", "5"]) == 0
    assert json.loads(out.read_text())["governor"]["cpu_budget_percent"] == 25
    assert "budget 25 %" in capsys.readouterr().out
    assert cli_main([*base, "--cpu-budget", "off"]) == 0
    assert json.loads(out.read_text())["governor"] is None
    with pytest.raises(SystemExit):
        cli_main([*base, "--cpu-budget", "0"])
    assert "cpu budget 0.0 is out of range" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="inference floor"):
        LiveOptions(inference_floor=0)


def test_a_source_without_a_frame_rate_still_gets_a_governor():
    class NoRate(StillCamera):
        fps = 0.0  # a device that does not say

        def __init__(self) -> None:
            super().__init__()
            self.pacer = Pacer(30.0)

    pipeline = Pipeline(
        NoRate(),
        ["null"],
        segmenter=FakeSegmenter(),
        matte=MatteOptions(refine=False, temporal=False, compensate=False, crops=False),
        options=LiveOptions(duration=1.0),
    )
    summary = pipeline.run()
    assert summary["governor"] is not None and summary["frames_composited"] > 5 and summary["inference_count"] > 0
