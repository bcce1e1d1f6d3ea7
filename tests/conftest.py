"""Shared fixtures: real Redis, moto's S3 server, a fake Slack Web API, a fake OpenAI server."""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from tests.fakes.model import ScriptedModel
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.redis_cluster import RedisCluster
from tests.fakes.redis_server import RedisServer
from tests.fakes.s3_server import S3Server
from tests.fakes.slack_api import FakeSlack
from tests.fakes.socket_server import FakeSocketMode
from tests.support.bot_process import BotProcess, bot_env
from tests.support.chaos_cluster import Cluster, MakeCluster
from tests.support.harness import Bot, base_env
from tests.support.oauth import Storage


@pytest.fixture(autouse=True)
def openai_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The OpenAI provider needs a key in the environment; in-process bots build one."""
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer | None]:
    if os.environ.get("REDIS_URL"):
        yield None
        return
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(request: pytest.FixtureRequest, redis_server: RedisServer | None) -> Iterator[str]:
    """A scratch single Redis; the session's Redis Cluster for tests parametrized with
    tests.support.redis_modes.ON_BOTH ("cluster")."""
    if getattr(request, "param", "single") == "cluster":
        yield request.getfixturevalue("redis_cluster_url")
        return
    url = os.environ.get("REDIS_URL") or redis_server.url  # type: ignore[union-attr]
    client = redis.Redis.from_url(url)
    for key in client.scan_iter("tsb:*"):
        client.delete(key)
    yield url
    client.close()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """Three cluster-mode primaries joined by `redis-cli --cluster create` (one per session)."""
    with RedisCluster() as cluster:
        yield cluster


@pytest.fixture
def redis_cluster_url(redis_cluster: RedisCluster) -> str:
    redis_cluster.flush()
    return redis_cluster.url


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    with S3Server() as server:
        yield server


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """AWS env pointing at moto over HTTP, plus a fresh bucket for this test."""
    env = s3_server.env()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    bucket = f"sessions-{uuid.uuid4().hex[:12]}"
    s3_server.create_bucket(bucket)
    return {**env, "SESSION_BUCKET": bucket, "SESSION_PREFIX": "bot/"}


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as slack:
        yield slack


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def session_dir(tmp_path: Path) -> Path:
    return tmp_path / "sessions"


@pytest.fixture(params=["file", "s3"])
def install_storage(request: pytest.FixtureRequest) -> tuple[Storage, dict[str, str]]:
    """Where an OAuth-mode bot keeps installations, each way in turn: ("file", {}) under
    SESSION_DIR, or ("s3", the `s3_env` fixture)."""
    if request.param == "s3":
        return "s3", request.getfixturevalue("s3_env")
    return "file", {}


@pytest.fixture
def make_bot(
    fake_slack: FakeSlack, session_dir: Path, redis_url: str
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
    for bot in bots:  # their dispatchers' waits for work end together
        bot.runtime.worker.begin_stop()
    for bot in bots:
        bot.stop()


@pytest.fixture(scope="module")
def make_bot_once(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    """One embedded bot for a whole module (fuzzing sends hundreds of requests)."""
    with FakeSlack() as slack, pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPENAI_API_KEY", "test-key")
        env = base_env(
            slack.base_url,
            SESSION_DIR=str(tmp_path_factory.mktemp("sessions")),
            LOG_LEVEL="WARNING",
        )
        with Bot(env, ScriptedModel()) as bot:
            yield bot


# --- the bot as processes (tests/support/bot_process.py, tests/support/socket_mode.py) ------------
@pytest.fixture
def socket_server() -> Iterator[FakeSocketMode]:
    with FakeSocketMode() as server:
        yield server


@pytest.fixture
def web_env(
    redis_url: str, s3_env: dict[str, str], fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> Callable[..., dict[str, str]]:
    """`web_env(**extra)` -> a web process's environment against this test's Redis, S3,
    Slack and OpenAI (tests/support/bot_process.py bot_env); `extra` wins."""
    return functools.partial(bot_env, fake_slack.base_url, redis_url, s3_env, fake_openai.base_url)


@pytest.fixture
def bots(
    web_env: Callable[..., dict[str, str]], fake_openai: FakeOpenAI, tmp_path: Path
) -> Iterator[Callable[..., BotProcess]]:
    """`bots(name)` -> an unstarted BotProcess; all are stopped (or killed) at teardown."""
    env = web_env()
    made: list[BotProcess] = []

    def make(name: str, **extra: str) -> BotProcess:
        bot = BotProcess(name, {**env, **extra}, tmp_path)
        made.append(bot)
        return bot

    yield make
    if fake_openai.block_until is not None:
        fake_openai.block_until.set()  # never leave a worker hanging in a model call
    for bot in made:
        bot.terminate()  # all at once: each needs a moment to drain
    for bot in made:
        bot.cleanup()
    for bot in made:  # shown by pytest only when the test failed
        print(bot.log_tail())


@pytest.fixture
def make_cluster(
    redis_url: str,
    s3_env: dict[str, str],
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    tmp_path: Path,
) -> Iterator[MakeCluster]:
    """`make_cluster(size, redis=url, s3_endpoint=url, **env)` -> started Cluster; all
    stopped at teardown, their logs printed (pytest shows them when the test failed)."""
    made: list[Cluster] = []

    def make(
        size: int, redis: str | None = None, s3_endpoint: str | None = None, **extra: str
    ) -> Cluster:
        s3 = {**s3_env, **({"AWS_ENDPOINT_URL": s3_endpoint} if s3_endpoint else {})}
        env = bot_env(
            fake_slack.base_url,
            redis or redis_url,
            s3,
            fake_openai.base_url,
            LOG_LEVEL="INFO",
            **extra,
        )
        cluster = Cluster(env, tmp_path, size)
        made.append(cluster)
        return cluster.start()

    yield make
    fake_openai.delay = 0.0
    if fake_openai.block_until is not None:
        fake_openai.block_until.set()
    for cluster in made:
        cluster.cleanup()
    for cluster in made:
        print(cluster.events)
        print(cluster.log_tails())
