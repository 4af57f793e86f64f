"""fd 2 redirected while native libraries start, and always given back (livebokeh.native_stderr).

The CLI's last line ("livebokeh: terminated") once went to /dev/null: a SIGTERM landed inside
the model loader's stderr silencing, and the generator that would have put fd 2 back was
still alive while the message was printed.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from livebokeh import native_stderr

REPO = Path(__file__).resolve().parents[1]


def _fd2() -> tuple[int, int]:
    st = os.fstat(2)
    return st.st_dev, st.st_ino


@pytest.fixture
def real_fd2():
    before = _fd2()
    yield before
    native_stderr.restore()  # whatever a failing test left
    assert _fd2() == before


def test_writes_go_to_the_target_and_fd2_comes_back(real_fd2):
    with tempfile.TemporaryFile() as held:
        with native_stderr.redirected(held.fileno()):
            assert _fd2() == (os.fstat(held.fileno()).st_dev, os.fstat(held.fileno()).st_ino)
            os.write(2, b"native chatter\n")
        assert _fd2() == real_fd2
        held.seek(0)
        assert held.read() == b"native chatter\n"


def test_default_target_is_dev_null(real_fd2):
    null = os.stat(os.devnull)
    with native_stderr.redirected():
        assert _fd2() == (null.st_dev, null.st_ino)
    assert _fd2() == real_fd2


def test_nested_redirections_give_fd2_back_when_the_last_ends(real_fd2):
    outer = native_stderr.redirected()
    inner = native_stderr.redirected()
    outer.__enter__()
    inner.__enter__()
    outer.close()  # out of order, as two threads may end them
    assert _fd2() != real_fd2
    inner.close()
    assert _fd2() == real_fd2


def test_restore_ends_an_abandoned_redirection(real_fd2):
    # what a signal inside __enter__ leaves: the redirection started, its with-block never entered
    abandoned = native_stderr.redirected()
    abandoned.__enter__()
    assert _fd2() != real_fd2
    native_stderr.restore()
    assert _fd2() == real_fd2
    abandoned.close()  # its late end changes nothing, and a new redirection still works
    assert _fd2() == real_fd2
    with native_stderr.redirected():
        assert _fd2() != real_fd2
    assert _fd2() == real_fd2


def test_an_abandoned_redirection_ends_when_collected(real_fd2):
    abandoned = native_stderr.redirected()
    abandoned.__enter__()
    del abandoned
    gc.collect()
    assert _fd2() == real_fd2


def _run(code: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=timeout
    )


def test_cli_last_line_reaches_stderr_when_a_signal_cut_a_silenced_load_short():
    # The command leaves a redirection open (kept alive, as an abandoned generator's was) and the
    # SIGTERM exception reaches the CLI's top: its line must still reach the real stderr.
    proc = _run(
        """
        from livebokeh import native_stderr
        from livebokeh._cli import entry
        from livebokeh._cli.signals import Terminated

        kept = []

        def cut_short(argv):
            kept.append(native_stderr.redirected())
            kept[-1].__enter__()
            raise Terminated()

        entry._run_command = cut_short
        raise SystemExit(entry.main([]))
        """
    )
    assert proc.returncode == 143, proc.stderr
    assert "livebokeh: terminated" in proc.stderr


@pytest.mark.slow
def test_signals_at_random_moments_never_lose_stderr():
    # Another process sends SIGUSR1 every ~0.2 ms while the model loader's silencing runs in a loop;
    # the handler raises (as SIGTERM's does).  After restore() - what the CLI does before printing -
    # fd 2 is the real stderr every time, and once each exception is gone no redirection is left.
    proc = _run(
        """
        import os, signal, subprocess, sys, time
        from livebokeh import native_stderr
        from livebokeh.segmentation import runtime

        class Cut(BaseException):
            pass

        armed = False

        def handler(signum, frame):
            global armed
            if armed:
                armed = False
                raise Cut()

        signal.signal(signal.SIGUSR1, handler)
        real = os.fstat(2).st_ino

        class Interpreter:
            def __init__(self, model_path, num_threads):
                pass

            def allocate_tensors(self):
                return sum(range(100))

        runtime.interpreter_class = lambda runtime=None: (Interpreter, "fake")
        pester = subprocess.Popen([sys.executable, "-c", f"import os, signal, time\\nwhile True:\\n"
                                   f"    os.kill({os.getpid()}, signal.SIGUSR1)\\n    time.sleep(0.0002)"])
        cuts = lost = runs = 0
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            try:
                armed = True
                runtime.make_interpreter("model.tflite")
            except Cut:
                cuts += 1
                native_stderr.restore()
                lost += os.fstat(2).st_ino != real
            finally:
                armed = False
            runs += 1
            lost += os.fstat(2).st_ino != real
        pester.kill()
        pester.wait()
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)
        print(runs, cuts, lost, len(native_stderr._active), native_stderr._original)
        """
    )
    assert proc.returncode == 0, proc.stderr
    runs, cuts, lost, active, original = proc.stdout.split()
    print(f"{runs} loads, {cuts} cut short by the signal")
    assert int(cuts) > 100, proc.stdout  # the signal did land in the loads
    assert (int(lost), int(active), original) == (0, 0, "None")


def test_runtime_start_up_chatter_is_hidden_unless_debugging():
    code = """
        import logging, sys
        from livebokeh import models
        from livebokeh.segmentation.runtime import make_interpreter
        if sys.argv[1:] == ["debug"]:
            logging.basicConfig(level=logging.DEBUG)
        make_interpreter(str(models.resolve("selfie").path))
        print("made")
        """
    quiet, debug = _run(code), _run(code.replace("sys.argv[1:]", '["debug"]'))
    assert quiet.stdout.strip() == debug.stdout.strip() == "made", (quiet.stderr, debug.stderr)
    assert "XNNPACK" in debug.stderr  # the runtime does print it: hiding it is not a no-op
    assert "XNNPACK" not in quiet.stderr, quiet.stderr
