"""Fault injection in the live pipeline: cameras that vanish, shrink or crawl; models that raise or
return garbage; sinks that close or hit a full disk; and the resource bounds over a run."""

from __future__ import annotations

import errno
import logging
import threading
import time

import cv2
import numpy as np
import pytest
from live_fakes import FakeCapture, FakeSegmenter, RecordingSink

from livebokeh.config import MatteOptions
from livebokeh.errors import CameraOpenError, SinkError
from livebokeh.frames import Frame
from livebokeh.runtime.guard import CheckedSegmenter, InferenceGuard, MaskRejected
from livebokeh.runtime.live import LiveOptions, Pipeline
from livebokeh.sinks import BaseSink, SinkClosed
from livebokeh.sources import BaseSource
from livebokeh.sources import camera as camera_module
from livebokeh.sources import reconnect as reconnect_module
from livebokeh.sources.camera import CameraSource
from livebokeh.sources.reconnect import ReconnectingSource, render_card, with_reconnect
from livebokeh.sources.synthetic import SyntheticSource

NO_REFINE = MatteOptions(refine=False, temporal=False, compensate=False, crops=False)
SMALL = {"width": 160, "height": 96, "fps": 30.0}


def pipeline_for(sinks, *, segmenter=None, source=None, **options) -> Pipeline:
    return Pipeline(
        source or SyntheticSource(**SMALL),
        sinks,
        segmenter=segmenter or FakeSegmenter(),
        matte=NO_REFINE,
        options=LiveOptions(**options),
    )


class FrameLog(BaseSink):
    """Remembers, for every frame written, its shape, mean value and whether it was a status card."""

    def __init__(self, source: object | None = None) -> None:
        self.name = "framelog"
        self.source = source
        self.entries: list[tuple[tuple[int, ...], float, bool]] = []
        self.cards: list[np.ndarray] = []

    def write(self, frame: Frame) -> None:
        is_card = getattr(self.source, "is_card", None)
        card = bool(is_card and is_card(frame.image))
        if card and len(self.cards) < 2:
            self.cards.append(frame.image.copy())
        self.entries.append((frame.image.shape, float(frame.image.mean()), card))


# -- cameras -------------------------------------------------------------------------------


class Socket:
    """A fake USB socket: while ``plugged`` is false the camera cannot be opened and reads fail."""

    def __init__(self, *, frames_before_unplug: int | None = None, fps: float = 30.0, size=(160, 96)) -> None:
        self.plugged = True
        self.opens = 0
        self.fps = fps
        self.size = size
        self.frames_before_unplug = frames_before_unplug
        self.captures: list[FakeCapture] = []

    def factory(self, device: object) -> FakeCapture:
        self.opens += 1
        socket = self

        class Capture(FakeCapture):
            def read(self, image=None):  # type: ignore[no-untyped-def]
                if not socket.plugged:
                    time.sleep(0.005)
                    return False, None
                if socket.frames_before_unplug is not None:
                    if socket.frames_before_unplug <= 0:
                        socket.plugged = False
                        return False, None
                    socket.frames_before_unplug -= 1
                self.props[3], self.props[4] = socket.size  # the camera decides the size
                return super().read(image)

        cap = Capture(device, fps=self.fps, opened=self.plugged)
        self.captures.append(cap)
        return cap

    def open_camera(self) -> CameraSource:
        if not self.plugged:
            raise CameraOpenError("camera fake0 does not exist: check that it is connected")
        return CameraSource("fake0", size=(160, 96), fps=30, capture_factory=self.factory)


@pytest.fixture
def fast_loss(monkeypatch):
    monkeypatch.setattr(camera_module, "LOST_AFTER_S", 0.3)


def test_render_card_draws_the_words_on_a_dark_card():
    card = render_card((320, 180), "camera 0 lost", "reconnecting...")
    assert card.shape == (180, 320, 3) and card.dtype == np.uint8
    blank = render_card((320, 180), "", "")
    assert (card != blank).any(axis=2).sum() > 300  # text pixels
    assert blank[0].tolist() == [[0, 140, 255]] * 320  # the warning bar


