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
import time
from concurrent.futures import ThreadPoolExecutor

import _paths  # noqa: F401 - the repository root on sys.path (scripts/_paths.py)

from scripts._launch import Servers, servers
from tests.fakes.redis_server import RedisServer
from tests.fakes.signing import post_event
from tests.fakes.slack_payloads import event_callback
from tests.support.harness import SECRET, mention_event, next_ts
from tests.support.processes import start_turns


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


def burst(env: dict[str, str], up: Servers, count: int = 50) -> float:
    """Seconds until `count` simultaneous one-second mentions are all answered."""
    slack = up.slack
    web = up.web("burst", env)
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


def deployment(
    env: dict[str, str], up: Servers, split: bool, args: argparse.Namespace
) -> list[float]:
    role = {"PROCESS_ROLE": "accept"} if split else {}
    web = up.web("web", {**env, **role})
    turns = None
    try:
        web.wait_ready()
        if split:
            turns = start_turns(web.env, up.log_dir)
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
    with servers(s3_process=True) as up:
        run(args, up)


def run(args: argparse.Namespace, up: Servers) -> None:
    up.openai.delay = 1.0
    env = up.web_env(WEB_CONCURRENCY="2", LOG_LEVEL="WARNING")
    print(
        f"== ack latency of {args.acks} mentions while {args.backlog} one-second turns "
        "drain (web: gunicorn, 2 workers)"
    )
    for split in (False, True):
        latencies = deployment(env, up, split, args)
        label = "accept-only web + turns" if split else "every process answers"
        print(
            f"{label:>24}: p50 {pct(latencies, 0.5):6.1f} ms  p99 "
            f"{pct(latencies, 0.99):6.1f} ms  (goal p99 <= 50 ms)"
        )
        redis_server_flush(up.redis)
    seconds = burst(env, up)
    print(
        f"== 50 one-second mentions at once, one web process group: all answered in "
        f"{seconds:.2f} s (goal <= 1.5 s)"
    )


def redis_server_flush(server: RedisServer) -> None:
    import redis

    redis.Redis.from_url(server.url).flushall()


if __name__ == "__main__":
    main()
