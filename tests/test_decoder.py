"""The one video decoder: timestamps, rotation, colour tags, audio order, rewinding, damage and bad files.

Every clip is written in the test with PyAV, so what the decoder should report is known.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from livebokeh.errors import InputError
from livebokeh.sources.decoder import Picture, VideoDecoder, turn

W, H = 64, 48


def _picture(i: int) -> np.ndarray:
    """A frame whose grey level and bar position tell its index (survives lossy coding)."""
    img = np.full((H, W, 3), 30 + (20 * i) % 200, np.uint8)
    img[:, (4 * i) % W : (4 * i) % W + 4] = (0, 0, 255)
    img[:8, :8] = (255, 0, 0)  # a top-left mark, to tell orientation
    return img


def write_clip(
    path: Path,
    *,
    pts: list[int] | None = None,
    time_base: Fraction = Fraction(1, 25),
    rate: int = 25,
    rotation: int = 0,
    tags: dict[str, int] | None = None,
    audio: bool = False,
    codec: str = "libx264",
) -> Path:
    """A small clip with the given frame timestamps, display rotation, colour tags and audio."""
    pts = pts if pts is not None else list(range(10))
    with av.open(str(path), "w") as out:
        vs = out.add_stream(codec, rate=rate, options={"crf": "10"} if codec == "libx264" else {})
        vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
        vs.time_base = time_base
        vs.codec_context.time_base = time_base
        for key, value in (tags or {}).items():
            setattr(vs.codec_context, key, value)
        if rotation:
            vs.set_display_rotation(rotation)
        aus = out.add_stream("aac", rate=48000) if audio else None
        if aus is not None:
            aus.codec_context.layout = "mono"
        for i, p in enumerate(pts):
            vf = av.VideoFrame.from_ndarray(_picture(i), format="bgr24")
            vf.pts = p
            out.mux(vs.encode(vf))
        out.mux(vs.encode(None))
        if aus is not None:
            seconds = float((pts[-1] + 1) * time_base)
            for k in range(int(seconds * 48000) // 1024):
                af = av.AudioFrame.from_ndarray(
                    np.full((1, 1024), 0.01 * (k % 7), np.float32), format="flt", layout="mono"
                )
                af.sample_rate, af.pts, af.time_base = 48000, k * 1024, Fraction(1, 48000)
                out.mux(aus.encode(af))
            out.mux(aus.encode(None))
    return path


# -- timestamps --------------------------------------------------------------------------


def test_pictures_carry_the_files_timestamps_and_a_running_index(tmp_path: Path) -> None:
    steps = [0, 33, 83, 100, 200, 217, 250, 400]  # variable frame rate, 1/1000 s ticks
    clip = write_clip(tmp_path / "vfr.mkv", pts=steps, time_base=Fraction(1, 1000), rate=30)
    with VideoDecoder(clip) as dec:
        assert (dec.width, dec.height) == (W, H)
        pics = list(dec.pictures())
        with av.open(str(clip)) as c:
            reference = [(f.pts, f.time) for f in c.decode(video=0)]
    assert [p.index for p in pics] == list(range(len(steps)))
    assert [p.pts for p in pics] == [pts for pts, _ in reference]
    assert [p.time for p in pics] == [t for _, t in reference]  # exactly what PyAV computes
    first = pics[0].pts
    assert [p.pts - first for p in pics] == steps
    assert [p.timestamp_ns - pics[0].timestamp_ns for p in pics] == [s * 1_000_000 for s in steps]
    assert dec.time_base == pics[0].time_base


def test_missing_timestamps_continue_at_the_stream_rate(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "raw.h264")  # an elementary stream: the demuxer gives no pts
    with av.open(str(clip)) as c:
        assert all(f.pts is None for f in c.decode(video=0)), "the fixture should lack timestamps"
    with VideoDecoder(clip) as dec:
        pics = list(dec.pictures())
        rate = dec.rate
    assert len(pics) == 10 and pics[0].pts == 0
    gaps = np.diff([p.timestamp_ns for p in pics])
    assert len(set(gaps.tolist())) == 1  # evenly spaced
    assert gaps[0] == pytest.approx(1e9 / float(rate), rel=1e-3)


def test_frames_are_bgr_frame_objects_and_limit_stops_early(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "c.mp4")
    with VideoDecoder(clip) as dec:
        frames = list(dec.frames(4))
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert [f.timestamp_ns for f in frames] == [0, 40_000_000, 80_000_000, 120_000_000]
    for i, f in enumerate(frames):
        assert f.image.shape == (H, W, 3) and f.image.dtype == np.uint8 and f.image.flags.c_contiguous
        assert abs(int(f.image[30:40, 40:50].mean()) - (30 + (20 * i) % 200)) <= 8  # the grey level of frame i


def test_rewind_replays_the_same_pictures(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "c.mp4", pts=[0, 2, 3, 7, 8])
    with VideoDecoder(clip) as dec:
        first = [(p.index, p.pts, p.bgr().tobytes()) for p in dec.pictures()]
        dec.rewind()
        again = [(p.index, p.pts, p.bgr().tobytes()) for p in dec.pictures()]
    assert len(first) == 5 and again == first


# -- rotation and colour -----------------------------------------------------------------


@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_display_rotation_is_reported_and_upright_turns_by_it(tmp_path: Path, rotation: int) -> None:
    clip = write_clip(tmp_path / "r.mp4", rotation=rotation)
    with VideoDecoder(clip) as dec:
        pic = next(dec.pictures())
        upright_frame = next(dec.frames(upright=True))
    assert pic.rotation % 360 == rotation % 360 and pic.turns == (rotation // 90) % 4
    stored = pic.bgr()
    assert stored.shape == (H, W, 3)  # as coded
    upright = pic.bgr(upright=True)
    expected = np.rot90(stored, k=pic.turns)  # numpy turns counter-clockwise, as the display matrix does
    assert np.array_equal(upright, expected)
    assert upright_frame.image.shape == upright.shape
    assert np.array_equal(turn(upright, -pic.turns), stored)  # and back to how the encoder stores it


def test_unrotated_clip_reports_no_rotation(tmp_path: Path) -> None:
    with VideoDecoder(write_clip(tmp_path / "c.mp4")) as dec:
        pic = next(dec.pictures())
    assert pic.rotation == 0 and pic.turns == 0
    assert pic.bgr(upright=True).shape == (H, W, 3)


def test_colour_tags_are_read_and_choose_the_conversion(tmp_path: Path) -> None:
    bt709 = {"colorspace": 1, "color_primaries": 1, "color_trc": 1, "color_range": 1}
    tagged = write_clip(tmp_path / "709.mp4", tags=bt709)
    plain = write_clip(tmp_path / "plain.mp4")
    with VideoDecoder(tagged) as dec:
        assert dec.color == bt709
        pic = next(dec.pictures())
        assert pic.color == bt709 and pic.is_i420
        # BT.709 is left to swscale, which knows the matrix
        assert np.array_equal(pic.bgr(encoder_pix_fmt="yuv420p"), pic.vframe.to_ndarray(format="bgr24"))
    with VideoDecoder(plain) as dec:
        assert dec.color["colorspace"] in (0, 2) and dec.color["color_range"] == 0  # unspecified
        pic = next(dec.pictures())
        opencv = cv2.cvtColor(pic.i420(), cv2.COLOR_YUV2BGR_I420)
        # untagged 4:2:0 bound for a 4:2:0 encoder: OpenCV both ways (the pair round-trips)
        assert np.array_equal(pic.bgr(encoder_pix_fmt="yuv420p"), opencv)
        assert np.array_equal(pic.bgr(), pic.vframe.to_ndarray(format="bgr24"))  # otherwise swscale
        assert not np.array_equal(pic.bgr(encoder_pix_fmt="yuv444p"), opencv)


def test_bgr_scales_to_a_size(tmp_path: Path) -> None:
    with VideoDecoder(write_clip(tmp_path / "c.mp4")) as dec:
        pic = next(dec.pictures())
    assert pic.bgr(size=(32, 24)).shape == (24, 32, 3)
    assert np.array_equal(pic.bgr(size=(W, H)), pic.bgr())  # the same size: no scaling


# -- audio, rate, length -----------------------------------------------------------------


def test_audio_packets_come_in_the_files_order_between_the_pictures(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "a.mp4", audio=True)
    with av.open(str(clip)) as c:
        order = [(p.stream.type, bytes(p)) for p in c.demux() if p.size]
    with VideoDecoder(clip, label="input") as dec:
        assert len(dec.audio) == 1
        items = list(dec.pictures_and_audio())
    audio_items = [i for i, x in enumerate(items) if not isinstance(x, Picture) and x.size]
    picture_items = [i for i, x in enumerate(items) if isinstance(x, Picture)]
    assert [bytes(items[i]) for i in audio_items] == [data for kind, data in order if kind == "audio"]
    assert len(picture_items) == 10
    # interleaved as demuxed, not gathered at either end
    assert audio_items[0] < picture_items[-1] and picture_items[0] < audio_items[-1]


def test_rate_duration_and_estimated_frames(tmp_path: Path) -> None:
    with VideoDecoder(write_clip(tmp_path / "c.mp4", rate=25)) as dec:
        assert dec.rate == 25 and dec.fps == 25.0
        assert dec.estimated_frames == 10
        assert dec.duration == pytest.approx(0.4, abs=0.05)


# -- damage and bad files ----------------------------------------------------------------


def test_damaged_packets_are_skipped_and_counted(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "c.mp4", pts=list(range(60)), codec="mpeg4")
    data = bytearray(clip.read_bytes())
    rng = np.random.default_rng(3)
    for k in range(len(data) // 3, len(data) // 3 + 2000, 5):
        data[k] = int(rng.integers(0, 256))
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    with VideoDecoder(damaged) as dec:
        pics = list(dec.pictures())
        skipped = dec.corrupt_skipped
    assert skipped > 0 and 0 < len(pics) < 60
    assert [p.index for p in pics] == list(range(len(pics)))


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        s = out.add_stream("aac", rate=48000)
        for i in range(3):
            f = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="flt", layout="mono")
            f.sample_rate, f.pts = 48000, i * 1024
            out.mux(s.encode(f))
        out.mux(s.encode(None))
    return path


@pytest.mark.parametrize(
    "kind,match",
    [
        ("missing", "does not exist: check the path"),
        ("folder", "is a folder: give a video file"),
        ("text", "is not a readable video"),
        ("audio only", "has no video stream"),
    ],
)
def test_bad_files_raise_one_line_naming_the_file(tmp_path: Path, kind: str, match: str) -> None:
    path = {
        "missing": tmp_path / "nope.mp4",
        "folder": tmp_path,
        "text": tmp_path / "t.mp4",
        "audio only": tmp_path / "a.m4a",
    }[kind]
    if kind == "text":
        path.write_text("not a video\n")
    if kind == "audio only":
        _audio_only(path)
    with pytest.raises(InputError, match=match) as info:
        VideoDecoder(path, label="input")
    message = str(info.value)
    assert message.startswith(f"input {path}") and "\n" not in message


def test_close_is_idempotent(tmp_path: Path) -> None:
    dec = VideoDecoder(write_clip(tmp_path / "c.mp4"))
    dec.close()
    dec.close()
