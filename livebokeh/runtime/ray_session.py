"""Reaching Ray for a conversion: the options, a local instance or a running cluster, privacy.

A local instance keeps every file it writes (sockets, logs, spill files) under one folder
the user can choose, sends no usage statistics, and authenticates its processes with a
fresh token held in the environment, never written to ``~/.ray``.  Joining a running
cluster first checks that its address answers over TCP, so a wrong address is one line
after a few seconds rather than minutes of Ray's own retries.  Ray is imported only here,
and only when a conversion on Ray starts.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import native_stderr
from ..errors import ConfigError, LivebokehError

DEFAULT_CPUS_PER_TASK = 2.0
"""CPUs Ray reserves for one conversion task: one conversion keeps about two cores busy
(decode, model, compositing and encoder threads overlap)."""
DEFAULT_SEGMENT_SECONDS = 120.0
"""Files longer than this are converted in pieces of about this length.  Each piece costs
two seconds of pre-roll matte work and one more task start, under 2 % at this length."""
DEFAULT_MAX_RETRIES = 3
LOCAL_OBJECT_STORE_BYTES = 256 * 1024 * 1024
"""Object store of a local Ray instance: tasks pass paths and small records, never frames."""
CONNECT_TIMEOUT = 5.0
"""Seconds to wait for the TCP connection to a ``--ray-address`` before giving up."""
JOIN_ATTEMPTS = 4
"""Seconds a driver keeps trying an address that accepts connections but does not answer as Ray."""
INSTALL_HINT = "pip install 'livebokeh[ray]'"

log = logging.getLogger(__name__)
MAX_TEMP_DIR_LENGTH = 38
"""Longest temp folder path: Ray's sockets lie 69 characters below it
(``/ray/session_DATE_TIME_PID/sockets/plasma_store``) and a socket path holds at most 107."""


class ClusterError(LivebokehError):
    """The Ray cluster cannot be reached or used (not installed, unreachable, mismatched versions)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ClusterOptions:
    """Where and how conversion tasks run on Ray.

    ``address``: ``None`` starts a local Ray instance (its temp and log files under
    ``temp_dir``); ``"auto"`` joins the cluster started on this machine with ``ray start``;
    ``"HOST:PORT"`` joins that cluster's head.  ``segment_seconds`` = 0 never cuts a file.
    """

    address: str | None = None
    cpus_per_task: float = DEFAULT_CPUS_PER_TASK
    max_retries: int = DEFAULT_MAX_RETRIES
    segment_seconds: float = DEFAULT_SEGMENT_SECONDS
    temp_dir: Path | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.cpus_per_task, (int, float)) or not self.cpus_per_task > 0:
            raise ConfigError(f"cpus per task {self.cpus_per_task!r} is out of range: use a number above 0")
        if not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise ConfigError(f"max retries {self.max_retries!r} is out of range: use a whole number >= 0")
        if not isinstance(self.segment_seconds, (int, float)) or not (
            self.segment_seconds == 0 or self.segment_seconds >= 10
        ):
            raise ConfigError(
                f"segment seconds {self.segment_seconds!r} is out of range: use 10 or more, or 0 to never cut files"
            )
        if self.address is not None and self.address != "auto":
            _split_address(self.address)


def default_temp_dir() -> Path:
    """Where a local Ray instance keeps its sockets, logs and spill files unless told otherwise."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"livebokeh-ray-{uid}"


def _split_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"Ray address {address!r} is not HOST:PORT: give e.g. 10.0.0.5:6379, or auto")
    return host.strip("[]"), int(port)


def _auto_address() -> str:
    """The cluster ``ray start`` started on this machine, found as Ray itself finds it for ``auto``."""
    env = os.environ.get("RAY_ADDRESS")
    if env and env != "auto":
        return env
    import_ray()  # a missing Ray is one line here too
    try:
        from ray._private.services import canonicalize_bootstrap_address_or_die
    except ImportError:  # Ray moved it: read the record `ray start` leaves in its default folder
        base = os.environ.get("RAY_TMPDIR") or os.environ.get("TMPDIR") or "/tmp"
        try:
            return (Path(base) / "ray" / "ray_current_cluster").read_text().strip()
        except OSError:
            pass
    else:
        try:
            return str(canonicalize_bootstrap_address_or_die("auto"))
        except ConnectionError:
            pass
    raise ClusterError(
        "no Ray cluster was found on this machine (--ray-address auto): start one with `ray start --head`, "
        "or give its HOST:PORT"
    )


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Raise :class:`ClusterError` unless a TCP connection to ``HOST:PORT`` opens within ``timeout`` seconds."""
    host, port = _split_address(address)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        why = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise ClusterError(
            f"cannot reach the Ray cluster at {address}: {why}: check the address and that `ray start --head` "
            "runs there"
        ) from None


