"""One conformance suite over every Source and every Sink, plus each one's own behaviour."""

from __future__ import annotations

import time
from fractions import Fraction

import av
import numpy as np
import pytest
from live_fakes import FakeCapture

from livebokeh.errors import ConfigError, InputError, OutputError, SinkError
from livebokeh.frames import Frame
from livebokeh.sinks import Sink, open_sink
from livebokeh.sinks.file import FileSink
from livebokeh.sinks.null import NullSink
from livebokeh.sinks.virtualcam import VirtualCamSink
from livebokeh.sources import Source, open_source
from livebokeh.sources.camera import RING, CameraSource
from livebokeh.sources.mjpeg import MjpegSource, encode_jpeg, jpeg_decoder


def make_clip(path, frames: int = 12, size=(128, 72), fps: int = 30) -> None:
    """A small H.264 clip whose frame i is filled with grey level 10 * i."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=Fraction(fps))
        s.width, s.height, s.pix_fmt = size[0], size[1], "yuv420p"
        for i in range(frames):
            img = np.full((size[1], size[0], 3), 10 * i, np.uint8)
            f = av.VideoFrame.from_ndarray(img, format="bgr24")
            f.pts = i
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)


@pytest.fixture
def clip(tmp_path):
    path = tmp_path / "clip.mp4"
    make_clip(path)
    return path


SOURCES = ["synthetic", "synthetic-mjpeg", "sample", "video", "camera"]


@pytest.fixture(params=SOURCES)
def source(request, clip) -> Source:
    kind = request.param
    if kind == "synthetic":
        return open_source("synthetic:192x108@60", realtime=False)
    if kind == "synthetic-mjpeg":
        return open_source("synthetic:192x108@60:mjpeg", realtime=False)
    if kind == "sample":
        return open_source("sample", realtime=False)
    if kind == "video":
        return open_source(str(clip), realtime=False)
    return CameraSource("fake", size=(176, 144), fps=60, capture_factory=lambda dev: FakeCapture(dev, fps=60))


def test_source_conformance(source):
    assert isinstance(source, Source)
    with source as s:
        w, h = s.size
        assert s.fps > 0 and s.name
        for _ in range(3):
            img = s.read()
            assert isinstance(img, np.ndarray)
            assert img.dtype == np.uint8 and img.shape == (h, w, 3) and img.flags.c_contiguous
            assert not s.is_card(img)
        assert s.status is None and s.losses == 0  # nothing lost
        # only a camera says what mode it negotiated
        assert (s.delivered is not None) == isinstance(s, CameraSource)
    assert source.read() is None  # closed
    source.close()  # idempotent


def test_video_source_ends_without_loop_and_repeats_with_loop(clip):
    with open_source(str(clip), realtime=False) as s:
        levels = []
        while (img := s.read()) is not None:
            levels.append(int(img[0, 0, 0]))
    assert len(levels) == 12 and levels[0] < levels[-1]
    with open_source(str(clip), realtime=False, loop=True) as s:
        looped = [int(s.read()[0, 0, 0]) for _ in range(30)]
    assert looped[12] == pytest.approx(levels[0], abs=3)
    assert len(looped) == 30


def test_video_source_is_paced_in_real_time(clip):
    with open_source(str(clip)) as s:  # 30 fps
        start = time.monotonic()
        for _ in range(10):
            s.read()
        elapsed = time.monotonic() - start
    assert elapsed >= 9 / 30 * 0.9  # a lower bound: frames are not delivered faster than the clip's rate


def test_video_source_scales_to_the_requested_size(clip):
    with open_source(str(clip), size=(64, 36), realtime=False) as s:
        assert s.size == (64, 36) and s.read().shape == (36, 64, 3)


def test_synthetic_source_has_motion_and_a_person():
    with open_source("synthetic:320x180@30", realtime=False) as s:
        frames = [s.read().astype(np.int16) for _ in range(s.loop_length)]  # type: ignore[attr-defined]
    assert all(np.abs(a - b).mean() > 0.5 for a, b in zip(frames, frames[1:], strict=False))
    assert s.name == "synthetic:320x180@30"


def test_camera_reports_what_it_delivers_and_asks_for_mjpg():
    fake = FakeCapture("x")
    cam = CameraSource("x", size=(320, 240), fps=30, capture_factory=lambda dev: fake)
    import cv2

    assert fake.props[cv2.CAP_PROP_FOURCC] == cv2.VideoWriter.fourcc(*"MJPG")
    assert cam.size == (320, 240) and "320x240" in cam.delivered
    cam.close()
    assert fake.released


def test_mjpeg_sources_decode_one_stored_jpeg_per_read():
    with open_source("synthetic:320x180@30", realtime=False) as raw:
        frames = raw.loop_frames  # type: ignore[attr-defined]
    with open_source("synthetic:320x180@30:mjpeg", realtime=False) as s:
        assert isinstance(s, MjpegSource)
        assert s.name == "synthetic:320x180@30:mjpeg" and s.size == (320, 180) and s.fps == 30
        assert s.loop_length == len(frames)
        # kept as copies: like a camera's, the pictures are decoded into a ring of reused buffers
        decoded = [s.read().copy() for _ in range(len(frames) + 2)]  # type: ignore[union-attr]
        assert s.frames_decoded == len(frames) + 2  # one decode per read, every read
        held = [s.read() for _ in range(RING)]  # as many as the pipeline may hold: all distinct
        assert not any(np.shares_memory(a, b) for i, a in enumerate(held) for b in held[i + 1 :])
    for got, want in zip(decoded, frames + frames[:2], strict=True):
        error = np.abs(got.astype(np.int16) - want).mean()
        assert 0 < error < 4  # the frame itself, through a lossy JPEG


def test_mjpeg_sample_plays_the_clip_once_or_looped():
    with open_source("sample:mjpeg", size=(160, 90), realtime=False) as s:
        assert s.name == "sample:mjpeg" and s.size == (160, 90)
        n = s.loop_length  # type: ignore[attr-defined]
        count = 0
        while s.read() is not None:
            count += 1
    assert count == n > 10
    with open_source("sample:mjpeg", size=(160, 90), realtime=False, loop=True) as s:
        assert all(s.read() is not None for _ in range(n + 3))


def test_mjpeg_decoders_agree_and_opencv_is_the_fallback(monkeypatch):
    image = open_source("synthetic:160x96", realtime=False).read()
    data = encode_jpeg(image)
    monkeypatch.setenv("LIVEBOKEH_JPEG", "opencv")
    opencv = jpeg_decoder()
    assert opencv.name == "opencv"
    reference = opencv.decode(data)
    assert np.abs(reference.astype(np.int16) - image).mean() < 4
    monkeypatch.delenv("LIVEBOKEH_JPEG")
    auto = jpeg_decoder()  # libjpeg-turbo where PyTurboJPEG and its library load, else OpenCV
    assert auto.name in ("turbojpeg", "opencv")
    assert np.abs(auto.decode(data).astype(np.int16) - reference).max() <= 8  # fast IDCT: a few levels at most
    with pytest.raises(ConfigError, match="unknown"):
        jpeg_decoder("libjpeg")


@pytest.mark.parametrize(
    ("spec", "error", "match"),
    [
        ("synthetic:12x", ConfigError, "synthetic:WIDTHxHEIGHT@FPS"),
        ("synthetic:640x360@30:png", ConfigError, "mjpeg"),
        ("synthetic:640x360@0", ConfigError, "frame rate"),
        ("nonexistent-thing", InputError, "not camera"),
    ],
)
def test_bad_source_specs_are_clear(spec, error, match):
    with pytest.raises(error, match=match):
        open_source(spec)


# -- sinks ---------------------------------------------------------------------------------


class FakeVirtualCam:
    """A pyvirtualcam backend that checks every frame like a real device would."""

    instances: list[FakeVirtualCam] = []

    def __init__(self, *, width, height, fps, fourcc, device, **kw):
        import pyvirtualcam

        assert fourcc == int.from_bytes(pyvirtualcam.PixelFormat.BGR.value.encode(), "little")
        self.width, self.height, self.fps = width, height, fps
        self.sent: list[np.ndarray] = []
        self.times: list[float] = []
        self.closed = False
        FakeVirtualCam.instances.append(self)

    def send(self, frame: np.ndarray) -> None:
        assert frame.dtype == np.uint8 and frame.ndim == 1 and frame.flags.c_contiguous
        assert frame.size == self.width * self.height * 3
        self.sent.append(frame.reshape(self.height, self.width, 3).copy())
        self.times.append(time.monotonic())

    def close(self) -> None:
        self.closed = True

    def device(self) -> str:
        return "fake-vcam"

    def native_fourcc(self):
        return None


class NoDeviceBackend(FakeVirtualCam):
    def __init__(self, **kw):
        raise RuntimeError("'v4l2loopback' backend: no device found")


@pytest.fixture(autouse=False)
def fake_vcam():
    pyvirtualcam = pytest.importorskip("pyvirtualcam")
    pyvirtualcam.register_backend("livebokeh-fake", FakeVirtualCam)
    pyvirtualcam.register_backend("livebokeh-none", NoDeviceBackend)
    FakeVirtualCam.instances.clear()
    return FakeVirtualCam


SINKS = ["null", "file", "virtualcam"]


@pytest.fixture(params=SINKS)
def sink(request, tmp_path, fake_vcam) -> Sink:
    if request.param == "null":
        return open_sink("null")
    if request.param == "file":
        return open_sink(str(tmp_path / "out.mp4"))
    return VirtualCamSink(backend="livebokeh-fake")


def frames(n: int = 5, size=(160, 96)):
    for i in range(n):
        img = np.full((size[1], size[0], 3), 20 * i, np.uint8)
        yield Frame(image=img, timestamp_ns=time.monotonic_ns() + i * 33_333_333, index=i)


def test_sink_conformance(sink):
    assert isinstance(sink, Sink)
    with sink as s:
        s.attach(_KeyLog())  # not interactive: nothing to keep
        s.open((160, 96), 30.0)
        for f in frames():
            s.write(f)
    sink.close()  # idempotent


def test_null_sink_counts():
    s = NullSink()
    s.open((160, 96), 30)
    for f in frames(7):
        s.write(f)
    assert s.frames == 7


def test_file_sink_appears_only_when_closed_and_abort_removes_it(tmp_path):
    target = tmp_path / "rec.mp4"
    s = FileSink(target)
    s.open((160, 96), 30.0)
    for f in frames(6):
        s.write(f)
    assert not target.exists()
    s.close()
    with av.open(str(target)) as c:
        assert c.streams.video[0].codec_context.width == 160
        assert sum(1 for _ in c.decode(video=0)) == 6
    other = tmp_path / "other.mp4"
    s2 = FileSink(other)
    s2.open((160, 96), 30.0)
    s2.write(next(frames(1)))
    s2.abort()
    assert not other.exists() and not list(tmp_path.glob(".*part*"))


def test_file_sink_refuses_existing_file_without_overwrite(tmp_path):
    target = tmp_path / "rec.mp4"
    target.write_bytes(b"x")
    with pytest.raises(OutputError, match="already exists"):
        FileSink(target)


def test_virtualcam_sends_bgr_frames_and_mirrors(fake_vcam):
    s = VirtualCamSink(backend="livebokeh-fake", mirror=True)
    s.open((160, 96), 30.0)
    img = np.zeros((96, 160, 3), np.uint8)
    img[:, :10] = 255  # a bar on the left
    s.write(Frame(image=img, timestamp_ns=0, index=0))
    cam = fake_vcam.instances[-1]
    assert (cam.width, cam.height, cam.fps) == (160, 96, 30.0)
    assert cam.sent[0][:, -10:].min() == 255 and cam.sent[0][:, :10].max() == 0
    s.close()
    assert cam.closed


def test_virtualcam_is_fed_at_the_source_rate(fake_vcam):
    from live_fakes import FakeSegmenter

    from livebokeh.runtime.live import LiveOptions, Pipeline

    sink = VirtualCamSink(backend="livebokeh-fake")
    Pipeline("synthetic:160x96@30", [sink], segmenter=FakeSegmenter(), options=LiveOptions(duration=2.0)).run()
    cam = fake_vcam.instances[-1]
    assert len(cam.sent) > 15
    gaps = np.diff(cam.times)
    assert np.median(gaps) >= 0.8 / 30  # never faster than the source's 30 fps
    assert all(f.shape == (96, 160, 3) for f in cam.sent)


def test_virtualcam_without_device_says_how_to_create_one(fake_vcam):
    s = VirtualCamSink(backend="livebokeh-none")
    with pytest.raises(SinkError, match="modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=livebokeh"):
        s.open((160, 96), 30.0)


@pytest.mark.parametrize(("spec", "match"), [("nonsense", "unknown"), ("out.avi", "supported video extension")])
def test_bad_sink_specs_are_clear(spec, match):
    with pytest.raises((ConfigError, Exception), match=match):
        open_sink(spec)


def test_file_sink_applies_backpressure_to_a_slow_encoder(tmp_path, monkeypatch):
    from livebokeh.sinks.video import VideoFileSink

    real_write = VideoFileSink.write

    def slow_write(self, image, pts=None):  # type: ignore[no-untyped-def]
        time.sleep(0.02)
        real_write(self, image, pts=pts)

    monkeypatch.setattr(VideoFileSink, "write", slow_write)
    target = tmp_path / "slow.mp4"
    s = FileSink(target)
    s.open((160, 96), 30.0)
    for f in frames(12):
        s.write(f)
    s.close()
    with av.open(str(target)) as c:
        levels = [int(fr.to_ndarray(format="bgr24")[0, 0, 0]) for fr in c.decode(video=0)]
    assert len(levels) == 12  # nothing dropped
    # Every frame kept, in order: 12 distinct, rising grey levels.
    assert levels == sorted(levels) and len(set(levels)) == 12


def test_file_sink_encoder_failure_is_raised_by_write_and_leaves_no_file(tmp_path, monkeypatch):
    from livebokeh.sinks.video import VideoFileSink

    def failing_write(self, image, pts=None):  # type: ignore[no-untyped-def]
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(VideoFileSink, "write", failing_write)
    target = tmp_path / "broken.mp4"
    s = FileSink(target)
    s.open((160, 96), 30.0)
    with pytest.raises(SinkError, match="No space left on device"):
        for _ in range(10):
            for f in frames(10):
                s.write(f)
                time.sleep(0.01)
    s.abort()
    assert not target.exists() and not list(tmp_path.glob(".*part*"))


class _KeyLog:
    """Stands in for a pipeline's controls."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    def handle_key(self, key: str) -> None:
        self.keys.append(key)

    def hud(self) -> dict[str, object]:
        return {"status": "ok"}


