"""Benchmark: ack latency, per-turn storage overhead, and memory under a queue of turns.

    uv run python scripts/bench.py [--turns 60] [--requests 300] [--queued 200]

Runs the real bot in-process against a throwaway redis-server, moto's S3 server over HTTP,
and a fake Slack Web API; the model is a zero-latency scripted model, so every figure is
the bot's own overhead. Prints figures and ratios measured in one run.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from tempfile import TemporaryDirectory

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.agent.personas import Persona, Personas  # noqa: E402
from bot.agent.turn import run_turn  # noqa: E402
from bot.jobs import Job  # noqa: E402
from bot.store.memory_state import MemoryState  # noqa: E402
from bot.store.message_cache import MessageCache  # noqa: E402
from bot.store.sessions import SessionStore  # noqa: E402
from tests.fakes.model import ScriptedModel  # noqa: E402
from tests.fakes.redis_server import RedisServer  # noqa: E402
from tests.fakes.s3_server import S3Server  # noqa: E402
from tests.fakes.slack_api import FakeSlack  # noqa: E402
from tests.harness import Bot, base_env, mention_event, next_ts  # noqa: E402

PERSONA = Persona(id="default", name="Assistant", system_prompt="You are terse.")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def turn_overhead(store: SessionStore, turns: int) -> dict[int, float]:
    """Milliseconds of one turn (restore + model + commit) at several history lengths."""
    personas = Personas([PERSONA], "openai", None)
    personas.use_model("default", ScriptedModel())
    thread = uuid.uuid4().hex[:8]
    timings: dict[int, float] = {}
    for i in range(1, turns + 1):
        job = Job("turn", "T1", "C1", thread, f"{i}.0", "U1", text=f"question {i}")
        lease = MemoryState().try_lease(job.session_id)
        started = time.perf_counter()
        run_turn(store, personas, PERSONA, [job], lease)
        timings[i] = (time.perf_counter() - started) * 1000
    return timings


def ack_latency(bot: Bot, requests: int) -> tuple[list[float], float]:
    def send(_: int) -> float:
        started = time.perf_counter()
        status, _ = bot.event(mention_event("hi", "C1", next_ts()))
        assert status == 200
        return (time.perf_counter() - started) * 1000

    started = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        latencies = list(pool.map(send, range(requests)))
    return latencies, requests / (time.perf_counter() - started)


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=60)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--queued", type=int, default=200)
    args = parser.parse_args()
    import os

    os.environ["OPENAI_API_KEY"] = "bench"
    with TemporaryDirectory() as tmp, S3Server() as s3, RedisServer() as redis_server, \
            FakeSlack() as slack:
        for key, value in s3.env().items():
            os.environ[key] = value
        s3.create_bucket("bench")
        uncached = SessionStore(bucket="bench", prefix="cold/", directory=Path(tmp) / "y")
        uncached.cache = MessageCache(max_entries=0)  # Strands' own behaviour: GET every message
        stores = {
            "file": SessionStore(bucket=None, prefix="", directory=Path(tmp) / "sessions"),
            "s3": SessionStore(bucket="bench", prefix="bench/", directory=Path(tmp) / "x"),
            "s3-nocache": uncached,
        }
        print(f"== per-turn time (ms) with a 0-latency model, {args.turns} turns in one thread")
        results = {name: turn_overhead(store, args.turns) for name, store in stores.items()}
        marks = sorted({1, 10, 20, 40, args.turns} & set(range(1, args.turns + 1)))
        print("turn   " + "  ".join(f"{name:>10}" for name in results) + "   nocache/s3")
        for mark in marks:
            row = [results[name][mark] for name in results]
            print(f"{mark:<6} " + "  ".join(f"{v:10.1f}" for v in row)
                  + f"   {row[2] / row[1]:9.1f}x")
        late = {name: statistics.median(list(r.values())[-10:]) for name, r in results.items()}
        print("median of the last 10 turns: " + ", ".join(
            f"{name} {ms:.1f} ms" for name, ms in late.items()))

        env = base_env(slack.base_url, SESSION_DIR=str(Path(tmp) / "bot"), LOG_LEVEL="WARNING")
        print(f"\n== ack latency of {args.requests} signed mentions, 16 concurrent senders")
        for label, extra in (("in-process", {}), ("redis", {"REDIS_URL": redis_server.url})):
            with Bot({**env, **extra}, ScriptedModel()) as bot:
                latencies, rate = ack_latency(bot, args.requests)
                slack.wait_for("chat.postMessage", count=args.requests, timeout=120)
                slack.reset()
            p50, p99 = pct(latencies, 0.5), pct(latencies, 0.99)
            print(f"{label:>10}: p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  {rate:6.0f} acks/s")

        print(f"\n== memory with {args.queued} turns queued behind a blocked model")
        gate = threading.Event()
        with Bot({**env, "REDIS_URL": redis_server.url}, ScriptedModel(block_until=gate)) as bot:
            before = rss_mb()
            for _ in range(args.queued):
                bot.event(mention_event("hold on", "C1", next_ts()))
            time.sleep(2)
            during = rss_mb()
            gate.set()
            slack.wait_for("chat.postMessage", count=args.queued, timeout=120)
        print(f"RSS before {before:.0f} MB, with {args.queued} queued {during:.0f} MB "
              f"(+{during - before:.0f} MB, {(during - before) * 1024 / args.queued:.0f} KB/turn)")


if __name__ == "__main__":
    main()
