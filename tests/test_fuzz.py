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
"""

from __future__ import annotations

import contextlib
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

import cv2
import numpy as np
import pytest

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

    mp = pytest.MonkeyPatch()
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
