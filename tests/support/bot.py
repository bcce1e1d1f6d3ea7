"""In-process bots (tests/support/harness.py): waiting for their turns, their models, their
answers."""

from __future__ import annotations

import time
from pathlib import Path

from tests.fakes.model import ScriptedModel
from tests.fakes.slack_api import FakeSlack
from tests.support.harness import Bot, base_env
from tests.support.wait import wait_until


def settle(bot: Bot, timeout: float = 5) -> None:
    """Wait until the worker has nothing queued or running (still so 0.2 s later); fail the
    test if it has not settled within `timeout`."""

    def quiet() -> bool:
        if bot.runtime.worker.busy or bot.runtime.state.orphans():
            return False
        time.sleep(0.2)
        return not bot.runtime.worker.busy

    wait_until(quiet, timeout, "the worker to settle (nothing queued or running)", 0.05)


def model_called(model: ScriptedModel, timeout: float = 5, count: int = 1) -> None:
    """Wait until the model has been called `count` times (that turn is then running); fail
    the test if it has not been within `timeout`."""
    wait_until(lambda: len(model.calls) >= count, timeout, f"{count} model call(s)")


def start_bot(
    slack: FakeSlack,
    s3_env: dict[str, str],
    session_dir: Path,
    redis_url: str,
    model: ScriptedModel,
) -> Bot:
    """A started in-process bot on `redis_url` (a test's own server, or a proxy in front
    of it) and the test's S3 bucket."""
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


_WEB_PERSONA = """
[[persona]]
id = "web"
name = "Web"
system_prompt = "You look things up."
tools = ["calculator", "tests.support.web_tools"]
"""


def web_personas_file(directory: Path) -> str:
    """A PERSONAS_FILE whose one persona has the calculator and the tools of
    tests/support/web_tools.py (results that cite pages)."""
    path = directory / "web_personas.toml"
    path.write_text(_WEB_PERSONA)
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
    """Until each text has an answer; fail the test if one has none within `timeout`."""
    for text in texts:
        wait_until(lambda text=text: answers(slack, text), timeout, f"an answer to {text!r}", 0.05)
