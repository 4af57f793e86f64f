"""Fuzzed bad input for ``photo`` and ``convert``: a clear error or a correct output, never worse.

Over 200 malformed inputs are generated from tiny real media (64x48 images, a
0.3 s clip): truncations, bit flips, zero-byte files, wrong extensions, headers
claiming huge dimensions, a folder given as a file, special files (FIFO,
/dev/zero), non-UTF-8 names and unreadable files.  Each one runs through
``livebokeh._cli.main`` in-process under a per-case time bound; a few run as real
subprocesses to prove there is no traceback and no interpreter crash.  Every case
must end either with exit 1 and exactly one ``livebokeh: error:`` line on stderr,
or with exit 0 and a readable output - and after a failure nothing may be left in
the output folder (no file under the final name, no temporary file).

The second half ("containers that lie") takes tiny valid MP4, MOV, MKV and WebM clips
(tests/fuzz_media.py) and makes each one state one false thing: tags that are not
UTF-8, impossible stream and codec parameters, sizes, frame rates, time bases,
rotations, colour tags and audio layouts, tracks that are missing or undecodable,
audio-only files, box and element sizes that lie.  A damaged tag, colour tag or
rotation must still convert.  ``LIVEBOKEH_FUZZ_REPORT=FILE`` writes the outcome of
each of these cases and the counts per container and class.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import random
import signal
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import fuzz_media as fm
import numpy as np
import pytest
from fuzz_media import Box, Element

from livebokeh._cli import main as cli_main

CASE_LIMIT_S = 30.0
"""Hang detector: a case still running after this long fails (normal cases take well under a second)."""

IMAGE_EXTS = (".png", ".jpg", ".bmp", ".webp", ".tiff")
VIDEO_EXTS = (".mp4", ".mkv")
TRUNCATE = (0.0, 0.01, 0.05, 0.15, 0.3, 0.5, 0.7, 0.85, 0.95, 0.995)
FLIPS = [(seed, n) for seed in range(4) for n in (1, 8, 64)]  # 12 per base file


# -- base media -------------------------------------------------------------------------------


def _picture() -> np.ndarray:
    """A 64x48 picture with a head-and-shoulders blob (so the segmenter has something to do)."""
    img = np.zeros((48, 64, 3), np.uint8)
    img[:] = (40, 90, 160)
    cv2.ellipse(img, (32, 48), (20, 18), 0, 180, 360, (60, 40, 150), -1)
    cv2.circle(img, (32, 20), 9, (130, 160, 215), -1)
    return img


def _encode_image(ext: str) -> bytes:
    ok, buf = cv2.imencode(ext, _picture())
    assert ok
    return buf.tobytes()


def _encode_video(ext: str) -> bytes:
    import av

    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"livebokeh-fuzz-base-{os.getpid()}{ext}"
    with av.open(str(out), "w") as c:
        s = c.add_stream("libx264" if ext == ".mp4" else "mpeg4", rate=10)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for i in range(3):  # 0.3 s
            img = np.roll(_picture(), 2 * i, axis=1)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    data = out.read_bytes()
    out.unlink()
    return data


_BASE: dict[str, bytes] = {}


def base(ext: str) -> bytes:
    """The valid file of type ``ext``, made once."""
    if ext not in _BASE:
        _BASE[ext] = _encode_video(ext) if ext in VIDEO_EXTS else _encode_image(ext)
    return _BASE[ext]


# -- malformed headers ------------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_claiming(width: int, height: int) -> bytes:
    """A well-formed PNG (valid CRCs) whose IHDR claims ``width x height`` but holds a few bytes of pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" + b"\x80" * 30)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def bmp_claiming(width: int, height: int, bpp: int = 24, data_offset: int = 54) -> bytes:
    """A BMP whose header lies about its size (pixel data is 64 bytes)."""
    pixels = b"\x7f" * 64
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, bpp, 0, len(pixels), 2835, 2835, 0, 0)
    head = struct.pack("<2sIHHI", b"BM", 14 + len(info) + len(pixels), 0, 0, data_offset)
    return head + info + pixels


def jpeg_claiming(width: int, height: int) -> bytes:
    """The base JPEG with its SOF marker patched to claim ``width x height``."""
    data = bytearray(base(".jpg"))
    i = 2
    while i < len(data) - 9:
        if data[i] == 0xFF and data[i + 1] in (0xC0, 0xC1, 0xC2):
            struct.pack_into(">HH", data, i + 5, height, width)
            return bytes(data)
        i += 2 + struct.unpack_from(">H", data, i + 2)[0]
    raise AssertionError("no SOF marker in the base JPEG")