def test_camera_lost_mid_run_shows_a_card_then_reconnects(fast_loss, caplog):
    socket = Socket(frames_before_unplug=15)
    source = ReconnectingSource(socket.open_camera, backoff_start=0.05, backoff_max=0.2)
    log = FrameLog(source)
    pipeline = pipeline_for([log], source=source, duration=10)
    statuses: list[str] = []

    def replug() -> None:
        while not source.lost and not pipeline.stopping:
            time.sleep(0.01)
        time.sleep(0.8)  # gone for a while: several backoff attempts fail
        statuses.append(pipeline.controls.hud()["status"])
        socket.frames_before_unplug = None
        socket.plugged = True
        while source.lost and not pipeline.stopping:
            time.sleep(0.01)
        time.sleep(0.5)
        pipeline.stop()

    helper = threading.Thread(target=replug)
    with caplog.at_level(logging.WARNING):
        helper.start()
        summary = pipeline.run()
        helper.join()
    cards = [e for e in log.entries if e[2]]
    live_after = [e for e in log.entries[log.entries.index(cards[-1]) + 1 :] if not e[2]]
    assert len(cards) >= 10, "the output kept moving while the camera was gone"
    assert live_after, "live frames came back after the reconnect"
    assert source.losses == 1 and source.reconnects == 1 and socket.opens >= 2
    assert all(cap.released for cap in socket.captures)  # the lost one at once, the new one at the end
    assert summary["camera_lost"] == 1
    assert "camera fake0 lost" in statuses[0]
    assert any("stopped delivering frames" in r.message for r in caplog.records)
    assert any("is back" in r.message for r in caplog.records)
    # a rendered card, not the last live frame frozen
    last_live = log.entries[log.entries.index(cards[0]) - 1]
    assert abs(cards[0][1] - last_live[1]) > 1
    assert (log.cards[0][0] == [0, 140, 255]).all()  # the card's warning bar
    assert pipeline.threads_alive == []
    assert not any(t.name == "camera-reconnect" for t in threading.enumerate())


def test_cards_are_shown_as_is_and_not_segmented(fast_loss):
    socket = Socket(frames_before_unplug=5)
    seg = FakeSegmenter()
    source = ReconnectingSource(socket.open_camera, backoff_start=5.0)
    calls_at_first_card: list[int] = []

    class Watch(FrameLog):
        def write(self, frame: Frame) -> None:
            super().write(frame)
            if self.cards and not calls_at_first_card:
                calls_at_first_card.append(seg.calls)

    log = Watch(source)
    pipeline_for([log], source=source, segmenter=seg, duration=1.5).run()
    cards = [e for e in log.entries if e[2]]
    assert len(cards) > 10
    assert seg.calls - calls_at_first_card[0] <= 1  # at most the inference already in flight
    assert (log.cards[0][0] == [0, 140, 255]).all()  # untouched by the blur


def test_a_camera_that_comes_back_in_another_size_is_scaled(fast_loss):
    socket = Socket(frames_before_unplug=5)
    source = ReconnectingSource(socket.open_camera, backoff_start=0.05)
    log = FrameLog(source)
    pipeline = pipeline_for([log], source=source, duration=10)

    def replug_smaller() -> None:
        while not source.lost:
            time.sleep(0.01)
        socket.size = (64, 48)
        socket.frames_before_unplug = None
        socket.plugged = True
        while source.reconnects == 0 and not pipeline.stopping:
            time.sleep(0.01)
        time.sleep(0.4)
        pipeline.stop()

    helper = threading.Thread(target=replug_smaller)
    helper.start()
    pipeline.run()
    helper.join()
    assert source.reconnects == 1
    assert {e[0] for e in log.entries} == {(96, 160, 3)}  # every frame at the stream's size
    assert sum(1 for e in log.entries if not e[2]) > 10


def test_a_camera_that_changes_size_mid_stream_is_reopened_not_fatal(fast_loss):
    socket = Socket()
    cam = CameraSource("fake0", size=(160, 96), capture_factory=socket.factory)
    source = ReconnectingSource(socket.open_camera, first=cam, backoff_start=0.05)
    log = FrameLog(source)
    pipeline = pipeline_for([log], source=source, duration=10)

    def resize() -> None:
        time.sleep(0.3)
        socket.size = (80, 48)  # the driver switches mode under us
        while source.reconnects == 0 and not pipeline.stopping:
            time.sleep(0.01)
        time.sleep(0.3)
        pipeline.stop()

    helper = threading.Thread(target=resize)
    helper.start()
    pipeline.run()
    helper.join()
    assert source.losses == 1 and source.reconnects == 1
    assert {e[0] for e in log.entries} == {(96, 160, 3)}


