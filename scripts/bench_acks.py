"""Benchmark: ack latency while the same deployment drains 200 one-second turns.

    uv run python scripts/bench_acks.py [--backlog 200] [--acks 200]

Starts a throwaway redis-server, moto's S3 server, the fake Slack Web API and the fake
OpenAI server (1 s per model call), then, in one run, two deployments of the real `web`
process (gunicorn, 2 workers): every process accepting and answering (`PROCESS_ROLE=all`,
the default), and accept-only web processes with one `turns` process
(`PROCESS_ROLE=accept` + `python -m bot turns`). For each: queue `--backlog` mentions,
then time `--acks` signed mentions from 8 concurrent senders while the backlog drains.
Goal: ack p99 <= 50 ms.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from tempfile import TemporaryDirectory

import _paths  # noqa: F401 - the repository root on sys.path (scripts/_paths.py)

from scripts.soak_parts import MotoProcess
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.redis_server import RedisServer
from tests.fakes.s3_server import s3_client
from tests.fakes.signing import post_event
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import event_callback
from tests.support.bot_process import ROOT, BotProcess, bot_env
from tests.support.harness import SECRET, mention_event, next_ts


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def acks_during_drain(url: str, backlog: int, acks: int) -> list[float]:
    for _ in range(backlog):
        post_event(url, SECRET, event_callback(mention_event("drain", "C1", next_ts())))

    def send(_: int) -> float:
        payload = event_callback(mention_event("hi", "C2", next_ts()))
        started = time.perf_counter()
        status, _ = post_event(url, SECRET, payload)
        assert status == 200
        return (time.perf_counter() - started) * 1000

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(send, range(acks)))


def burst(env: dict[str, str], tmp: str, slack: FakeSlack, count: int = 50) -> float:
    """Seconds until `count` simultaneous one-second mentions are all answered."""
    web = BotProcess(f"burst-{uuid.uuid4().hex[:4]}", env, Path(tmp)).start()
    try:
        web.wait_ready()
        before = len(slack.calls("chat.postMessage"))
        started = time.monotonic()
        with ThreadPoolExecutor(count) as pool:
            list(
                pool.map(
                    lambda _: post_event(
                        web.url, SECRET, event_callback(mention_event("burst", "C3", next_ts()))
                    ),
                    range(count),
                )
            )
        slack.wait_for("chat.postMessage", count=before + count, timeout=120)
        return time.monotonic() - started
    finally:
        web.kill()


def deployment(env: dict[str, str], tmp: str, split: bool, args: argparse.Namespace) -> list[float]:
    role = {"PROCESS_ROLE": "accept"} if split else {}
    web = BotProcess(f"web-{uuid.uuid4().hex[:4]}", {**env, **role}, Path(tmp)).start()
    turns = None
    try:
        web.wait_ready()
        if split:
            log = open(Path(tmp) / "turns.log", "ab")  # noqa: SIM115
            turns = subprocess.Popen(
                [sys.executable, "-m", "bot", "turns"],
                cwd=ROOT,
                env=web.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return acks_during_drain(web.url, args.backlog, args.acks)
    finally:
        web.kill()
        if turns is not None:
            turns.kill()
            turns.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backlog", type=int, default=200)
    parser.add_argument("--acks", type=int, default=200)
    args = parser.parse_args()
    with (
        RedisServer() as redis_server,
        FakeSlack(rate_limits=False) as slack,
        FakeOpenAI() as fake,
        TemporaryDirectory() as tmp,
    ):
        moto = MotoProcess(Path(tmp))  # in its own process: in ours it would share our GIL
        try:
            moto.wait_ready()
            run(args, redis_server, slack, fake, tmp, moto.url)
        finally:
            moto.stop()


def run(
    args: argparse.Namespace,
    redis_server: RedisServer,
    slack: FakeSlack,
    fake: FakeOpenAI,
    tmp: str,
    s3_url: str,
) -> None:
    fake.delay = 1.0
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    s3_client(s3_url).create_bucket(Bucket=bucket)
    s3_env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": s3_url,
        "SESSION_BUCKET": bucket,
        "SESSION_PREFIX": "bot/",
    }
    env = bot_env(
        slack.base_url,
        redis_server.url,
        s3_env,
        fake.base_url,
        WEB_CONCURRENCY="2",
        LOG_LEVEL="WARNING",
    )
    print(
        f"== ack latency of {args.acks} mentions while {args.backlog} one-second turns "
        "drain (web: gunicorn, 2 workers)"
    )
    for split in (False, True):
        latencies = deployment(env, tmp, split, args)
        label = "accept-only web + turns" if split else "every process answers"
        print(
            f"{label:>24}: p50 {pct(latencies, 0.5):6.1f} ms  p99 "
            f"{pct(latencies, 0.99):6.1f} ms  (goal p99 <= 50 ms)"
        )
        redis_server_flush(redis_server)
    seconds = burst(env, tmp, slack)
    print(
        f"== 50 one-second mentions at once, one web process group: all answered in "
        f"{seconds:.2f} s (goal <= 1.5 s)"
    )


def redis_server_flush(server: RedisServer) -> None:
    import redis

    redis.Redis.from_url(server.url).flushall()


if __name__ == "__main__":
    main()
