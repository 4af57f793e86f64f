"""What an output video file holds besides the pictures: its layout (faststart) and its audio streams."""

from __future__ import annotations

import struct
from pathlib import Path

import av
import numpy as np
import pytest

from livebokeh._cli import main as cli_main
from livebokeh.bench.clips import make_clip
from livebokeh.frames import Frame
from livebokeh.sinks.file import FileSink
from livebokeh.sinks.video import VideoFileSink


def top_level_boxes(path: Path) -> list[bytes]:
    """The kinds of the top-level boxes of an MP4/MOV file, in file order."""
    data = path.read_bytes()
    kinds, i = [], 0
    while i + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, i)
        if size == 1:
            size = struct.unpack_from(">Q", data, i + 8)[0]
        elif size == 0:
            size = len(data) - i
        assert size >= 8, f"box {kind!r} at {i} has size {size}"
        kinds.append(kind)
        i += size
    assert i == len(data)
    return kinds


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip") / "talk.mp4", width=160, height=120, seconds=0.5)


@pytest.mark.parametrize("suffix", [".mp4", ".mov"])
def test_converted_file_has_its_index_before_the_media_data(clip, tmp_path, suffix) -> None:
    out, mask = tmp_path / f"out{suffix}", tmp_path / "mask.mp4"
    args = ["convert", str(clip), "-o", str(out), "--mask-out", str(mask), "-q", "--no-config"]
    assert cli_main([*args, "--preset", "ultrafast"]) == 0
    for path in (out, mask):
        kinds = top_level_boxes(path)
        assert kinds.index(b"moov") < kinds.index(b"mdat"), kinds
    with av.open(str(out)) as c:  # still a complete file: every frame, and the audio
        assert sum(1 for _ in c.decode(video=0)) == 15
        assert len(c.streams.audio) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out.name, mask.name])  # no temporary copy


def test_no_faststart_keeps_the_index_at_the_end(clip, tmp_path) -> None:
    out = tmp_path / "out.mp4"
    assert cli_main(["convert", str(clip), "-o", str(out), "-q", "--no-config", "--no-faststart"]) == 0
    kinds = top_level_boxes(out)
    assert kinds.index(b"mdat") < kinds.index(b"moov"), kinds


def test_a_live_recording_is_not_rewritten_when_it_stops(tmp_path) -> None:
    """Moving the index of an hour-long recording to the front would hold up the stop: recordings keep it last."""
    out = tmp_path / "rec.mp4"
    sink = FileSink(out)
    sink.open((64, 48), 30.0)
    for i in range(5):
        sink.write(Frame(image=np.full((48, 64, 3), 10 * i, np.uint8), timestamp_ns=i * 33_333_333, index=i))
    sink.close()
    kinds = top_level_boxes(out)
    assert kinds.index(b"mdat") < kinds.index(b"moov"), kinds


def test_an_audio_stream_without_a_decoder_is_left_out_with_a_warning(tmp_path, caplog) -> None:
    """A codec this PyAV build does not know has no codec context: it can be neither copied nor re-encoded."""
    src = make_clip(tmp_path / "in.mkv", width=64, height=48, seconds=0.3)
    data = src.read_bytes()
    assert data.count(b"A_AAC") == 1
    src.write_bytes(data.replace(b"A_AAC", b"A_XYZ"))  # the track's CodecID: unknown to FFmpeg
    with av.open(str(src)) as c:
        assert c.streams.audio[0].codec_context is None  # what add_audio used to dereference
        with VideoFileSink(tmp_path / "out.mkv", fps=30, size=(64, 48)) as sink:
            route = sink.add_audio(c.streams.audio[0])
            assert route.dropped and "no decoder" in route.how
            for packet in c.demux(c.streams.audio[0]):
                sink.write_audio(route, packet)  # ignored, not an error
            sink.write(np.zeros((48, 64, 3), np.uint8))
    assert "audio stream #1 left out" in caplog.text
    with av.open(str(tmp_path / "out.mkv")) as c:
        assert [s.type for s in c.streams] == ["video"]


@pytest.mark.parametrize(("suffix", "preset"), [(".mp4", "nope"), (".webm", "nope"), (".webm", "ultrafast")])
def test_presets_are_checked_before_any_work(clip, tmp_path, capsys, suffix, preset) -> None:
    out = tmp_path / f"out{suffix}"
    code = cli_main(["convert", str(clip), "-o", str(out), "-q", "--no-config", "--preset", preset])
    err = capsys.readouterr().err.splitlines()
    if preset == "ultrafast":  # an x264 name works for VP9 too (libvpx's realtime deadline)
        assert code == 0 and out.is_file()
    else:
        assert code == 1 and len(err) == 1 and "preset 'nope'" in err[0] and "ultrafast" in err[0], err
        assert list(tmp_path.iterdir()) == []
