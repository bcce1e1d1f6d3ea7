"""A thread's earlier messages read from (fake) Slack.

conversations.replies answers use the shape of Slack's method page
(docs.slack.dev/reference/methods/conversations.replies, "Example response"): `messages`
oldest first (the parent, then replies) with type, user, text, ts, thread_ts and
parent_user_id; `has_more` and `response_metadata.next_cursor` while more pages follow.
Apps' posts and system notices in them are the stored real bodies of tests/payloads/ (31, 32,
39) without the event-only keys (channel, event_ts, channel_type). users.info answers use
the shape of docs.slack.dev/reference/methods/users.info ("Example response"), trimmed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from slack_sdk import WebClient

from bot.config import settings as config_module
from bot.jobs import Job
from bot.slack.clients import slack_client
from bot.turns.inputs.thread_context import HEADER, ContextLimits, NameCache, wants_earlier
from tests.fakes.model import ScriptedModel
from tests.fakes.slack_api import Call, FakeSlack
from tests.fakes.slack_payloads import load
from tests.support.clock import Clock
from tests.support.harness import base_env
from tests.support.thread_context import PEOPLE, ROOT, reader, ts_at


def person(user: str, text: str, ts: str) -> dict[str, Any]:
    message = {"type": "message", "user": user, "text": text, "thread_ts": ROOT, "ts": ts}
    return message | ({"parent_user_id": "U1"} if ts != ROOT else {"reply_count": 0})


def stored(name: str, ts: str, **changes: Any) -> dict[str, Any]:
    """A stored real message body as conversations.replies lists it."""
    event = load(name)["event"]
    for key in ("channel", "event_ts", "channel_type"):
        event.pop(key, None)
    return event | {"ts": ts, "thread_ts": ROOT} | changes


def thread() -> list[dict[str, Any]]:
    """45 messages: the parent, people's replies, apps, the bot, notices; the last asks."""
    messages = [person("U1", "shall we ship 2.0?", ROOT)]
    messages += [person("U2" if i % 2 else "U1", f"reply {i}", ts_at(i)) for i in range(1, 37)]
    messages += [
        stored(
            "31_message_other_bot_bot_profile.json",
            ts_at(37),
            text="build passed",
            bot_profile=load("31_message_other_bot_bot_profile.json")["event"]["bot_profile"]
            | {"name": "CI bot"},
        ),
        stored("39_message_channel_join_bot.json", ts_at(38)),
        person("USLACKBOT", "Reminder: standup", ts_at(39)),
        {
            "type": "message",
            "user": "UBOT",
            "bot_id": "BBOT",
            "text": "I think so.",
            "ts": ts_at(40),
            "thread_ts": ROOT,
            "parent_user_id": "U1",
        },
        stored("32_message_bot_message_classic.json", ts_at(41), text="deploy queued"),
        person("U2", "line one\nline two <@U1>", ts_at(42)),
        person("U3", "who am I?", ts_at(43)),
        person("U1", "<@UBOT> so, ship it?", ts_at(44)),  # the mention being answered
    ]
    return messages


