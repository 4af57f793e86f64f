"""Tiny media files made in the test, and damage done to them where a container states facts.

The base clips are written by PyAV in milliseconds (64x48, three frames, 0.3 s of audio,
tags, colour tags, a rotation).  The damage is structure-aware, so that a case lies
about exactly one thing and the file still gets past the demuxer's first checks:

* :class:`Box` parses ISO BMFF (MP4, MOV) into its box tree; a field is changed by
  offset inside its box, or a box is replaced, dropped or resized, and the tree is
  written back with every size recomputed.  The base files keep ``moov`` after
  ``mdat``, so a ``moov`` that grows or shrinks moves no sample data.
* :class:`Element` does the same for Matroska and WebM (EBML).  Written back, the
  Segment keeps no SeekHead or Cues (their byte offsets would be stale) and has every
  element other than the Clusters before the first Cluster, where the demuxer reads
  them in order.

Each base file also survives :func:`mp4_rewrite` / :func:`mkv_rewrite` without a change,
which the fuzz suite checks as a control: a failure there is the harness's, not the
product's.
"""

from __future__ import annotations

import math
import os
import struct
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

WIDTH, HEIGHT, FRAMES, FPS = 64, 48, 3, 10
"""The base clips' picture: tiny, so a case costs milliseconds of encoding."""

PLACEHOLDERS = {
    "title": "TITLE-placeholder-0123456789",
    "artist": "ARTIST-placeholder-012345678",
    "comment": "COMMENT-placeholder-01234567",
}
"""Container tags the base clips carry; damaged in place by :func:`replace_text` (same length)."""
STREAM_PLACEHOLDERS = {"handler_name": "HANDLER-placeholder-0123456", "title": "STREAMTITLE-placeholder-012"}
"""Tags of the video stream (MP4 keeps ``handler_name`` in the handler box, Matroska in Tags)."""
AUDIO_PLACEHOLDER = "AUDIOTITLE-placeholder-0123"
"""The audio stream's title."""


# -- base clips ------------------------------------------------------------------------------


def _picture(i: int) -> np.ndarray:
    img = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    img[:] = (40, 90, 160)
    img[HEIGHT // 2 :, WIDTH // 4 + i : 3 * WIDTH // 4 + i] = (60, 40, 150)
    img[8:24, 24 + i : 40 + i] = (130, 160, 215)
    return img


def _audio_frames(stream: Any, seconds: float = 0.3) -> Iterator[Any]:
    """A 440 Hz tone in the stream's own sample format, layout and frame size."""
    import av

    ctx = stream.codec_context
    rate = ctx.sample_rate
    size = ctx.frame_size or 1024
    fmt = ctx.format
    dtype = {"s16": np.int16, "s16p": np.int16, "flt": np.float32, "fltp": np.float32}[fmt.name]
    channels = ctx.layout.nb_channels
    t = 0
    while t < seconds * rate:
        tone = (np.sin(2 * np.pi * 440 * (np.arange(size) + t) / rate) * 0.2).astype(np.float32)
        if dtype is np.int16:
            tone = (tone * 32767).astype(np.int16)
        data = np.tile(tone, (channels, 1)) if fmt.is_planar else np.tile(tone, channels)[None, :]
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data.astype(dtype)), format=fmt.name, layout=ctx.layout)
        frame.sample_rate = rate
        frame.pts = t
        yield frame
        t += size


@dataclass(frozen=True)
class Clip:
    """How to write one base clip."""

    muxer: str  # FFmpeg muxer: mp4, mov, matroska, webm
    video: str | None = "libx264"
    audio: str | None = "aac"
    layout: str = "stereo"
    rotation: int = 0
    colour: bool = True
    tags: bool = True


