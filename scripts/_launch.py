"""What the scripts run the real bot against, and its web processes: a throwaway
redis-server, moto's S3 server (in this process, or in its own: MotoProcess, which
scripts/soak.py uses too), the fake Slack Web API and the fake OpenAI server (tests/fakes),
and gunicorn as the Procfile's `web` starts it (tests/support/bot_process.py)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.ports import free_port
from tests.fakes.redis_server import RedisServer
from tests.fakes.s3_server import S3Server, s3_client
from tests.fakes.slack_api import FakeSlack
from tests.support.bot_process import BotProcess, bot_env


class MotoProcess:
    """moto's S3 server in its own process (in-process it would share our GIL)."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.log = open(log_dir / "moto.log", "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def bucket_env(self, bucket: str, prefix: str) -> dict[str, str]:
        """Create `bucket` here; the AWS env that points the bot at it, keys under `prefix`."""
        s3_client(self.url).create_bucket(Bucket=bucket)
        return {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.url,
            "SESSION_BUCKET": bucket,
            "SESSION_PREFIX": prefix,
        }

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("moto server exited while starting")
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1).close()
                return
            time.sleep(0.1)
        raise RuntimeError("moto server did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()


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