class _PlainSource:
    """A source of one's own with only the required members."""

    name = "plain"
    size = (32, 24)
    fps = 30.0

    def __init__(self) -> None:
        self.closed = False
        self.image = np.zeros((24, 32, 3), np.uint8)

    def read(self) -> np.ndarray | None:
        return None if self.closed else self.image

    def close(self) -> None:
        self.closed = True


class _CardSource(_PlainSource):
    """One with the optional members too: it shows a card while its device is gone."""

    def __init__(self) -> None:
        super().__init__()
        self.card = np.full((24, 32, 3), 40, np.uint8)
        self.status: str | None = None
        self.losses = 0
        self.delivered = "plain: 32x24 @ 30 fps"

    def is_card(self, image: np.ndarray) -> bool:
        return image is self.card


def test_own_source_objects_get_the_protocols_optional_members() -> None:
    plain = _PlainSource()
    source = open_source(plain)
    assert isinstance(source, Source) and source.name == "plain" and source.size == (32, 24) and source.fps == 30
    assert source.read() is plain.image and not source.is_card(plain.image)
    assert source.status is None and source.losses == 0 and source.delivered is None
    source.close()
    assert plain.closed
    own = _CardSource()
    source = open_source(own)
    assert source.is_card(own.card) and not source.is_card(own.image)
    own.status, own.losses = "plain lost", 2  # read when asked, not copied once
    assert source.status == "plain lost" and source.losses == 2 and source.delivered == "plain: 32x24 @ 30 fps"
    with open_source("synthetic:64x48") as synthetic:
        assert open_source(synthetic) is synthetic  # a BaseSource passes through as it is


