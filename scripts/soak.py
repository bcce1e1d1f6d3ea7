"""Soak: drive many messages through N real bot processes while workers are killed.

    uv run python scripts/soak.py [--messages 1000] [--threads 50] [--workers 3]
                                  [--kill-every 5] [--sigterm-every 0] [--seed N]
                                  [--redis-restart-every 0] [--redis-restarts 0]
                                  [--redis-down 0.5 2.0] [--redis-outage-every 0]
                                  [--redis-outage 1 5] [--redis-outages 0] [--streaming]

Starts its own redis-server, moto S3 server (a subprocess), fake Slack Web API and fake
OpenAI server (tests/fakes), then N gunicorn processes of the bot (tests/support/bot_process.py, one
worker each, LOCK_TTL_SECONDS=3). Users start threads with a mention and keep replying with
think times, sometimes double-texting before the answer arrives; every delivery goes to a
random live process and is retried like Slack (same event_id, X-Slack-Retry-Num, up to 3
retries, 3 s timeout). Every --kill-every seconds a random process is SIGKILLed (its whole
process group, or only its gunicorn worker) and brought back; with --sigterm-every one is
SIGTERMed and restarted. Then a marker per thread proves every earlier message was handled,
and the accounting (tests/support/chaos_accounting.py `account()`) prints the figures.

What counts is what the threads show at the end (FakeSlack.bot_messages): a message is
answered when a finished bot message in its thread (not deleted, not streaming, no Stop
button) shows the text of a model reply (the fake model echoes the newest user message)
whose newest user message contains the message's text; a message finished in place by
chat.update, or deleted and posted anew, counts once. Answered twice when two visible bot
messages cover it; lost when acknowledged (2xx) and never answered; unanswered when never
acknowledged (every one of the retries failed, so Slack gave up and nobody was told) and
never answered. A bot message is stale when it is still streaming, still shows Stop, or is
empty (FakeSlack.stale_messages). A thread's history is invalid when its final model
request breaks alternation, asks something twice, misses an answered message, or holds one
never answered. The last line is the verdict:
`lost 0  unanswered 0  doubled 0  invalid 0  stale 0`.

Redis restarts. `--redis-restart-every SECONDS` (default 0: none) stops the soak's
redis-server about every SECONDS (x0.7-1.3), by SIGKILL or `SHUTDOWN NOSAVE` at random, and
after an outage of `--redis-down MIN MAX` seconds (default 0.5-2) starts an empty one on
the same port; `--redis-restarts N` stops after N restarts. The server keeps nothing on
disk (`--save "" --appendonly no`), so every key is gone: dedup, inboxes, thread locks and
which threads the bot has joined. The bot processes keep running and have to reconnect by
themselves: after each restart the soak waits for every process's /readyz to answer 200
(an error if one does not within 30 s). A thread whose mention was lost with Redis is not
joined, and the bot ignores replies there: a user whose thread has had nothing answered for
30 s mentions the bot again, and such a thread's end marker is a mention. Lost messages are
broken down by what the bot logs say became of them (queued then wiped by a restart, told
to resend on Slack's last retry, never queued), unanswered ones by the outcome of each
attempt. The soak's Slack retries come 0.5, 1.5 and 4.5 s after the first delivery fails,
Slack's own after about 1 and 5 minutes: an outage of a few seconds can outlast the soak's
and would not outlast Slack's.

Redis outages. `--redis-outage-every SECONDS` (default 0: none) makes Redis unreachable
about every SECONDS (x0.7-1.3) for `--redis-outage MIN MAX` seconds (default 1-5) while it
keeps its data, one of two ways at random: frozen (SIGSTOP, then SIGCONT: connections
open, nothing answered) or its port closed (`SHUTDOWN SAVE`, then a server on the same port
that loads the dump: connections refused); `--redis-outages N` stops after N. Restarts and
outages never overlap; after each the soak waits for every /readyz as after a restart.

Exit status 1 if anything was lost, unanswered, answered twice, out of order, overlapped,
left a thread with invalid history or a stale bot message, or a process did not recover
from a Redis restart or outage; 2 if the run hit --max-minutes (3 min after it, a watchdog
interrupts the run and everything is cleaned up); 130 if interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import _paths  # noqa: F401 - the repository root on sys.path (scripts/_paths.py)

from scripts._launch import MotoProcess
from scripts.soak_options import parse_args, schedule_of
from scripts.soak_parts import (
    CHANNEL,
    Chaos,
    Observer,
    delivery_counts,
    dump,
    log,
    quiet_fake_servers,
    recovery_counts,
    settle,
)
from scripts.soak_redis import RedisChaos, lost_causes
from scripts.soak_report import report, verdict
from scripts.soak_users import FAILURES, MENTIONS, plan, send_markers, user_threads
from tests.fakes.openai_server import FakeOpenAI, default_reply
from tests.fakes.redis_server import RedisServer
from tests.fakes.slack_api import FakeSlack
from tests.support.bot_process import bot_env
from tests.support.chaos_accounting import account, overlapping, thread_key
from tests.support.chaos_cluster import Cluster
from tests.support.chaos_courier import Courier, Ledger
from tests.support.chaos_tokens import asked_ever
from tests.support.harness import now_ts


def run(args: argparse.Namespace, log_dir: Path) -> int:
    rng = random.Random(args.seed)
    started = time.monotonic()
    stop_at = started + args.max_minutes * 60
    per_thread = plan(args.messages, args.threads)
    log(
        f"seed {args.seed}; {args.messages} messages over {args.threads} threads on "
        f"{args.workers} processes; kill every {args.kill_every}s, SIGTERM every "
        f"{args.sigterm_every}s, Redis restart every {args.redis_restart_every}s, outage "
        f"every {args.redis_outage_every}s; "
        f"logs in {log_dir}"
    )

    def model(body: dict[str, Any]) -> str:  # a model that takes its time
        time.sleep(random.uniform(args.model_min, args.model_max))
        return default_reply(body)

    with contextlib.ExitStack() as stack:
        redis = stack.enter_context(RedisServer())
        moto = MotoProcess(log_dir)
        stack.callback(moto.stop)
        moto.wait_ready()
        s3_env = moto.bucket_env(f"soak-{uuid.uuid4().hex[:10]}", "soak/")
        slack = stack.enter_context(FakeSlack(rate_limits=False))
        openai = stack.enter_context(FakeOpenAI(reply_fn=model))
        env = bot_env(
            slack.base_url,
            redis.url,
            s3_env,
            openai.base_url,
            LOG_LEVEL="INFO",
            STREAMING="on" if args.streaming else "off",
        )
        cluster = Cluster(env, log_dir, args.workers)
        stack.callback(cluster.cleanup)
        cluster.start()
        log(f"{args.workers} processes up after {time.monotonic() - started:.1f}s")

        observer = Observer(slack, openai).start()
        stack.callback(observer.stop)
        # Slack retries after about 1 and 5 minutes; here 0.5, 1.5 and 4.5 s (a compressed
        # schedule: an outage of a few seconds can still outlast every delivery)
        courier = Courier(
            cluster,
            random.Random(rng.random()),
            timeout=3.0,
            max_attempts=4,
            backoff=0.5,
            growth=3.0,
        )
        ledger = Ledger()
        chaos = Chaos(cluster, random.Random(rng.random()), args.kill_every, args.sigterm_every)
        redis_chaos = RedisChaos(
            redis,
            cluster,
            random.Random(rng.random()),
            schedule_of(args, "restart"),
            schedule_of(args, "outage"),
        )
        roots = [now_ts() for _ in range(args.threads)]
        t0 = time.monotonic()
        users = user_threads(args, per_thread, roots, courier, ledger, observer, rng, t0, stop_at)
        chaos.start()
        redis_chaos.start()
        for u in users:
            u.start()
        last_log = time.monotonic()
        while any(u.is_alive() for u in users):
            time.sleep(0.5)
            if time.monotonic() - last_log >= 15:
                last_log = time.monotonic()
                log(
                    f"sent {len(ledger.deliveries)}/{args.messages}, answered "
                    f"{len(observer.answered)}, kills {sum(chaos.kills.values())}, "
                    f"SIGTERMs {len(chaos.sigterms)}, Redis restarts {len(redis_chaos.restarts)}, "
                    f"outages {len(redis_chaos.outages)}"
                )
        if FAILURES:
            log(f"user threads failed: {FAILURES[:3]}")
        log(
            f"all {len(ledger.deliveries)} messages sent after {time.monotonic() - t0:.1f}s; "
            "stopping the chaos"
        )
        redis_chaos.stop()
        chaos.stop()
        if redis_chaos.enabled:
            log(f"every process healthy again: {redis_chaos.wait_healthy()}")

        # quiescence: a marker per thread is answered only after everything before it
        markers = send_markers(cluster, rng, roots, ledger, observer)
        wait = max(10.0, min(300.0, stop_at - time.monotonic()))
        observer.wait(markers, timeout=wait)
        observer.poll()
        unanswered_markers = [m for m in markers if m not in observer.answered]
        settle(slack, openai)
        wall = time.monotonic() - started

        threads = ledger.threads()
        stale = slack.stale_messages()
        result = account(
            threads,
            observer.answers(),
            list(openai.requests),
            CHANNEL,
            count=lambda d: d.text not in set(markers),
        )
        overlaps = len(overlapping(list(openai.requests), thread_key))
        lost = [d for ds in threads.values() for d in ds if d.text in set(result.lost)]
        stored = {t for body in result.final_requests.values() for t in asked_ever(body)}
        causes = lost_causes(lost, [b.log_text() for b in cluster.every], redis_chaos, stored)
        ok = report(
            result,
            chaos,
            redis_chaos,
            wall,
            overlaps,
            unanswered_markers,
            ledger.deliveries,
            causes,
            MENTIONS,
            stale,
        )
        print(f"(bot logs: {recovery_counts(cluster)})", flush=True)
        print(f"({delivery_counts(slack)})", flush=True)
        print(verdict(result, stale), flush=True)
        if args.keep_logs or not ok:
            dump(
                log_dir / "soak.json",
                ledger,
                slack,
                openai,
                cluster,
                started,
                redis_restarts=[vars(o) for o in redis_chaos.restarts],
                redis_outages=[vars(o) for o in redis_chaos.outages],
            )
        if FAILURES or time.monotonic() > stop_at:
            log(f"hit --max-minutes or a user failed: {FAILURES[:3]}")
            return 2
        return 0 if ok else 1


def main() -> int:
    args = parse_args(__doc__.split("\n\n")[0])

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    # last resort: if cleanup itself hangs, interrupt the run well after --max-minutes
    watchdog = threading.Timer(
        args.max_minutes * 60 + 180, os.kill, args=(os.getpid(), signal.SIGTERM)
    )
    watchdog.daemon = True
    watchdog.start()
    log_dir = Path(tempfile.mkdtemp(prefix="soak-"))
    code = 3
    try:
        code = run(args, log_dir)
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        code = 130
    finally:
        if code == 0 and not args.keep_logs:
            shutil.rmtree(log_dir, ignore_errors=True)
        else:
            log(f"logs kept in {log_dir}")
    return code


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    quiet_fake_servers()
    sys.exit(main())