def test_a_camera_that_delivers_another_size_than_asked_sets_the_stream_size():
    socket = Socket(size=(120, 72))
    cam = CameraSource("fake0", size=(160, 96), capture_factory=socket.factory)
    assert cam.size == (120, 72) and "asked for 160x96" in cam.delivered
    log = FrameLog()
    pipeline_for([log], source=cam, duration=0.5).run()
    assert {e[0] for e in log.entries} == {(72, 120, 3)}


def test_a_slow_camera_is_reported_and_followed(monkeypatch, caplog):
    monkeypatch.setattr(reconnect_module, "RATE_WINDOW_S", 0.5)
    socket = Socket()
    socket.fps = 10.0  # reports 10 via CAP_PROP_FPS ...

    class Liar(CameraSource):
        @property
        def fps(self) -> float:  # ... but the driver claims 30
            return 30.0

    cam = Liar("fake0", capture_factory=socket.factory)
    source = ReconnectingSource(socket.open_camera, first=cam)
    sink = RecordingSink(keep=0)
    with caplog.at_level(logging.WARNING):
        summary = pipeline_for([sink], source=source, duration=1.5).run()
    assert source.slow_reported and source.measured_fps is not None and source.measured_fps < 24
    assert any("delivers" in r.message and "not the 30 fps" in r.message for r in caplog.records)
    assert summary["frames_dropped"] == 0 and sink.count == summary["frames_composited"]


def test_reconnect_backs_off(fast_loss):
    attempts: list[float] = []

    def never() -> CameraSource:
        attempts.append(time.monotonic())
        raise CameraOpenError("camera fake0 does not exist")

    camera = Socket(frames_before_unplug=1).open_camera()  # its one frame is read as it opens
    src = ReconnectingSource(never, first=camera, backoff_start=0.02, backoff_max=0.16)
    assert src.read() is not None and not src.lost  # the frame read at opening
    src.read()  # nothing more comes: the camera is lost (after LOST_AFTER_S) and a card is shown
    assert src.lost and src.losses == 1
    time.sleep(1.0)
    src.close()
    n = len(attempts)
    # with doubling delays from 0.02 s capped at 0.16 s, one second holds about 8 attempts, not dozens
    assert 3 <= n <= 12
    gaps = np.diff(attempts)
    assert gaps[-1] > gaps[0]
    assert src._thread is None or not src._thread.is_alive()


def test_with_reconnect_wraps_only_cameras(monkeypatch):
    socket = Socket()
    monkeypatch.setattr(CameraSource, "capture_factory", socket.factory)
    cam = CameraSource("fake0")
    wrapped = with_reconnect(cam, size=(160, 96), fps=30)
    assert isinstance(wrapped, ReconnectingSource) and wrapped.size == cam.size
    assert wrapped.delivered == cam.delivered and "160x96" in str(wrapped.delivered)
    syn = SyntheticSource(**SMALL)
    assert with_reconnect(syn) is syn
    wrapped.close()
    assert socket.captures[0].released


def test_no_reconnect_ends_the_run_with_the_camera_message(fast_loss):
    socket = Socket(frames_before_unplug=5)
    cam = CameraSource("fake0", capture_factory=socket.factory)
    from livebokeh.errors import SourceError

    with pytest.raises(SourceError, match="stopped delivering frames"):
        pipeline_for([RecordingSink()], source=cam, duration=5, reconnect=False).run()


# -- inference -----------------------------------------------------------------------------


class MoodySegmenter(FakeSegmenter):
    """Returns good masks, or NaN, the wrong shape, out-of-range values, or raises - as ``mode`` says."""

    def __init__(self) -> None:
        super().__init__()
        self.mode = "ok"

    def segment(self, image):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.mode == "raise":
            raise RuntimeError("model exploded")
        if self.mode == "nan":
            return np.full_like(self.mask, np.nan)
        if self.mode == "shape":
            return np.zeros((7, 5), np.float32)
        if self.mode == "range":
            return self.mask * 255
        if self.mode == "none":
            return None
        return self.mask.copy()


