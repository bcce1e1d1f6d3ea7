"""The real bot as production runs it: gunicorn (Procfile `web`) in its own process group."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.fakes.ports import free_port
from tests.fakes.signing import post_event
from tests.fakes.slack_payloads import event_callback
from tests.support.harness import SECRET, base_env

ROOT = Path(__file__).resolve().parents[2]
COMMAND = [
    sys.executable,
    "-m",
    "gunicorn",
    "-c",
    "python:bot.serve.gunicorn_conf",
    "bot.serve.web:create_app()",
]
START_TIMEOUT = 40.0
LOG_TAIL_CHARS = 6_000


def bot_env(
    slack_url: str, redis_url: str, s3_env: dict[str, str], openai_url: str, **extra: str
) -> dict[str, str]:
    """Everything a web process needs besides PORT; `extra` wins."""
    env = {key: value for key, value in os.environ.items() if key != "PERSONAS_FILE"}
    env.update(base_env(slack_url))
    env.update(s3_env)
    env.update(
        {
            "WEB_CONCURRENCY": "1",
            "REDIS_URL": redis_url,
            "MODEL_PROVIDER": "openai",
            "OPENAI_BASE_URL": openai_url,
            "OPENAI_API_KEY": "x",
            "LOCK_TTL_SECONDS": "3",  # short, so a killed worker frees its threads fast
            "PYTHONUNBUFFERED": "1",
            # Soaks burst into threads whose turns wait out an outage on purpose: about
            # losing nothing, not about the per-thread cap (tests/security/test_turn_budget.py).
            "THREAD_QUEUE_MAX": "1000",
            **extra,
        }
    )
    return env


class BotProcess:
    """One gunicorn master + WEB_CONCURRENCY workers, started like the Procfile's `web`."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.env = {**env, "PORT": str(self.port)}
        # metrics samples (bot/serve/gunicorn_conf.py) in the test's directory, even after a SIGKILL
        self.env.setdefault("PROMETHEUS_MULTIPROC_DIR", str(log_dir / f"prometheus-{name}"))
        self.log_path = log_dir / f"bot-{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base}/slack/events"

    # --- lifecycle ---------------------------------------------------------------------
    def start(self) -> BotProcess:
        """Spawn the process; call `wait_ready()` before sending traffic."""
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in _reap()
        self.proc = subprocess.Popen(
            COMMAND,
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def wait_ready(self, timeout: float = START_TIMEOUT) -> BotProcess:
        """Wait for GET /readyz = 200 (Redis and S3 reachable, worker booted)."""
        assert self.proc is not None, "start() first"
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"bot {self.name} exited with {self.proc.returncode} while starting\n"
                    f"{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(f"{self.base}/readyz", timeout=2) as resp:
                    if resp.status == 200:
                        return self
                    last = f"status {resp.status}"
            except urllib.error.HTTPError as err:
                last = f"status {err.code}: {err.read()[:200]!r}"
            except OSError as err:
                last = repr(err)
            time.sleep(0.1)
        raise AssertionError(
            f"bot {self.name} not healthy after {timeout}s ({last})\n{self.log_tail()}"
        )

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def terminate(self) -> None:
        """Send SIGTERM to the gunicorn master (graceful shutdown); do not wait."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 40.0) -> int | None:
        """SIGTERM the gunicorn master (graceful: workers drain) and wait for it to exit."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(
                    f"bot {self.name} ignored SIGTERM for {timeout}s\n{self.log_tail()}"
                ) from None
        self._reap()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL the whole process group (master and workers), like a crashed host."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self._wait_group_gone()
        self._reap()

    def worker_pids(self) -> list[int]:
        """PIDs of the gunicorn workers: the process group's live members except the master."""
        assert self.proc is not None
        return sorted(pid for pid in self.group_members() if pid != self.proc.pid)

    def kill_worker(self) -> list[int]:
        """SIGKILL the gunicorn worker(s) only, like an OOM kill: the master stays, keeps the
        listening socket and boots a replacement. Returns the killed PIDs."""
        pids = self.worker_pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while set(pids) & set(self.group_members()) and time.monotonic() < deadline:
            time.sleep(0.01)
        return pids

    def wait_exit(self, timeout: float) -> int | None:
        """Wait for the master to exit (after terminate()); None if it is still running."""
        assert self.proc is not None
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self._reap()
        return code

    def health(self, timeout: float = 2.0) -> int | None:
        """GET /readyz status code, or None if the process did not answer."""
        try:
            with urllib.request.urlopen(f"{self.base}/readyz", timeout=timeout) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as err:
            err.close()
            return int(err.code)
        except OSError:
            return None

    def group_members(self) -> list[int]:
        """Live (non-zombie) processes of this bot's process group."""
        assert self.proc is not None
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue  # exited while we looked
            state, pgrp = fields[0], int(fields[2])
            if pgrp == self.proc.pid and state not in ("Z", "X"):
                pids.append(int(stat.parent.name))
        return pids

    def _wait_group_gone(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.group_members():
                return
            time.sleep(0.02)
        raise AssertionError(
            f"process group of bot {self.name} survived SIGKILL: {self.group_members()}"
        )

    def _reap(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def cleanup(self) -> None:
        """Teardown: leave nothing running, whatever the test did."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(AssertionError):
                self.stop(timeout=15)
        else:
            # the master is gone; make sure no orphaned worker of its group survives
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self._reap()

    # --- diagnostics -------------------------------------------------------------------
    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, chars: int = LOG_TAIL_CHARS) -> str:
        text = self.log_text()
        return f"--- last of {self.log_path} ---\n{text[-chars:]}"

    # --- Slack traffic -----------------------------------------------------------------
    def send(self, event: dict, event_id: str | None = None, **kw: Any) -> dict:
        """POST a signed event_callback; assert Slack would see a 2xx ack. Returns the payload."""
        payload = event_callback(event, event_id=event_id)
        status, body = post_event(self.url, SECRET, payload, **kw)
        assert status == 200, f"{self.name}: {status} {body}\n{self.log_tail()}"
        return payload

    def post(self, payload: dict, timeout: float = 10.0, **kw: Any) -> tuple[int, str]:
        """POST a signed event_callback payload; (status, body), no assertion. Connection
        errors (a killed process) raise OSError."""
        return post_event(self.url, SECRET, payload, timeout=timeout, **kw)


@contextmanager
def running_web(name: str, env: dict[str, str], log_dir: Path) -> Iterator[BotProcess]:
    """One web process, started and ready; at exit stopped whatever happened, its log tail
    printed (pytest shows it when the test failed)."""
    bot = BotProcess(name, env, log_dir)
    try:
        yield bot.start().wait_ready()
    finally:
        bot.cleanup()
        print(bot.log_tail())


def stop_all(bots: list[BotProcess], timeout: float = 40.0) -> list[int | None]:
    """SIGTERM several processes at once (like a deploy), then wait for each to exit."""
    for bot in bots:
        bot.terminate()
    return [bot.stop(timeout) for bot in bots]


def start_all(bots: list[BotProcess]) -> list[BotProcess]:
    """Start several processes at once (boot time overlaps), then wait for each."""
    for bot in bots:
        bot.start()
    for bot in bots:
        bot.wait_ready()
    return bots
