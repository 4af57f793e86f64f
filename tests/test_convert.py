"""Video file conversion: timing, audio, rotation, odd sizes, bad inputs, interruption, overwrite."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from livebokeh._cli import main as cli_main
from livebokeh.bench.clips import make_clip
from livebokeh.config import EffectOptions
from livebokeh.errors import OutputError, SinkError
from livebokeh.frames import Frame
from livebokeh.runtime.convert import EncodeOptions, VideoConverter, run_convert
from livebokeh.sinks.video import VideoFileSink

REPO = Path(__file__).resolve().parents[1]
SHARED_VIDEOS = REPO.parent / "shared" / "data" / "videos"


# -- helpers -------------------------------------------------------------------------


def probe(path: Path) -> dict:
    """What a player would see: video pts (s), size, rotation, pix_fmt, audio packet payloads."""
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        frames = list(c.decode(vs))
        info = {
            "pts": [float(f.pts * f.time_base) for f in frames],
            "size": (frames[0].width, frames[0].height),
            "rotation": frames[0].rotation,
            "pix_fmt": vs.codec_context.pix_fmt,
            "codec": vs.codec_context.name,
        }
    with av.open(str(path)) as c:
        audio = []
        for s in c.streams.audio:
            packets = [p for p in c.demux(s) if p.size]
            audio.append(
                {
                    "codec": s.codec_context.name,
                    "payload": [bytes(p) for p in packets],
                    "start": float(packets[0].pts * packets[0].time_base),
                    "end": float((packets[-1].pts + packets[-1].duration) * packets[-1].time_base),
                }
            )
        info["audio"] = audio
    return info


def tmp_leftovers(folder: Path) -> list[str]:
    """Hidden temp files or folders the writer would leave on failure."""
    return [p.name for p in folder.iterdir() if p.name.startswith(".") and ".part" in p.name]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("clips")
    return {
        "plain": make_clip(d / "plain.mp4", seconds=1.0),
        "vfr": make_clip(d / "vfr.mp4", seconds=1.0, pts_step=[33, 50, 17, 100, 21]),
        "odd": make_clip(d / "odd.mkv", width=161, height=121, seconds=0.5),
        "rot": make_clip(d / "rot.mp4", rotation=90, seconds=0.5),
        "noaudio": make_clip(d / "noaudio.mp4", seconds=0.5, audio=False),
    }


@pytest.fixture(scope="module")
def converter() -> VideoConverter:
    conv = VideoConverter(effect=EffectOptions(effect="blur"))
    yield conv
    conv.close()


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli_main(["convert", "-q", *args])
    return code, capsys.readouterr().err


# -- what the user had is kept ---------------------------------------------------------


def test_audio_copied_bit_exact_and_in_sync(clips: dict[str, Path], converter: VideoConverter, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    result = converter.convert(clips["plain"], out)
    src, dst = probe(clips["plain"]), probe(out)
    assert result.frames == len(src["pts"]) == len(dst["pts"])
    assert dst["pts"] == pytest.approx(src["pts"], abs=1e-3)
    assert len(dst["audio"]) == 1 and dst["audio"][0]["codec"] == "aac"
    assert dst["audio"][0]["payload"] == src["audio"][0]["payload"]
    assert dst["audio"][0]["start"] == pytest.approx(src["audio"][0]["start"], abs=1e-3)
    assert dst["audio"][0]["end"] == pytest.approx(src["audio"][0]["end"], abs=1e-3)
    assert result.audio == ["#1 aac copied"]
    assert dst["codec"] == "h264" and dst["pix_fmt"] == "yuv420p"
    assert oct(out.stat().st_mode & 0o777) != oct(0o600)


def test_audio_reencoded_when_container_refuses_it(clips: dict[str, Path], converter: VideoConverter, tmp_path: Path):
    out = tmp_path / "out.webm"
    result = converter.convert(clips["plain"], out)
    dst = probe(out)
    assert dst["codec"] == "vp9"
    assert [a["codec"] for a in dst["audio"]] == ["opus"]
    assert "re-encoded to libopus" in result.audio[0]
    src = probe(clips["plain"])
    assert dst["audio"][0]["end"] == pytest.approx(src["audio"][0]["end"], abs=0.05)


def test_variable_frame_rate_timestamps_kept(clips: dict[str, Path], converter: VideoConverter, tmp_path: Path):
    out = tmp_path / "vfr.mkv"
    converter.convert(clips["vfr"], out)
    src, dst = probe(clips["vfr"]), probe(out)
    steps = np.diff(src["pts"])
    assert len(set(np.round(steps, 3))) > 2, "the fixture should be VFR"
    # Matroska may shift every stream by the same amount to avoid negative timestamps;
    # what must hold is each frame's time relative to the audio.
    shift = dst["audio"][0]["start"] - src["audio"][0]["start"]
    assert abs(shift) < 0.05
    assert np.array(dst["pts"]) - shift == pytest.approx(src["pts"], abs=1e-3)
    assert dst["audio"][0]["payload"] == src["audio"][0]["payload"]


def test_odd_frame_size_kept(clips: dict[str, Path], converter: VideoConverter, tmp_path: Path) -> None:
    for name in ("odd.mp4", "odd.webm"):
        out = tmp_path / name
        converter.convert(clips["odd"], out)
        dst = probe(out)
        assert dst["size"] == (161, 121)
        assert len(dst["pts"]) == len(probe(clips["odd"])["pts"])


def test_rotation_metadata_kept_and_mask_turned_with_it(
    clips: dict[str, Path], converter: VideoConverter, tmp_path: Path
) -> None:
    out, mask = tmp_path / "rot.mp4", tmp_path / "rot-mask.mp4"
    converter.convert(clips["rot"], out, mask_out=mask)
    src, dst, m = probe(clips["rot"]), probe(out), probe(mask)
    assert src["rotation"] == 90
    assert dst["rotation"] == 90 and m["rotation"] == 90
    assert dst["size"] == src["size"] == m["size"]


def test_no_audio_input_gives_video_only(clips: dict[str, Path], converter: VideoConverter, tmp_path: Path) -> None:
    out = tmp_path / "o.mov"
    result = converter.convert(clips["noaudio"], out)
    assert result.audio == [] and probe(out)["audio"] == []


def test_mask_out_video_and_png_folder(clips: dict[str, Path], converter: VideoConverter, tmp_path: Path) -> None:
    n = len(probe(clips["plain"])["pts"])
    converter.convert(clips["plain"], tmp_path / "a.mp4", mask_out=tmp_path / "m.mp4")
    assert len(probe(tmp_path / "m.mp4")["pts"]) == n
    converter.convert(clips["plain"], tmp_path / "b.mp4", mask_out=tmp_path / "pngs")
    pngs = sorted((tmp_path / "pngs").glob("*.png"))
    assert len(pngs) == n
    import cv2

    img = cv2.imread(str(pngs[0]), cv2.IMREAD_UNCHANGED)
    assert img.shape == (120, 160) and img.dtype == np.uint8
    assert tmp_leftovers(tmp_path) == []


class _CountingSegmenter:
    """A stand-in model: a centred box, counting the frames it is asked about."""

    name = "fake"
    runtime = "test"

    def __init__(self) -> None:
        self.calls = 0

    def input_size_for(self, frame_shape: tuple[int, ...]) -> tuple[int, int]:
        return (32, 32)

    def segment(self, image: np.ndarray) -> np.ndarray:
        m = np.zeros((32, 32), np.float32)
        m[8:24, 10:22] = 1.0
        return m

    def segment_for_video(self, image: np.ndarray, timestamp_ns: int) -> np.ndarray:
        self.calls += 1
        return self.segment(image)

    def close(self) -> None:
        pass


def test_every_frame_masked_unless_mask_every(clips: dict[str, Path], tmp_path: Path) -> None:
    from livebokeh.config import MatteOptions

    n = len(probe(clips["plain"])["pts"])
    seg = _CountingSegmenter()
    matte = MatteOptions(refine=False, temporal=False)
    conv = VideoConverter(segmenter=seg, matte=matte, effect=EffectOptions(effect="mask"))
    conv.convert(clips["plain"], tmp_path / "a.mp4")
    assert seg.calls == n
    seg.calls = 0
    conv = VideoConverter(segmenter=seg, matte=matte, effect=EffectOptions(effect="mask"), mask_every=4)
    result = conv.convert(clips["plain"], tmp_path / "b.mp4")
    assert seg.calls == -(-n // 4) and result.frames == n


def test_mask_every_passes_stale_mask_with_current_frame(clips: dict[str, Path], tmp_path: Path, monkeypatch) -> None:
    from livebokeh.matte import Matte

    seen: list[tuple[int, int]] = []
    original = Matte.apply_to

    def spy(self, mask, frame, out=None):  # type: ignore[no-untyped-def]
        seen.append((mask.index, frame.index))
        return original(self, mask, frame, out)

    monkeypatch.setattr(Matte, "apply_to", spy)
    conv = VideoConverter(segmenter=_CountingSegmenter(), effect=EffectOptions(effect="mask"), mask_every=3)
    conv.convert(clips["plain"], tmp_path / "a.mp4")
    assert [f for _, f in seen] == list(range(len(seen)))
    assert all(m == f - f % 3 for m, f in seen)


def test_stats_json_and_summary(clips: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stats = tmp_path / "s.json"
    code = cli_main(["convert", str(clips["plain"]), "-o", str(tmp_path / "o.mp4"), "--stats-json", str(stats)])
    captured = capsys.readouterr()
    assert code == 0
    assert "30 frames" in captured.out and "aac copied" in captured.out
    data = json.loads(stats.read_text())["files"][0]
    assert data["frames"] == 30 and data["error"] is None and data["audio"] == ["#1 aac copied"]


# -- bad inputs: one clear line, non-zero exit, no traceback -----------------------------


def _bad_inputs(folder: Path, good: Path) -> dict[str, Path]:
    bad = {}
    (folder / "text.mp4").write_text("this is not a video\n")
    bad["not a video"] = folder / "text.mp4"
    data = good.read_bytes()
    (folder / "truncated.mp4").write_bytes(data[: len(data) // 2])
    bad["truncated"] = folder / "truncated.mp4"
    with av.open(str(folder / "audio.m4a"), "w") as out:
        s = out.add_stream("aac", rate=48000)
        for i in range(4):
            f = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="flt", layout="mono")
            f.sample_rate, f.pts = 48000, i * 1024
            out.mux(s.encode(f))
        out.mux(s.encode(None))
    bad["no video stream"] = folder / "audio.m4a"
    mkv = make_clip(folder / "src.mkv", seconds=0.2, audio=False).read_bytes()
    at = mkv.find(b"V_MPEG4/ISO/AVC")
    assert at > 0
    (folder / "unknown-codec.mkv").write_bytes(mkv[:at] + b"V_QQQQQ/ISO/AVC" + mkv[at + 15 :])
    bad["unsupported codec"] = folder / "unknown-codec.mkv"
    bad["missing"] = folder / "missing.mp4"
    return bad


@pytest.mark.parametrize("kind", ["not a video", "truncated", "no video stream", "unsupported codec", "missing"])
def test_bad_input_one_line_error(
    kind: str, clips: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _bad_inputs(tmp_path, clips["plain"])[kind]
    out = tmp_path / "out.mp4"
    code, err = run_cli([str(bad), "-o", str(out)], capsys)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("livebokeh: error:") and str(bad) in lines[0]
    assert "Traceback" not in err
    assert not out.exists() and tmp_leftovers(tmp_path) == []


def test_unwritable_output(clips: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = [tmp_path / "no-such-dir" / "o.mp4", tmp_path / "o.avi"]
    if sys.platform.startswith("linux"):
        cases.append(Path("/proc/livebokeh-test.mp4"))
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        cases.append(ro / "o.mp4")
    for target in cases:
        code, err = run_cli([str(clips["plain"]), "-o", str(target)], capsys)
        assert code == 1, target
        assert err.count("\n") == 1 and err.startswith("livebokeh: error:") and "Traceback" not in err
        assert not target.exists()


def test_unknown_encoder_or_wrong_container(clips: dict[str, Path], tmp_path: Path, capsys) -> None:
    code, err = run_cli([str(clips["plain"]), "-o", str(tmp_path / "o.mp4"), "--codec", "nope"], capsys)
    assert code == 1 and "nope" in err and err.count("\n") == 1
    code, err = run_cli([str(clips["plain"]), "-o", str(tmp_path / "o.webm"), "--codec", "libx264"], capsys)
    assert code == 1 and "libvpx-vp9" in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_corrupt_frames_in_the_middle_are_skipped_and_counted(converter: VideoConverter, tmp_path: Path) -> None:
    src = make_clip(tmp_path / "c.mp4", width=320, height=240, seconds=2.0, audio=False)
    data = bytearray(src.read_bytes())
    rng = np.random.default_rng(1)
    start = len(data) // 3
    for k in range(start, start + 3000, 7):
        data[k] = int(rng.integers(0, 256))
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    result = converter.convert(damaged, tmp_path / "o.mp4")
    assert result.corrupt_skipped > 0
    assert result.frames + result.corrupt_skipped <= 60 and result.frames > 30
    assert len(probe(tmp_path / "o.mp4")["pts"]) == result.frames


# -- batches, overwrite, interruption ------------------------------------------------------


def test_batch_with_one_broken_file(clips: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for name in ("plain", "noaudio"):
        (src / clips[name].name).write_bytes(clips[name].read_bytes())
    (src / "broken.mp4").write_text("nope")
    out = tmp_path / "out"
    out.mkdir()
    code = cli_main(["convert", str(src), "--out-dir", str(out)])
    captured = capsys.readouterr()
    assert code == 1
    assert sorted(p.name for p in out.iterdir()) == ["noaudio.mp4", "plain.mp4"]
    assert captured.err.count("livebokeh: error:") == 1 and "broken.mp4" in captured.err
    assert "2 of 3 videos converted, 1 failed" in captured.out


def test_overwrite_semantics(clips: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o.mp4"
    out.write_bytes(b"precious")
    code, err = run_cli([str(clips["plain"]), "-o", str(out)], capsys)
    assert code == 1 and "--overwrite" in err
    assert out.read_bytes() == b"precious"
    code, err = run_cli([str(clips["plain"]), "-o", str(out), "--overwrite"], capsys)
    assert code == 0, err
    assert len(probe(out)["pts"]) == 30
    code, err = run_cli([str(clips["plain"]), "-o", str(clips["plain"]), "--overwrite"], capsys)
    assert code == 1 and "is the input" in err
    # In a batch an existing output fails that one file only.
    outdir = tmp_path / "dir"
    outdir.mkdir()
    (outdir / "plain.mp4").write_bytes(b"keep me")
    code = cli_main(["convert", "-q", str(clips["plain"]), str(clips["noaudio"]), "--out-dir", str(outdir)])
    capsys.readouterr()
    assert code == 1
    assert (outdir / "plain.mp4").read_bytes() == b"keep me"
    assert len(probe(outdir / "noaudio.mp4")["pts"]) == 15


def test_full_disk_leaves_nothing(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", width=320, height=240, seconds=1.0)
    out = tmp_path / "o.mp4"

    def small_file_limit() -> None:  # runs in the child: writes past 20 kB fail like a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    proc = subprocess.run(
        [sys.executable, "-m", "livebokeh", "convert", "-q", str(src), "-o", str(out)],
        preexec_fn=small_file_limit,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("livebokeh: error:") and "Traceback" not in proc.stderr
    assert not out.exists() and tmp_leftovers(tmp_path) == []


@pytest.mark.slow
@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_leaves_no_partial_output(sig: int, code: int, tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("interrupt")
    src = make_clip(folder / "long.mp4", seconds=40.0, audio=True)
    out = folder / "o.mp4"
    proc = subprocess.Popen(
        [sys.executable, "-m", "livebokeh", "convert", str(src), "-o", str(out), "--mask-out", str(folder / "m.mp4")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not tmp_leftovers(folder) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert tmp_leftovers(folder), "the conversion never started writing"
    time.sleep(0.3)
    assert proc.poll() is None, "the conversion finished before it could be interrupted"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "Traceback" not in err and "removed" in err
    assert not out.exists() and not (folder / "m.mp4").exists()
    assert tmp_leftovers(folder) == []


def test_stop_event_aborts_in_library(clips: dict[str, Path], converter: VideoConverter, tmp_path: Path) -> None:
    stop = threading.Event()
    out = tmp_path / "o.mp4"

    def on_frame(n: int) -> None:
        if n == 5:
            stop.set()

    with pytest.raises(KeyboardInterrupt):
        converter.convert(clips["plain"], out, on_frame=on_frame, stop=stop)
    assert not out.exists() and tmp_leftovers(tmp_path) == []
    assert threading.active_count() < 20
    report = run_convert([clips["plain"]], output=tmp_path / "ok.mp4", converter=converter)
    assert not report.failed


# -- the sink on its own --------------------------------------------------------------------


def test_video_file_sink_contract(tmp_path: Path) -> None:
    path = tmp_path / "s.mp4"
    with VideoFileSink(path, fps=25) as sink:
        for i in range(10):
            img = np.full((33, 45, 3), i * 20, np.uint8)
            sink.write(Frame(img, 0, i) if i % 2 else img)
        assert not path.exists(), "the file must appear only when complete"
    sink.close()  # idempotent
    info = probe(path)
    assert info["size"] == (45, 33) and len(info["pts"]) == 10
    assert info["pts"][1] == pytest.approx(1 / 25)

    with pytest.raises(OutputError, match="--overwrite"):
        VideoFileSink(path, fps=25)
    sink = VideoFileSink(path, fps=25, overwrite=True)
    sink.write(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(SinkError, match="differs"):
        sink.write(np.zeros((10, 8, 3), np.uint8))
    sink.abort()
    sink.abort()
    assert probe(path)["size"] == (45, 33), "abort must leave the existing file alone"
    assert tmp_leftovers(tmp_path) == []

    with pytest.raises(RuntimeError), VideoFileSink(tmp_path / "x.mkv", fps=Fraction(30000, 1001)) as sink:
        sink.write(np.zeros((8, 8, 3), np.uint8))
        raise RuntimeError("boom")
    assert not (tmp_path / "x.mkv").exists() and tmp_leftovers(tmp_path) == []


def test_sink_rejects_bad_setup(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="extension"):
        VideoFileSink(tmp_path / "a.gif", fps=25)
    with pytest.raises(OutputError, match="encoder"):
        VideoFileSink(tmp_path / "a.mp4", fps=25, codec="no-such-codec")
    with pytest.raises(SinkError, match="frame rate"):
        VideoFileSink(tmp_path / "a.mp4", fps=0)
    assert list(tmp_path.iterdir()) == []


# -- real footage, where the evaluation data is present --------------------------------------


@pytest.mark.slow
def test_real_video_with_audio(tmp_path: Path) -> None:
    src = SHARED_VIDEOS / "liveportrait-d12.mp4"
    if not src.exists():
        pytest.skip("../shared/data is not present")
    out = tmp_path / "real.mp4"
    with VideoConverter(encode=EncodeOptions(preset="ultrafast")) as conv:
        result = conv.convert(src, out)
    a, b = probe(src), probe(out)
    assert len(b["pts"]) == len(a["pts"]) == result.frames
    assert b["pts"] == pytest.approx(a["pts"], abs=1e-3)
    assert b["audio"][0]["payload"] == a["audio"][0]["payload"]


def _colour_clip(path: Path, *, width: int, height: int, bt709: bool) -> Path:
    """Saturated colour bars, optionally tagged BT.709 (decoders then convert with that matrix)."""
    bars = np.zeros((height, width, 3), np.uint8)
    colours = [(0, 0, 255), (0, 255, 0), (255, 0, 0), (0, 200, 255), (255, 255, 255), (40, 40, 40)]
    for i, c in enumerate(colours):
        bars[:, i * width // len(colours) : (i + 1) * width // len(colours)] = c
    pix_fmt = "yuv444p" if width % 2 or height % 2 else "yuv420p"
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=10, options={"crf": "10"})
        s.width, s.height, s.pix_fmt = width, height, pix_fmt
        if bt709:
            s.codec_context.colorspace = 1
            s.codec_context.color_primaries = 1
            s.codec_context.color_trc = 1
            s.codec_context.color_range = 1
        for i in range(5):
            f = av.VideoFrame.from_ndarray(bars, format="bgr24")
            if bt709:
                f.colorspace, f.color_range = 1, 1
            f.pts = i
            out.mux(s.encode(f.reformat(format=pix_fmt)))
        out.mux(s.encode(None))
    return path


@pytest.mark.parametrize("bt709,size", [(False, (96, 64)), (True, (96, 64)), (False, (97, 63))])
def test_colours_survive_the_round_trip(bt709: bool, size: tuple[int, int], tmp_path: Path) -> None:
    src = _colour_clip(tmp_path / "bars.mp4", width=size[0], height=size[1], bt709=bt709)
    out = tmp_path / "o.mp4"
    with VideoConverter(segmenter=_CountingSegmenter(), effect=EffectOptions(effect="none")) as conv:
        conv.convert(src, out)

    def first_bgr(p: Path) -> np.ndarray:
        with av.open(str(p)) as c:
            return next(c.decode(video=0)).to_ndarray(format="bgr24").astype(np.int16)

    a, b = first_bgr(src), first_bgr(out)
    assert np.abs(a - b).mean() < 2.0
    assert np.percentile(np.abs(a - b), 99) <= 8


def test_decode_and_encode_conversions_round_trip_unchanged_pixels() -> None:
    from livebokeh.yuv import bgr_to_video_frame, video_frame_to_bgr

    rng = np.random.default_rng(5)
    # in-gamut colours (moderate chroma), so nothing is clipped on the way through BGR
    y = rng.integers(60, 180, size=(64, 96), dtype=np.uint8)
    uv = rng.integers(118, 138, size=(32, 96), dtype=np.uint8)  # U then V planes, 48x32 each
    i420 = np.concatenate([y, uv])
    frame = av.VideoFrame.from_ndarray(i420, format="yuv420p")
    bgr = video_frame_to_bgr(frame)
    assert bgr.shape == (64, 96, 3) and bgr.dtype == np.uint8
    back = bgr_to_video_frame(bgr).to_ndarray().astype(np.int16)
    assert np.abs(back[:64] - y).mean() < 0.2  # luma comes back as it was (swscale + OpenCV: ~1 level off)
    assert np.abs(back[64:] - uv).mean() < 0.2
    # BT.709 is left to swscale on both sides (OpenCV's conversion is BT.601 only)
    tagged = video_frame_to_bgr(frame, color={"colorspace": 1, "color_range": 1})
    assert np.array_equal(tagged, frame.to_ndarray(format="bgr24"))


# -- the benchmark's inputs and output -------------------------------------------------


def test_sample_scene_clip_shows_the_bundled_person_scaled_to_size(tmp_path: Path) -> None:
    from livebokeh.segmentation import create_segmenter

    clip = make_clip(tmp_path / "s.mp4", width=320, height=180, seconds=0.3, scene="sample")
    with av.open(str(clip)) as c:
        frames = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
        assert len(c.streams.audio) == 1
    assert len(frames) == 9 and frames[0].shape == (180, 320, 3)
    assert not np.array_equal(frames[0], frames[-1])  # the sample's camera moves
    prob = create_segmenter("auto").segment(frames[0])
    assert 0.1 < float((prob > 0.5).mean()) < 0.9  # a real person, not a synthetic blob


def test_bench_convert_reports_both_sides_of_the_same_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clip = make_clip(tmp_path / "in.mp4", width=192, height=108, seconds=0.5, scene="sample")
    assert cli_main(["bench", "convert", "--input", str(clip), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    r = out["in"]
    assert r["size"] == "192x108" and r["frames"] == 15
    assert r["transcode_fps"] > 0 and r["convert_fps"] > 0
    assert r["ratio"] == pytest.approx(r["convert_fps"] / r["transcode_fps"], rel=0.01)
    assert out["settings"]["codec"] == "libx264" and out["settings"]["scene"] is None


def _decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]


def test_planar_path_is_taken_where_it_fits_and_gives_the_bgr_paths_picture(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "s.mp4", width=1280, height=720, seconds=0.3, scene="sample")
    with VideoConverter(planar=True) as conv:
        fast = conv.convert(clip, tmp_path / "fast.mp4")
        rotated = conv.convert(
            make_clip(tmp_path / "r.mp4", width=1280, height=720, rotation=90, seconds=0.1), tmp_path / "r_out.mp4"
        )
        odd = conv.convert(make_clip(tmp_path / "o.mkv", width=1282, height=722, seconds=0.1), tmp_path / "o_out.mkv")
        small = conv.convert(make_clip(tmp_path / "m.mp4", seconds=0.1), tmp_path / "m_out.mp4")
    with VideoConverter(planar=False) as conv:
        slow = conv.convert(clip, tmp_path / "slow.mp4")
    with VideoConverter(planar=True, effect=EffectOptions(effect="color:#00ff00")) as conv:
        green = conv.convert(clip, tmp_path / "green.mp4")
    assert fast.frames == slow.frames == 9
    assert fast.planar_frames == 9 and slow.planar_frames == 0
    assert rotated.planar_frames == 0 and rotated.frames == 3  # turned frames go through BGR
    assert odd.planar_frames == 0 and odd.frames == 3  # half would have odd sides
    assert small.planar_frames == 0 and small.frames == 3  # the half frame would be under the matte's working size
    assert green.planar_frames == 0  # only blur and bokeh have a 4:2:0 renderer
    a, b = _decoded(tmp_path / "fast.mp4"), _decoded(tmp_path / "slow.mp4")
    diffs = [float(np.abs(x.astype(int) - y.astype(int)).mean()) for x, y in zip(a, b, strict=True)]
    assert max(diffs) < 3.0, diffs