def serve(
    slack: FakeSlack,
    messages: list[dict[str, Any]],
    page: int = 15,
    on_page: Callable[[int], None] = lambda n: None,
) -> None:
    """conversations.replies in short pages, as Slack gives rate-limited apps."""

    def replies(call: Call) -> dict[str, Any]:
        start = int(call.params.get("cursor", "").removeprefix("bmV4dF90czo") or 0)
        on_page(start // page)
        chunk = messages[start : start + page]
        more = start + page < len(messages)
        body: dict[str, Any] = {"ok": True, "messages": chunk, "has_more": more}
        if more:
            body["response_metadata"] = {"next_cursor": f"bmV4dF90czo{start + page}"}
        return body

    def users(call: Call) -> dict[str, Any]:
        user = call.params["user"]
        if user not in PEOPLE:
            return {"ok": False, "error": "user_not_found"}
        name = PEOPLE[user]
        display = name if " " not in name else ""  # Ada has only a real name
        return {
            "ok": True,
            "user": {
                "id": user,
                "team_id": "T1",
                "name": name.split()[0].lower(),
                "deleted": False,
                "real_name": name,
                "is_bot": False,
                "profile": {
                    "real_name": name,
                    "display_name": display,
                    "real_name_normalized": name,
                    "display_name_normalized": display,
                    "team": "T1",
                },
            },
        }

    slack.set_response("conversations.replies", replies)
    slack.set_response("users.info", users)


def test_reads_every_page_names_authors_once_and_keeps_the_newest(fake_slack) -> None:
    serve(fake_slack, thread())
    read = reader(fake_slack, limits=ContextLimits(max_messages=8))
    text = read.earlier("C1", ROOT, ts_at(44), "UBOT")
    assert text == "\n".join(
        [
            HEADER,
            "(34 earlier messages not shown)",
            '[user U1 "Ada Lovelace"] reply 34',
            '[user U2 "grace"] reply 35',
            '[user U1 "Ada Lovelace"] reply 36',
            '[app B999 "CI bot"] build passed',
            "[assistant] I think so.",
            '[app B888 "classic-bot"] deploy queued',
            '[user U2 "grace"] line one\n  line two @Ada Lovelace',
            "[user U3] who am I?",
        ]
    )
    calls = fake_slack.calls("conversations.replies")
    assert [c.params.get("cursor") for c in calls] == [None, "bmV4dF90czo15", "bmV4dF90czo30"]
    assert all(c.params["limit"] == "200" and c.params["ts"] == ROOT for c in calls)
    assert sorted(c.params["user"] for c in fake_slack.calls("users.info")) == ["U1", "U2", "U3"]
    # A second read (a later thread) asks users.info nothing: names and failures are cached.
    assert read.earlier("C1", ROOT, ts_at(44), "UBOT") == text
    assert len(fake_slack.calls("users.info")) == 3


def test_the_char_limit_keeps_the_newest_and_is_never_exceeded(fake_slack) -> None:
    serve(fake_slack, thread())
    text = reader(fake_slack, limits=ContextLimits(max_chars=600)).earlier(
        "C1", ROOT, ts_at(44), "UBOT"
    )
    assert text is not None and len(text) <= 600
    assert text.endswith("[user U3] who am I?") and "shall we ship" not in text
    shown = text.count("\n[")
    assert f"({42 - shown} earlier messages not shown)" in text  # 42 people's and apps' posts
    huge = [person("U1", "look at this log:", ROOT), person("U2", "x" * 5_000, ts_at(1))]
    serve(fake_slack, huge)
    text = reader(fake_slack, limits=ContextLimits(max_chars=1_000)).earlier(
        "C1", ROOT, ts_at(2), "UBOT"
    )
    assert text is not None and len(text) <= 1_000 and text.endswith("x…")
    assert text.splitlines()[1] == "(1 earlier message not shown)"


def test_nothing_earlier_is_none_since_a_reset_and_zero_reads_nothing(fake_slack) -> None:
    serve(fake_slack, thread())
    assert reader(fake_slack).earlier("C1", ROOT, ROOT, "UBOT") is None
    only_notices = [stored("39_message_channel_join_bot.json", ROOT), person("U1", "hi", ts_at(1))]
    serve(fake_slack, only_notices)
    assert reader(fake_slack).earlier("C1", ROOT, ts_at(1), "UBOT") is None
    serve(fake_slack, thread())
    after_reset = reader(fake_slack).earlier("C1", ROOT, ts_at(44), "UBOT", since_ts=ts_at(41))
    assert after_reset == "\n".join(
        [HEADER, '[user U2 "grace"] line one\n  line two @Ada Lovelace', "[user U3] who am I?"]
    )
    fake_slack.reset()
    assert (
        reader(fake_slack, limits=ContextLimits(max_messages=0)).earlier(
            "C1", ROOT, ts_at(44), "UBOT"
        )
        is None
    )
    assert reader(fake_slack).earlier("D1", "dm", ts_at(44), "UBOT") is None
    assert fake_slack.calls() == []


def test_the_bots_own_posts_name_the_persona_that_wrote_them(fake_slack) -> None:
    own = {
        "type": "message",
        "user": "UBOT",
        "bot_id": "BBOT",
        "text": "Looks risky.",
        "username": "critic",
        "ts": ts_at(1),
        "thread_ts": ROOT,
        "parent_user_id": "U1",
    }
    serve(fake_slack, [person("U1", "<@UBOT> critic: thoughts?", ROOT), own])
    assert reader(fake_slack).earlier("C1", ROOT, ts_at(2), "UBOT") == "\n".join(
        [
            HEADER,
            '[user U1 "Ada Lovelace"] @assistant critic: thoughts?',
            "[assistant (critic)] Looks risky.",
        ]
    )


def test_a_429_on_the_second_page_returns_the_first_page_at_once(fake_slack, caplog) -> None:
    def limit_after_first(page: int) -> None:
        if page == 0:
            fake_slack.fail_next("conversations.replies", status=429, retry_after=30)

    serve(fake_slack, thread(), on_page=limit_after_first)
    # The bot's own client retries 429s (RateLimitErrorRetryHandler): the reader must not.
    client = slack_client(config_module.load(base_env(fake_slack.base_url)))
    read = reader(fake_slack, client)
    started = time.monotonic()
    text = read.earlier("C1", ROOT, ts_at(44), "UBOT")
    assert time.monotonic() - started < 2
    assert text is not None
    assert text.splitlines()[1] == '[user U1 "Ada Lovelace"] shall we ship 2.0?'
    assert '[user U2 "grace"] reply 13' in text and "reply 15" not in text
    assert text.endswith("(the newer messages of this thread could not be read)")
    assert len(fake_slack.calls("conversations.replies")) == 2
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "429" in warnings[0].getMessage()
    # Until Retry-After has passed, later turns do not even ask.
    assert read.earlier("C1", ROOT, ts_at(44), "UBOT") is None
    assert len(fake_slack.calls("conversations.replies")) == 2


@pytest.mark.parametrize("status", [500, 429])
def test_an_error_on_the_first_call_is_none_quickly(fake_slack, status) -> None:
    serve(fake_slack, thread())
    fake_slack.fail_next("conversations.replies", status=status, retry_after=30)
    started = time.monotonic()
    assert reader(fake_slack).earlier("C1", ROOT, ts_at(44), "UBOT") is None
    assert time.monotonic() - started < 1
    unreachable = WebClient(token="xoxb-test", base_url="http://127.0.0.1:9/api/")
    assert reader(fake_slack, unreachable).earlier("C1", ROOT, ts_at(44), "UBOT") is None
    assert time.monotonic() - started < 2


def test_a_slow_slack_is_cut_at_the_deadline(fake_slack) -> None:
    serve(fake_slack, thread(), on_page=lambda page: time.sleep(0.4))
    started = time.monotonic()
    text = reader(fake_slack, deadline=1.0, request_timeout=0.6).earlier(
        "C1", ROOT, ts_at(44), "UBOT"
    )
    assert time.monotonic() - started < 1.5
    assert text is not None and "reply 14" in text and "reply 44" not in text
    assert text.endswith("could not be read)")


def test_names_cache_is_bounded_and_expires() -> None:
    clock = Clock()
    names = NameCache(max_size=2, ttl=10, timer=clock)
    for user in ("U1", "U2", "U3"):
        names.put(user, user.lower())
        clock.advance(1)
    assert [names.get(u) for u in ("U1", "U2", "U3")] == [None, "u2", "u3"]  # oldest out
    clock.advance(7.5)  # U2 was put 9.5 s ago, U3 8.5 s ago
    assert (names.get("U2"), names.get("U3")) == ("u2", "u3")
    clock.advance(1)
    assert (names.get("U2"), names.get("U3")) == (None, "u3")
    clock.advance(1)
    assert names.get("U3") is None


def test_a_failed_lookup_is_remembered_briefly_then_the_least_recently_used_go() -> None:
    clock = Clock()
    names = NameCache(max_size=2, ttl=3_600, timer=clock)
    names.put("U1", "ada")
    names.put("U9", "U9", ttl=60)  # users.info failed: not asked again at once
    clock.advance(59)
    assert names.get("U9") == "U9"
    clock.advance(1)
    assert names.get("U9") is None  # asked again after a minute
    names.put("U2", "grace")  # room made by the expired failure, not by evicting U1
    assert (names.get("U2"), names.get("U1")) == ("grace", "ada")
    names.put("U3", "alan")  # full: U2 is the least recently used
    assert [names.get(u) for u in ("U1", "U2", "U3")] == ["ada", None, "alan"]
    clock.advance(10)
    names.put("U1", "Ada L.")  # a put replaces the name and restarts its TTL
    clock.advance(3_595)
    assert (names.get("U1"), names.get("U3")) == ("Ada L.", None)


def test_when_to_read() -> None:
    job = Job(kind="turn", team="T1", channel="C1", thread_ts=ROOT, ts=ts_at(44), user="U1")
    assert wants_earlier(job, has_history=False)
    assert not wants_earlier(job, has_history=True)
    top_level = Job(kind="turn", team="T1", channel="C1", thread_ts=ROOT, ts=ROOT, user="U1")
    dm = Job(kind="turn", team="T1", channel="D1", thread_ts="dm", ts=ts_at(1), user="U1")
    assert not wants_earlier(top_level, False) and not wants_earlier(dm, False)


def test_a_mid_thread_mention_gets_the_thread_once_and_stores_it(make_bot, fake_slack) -> None:
    """The first model input holds the earlier messages with their authors; later turns and
    other workers restore it from the session instead of asking Slack again."""
    serve(fake_slack, thread())
    model = ScriptedModel()
    bot = make_bot(model)
    bot.mention("so, ship it?", ts=ts_at(44), thread_ts=ROOT)
    fake_slack.wait_for("chat.postMessage")
    first = str(model.calls[0]["messages"][0]["content"])
    assert "Earlier in this thread" in first
    assert '[user U1 "Ada Lovelace"] shall we ship 2.0?' in first
    assert '[app B999 "CI bot"] build passed' in first and "Reminder: standup" not in first
    replies = len(fake_slack.calls("conversations.replies"))
    assert replies >= 1
    other_worker = make_bot(model)  # same Redis and sessions, a fresh process's memory
    other_worker.reply("and the date?", thread_ts=ROOT, ts=ts_at(45))
    fake_slack.wait_for("chat.postMessage", count=2)
    assert len(fake_slack.calls("conversations.replies")) == replies
    assert "shall we ship 2.0?" in str(model.calls[1]["messages"])  # restored, not re-read
