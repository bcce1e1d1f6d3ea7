"""Process-level tests: the real bot under gunicorn, several processes, kills and restarts.

Each bot is `gunicorn -c python:bot.serve.gunicorn_conf "bot.serve.web:create_app()"`
(the Procfile's `web`) with one worker, sharing a real Redis, moto's S3 and the fake Slack /
OpenAI servers.
The fake model answers "echo: <last user text> [N msgs]", N = non-system messages it was
sent, so a reply shows what memory the model saw.

"Answered once" is checked without sleeping: a thread's inbox is FIFO and a delivery is
queued before it is acknowledged, so once a later message's answer is posted, every earlier
delivery (duplicates included) has been handled, either as its own turn (an extra post) or
coalesced into a neighbour's (an extra text in that model request).
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_api import FakeSlack
from tests.support.bot_process import BotProcess, start_all, stop_all
from tests.support.chaos_tokens import chat, last_user_text
from tests.support.harness import mention_event, message_event, next_ts
from tests.support.processes import ANSWER_TIMEOUT, CHANNEL, in_thread, start_turns, wait_posts
from tests.support.redis_modes import ON_BOTH
from tests.support.wait import wait_until

Factory = Callable[..., BotProcess]


# --- helpers ---------------------------------------------------------------------------
def tag(word: str) -> str:
    """A unique text, so one test's texts never match another's."""
    return f"{word}-{uuid.uuid4().hex[:6]}"


def first_user_text(body: dict[str, Any]) -> str:
    users = [text for role, text in chat(body) if role == "user"]
    return users[0] if users else ""


def posts(fake_slack: FakeSlack, thread_ts: str) -> list[str]:
    return [
        c.params.get("text", "")
        for c in fake_slack.calls("chat.postMessage", False)
        if in_thread(thread_ts)(c)
    ]


def requests_asking(fake_openai: FakeOpenAI, text: str) -> list[dict[str, Any]]:
    """Model requests whose newest user message contains `text`."""
    return [body for body in fake_openai.bodies() if text in last_user_text(body)]


def assert_well_formed(body: dict[str, Any]) -> None:
    """user/assistant strictly alternate, starting with user and ending with the new user."""
    roles = [role for role, _ in chat(body)]
    assert roles, body
    expected = ["user" if i % 2 == 0 else "assistant" for i in range(len(roles))]
    assert roles == expected, f"history not alternating: {chat(body)}"


def echo(text: str, n: int) -> str:
    return f"echo: {text} [{n} msgs]"


def mention_answered(bot: BotProcess, fake_slack: FakeSlack, word: str) -> tuple[str, str]:
    """A new thread's mention, sent to `bot` and answered: (its root, its text)."""
    root, text = next_ts(), tag(word)
    bot.send(mention_event(text, CHANNEL, root))
    assert wait_posts(fake_slack, root, 1) == [echo(text, 1)]
    return root, text


def asking_after(fake_openai: FakeOpenAI, first: str, second: str) -> dict[str, Any]:
    """The one model request asking `second`, its history `first` and the answer to it."""
    [request] = requests_asking(fake_openai, second)
    assert chat(request) == [("user", first), ("assistant", echo(first, 1)), ("user", second)]
    return request


