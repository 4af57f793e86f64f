"""One long video in pieces: cut at keyframes by copying packets, join the converted pieces.

A piece is converted like any file (see :class:`~livebokeh.runtime.convert.VideoConverter`),
from a copy of its packets that starts at a keyframe :data:`PREROLL_FRAMES` or more before
its cut.  The converter runs the matte over those pre-roll frames without writing them
(:class:`~livebokeh.runtime.convert.Preroll`), so temporal smoothing and tracking arrive at
the cut as they would in a whole-file conversion.

Only *clean* keyframes are cut at: every frame decoded before one is shown before it and
every frame from it on is shown from it on, which is what a closed group of pictures
gives.  Open-GOP input (leading pictures that reference the previous group) has none and is
converted whole.

:func:`join_pieces` writes the converted pieces' video packets unchanged, each frame
stamped with the timestamp the input had for it (the pieces' containers may shift or round
their own), and the input's audio packets copied once, interleaved by time.
"""

from __future__ import annotations

import bisect
import functools
import heapq
import io
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from ..errors import InputError
from ..sinks.video import VideoFileSink
from .convert import Preroll

log = logging.getLogger(__name__)

PREROLL_FRAMES = 60
"""At least this many frames before a cut go through each piece's matte without being written
(the matte's state moves per frame, so this counts frames, not seconds).  Their first frame is
one the whole-file conversion would also run the person detectors on (see ``align``), so from
there on the piece's matte does the same work on the same frames."""


@dataclass(frozen=True, slots=True)
class Piece:
    """One piece of a segmented file; timestamps are ``pts`` in the input's video time base."""

    index: int
    decode_from: int
    """The keyframe decoding starts at (at or before ``matte_from``)."""
    matte_from: int
    """The first frame that goes through the matte (the first piece: ``cut``)."""
    cut: int
    """The keyframe this piece's own frames start at (the first piece: the first keyframe)."""
    until: int | None
    """The next piece's cut keyframe; ``None`` for the last piece (to the end)."""
    frames: int
    """How many frames this piece writes."""


@dataclass(frozen=True, slots=True)
class SegmentPlan:
    """Where a file is cut, and every frame's input timestamp (sorted) for the join."""

    time_base: Fraction
    pieces: tuple[Piece, ...]
    frame_pts: tuple[int, ...]

    def piece_pts(self, piece: Piece) -> tuple[int, ...]:
        """The input timestamps of the frames ``piece`` writes, in display order."""
        start = sum(p.frames for p in self.pieces[: piece.index])
        return self.frame_pts[start : start + piece.frames]


