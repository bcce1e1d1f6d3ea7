"""Benchmark: what a turn costs in storage, this bot against Strands' stock session managers.

    uv run python scripts/bench.py [--turns 8] [--lengths 2,50,200,500] [--deployment]

Starts its own redis-server, moto's S3 server (HTTP), the fake Slack Web API and a
zero-latency scripted model, and prints in one run:

1. Storage per turn (restore + model + save, a new agent each turn as a worker builds it)
   for this bot's store (hot: this process wrote the thread last; cold: another one did),
   Strands' `S3SessionManager`, `SnapshotSessionManager` + `S3Storage` and
   `FileSessionManager`, at each thread length, with 0 and 20 ms injected per S3 request:
   S3 requests and bytes written per turn, p50/p95 turn time, and the ratio to the floor
   (one S3 GET + one S3 PUT of the same size, measured in the same run).
2. End to end (signed mention -> chat.postMessage on the fake Slack) through the real bot:
   p50/p95 against the floor of 1 Redis round trip + 1 S3 GET + 1 S3 PUT + 1 Slack post,
   and S3 requests per answered message, acceptance (the durable inbox) included.
3. With --deployment, on real gunicorn processes: scripts/bench_acks.py (ack p99 while 200
   one-second turns drain, 50 one-second mentions at once) and scripts/bench_memory.py
   (RSS and PSS of the web process group idle and at the peak of that burst).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import _paths  # noqa: F401 - the repository root on sys.path (scripts/_paths.py)
import boto3
import redis
from slack_sdk import WebClient
from strands import Agent
from strands.agent.conversation_manager import SlidingWindowConversationManager
from strands.session.file_session_manager import FileSessionManager
from strands.session.s3_session_manager import S3SessionManager
from strands.session.snapshot_session_manager import SnapshotSessionManager
from strands.storage import S3Storage

from bot.agent.exchange import prompt_for
from bot.agent.personas import Persona, Personas
from bot.agent.turn import WINDOW_SIZE, run_turn
from bot.jobs import Job
from bot.store.memory_state import MemoryState
from bot.store.redis_state import RedisState, connect
from bot.store.sessions import SessionStore
from tests.fakes.model import ScriptedModel
from tests.fakes.redis_server import RedisServer
from tests.fakes.s3_server import S3Server
from tests.fakes.slack_api import FakeSlack
from tests.support.harness import Bot, base_env, mention_event, message_event

PERSONA = Persona(id="default", name="Assistant", system_prompt="You are terse.")
QUESTION = "a question of about the usual length, asked in a thread " * 3


class Meter:
    """Counts S3 requests and bytes sent on a boto3 client, and adds latency to each."""

    def __init__(self) -> None:
        self.requests = self.bytes = 0
        self.latency = 0.0

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-send.s3", self._before_send)

    def _before_send(self, request: Any, **_: Any) -> None:
        self.requests += 1
        if request.method == "PUT":
            self.bytes += int(request.headers.get("Content-Length") or 0)
        if self.latency:
            time.sleep(self.latency)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


Turn = Callable[[str], None]  # text -> one turn on the contender's thread


def contenders(bucket: str, tmp: Path, redis_url: str, meter: Meter) -> dict[str, Turn]:
    personas = Personas([PERSONA], "openai", None)
    personas.use_model("default", ScriptedModel())
    ours = SessionStore(
        bucket=bucket, prefix="ours/", directory=tmp, facts=RedisState(connect(redis_url))
    )
    cold = SessionStore(bucket=bucket, prefix="ours/", directory=tmp, cache_bytes=0)
    for store in (ours, cold):
        meter.attach(store.blobs.client)
        store.snapshots_since()
    storage = S3Storage(bucket, prefix="snap")
    meter.attach(storage._get_client())

    def this_bot(store: SessionStore) -> Turn:
        thread = f"{time.time() + 7200:.6f}"  # newer than the layout mark: no legacy probe

        def turn(text: str) -> None:
            job = Job("turn", "T1", "C1", thread, f"{time.time():.6f}", "U1", text=text)
            run_turn(store, personas, PERSONA, [job], MemoryState().try_lease(job.session_id))

        return turn

    def stock(make_manager: Callable[[], Any]) -> Turn:
        def turn(text: str) -> None:
            manager = make_manager()
            agent = Agent(
                model=personas.model(PERSONA),
                system_prompt=PERSONA.system_prompt,
                session_manager=manager,
                callback_handler=None,
                conversation_manager=SlidingWindowConversationManager(WINDOW_SIZE),
            )
            agent(prompt_for([Job("turn", "T1", "C1", thread, "1.0", "U1", text=text)]))

        return turn

    sid, thread = f"bench-{uuid.uuid4().hex[:8]}", "1700000000.000100"
    metered = boto3.session.Session()  # S3SessionManager reads in its constructor
    metered.events.register("before-send.s3", meter._before_send)
    return {
        "this bot (hot)": this_bot(ours),
        "this bot (cold)": this_bot(cold),
        "S3SessionManager": stock(
            lambda: S3SessionManager(sid, bucket=bucket, prefix="s3sm", boto_session=metered)
        ),
        "Snapshot+S3Storage": stock(lambda: SnapshotSessionManager(sid, storage=storage)),
        "FileSessionManager": stock(lambda: FileSessionManager(sid, storage_dir=str(tmp / "f"))),
    }


def storage_floor(client: Any, bucket: str, size: int, latency: float) -> float:
    body = os.urandom(size)
    times = []
    for _ in range(20):
        started = time.perf_counter()
        client.put_object(Bucket=bucket, Key="floor", Body=body)
        client.get_object(Bucket=bucket, Key="floor")["Body"].read()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times) + 2 * latency * 1000


def storage_table(args: argparse.Namespace, bucket: str, tmp: Path, redis_url: str) -> None:
    meter = Meter()
    turns = contenders(bucket, tmp, redis_url, meter)
    client = boto3.client("s3")
    print(
        f"== storage per turn: {args.turns} turns per point, zero-latency model, window "
        f"{WINDOW_SIZE}; floor = 1 GET + 1 PUT of the same size"
    )
    print(
        f"{'store':<20} {'msgs':>5} {'S3 ms':>5} {'req/turn':>8} {'KB/turn':>8} "
        f"{'p50 ms':>7} {'p95 ms':>7} {'floor':>6} {'ratio':>6}"
    )
    for name, turn in turns.items():
        stored = 0
        for length in args.lengths:
            while stored < length:  # fill the thread to `length` messages, no latency
                turn(QUESTION)
                stored += 2
            for latency in (0.0, 0.02):
                meter.latency = latency
                requests, sent, times = meter.requests, meter.bytes, []
                for _ in range(args.turns):
                    started = time.perf_counter()
                    turn(QUESTION)
                    times.append((time.perf_counter() - started) * 1000)
                stored += 2 * args.turns
                count = (meter.requests - requests) / args.turns
                written = (meter.bytes - sent) / args.turns
                floor = storage_floor(client, bucket, max(int(written), 1024), latency)
                p50 = pct(times, 0.5)
                shown = (
                    f"{count:8.1f} {written / 1024:8.1f}"
                    if "File" not in name
                    else f"{'-':>8} {'-':>8}"
                )
                print(
                    f"{name:<20} {length:>5} {latency * 1000:>5.0f} {shown} {p50:7.1f} "
                    f"{pct(times, 0.95):7.1f} {floor:6.1f} {p50 / floor:5.1f}x"
                )
            meter.latency = 0.0


def end_to_end(
    args: argparse.Namespace, env: dict[str, str], slack: FakeSlack, redis_url: str
) -> None:
    meter = Meter()
    for cold in (False, True):
        with Bot(env, ScriptedModel()) as bot:
            if cold:  # as if another process had answered the previous turn
                bot.runtime.store.cache.max_bytes = 0
            e2e_rows(args, bot, slack, redis_url, meter, "cold" if cold else "hot")


def e2e_rows(
    args: argparse.Namespace, bot: Bot, slack: FakeSlack, redis_url: str, meter: Meter, label: str
) -> None:
    meter.attach(bot.runtime.store.blobs.client)
    meter.attach(bot.runtime.inbox.blobs.client)  # acceptance: the durable inbox record
    web = WebClient(token="xoxb-test-token", base_url=slack.base_url)
    client = boto3.client("s3")
    bucket = bot.runtime.store.bucket
    print(
        f"\n== end to end ({label}): signed mention -> chat.postMessage, one thread, "
        "this bot (floor = 1 Redis round trip + 1 S3 GET + 1 S3 PUT + 1 Slack post)"
    )
    print(
        f"{'msgs':>5} {'S3 ms':>5} {'S3 req/answer':>13} {'p50 ms':>7} {'p95 ms':>7} "
        f"{'floor':>6} {'ratio':>6}"
    )
    root = f"{time.time():.6f}"
    send = lambda text: ask(bot, slack, root, text)  # noqa: E731
    ask(bot, slack, root, QUESTION, mention=True)
    stored = 2
    for length in args.lengths:
        while stored < length:
            send(QUESTION)
            stored += 2
        for latency in (0.0, 0.02):
            meter.latency = latency
            requests, times = meter.requests, [send(QUESTION) for _ in range(args.turns)]
            stored += 2 * args.turns
            count = (meter.requests - requests) / args.turns
            floor = e2e_floor(client, bucket, redis_url, web, latency)
            p50 = pct(times, 0.5)
            print(
                f"{length:>5} {latency * 1000:>5.0f} {count:13.1f} {p50:7.1f} "
                f"{pct(times, 0.95):7.1f} {floor:6.1f} {p50 / floor:5.1f}x"
            )
        meter.latency = 0.0


def ask(bot: Bot, slack: FakeSlack, root: str, text: str, mention: bool = False) -> float:
    ts = root if mention else f"{time.time():.6f}"
    before = len(slack.calls("chat.postMessage"))
    event = mention_event(text, "C1", ts) if mention else message_event(text, "C1", ts, root)
    started = time.time()
    status, _ = bot.event(event)
    assert status == 200
    posted = slack.wait_for("chat.postMessage", count=before + 1, timeout=30)[before]
    return (posted.at - started) * 1000


def e2e_floor(client: Any, bucket: str, redis_url: str, web: WebClient, latency: float) -> float:
    ping = redis.Redis.from_url(redis_url)
    times = []
    for _ in range(20):
        started = time.perf_counter()
        ping.ping()
        client.put_object(Bucket=bucket, Key="floor", Body=os.urandom(8192))
        client.get_object(Bucket=bucket, Key="floor")["Body"].read()
        web.chat_postMessage(channel="C0", text="floor")
        times.append((time.perf_counter() - started) * 1000 + 2 * latency * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=8)
    parser.add_argument("--lengths", default="2,50,200,500")
    parser.add_argument("--deployment", action="store_true")
    args = parser.parse_args()
    args.lengths = [int(n) for n in args.lengths.split(",")]
    os.environ["OPENAI_API_KEY"] = "bench"
    with (
        TemporaryDirectory() as tmp,
        S3Server() as s3,
        RedisServer() as redis_server,
        FakeSlack(rate_limits=False) as slack,
    ):
        os.environ.update(s3.env())
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(bucket)
        storage_table(args, bucket, Path(tmp), redis_server.url)
        env = base_env(
            slack.base_url,
            SESSION_DIR=str(Path(tmp) / "bot"),
            LOG_LEVEL="WARNING",
            REDIS_URL=redis_server.url,
            SESSION_BUCKET=bucket,
            SESSION_PREFIX="e2e/",
        )
        end_to_end(args, env, slack, redis_server.url)
    if args.deployment:  # real gunicorn processes: acks, the burst, then memory
        import bench_acks
        import bench_memory

        sys.argv = [sys.argv[0]]
        print()
        bench_acks.main()
        print()
        bench_memory.main()


if __name__ == "__main__":
    main()
