"""What the chaos tests (tests/chaos/) share: their channel, the bot's apologies and log
lines they look for, and the steps and checks several of them take."""

from __future__ import annotations

import os
import random
import re
from typing import Any

from tests.fakes.openai_server import FakeOpenAI, Request
from tests.fakes.s3_server import FaultyProxy
from tests.fakes.slack_api import FakeSlack
from tests.support.bot_process import BotProcess
from tests.support.chaos_accounting import Accounting, account
from tests.support.chaos_cluster import Cluster
from tests.support.chaos_courier import Courier, Ledger
from tests.support.chaos_tokens import asked, make_token
from tests.support.chaos_waits import wait_answered
from tests.support.harness import mention_event, message_event, next_ts
from tests.support.wait import wait_until

CHANNEL = "C1"
MODEL_FAILED = ":warning: Sorry, I couldn't get an answer from the model"
STORAGE_FAILED = ":warning: Sorry, I couldn't load or save this conversation's memory"
CONTEXT = r"(?: \[[^\]]*\])?"  # bot.obs.logs shows the session, turn, ... after the logger
TURN_RETRIED = re.compile(rf"bot\.turns\.worker{CONTEXT}: session \S+: turn failed$", re.MULTILINE)
# An S3 fault on the durable inbox's write refuses the delivery (500): Slack retries it.
ACCEPT_REFUSED = re.compile(rf"bot\.intake\.intake{CONTEXT}: could not queue ", re.MULTILINE)
SEED = int(os.environ.get("CHAOS_SEED") or random.randrange(1 << 30))


def thread_posts(fake_slack: FakeSlack, thread: str) -> list[str]:
    return [
        c.params.get("text", "")
        for c in fake_slack.calls("chat.postMessage", False)
        if c.params.get("channel") == CHANNEL and c.params.get("thread_ts") == thread
    ]


def event_for(text: str, root: str, first: bool) -> dict[str, Any]:
    if first:
        return mention_event(text, CHANNEL, root)
    return message_event(text, CHANNEL, next_ts(), thread_ts=root)


def markers_answered(
    courier: Courier,
    ledger: Ledger,
    prefix: str,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    timeout: float,
) -> list[str]:
    """One more message per thread (number 999, same thread number as its others), each
    acked and answered within `timeout` s: then every earlier message has been handled."""
    markers = []
    for root, deliveries in ledger.threads().items():
        text = make_token(prefix, int(deliveries[0].text[1:4]), 999)
        delivery = ledger.add(courier.deliver(event_for(text, root, False), root, text))
        assert delivery.acked, delivery
        markers.append(text)
    wait_answered(fake_slack, fake_openai, markers, timeout, "every thread's marker answered")
    return markers


def accounting(
    ledger: Ledger, fake_slack: FakeSlack, fake_openai: FakeOpenAI, **rules: Any
) -> Accounting:
    """account() of the ledger's threads in CHANNEL; `rules` as account() takes them."""
    return account(
        ledger.threads(),
        fake_slack.calls("chat.postMessage", False),
        list(fake_openai.requests),
        CHANNEL,
        **rules,
    )


def answered_first(
    courier: Courier, ledger: Ledger, prefix: str, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> tuple[str, str]:
    """A new thread's mention (message 0 of thread 0), delivered and answered: (root, token)."""
    root, first = next_ts(), make_token(prefix, 0, 0)
    ledger.add(courier.deliver(event_for(first, root, True), root, first))
    wait_answered(fake_slack, fake_openai, [first], 20, "the first answer")
    return root, first


def turn_of(
    cluster: Cluster, fake_openai: FakeOpenAI, text: str, timeout: float
) -> tuple[Request, BotProcess]:
    """The one model request asking `text` (waited for) and the live process making it."""
    [request] = wait_until(lambda: requests_asking(fake_openai, text), timeout, "the turn")
    process = cluster.by_model(request.body["model"])
    assert process in cluster.slots
    return request, process


def requests_asking(fake_openai: FakeOpenAI, text: str) -> list[Any]:
    return [r for r in list(fake_openai.requests) if text in asked(r.body)]


def model_apologies(posts: list[str]) -> int:
    return sum(p.startswith(MODEL_FAILED) for p in posts)


SNAPSHOT_PUT = re.compile(r"/session/[^/]+/scopes/agent/[^/]+/snapshots/snapshot_latest\.json")


def snapshot_puts(proxy: FaultyProxy) -> int:
    with proxy._lock:
        requests = list(proxy.requests)
    return sum(method == "PUT" and bool(SNAPSHOT_PUT.search(path)) for method, path in requests)


def no_session_processing(slack: FakeSlack, roots: list[str], timeout: float = 15) -> None:
    """Every thread's agent session went through `processing` and ends `active`: whatever
    was killed mid-turn, the process that finished the thread set it (fails otherwise)."""

    def settled() -> bool:
        histories = [slack.agent_sessions.statuses(CHANNEL, root) for root in roots]
        return all("processing" in h and h[-1] == "active" for h in histories)

    wait_until(settled, timeout, "every thread's agent session out of processing")