def tiff_claiming(width: int, height: int) -> bytes:
    """A little-endian TIFF with one strip of 64 bytes but tags claiming ``width x height``."""
    entries = [
        (256, 4, 1, width),  # ImageWidth
        (257, 4, 1, height),  # ImageLength
        (258, 3, 1, 8),  # BitsPerSample
        (259, 3, 1, 1),  # Compression: none
        (262, 3, 1, 1),  # Photometric: black is zero
        (273, 4, 1, 8 + 2 + 12 * 8 + 4),  # StripOffsets
        (277, 3, 1, 1),  # SamplesPerPixel
        (279, 4, 1, 64),  # StripByteCounts
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        ifd += struct.pack("<HHII", tag, typ, count, value)
    ifd += struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + b"\x40" * 64


def y4m_claiming(width: int, height: int) -> bytes:
    """A YUV4MPEG2 stream whose header claims ``width x height`` followed by one tiny frame."""
    return f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode() + b"FRAME\n" + b"\x80" * 4608


# -- cases ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One malformed input: which command, the input's file name and how to make it."""

    id: str
    command: str  # "photo" or "convert"
    name: str | bytes  # input file name (bytes: a non-UTF-8 name)
    make: Callable[[Path], None]  # writes the input at the given path
    must_fail: bool = False


def _bytes_maker(data_fn: Callable[[], bytes]) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        path.write_bytes(data_fn())

    return make


def _truncated(ext: str, frac: float) -> Callable[[], bytes]:
    return lambda: base(ext)[: int(len(base(ext)) * frac)]


def _flipped(ext: str, seed: int, nbits: int) -> Callable[[], bytes]:
    def data() -> bytes:
        raw = bytearray(base(ext))
        rng = random.Random(f"{ext}-{seed}-{nbits}")
        for _ in range(nbits):
            pos = rng.randrange(len(raw))
            raw[pos] ^= 1 << rng.randrange(8)
        return bytes(raw)

    return data


def _mkdir(path: Path) -> None:
    path.mkdir()


def _mkfifo(path: Path) -> None:
    os.mkfifo(path)


def _devzero(path: Path) -> None:
    path.symlink_to("/dev/zero")


def build_cases() -> list[Case]:
    cases: list[Case] = []
    for ext in IMAGE_EXTS:
        stem = ext[1:]
        for frac in TRUNCATE:
            cases.append(
                Case(f"photo-trunc-{stem}-{frac}", "photo", f"in{ext}", _bytes_maker(_truncated(ext, frac)), frac == 0)
            )
        for seed, n in FLIPS:
            cases.append(
                Case(f"photo-flip-{stem}-{seed}-{n}", "photo", f"in{ext}", _bytes_maker(_flipped(ext, seed, n)))
            )
        for other in IMAGE_EXTS:
            if other != ext:  # right content, wrong extension: decoded by content
                cases.append(
                    Case(f"photo-ext-{stem}-as-{other[1:]}", "photo", f"in{other}", _bytes_maker(lambda e=ext: base(e)))
                )
        cases.append(Case(f"photo-zero-{stem}", "photo", f"in{ext}", _bytes_maker(lambda: b""), True))
        cases.append(Case(f"photo-dir-{stem}", "photo", f"in{ext}", _mkdir, True))
        cases.append(Case(f"photo-video-as-{stem}", "photo", f"in{ext}", _bytes_maker(lambda: base(".mp4")), True))
    huge = [
        ("png-100000", png_claiming(100_000, 100_000)),
        ("png-2^31", png_claiming(2**31 - 1, 2**31 - 1)),
        ("png-1x100000000", png_claiming(1, 100_000_000)),
        ("png-0x0", png_claiming(0, 0)),
        ("png-20000x20000", png_claiming(20_000, 20_000)),
        ("bmp-100000", bmp_claiming(100_000, 100_000)),
        ("bmp-negative", bmp_claiming(64, -(2**31) + 1)),
        ("bmp-zero", bmp_claiming(0, 48)),
        ("bmp-bpp-99", bmp_claiming(64, 48, bpp=99)),
        ("bmp-offset-past-end", bmp_claiming(64, 48, data_offset=10_000_000)),
        ("bmp-30000x30000", bmp_claiming(30_000, 30_000)),
        ("jpeg-65500", jpeg_claiming(65_500, 65_500)),
        ("jpeg-0", jpeg_claiming(0, 0)),
        ("tiff-100000", tiff_claiming(100_000, 100_000)),
        ("tiff-2^32", tiff_claiming(2**32 - 1, 2**32 - 1)),
    ]
    for label, data in huge:
        ext = "." + label.split("-")[0].replace("jpeg", "jpg").replace("tiff", "tif")
        cases.append(Case(f"photo-header-{label}", "photo", f"in{ext}", _bytes_maker(lambda d=data: d), True))
        cases.append(Case(f"convert-header-{label}", "convert", f"in{ext}", _bytes_maker(lambda d=data: d), True))
    for ext in VIDEO_EXTS:
        stem = ext[1:]
        for frac in TRUNCATE:
            cases.append(
                Case(
                    f"convert-trunc-{stem}-{frac}",
                    "convert",
                    f"in{ext}",
                    _bytes_maker(_truncated(ext, frac)),
                    frac == 0,
                )
            )
        for seed, n in FLIPS:
            cases.append(
                Case(f"convert-flip-{stem}-{seed}-{n}", "convert", f"in{ext}", _bytes_maker(_flipped(ext, seed, n)))
            )
        cases.append(Case(f"convert-zero-{stem}", "convert", f"in{ext}", _bytes_maker(lambda: b""), True))
        cases.append(Case(f"convert-dir-{stem}", "convert", f"in{ext}", _mkdir, True))
        cases.append(
            Case(f"convert-text-as-{stem}", "convert", f"in{ext}", _bytes_maker(lambda: b"hello\n" * 50), True)
        )
        cases.append(Case(f"convert-png-as-{stem}", "convert", f"in{ext}", _bytes_maker(lambda: base(".png"))))
    for ext in (".mov", ".webm", ".avi"):
        cases.append(Case(f"convert-ext-mp4-as-{ext[1:]}", "convert", f"in{ext}", _bytes_maker(lambda: base(".mp4"))))
        cases.append(Case(f"convert-zero-{ext[1:]}", "convert", f"in{ext}", _bytes_maker(lambda: b""), True))
    for w, h in ((100_000, 100_000), (0, 0), (65_536, 2), (1, 1)):
        cases.append(
            Case(f"convert-y4m-{w}x{h}", "convert", "in.y4m", _bytes_maker(lambda w=w, h=h: y4m_claiming(w, h)), True)
        )
    for cmd in ("photo", "convert"):
        ext = ".png" if cmd == "photo" else ".mp4"
        cases.append(Case(f"{cmd}-fifo", cmd, f"in{ext}", _mkfifo, True))
        cases.append(Case(f"{cmd}-devzero", cmd, f"in{ext}", _devzero, True))
        cases.append(Case(f"{cmd}-missing", cmd, f"in{ext}", lambda p: None, True))
        cases.append(
            Case(f"{cmd}-non-utf8-name", cmd, b"\xff\xfe-caf\xe9" + ext.encode(), _bytes_maker(lambda e=ext: base(e)))
        )
        cases.append(
            Case(
                f"{cmd}-non-utf8-name-truncated",
                cmd,
                b"bad-\xc3\x28" + ext.encode(),
                _bytes_maker(_truncated(ext, 0.3)),
            )
        )
    return cases


CASES = build_cases()
OUT_NAMES = {"photo": "result.png", "convert": "result.mp4"}


def test_there_are_at_least_200_distinct_cases():
    assert len(CASES) >= 200
    assert len({c.id for c in CASES}) == len(CASES)


# -- running a case ---------------------------------------------------------------------------


class CaseTimeout(BaseException):
    """A fuzz case ran past :data:`CASE_LIMIT_S`."""


@contextlib.contextmanager
def time_bound(seconds: float) -> Iterator[None]:
    """Raise :class:`CaseTimeout` in the main thread if the block runs longer than ``seconds``."""

    def on_alarm(signum: int, frame: object) -> None:
        raise CaseTimeout(f"still running after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def make_input(case: Case, folder: Path) -> Path:
    name = case.name if isinstance(case.name, str) else os.fsdecode(case.name)
    path = folder / name
    case.make(path)
    return path


def command(case: Case, src: Path, out: Path) -> list[str]:
    if case.command == "photo":
        return ["photo", str(src), "-o", str(out), "-q", "--no-config"]
    return ["convert", str(src), "-o", str(out), "-q", "--no-config", "--preset", "ultrafast"]


def check_output(case: Case, out: Path) -> None:
    """A success must have written a real, readable output of the right kind."""
    assert out.is_file(), f"{case.id}: exit 0 but no output"
    if case.command == "photo":
        img = cv2.imread(str(out))
        assert img is not None and img.ndim == 3 and img.size > 0, f"{case.id}: output is not an image"
    else:
        import av

        with av.open(str(out)) as c:
            n = sum(1 for _ in c.decode(video=0))
        assert n >= 1, f"{case.id}: output video has no frames"


class _SharedSegmenter:
    """One loaded model for every case (loading it ~200 times would dominate the run); ``close`` is a no-op."""

    def __init__(self, inner: object) -> None:
        self.inner = inner

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.inner, name)

    def close(self) -> None:
        pass


@pytest.fixture(scope="module", autouse=True)
def shared_model() -> Iterator[None]:
    from livebokeh.runtime import convert as convert_module
    from livebokeh.runtime import photo as photo_module
    from livebokeh.segmentation import create_segmenter

    cache: dict[tuple, _SharedSegmenter] = {}

    def create(model=None, **kw):  # type: ignore[no-untyped-def]
        key = (str(model), tuple(sorted(kw.items())))
        if key not in cache:
            cache[key] = _SharedSegmenter(create_segmenter(model, **kw))
        return cache[key]

    from livebokeh.segmentation import onnx

    mattings: dict[tuple, object] = {}
    open_matting = onnx.OnnxMatting

    def matting(*args, **kw):  # type: ignore[no-untyped-def]  # one session for every photo case
        key = (args, tuple(sorted(kw.items())))
        if key not in mattings:
            mattings[key] = open_matting(*args, **kw)
        return mattings[key]

    mp = pytest.MonkeyPatch()
    mp.setattr(onnx, "OnnxMatting", matting)
    mp.setattr(photo_module, "create_segmenter", create)
    mp.setattr(convert_module, "create_segmenter", create)
    yield
    mp.undo()
    for seg in cache.values():
        seg.inner.close()  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def fuzz_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_input_gives_a_clear_error_or_a_correct_output(case: Case, fuzz_root: Path, capsys) -> None:
    work = fuzz_root / case.id
    src_dir, out_dir = work / "in", work / "out"
    src_dir.mkdir(parents=True)
    out_dir.mkdir()
    src = make_input(case, src_dir)
    out = out_dir / OUT_NAMES[case.command]
    t0 = time.monotonic()
    with time_bound(CASE_LIMIT_S):
        code = cli_main(command(case, src, out))
    elapsed = time.monotonic() - t0
    captured = capsys.readouterr()
    err_lines = [line for line in captured.err.splitlines() if line.strip()]
    assert elapsed < CASE_LIMIT_S
    assert "Traceback" not in captured.err
    if code == 0:
        assert not case.must_fail, f"{case.id}: expected an error, got exit 0"
        check_output(case, out)
        assert sorted(p.name for p in out_dir.iterdir()) == [out.name], "temporary files left beside the output"
    else:
        assert code == 1, f"{case.id}: exit {code}, stderr: {captured.err!r}"
        assert len(err_lines) == 1, f"{case.id}: expected one error line, got {err_lines!r}"
        assert err_lines[0].startswith("livebokeh: error: "), err_lines
        assert err_lines[0].isprintable(), f"{case.id}: control characters in {err_lines[0]!r}"
        assert list(out_dir.iterdir()) == [], f"{case.id}: output folder not empty after a failure"


def test_unreadable_input_is_a_clear_error(tmp_path, capsys, monkeypatch):
    """A file the user may not read.  We run as root here, where permissions do not stop reads, so the
    read itself is made to fail with EACCES (the subprocess test below does it for real as ``nobody``)."""
    src = tmp_path / "in.png"
    src.write_bytes(base(".png"))
    out = tmp_path / "out.png"
    real_fromfile = np.fromfile

    def denied(file, *a, **k):  # type: ignore[no-untyped-def]
        if str(file) == str(src):
            raise PermissionError(13, "Permission denied", str(file))
        return real_fromfile(file, *a, **k)

    monkeypatch.setattr(np, "fromfile", denied)
    assert cli_main(["photo", str(src), "-o", str(out), "-q", "--no-config"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "permission denied" in err[0].lower()
    assert not out.exists()


def test_unreadable_video_is_a_clear_error(tmp_path, capsys, monkeypatch):
    """As above for ``convert``: opening the file fails with EACCES."""
    import av

    src = tmp_path / "in.mp4"
    src.write_bytes(base(".mp4"))
    out = tmp_path / "out.mp4"
    real_open = av.open

    def denied(file, *a, **k):  # type: ignore[no-untyped-def]
        if str(file) == str(src):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *a, **k)

    monkeypatch.setattr(av, "open", denied)
    assert cli_main(["convert", str(src), "-o", str(out), "-q", "--no-config"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "permission denied" in err[0].lower()
    assert not out.exists()


# -- real subprocesses ------------------------------------------------------------------------


def _drop_to_nobody() -> None:  # pragma: no cover - runs in the child
    os.setgid(65534)
    os.setuid(65534)


SUBPROCESS_CASES = [
    "photo-header-png-100000",
    "photo-trunc-png-0.5",  # OpenCV's own C-level warning must not become a second line
    "convert-trunc-mp4-0.5",
    "convert-header-png-100000",
    "convert-flip-mkv-1-64",
    "photo-non-utf8-name",
]


@pytest.mark.slow
@pytest.mark.parametrize("case_id", SUBPROCESS_CASES + ["unreadable-photo", "unreadable-convert"])
def test_malformed_input_in_a_subprocess_has_no_traceback(case_id: str, tmp_path_factory) -> None:
    import tempfile

    work = Path(tempfile.mkdtemp(prefix="livebokeh-fuzz-"))
    os.chmod(work, 0o777)  # the unreadable cases run as nobody
    try:
        preexec = None
        if case_id.startswith("unreadable"):
            cmd_name = case_id.split("-")[1]
            if os.geteuid() != 0:
                pytest.skip("needs root to run the child as another user")
            ext = ".png" if cmd_name == "photo" else ".mp4"
            case = Case(case_id, cmd_name, f"in{ext}", _bytes_maker(lambda: base(ext)), True)
            preexec = _drop_to_nobody
        else:
            case = next(c for c in CASES if c.id == case_id)
        src = make_input(case, work)
        if preexec is not None:
            os.chmod(src, 0o000)
        out = work / OUT_NAMES[case.command]
        repo = Path(__file__).resolve().parents[1]
        env = {**os.environ, "PYTHONPATH": str(repo), "HOME": str(work), "NUMBA_CACHE_DIR": str(work / "numba")}
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "livebokeh", *command(case, src, out)],
                capture_output=True,
                timeout=120,
                env=env,
                cwd=work,
                preexec_fn=preexec,
            )
        except PermissionError:
            assert preexec is not None
            pytest.skip("user nobody cannot run this Python (a root-only interpreter); the in-process test covers it")
        err = proc.stderr.decode("utf-8", "replace")
        assert "Traceback" not in err, err
        assert proc.returncode in (0, 1), f"exit {proc.returncode} (a negative code is a crash): {err}"
        if proc.returncode == 1:
            lines = [line for line in err.splitlines() if line.strip()]
            assert len(lines) == 1 and lines[0].startswith("livebokeh: error: "), lines
            assert not out.exists()
            if preexec is not None:
                assert "permission" in err.lower()
        else:
            assert not case.must_fail
            check_output(case, out)
    finally:
        import shutil

        shutil.rmtree(work, ignore_errors=True)


# -- containers that lie ----------------------------------------------------------------------
#
# Every case below takes one tiny, valid clip (tests/fuzz_media.py) and makes its container
# state one thing that is not so: a tag that is not UTF-8, a codec, size, rate, time base,
# rotation, colour tag or audio layout no stream has, a track that is not there, a box or
# element size that runs past its parent.  Each is converted into the same container kind,
# and must end as every case above: one error line, or a readable output.

BAD_TEXT = {
    "invalid-start": b"\xff\xfe",
    "lone-lead": b"caf\xc3",
    "overlong": b"\xc0\xaf",
    "surrogate": b"\xed\xa0\x80",
    "latin1": "café ünï".encode("latin-1"),
    "nul": b"a\x00b",
    "escape": b"\x1b[2J\r\n\x07",
}
"""Bytes a tag may hold that are not the UTF-8 text the container promises (cut or repeated to the tag's length)."""

CLASSES = ("tags", "stream-params", "sizes", "rates", "rotation", "colour", "audio", "no-video", "structure")
"""What a case lies about (``control`` cases lie about nothing: they check the harness)."""
DEFAULT_EXPECT = {"tags": "ok", "colour": "ok", "rotation": "ok"}
"""A damaged tag, colour tag or rotation must not cost the user the video: those cases must convert."""
FAST_MATTE = ["--no-crops", "--no-refine", "--no-temporal"]
"""The container is under test here, not the matte: its extra passes would only cost time."""


@dataclass(frozen=True)
class ContainerCase:
    """One lie in one base clip."""

    id: str
    kind: str  # one of CLASSES, or "control"
    base: str  # a name in fuzz_media.CLIPS
    damage: Callable[[bytes], bytes]
    expect: str = "any"  # "any": an error line or a valid output; "ok": a valid output; "error": an error line

    @property
    def family(self) -> str:
        return {".mp4": "mp4", ".mov": "mp4", ".mkv": "mkv", ".webm": "webm"}[fm.suffix_of(self.base)]


def _mp4(edit: Callable[[Box], None]) -> Callable[[bytes], bytes]:
    return lambda data: fm.mp4_rewrite(data, edit)


def _mkv(edit: Callable[[Element], None]) -> Callable[[bytes], bytes]:
    return lambda data: fm.mkv_rewrite(data, edit)


def _in_place(text: str, bad: bytes) -> Callable[[bytes], bytes]:
    return lambda data: fm.replace_text(data, text, bad)


def _field(
    path: tuple[bytes, ...], table: dict[str, tuple[int, str]], name: str, value: int
) -> Callable[[bytes], bytes]:
    offset, fmt = table[name]
    return _mp4(lambda root: root.find(*path).set(offset, fmt, value))


def _set_at(path: tuple[bytes, ...], offset: int, fmt: str, value: object) -> Callable[[bytes], bytes]:
    return _mp4(lambda root: root.find(*path).set(offset, fmt, value))


def _drop_box(path: tuple[bytes, ...], kind: bytes) -> Callable[[bytes], bytes]:
    def edit(root: Box) -> None:
        parent = root.find(*path)
        parent.children = [c for c in parent.children or [] if c.kind != kind]

    return _mp4(edit)


def _rename_box(path: tuple[bytes, ...], kind: bytes) -> Callable[[bytes], bytes]:
    def edit(root: Box) -> None:
        root.find(*path).kind = kind

    return _mp4(edit)


def _edit_head(path: tuple[bytes, ...], fn: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    def edit(root: Box) -> None:
        box = root.find(*path)
        box.head = fn(box.head)

    return _mp4(edit)


def _tracks(
    keep: Callable[[Box], bool], extra: Callable[[list[Box]], list[Box]] | None = None
) -> Callable[[bytes], bytes]:
    def edit(root: Box) -> None:
        moov = root.find(b"moov")
        traks = [c for c in moov.children or [] if c.kind == b"trak"]
        moov.children = [c for c in moov.children or [] if c.kind != b"trak" or keep(c)]
        moov.children += extra(traks) if extra is not None else []

    return _mp4(edit)


def _copy_track(handler: bytes, track_id: int, sample_entry: bytes | None = None) -> Callable[[list[Box]], list[Box]]:
    def extra(traks: list[Box]) -> list[Box]:
        t = copy.deepcopy(next(x for x in traks if x.handler() == handler))
        t.find(b"tkhd").set(12, "I", track_id)
        if sample_entry is not None:
            t.find(b"mdia", b"minf", b"stbl", b"stsd", b"mp4a").kind = sample_entry
        return [t]

    return extra


def _asc(fn: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    """Change the AAC AudioSpecificConfig inside the esds box."""

    def edit(root: Box) -> None:
        box = root.find(*ASTBL, b"stsd", b"mp4a", b"esds")
        i = box.head.rindex(b"\x05")  # DecoderSpecificInfo tag, then its length (1 or 4 bytes)
        n = 5 if box.head[i + 1] == 0x80 else 2
        box.head = box.head[: i + n] + fn(box.head[i + n :])

    return _mp4(edit)


VIDEO_TRAK = (b"moov", b"trak:vide")
AUDIO_TRAK = (b"moov", b"trak:soun")
VSTBL = (*VIDEO_TRAK, b"mdia", b"minf", b"stbl")
ASTBL = (*AUDIO_TRAK, b"mdia", b"minf", b"stbl")
AVC1 = (*VSTBL, b"stsd", b"avc1")
MP4A = (*ASTBL, b"stsd", b"mp4a")
MATRICES = {
    "rot90": fm.rotation_matrix(90),
    "rot180": fm.rotation_matrix(180),
    "rot270": fm.rotation_matrix(-90),
    "rot45": fm.rotation_matrix(45),
    "rot30-scaled": fm.rotation_matrix(30, 3.7),
    "mirror": (-65536, 0, 0, 0, 65536, 0, 0, 0, 1 << 30),
    "zero": (0,) * 9,
    "huge": (0x7FFFFFFF, 0, 0, 0, 0x7FFFFFFF, 0, 0, 0, 1 << 30),
    "perspective": (65536, 0, 0x40000000, 0, 65536, 0x40000000, 0, 0, 0),
    "min": (-(2**31),) * 9,
}
"""Display matrices for the video track header: rotations, a mirror, and matrices no picture has."""


def _tag_cases(base: str, add: Callable[..., None], places: list[tuple[str, str]], per_place: int) -> None:
    kinds = list(BAD_TEXT)
    for i, (key, text) in enumerate(places):
        for k in (kinds[i % len(kinds)], kinds[(i + 3) % len(kinds)])[:per_place]:
            add(f"tag-{key}-{k}", "tags", _in_place(text, BAD_TEXT[k]))


def mp4_cases(base: str, only: tuple[str, ...] = ()) -> list[ContainerCase]:
    """Lies in an MP4 or MOV file (``only``: just these classes and the control)."""
    out: list[ContainerCase] = []
    mov = fm.CLIPS[base].muxer == "mov"
    has_audio = fm.CLIPS[base].audio is not None

    def add(name: str, kind: str, damage: Callable[[bytes], bytes], expect: str = "") -> None:
        if not only or kind in only or kind == "control":
            out.append(ContainerCase(f"{base}-{name}", kind, base, damage, expect or DEFAULT_EXPECT.get(kind, "any")))

    add("control", "control", _mp4(lambda root: None), "ok")
    places = [*fm.PLACEHOLDERS.items(), *(("v" + k, v) for k, v in fm.STREAM_PLACEHOLDERS.items())]
    _tag_cases(base, add, places + ([("atitle", fm.AUDIO_PLACEHOLDER)] if has_audio else []), 2)
    if not mov:  # MOV keeps its tags straight in udta, MP4 in an iTunes ilst
        ilst = (b"moov", b"udta", b"meta", b"ilst")
        add(
            "tag-title-100k-latin1",
            "tags",
            _edit_head((*ilst, b"\xa9nam", b"data"), lambda h: h[:8] + b"\xe9" * 100_000),
        )
        add("tag-key-binary", "tags", _rename_box((*ilst, b"\xa9ART"), b"\xff\xfe\x00\x01"))
        add("tag-data-type", "tags", _set_at((*ilst, b"\xa9nam", b"data"), 0, "I", 0x00FFFFFF))
    for name, value in (("timescale", 0), ("timescale", 1), ("timescale", 0xFFFFFFFF), ("duration", 0xFFFFFFFF)):
        add(f"mvhd-{name}-{value:x}", "rates", _field((b"moov", b"mvhd"), fm.MVHD, name, value))
    add("mvhd-rate-0", "rates", _field((b"moov", b"mvhd"), fm.MVHD, "rate", 0))
    for name, value in (("width", 0), ("height", 0), ("width", 0xFFFF0000), ("height", 0xFFFFFFFF)):
        add(f"tkhd-{name}-{value:x}", "sizes", _field((*VIDEO_TRAK, b"tkhd"), fm.TKHD, name, value))
    add("tkhd-track-id-0", "stream-params", _field((*VIDEO_TRAK, b"tkhd"), fm.TKHD, "track_id", 0))
    add("tkhd-duration-max", "rates", _field((*VIDEO_TRAK, b"tkhd"), fm.TKHD, "duration", 0xFFFFFFFF))
    if has_audio:

        def same_ids(root: Box) -> None:
            root.find(*AUDIO_TRAK, b"tkhd").set(12, "I", root.find(*VIDEO_TRAK, b"tkhd").get(12, "I"))

        add("tkhd-duplicate-track-id", "stream-params", _mp4(same_ids))
    for label, m in MATRICES.items():
        add(
            f"rotation-{label}",
            "rotation",
            _mp4(lambda root, m=m: fm.set_matrix(root.find(*VIDEO_TRAK, b"tkhd"), 40, m)),
        )
    for name, value in (
        ("timescale", 0),
        ("timescale", 1),
        ("timescale", 3),
        ("timescale", 0x7FFFFFFF),
        ("timescale", 0xFFFFFFFF),
        ("duration", 0),
        ("duration", 0xFFFFFFFF),
        ("language", 0xFFFF),
    ):
        add(f"vmdhd-{name}-{value:x}", "rates", _field((*VIDEO_TRAK, b"mdia", b"mdhd"), fm.MDHD, name, value))
    for handler in (b"soun", b"text", b"meta", b"zzzz", b"\0\0\0\0"):
        label = handler.strip(b"\0").decode() or "nul"
        add(f"video-handler-{label}", "no-video", _set_at((*VIDEO_TRAK, b"mdia", b"hdlr"), 8, "4s", handler))
    for value in (0, 2, 0xFFFFFFFF):
        add(f"vstsd-count-{value:x}", "stream-params", _set_at((*VSTBL, b"stsd"), 4, "I", value))
    for fourcc in (b"zzzz", b"hev1", b"mp4v", b"vp09", b"jpeg"):
        add(f"vcodec-{fourcc.decode()}", "stream-params", _rename_box(AVC1, fourcc))
    for name, value in (("width", 0), ("height", 0), ("width", 1), ("width", 0xFFFF), ("height", 0xFFFF)):
        add(f"avc1-{name}-{value:x}", "sizes", _field(AVC1, fm.VISUAL, name, value))
    add("avc1-depth-0", "stream-params", _field(AVC1, fm.VISUAL, "depth", 0))
    avcc = (*AVC1, b"avcC")
    add("avcc-truncated", "stream-params", _edit_head(avcc, lambda h: h[:5]))
    add("avcc-empty", "stream-params", _edit_head(avcc, lambda h: b""))
    add("avcc-sps-length", "stream-params", _edit_head(avcc, lambda h: h[:6] + b"\xff\xff" + h[8:]))
    add("avcc-no-sps", "stream-params", _edit_head(avcc, lambda h: h[:5] + b"\xe0" + h[6:]))
    add("avcc-profile", "stream-params", _edit_head(avcc, lambda h: h[:1] + b"\xff" + h[2:]))
    add("avcc-nal-length-1", "stream-params", _edit_head(avcc, lambda h: h[:4] + b"\xfc" + h[5:]))
    add("avcc-missing", "stream-params", _drop_box(AVC1, b"avcC"))
    colr = (*AVC1, b"colr")
    for label, offset, values in (
        ("primaries", 4, (0, 3, 255, 0xFFFF)),
        ("transfer", 6, (0, 3, 0xFFFF)),
        ("matrix", 8, (0, 3, 255, 0xFFFF)),
    ):
        for value in values:
            add(f"colr-{label}-{value:x}", "colour", _set_at(colr, offset, "H", value))
    if not mov:  # MOV's nclc has no range flag
        add("colr-full-range", "colour", _set_at(colr, 10, "B", 0xFF))
    for kind in (b"nclc", b"prof", b"zzzz"):
        add(f"colr-type-{kind.decode()}", "colour", _set_at(colr, 0, "4s", kind))
    add("colr-truncated", "colour", _edit_head(colr, lambda h: h[:5]))
    for label, offset, value in (
        ("delta-0", 12, 0),
        ("delta-1", 12, 1),
        ("delta-huge", 12, 0x7FFFFFFF),
        ("delta-max", 12, 0xFFFFFFFF),
        ("count-max", 8, 0xFFFFFFFF),
        ("entries-0", 4, 0),
        ("entries-huge", 4, 0x7FFFFFFF),
    ):
        add(f"stts-{label}", "rates", _set_at((*VSTBL, b"stts"), offset, "I", value))
    for label, value in (("min", -(2**31)), ("max", 2**31 - 1)):

        def ctts(root: Box, v: int = value) -> None:  # composition offsets: one entry for the three frames
            stbl = root.find(*VSTBL)
            stbl.children = [*(stbl.children or []), Box(b"ctts", struct.pack(">BxxxIIi", 1, 1, 3, v))]

        add(f"ctts-{label}", "rates", _mp4(ctts))
    for label, box, offset, value in (
        ("stsz-sample-max", b"stsz", 12, 0xFFFFFFFF),
        ("stsz-count-0", b"stsz", 8, 0),
        ("stsz-count-huge", b"stsz", 8, 0x7FFFFFFF),
        ("stsz-constant-huge", b"stsz", 4, 0x7FFFFFFF),
        ("stco-zero", b"stco", 8, 0),
        ("stco-past-end", b"stco", 8, 0x7FFFFFF0),
        ("stco-count-max", b"stco", 4, 0xFFFFFFFF),
        ("stsc-first-chunk-0", b"stsc", 8, 0),
        ("stsc-per-chunk-0", b"stsc", 12, 0),
        ("stsc-per-chunk-max", b"stsc", 12, 0xFFFFFFFF),
        ("stsc-description-2", b"stsc", 16, 2),
        ("stss-entry-0", b"stss", 8, 0),
        ("stss-count-0", b"stss", 4, 0),
    ):
        add(label, "stream-params", _set_at((*VSTBL, box), offset, "I", value))
    elst = (*VIDEO_TRAK, b"edts", b"elst")
    for label, offset, fmt, value in (
        ("media-time-neg", 12, "i", -2),
        ("media-time-huge", 12, "i", 2**31 - 1),
        ("duration-max", 8, "I", 0xFFFFFFFF),
        ("rate-0", 16, "I", 0),
        ("count-huge", 4, "I", 0xFFFFFF),
    ):
        add(f"elst-{label}", "rates", _set_at(elst, offset, fmt, value))
    add("drop-video-track", "no-video", _tracks(lambda t: t.handler() != b"vide"), "error")
    add("drop-all-tracks", "no-video", _tracks(lambda t: False), "error")
    add("extra-video-track", "stream-params", _tracks(lambda t: True, _copy_track(b"vide", 9)))
    if has_audio:
        for name, value in (
            ("channels", 0),
            ("channels", 1),
            ("channels", 7),
            ("channels", 0xFFFF),
            ("sample_size", 0),
            ("sample_size", 0xFFFF),
            ("sample_rate", 0),
            ("sample_rate", 1 << 16),
            ("sample_rate", 0xFFFFFFFF),
            ("version", 2),
        ):
            add(f"mp4a-{name.replace('_', '-')}-{value:x}", "audio", _field(MP4A, fm.AUDIO, name, value))
        for name, value in (("timescale", 0), ("timescale", 1), ("timescale", 0xFFFFFFFF)):
            add(f"amdhd-{name}-{value:x}", "audio", _field((*AUDIO_TRAK, b"mdia", b"mdhd"), fm.MDHD, name, value))
        if not mov:  # MOV wraps esds in a 'wave' box
            add("asc-frequency-index-15", "audio", _asc(lambda b: bytes([b[0] | 0x07, (b[1] & 0x7F) | 0x80]) + b[2:]))
            add("asc-channels-0", "audio", _asc(lambda b: bytes([b[0], b[1] & 0x87]) + b[2:]))
            add("asc-channels-7", "audio", _asc(lambda b: bytes([b[0], (b[1] & 0x87) | (7 << 3)]) + b[2:]))
            add("asc-channels-15", "audio", _asc(lambda b: bytes([b[0], (b[1] & 0x87) | (15 << 3)]) + b[2:]))
            add("asc-object-0", "audio", _asc(lambda b: bytes([b[0] & 0x07]) + b[1:]))
            add("asc-object-escape", "audio", _asc(lambda b: bytes([0xF8 | (b[0] & 0x07)]) + b[1:]))
            add("esds-truncated", "audio", _edit_head((*MP4A, b"esds"), lambda h: h[:9]))
            add("esds-missing", "audio", _drop_box(MP4A, b"esds"))
        for fourcc in (b"zzzz", b"samr", b"Opus", b"alac", b"ac-3", b"sowt", b"lpcm"):
            add(f"acodec-{fourcc.decode().replace('-', '')}", "audio", _rename_box(MP4A, fourcc))
        for handler in (b"vide", b"zzzz"):
            add(
                f"audio-handler-{handler.decode()}", "audio", _set_at((*AUDIO_TRAK, b"mdia", b"hdlr"), 8, "4s", handler)
            )
        add("drop-audio-track", "audio", _tracks(lambda t: t.handler() != b"soun"), "ok")
        add("extra-audio-no-decoder", "audio", _tracks(lambda t: True, _copy_track(b"soun", 7, b"zzzz")))
    return out


def mp4_size_cases(base: str) -> list[ContainerCase]:
    """Box sizes that lie: patched after the tree is written, so nothing recomputes them."""
    out = []
    for kind in (b"moov", b"trak", b"mdia", b"stbl", b"stsd", b"avc1", b"avcC", b"mp4a", b"ilst", b"mdat"):
        for label, value in (("0", 0), ("7", 7), ("grow", None), ("max", 0xFFFFFFFF)):

            def damage(data: bytes, kind: bytes = kind, value: int | None = value) -> bytes:
                offset, size = fm.box_offset(data, kind)
                raw = bytearray(data)
                struct.pack_into(">I", raw, offset, size + 1000 if value is None else value)
                return bytes(raw)

            out.append(ContainerCase(f"{base}-size-{kind.decode()}-{label}", "structure", base, damage))
    return out


def _track(kind: int) -> Callable[[Element], Element]:
    return lambda root: fm.mkv_track(root, kind)


def _below(track: int, *ids: int) -> Callable[[Element], Element]:
    def find(root: Element) -> Element:
        el = fm.mkv_track(root, track)
        for id_ in ids:
            child = el.child(id_)
            if child is None:
                child = Element(id_, children=[])
                el.children = [*(el.children or []), child]
            el = child
        return el

    return find


def _info(root: Element) -> Element:
    return root.find(fm.SEGMENT, fm.INFO)


def _ebml_header(root: Element) -> Element:
    return root.find(0x1A45DFA3)


def _set(where: Callable[[Element], Element], id_: int, data: bytes) -> Callable[[bytes], bytes]:
    return _mkv(lambda root: fm.set_child(where(root), id_, data))


def _uint(where: Callable[[Element], Element], id_: int, value: int) -> Callable[[bytes], bytes]:
    return _set(where, id_, fm.uint_bytes(value))


def _float(where: Callable[[Element], Element], id_: int, value: float, width: int = 8) -> Callable[[bytes], bytes]:
    return _set(where, id_, struct.pack(">d" if width == 8 else ">f", value))


def _private(track: int, fn: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    def edit(root: Element) -> None:
        entry = fm.mkv_track(root, track)
        old = entry.child(0x63A2)
        fm.set_child(entry, 0x63A2, fn(old.data if old is not None else b""))

    return _mkv(edit)


def _drop_tracks(kinds: set[int]) -> Callable[[bytes], bytes]:
    def edit(root: Element) -> None:
        tracks = root.find(fm.SEGMENT, fm.TRACKS)
        tracks.children = [t for t in tracks.children or [] if t.id != fm.TRACK or fm.track_type(t) not in kinds]

    return _mkv(edit)


def _drop_level1(id_: int) -> Callable[[bytes], bytes]:
    def edit(root: Element) -> None:
        seg = root.find(fm.SEGMENT)
        seg.children = [c for c in seg.children or [] if c.id != id_]

    return _mkv(edit)


def _block(fn: Callable[[bytearray], None], nth: int = 0) -> Callable[[bytes], bytes]:
    """Change the ``nth`` SimpleBlock of the first Cluster (track number, timestamp, flags)."""

    def edit(root: Element) -> None:
        cluster = root.find(fm.SEGMENT, fm.CLUSTER)
        block = [c for c in cluster.children or [] if c.id == fm.SIMPLEBLOCK][nth]
        raw = bytearray(block.data)
        fn(raw)
        block.data = bytes(raw)

    return _mkv(edit)


def mkv_cases(base: str, only: tuple[str, ...] = ()) -> list[ContainerCase]:
    """Lies in a Matroska or WebM file (``only``: just these classes and the control)."""
    out: list[ContainerCase] = []
    has_video = fm.CLIPS[base].video is not None
    has_audio = fm.CLIPS[base].audio is not None
    video, audio = _track(1), _track(2)

    def add(name: str, kind: str, damage: Callable[[bytes], bytes], expect: str = "") -> None:
        if not only or kind in only or kind == "control":
            out.append(ContainerCase(f"{base}-{name}", kind, base, damage, expect or DEFAULT_EXPECT.get(kind, "any")))

    if not has_video:  # audio-only: every case must end in "no video stream"
        add("control", "no-video", _mkv(lambda root: None), "error")
        for i, (key, text) in enumerate([*fm.PLACEHOLDERS.items(), ("atitle", fm.AUDIO_PLACEHOLDER)]):
            k = list(BAD_TEXT)[i % len(BAD_TEXT)]
            add(f"tag-{key}-{k}", "no-video", _in_place(text, BAD_TEXT[k]), "error")
        add("drop-audio-track", "no-video", _drop_tracks({2}), "error")
        add("audio-codec-bogus", "no-video", _set(audio, 0x86, b"A_BOGUS"), "error")
        return out
    add("control", "control", _mkv(lambda root: None), "ok")
    places = [*fm.PLACEHOLDERS.items(), *(("v" + k, v) for k, v in fm.STREAM_PLACEHOLDERS.items())]
    _tag_cases(base, add, places + ([("atitle", fm.AUDIO_PLACEHOLDER)] if has_audio else []), 2)

    def tag_name(root: Element) -> None:
        fm.set_child(root.find(fm.SEGMENT, fm.TAGS, 0x7373, 0x67C8), 0x45A3, b"\xffART\xfe")

    add("tag-name-binary", "tags", _mkv(tag_name))
    add("tag-title-100k", "tags", _set(_info, 0x7BA9, b"\xe9" * 100_000))
    add("tag-codec-id-binary", "tags", _set(video, 0x86, b"V_\xff\xfeMPEG"), "any")  # no codec left to decode
    add("tag-language-binary", "tags", _set(video, 0x22B59C, b"\xff\xfe\xfd"))
    add("tag-muxing-app-binary", "tags", _set(_info, 0x4D80, b"\xc3\x28\xa0\xa1"))
    for value in (0, 1, 10**12, 2**64 - 1):
        add(f"timestamp-scale-{value:x}", "rates", _uint(_info, 0x2AD7B1, value))
    for label, f in (("0", 0.0), ("neg", -1.0), ("nan", math.nan), ("inf", math.inf), ("huge", 1e300)):
        add(f"duration-{label}", "rates", _float(_info, 0x4489, f))
    add("duration-float32-nan", "rates", _float(_info, 0x4489, math.nan, 4))
    add("duration-3-bytes", "rates", _set(_info, 0x4489, b"\x01\x02\x03"))
    for value in (2, 0x11, 0, 0xFF):
        add(f"video-track-type-{value:x}", "no-video", _uint(video, 0x83, value))
    for value in (0, 99, 2):
        add(f"video-track-number-{value}", "stream-params", _uint(video, 0xD7, value))
    for codec in (b"V_UNKNOWN", b"", b"A_AAC", b"V_MPEGH/ISO/HEVC", b"V_MS/VFW/FOURCC", b"S_TEXT/UTF8"):
        add(f"video-codec-{codec.decode().replace('/', '_') or 'empty'}", "stream-params", _set(video, 0x86, codec))
    add("video-private-empty", "stream-params", _private(1, lambda p: b""))
    add("video-private-truncated", "stream-params", _private(1, lambda p: p[:5]))
    add("video-private-garbage", "stream-params", _private(1, lambda p: bytes(range(64))))
    add("video-private-1mb", "stream-params", _private(1, lambda p: bytes(1 << 20)))
    for value in (0, 1, 2**63, 2**64 - 1):
        add(f"default-duration-{value:x}", "rates", _uint(video, 0x23E383, value))
    add("video-disabled", "stream-params", _uint(video, 0xB9, 0))
    add("video-codec-delay-huge", "rates", _uint(video, 0x56AA, 2**63))
    add("video-track-timestamp-scale-0", "rates", _float(video, 0x23314F, 0.0))

    def header_stripping(root: Element) -> None:  # ContentCompression with algorithm 3 and bogus bytes
        compression = Element(0x5034, children=[Element(0x4254, data=b"\x03"), Element(0x4255, data=b"\xff" * 7)])
        encoding = Element(0x6240, children=[compression])
        entry = fm.mkv_track(root, 1)
        entry.children = [*(entry.children or []), Element(0x6D80, children=[encoding])]

    add("video-header-stripping", "stream-params", _mkv(header_stripping))
    picture = _below(1, fm.VIDEO)
    for el, name in ((0xB0, "width"), (0xBA, "height")):
        for value in (0, 1, 65535, 2**32 - 1, 2**64 - 1):
            add(f"pixel-{name}-{value:x}", "sizes", _uint(picture, el, value))
    for el, name in ((0x54B0, "display-width"), (0x54BA, "display-height")):
        for value in (0, 2**32 - 1):
            add(f"{name}-{value:x}", "sizes", _uint(picture, el, value))
    for el, name, values in (
        (0x54B2, "display-unit", (4, 255)),
        (0x9A, "interlaced", (1, 2, 255)),
        (0x9D, "field-order", (255,)),
        (0x53B8, "stereo-mode", (1, 15, 255)),
        (0x53C0, "alpha-mode", (1,)),
        (0x54AA, "crop-bottom", (47, 2**32)),
    ):
        for value in values:
            add(f"{name}-{value:x}", "sizes", _uint(picture, el, value))
    colour = _below(1, fm.VIDEO, fm.COLOUR)
    for el, name in ((0x55B1, "matrix"), (0x55B9, "range"), (0x55BA, "transfer"), (0x55BB, "primaries")):
        for value in (0, 3, 255, 2**32):
            add(f"colour-{name}-{value:x}", "colour", _uint(colour, el, value))
    for el, name in ((0x55B2, "bits"), (0x55B5, "chroma-horz"), (0x55BC, "max-cll")):
        add(f"colour-{name}-huge", "colour", _uint(colour, el, 2**40))

    def mastering(root: Element) -> None:
        c = colour(root)
        values = ((0x55D1, math.nan), (0x55D9, math.inf), (0x55DA, -1.0))
        c.children = [
            *(c.children or []),
            Element(0x55D0, children=[Element(i, data=struct.pack(">d", v)) for i, v in values]),
        ]

    add("colour-mastering-nan", "colour", _mkv(mastering))
    projection = _below(1, fm.VIDEO, fm.PROJECTION)
    for label, degrees in (
        ("45", 45.0),
        ("nan", math.nan),
        ("inf", math.inf),
        ("huge", -1e300),
        ("270", 270.0),
        ("turns", 360e6 + 90),
    ):
        add(f"rotation-roll-{label}", "rotation", _float(projection, 0x7675, degrees))
    add("projection-type-255", "rotation", _uint(projection, 0x7671, 255))
    add("projection-equirect", "rotation", _uint(projection, 0x7671, 1))
    add("projection-private-garbage", "rotation", _set(projection, 0x7672, b"\xff" * 9))
    add("projection-yaw-nan", "rotation", _float(projection, 0x7673, math.nan))
    if has_audio:
        sound = _below(2, fm.AUDIO_EL)
        for label, f in (("0", 0.0), ("neg", -1.0), ("nan", math.nan), ("inf", math.inf), ("huge", 1e12), ("1", 1.0)):
            add(f"sampling-frequency-{label}", "audio", _float(sound, 0xB5, f))
        add("output-sampling-frequency-nan", "audio", _float(sound, 0x78B5, math.nan))
        for value in (0, 3, 8, 255, 2**32):
            add(f"channels-{value:x}", "audio", _uint(sound, 0x9F, value))
        for value in (0, 255):
            add(f"bit-depth-{value}", "audio", _uint(sound, 0x6264, value))
        for codec in (b"A_BOGUS", b"", b"A_OPUS", b"A_PCM/INT/LIT", b"A_MS/ACM", b"V_VP9"):
            add(f"audio-codec-{codec.decode().replace('/', '_') or 'empty'}", "audio", _set(audio, 0x86, codec))
        add("audio-private-empty", "audio", _private(2, lambda p: b""))
        add("audio-private-truncated", "audio", _private(2, lambda p: p[:1]))
        add("audio-private-garbage", "audio", _private(2, lambda p: b"\xff" * 19))
        add("audio-track-type-video", "audio", _uint(audio, 0x83, 1))
        add("audio-codec-delay-huge", "audio", _uint(audio, 0x56AA, 2**63))
        add("drop-audio-track", "audio", _drop_tracks({2}))  # its blocks now name no track

        def extra_audio(root: Element) -> None:  # a second audio track whose codec FFmpeg does not know
            extra = copy.deepcopy(fm.mkv_track(root, 2))
            for id_, data in ((0xD7, b"\x07"), (0x73C5, b"\x07"), (0x86, b"A_BOGUS")):
                fm.set_child(extra, id_, data)
            tracks = root.find(fm.SEGMENT, fm.TRACKS)
            tracks.children = [*(tracks.children or []), extra]

        add("extra-audio-no-decoder", "audio", _mkv(extra_audio))
    add("drop-video-track", "no-video", _drop_tracks({1}), "error")
    add("drop-all-tracks", "no-video", _drop_tracks({1, 2}), "error")
    add("drop-tracks-element", "no-video", _drop_level1(fm.TRACKS), "error")
    add("drop-info-element", "structure", _drop_level1(fm.INFO))
    add("ebml-doctype-junk", "structure", _set(_ebml_header, 0x4282, b"junk"))
    add("ebml-doctype-binary", "structure", _set(_ebml_header, 0x4282, b"\xff\xfe"))
    add("ebml-read-version-99", "structure", _uint(_ebml_header, 0x42F7, 99))
    add("ebml-doctype-read-version-99", "structure", _uint(_ebml_header, 0x4285, 99))
    add("ebml-max-size-length-0", "structure", _uint(_ebml_header, 0x42F3, 0))
    add("ebml-max-id-length-0", "structure", _uint(_ebml_header, 0x42F2, 0))
    for label, target in (("info", fm.INFO), ("tracks", fm.TRACKS), ("cluster", fm.CLUSTER), ("tags", fm.TAGS)):
        for size_label, size in (
            ("unknown", b"\x01\xff\xff\xff\xff\xff\xff\xff"),
            ("huge", b"\x01\x00\x00\x00\x7f\xff\xff\xff"),
            ("zero", b"\x80"),
        ):

            def lie(root: Element, target: int = target, size: bytes = size) -> None:
                root.find(fm.SEGMENT, target).size = size

            add(f"size-{label}-{size_label}", "structure", _mkv(lie))

    def entry_size(root: Element) -> None:
        fm.mkv_track(root, 1).size = b"\x01\x00\x00\x00\x00\x00\xff\xff"

    add("size-track-entry-huge", "structure", _mkv(entry_size))
    first_cluster = lambda root: root.find(fm.SEGMENT, fm.CLUSTER)  # noqa: E731
    add("cluster-timestamp-max", "rates", _uint(first_cluster, fm.TIMESTAMP, 2**63 - 1))
    add("cluster-timestamp-u32", "rates", _uint(first_cluster, fm.TIMESTAMP, 0xFFFFFFFF))
    add("cluster-timestamp-9-bytes", "rates", _set(first_cluster, fm.TIMESTAMP, b"\x01" * 9))
    add("block-track-99", "stream-params", _block(lambda r: r.__setitem__(0, 0x80 | 99)))
    add("block-timestamp-min", "rates", _block(lambda r: struct.pack_into(">h", r, 1, -32768), 1))
    add("block-timestamp-max", "rates", _block(lambda r: struct.pack_into(">h", r, 1, 32767)))
    add("block-xiph-lacing", "stream-params", _block(lambda r: r.__setitem__(3, r[3] | 0x02)))
    add("block-ebml-lacing", "stream-params", _block(lambda r: r.__setitem__(3, r[3] | 0x06), 1))
    return out


def build_container_cases() -> list[ContainerCase]:
    cases: list[ContainerCase] = []
    cases += mp4_cases("mp4")
    cases += mp4_cases("mov", only=("tags", "rotation", "no-video", "audio", "rates", "colour"))
    cases += mp4_cases("mp4-rot", only=("rotation",))
    cases += mp4_cases("mp4-5.1", only=("audio",))
    cases += mp4_cases("mp4-silent", only=("no-video", "rates"))
    cases += mp4_size_cases("mp4")
    cases.append(ContainerCase("m4a-audio-only", "no-video", "m4a", lambda d: d, "error"))
    cases.append(
        ContainerCase("m4a-tag-title", "no-video", "m4a", _in_place(fm.PLACEHOLDERS["title"], b"\xff"), "error")
    )
    cases += mkv_cases("mkv")
    cases += mkv_cases("webm")
    cases += mkv_cases("mkv-rot", only=("rotation",))
    cases += mkv_cases("mkv-mono-flac", only=("audio",))
    cases += mkv_cases("mka")
    cases += mkv_cases("webm-audio")
    return cases


CONTAINER_CASES = build_container_cases()
_OUTCOMES: dict[str, str] = {}


def test_the_container_cases_cover_every_class_in_mp4_mkv_and_webm() -> None:
    assert len(CASES) + len(CONTAINER_CASES) >= 400, "the issue asks for at least 400 in-process cases"
    assert len({c.id for c in CONTAINER_CASES}) == len(CONTAINER_CASES)
    for family in ("mp4", "mkv", "webm"):
        for kind in CLASSES:
            n = sum(1 for c in CONTAINER_CASES if c.family == family and c.kind == kind)
            assert n >= 3, f"only {n} {kind} cases in {family}"


@pytest.fixture(scope="module")
def outcome_report() -> Iterator[dict[str, str]]:
    """Outcome of every container case; written as JSON to ``$LIVEBOKEH_FUZZ_REPORT`` when that is set."""
    yield _OUTCOMES
    path = os.environ.get("LIVEBOKEH_FUZZ_REPORT")
    if path and _OUTCOMES:
        import collections
        import json

        by_case = {c.id: c for c in CONTAINER_CASES}
        counts = collections.Counter(f"{by_case[i].family} {by_case[i].kind} {o}" for i, o in _OUTCOMES.items())
        Path(path).write_text(json.dumps({"counts": dict(sorted(counts.items())), "cases": _OUTCOMES}, indent=1))


@pytest.mark.parametrize("case", CONTAINER_CASES, ids=[c.id for c in CONTAINER_CASES])
def test_a_container_that_lies_gives_a_clear_error_or_a_correct_output(
    case: ContainerCase, fuzz_root: Path, capsys, outcome_report: dict[str, str]
) -> None:
    work = fuzz_root / case.id
    src_dir, out_dir = work / "in", work / "out"
    src_dir.mkdir(parents=True)
    out_dir.mkdir()
    suffix = fm.suffix_of(case.base)
    src = src_dir / f"in{suffix}"
    src.write_bytes(case.damage(fm.clip_bytes(case.base)))
    out = out_dir / f"result{suffix}"
    argv = ["convert", str(src), "-o", str(out), "-q", "--no-config", "--preset", "ultrafast", "--debug", *FAST_MATTE]
    t0 = time.monotonic()
    with time_bound(CASE_LIMIT_S):
        code = cli_main(argv)
    elapsed = time.monotonic() - t0
    captured = capsys.readouterr()
    err_lines = [line for line in captured.err.splitlines() if line.strip() and not line.startswith("WARNING ")]
    assert elapsed < CASE_LIMIT_S
    assert "Traceback" not in captured.err, captured.err
    if code == 0:
        outcome_report[case.id] = "output"
        assert case.expect != "error", f"{case.id}: expected an error, got exit 0"
        with av.open(str(out)) as c:
            assert sum(1 for _ in c.decode(video=0)) >= 1, f"{case.id}: output video has no frames"
        assert sorted(p.name for p in out_dir.iterdir()) == [out.name], "temporary files left beside the output"
    else:
        outcome_report[case.id] = "error"
        assert case.expect != "ok", f"{case.id}: expected a valid output, got: {captured.err!r}"
        assert code == 1, f"{case.id}: exit {code}, stderr: {captured.err!r}"
        assert len(err_lines) == 1, f"{case.id}: expected one error line, got {err_lines!r}"
        assert err_lines[0].startswith("livebokeh: error: "), err_lines
        assert err_lines[0].isprintable(), f"{case.id}: control characters in {err_lines[0]!r}"
        assert list(out_dir.iterdir()) == [], f"{case.id}: output folder not empty after a failure"


@pytest.mark.slow
@pytest.mark.parametrize("case_id", ["mp4-tag-title-invalid-start", "mkv-audio-codec-A_BOGUS", "webm-size-tracks-huge"])
def test_a_container_that_lies_in_a_subprocess_has_no_traceback(case_id: str, tmp_path: Path) -> None:
    """The two classes of the issue (undecodable tags, an audio stream without a decoder) and a size lie, as a user
    runs them: a real process, its stderr and exit status."""
    case = next(c for c in CONTAINER_CASES if c.id == case_id)
    suffix = fm.suffix_of(case.base)
    src, out = tmp_path / f"in{suffix}", tmp_path / f"out{suffix}"
    src.write_bytes(case.damage(fm.clip_bytes(case.base)))
    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, "-m", "livebokeh", "convert", str(src), "-o", str(out), "-q", "--no-config", *FAST_MATTE],
        capture_output=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(repo)},
        cwd=tmp_path,
    )
    err = proc.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err and "internal error" not in err, err
    if proc.returncode == 0:
        assert case.expect != "error"
        with av.open(str(out)) as c:
            assert sum(1 for _ in c.decode(video=0)) >= 1
    else:
        assert proc.returncode == 1 and case.expect != "ok", err
        lines = [line for line in err.splitlines() if line.strip() and not line.startswith("WARNING ")]
        assert len(lines) == 1 and lines[0].startswith("livebokeh: error: "), lines
        assert sorted(p.name for p in tmp_path.iterdir()) == [src.name]
