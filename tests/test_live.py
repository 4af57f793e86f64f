"""The live pipeline: mailbox, threads, failure handling, shutdown, CLI and demo."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from live_fakes import FailingSink, FakeCapture, FakeSegmenter, RecordingSink

from livebokeh._cli import main as cli_main
from livebokeh.config import MatteOptions
from livebokeh.effect_kinds import Blur, Bokeh
from livebokeh.errors import CameraOpenError, ConfigError, SinkError, SourceError
from livebokeh.frames import Frame, Mask
from livebokeh.runtime.live import LiveOptions, MaskCache, Pipeline
from livebokeh.runtime.mailbox import FrameQueue, Mailbox
from livebokeh.sources import camera as camera_module
from livebokeh.sources.camera import CameraSource
from livebokeh.sources.synthetic import SyntheticSource

SMALL = dict(width=160, height=96, fps=30.0, frames=8, person=False)
NO_REFINE = MatteOptions(refine=False, temporal=False, compensate=False)


def small_pipeline(sinks, *, segmenter=None, source=None, **options) -> Pipeline:
    return Pipeline(
        source or SyntheticSource(**SMALL),
        sinks,
        segmenter=segmenter or FakeSegmenter(),
        matte=NO_REFINE,
        options=LiveOptions(**options),
    )


# -- mailbox and queue -----------------------------------------------------------------


def test_mailbox_keeps_only_the_newest_item():
    box: Mailbox[int] = Mailbox()
    assert box.put(1) is False
    assert box.put(2) is True
    assert box.put(3) is True
    assert box.get(timeout=0) == 3
    assert box.dropped == 2
    assert box.get(timeout=0.01) is None


def test_mailbox_close_wakes_a_blocked_reader():
    box: Mailbox[int] = Mailbox()
    got: list[object] = []
    reader = threading.Thread(target=lambda: got.append(box.get(timeout=10)))
    reader.start()
    time.sleep(0.05)
    box.close()
    reader.join(2)
    assert not reader.is_alive()
    assert got == [None]
    assert box.put(4) is False and box.get(timeout=0) is None


def test_frame_queue_drops_the_oldest_when_full_and_drains_after_close():
    q: FrameQueue[int] = FrameQueue(2)
    assert [q.put(i) for i in range(4)] == [False, False, True, True]
    assert q.dropped == 2
    q.close()
    assert (q.get(0), q.get(0), q.get(0)) == (2, 3, None)
    assert q.finished


# -- the pipeline ---------------------------------------------------------------------------


def test_pipeline_iterates_composited_frames_and_masks():
    sink = RecordingSink()
    seg = FakeSegmenter()
    with small_pipeline([sink], segmenter=seg) as pipeline:
        seen = 0
        masks = 0
        for frame, mask in pipeline:
            assert frame.image.shape == (96, 160, 3) and frame.image.dtype == np.uint8
            seen += 1
            masks += mask is not None
            if masks >= 5:
                break
    assert masks == 5
    assert sink.count == seen
    assert sink.opened_with == ((160, 96), 30.0)
    assert sink.closed
    assert pipeline.threads_alive == []
    assert not seg.closed  # a segmenter passed in belongs to the caller


def test_frames_pass_through_unchanged_before_the_first_mask():
    gate = threading.Event()
    source = SyntheticSource(**SMALL)
    originals = [f.copy() for f in source._frames]
    try:
        with small_pipeline([], segmenter=FakeSegmenter(gate=gate), source=source) as pipeline:
            first = [(frame.image.copy(), mask) for (frame, mask), _ in zip(pipeline, range(4), strict=False)]
            gate.set()
    finally:
        gate.set()
    for i, (image, mask) in enumerate(first):
        assert mask is None
        assert image.max() > 0, "never a black frame"
        np.testing.assert_array_equal(image, originals[i % len(originals)])


def test_mask_changes_the_picture_once_it_exists():
    source = SyntheticSource(**SMALL)
    plain = source._frames[0].copy()
    with small_pipeline([], source=source, queue_frames=8) as pipeline:
        for frame, mask in pipeline:
            if mask is not None:
                out = frame.image.copy()
                break
    assert not np.array_equal(out, plain)


def test_a_slow_segmenter_does_not_slow_the_output():
    sink = RecordingSink(keep=0)
    pipeline = small_pipeline([sink], segmenter=FakeSegmenter(delay=0.25), duration=1.5)
    summary = pipeline.run()
    # Every captured frame is composited although the model finished only a few masks.
    assert summary["frames_dropped"] == 0
    assert summary["frames_composited"] == summary["frames_captured"] == sink.count
    assert summary["inference_count"] <= 8
    assert summary["frames_composited"] >= 4 * summary["inference_count"]
    assert summary["inference_skipped"] > 0  # the mailbox dropped stale frames


def test_inference_fps_caps_the_model_rate():
    seg = FakeSegmenter()
    summary = small_pipeline([], segmenter=seg, duration=1.0, inference_fps=4).run()
    assert 1 <= summary["inference_count"] <= 7
    assert summary["frames_composited"] > summary["inference_count"]


def test_a_failing_segmenter_is_counted_and_the_stream_goes_on():
    # Issue 8: a failing model no longer ends the run; masks are discarded and counted (see test_faults.py).
    sink = RecordingSink(keep=0)
    pipeline = small_pipeline([sink], segmenter=FakeSegmenter(fail_after=3), duration=1.0)
    summary = pipeline.run()
    assert summary["inference_errors"] >= 3 and sink.count == summary["frames_composited"] > 10
    assert "model exploded" in pipeline.guard.last_error
    assert pipeline.threads_alive == []


def test_a_failing_sink_is_dropped_and_the_others_keep_running():
    good = RecordingSink(keep=0)
    bad = FailingSink(fail_at=3)
    messages: list[str] = []
    pipeline = small_pipeline([bad, good], duration=0.8)
    pipeline.on_sink_dropped = messages.append
    summary = pipeline.run()
    assert bad.count == 3 and bad.closed
    assert good.count == summary["frames_composited"] > 10
    assert summary["sinks_dropped"] == ["failing"]
    assert len(messages) == 1 and "virtual camera closed by another program" in messages[0]


def test_the_only_sink_failing_ends_the_run_with_an_error():
    pipeline = small_pipeline([FailingSink(fail_at=2, exc=OSError("disk full"))], duration=5)
    with pytest.raises(SinkError, match="disk full"):
        pipeline.run()
    assert pipeline.threads_alive == []


def test_the_camera_disappearing_mid_run_gives_a_clear_message(monkeypatch):
    monkeypatch.setattr(camera_module, "LOST_AFTER_S", 0.3)
    cam = CameraSource("fake0", capture_factory=lambda dev: FakeCapture(dev, frames=10))
    pipeline = small_pipeline([RecordingSink()], source=cam, duration=10, reconnect=False)  # see test_faults.py
    with pytest.raises(SourceError, match=r"camera fake0 stopped delivering frames after 10 frames.*unplugged"):
        pipeline.run()
    assert pipeline.threads_alive == []


def test_a_camera_that_does_not_exist_names_the_device_and_suggests_the_sample():
    with pytest.raises(CameraOpenError, match=r"camera 57.*--source sample"):
        CameraSource(57)
    with pytest.raises(CameraOpenError, match=r"camera nope.*--source sample"):
        CameraSource("nope", capture_factory=lambda dev: FakeCapture(dev, opened=False))


def test_stop_joins_every_thread_within_the_timeout():
    pipeline = small_pipeline([RecordingSink(keep=0)], segmenter=FakeSegmenter(delay=0.05), stop_timeout=1.0)
    timer = threading.Timer(0.5, pipeline.stop)
    timer.start()
    pipeline.run()
    timer.join()
    assert pipeline.stop_reason == "stopped"
    assert pipeline.threads_alive == []
    assert not [t for t in threading.enumerate() if t.name in ("capture", "inference", "matte")]


def test_hotkeys_change_effect_strength_mask_view_and_bypass():
    source = SyntheticSource(**SMALL)
    with small_pipeline([], source=source) as pipeline:
        it = iter(pipeline)
        frame, mask = next(it)
        while mask is None:
            frame, mask = next(it)
        pipeline.controls.handle_key("m")
        frame, mask = next(it)
        img = frame.image
        assert np.array_equal(img[..., 0], img[..., 1]) and np.array_equal(img[..., 1], img[..., 2])
        # the alpha at the matte's guide resolution, shown at the frame's size
        h, w = img.shape[:2]
        shown = cv2.resize(pipeline.last_alpha, (w, h), interpolation=cv2.INTER_LINEAR)
        np.testing.assert_array_equal(img[..., 0], shown)
        pipeline.controls.handle_key("m")
        pipeline.controls.handle_key("space")
        frame, mask = next(it)
        assert mask is None and any(np.array_equal(frame.image, f) for f in source._frames)
        pipeline.controls.handle_key("space")
        assert pipeline.compositor is not None
        pipeline.controls.handle_key("+")
        assert pipeline.compositor.options.strength == pytest.approx(0.6)
        pipeline.controls.handle_key("-")
        pipeline.controls.handle_key("-")
        assert pipeline.compositor.options.strength == pytest.approx(0.4)
        pipeline.controls.handle_key("b")
        assert pipeline.compositor.options.effect == Bokeh()
        pipeline.controls.handle_key("b")
        assert pipeline.compositor.options.effect == Blur()
        assert "blur" in pipeline.controls.hud()["status"]
        pipeline.controls.handle_key("q")
        assert pipeline.stopping
        assert list(it) == []


class KeyboardSink(RecordingSink):
    """A recording sink that is interactive: it keeps the controls it is attached to."""

    def __init__(self) -> None:
        super().__init__(name="keyboard")
        self.controls = None
        self.attached_before_open = False

    def attach(self, controls) -> None:  # type: ignore[no-untyped-def]
        self.controls = controls
        self.attached_before_open = self.opened_with is None


def test_an_interactive_sink_is_attached_to_the_pipelines_controls():
    sink = KeyboardSink()
    with small_pipeline([sink], realtime=False) as pipeline:
        assert sink.controls is pipeline.controls and sink.attached_before_open
        frame, mask = pipeline.next_frame()
        sink.controls.handle_key("b")  # as the preview window does from write()
        assert pipeline.compositor.options.effect == Bokeh()
        status = sink.controls.hud()["status"]
        assert status.startswith("bokeh  strength 0.5") and "no mask yet" not in status
        assert {"output_fps", "inference_hz", "mask_age_ms", "cpu_percent"} <= set(sink.controls.hud())


def test_live_options_are_validated():
    with pytest.raises(ConfigError, match="inference fps"):
        LiveOptions(inference_fps=0)
    with pytest.raises(ConfigError, match="duration"):
        LiveOptions(duration=-1)
    with pytest.raises(TypeError):
        LiveOptions(1.0)  # type: ignore[misc]
    with pytest.raises(ConfigError, match="opencv_threads"):
        LiveOptions(opencv_threads=0)


def test_opencv_runs_on_the_pipelines_threads_while_it_runs_and_is_restored_after():
    import cv2

    before = cv2.getNumThreads()
    seen: list[int] = []

    class Probe(RecordingSink):
        def write(self, frame):  # type: ignore[no-untyped-def]
            seen.append(cv2.getNumThreads())
            super().write(frame)

    small_pipeline([Probe(keep=0)], duration=0.3).run()
    assert seen and set(seen) == {1}
    assert cv2.getNumThreads() == before
    seen.clear()
    small_pipeline([Probe(keep=0)], duration=0.3, opencv_threads=None).run()
    assert seen and set(seen) == {before}


def test_default_pipeline_runs_the_sample_into_null():
    pipeline = Pipeline(options=LiveOptions(duration=0.7))
    summary = pipeline.run()
    assert summary["source"] == "sample" and summary["size"] == [960, 540]
    assert summary["frames_composited"] > 5


# -- CLI ---------------------------------------------------------------------------------------

STATS_KEYS = {
    "frames_captured",
    "frames_composited",
    "frames_dropped",
    "output_fps",
    "inference_count",
    "inference_hz",
    "mask_age_ms_p50",
    "mask_age_ms_p95",
    "stage_ms",
    "cpu_percent",
    "peak_rss_mb",
}


def test_cli_live_writes_the_stats_json(tmp_path, capsys):
    out = tmp_path / "s.json"
    rc = cli_main(
        ["live", "--source", "synthetic:320x180@30", "--sink", "null", "--duration", "1.2", "--stats-json", str(out)]
    )
    assert rc == 0
    stats = json.loads(out.read_text())
    assert STATS_KEYS <= set(stats)
    assert stats["frames_composited"] > 10 and stats["inference_count"] > 0
    assert set(stats["stage_ms"]["inference"]) >= {"p50", "p95"}
    assert stats["cpu_percent"] > 0 and stats["peak_rss_mb"] > 0
    assert "fps out" in capsys.readouterr().out


def test_cli_live_bad_input_is_one_line(tmp_path, capsys):
    assert cli_main(["live", "--source", str(tmp_path / "missing.mp4"), "--sink", "null"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.mp4" in err[0]
    assert cli_main(["live", "--source", "camera:57", "--sink", "null"]) == 1
    assert "--source sample" in capsys.readouterr().err


def test_cli_records_to_a_file(tmp_path):
    target = tmp_path / "rec.mp4"
    rc = cli_main(["live", "--source", "synthetic:320x180@30", "--sink", str(target), "--duration", "1", "-q"])
    assert rc == 0
    with av.open(str(target)) as c:
        frames = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
    assert len(frames) > 10 and frames[0].shape == (180, 320, 3)
    assert not list(tmp_path.glob(".*part*"))


def test_demo_without_a_display_writes_the_video(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.chdir(tmp_path)
    assert cli_main(["demo", "--duration", "1.5"]) == 0
    target = tmp_path / "livebokeh-demo.mp4"
    with av.open(str(target)) as c:
        frames = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
    assert len(frames) > 20 and frames[0].shape == (540, 960, 3)
    assert min(f.mean() for f in frames) > 20  # never black
    out = capsys.readouterr().out
    assert "fps out" in out and "livebokeh-demo.mp4" in out
    assert cli_main(["demo", "--duration", "0.5", "-q"]) == 0  # its own file is replaced on a re-run


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sig", "reason"), [(signal.SIGTERM, b"ended: SIGTERM"), (signal.SIGINT, b"ended: interrupted")]
)
def test_sigterm_and_ctrl_c_end_the_cli_cleanly(tmp_path, sig, reason):
    stats = tmp_path / "s.json"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("DISPLAY", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "livebokeh",
            "-v",
            "live",
            "--source",
            "synthetic:320x180@30",
            "--sink",
            "null",
            "--stats-json",
            str(stats),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    )
    assert proc.stderr is not None
    started = False
    deadline = time.monotonic() + 60
    while not started and time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        started = b"live: synthetic" in line  # logged once the threads run
    assert started, proc.communicate()[1].decode()
    time.sleep(1.0)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err.decode()
    assert reason in out
    assert json.loads(stats.read_text())["frames_composited"] > 0


def test_sample_clip_is_package_data_with_provenance():
    from livebokeh.sources.sample import sample_path

    path = sample_path()
    assert path.stat().st_size < 2_000_000
    assert (Path(path).parent / "PROVENANCE.md").read_text().count("public domain") >= 1


def test_a_loop_without_with_closes_the_pipeline_on_break():
    pipeline = small_pipeline([RecordingSink(keep=0)])
    for n, _ in enumerate(pipeline):
        if n == 3:
            break
    assert pipeline.threads_alive == []
    assert pipeline.sinks == []  # closed


def test_only_large_frames_are_shrunk_before_inference():
    from livebokeh.runtime.live import preshrink_size

    assert preshrink_size((1920, 1080), (144, 256)) == (960, 540)
    assert preshrink_size((1080, 1920), (256, 256)) == (540, 960)
    assert preshrink_size((3840, 2160), (144, 256)) == (960, 540)
    assert preshrink_size((1280, 720), (144, 256)) is None


# -- a frame's own mask (MaskCache) ----------------------------------------------------------


def _mask_for(index: int) -> Mask:
    return Mask(alpha=np.zeros((4, 4), np.float32), timestamp_ns=index * 33_000_000, index=index)


def _frame(index: int) -> Frame:
    return Frame(image=np.zeros((4, 4, 3), np.uint8), timestamp_ns=index * 33_000_000, index=index)


def _publish_later(cache: MaskCache, mask: Mask, delay: float) -> threading.Thread:
    thread = threading.Thread(target=lambda: (time.sleep(delay), cache.publish(mask)))
    thread.start()
    return thread


def test_the_matte_thread_gets_the_mask_of_its_own_frame_when_it_is_being_computed():
    cache = MaskCache()
    cache.publish(_mask_for(3))
    cache.begin(4)
    publisher = _publish_later(cache, _mask_for(4), 0.02)
    assert cache.for_frame(_frame(4), wait_s=2.0).index == 4  # waited for it
    publisher.join()
    cache.begin(6)  # busy with a later frame: frame 5 takes the newest there is, at once
    t0 = time.monotonic()
    assert cache.for_frame(_frame(5), wait_s=2.0).index == 4
    assert time.monotonic() - t0 < 1.0


def test_an_idle_inference_thread_s_next_frame_waits_for_its_mask_and_earlier_frames_do_not():
    cache = MaskCache()
    cache.publish(_mask_for(2))
    cache.expect(_frame(4).timestamp_ns)  # the next mask is for the first frame from frame 4 on
    t0 = time.monotonic()
    assert cache.for_frame(_frame(3), wait_s=2.0).index == 2  # not due: the newest, no wait
    assert time.monotonic() - t0 < 1.0
    threading.Thread(target=lambda: (time.sleep(0.01), cache.begin(4))).start()
    publisher = _publish_later(cache, _mask_for(4), 0.03)
    assert cache.for_frame(_frame(4), wait_s=2.0).index == 4
    publisher.join()


def test_waiting_for_a_frame_s_own_mask_is_bounded_and_skipped_for_a_slow_model():
    cache = MaskCache()
    cache.publish(_mask_for(1))
    cache.begin(2)  # never finishes
    t0 = time.monotonic()
    assert cache.for_frame(_frame(2), wait_s=0.05).index == 1
    assert 0.04 <= time.monotonic() - t0 < 1.0
    slow = MaskCache()
    slow.begin(1)
    time.sleep(0.06)
    slow.publish(_mask_for(1))  # masks take 60 ms ...
    slow.begin(2)
    t0 = time.monotonic()
    assert slow.for_frame(_frame(2), wait_s=0.05).index == 1  # ... so a 50 ms wait is not even tried
    assert time.monotonic() - t0 < 0.04
    slow.expect(None)  # a failed mask: nothing is coming
    assert slow.for_frame(_frame(3), wait_s=5.0).index == 1


def test_governed_frames_get_their_own_mask_or_the_previous_frame_s():
    # a mask every other frame at least (the floor), applied to its own frame: no mask is more than a frame old
    source = SyntheticSource(width=160, height=96, frames=8, person=False, realtime=True)
    pipeline = Pipeline(
        source,
        ["null"],
        segmenter=FakeSegmenter(),
        matte=MatteOptions(refine=False, temporal=False, compensate=False, crops=False),
        options=LiveOptions(duration=2.0, cpu_budget=6400),
    )
    lags = [frame.index - mask.index for frame, mask in pipeline if mask is not None]
    assert len(lags) > 20
    assert sum(lag == 0 for lag in lags) >= 0.25 * len(lags)  # about half the frames: the floor is 15 of 30 a second
    assert sum(lag <= 1 for lag in lags) >= 0.9 * len(lags)
