"""Ctrl-C and SIGTERM at different moments of ``live``, ``convert`` and ``photo``, in real subprocesses.

Each case starts the command, sends the signal after a delay (during start-up, model
loading or the run itself), and checks: the process exits by itself with 0, 130 or 143
(never killed by the signal, never a traceback), all within a hang bound; no temporary
file is left; an interrupted convert leaves the existing target byte-for-byte untouched;
every output that exists is complete.  The measured signal-to-exit latency is printed
(``-s``) - it is a figure for the report, not an assertion (timings here are noisy).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
HANG_S = 15.0
"""A process still running this long after the signal has hung."""


def _env(tmp: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO)}
    env.pop("DISPLAY", None)
    return env


def _start(args: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "livebokeh", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(cwd),
        cwd=cwd,
    )


def _wait_until_in_main(proc: subprocess.Popen[bytes]) -> None:
    """Wait until the CLI's ``main`` runs (it catches SIGTERM from then on; before that the interpreter is
    still importing the package and has nothing open)."""
    status = Path(f"/proc/{proc.pid}/status")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            caught = next(line for line in status.read_text().splitlines() if line.startswith("SigCgt:"))
        except (OSError, StopIteration):
            break
        if int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)):
            return
        time.sleep(0.005)


def _signal_and_wait(proc: subprocess.Popen[bytes], sig: int, delay: float, *, twice: bool = False):
    _wait_until_in_main(proc)
    time.sleep(delay)
    sent = time.monotonic()
    if proc.poll() is None:
        proc.send_signal(sig)
        if twice:
            time.sleep(0.05)
            if proc.poll() is None:
                proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=HANG_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"still running {HANG_S:g} s after the signal: {err.decode(errors='replace')}")
    latency = time.monotonic() - sent
    return out.decode(errors="replace"), err.decode(errors="replace"), latency


def _check_clean(code: int, err: str, sig: int, *, forced: bool = False) -> None:
    # A second Ctrl-C that lands while the interpreter is already shutting down ends it by SIGINT (-2):
    # that is the forced exit, and it prints nothing.
    allowed = (0, 130, 143, -signal.SIGINT) if forced else (0, 130, 143)
    assert code in allowed, f"exit {code} (negative: killed by the signal): {err}"
    assert "Traceback" not in err, err
    if code == 130:
        assert "interrupted" in err
    if code == 143:
        assert "terminated" in err


def _no_temp_files(folder: Path) -> None:
    leftovers = [p.name for p in folder.iterdir() if ".part" in p.name or p.name.startswith(".")]
    assert leftovers == [], f"temporary files left: {leftovers}"


# -- live -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sig", "delay", "twice"),
    [
        (signal.SIGINT, 0.0, False),  # building the parser, importing the commands
        (signal.SIGTERM, 0.5, False),  # opening the source, loading the model, warming up
        (signal.SIGINT, 4.0, False),  # running
        (signal.SIGINT, 4.0, True),  # a second Ctrl-C forces the exit
    ],
    ids=["sigint-start", "sigterm-mid", "sigint-running", "double-ctrl-c"],
)
def test_live_stops_cleanly(tmp_path, sig, delay, twice):
    rec = tmp_path / "rec.mp4"
    proc = _start(
        ["live", "--source", "synthetic:320x180@30", "--sink", "null", "--sink", str(rec), "--no-config"],
        tmp_path,
    )
    out, err, latency = _signal_and_wait(proc, sig, delay, twice=twice)
    print(
        f"live {signal.Signals(sig).name} after {delay} s{' x2' if twice else ''}: exit {proc.returncode} "
        f"in {latency:.2f} s"
    )
    _check_clean(proc.returncode, err, sig, forced=twice)
    _no_temp_files(tmp_path)
    if rec.exists():  # a clean stop finalises the recording
        import av

        with av.open(str(rec)) as c:
            assert sum(1 for _ in c.decode(video=0)) >= 1


# -- a signal whose exception Python drops ------------------------------------------------
#
# Python prints and drops an exception raised while a ctypes callback runs, and numba's compiler
# calls back into Python that way as it caches a kernel (a CI run of `live` hung there).  These
# tests land a real signal inside a real ctypes callback in the middle of a command's work.


class DroppedSignal:
    """Sends ``sig`` to this process from inside a ctypes callback when called; ``dropped`` lists the
    exceptions Python dropped there (the case the tests are about happened), as they reach the
    ``sys.unraisablehook`` the command installs."""

    def __init__(self, sig: int, monkeypatch: pytest.MonkeyPatch) -> None:
        import ctypes

        from livebokeh._cli import signals

        self.dropped: list[type] = []
        quiet = signals.quiet_dropped

        def recording(previous):
            hook = quiet(previous)

            def record(unraisable):
                self.dropped.append(unraisable.exc_type)
                hook(unraisable)

            return record

        monkeypatch.setattr(signals, "quiet_dropped", recording)

        @ctypes.CFUNCTYPE(None)
        def callback() -> None:
            os.kill(os.getpid(), sig)
            time.sleep(0.5)  # the handler runs in here and raises; ctypes drops its exception

        self._callback = callback

    def __call__(self) -> None:
        self._callback()


def test_live_start_ends_on_a_signal_whose_exception_python_dropped(tmp_path, monkeypatch, capsys):
    """A SIGTERM dropped during start-up still ends the command before the run begins: exit 143, no recording."""
    from livebokeh._cli import main as cli_main
    from livebokeh._cli.signals import Terminated
    from livebokeh.runtime import live as live_module

    drop = DroppedSignal(signal.SIGTERM, monkeypatch)
    real_warm_up = live_module.warm_up

    def warm_up(*args, **kwargs):
        drop()
        return real_warm_up(*args, **kwargs)

    monkeypatch.setattr(live_module, "warm_up", warm_up)
    rec = tmp_path / "rec.mp4"
    argv = ["live", "--source", "synthetic:320x180@30", "--sink", "null", "--sink", str(rec), "--no-config"]
    code = cli_main([*argv, "--duration", "5"])
    err = capsys.readouterr().err
    assert drop.dropped == [Terminated]
    assert code == 143, err
    assert "terminated" in err
    assert not rec.exists()
    _no_temp_files(tmp_path)


@pytest.mark.parametrize(
    ("sig", "code", "word"), [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")]
)
def test_photo_folder_stops_after_the_photo_a_dropped_signal_came_in(tmp_path, monkeypatch, capsys, sig, code, word):
    """The photo being made is finished and written whole; the next ones are not started."""
    from livebokeh._cli import main as cli_main
    from livebokeh.runtime import photo as photo_module

    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for name in ("a", "b", "c"):
        cv2.imwrite(str(folder / f"{name}.png"), rng.integers(0, 255, (120, 160, 3), np.uint8))
    drop = DroppedSignal(sig, monkeypatch)
    real_process = photo_module.PhotoProcessor.process
    calls: list[int] = []

    def process(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            drop()
        return real_process(self, *args, **kwargs)

    monkeypatch.setattr(photo_module.PhotoProcessor, "process", process)
    got = cli_main(["photo", str(folder), "--out-dir", str(out), "--no-config"])
    err = capsys.readouterr().err
    assert len(drop.dropped) == 1  # the signal's exception was dropped in the callback
    assert got == code, err
    assert word in err
    assert len(calls) == 1
    (written,) = out.iterdir()
    assert cv2.imread(str(written)).shape == (120, 160, 3)
    _no_temp_files(out)


def test_convert_stops_at_the_frame_after_a_dropped_signal(tmp_path, monkeypatch, capsys):
    """The conversion ends at the next frame as it would for the signal itself: 143, the output removed."""
    from livebokeh._cli import main as cli_main
    from livebokeh._cli.signals import Terminated
    from livebokeh.bench.clips import make_clip
    from livebokeh.sinks import video as video_module

    src = make_clip(tmp_path / "talk.mp4", width=160, height=120, seconds=2.0)
    drop = DroppedSignal(signal.SIGTERM, monkeypatch)
    real_write = video_module.VideoFileSink.write_av
    written: list[int] = []

    def write_av(self, vframe, pts):
        written.append(pts)
        if len(written) == 3:
            drop()
        return real_write(self, vframe, pts)

    monkeypatch.setattr(video_module.VideoFileSink, "write_av", write_av)
    out = tmp_path / "out.mp4"
    got = cli_main(["convert", str(src), "-o", str(out), "--no-config"])
    err = capsys.readouterr().err
    assert drop.dropped == [Terminated]
    assert got == 143, err
    assert "terminated" in err
    assert len(written) == 3  # stopped at the frame after the signal, not at the end of the clip
    assert not out.exists()
    _no_temp_files(tmp_path)


# -- convert --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    import av

    path = tmp_path_factory.mktemp("sigclip") / "talk.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = 640, 360, "yuv420p"
        for i in range(240):  # 8 s: long enough to be interrupted mid-way
            img = np.full((360, 640, 3), (40, 90, 160), np.uint8)
            cv2.circle(img, (320 + (i % 60) - 30, 200), 80, (130, 160, 215), -1)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


@pytest.mark.parametrize(
    ("sig", "delay"),
    [(signal.SIGINT, 0.0), (signal.SIGTERM, 1.5), (signal.SIGINT, 3.0)],
    ids=["sigint-start", "sigterm-mid", "sigint-late"],
)
def test_convert_interrupted_leaves_the_target_untouched(tmp_path, clip, sig, delay):
    target = tmp_path / "out.mp4"
    target.write_bytes(b"the user's previous file")
    proc = _start(["convert", str(clip), "-o", str(target), "--overwrite", "-q", "--no-config"], tmp_path)
    out, err, latency = _signal_and_wait(proc, sig, delay)
    print(f"convert {signal.Signals(sig).name} after {delay} s: exit {proc.returncode} in {latency:.2f} s")
    _check_clean(proc.returncode, err, sig)
    _no_temp_files(tmp_path)
    if proc.returncode == 0:  # finished before the signal: a complete output
        import av

        with av.open(str(target)) as c:
            assert sum(1 for _ in c.decode(video=0)) == 240
    else:
        assert target.read_bytes() == b"the user's previous file"


# -- photo ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sig", "delay"), [(signal.SIGTERM, 0.0), (signal.SIGINT, 2.0)], ids=["sigterm-start", "sigint-mid"]
)
def test_photo_interrupted_leaves_only_complete_outputs(tmp_path, sig, delay):
    src, out_dir = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out_dir.mkdir()
    rng = np.random.default_rng(1)
    for i in range(40):
        img = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
        cv2.circle(img, (320, 300), 120, (130, 160, 215), -1)
        cv2.imwrite(str(src / f"p{i:02d}.png"), img)
    proc = _start(["photo", str(src), "--out-dir", str(out_dir), "-q", "--no-config"], tmp_path)
    out, err, latency = _signal_and_wait(proc, sig, delay)
    print(f"photo {signal.Signals(sig).name} after {delay} s: exit {proc.returncode} in {latency:.2f} s")
    _check_clean(proc.returncode, err, sig)
    _no_temp_files(out_dir)
    for p in out_dir.iterdir():
        img = cv2.imread(str(p))
        assert img is not None and img.shape == (480, 640, 3), f"{p.name} is incomplete"


def test_a_signal_dropped_in_a_weakref_callback_is_not_printed(capsys):
    """Python prints an exception raised in a weakref callback ("Exception ignored in ...") and carries on; while
    a command runs, one from a caught signal stays off stderr (raise_if_dropped raises it again), others do not."""
    import weakref

    from livebokeh._cli import signals

    class Thing:
        pass

    seen = []
    hook = signals.quiet_dropped(lambda unraisable: seen.append(unraisable.exc_type))
    previous = sys.unraisablehook
    sys.unraisablehook = hook
    try:
        signals.forget()

        def drop_with(exc):
            def callback(_ref):
                raise exc

            thing = Thing()
            ref = weakref.ref(thing, callback)
            del thing  # the callback runs here, and its exception goes to sys.unraisablehook
            return ref

        drop_with(ValueError("a bug"))
        drop_with(signals.Terminated())  # no signal noted: still reported
        exc = signals.caught(signal.SIGTERM)
        drop_with(exc)
        drop_with(KeyboardInterrupt())
        assert seen == [ValueError, signals.Terminated]
        with pytest.raises(signals.Terminated):
            signals.raise_if_dropped()
    finally:
        sys.unraisablehook = previous
        signals.forget()
    assert "Traceback" not in capsys.readouterr().err