@pytest.mark.parametrize("mode", ["nan", "shape", "range", "none"])
def test_garbage_masks_are_rejected(mode):
    seg = MoodySegmenter()
    checked = CheckedSegmenter(seg)
    img = np.zeros((96, 160, 3), np.uint8)
    assert checked.segment(img).shape == (36, 64)
    seg.mode = mode
    with pytest.raises(MaskRejected):
        checked.segment(img)
    with pytest.raises(MaskRejected):
        checked.segment_for_video(img, 0)


@pytest.mark.parametrize("mode", ["raise", "nan", "shape"])
def test_a_failing_model_never_freezes_the_stream(mode, monkeypatch, caplog):
    seg = MoodySegmenter()
    log = FrameLog()
    pipeline = pipeline_for([log], segmenter=seg, duration=30)
    pipeline.guard = InferenceGuard(stale_after=0.4, max_backoff=0.05)
    huds: dict[str, str] = {}

    def script() -> None:
        while pipeline.stats.inference_count < 3 and not pipeline.stopping:
            time.sleep(0.01)
        seg.mode = mode
        while not pipeline.guard.failing and not pipeline.stopping:
            time.sleep(0.01)
        huds["failing"] = pipeline.controls.hud()["status"]
        time.sleep(0.8)  # past the stale limit: passthrough
        huds["stale"] = pipeline.controls.hud()["status"]
        passthrough_before = pipeline.stats.frames_passthrough
        time.sleep(0.3)
        huds["passthrough_grew"] = str(pipeline.stats.frames_passthrough > passthrough_before)
        seg.mode = "ok"
        n = pipeline.stats.inference_count
        while pipeline.stats.inference_count < n + 3 and not pipeline.stopping:
            time.sleep(0.01)
        huds["recovered"] = pipeline.controls.hud()["status"]
        pipeline.stop()

    helper = threading.Thread(target=script)
    with caplog.at_level(logging.WARNING):
        helper.start()
        summary = pipeline.run()
        helper.join()
    assert summary["inference_errors"] >= 3
    assert summary["masks_rejected"] == (0 if mode == "raise" else summary["inference_errors"])
    assert "inference failing" in huds["failing"] and "last good mask" in huds["failing"]
    assert "passthrough" in huds["stale"] and huds["passthrough_grew"] == "True"
    assert "inference failing" not in huds["recovered"]
    assert summary["frames_composited"] > 30 and summary["frames_dropped"] <= 2
    messages = " ".join(r.message for r in caplog.records)
    assert "inference failed" in messages and "works again" in messages
    assert pipeline.threads_alive == []


def test_guard_policy():
    keep = InferenceGuard(warn_after=3)  # the default keeps the last good mask however old
    keep.succeeded()
    for _ in range(5):
        keep.failed(RuntimeError("x"))
    assert keep.failing and not keep.passthrough(now_ns=time.monotonic_ns() + 3600 * 10**9)
    g = InferenceGuard(warn_after=3, stale_after=10.0, max_backoff=0.5)
    assert g.warning() is None and not g.passthrough()
    assert g.failed(RuntimeError("x")) == 0.0
    g.failed(MaskRejected("nan"))
    assert not g.failing
    delays = [g.failed(RuntimeError("x")) for _ in range(8)]
    assert g.failing and g.passthrough()  # never had a good mask
    assert delays == sorted(delays) and delays[-1] == 0.5
    assert g.failures == 10 and g.rejected == 1
    g.succeeded()
    assert not g.failing and g.warning() is None
    for _ in range(3):
        g.failed(RuntimeError("x"))
    assert g.failing and not g.passthrough() and "last good mask" in (g.warning() or "")


# -- sinks ---------------------------------------------------------------------------------


def test_virtual_camera_closed_by_another_program_is_dropped(caplog):
    pyvirtualcam = pytest.importorskip("pyvirtualcam")
    from livebokeh.sinks.virtualcam import VirtualCamSink

    class ClosingCam:
        def __init__(self, width, height, fps, fourcc=None, **kw):  # type: ignore[no-untyped-def]
            self.width, self.height, self.sent = width, height, 0

        def send(self, frame):  # type: ignore[no-untyped-def]
            self.sent += 1
            if self.sent > 5:
                raise RuntimeError("device /dev/video9 was closed")

        def close(self):  # type: ignore[no-untyped-def]
            pass

        def device(self):  # type: ignore[no-untyped-def]
            return "fake"

        def native_fourcc(self):  # type: ignore[no-untyped-def]
            return None

    pyvirtualcam.register_backend("livebokeh-closing", ClosingCam)
    vcam = VirtualCamSink(backend="livebokeh-closing")
    other = RecordingSink(keep=0)
    messages: list[str] = []
    pipeline = pipeline_for([vcam, other], duration=0.8)
    pipeline.on_sink_dropped = messages.append
    summary = pipeline.run()
    assert summary["sinks_dropped"] == [vcam.name]
    assert len(messages) == 1 and "device /dev/video9 was closed" in messages[0]
    assert "others keep running" in messages[0]
    assert other.count == summary["frames_composited"] > 10


