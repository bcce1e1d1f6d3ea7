"""The real Socket Mode worker (`python -m bot socket`) as a process, against the fake
Socket Mode server (tests/fakes/socket_server.py); the `socket_server` fixture is in
tests/conftest.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_api import Call, FakeSlack
from tests.fakes.socket_server import FakeSocketMode
from tests.support.harness import base_env

ROOT = Path(__file__).resolve().parents[2]
APP_TOKEN = "xapp-test"
BOT_TOKEN = base_env("")["SLACK_BOT_TOKEN"]
EXIT_TIMEOUT = 15.0


class BotProcess:
    def __init__(self, proc: subprocess.Popen[bytes], stdout: Path, stderr: Path) -> None:
        self.proc = proc
        self.stdout_path = stdout
        self.stderr_path = stderr

    def output(self) -> str:
        return self.stdout_path.read_text("utf-8", "replace") + self.stderr_path.read_text(
            "utf-8", "replace"
        )

    def assert_alive(self) -> None:
        assert self.proc.poll() is None, (
            f"bot exited with {self.proc.returncode}:\n{self.output()[-5000:]}"
        )

    def terminate(self, timeout: float = EXIT_TIMEOUT) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"bot did not exit within {timeout}s of SIGTERM:\n{self.output()[-5000:]}"
            ) from None


@contextmanager
def bot_process(
    tmp_path: Path, slack: FakeSlack, model: FakeOpenAI, server: FakeSocketMode
) -> Iterator[BotProcess]:
    """Start `python -m bot socket`, wait until it is connected; kill it if still running."""
    slack.socket_url = server.url
    env = {
        **os.environ,
        **base_env(slack.base_url),
        "SLACK_APP_TOKEN": APP_TOKEN,
        "SESSION_DIR": str(tmp_path / "sessions"),
        "MODEL_PROVIDER": "openai",
        "OPENAI_BASE_URL": model.base_url,
        "OPENAI_API_KEY": "x",
        "PYTHONUNBUFFERED": "1",
        # Embedded mode, local sessions, the default persona. Empty rather than unset, so
        # a developer's .env (load_dotenv never overrides a set variable) cannot change it.
        "REDIS_URL": "",
        "SESSION_BUCKET": "",
        "PERSONAS_FILE": "",
    }
    stdout, stderr = tmp_path / "bot.stdout", tmp_path / "bot.stderr"
    # Log to files, not pipes: DEBUG output would fill a pipe buffer and stall the bot.
    with stdout.open("wb") as out, stderr.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "socket"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
        )
    bot = BotProcess(proc, stdout, stderr)
    try:
        try:
            server.wait_connected(timeout=20)
        except AssertionError:
            bot.assert_alive()
            raise
        yield bot
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def in_thread(thread_ts: str, *needles: str) -> Callable[[Call], bool]:
    def match(call: Call) -> bool:
        text = call.params.get("text", "")
        return call.params.get("thread_ts") == thread_ts and all(n in text for n in needles)

    return match
