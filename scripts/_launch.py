"""What the benchmarks run the real bot against, and its web processes: a throwaway
redis-server, moto's S3 server (in this process, or in its own: `servers(s3_process=True)`),
the fake Slack Web API and the fake OpenAI server (tests/fakes), and gunicorn as the
Procfile's `web` starts it (tests/support/bot_process.py)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

from scripts.soak_parts import MotoProcess
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.redis_server import RedisServer
from tests.fakes.s3_server import S3Server
from tests.fakes.slack_api import FakeSlack
from tests.support.bot_process import BotProcess, bot_env


@dataclass
class Servers:
    """The running servers, the bucket's AWS env and a directory for the bots' logs."""

    redis: RedisServer
    slack: FakeSlack
    openai: FakeOpenAI
    s3_env: dict[str, str]
    log_dir: Path

    def web_env(self, **extra: str) -> dict[str, str]:
        """A web process's environment against these servers; `extra` wins."""
        return bot_env(
            self.slack.base_url, self.redis.url, self.s3_env, self.openai.base_url, **extra
        )

    def web(self, prefix: str, env: dict[str, str]) -> BotProcess:
        """A web process named `prefix`-<random>, started: call `wait_ready()` before use."""
        return BotProcess(f"{prefix}-{uuid.uuid4().hex[:4]}", env, self.log_dir).start()


@contextlib.contextmanager
def servers(s3_process: bool = False) -> Iterator[Servers]:
    """Every server started, and a fresh bucket; all stopped at exit."""
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    with contextlib.ExitStack() as stack:
        log_dir = Path(stack.enter_context(TemporaryDirectory()))
        redis = stack.enter_context(RedisServer())
        if s3_process:  # in its own process: in ours it would share our GIL
            moto = MotoProcess(log_dir)
            stack.callback(moto.stop)
            moto.wait_ready()
            s3_env = moto.bucket_env(bucket, "bot/")
        else:
            s3 = stack.enter_context(S3Server())
            s3.create_bucket(bucket)
            s3_env = {**s3.env(), "SESSION_BUCKET": bucket, "SESSION_PREFIX": "bot/"}
        slack = stack.enter_context(FakeSlack(rate_limits=False))
        openai = stack.enter_context(FakeOpenAI())
        yield Servers(redis, slack, openai, s3_env, log_dir)