def test_full_disk_drops_the_file_sink_and_leaves_no_file(tmp_path, monkeypatch):
    from livebokeh.sinks import video as video_module

    real_write = video_module.VideoFileSink.write
    count = {"n": 0}

    def write(self, *a, **k):  # type: ignore[no-untyped-def]
        count["n"] += 1
        if count["n"] > 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, *a, **k)

    monkeypatch.setattr(video_module.VideoFileSink, "write", write)
    target = tmp_path / "rec.mp4"
    other = RecordingSink(keep=0)
    messages: list[str] = []
    pipeline = pipeline_for([str(target), other], duration=0.8)
    pipeline.on_sink_dropped = messages.append
    summary = pipeline.run()
    assert len(messages) == 1 and "No space left on device" in messages[0] and str(target) in messages[0]
    assert summary["sinks_dropped"] == [str(target)]
    assert list(tmp_path.iterdir()) == []  # neither the target nor a temporary file
    assert other.count == summary["frames_composited"]


def test_full_disk_on_the_only_sink_ends_the_run_and_removes_the_file(tmp_path, monkeypatch):
    from livebokeh.sinks import video as video_module

    def write(self, *a, **k):  # type: ignore[no-untyped-def]
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(video_module.VideoFileSink, "write", write)
    pipeline = pipeline_for([str(tmp_path / "rec.mp4")], duration=5)
    with pytest.raises(SinkError, match="No space left on device"):
        pipeline.run()
    assert list(tmp_path.iterdir()) == []
    assert pipeline.threads_alive == []


def test_file_sink_finalised_on_a_clean_stop(tmp_path):
    import av

    target = tmp_path / "rec.mp4"
    pipeline_for([str(target)], duration=0.6).run()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.mp4"]
    with av.open(str(target)) as c:
        assert sum(1 for _ in c.decode(video=0)) > 5


class ClosedWindow(RecordingSink):
    def write(self, frame: Frame) -> None:
        super().write(frame)
        if self.count >= 4:
            raise SinkClosed("preview window was closed")


def test_preview_window_closed_drops_it_and_others_go_on():
    window, other = ClosedWindow(), RecordingSink(keep=0)
    messages: list[str] = []
    pipeline = pipeline_for([window, other], duration=0.8)
    pipeline.on_sink_dropped = messages.append
    summary = pipeline.run()
    assert window.closed and window.count == 4
    assert messages == ["sink recorder closed: preview window was closed (others keep running)"]
    assert other.count == summary["frames_composited"] > 10


def test_preview_window_closed_as_the_only_sink_ends_the_run_cleanly():
    pipeline = pipeline_for([ClosedWindow()], duration=5)
    summary = pipeline.run()
    assert pipeline.stop_reason == "all sinks closed"
    assert summary["frames_composited"] >= 4 and pipeline.threads_alive == []


# -- resource bounds -----------------------------------------------------------------------


