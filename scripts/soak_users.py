"""The users of scripts/soak.py: how the messages are spread over threads, each thread's
user (a mention, then replies with think times, sometimes double-texting) on its own
thread, and the end marker sent to every thread once the chaos has stopped."""

from __future__ import annotations

import argparse
import random
import threading
import time
from typing import Any

from scripts.soak_parts import CHANNEL, Observer
from tests.support.chaos_cluster import Cluster
from tests.support.chaos_courier import Courier, Ledger
from tests.support.chaos_tokens import make_token
from tests.support.harness import mention_event, message_event, now_ts

MARKER = 999  # message number of the per-thread markers (not counted as messages)
REMENTION_AFTER = 30.0  # s with nothing answered in a thread: its user mentions the bot again


class Deadline(Exception):
    """A user still sending after --max-minutes."""


def plan(messages: int, threads: int) -> list[int]:
    """Messages per thread (at least one: the mention that starts it)."""
    base, extra = divmod(messages, threads)
    return [base + (i < extra) for i in range(threads)]


def user(
    index: int,
    count: int,
    root: str,
    courier: Courier,
    ledger: Ledger,
    observer: Observer,
    rng: random.Random,
    start_at: float,
    stop_at: float,
    double_text: float,
) -> None:
    """One thread's user: a mention, then replies with think times, sometimes double-texting
    before the previous answer arrived. While nothing in the thread has been answered (the
    bot ignores replies in threads it has not joined) for REMENTION_AFTER s, the next
    message mentions the bot again, as a person would after a mention lost with Redis."""
    time.sleep(max(0.0, start_at - time.monotonic()))
    previous: str | None = None
    sent: list[str] = []
    mentioned_at = time.monotonic()
    for m in range(count):
        if time.monotonic() > stop_at:
            raise Deadline(f"thread {index} stopped sending at message {m}")
        if previous is not None:
            if rng.random() < double_text:
                time.sleep(rng.uniform(0.1, 0.8))
            else:
                observer.wait([previous], timeout=30)
                time.sleep(rng.expovariate(1 / 2.0))  # think time, mean 2 s
        text = make_token("s", index, m)
        joined = any(t in observer.answered for t in sent)
        if m == 0:
            event = mention_event(text, CHANNEL, root)
            MENTIONS[text] = False
        elif not joined and time.monotonic() - mentioned_at >= REMENTION_AFTER:
            event = mention_event(text, CHANNEL, now_ts(), thread_ts=root)
            mentioned_at = time.monotonic()
            MENTIONS[text] = True
        else:
            event = message_event(text, CHANNEL, now_ts(), thread_ts=root)
        ledger.add(courier.deliver(event, root, text))
        sent.append(text)
        previous = text


FAILURES: list[str] = []
MENTIONS: dict[str, bool] = {}  # token -> sent as a mention again (user())


def guard(fn: Any, *args: Any) -> None:
    """Run fn(*args), recording an exception in FAILURES (run() reports them)."""
    try:
        fn(*args)
    except Exception as exc:  # reported by run()
        FAILURES.append(repr(exc))


def user_threads(
    args: argparse.Namespace,
    per_thread: list[int],
    roots: list[str],
    courier: Courier,
    ledger: Ledger,
    observer: Observer,
    rng: random.Random,
    t0: float,
    stop_at: float,
) -> list[threading.Thread]:
    """A daemon thread (not started) per Slack thread running its user, each starting at a
    random moment of a ramp of 0.2 s per thread (at least 1 s) after t0."""
    ramp = max(1.0, args.threads * 0.2)
    return [
        threading.Thread(
            target=guard,
            name=f"user-{i}",
            daemon=True,
            args=(
                user,
                i,
                per_thread[i],
                roots[i],
                courier,
                ledger,
                observer,
                random.Random(rng.random()),
                t0 + rng.uniform(0, ramp),
                stop_at,
                args.double_text,
            ),
        )
        for i in range(args.threads)
    ]


def send_markers(
    cluster: Cluster,
    rng: random.Random,
    roots: list[str],
    ledger: Ledger,
    observer: Observer,
) -> list[str]:
    """Send a marker to every thread (a reply, or a mention where nothing was answered) and
    return their texts: each is answered only after everything before it in its thread."""
    marker_courier = Courier(
        cluster, random.Random(rng.random()), timeout=5.0, give_up_after=60, backoff=0.5
    )
    markers = []
    answered = set(observer.answered)
    for i, root in enumerate(roots):
        text = make_token("s", i, MARKER)
        # a thread with nothing answered was never joined (its mentions lost with Redis)
        joined = any(d.text in answered for d in ledger.threads().get(root, []))
        event = (message_event if joined else mention_event)(
            text, CHANNEL, now_ts(), thread_ts=root
        )
        ledger.add(marker_courier.deliver(event, root, text))
        markers.append(text)
    return markers