class _PlainSink:
    """A sink of one's own with only write and close."""

    def __init__(self) -> None:
        self.written = 0
        self.closed = 0

    def write(self, frame: Frame) -> None:
        self.written += 1

    def close(self) -> None:
        self.closed += 1


class _InteractiveSink(_PlainSink):
    name = "mine"

    def __init__(self) -> None:
        super().__init__()
        self.controls: object = None
        self.opened: tuple[tuple[int, int], float] | None = None
        self.aborted = False

    def open(self, size: tuple[int, int], fps: float) -> None:
        self.opened = (size, fps)

    def attach(self, controls: object) -> None:
        self.controls = controls

    def abort(self) -> None:
        self.aborted = True


def test_own_sink_objects_get_the_protocols_optional_members() -> None:
    plain = _PlainSink()
    sink = open_sink(plain)
    assert isinstance(sink, Sink) and sink.name
    sink.attach(_KeyLog())
    sink.open((160, 96), 30.0)
    for f in frames(2):
        sink.write(f)
    sink.abort()  # no abort of its own: closed
    assert plain.written == 2 and plain.closed == 1
    own = _InteractiveSink()
    sink = open_sink(own)
    controls = _KeyLog()
    sink.attach(controls)
    sink.open((160, 96), 30.0)
    sink.abort()
    assert sink.name == "mine" and own.controls is controls and own.opened == ((160, 96), 30.0)
    assert own.aborted and own.closed == 0
    null = open_sink("null")
    assert open_sink(null) is null  # a BaseSink passes through as it is


