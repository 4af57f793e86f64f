"""The decoder believes nothing absurd a container says, for every user of it (convert, live, backgrounds).

The files come from tests/fuzz_media.py: a tiny valid clip with one fact made a lie.
The fuzz suite runs hundreds of such files through ``convert``; here the decoder's own
answers are checked, and the live source and the video background open the same files.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import fuzz_media as fm
import pytest

from livebokeh.effects.replace import VideoBackground
from livebokeh.sources.decoder import DEFAULT_RATE, VideoDecoder, quarter_turn_degrees
from livebokeh.sources.video import VideoSource


def _write(tmp_path: Path, base: str, damage) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path / f"clip{fm.suffix_of(base)}"
    path.write_bytes(damage(fm.clip_bytes(base)))
    return path


@pytest.mark.parametrize("base", ["mp4", "mkv", "webm"])
def test_tags_that_are_not_utf8_are_read_with_replacement_characters(tmp_path, base) -> None:
    path = _write(tmp_path, base, lambda d: fm.replace_text(d, fm.PLACEHOLDERS["title"], b"\xff\xfe\xc3("))
    with VideoDecoder(path) as decoder:
        assert "\ufffd" in decoder.container.metadata["title"]
        assert sum(1 for _ in decoder.pictures()) == fm.FRAMES
    with VideoSource(path, realtime=False) as source:  # live: a file played as a camera
        assert source.read() is not None
    background = VideoBackground(path)  # replace:VIDEO
    assert background.frame((64, 48), 0.0).shape == (48, 64, 3)


def test_colour_tags_ffmpeg_does_not_define_are_unspecified(tmp_path) -> None:
    def matrix_255(data: bytes) -> bytes:
        def edit(root: fm.Element) -> None:
            colour = fm.mkv_track(root, 1).child(fm.VIDEO).child(fm.COLOUR)  # type: ignore[union-attr]
            fm.set_child(colour, 0x55B1, b"\xff")  # MatrixCoefficients 255: FFmpeg passes it on

        return fm.mkv_rewrite(data, edit)

    with VideoDecoder(_write(tmp_path, "mkv", matrix_255)) as decoder:
        assert decoder.color == {"colorspace": 0, "color_range": 1, "color_primaries": 1, "color_trc": 1}


def _stts_delta(delta: int):  # type: ignore[no-untyped-def]
    """MP4: every frame lasts ``delta`` ticks of the track's 1/10240 s time scale."""
    return lambda data: fm.mp4_rewrite(
        data, lambda root: root.find(b"moov", b"trak:vide", b"mdia", b"minf", b"stbl", b"stts").set(12, "I", delta)
    )


def _default_duration(ns: int):  # type: ignore[no-untyped-def]
    """Matroska: the frame duration in ns (FFmpeg's average rate follows it, its guessed rate the timestamps)."""
    return lambda data: fm.mkv_rewrite(
        data, lambda root: fm.set_child(fm.mkv_track(root, 1), 0x23E383, fm.uint_bytes(ns))
    )


@pytest.mark.parametrize(
    ("base", "damage", "rate"),
    [
        ("mp4", _stts_delta(1), DEFAULT_RATE),  # 10240 fps
        ("mp4", _stts_delta(2**31 - 1), DEFAULT_RATE),  # one frame in 58 hours
        ("mkv", _default_duration(1), 10),  # 1e9 fps stated, 10 fps by the timestamps
        ("mp4", _stts_delta(1024), 10),  # the truth
    ],
    ids=["10240fps", "1-in-58h", "1e9fps-mkv", "true"],
)
def test_a_frame_rate_beyond_belief_is_not_believed(tmp_path, base, damage, rate) -> None:
    with VideoDecoder(_write(tmp_path, base, damage)) as decoder:
        assert decoder.rate == rate
        assert sum(1 for _ in decoder.pictures()) >= 1


@pytest.mark.parametrize(
    ("roll", "degrees"), [(88.0, 90), (360e6 + 90, 90), (math.nan, 0), (45.0, None), (math.inf, None), (-1e300, None)]
)
def test_a_display_rotation_becomes_a_quarter_turn(tmp_path, roll, degrees) -> None:
    def projection(data: bytes) -> bytes:
        def edit(root: fm.Element) -> None:
            video = fm.mkv_track(root, 1).child(fm.VIDEO)
            assert video is not None
            video.children = [*(video.children or []), fm.Element(fm.PROJECTION, children=[])]
            fm.set_child(video.children[-1], 0x7675, struct.pack(">d", roll))  # ProjectionPoseRoll

        return fm.mkv_rewrite(data, edit)

    with VideoDecoder(_write(tmp_path, "mkv", projection)) as decoder:
        rotations = {p.rotation for p in decoder.pictures()}
    # None: whatever angle FFmpeg makes of the garbage, as long as it is one quarter turn
    assert rotations == {degrees} if degrees is not None else len(rotations) == 1 and rotations <= {0, 90, 180, 270}


def test_quarter_turns() -> None:
    assert [quarter_turn_degrees(r) for r in (None, 0, 90, -90, 180.4, 269, 44, 46, 720, math.nan)] == [
        0,
        0,
        90,
        270,
        180,
        270,
        0,
        90,
        0,
        0,
    ]