def import_ray() -> Any:
    """The ``ray`` module, or :class:`ClusterError` naming the install command."""
    try:
        import ray
    except ImportError:
        raise ClusterError(f"--backend ray needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables (inherited by a local Ray instance's processes) for the block."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def local_ray_environment(temp_dir: Path) -> dict[str, str]:
    """Environment for a local Ray instance: files under ``temp_dir``, no usage statistics, token
    authentication with a fresh token held in the environment (never written to ``~/.ray``), and
    workers at the priority of every other program.

    Ray starts its workers at nice 15, which on a machine doing anything else hands the CPU to
    everything else first: with other programs keeping two cores busy (load about 7), four files
    took 47 s on Ray against 30-37 s locally at nice 15, and 33-36 s against 33-36 s at nice 0.
    """
    env = {"RAY_TMPDIR": str(temp_dir), "RAY_USAGE_STATS_ENABLED": "0"}
    env["RAY_worker_niceness"] = os.environ.get("RAY_worker_niceness", "0")
    if "RAY_AUTH_MODE" not in os.environ:
        env["RAY_AUTH_MODE"] = "token"
        import secrets  # with hashlib and hmac ~12 ms to import: only where a cluster starts

        env["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
    return env


def join_environment() -> dict[str, str]:
    """Environment of a driver that joins a running cluster: no usage statistics, and an address that
    answers but is no Ray cluster given up on after :data:`JOIN_ATTEMPTS` one-second tries (Ray: 20)."""
    env = {"RAY_USAGE_STATS_ENABLED": "0"}
    env["RAY_gcs_server_port_wait_time_s"] = os.environ.get("RAY_gcs_server_port_wait_time_s", str(JOIN_ATTEMPTS))
    return env


class _native_stderr_to_log:
    """Hold what Ray's native side prints straight to file descriptor 2 while it starts (a warning per
    connection attempt) and hand it to the log instead: a failure is then one line, as everywhere.
    ``with`` gives a list that holds the text once the block has ended.  A class, not a generator:
    see :class:`~livebokeh.native_stderr.redirected` on blocks cut short by a signal."""

    def __init__(self) -> None:
        self.said: list[str] = []
        self._held = tempfile.TemporaryFile()
        self._redirect = native_stderr.redirected(self._held.fileno())

    def __enter__(self) -> list[str]:
        self._redirect.__enter__()
        return self.said

    def __exit__(self, *exc: object) -> None:
        try:
            self._redirect.close()
        finally:
            with self._held:
                self._held.seek(0)
                text = self._held.read().decode(errors="replace").strip()
            self.said.append(text)
            if text:
                log.debug("Ray while starting:\n%s", text)


@contextlib.contextmanager
def ray_session(options: ClusterOptions) -> Iterator[Any]:
    """Connect to (or start) Ray for one run and yield the ``ray`` module; shut down what was started.

    A process already connected (``ray.init`` called by the caller) keeps its connection.
    """
    address = options.address
    if address is not None:
        address = _auto_address() if address == "auto" else address
        check_reachable(address)
    loaded = sys.modules.get("ray")
    if loaded is not None and loaded.is_initialized():
        yield loaded
        return
    if address is not None:
        with _environment(join_environment()):
            ray = import_ray()
            said: list[str] = []
            try:
                with _native_stderr_to_log() as said:
                    ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING, namespace="livebokeh")
            except Exception as exc:  # noqa: BLE001 - Ray raises several kinds here; all end the same way
                raise ClusterError(_join_failure(address, exc, "".join(said))) from None
            try:
                yield ray
            finally:
                ray.shutdown()
        return
    temp = (options.temp_dir or default_temp_dir()).expanduser().resolve()
    try:
        temp.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise ClusterError(f"cannot create Ray's temp folder {temp}: {exc.strerror or exc}") from None
    if len(str(temp)) > MAX_TEMP_DIR_LENGTH:
        raise ConfigError(
            f"Ray temp folder {temp} is too long a path for Ray's sockets: choose one of at most "
            f"{MAX_TEMP_DIR_LENGTH} characters, e.g. /tmp/livebokeh-ray"
        )
    # Set before Ray is imported: its native side reads the authentication settings once.
    with _environment(local_ray_environment(temp)):
        ray = import_ray()
        try:
            with _native_stderr_to_log():
                ray.init(
                    include_dashboard=False,
                    log_to_driver=False,
                    logging_level=logging.WARNING,
                    object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                    namespace="livebokeh",
                )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ClusterError(f"cannot start a local Ray instance: {first_line(exc)}") from None
        try:
            yield ray
        finally:
            ray.shutdown()


def _join_failure(address: str, exc: BaseException, native: str) -> str:
    """One line for a failed ``ray.init(address=...)``; ``native`` is what Ray's native side printed meanwhile."""
    if type(exc).__name__ == "AuthenticationError" or "InvalidAuthToken" in native:
        return (
            f"the Ray cluster at {address} requires its authentication token: set RAY_AUTH_TOKEN "
            "(or RAY_AUTH_TOKEN_PATH) to the token the cluster was started with"
        )
    return (
        f"cannot join the Ray cluster at {address}: something answers there but not as a Ray cluster "
        "(give the port `ray start --head` printed, 6379 by default)"
    )


def first_line(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__).strip().splitlines()[0]
