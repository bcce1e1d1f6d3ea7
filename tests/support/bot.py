"""In-process bots (tests/harness.py): waiting for their turns, their models, their answers."""

from __future__ import annotations

import time
from pathlib import Path

from tests.fakes.model import ScriptedModel
from tests.fakes.slack_api import FakeSlack
from tests.harness import Bot, base_env


def settle(bot: Bot, timeout: float = 5) -> None:
    """Wait until the worker has nothing queued or running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not bot.runtime.worker.busy and not bot.runtime.state.orphans():
            time.sleep(0.2)
            if not bot.runtime.worker.busy:
                return
        time.sleep(0.05)
    raise AssertionError("worker did not settle")


def model_called(model: ScriptedModel, timeout: float = 5, count: int = 1) -> None:
    """Wait until the model has been called `count` times (that turn is then running)."""
    deadline = time.monotonic() + timeout
    while len(model.calls) < count and time.monotonic() < deadline:
        time.sleep(0.02)


def start_bot(
    slack: FakeSlack,
    s3_env: dict[str, str],
    session_dir: Path,
    redis_url: str,
    model: ScriptedModel,
) -> Bot:
    env = base_env(
        slack.base_url,
        SESSION_DIR=str(session_dir),
        REDIS_URL=redis_url,
        SESSION_BUCKET=s3_env["SESSION_BUCKET"],
        SESSION_PREFIX="bot/",
    )
    return Bot(env, model).start()


def slow(*replies, chars: int = 8, delay: float = 0.02, **kw) -> ScriptedModel:
    return ScriptedModel(list(replies), token_chars=chars, token_delay=delay, **kw)


_PERSONA = """
[[persona]]
id = "calc"
name = "Calc"
system_prompt = "You compute."
tools = ["calculator"]
icon_emoji = ":abacus:"

[[persona]]
id = "other"
system_prompt = "You are another."
"""


def personas_file(directory: Path) -> str:
    path = directory / "personas.toml"
    path.write_text(_PERSONA)
    return str(path)


_seq = iter(range(1, 10**6))


def now_ts(ago: float = 0) -> str:
    """A Slack ts of now (the inbox replays by the message's time), unique per call."""
    return f"{int(time.time() - ago)}.{next(_seq):06d}"


def answers(slack: FakeSlack, text: str) -> int:
    return sum(
        f"reply to: {text}" in call.params.get("text", "")
        for call in slack.calls("chat.postMessage")
    )


def wait_answered(slack: FakeSlack, texts: tuple[str, ...], timeout: float = 20) -> None:
    """Until each text has an answer (or the time is up: the caller's asserts then say)."""
    for text in texts:
        deadline = time.monotonic() + timeout
        while answers(slack, text) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