# --- tests -----------------------------------------------------------------------------
@ON_BOTH
def test_memory_across_two_worker_processes(
    bots: Factory, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    a, b = start_all([bots("A"), bots("B")])
    root, first = mention_answered(a, fake_slack, "first")
    second = tag("second")

    b.send(message_event(second, CHANNEL, next_ts(), thread_ts=root))
    replies = wait_posts(fake_slack, root, 2)
    assert replies[1] == echo(second, 3), replies  # B's model saw A's turn

    asking_after(fake_openai, first, second)


def test_memory_survives_restart_of_all_workers(
    bots: Factory, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    a, b = start_all([bots("A"), bots("B")])
    root, first = mention_answered(a, fake_slack, "first")
    second = tag("second")

    assert stop_all([a, b]) == [0, 0]  # a deploy: SIGTERM, graceful exit
    assert not a.alive and not b.alive

    c, _d = start_all([bots("C"), bots("D")])
    c.send(message_event(second, CHANNEL, next_ts(), thread_ts=root))
    replies = wait_posts(fake_slack, root, 2)
    assert replies == [echo(first, 1), echo(second, 3)]
    asking_after(fake_openai, first, second)


@ON_BOTH
def test_simultaneous_messages_in_one_thread_on_two_processes(
    bots: Factory, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    a, b = start_all([bots("A"), bots("B")])
    root, start = mention_answered(a, fake_slack, "start")

    fake_openai.delay = 1.5  # a slow model: overlapping turns could not go unnoticed
    texts = {a: tag("alpha"), b: tag("beta")}
    barrier = threading.Barrier(len(texts))
    errors: list[BaseException] = []

    def deliver(bot: BotProcess, text: str) -> None:
        try:
            event = message_event(text, CHANNEL, next_ts(), thread_ts=root)
            barrier.wait(timeout=5)
            bot.send(event)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    senders = [threading.Thread(target=deliver, args=item) for item in texts.items()]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(timeout=15)
    assert not errors, errors

    def turns() -> list[dict[str, Any]]:
        """Model calls for the new messages (the thread's calls after the first)."""
        return [
            body
            for body in fake_openai.bodies()
            if first_user_text(body) == start and len(chat(body)) > 1
        ]

    def settled() -> bool:
        asked = " ".join(last_user_text(body) for body in turns())
        done = all(r.finished for r in fake_openai.requests)
        every_text = all(text in asked for text in texts.values())
        return done and every_text and len(posts(fake_slack, root)) >= 1 + len(turns())

    try:
        wait_until(settled, ANSWER_TIMEOUT, "both messages answered, one answer per model call")
    except AssertionError as exc:
        overlapping = len(fake_openai.overlaps(first_user_text))
        calls = [chat(body) for body in turns()]
        raise AssertionError(
            f"{exc}; {overlapping} overlapping turns of this thread; "
            f"model calls: {calls}; posts: {posts(fake_slack, root)}"
        ) from None
    calls = turns()
    assert 1 <= len(calls) <= 2, [chat(body) for body in calls]
    assert fake_openai.overlaps(first_user_text) == [], "two turns of one thread overlapped"

    if len(calls) == 1:  # coalesced: both messages in one user turn
        assert all(text in last_user_text(calls[0]) for text in texts.values()), chat(calls[0])
        assert len(chat(calls[0])) == 3
    else:  # serialized: the second turn saw the first exchange
        first_ask = last_user_text(calls[0])
        assert len(chat(calls[0])) == 3 and len(chat(calls[1])) == 5
        assert chat(calls[1])[2:4] == [("user", first_ask), ("assistant", echo(first_ask, 3))]
        assert {first_ask, last_user_text(calls[1])} == set(texts.values())

    # A message reaching the other process while a turn of its thread is running waits for
    # that turn and then sees it: never beside it, never coalesced into an answered turn.
    earlier = 2 + 2 * len(calls)  # messages in the thread's history so far
    gamma, delta = tag("gamma"), tag("delta")
    a.send(message_event(gamma, CHANNEL, next_ts(), thread_ts=root))
    wait_until(lambda: requests_asking(fake_openai, gamma), ANSWER_TIMEOUT, "gamma's turn")
    b.send(message_event(delta, CHANNEL, next_ts(), thread_ts=root))
    wait_posts(fake_slack, root, 1 + len(calls) + 2)
    [gamma_call], [delta_call] = (
        requests_asking(fake_openai, gamma),
        requests_asking(fake_openai, delta),
    )
    assert len(chat(gamma_call)) == earlier + 1
    assert chat(delta_call)[earlier:] == [
        ("user", gamma),
        ("assistant", echo(gamma, earlier + 1)),
        ("user", delta),
    ]
    calls += [gamma_call, delta_call]
    assert fake_openai.overlaps(first_user_text) == [], "two turns of one thread overlapped"

    # Drain check: a later message is answered after everything queued before it, so when
    # its answer is posted, any duplicate turn would already have shown up.
    fake_openai.delay = 0.0
    marker = tag("marker")
    a.send(message_event(marker, CHANNEL, next_ts(), thread_ts=root))
    replies = wait_posts(fake_slack, root, 2 + len(calls))
    expected = [echo(start, 1)] + [echo(last_user_text(c), len(chat(c))) for c in calls]
    assert replies == [*expected, echo(marker, 2 + 2 * len(calls) + 1)]  # one post per call
    [request] = requests_asking(fake_openai, marker)
    assert_well_formed(request)
    history = " ".join(text for _, text in chat(request))
    for text in [*texts.values(), gamma, delta]:
        assert history.count(text) == 2, (text, chat(request))  # asked once, answered once


@ON_BOTH
def test_turn_killed_mid_way_is_answered_once_by_another_process(
    bots: Factory, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    [a] = start_all([bots("A")])
    gate = threading.Event()
    fake_openai.block_until = gate  # the model call hangs until released
    root, first, second = next_ts(), tag("first"), tag("second")
    a.send(mention_event(first, CHANNEL, root))
    wait_until(lambda: requests_asking(fake_openai, first), ANSWER_TIMEOUT, "A's model request")

    a.kill()  # SIGKILL master and worker mid-turn: A's thread lock stays until its TTL
    assert not a.alive and a.group_members() == []
    [b] = start_all([bots("B")])
    fake_openai.block_until = None
    gate.set()  # A's orphaned request finishes into a dead socket; B's runs freely

    assert wait_posts(fake_slack, root, 1) == [echo(first, 1)]
    assert len(requests_asking(fake_openai, first)) == 2  # A's lost attempt + B's

    b.send(message_event(second, CHANNEL, next_ts(), thread_ts=root))
    replies = wait_posts(fake_slack, root, 2)
    assert replies == [echo(first, 1), echo(second, 3)]  # the first answered exactly once
    assert_well_formed(asking_after(fake_openai, first, second))


def test_worker_killed_mid_stream_its_message_is_completed_not_copied(
    bots: Factory, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    """SIGKILL while the answer streams: another process re-runs the turn and finishes the
    half-streamed message in place (its ts is in Redis); Slack never shows a second copy."""
    [a] = start_all([bots("A", STREAMING="on")])
    fake_openai.chunk_delay = 0.3
    root, first = next_ts(), tag("first " * 12)
    a.send(mention_event(first, CHANNEL, root))
    fake_slack.wait_for("chat.appendStream", timeout=ANSWER_TIMEOUT)  # visibly streaming
    a.kill()
    fake_openai.chunk_delay = 0.0
    start_all([bots("B", STREAMING="on")])
    fake_slack.wait_for("chat.update", timeout=ANSWER_TIMEOUT)
    [message] = fake_slack.streams.messages.values()
    wait_until(lambda: message["text"] == echo(first, 1), ANSWER_TIMEOUT, "the final text")
    assert len(fake_slack.calls("chat.startStream")) == 1 and posts(fake_slack, root) == []
    assert message["metadata"]["event_payload"]["for_ts"] == root
    assert len(requests_asking(fake_openai, first)) == 2  # A's lost attempt + B's


def test_slack_retry_on_another_process_is_answered_once(
    bots: Factory, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    a, b = start_all([bots("A"), bots("B")])
    root, first, marker = next_ts(), tag("first"), tag("marker")
    event = mention_event(first, CHANNEL, root)
    payload = a.send(event)
    b.send(event, event_id=payload["event_id"], retry_num=1, retry_reason="http_timeout")
    assert wait_posts(fake_slack, root, 1) == [echo(first, 1)]

    b.send(message_event(marker, CHANNEL, next_ts(), thread_ts=root))
    replies = wait_posts(fake_slack, root, 2)
    assert replies == [echo(first, 1), echo(marker, 3)]
    assert [last_user_text(body) for body in fake_openai.bodies()] == [first, marker]


@ON_BOTH
def test_thread_mention_delivered_as_app_mention_and_message_is_answered_once(
    bots: Factory, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    a, b = start_all([bots("A"), bots("B")])
    root, first = mention_answered(a, fake_slack, "first")
    mention, marker = tag("mention"), tag("marker")

    ts = next_ts()  # one Slack message, two deliveries with their own event_ids
    b.send(message_event(f"<@UBOT> {mention}", CHANNEL, ts, thread_ts=root))
    a.send(mention_event(mention, CHANNEL, ts, thread_ts=root))
    assert wait_posts(fake_slack, root, 2)[1] == echo(mention, 3)

    b.send(message_event(marker, CHANNEL, next_ts(), thread_ts=root))
    replies = wait_posts(fake_slack, root, 3)
    assert replies == [echo(first, 1), echo(mention, 3), echo(marker, 5)]
    assert [last_user_text(body) for body in fake_openai.bodies()] == [first, mention, marker]


def test_accept_only_web_and_a_turns_process_split_the_work(
    bots: Factory, fake_slack: FakeSlack, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    """PROCESS_ROLE=accept: the web process acks and queues but never answers; the Procfile's
    `turns` process answers from Redis, and what waits while none runs is answered later."""
    [web] = start_all([bots("web", PROCESS_ROLE="accept")])
    root, first, second = next_ts(), tag("first"), tag("second")
    web.send(mention_event(first, CHANNEL, root))
    time.sleep(1.5)
    assert fake_openai.requests == [] and posts(fake_slack, root) == []  # queued, not answered
    turns = start_turns(web.env, tmp_path)
    try:
        assert wait_posts(fake_slack, root, 1) == [echo(first, 1)]
        web.send(message_event(second, CHANNEL, next_ts(), thread_ts=root))
        assert wait_posts(fake_slack, root, 2)[-1] == echo(second, 3)
    finally:
        turns.send_signal(signal.SIGTERM)
        assert turns.wait(30) == 0