CLIPS: dict[str, Clip] = {
    "mp4": Clip("mp4"),
    "mov": Clip("mov"),
    "mkv": Clip("matroska"),
    "webm": Clip("webm", video="libvpx-vp9", audio="libopus"),
    "mp4-rot": Clip("mp4", rotation=90),
    "mkv-rot": Clip("matroska", rotation=270),
    "mp4-5.1": Clip("mp4", layout="5.1"),
    "mkv-mono-flac": Clip("matroska", audio="flac", layout="mono"),
    "m4a": Clip("mp4", video=None),
    "mka": Clip("matroska", video=None, audio="flac"),
    "webm-audio": Clip("webm", video=None, audio="libopus"),
    "mp4-silent": Clip("mp4", audio=None),
}
"""The base clips by name (``m4a``, ``mka`` and ``webm-audio`` hold no video)."""

SUFFIX = {"mp4": ".mp4", "mov": ".mov", "matroska": ".mkv", "webm": ".webm"}


def _write_clip(clip: Clip, path: Path) -> None:
    import av

    with av.open(str(path), "w", format=clip.muxer) as c:
        if clip.tags:
            c.metadata.update(PLACEHOLDERS)
        vs = None
        if clip.video is not None:
            vs = c.add_stream(
                clip.video,
                rate=FPS,
                options={"deadline": "realtime", "cpu-used": "8"} if "vpx" in clip.video else {"preset": "ultrafast"},
            )
            vs.width, vs.height, vs.pix_fmt = WIDTH, HEIGHT, "yuv420p"
            if clip.tags:
                vs.metadata.update(STREAM_PLACEHOLDERS)
            if clip.colour:
                ctx = vs.codec_context
                ctx.color_primaries, ctx.color_trc, ctx.colorspace, ctx.color_range = 1, 1, 1, 1
            if clip.rotation:
                vs.set_display_rotation(clip.rotation)
        aus = None
        if clip.audio is not None:
            aus = c.add_stream(clip.audio, rate=48000)
            aus.layout = clip.layout
            if clip.tags:
                aus.metadata["title"] = AUDIO_PLACEHOLDER
        if vs is not None:
            for i in range(FRAMES):
                c.mux(vs.encode(av.VideoFrame.from_ndarray(_picture(i), format="bgr24")))
            c.mux(vs.encode(None))
        if aus is not None:
            for f in _audio_frames(aus):
                c.mux(aus.encode(f))
            c.mux(aus.encode(None))


_CACHE: dict[str, bytes] = {}


def clip_bytes(name: str) -> bytes:
    """The base clip ``name`` (see :data:`CLIPS`), made once per process."""
    if name not in _CACHE:
        clip = CLIPS[name]
        fd, tmp = tempfile.mkstemp(suffix=SUFFIX[clip.muxer])
        os.close(fd)
        try:
            _write_clip(clip, Path(tmp))
            _CACHE[name] = Path(tmp).read_bytes()
        finally:
            os.unlink(tmp)
    return _CACHE[name]


def suffix_of(name: str) -> str:
    return SUFFIX[CLIPS[name].muxer]