def test_threads_queues_and_buffers_stay_bounded_over_a_run():
    before = {t.ident for t in threading.enumerate()}
    pipeline = pipeline_for([RecordingSink(keep=0)], segmenter=FakeSegmenter(delay=0.01))
    threads: set[tuple[str, ...]] = set()
    images: set[int] = set()
    backlog = matted = 0
    with pipeline:
        for i, (frame, mask) in enumerate(pipeline):
            if mask is not None:
                images.add(id(frame.image))
            if i % 5 == 0:
                # the effects' one-off JIT warm-up thread may still be compiling in the first seconds
                names = (
                    t.name
                    for t in threading.enumerate()
                    if t.ident not in before and not t.name.startswith("livebokeh-jit")
                )
                threads.add(tuple(sorted(names)))
                backlog = max(backlog, len(pipeline._queue))
                matted = max(matted, len(pipeline._matted))
            if i == 60:  # about two seconds; stopped from here so every sample sees a running pipeline
                break
    assert len(threads) == 1, f"thread count changed during the run: {threads}"
    assert threads == {("capture", "inference", "matte")}  # besides the threads that ran before (pytest's, tqdm's)
    time.sleep(0.2)
    assert {t.ident for t in threading.enumerate() if not t.name.startswith("livebokeh-jit")} <= before  # joined
    assert len(images) <= len(pipeline._out_bufs) == 3  # composited frames reuse three buffers
    assert pipeline._queue._maxlen >= 1 and backlog <= pipeline._queue._maxlen
    assert pipeline._matted._maxlen >= 1 and matted <= pipeline._matted._maxlen
    assert all(d.maxlen for d in pipeline.stats.stage_ns.values()) and pipeline.stats.mask_age_ns.maxlen


def test_convert_queues_are_bounded(tmp_path, monkeypatch):
    import av

    from livebokeh._cli import main as cli_main
    from livebokeh.runtime import convert as convert_module

    src = tmp_path / "in.mp4"
    with av.open(str(src), "w") as c:
        s = c.add_stream("mpeg4", rate=10)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for i in range(6):
            img = np.full((48, 64, 3), 20 * i, np.uint8)
            cv2.circle(img, (32, 24), 10, (200, 180, 160), -1)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    sizes: list[int] = []
    real_queue = convert_module.FrameQueue

    class SpyQueue(real_queue):  # type: ignore[valid-type,misc]
        def __init__(self, maxlen: int) -> None:
            sizes.append(maxlen)
            super().__init__(maxlen)

    monkeypatch.setattr(convert_module, "FrameQueue", SpyQueue)
    assert cli_main(["convert", str(src), "-o", str(tmp_path / "out.mp4"), "-q", "--no-config"]) == 0
    assert sizes and all(0 < n <= 16 for n in sizes)


def test_by_default_a_failing_model_keeps_the_last_good_mask():
    seg = FakeSegmenter(fail_after=4)  # warm-up and three good masks, then every call fails
    pipeline = pipeline_for([RecordingSink(keep=0)], segmenter=seg, duration=1.5)
    masked_late = []
    with pipeline:
        for _frame, mask in pipeline:
            if pipeline.guard.failing:
                masked_late.append(mask is not None)
    assert pipeline.stats.inference_errors >= 3 and masked_late
    assert all(masked_late)  # the room stays hidden behind the last good matte
    assert "last good mask" in (pipeline.guard.warning() or "")


def test_temporary_outputs_left_pending_are_removed_at_exit(tmp_path):
    from livebokeh import safe_write

    cm = safe_write.atomic_output(tmp_path / "rec.mp4")
    tmp = cm.__enter__()  # a writer whose clean-up was cut short by a second Ctrl-C
    tmp.write_bytes(b"half a video")
    safe_write._remove_pending()  # what the interpreter runs at exit
    assert list(tmp_path.iterdir()) == []


def test_the_summary_lists_the_faults_of_the_run():
    from livebokeh.stats import LiveStats, format_summary

    stats = LiveStats()
    assert "faults" not in format_summary(stats.summary())
    stats.inference_errors, stats.masks_rejected, stats.camera_lost = 5, 2, 1
    stats.sinks_dropped.append("virtualcam")
    last = format_summary(stats.summary()).splitlines()[-1]
    assert last == "faults: 5 masks discarded (2 garbage); camera lost 1x; sinks dropped: virtualcam"


def test_a_driver_that_raises_instead_of_failing_the_read_counts_as_lost():
    class Raising(BaseSource):
        name, size, fps = "camera fake1", (160, 96), 30.0
        closed = False

        def read(self):  # type: ignore[no-untyped-def]
            raise cv2.error("VIDIOC_DQBUF: No such device")

        def _release(self) -> None:
            self.closed = True

    cam = Raising()
    source = ReconnectingSource(lambda: Socket().open_camera(), first=cam, backoff_start=5.0)
    image = source.read()
    assert image is not None and source.is_card(image) and source.lost and source.losses == 1
    assert cam.closed and source.status == "camera fake1 lost: reconnecting"
    source.close()
