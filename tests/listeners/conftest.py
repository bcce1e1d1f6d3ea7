from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fakes.model import ScriptedModel
from tests.fakes.slack_api import FakeSlack
from tests.harness import Bot, base_env


@pytest.fixture
def make_bot(fake_slack: FakeSlack, session_dir: Path, redis_url: str
             ) -> Iterator[Callable[..., Bot]]:
    bots: list[Bot] = []

    def make(model: ScriptedModel | None = None, redis: bool = True, **env: str) -> Bot:
        extra = {"SESSION_DIR": str(session_dir), **env}
        if redis:
            extra["REDIS_URL"] = redis_url
        bot = Bot(base_env(fake_slack.base_url, **extra), model or ScriptedModel()).start()
        bots.append(bot)
        return bot

    yield make
    for bot in bots:
        bot.stop()