def replace_text(data: bytes, text: str, new: bytes) -> bytes:
    """``data`` with every occurrence of ``text`` replaced by ``new`` cut or padded to the same length."""
    old = text.encode()
    assert old in data, f"{text!r} is not in the file"
    new = (new * (len(old) // max(1, len(new)) + 1))[: len(old)]
    return data.replace(old, new)


# -- ISO BMFF (MP4, MOV) ---------------------------------------------------------------------

_BOX_PARENTS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"udta", b"edts", b"dinf", b"mvex", b"ilst", b"tref"}
_SAMPLE_ENTRY_HEAD = {b"avc1": 78, b"avc3": 78, b"hvc1": 78, b"hev1": 78, b"mp4v": 78, b"vp09": 78, b"mp4a": 28}
"""Bytes of fixed fields before the child boxes of a sample entry (visual: 78, audio: 28)."""


@dataclass
class Box:
    """One ISO BMFF box: ``head`` (fixed fields before the children) and ``children``, or a leaf ``head``."""

    kind: bytes
    head: bytes = b""
    children: list[Box] | None = None

    def find(self, *path: bytes, nth: int = 0) -> Box:
        """The ``nth`` box at ``path`` below this one (a path step ``b"trak:vide"`` picks a track by handler)."""
        found = list(self.find_all(*path))
        if len(found) <= nth:
            raise KeyError(f"no box {b'/'.join(path)!r} #{nth}")
        return found[nth]

    def find_all(self, *path: bytes) -> Iterator[Box]:
        if not path:
            yield self
            return
        step, rest = path[0], path[1:]
        kind, _, handler = step.partition(b":")
        for child in self.children or []:
            if child.kind != kind:
                continue
            if handler and child.handler() != handler:
                continue
            yield from child.find_all(*rest)

    def handler(self) -> bytes:
        try:
            return self.find(b"mdia", b"hdlr").head[8:12]
        except KeyError:
            return b""

    def set(self, offset: int, fmt: str, value: object) -> None:
        """Overwrite a big-endian field of this box's ``head`` (struct format ``fmt``) at ``offset``."""
        head = bytearray(self.head)
        struct.pack_into(">" + fmt, head, offset, value)
        self.head = bytes(head)

    def get(self, offset: int, fmt: str) -> object:
        return struct.unpack_from(">" + fmt, self.head, offset)[0]

    def to_bytes(self) -> bytes:
        body = self.head + b"".join(c.to_bytes() for c in self.children or [])
        if len(body) + 8 > 0xFFFFFFFF:
            return struct.pack(">I4sQ", 1, self.kind, len(body) + 16) + body
        return struct.pack(">I4s", len(body) + 8, self.kind) + body


def _parse_boxes(data: bytes, start: int, end: int, parent: bytes = b"") -> list[Box]:
    out = []
    i = start
    while i + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, i)
        header = 8
        if size == 1:
            size = struct.unpack_from(">Q", data, i + 8)[0]
            header = 16
        elif size == 0:
            size = end - i
        if size < header or i + size > end:
            raise ValueError(f"box {kind!r} at {i} has size {size}")
        out.append(_parse_box(kind, data[i + header : i + size], parent))
        i += size
    return out


def _parse_box(kind: bytes, payload: bytes, parent: bytes = b"") -> Box:
    if kind in _BOX_PARENTS or parent == b"ilst":  # an ilst item (a tag) holds its data box
        return Box(kind, b"", _parse_boxes(payload, 0, len(payload), kind))
    if kind == b"meta":  # a full box (4 bytes of version and flags) holding boxes
        return Box(kind, payload[:4], _parse_boxes(payload, 4, len(payload), kind))
    if kind == b"stsd":  # version/flags and an entry count, then the sample entries
        return Box(kind, payload[:8], _parse_boxes(payload, 8, len(payload)))
    if kind in _SAMPLE_ENTRY_HEAD:
        n = _SAMPLE_ENTRY_HEAD[kind]
        if kind == b"mp4a" and struct.unpack_from(">H", payload, 8)[0] == 1:  # QuickTime sound v1: 16 more
            n += 16
        return Box(kind, payload[:n], _parse_boxes(payload, n, len(payload)))
    return Box(kind, payload, None)


def mp4_parse(data: bytes) -> Box:
    """The box tree of an MP4/MOV file, under a root :class:`Box` whose children are the top-level boxes."""
    return Box(b"root", b"", _parse_boxes(data, 0, len(data)))


def mp4_write(root: Box) -> bytes:
    return b"".join(c.to_bytes() for c in root.children or [])


def mp4_rewrite(data: bytes, edit: Callable[[Box], None]) -> bytes:
    """Parse ``data``, let ``edit`` change the tree, write it back (sizes recomputed)."""
    root = mp4_parse(data)
    kinds = [c.kind for c in root.children or []]
    assert kinds.index(b"mdat") < kinds.index(b"moov"), "the base clip must keep moov after mdat"
    edit(root)
    return mp4_write(root)


# Field offsets in the head of version-0 full boxes (PyAV's base clips write version 0).
MVHD = {"timescale": (12, "I"), "duration": (16, "I"), "rate": (20, "I"), "volume": (24, "H"), "matrix": (36, "9i")}
TKHD = {
    "track_id": (12, "I"),
    "duration": (20, "I"),
    "volume": (36, "H"),
    "matrix": (40, "9i"),
    "width": (76, "I"),
    "height": (80, "I"),
}
MDHD = {"timescale": (12, "I"), "duration": (16, "I"), "language": (20, "H")}
VISUAL = {"width": (24, "H"), "height": (26, "H"), "frame_count": (40, "H"), "depth": (74, "H")}
AUDIO = {"version": (8, "H"), "channels": (16, "H"), "sample_size": (18, "H"), "sample_rate": (24, "I")}


