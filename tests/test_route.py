"""Routing rules, as pure functions."""

from __future__ import annotations

from bot.jobs import Job, session_id
from bot.route import MAX_TEXT_CHARS, Ignored, route_mention, route_message, split_persona

IDS = ["default", "critic"]


def mention(text: str, **extra: str) -> dict:
    return {"type": "app_mention", "user": "U1", "text": text, "ts": "2.0", "channel": "C1",
            **extra}


def test_mention_strips_markup_and_roots_the_thread() -> None:
    job = route_mention(mention("<@UBOT> hello <@UBOT|bot>"), "T1", "UBOT", IDS)
    assert isinstance(job, Job)
    assert (job.text, job.thread_ts, job.kind) == ("hello", "2.0", "turn")
    reply = route_mention(mention("<@UBOT> more", thread_ts="1.0"), "T1", "UBOT", IDS)
    assert reply.thread_ts == "1.0" and reply.session_id == session_id("T1", "C1", "1.0")


def test_persona_prefix_and_reset_word() -> None:
    assert split_persona("Critic: is it good?", IDS) == ("critic", "is it good?")
    assert split_persona("note: not a persona", IDS) == (None, "note: not a persona")
    job = route_mention(mention("<@UBOT> critic: reset"), "T1", "UBOT", IDS)
    assert job.kind == "reset"


def test_huge_messages_are_capped() -> None:
    job = route_mention(mention("<@UBOT> " + "é" * 40_000), "T1", "UBOT", IDS)
    assert len(job.text) == MAX_TEXT_CHARS


def test_session_ids_are_safe_and_distinct() -> None:
    assert session_id("T1", "C1", "1.2") == "T1_C1_1-2"
    assert session_id("T1", "C1", "1.2") != session_id("T1", "C2", "1.2")
    assert session_id("T/../x", "C1", "../../etc") == "T----x_C1_------etc"


def test_message_routes() -> None:
    base = {"type": "message", "user": "U1", "text": "hi", "ts": "3.0", "channel": "C1"}
    joined = lambda job: True  # noqa: E731
    assert isinstance(route_message(base | {"thread_ts": "1.0"}, "T1", "UBOT", IDS, joined), Job)
    assert isinstance(route_message(base | {"thread_ts": "1.0"}, "T1", "UBOT", IDS,
                                    lambda job: False), Ignored)
    assert isinstance(route_message(base, "T1", "UBOT", IDS, joined), Ignored)
    dm = route_message(base | {"channel_type": "im", "channel": "D1"}, "T1", "UBOT", IDS, joined)
    assert isinstance(dm, Job) and dm.thread_ts == "dm" and dm.reply_thread_ts is None
    assert isinstance(route_message(base | {"thread_ts": "1.0", "text": "<@UBOT> hi"},
                                    "T1", "UBOT", IDS, joined), Ignored)
    assert isinstance(route_message({"type": "message", "channel": "C1"}, "T1", "UBOT", IDS,
                                    joined), Ignored)
