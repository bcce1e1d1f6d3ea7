"""The bot's own commands as processes: the env they start with, the `turns` worker, and
waiting for their posts. The process handle itself is tests/support/bot_process.py (BotProcess); the
`bots` fixture is in tests/conftest.py."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.fakes.slack_api import Call, FakeSlack
from tests.support.bot_process import ROOT

CHANNEL = "C1"
ANSWER_TIMEOUT = 20.0
EXIT_TIMEOUT = 60.0


def in_thread(thread_ts: str, channel: str = CHANNEL) -> Callable[[Call], bool]:
    return lambda c: c.params.get("channel") == channel and c.params.get("thread_ts") == thread_ts


def wait_posts(
    fake_slack: FakeSlack, thread_ts: str, count: int, timeout: float = ANSWER_TIMEOUT
) -> list[str]:
    calls = fake_slack.wait_for("chat.postMessage", in_thread(thread_ts), count, timeout)
    return [c.params.get("text", "") for c in calls]


def start_turns(env: dict[str, str], log_dir: Path) -> subprocess.Popen[bytes]:
    log = open(log_dir / "turns.log", "ab")  # noqa: SIM115 - lives as long as the process
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "turns"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )


def run_to_exit(
    command: list[str], cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run one of the bot's commands until it exits by itself (EXIT_TIMEOUT s at most, or
    subprocess.TimeoutExpired); its stdout and stderr as text."""
    return subprocess.run(
        command,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=EXIT_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "REDIS_", "SESSION_", "PERSONAS_", "MODEL_"))
    }
    return {**env, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **extra}