def set_matrix(box: Box, offset: int, values: tuple[int, ...]) -> None:
    head = bytearray(box.head)
    struct.pack_into(">9i", head, offset, *values)
    box.head = bytes(head)


def rotation_matrix(degrees: float, scale: float = 1.0) -> tuple[int, ...]:
    """A display matrix (16.16 fixed point, 2.30 for the last column) for ``degrees`` clockwise."""
    a = math.radians(degrees)
    c, s = math.cos(a) * scale, math.sin(a) * scale
    fx = lambda v: int(round(v * 65536))  # noqa: E731
    return (fx(c), fx(s), 0, fx(-s), fx(c), 0, 0, 0, 1 << 30)


# -- EBML (Matroska, WebM) -------------------------------------------------------------------

EBML_MASTERS = {
    0x1A45DFA3,  # EBML header
    0x18538067,  # Segment
    0x1549A966,  # Info
    0x1654AE6B,  # Tracks
    0xAE,  # TrackEntry
    0xE0,  # Video
    0xE1,  # Audio
    0x55B0,  # Colour
    0x55D0,  # MasteringMetadata
    0x7670,  # Projection
    0x1254C367,  # Tags
    0x7373,  # Tag
    0x63C0,  # Targets
    0x67C8,  # SimpleTag
    0x1F43B675,  # Cluster
    0xA0,  # BlockGroup
    0x6D80,  # ContentEncodings
    0x6240,  # ContentEncoding
    0x1043A770,  # Chapters
    0x5034,  # ContentCompression
}
DROPPED = {0x114D9B74, 0x1C53BB6B, 0xEC}  # SeekHead, Cues, Void: offsets that would go stale
CRC32 = 0xBF
"""Dropped everywhere when a tree is written: a checksum would flag the edit rather than the lie in it."""
SEGMENT, INFO, TRACKS, TRACK, VIDEO, AUDIO_EL, COLOUR, PROJECTION = (
    0x18538067,
    0x1549A966,
    0x1654AE6B,
    0xAE,
    0xE0,
    0xE1,
    0x55B0,
    0x7670,
)
TAGS, CLUSTER, SIMPLEBLOCK, TIMESTAMP = 0x1254C367, 0x1F43B675, 0xA3, 0xE7


def _read_vint(data: bytes, i: int, *, keep_marker: bool) -> tuple[int, int]:
    first = data[i]
    if first == 0:
        raise ValueError(f"bad EBML vint at {i}")
    n = 8 - first.bit_length() + 1
    value = first if keep_marker else first & ((1 << (8 - n)) - 1)
    for b in data[i + 1 : i + n]:
        value = (value << 8) | b
    if not keep_marker and value == (1 << (7 * n)) - 1:
        value = -1  # unknown size
    return value, n


def ebml_size(n: int, width: int | None = None) -> bytes:
    """``n`` as an EBML data size (the smallest width, or ``width`` bytes)."""
    if width is None:
        width = 1
        while n >= (1 << (7 * width)) - 1:
            width += 1
    return ((1 << (7 * width)) | n).to_bytes(width, "big")