def test_file_sink_abort_stops_after_the_frame_being_encoded(tmp_path, monkeypatch):
    import threading

    from livebokeh.sinks.video import VideoFileSink

    real_write = VideoFileSink.write
    encoded: list[int] = []
    first = threading.Event()

    def slow_write(self, image, pts=None):  # type: ignore[no-untyped-def]
        first.set()
        time.sleep(0.05)
        real_write(self, image, pts=pts)
        encoded.append(pts)

    monkeypatch.setattr(VideoFileSink, "write", slow_write)
    target = tmp_path / "aborted.mp4"
    s = FileSink(target)
    s.open((160, 96), 30.0)
    for f in frames(8):  # fits the queue: write does not wait
        s.write(f)
    assert first.wait(10)
    s.abort()
    assert len(encoded) < 8  # the queued frames were dropped, not encoded first
    assert not target.exists() and not list(tmp_path.glob(".*part*"))
    s.abort()  # idempotent


def test_file_sink_close_gives_up_on_a_stuck_encoder_within_its_deadline(tmp_path, monkeypatch):
    import threading

    from livebokeh.sinks import file as file_module
    from livebokeh.sinks.video import VideoFileSink

    release = threading.Event()

    def stuck_write(self, image, pts=None):  # type: ignore[no-untyped-def]
        release.wait(30)

    monkeypatch.setattr(VideoFileSink, "write", stuck_write)
    monkeypatch.setattr(file_module, "FINISH_TIMEOUT_S", 0.3)
    target = tmp_path / "stuck.mp4"
    s = FileSink(target)
    s.open((160, 96), 30.0)
    s.write(next(frames(1)))
    with pytest.raises(SinkError, match="did not finish within 0.3 s"):
        s.close()
    assert not target.exists()
    release.set()
