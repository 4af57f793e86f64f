"""One long file in pieces, without Ray: where it is cut, the converter's pre-roll, and the join."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from livebokeh.bench.clips import make_clip
from livebokeh.config import EffectOptions, MatteOptions
from livebokeh.errors import InputError
from livebokeh.runtime.convert import EncodeOptions, VideoConverter
from livebokeh.runtime.segments import cut_piece, join_pieces, plan_segments


def packets(path: Path) -> list[tuple[int, bool]]:
    with av.open(str(path)) as c:
        return [(int(p.pts), bool(p.is_keyframe)) for p in c.demux(c.streams.video[0]) if p.size]


def video_times(path: Path) -> list[Fraction]:
    """Every decoded frame's presentation time, exactly."""
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        return [f.pts * Fraction(vs.time_base) for f in c.decode(vs)]


def audio_payload(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]


def pictures(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]


@pytest.fixture(scope="module")
def gop_clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("gop")
    return {
        "closed": make_clip(d / "closed.mp4", seconds=24, fps=10, gop=13, scene="sample"),
        "open": make_clip(d / "open.mp4", seconds=12, fps=10, gop=10, open_gop=True),
    }


def test_cuts_fall_on_clean_keyframes_and_preroll_starts_in_step(gop_clips: dict[str, Path]) -> None:
    plan = plan_segments(gop_clips["closed"], 8, preroll=20, align=10)
    assert not isinstance(plan, str)
    keys = {pts for pts, key in packets(gop_clips["closed"]) if key}
    assert len(plan.pieces) == 3
    assert plan.pieces[0].cut == plan.frame_pts[0]
    assert sum(p.frames for p in plan.pieces) == len(plan.frame_pts) == 240
    for earlier, piece in zip(plan.pieces, plan.pieces[1:], strict=False):
        assert piece.cut in keys and earlier.until == piece.cut
        first = plan.frame_pts.index(piece.matte_from)
        assert first % 10 == 0  # on the matte's detector schedule
        assert plan.frame_pts.index(piece.cut) - first >= 20
        assert piece.decode_from in keys and piece.decode_from <= piece.matte_from
    assert plan.pieces[-1].until is None


def test_open_gop_and_short_files_are_not_cut(gop_clips: dict[str, Path]) -> None:
    reason = plan_segments(gop_clips["open"], 4)
    assert isinstance(reason, str) and "open GOP" in reason
    short = plan_segments(gop_clips["closed"], 30)  # no piece would be 15 s or longer
    assert isinstance(short, str) and "no clean keyframe" in short


def test_pieces_with_preroll_join_into_the_whole_file_conversion(gop_clips: dict[str, Path], tmp_path: Path) -> None:
    """Lossless and without temporal smoothing (whose dead band makes its state depend on where it
    started): every joined frame equals the whole-file conversion's; timestamps and audio are the input's."""
    src = gop_clips["closed"]
    options = {"effect": EffectOptions(effect="blur"), "matte": MatteOptions(temporal=False)}
    with VideoConverter(**options, encode=EncodeOptions(crf=0, threads=1)) as converter:
        converter.convert(src, tmp_path / "whole.mp4")
        plan = plan_segments(src, 8, align=10)
        assert not isinstance(plan, str)
        outputs = []
        for piece in plan.pieces:
            copy = tmp_path / f"cut{piece.index}.mp4"
            preroll = cut_piece(src, plan, piece, copy)
            assert (preroll is None) == (piece.index == 0)
            out = tmp_path / f"piece{piece.index}.mp4"
            result = converter.convert(copy, out, preroll=preroll)
            assert result.frames == piece.frames
            outputs.append(out)
    joined = join_pieces(src, plan, outputs, tmp_path / "joined.mp4", overwrite=False)
    assert joined.frames == 240 and joined.audio == ["#1 aac copied"]
    assert video_times(tmp_path / "joined.mp4") == video_times(src)
    assert audio_payload(tmp_path / "joined.mp4") == audio_payload(src)
    whole, parts = pictures(tmp_path / "whole.mp4"), pictures(tmp_path / "joined.mp4")
    assert len(whole) == len(parts) == 240
    assert all(np.array_equal(a, b) for a, b in zip(whole, parts, strict=True))


def test_join_refuses_a_piece_with_missing_frames(gop_clips: dict[str, Path], tmp_path: Path) -> None:
    src = gop_clips["closed"]
    plan = plan_segments(src, 8)
    assert not isinstance(plan, str)
    pieces = []
    for piece in plan.pieces:  # the input's own packets stand in for converted pieces
        pieces.append(tmp_path / f"p{piece.index}.mp4")
        cut_piece(src, plan, piece, pieces[-1])
    with pytest.raises(InputError, match="piece 2 has"):
        join_pieces(src, plan, pieces, tmp_path / "joined.mp4", overwrite=False)  # piece 2 carries its pre-roll
    assert not (tmp_path / "joined.mp4").exists()
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name]