def ebml_id(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


@dataclass
class Element:
    """One EBML element: a master with ``children`` or a leaf with ``data``; ``size`` overrides the written size."""

    id: int
    data: bytes = b""
    children: list[Element] | None = None
    size: bytes | None = None

    def find_all(self, *path: int) -> Iterator[Element]:
        if not path:
            yield self
            return
        for child in self.children or []:
            if child.id == path[0]:
                yield from child.find_all(*path[1:])

    def find(self, *path: int, nth: int = 0) -> Element:
        found = list(self.find_all(*path))
        if len(found) <= nth:
            raise KeyError(f"no element {[hex(p) for p in path]} #{nth}")
        return found[nth]

    def child(self, id_: int) -> Element | None:
        return next((c for c in self.children or [] if c.id == id_), None)

    def uint(self) -> int:
        return int.from_bytes(self.data, "big")

    def to_bytes(self) -> bytes:
        body = self.data if self.children is None else b"".join(c.to_bytes() for c in self.children)
        size = self.size if self.size is not None else ebml_size(len(body), 8 if self.id == SEGMENT else None)
        return ebml_id(self.id) + size + body


def _parse_elements(data: bytes, start: int, end: int) -> list[Element]:
    out = []
    i = start
    while i < end:
        id_, n = _read_vint(data, i, keep_marker=True)
        size, m = _read_vint(data, i + n, keep_marker=False)
        body = i + n + m
        stop = end if size < 0 else body + size
        if stop > end:
            raise ValueError(f"element {id_:#x} at {i} runs past its parent")
        if id_ in EBML_MASTERS:
            out.append(Element(id_, children=_parse_elements(data, body, stop)))
        else:
            out.append(Element(id_, data=data[body:stop]))
        i = stop
    return out


def mkv_parse(data: bytes) -> Element:
    """The element tree of a Matroska/WebM file under a root element (id 0)."""
    return Element(0, children=_parse_elements(data, 0, len(data)))


def mkv_write(root: Element) -> bytes:
    """Write the tree back: no SeekHead, Cues or Void, every non-Cluster element before the first Cluster."""

    def strip(e: Element) -> None:
        if e.children is not None:
            e.children = [c for c in e.children if c.id != CRC32]
            for c in e.children:
                strip(c)

    strip(root)
    for seg in root.find_all(SEGMENT):
        kids = [c for c in seg.children or [] if c.id not in DROPPED]
        seg.children = [c for c in kids if c.id != CLUSTER] + [c for c in kids if c.id == CLUSTER]
    return b"".join(c.to_bytes() for c in root.children or [])


def mkv_rewrite(data: bytes, edit: Callable[[Element], None]) -> bytes:
    root = mkv_parse(data)
    edit(root)
    return mkv_write(root)


def track_type(entry: Element) -> int:
    """The TrackType of a TrackEntry (1 video, 2 audio), 0 if it has none."""
    t = entry.child(0x83)
    return t.uint() if t is not None else 0


def mkv_track(root: Element, kind: int) -> Element:
    """The first TrackEntry whose TrackType is ``kind`` (1 video, 2 audio)."""
    for entry in root.find_all(SEGMENT, TRACKS, TRACK):
        if track_type(entry) == kind:
            return entry
    raise KeyError(f"no track of type {kind}")


def set_child(parent: Element, id_: int, data: bytes) -> None:
    """Give ``parent`` a leaf child ``id_`` holding ``data`` (replacing the first one, else appending)."""
    assert parent.children is not None
    for c in parent.children:
        if c.id == id_:
            c.data = data
            c.children = None
            return
    parent.children.append(Element(id_, data=data))


def uint_bytes(value: int) -> bytes:
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def float_bytes(value: float) -> bytes:
    return struct.pack(">d", value)


def box_offset(data: bytes, kind: bytes, nth: int = 0) -> tuple[int, int]:
    """Byte offset and size of the ``nth`` box of ``kind`` anywhere in the file (depth first)."""
    found: list[tuple[int, int]] = []

    def walk(start: int, end: int) -> None:
        i = start
        while i + 8 <= end:
            size, k = struct.unpack_from(">I4s", data, i)
            header = 8
            if size == 1:
                size = struct.unpack_from(">Q", data, i + 8)[0]
                header = 16
            elif size == 0:
                size = end - i
            if k == kind:
                found.append((i, size))
            body = i + header
            if k in _BOX_PARENTS:
                walk(body, i + size)
            elif k == b"meta":
                walk(body + 4, i + size)
            elif k == b"stsd":
                walk(body + 8, i + size)
            elif k in _SAMPLE_ENTRY_HEAD:
                walk(body + _SAMPLE_ENTRY_HEAD[k], i + size)
            i += size

    walk(0, len(data))
    return found[nth]