def plan_segments(path: Path, seconds: float, *, preroll: int = PREROLL_FRAMES, align: int = 1) -> SegmentPlan | str:
    """Cut points about ``seconds`` apart at clean keyframes; a reason string when the file cannot be cut.

    Reads every video packet's header once (no decoding).  A piece is never shorter than
    half of ``seconds``: a short tail stays with the piece before it.  Each pre-roll
    starts ``preroll`` or more frames before its cut, at a frame whose index in the file
    is a multiple of ``align`` (the period of the matte's periodic work).
    """
    packets: list[tuple[int, bool]] = []  # (pts, keyframe) in decode order
    with av.open(str(path)) as container:
        vs = container.streams.video[0]
        time_base = Fraction(vs.time_base)
        for packet in container.demux(vs):
            if packet.size == 0:
                continue
            if packet.pts is None:
                return "its video packets carry no timestamps"
            packets.append((int(packet.pts), bool(packet.is_keyframe)))
    if not packets:
        return "it has no video packets"
    all_pts = sorted(p for p, _ in packets)
    if len(set(all_pts)) != len(all_pts):
        return "some of its frames share a timestamp"
    clean = _clean_keyframes(packets)
    keyframes = sum(1 for _, key in packets if key)
    if len(clean) <= 1 < keyframes:
        return "its keyframes start open groups of pictures (open GOP)"
    if not clean:
        return "it has no keyframe that starts a closed group of pictures"
    ticks = round(seconds / time_base)
    first, last = all_pts[0], all_pts[-1]
    cuts = [clean[0]]
    while True:
        target = cuts[-1] + ticks
        options = [k for k in clean if k >= cuts[-1] + ticks // 2 and last - k >= ticks // 2]
        if not options:
            break
        best = min(options, key=lambda k: abs(k - target))
        if best <= cuts[-1]:
            break
        cuts.append(best)
    if cuts[0] != first:
        return "its first frame is not a clean keyframe"
    if len(cuts) < 2:
        return f"it has no clean keyframe to cut at about every {seconds:g} s"
    pieces = []
    for i, cut in enumerate(cuts):
        until = cuts[i + 1] if i + 1 < len(cuts) else None
        at = bisect.bisect_left(all_pts, cut)
        matte_from = all_pts[max(0, (at - preroll) // align * align)] if i else cut
        decode_from = max(k for k in clean if k <= matte_from)
        frames = (bisect.bisect_left(all_pts, until) if until is not None else len(all_pts)) - at
        pieces.append(
            Piece(index=i, decode_from=decode_from, matte_from=matte_from, cut=cut, until=until, frames=frames)
        )
    return SegmentPlan(time_base=time_base, pieces=tuple(pieces), frame_pts=tuple(all_pts))


def _clean_keyframes(packets: list[tuple[int, bool]]) -> list[int]:
    """Keyframes before which (in decode order) only earlier frames are decoded, and after which only later ones."""
    n = len(packets)
    later_min = [0] * n  # smallest pts from position i on
    low = None
    for i in range(n - 1, -1, -1):
        low = packets[i][0] if low is None else min(low, packets[i][0])
        later_min[i] = low
    clean = []
    high = None  # largest pts before position i
    for i, (pts, key) in enumerate(packets):
        if key and (high is None or high < pts) and later_min[i] == pts:
            clean.append(pts)
        high = pts if high is None else max(high, pts)
    return clean


@functools.cache
def _mp4_codecs() -> frozenset[str]:
    with av.open(io.BytesIO(), "w", format="mp4") as probe:
        return frozenset(probe.supported_codecs)


def cut_container_for(src: Path) -> str:
    """Container for the packet-copied pieces of ``src``: MP4 keeps the time base exactly (Matroska
    rounds to milliseconds), Matroska holds the codecs MP4 cannot; both keep the rotation."""
    with av.open(str(src)) as c:
        name = c.streams.video[0].codec_context.name
    return "mp4" if name in _mp4_codecs() else "matroska"


def cut_piece(src: Path, plan: SegmentPlan, piece: Piece, dst: Path) -> Preroll | None:
    """Copy the video packets of ``piece`` and its pre-roll into ``dst`` (``.mp4`` or ``.mkv``).

    Returns what the converter needs to write only the piece's own frames, in ``dst``'s
    time base (which may differ from the input's), or ``None`` for a piece without pre-roll.
    """
    fmt = "mp4" if dst.suffix.lower() == ".mp4" else "matroska"
    with av.open(str(src)) as inp, av.open(str(dst), "w", format=fmt) as out:
        vs = inp.streams.video[0]
        ovs = out.add_stream_from_template(vs)
        if piece.decode_from > plan.frame_pts[0]:
            inp.seek(piece.decode_from, stream=vs, backward=True, any_frame=False)
        copying = False
        for packet in inp.demux(vs):
            if packet.size == 0 or packet.pts is None:
                continue
            if not copying:
                if not (packet.is_keyframe and packet.pts == piece.decode_from):
                    continue
                copying = True
            if packet.is_keyframe and piece.until is not None and packet.pts == piece.until:
                break
            packet.stream = ovs
            out.mux(packet)
        if not copying:
            raise InputError(f"{src}: the keyframe at {float(piece.decode_from * plan.time_base):.3f} s was not found")
    if piece.matte_from == piece.cut:
        return None
    # The copy holds exactly the input's frames from decode_from to the next cut: the n-th shown
    # frame of one is the n-th of the other, whatever timestamps its container gave them.
    with av.open(str(dst)) as copy:
        shown = sorted(int(p.pts) for p in copy.demux(copy.streams.video[0]) if p.size and p.pts is not None)
    first = bisect.bisect_left(plan.frame_pts, piece.decode_from)
    end = bisect.bisect_left(plan.frame_pts, piece.until) if piece.until is not None else len(plan.frame_pts)
    if len(shown) != end - first:
        raise InputError(f"{src}: the copied piece {piece.index + 1} has {len(shown)} frames, not {end - first}")
    matte_from = shown[bisect.bisect_left(plan.frame_pts, piece.matte_from) - first]
    write_from = shown[bisect.bisect_left(plan.frame_pts, piece.cut) - first]
    return Preroll(write_from=write_from, matte_from=matte_from)


def _time_map(src_pts: Sequence[int], dst_pts: Sequence[int]) -> Any:
    """A monotonic map from a piece's own timeline to the input's, through each frame's pair of timestamps."""
    slope0 = (dst_pts[1] - dst_pts[0]) / (src_pts[1] - src_pts[0]) if len(src_pts) > 1 else 1.0
    slope1 = (dst_pts[-1] - dst_pts[-2]) / (src_pts[-1] - src_pts[-2]) if len(src_pts) > 1 else 1.0
    exact = dict(zip(src_pts, dst_pts, strict=True))

    def to_input(t: int) -> int:
        if t in exact:
            return exact[t]
        if t < src_pts[0]:
            return dst_pts[0] - round((src_pts[0] - t) * slope0)
        if t > src_pts[-1]:
            return dst_pts[-1] + round((t - src_pts[-1]) * slope1)
        j = bisect.bisect_right(src_pts, t)
        a, b = src_pts[j - 1], src_pts[j]
        return dst_pts[j - 1] + round((t - a) * (dst_pts[j] - dst_pts[j - 1]) / (b - a))

    return to_input


@dataclass(slots=True)
class JoinResult:
    """What :func:`join_pieces` wrote."""

    frames: int
    audio: list[str]


def join_pieces(
    src: Path, plan: SegmentPlan, pieces: Sequence[Path], dst: Path, *, overwrite: bool, faststart: bool = True
) -> JoinResult:
    """Join the converted ``pieces`` of ``src`` into ``dst`` (temp file beside it, then renamed).

    ``faststart`` as for :class:`~livebokeh.sinks.video.VideoFileSink`.

    Raises :class:`InputError` when a piece does not hold exactly the frames the plan gives
    it, or the pieces were encoded differently (they cannot be joined by copying).
    """
    if len(pieces) != len(plan.pieces):
        raise InputError(f"{src}: {len(pieces)} converted pieces for a plan of {len(plan.pieces)}")
    first_info = _stream_info(pieces[0])
    for path in pieces[1:]:
        if _stream_info(path) != first_info:
            raise InputError(f"{src}: its converted pieces were encoded differently and cannot be joined")
    with av.open(str(src)) as inp, av.open(str(pieces[0])) as head:
        template = head.streams.video[0]
        rate = inp.streams.video[0].average_rate or template.average_rate or Fraction(30)
        sink = VideoFileSink(dst, fps=rate, overwrite=overwrite, time_base=plan.time_base, faststart=faststart)
        try:
            sink.add_video_copy(template)
            routes = {a.index: sink.add_audio(a) for a in inp.streams.audio}
            audio = [f"#{i} {r.codec} {r.how}" for i, r in routes.items()]
            video = _video_packets(src, plan, pieces)
            sound = _audio_packets(inp)
            last_dts: int | None = None
            for _, kind, packet in heapq.merge(video, sound, key=lambda item: item[0]):
                if kind == "video":
                    if last_dts is not None and packet.dts <= last_dts:
                        packet.dts = last_dts + 1
                    if packet.dts > packet.pts:
                        raise InputError(f"{src}: the pieces' decoding order cannot be kept in one stream")
                    last_dts = packet.dts
                    sink.write_video_packet(packet)
                else:
                    sink.write_audio(routes[packet.stream.index], packet)
            if sink.frames_written != len(plan.frame_pts):
                raise InputError(f"{src}: joined {sink.frames_written} frames of {len(plan.frame_pts)}")
            frames = sink.frames_written
            sink.close()
        except BaseException:
            sink.abort()
            raise
    return JoinResult(frames=frames, audio=audio)


def _stream_info(path: Path) -> tuple[Any, ...]:
    with av.open(str(path)) as c:
        ctx = c.streams.video[0].codec_context
        return (ctx.name, ctx.width, ctx.height, ctx.pix_fmt, bytes(ctx.extradata or b""))


def _video_packets(src: Path, plan: SegmentPlan, pieces: Sequence[Path]) -> Iterator[tuple[float, str, Any]]:
    """Every piece's video packets restamped with the input's timestamps, keyed by decode time in seconds."""
    tb = plan.time_base
    for piece, path in zip(plan.pieces, pieces, strict=True):
        with av.open(str(path)) as c:
            own = sorted(int(p.pts) for p in c.demux(c.streams.video[0]) if p.size and p.pts is not None)
        want = plan.piece_pts(piece)
        if len(own) != len(want):
            raise InputError(
                f"{src}: piece {piece.index + 1} has {len(own)} frames where the input has {len(want)} "
                "(damaged frames?)"
            )
        to_input = _time_map(own, want)
        with av.open(str(path)) as c:
            for packet in c.demux(c.streams.video[0]):
                if packet.size == 0 or packet.pts is None:
                    continue
                packet.pts = to_input(int(packet.pts))
                packet.dts = to_input(int(packet.dts)) if packet.dts is not None else packet.pts
                packet.time_base = tb
                yield float(packet.dts * tb), "video", packet


def _audio_packets(inp: Any) -> Iterator[tuple[float, str, Any]]:
    """The input's audio packets as they are, keyed by decode time in seconds."""
    if not inp.streams.audio:
        return
    for packet in inp.demux(*inp.streams.audio):
        if packet.dts is None:
            if packet.size == 0:
                continue
            yield (float(packet.pts * packet.time_base) if packet.pts is not None else 0.0), "audio", packet
            continue
        yield float(packet.dts * packet.time_base), "audio", packet
