"""Other apps' posts in a joined thread: routed as notes, never turns, and shown to the
thread's next turn once. The posts are the stored real event bodies of tests/payloads/."""

from __future__ import annotations

from typing import Any

from bot.intake.route import Ignored, route_bot_post
from bot.jobs import session_id
from bot.turns.inputs.thread_notes import consumed, notes_text, pending_notes
from tests.fakes.model import ScriptedModel
from tests.fakes.slack_payloads import load
from tests.support.bot import settle
from tests.support.harness import next_ts


def in_thread(name: str, thread_ts: str = "8.1", **ids: Any) -> dict[str, Any]:
    """A stored real event, moved into channel C1, thread `thread_ts` (ids only)."""
    return load(name)["event"] | {"channel": "C1", "thread_ts": thread_ts, "ts": next_ts()} | ids


def test_other_apps_posts_in_joined_threads_are_routed_as_notes() -> None:
    joined = lambda job: job.thread_ts == "8.1"  # noqa: E731
    post = route_bot_post(
        in_thread("31_message_other_bot_bot_profile.json"), "T1", "UBOT", "BBOT", joined
    )
    assert not isinstance(post, Ignored)
    assert (post.name, post.job.text, post.job.session_id) == (
        "other-app",
        "Hi there! Thanks for sharing the info!",
        session_id("T1", "C1", "8.1"),
    )
    for event in (
        in_thread("31_message_other_bot_bot_profile.json", thread_ts="7.7"),  # not joined
        in_thread("31_message_other_bot_bot_profile.json") | {"thread_ts": None},
        in_thread("46_message_own_bot_reply_thread_A.json", user="UBOT", bot_id="BBOT"),
        in_thread("46_message_own_bot_reply_thread_A.json", user=None, bot_id="BBOT"),
        in_thread("30_message_slackbot_im_removed.json", channel_type="channel"),
        in_thread("26_message_thread_reply_A.json"),  # a person
        in_thread("31_message_other_bot_bot_profile.json") | {"text": None},
        in_thread("35_message_changed_bolt.json") | {"bot_id": "B999"},
    ):
        assert isinstance(route_bot_post(event, "T1", "UBOT", "BBOT", joined), Ignored), event
    classic = route_bot_post(
        in_thread("32_message_bot_message_classic.json")
        | {"text": "", "attachments": [{"fallback": "Build #12 failed", "color": "danger"}]},
        "T1",
        "UBOT",
        None,
        joined,
    )
    assert (classic.name, classic.job.text) == ("classic-bot", "Build #12 failed")


def test_other_apps_posts_become_notes_end_to_end(make_bot, fake_slack) -> None:
    model = ScriptedModel()
    bot = make_bot(model)
    bot.mention("watch this thread", ts="8.1")
    fake_slack.wait_for("chat.postMessage")
    sid = session_id("T1", "C1", "8.1")
    ci = in_thread("31_message_other_bot_bot_profile.json")
    assert bot.event(ci, event_id="EvCI")[0] == 200
    assert bot.event(ci, event_id="EvCI", retry_num=1, retry_reason="http_timeout")[0] == 200
    for event in (
        in_thread("32_message_bot_message_classic.json", text="deploy queued"),
        in_thread("30_message_slackbot_im_removed.json", channel_type="channel"),
        in_thread("46_message_own_bot_reply_thread_A.json", user="UBOT", bot_id="BBOT"),
        in_thread("31_message_other_bot_bot_profile.json", thread_ts="7.7"),  # not joined
    ):
        assert bot.event(event)[0] == 200
    settle(bot)
    assert len(model.calls) == 1  # apps' posts never start a turn
    notes, count = pending_notes(bot.runtime.state, sid)
    assert (
        notes
        == [
            '[app B999 "other-app"] Hi there! Thanks for sharing the info!',
            '[app B888 "classic-bot"] deploy queued',
        ]
        and count == 2
    )
    assert notes_text(notes).startswith("Posted in this thread by other apps")
    assert pending_notes(bot.runtime.state, session_id("T1", "C1", "7.7")) == ([], 0)
    consumed(bot.runtime.state, sid, count)
    assert pending_notes(bot.runtime.state, sid) == ([], 0)


def test_other_apps_posts_reach_the_next_turn_once(make_bot, fake_slack) -> None:
    model = ScriptedModel()
    bot = make_bot(model)
    bot.mention("watch this thread", ts="8.1")
    fake_slack.wait_for("chat.postMessage")
    assert bot.event(in_thread("31_message_other_bot_bot_profile.json"))[0] == 200
    bot.reply("did the build pass?", thread_ts="8.1")
    fake_slack.wait_for("chat.postMessage", count=2)
    assert '[app B999 "other-app"] Hi there!' in str(model.calls[1]["messages"][-1])
    bot.reply("thanks", thread_ts="8.1")
    fake_slack.wait_for("chat.postMessage", count=3)
    assert "other apps" not in str(model.calls[2]["messages"][-1])  # used once
