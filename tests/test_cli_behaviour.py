"""What a user sees from ``photo`` and ``convert`` around the work itself: output folders, progress, errors.

* ``--out-dir`` (and a mask folder) that does not exist is created with its parents; a
  path that is a file, a parent that is a file, or a parent the user may not write is a
  one-line error and nothing is created.
* Progress: a bar only on a terminal; elsewhere (a log file, a pipe, CI) one line per
  finished file and no carriage returns.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from livebokeh._cli import main as cli_main
from livebokeh.bench.clips import make_clip


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(3)
    out = []
    for i in range(2):
        img = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
        cv2.circle(img, (32, 30), 12, (130, 160, 215), -1)
        path = folder / f"p{i}.png"
        cv2.imwrite(str(path), img)
        out.append(path)
    return out


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip") / "c.mp4", width=64, height=48, seconds=0.3, audio=False)


def _args(command: str, inputs: list[Path], out_dir: Path) -> list[str]:
    extra = ["--preset", "ultrafast"] if command == "convert" else []
    return [command, *map(str, inputs), "--out-dir", str(out_dir), "--no-config", *extra]


# -- --out-dir --------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["photo", "convert"])
def test_missing_out_dir_is_created_with_its_parents(command, photos, clip, tmp_path, capsys) -> None:
    inputs = photos if command == "photo" else [clip]
    out_dir = tmp_path / "new" / "nested" / "blurred"
    assert cli_main(_args(command, inputs, out_dir) + ["-q"]) == 0, capsys.readouterr().err
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(p.name for p in inputs)


@pytest.mark.parametrize("command", ["photo", "convert"])
@pytest.mark.parametrize("where", ["out-dir-is-a-file", "parent-is-a-file"])
def test_out_dir_where_a_file_stands_is_one_line(command, where, photos, clip, tmp_path, capsys) -> None:
    inputs = photos if command == "photo" else [clip]
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a folder")
    out_dir = blocker if where == "out-dir-is-a-file" else blocker / "blurred"
    assert cli_main(_args(command, inputs, out_dir)) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("livebokeh: error: "), err
    assert str(blocker) in err[0] and "not a folder" in err[0]
    assert blocker.read_text() == "a file, not a folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def _as_other_user(fn: Callable[[], int]) -> tuple[int, str]:
    """Run ``fn`` where file permissions apply: in this process when not root, else in a forked child that
    drops to user ``nobody`` (root ignores permissions).  Returns its result and what it wrote to stderr."""
    if os.geteuid() != 0:
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            return fn(), err.getvalue()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read_fd)
        code = 99
        err = io.StringIO()
        try:
            os.setgid(65534)
            os.setuid(65534)
            with contextlib.redirect_stderr(err):
                code = fn()
        except BaseException:  # noqa: BLE001 - reported to the parent
            err.write(traceback.format_exc())
        finally:
            os.write(write_fd, err.getvalue().encode())
            os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        text = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), text


@contextlib.contextmanager
def _open_folder() -> Iterator[Path]:
    """A folder anybody may enter (pytest's own tmp folders are private to their owner)."""
    work = Path(tempfile.mkdtemp(prefix="livebokeh-perm-"))
    os.chmod(work, 0o777)
    try:
        yield work
    finally:
        for p in work.rglob("*"):
            if p.is_dir():
                p.chmod(0o755)
        shutil.rmtree(work, ignore_errors=True)


@pytest.mark.parametrize("command", ["photo", "convert"])
def test_out_dir_under_an_unwritable_parent_is_one_line(command, photos, clip) -> None:
    with _open_folder() as work:
        inputs = []
        for src in photos if command == "photo" else [clip]:
            inputs.append(work / src.name)
            shutil.copy(src, inputs[-1])
            inputs[-1].chmod(0o644)
        locked = work / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        out_dir = locked / "blurred" / "here"
        code, err = _as_other_user(lambda: cli_main(_args(command, inputs, out_dir)))
        lines = err.splitlines()
        assert code == 1, err
        assert len(lines) == 1 and lines[0].startswith("livebokeh: error: "), lines
        assert str(locked) in lines[0] and "not writable" in lines[0]
        assert list(locked.iterdir()) == []


# -- progress ---------------------------------------------------------------------------------


class _Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("command", ["photo", "convert"])
def test_without_a_terminal_there_is_one_line_per_file_and_no_carriage_return(
    command, photos, clip, tmp_path, capsys
) -> None:
    inputs = photos if command == "photo" else [clip, clip.with_name("c2.mp4")]
    if command == "convert" and not inputs[1].exists():
        shutil.copy(inputs[0], inputs[1])
    assert cli_main(_args(command, inputs, tmp_path / "out")) == 0
    out, err = capsys.readouterr()
    assert "\r" not in out and "\r" not in err
    per_file = [line for line in out.splitlines() if " -> " in line]
    assert len(per_file) == len(inputs), out
    for line, src in zip(per_file, inputs, strict=True):
        assert line.startswith(str(src)) and str(tmp_path / "out" / src.name) in line


@pytest.mark.parametrize("command", ["photo", "convert"])
def test_on_a_terminal_the_bar_is_drawn(command, photos, clip, tmp_path, capsys, monkeypatch) -> None:
    inputs = photos if command == "photo" else [clip]
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert cli_main(_args(command, inputs, tmp_path / "out")) == 0
    bar = terminal.getvalue()
    assert "\r" in bar, bar
    assert ("2/2" in bar and "photo" in bar) if command == "photo" else "frame" in bar
    if command == "photo":  # the bar replaces the per-file lines
        assert " -> " not in capsys.readouterr().out


# -- internal errors (bugs) -------------------------------------------------------------------


class _InjectedBug(ZeroDivisionError):
    """The bug a test plants in a worker thread."""


def _planted(*args: object, **kwargs: object) -> None:
    raise _InjectedBug("planted by the test")


def _run_with_bug(args: list[str], capsys, monkeypatch, tmp_path: Path) -> tuple[int, list[str], Path]:
    state = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    code = cli_main(args)
    err = capsys.readouterr().err.splitlines()
    return code, err, state / "livebokeh"


def _check_crash_report(code: int, err: list[str], logs: Path, thread: str) -> None:
    assert code == 70, err
    assert len(err) == 2, err
    assert err[0].startswith("livebokeh: internal error (a bug, not your input): ")
    assert thread in err[0] and "_InjectedBug: planted by the test" in err[0]
    assert "test_cli_behaviour.py" in err[0] and "in _planted" in err[0]  # where it broke
    [log] = list(logs.iterdir())
    assert str(log) in err[1] and "--debug" in err[1]
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "_InjectedBug: planted by the test" in text
    assert f"{thread} thread failed" in text and "command: livebokeh " in text


def test_a_bug_in_a_convert_thread_is_reported_as_a_bug(clip, tmp_path, capsys, monkeypatch) -> None:
    from livebokeh.matte import Matte

    monkeypatch.setattr(Matte, "compute", _planted)
    out = tmp_path / "out.mp4"
    args = ["convert", str(clip), "-o", str(out), "--no-config", "-q"]
    code, err, logs = _run_with_bug(args, capsys, monkeypatch, tmp_path)
    _check_crash_report(code, err, logs, "convert-infer")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state"]  # no output, no temp file


def test_a_bug_in_the_live_capture_thread_is_reported_as_a_bug(tmp_path, capsys, monkeypatch) -> None:
    from livebokeh.sources.synthetic import SyntheticSource

    monkeypatch.setattr(SyntheticSource, "read", _planted)
    rec = tmp_path / "rec.mp4"
    args = ["live", "--source", "synthetic:64x48@30", "--sink", "null", "--sink", str(rec), "--no-config", "-q"]
    code, err, logs = _run_with_bug(args, capsys, monkeypatch, tmp_path)
    _check_crash_report(code, err, logs, "capture")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state"]


def test_debug_prints_the_traceback_of_a_bug(photos, tmp_path, capsys, monkeypatch) -> None:
    from livebokeh.matte import Matte

    monkeypatch.setattr(Matte, "compute", _planted)
    args = ["photo", str(photos[0]), "-o", str(tmp_path / "o.png"), "--no-config", "--debug"]
    code, err, logs = _run_with_bug(args, capsys, monkeypatch, tmp_path)
    assert code == 70
    assert err[0].startswith("livebokeh: internal error (a bug, not your input): _InjectedBug")
    assert "Traceback (most recent call last):" in err and "in _planted" in "\n".join(err)
    assert not logs.exists() and not (tmp_path / "o.png").exists()


@pytest.mark.parametrize("command", ["photo", "convert"])
def test_a_user_error_stays_one_line(command, photos, clip, tmp_path, capsys, monkeypatch) -> None:
    from livebokeh.errors import InputError
    from livebokeh.matte import Matte

    ext = ".png" if command == "photo" else ".mp4"
    args = [command, str(tmp_path / f"missing{ext}"), "-o", str(tmp_path / f"o{ext}"), "--no-config"]
    code, err, logs = _run_with_bug(args, capsys, monkeypatch, tmp_path)
    assert code == 1 and len(err) == 1 and err[0].startswith("livebokeh: error: ") and "does not exist" in err[0]

    def user_error(*a: object, **k: object) -> None:  # raised where the bug above was: in convert, a thread
        raise InputError("the planted user error: fix the input")

    monkeypatch.setattr(Matte, "compute", user_error)
    src = photos[0] if command == "photo" else clip
    code, err, logs = _run_with_bug([*args[:1], str(src), *args[2:]], capsys, monkeypatch, tmp_path)
    assert code == 1 and err == ["livebokeh: error: the planted user error: fix the input"]
    assert not logs.exists() and not (tmp_path / f"o{ext}").exists()


# -- the exit ---------------------------------------------------------------------------------


def test_the_console_entry_point_runs_exit_handlers_and_flushes_before_its_fast_exit(tmp_path) -> None:
    """``run`` skips the interpreter's module teardown (slow, and racy with daemon threads), not the
    atexit handlers (the temp-file sweep, Ray's shutdown) or what was printed."""
    import subprocess

    marker = tmp_path / "atexit-ran"
    code = (
        "import atexit, sys\n"
        f"atexit.register(lambda: open({str(marker)!r}, 'w').write('yes'))\n"
        "from livebokeh._cli import run\n"
        "sys.argv = ['livebokeh', 'models', '--no-config']\n"
        "run()\n"
    )
    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )
    assert proc.returncode == 0, proc.stderr
    assert "selfie" in proc.stdout  # buffered output reached the pipe
    assert marker.read_text() == "yes"
