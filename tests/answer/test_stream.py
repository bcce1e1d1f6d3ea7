"""Streamed answers through the real endpoint: the call sequence, every fallback, crashes.

The fake Web API keeps streamed messages as Slack does (tests/fakes/slack_streams.py); the
scripted model streams its text in small deltas, like a provider.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from bot.answer.stop import stop_key
from bot.jobs import session_id
from tests.fakes.model import ScriptedModel
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import block_action, button_action
from tests.support.bot import personas_file, settle, slow, web_personas_file
from tests.support.harness import Bot, message_event, next_ts
from tests.support.wait import wait_until
from tests.support.web_tools import DOCS, GOOD, GUIDE

ANSWER = "Streaming answers arrive a few words at a time, " * 8


def streaming_bot(make_bot, model: ScriptedModel, **env: str) -> Bot:
    return make_bot(model, STREAMING="on", **env)


def message_of(slack: FakeSlack, thread_ts: str) -> dict:
    messages = [m for m in slack.streams.messages.values() if m["thread_ts"] == thread_ts]
    assert len(messages) == 1, messages
    return messages[0]


def sent_markdown(slack: FakeSlack) -> list[str]:
    texts = []
    for call in slack.calls():
        if call.method in ("chat.startStream", "chat.appendStream", "chat.stopStream"):
            texts.append(call.params.get("markdown_text") or "")
            texts += [c.get("text", "") for c in call.params.get("chunks") or []]
    return texts


def test_answer_streams_in_batches_and_ends_as_the_stored_answer(make_bot, fake_slack) -> None:
    model = slow(ANSWER)
    bot = streaming_bot(make_bot, model)
    root = bot.mention("explain streaming")
    fake_slack.wait_for("chat.stopStream", timeout=15)
    settle(bot)
    start = fake_slack.calls("chat.startStream")[0].params
    assert (start["channel"], start["thread_ts"]) == ("C1", root["ts"])
    assert (start["recipient_user_id"], start["recipient_team_id"]) == ("U1", "T1")
    message = message_of(fake_slack, root["ts"])
    assert message["text"].strip() == ANSWER.strip() and not message["streaming"]
    assert message["metadata"]["event_payload"]["for_ts"] == root["ts"]
    appends = fake_slack.calls("chat.appendStream")
    deltas = len(ANSWER) // 8
    assert 1 <= len(appends) < deltas / 3, f"{len(appends)} appends for {deltas} deltas"
    assert fake_slack.calls("chat.postMessage") == []  # one message, no second copy
    streamed_blocks = [b for c in message["chunks"] if c["type"] == "blocks" for b in c["blocks"]]
    assert not any(
        e.get("action_id") == "stop_answer" for b in streamed_blocks for e in b.get("elements", [])
    )  # Slack's agent session shows its own stop while it streams
    final = json.dumps(message["blocks"])
    assert "feedback_buttons" in final  # then 👍/👎
    assert fake_slack.agent_sessions.statuses("C1", root["ts"]) == ["processing", "active"]
    # The next turn remembers the streamed answer as the stored one.
    bot.reply("and then?", thread_ts=root["ts"])
    wait_for_streams(fake_slack, 2)
    assert ANSWER.strip() in str(model.calls[-1]["messages"])


def wait_for_streams(slack: FakeSlack, count: int, timeout: float = 15) -> None:
    def finished() -> bool:
        return sum(not m["streaming"] for m in slack.streams.messages.values()) >= count

    try:
        wait_until(finished, timeout, f"{count} finished streams")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; calls:\n{slack.summary()}") from None


def test_refused_streaming_falls_back_to_posting_and_is_not_retried(make_bot, fake_slack) -> None:
    fake_slack.streams.refusal = "not_allowed"
    bot = streaming_bot(make_bot, slow("first answer"))
    root = bot.mention("hello")
    post = fake_slack.wait_for("chat.postMessage")[0]
    assert post.params["thread_ts"] == root["ts"] and post.params["text"] == "first answer"
    bot.reply("again", thread_ts=root["ts"])
    fake_slack.wait_for("chat.postMessage", count=2)
    assert len(fake_slack.calls("chat.startStream")) == 1  # this workspace cannot stream


def test_dm_top_level_is_posted_not_streamed(make_bot, fake_slack) -> None:
    bot = streaming_bot(make_bot, slow("dm answer"))
    assert bot.event(message_event("hi", "D1", next_ts(), channel_type="im"))[0] == 200
    post = fake_slack.wait_for("chat.postMessage")[0]
    assert post.params.get("thread_ts") is None and post.params["text"] == "dm answer"
    assert fake_slack.calls("chat.startStream") == []


def test_expired_stream_is_finished_with_an_update_of_the_same_message(
    make_bot, fake_slack, tmp_path: Path
) -> None:
    model = slow(
        {"tool": "calculator", "input": {"expression": "6*7"}, "text": "Let me check."},
        "It is 42.",
        chars=4,
        delay=0.05,
    )
    model.delay = 0.6  # before each model call: the stream expires between them
    bot = streaming_bot(make_bot, model, PERSONAS_FILE=personas_file(tmp_path))
    root = bot.mention("what is 6*7?")
    fake_slack.wait_for("chat.startStream")
    ts = next(iter(fake_slack.streams.messages))
    fake_slack.streams.expire(ts)  # Slack ends streams left open too long
    fake_slack.wait_for("chat.update", timeout=15)
    settle(bot)
    message = fake_slack.streams.messages[ts]
    assert message["text"] == "Let me check.\n\nIt is 42." and not message["streaming"]
    assert message["metadata"]["event_payload"] == {"for_ts": root["ts"], "part": 0, "parts": 1}
    assert fake_slack.calls("chat.postMessage") == []
    tasks = [
        c
        for call in fake_slack.calls("chat.startStream") + fake_slack.calls("chat.appendStream")
        for c in call.params.get("chunks") or []
        if c["type"] == "task_update"
    ]
    assert tasks and tasks[0]["title"] == "calculator"


def test_tool_runs_show_as_tasks_and_persona_identity_is_on_the_stream(
    make_bot, fake_slack, tmp_path: Path
) -> None:
    model = slow({"tool": "calculator", "input": {"expression": "2+2"}}, "Four.")
    bot = streaming_bot(make_bot, model, PERSONAS_FILE=personas_file(tmp_path))
    bot.mention("2+2?")
    wait_for_streams(fake_slack, 1)
    start = fake_slack.calls("chat.startStream")[0].params
    assert (start["username"], start["icon_emoji"]) == ("Calc", ":abacus:")
    chunks = [
        c
        for call in fake_slack.calls()
        if call.method.startswith("chat.")
        for c in call.params.get("chunks") or []
        if c["type"] == "task_update"
    ]
    assert [c["status"] for c in chunks] == ["in_progress", "complete"]


def test_a_posted_answer_names_the_tools_it_used(make_bot, fake_slack, tmp_path: Path) -> None:
    model = ScriptedModel([{"tool": "calculator", "input": {"expression": "2+2"}}, "Four."])
    bot = make_bot(model, PERSONAS_FILE=personas_file(tmp_path))  # STREAMING=off: posted
    bot.mention("2+2?")
    post = fake_slack.wait_for("chat.postMessage")[0]
    lines = [b for b in post.params["blocks"] if b["type"] == "context"]
    assert post.params["text"] == "Four." and "Used `calculator`" in json.dumps(lines)


def test_model_error_mid_stream_ends_the_message_with_the_apology(make_bot, fake_slack) -> None:
    model = slow(
        {"text": "Half an answ", "then_raise": RuntimeError("provider broke")}, "fresh answer"
    )
    bot = streaming_bot(make_bot, model)
    root = bot.mention("try")
    wait_for_streams(fake_slack, 1)
    settle(bot)
    message = message_of(fake_slack, root["ts"])
    assert message["text"].startswith("Half an answ") and "Sorry" in message["text"]
    assert fake_slack.calls("chat.postMessage") == []  # no second message with the apology
    bot.reply("again", thread_ts=root["ts"])
    wait_for_streams(fake_slack, 2)
    assert model.calls[-1]["messages"][0]["content"] == [{"text": "again"}]  # history valid


def test_a_failed_attempt_mid_stream_is_completed_in_the_same_message(make_bot, fake_slack) -> None:
    """A storage error mid-turn (as after a crash): the retry re-runs the model and replaces
    the half-streamed message, never posting a second copy."""
    model = slow({"text": "partial", "then_raise": OSError("disk went away")}, "whole answer")
    bot = streaming_bot(make_bot, model)
    root = bot.mention("go")
    fake_slack.wait_for("chat.update", timeout=20)
    settle(bot, timeout=10)
    assert len(fake_slack.calls("chat.startStream")) == 1
    message = message_of(fake_slack, root["ts"])
    assert message["text"] == "whole answer" and not message["streaming"]
    assert message["metadata"]["event_payload"]["for_ts"] == root["ts"]
    assert fake_slack.calls("chat.postMessage") == [] and len(model.calls) == 2


def test_stopping_keeps_the_partial_answer_marked_and_the_history_valid(
    make_bot, fake_slack
) -> None:
    model = slow("word " * 400, chars=5, delay=0.02)
    bot = streaming_bot(make_bot, model)
    root = bot.mention("ramble")
    fake_slack.wait_for("chat.appendStream")
    bot.runtime.state.set_fact(stop_key(session_id("T1", "C1", root["ts"])), root["ts"])
    wait_for_streams(fake_slack, 1)
    settle(bot)
    text = message_of(fake_slack, root["ts"])["text"]
    assert text.rstrip().endswith("_(stopped)_") and len(text) < len("word " * 400)
    bot.reply("thanks", thread_ts=root["ts"])
    wait_for_streams(fake_slack, 2)
    roles = [m["role"] for m in model.calls[-1]["messages"]]
    assert roles == ["user", "assistant", "user"]
    assert "_(stopped)_" in str(model.calls[-1]["messages"][1])


def test_the_stop_button_on_the_streaming_message_stops_it(make_bot, fake_slack) -> None:
    """Where Slack refuses agent sessions (so shows no stop of its own), ours is there."""
    fake_slack.agent_sessions.refuse("not_agent_app")
    model = slow("word " * 400, chars=5, delay=0.02)
    bot = streaming_bot(make_bot, model)
    root = bot.mention("ramble on")
    fake_slack.wait_for("chat.appendStream")
    [message] = fake_slack.streams.messages.values()
    [button] = [
        e
        for c in message["chunks"]
        if c["type"] == "blocks"
        for b in c["blocks"]
        for e in b["elements"]
        if e["action_id"] == "stop_answer"
    ]
    click = block_action(button_action("stop_answer", button["value"]), "C1", message["ts"])
    assert bot.interact(click)[0] == 200
    wait_for_streams(fake_slack, 1)
    settle(bot)
    final = message_of(fake_slack, root["ts"])
    assert final["text"].rstrip().endswith("_(stopped)_") and len(model.calls) == 1
    assert "stop_answer" not in json.dumps(final["blocks"])


def test_status_falls_back_to_a_reaction_and_waiting_messages_get_one(make_bot, fake_slack) -> None:
    fake_slack.agent_sessions.refuse("not_agent_app")  # no session: the status line, then…
    fake_slack.set_response("assistant.threads.setStatus", {"ok": False, "error": "not_allowed"})
    gate = threading.Event()
    bot = streaming_bot(make_bot, ScriptedModel(block_until=gate))
    root = bot.mention("first")
    fake_slack.wait_for("reactions.add")
    waiting = bot.reply("second", thread_ts=root["ts"])
    added = fake_slack.wait_for("reactions.add", count=2)
    assert [(c.params["timestamp"], c.params["name"]) for c in added] == [
        (root["ts"], "eyes"),
        (waiting["ts"], "hourglass_flowing_sand"),
    ]
    gate.set()
    removed = fake_slack.wait_for("reactions.remove", count=3, timeout=15)
    assert [(c.params["timestamp"], c.params["name"]) for c in removed] == [
        (root["ts"], "eyes"),
        (waiting["ts"], "hourglass_flowing_sand"),
        (waiting["ts"], "eyes"),
    ]


def test_status_is_cleared_when_the_turn_fails(make_bot, fake_slack) -> None:
    fake_slack.agent_sessions.refuse("not_agent_app")  # the status line, where no session
    bot = streaming_bot(make_bot, ScriptedModel([RuntimeError("boom")]))
    root = bot.mention("fail please")
    fake_slack.wait_for("chat.postMessage")
    cleared = fake_slack.wait_for("assistant.threads.setStatus", count=2)[-1].params
    assert (cleared["thread_ts"], cleared["status"]) == (root["ts"], "")


def test_an_answer_stored_but_not_delivered_is_replayed_into_the_same_message(
    make_bot, fake_slack
) -> None:
    """Slack fails the final stopStream (as if the worker died after saving the answer): the
    retry delivers the stored answer into the streamed message, without a model call."""
    fake_slack.fail_next("chat.stopStream", times=3, status=500)  # past slack_sdk's retries
    model = slow(ANSWER)
    bot = streaming_bot(make_bot, model)
    root = bot.mention("once only")
    fake_slack.wait_for("chat.update", timeout=20)
    settle(bot, timeout=10)
    message = message_of(fake_slack, root["ts"])
    assert message["text"].strip() == ANSWER.strip()
    assert message["metadata"]["event_payload"]["for_ts"] == root["ts"]
    assert len(model.calls) == 1 and fake_slack.calls("chat.postMessage") == []
    assert len(fake_slack.calls("chat.startStream")) == 1


def answer_view(slack: FakeSlack, thread_ts: str):
    """The bot's one answer in the thread, as the user sees it."""
    [view] = [m for m in slack.bot_messages("C1", thread_ts) if m.ts != thread_ts]
    return view


def test_a_tool_citing_pages_shows_them_on_its_card_and_under_the_answer(
    make_bot, fake_slack, tmp_path: Path
) -> None:
    model = slow({"tool": "web_search", "input": {"query": "streaming"}}, "Here is how.")
    bot = streaming_bot(make_bot, model, PERSONAS_FILE=web_personas_file(tmp_path))
    root = bot.mention("how do streams work?")
    wait_for_streams(fake_slack, 1)
    settle(bot)
    view = answer_view(fake_slack, root["ts"])
    assert view.task_display_mode == "timeline" and view.text == "Here is how."
    [card] = view.tasks
    assert (card.title, card.status) == ("web_search", "complete")
    assert card.sources == (
        (DOCS, "docs.example.com/streaming/answers"),
        (GUIDE, "example.org/guides/tasks"),
    )
    [used, sources] = view.context
    assert "Used `web_search`" in used
    assert (
        sources.startswith(":link: Sources:")
        and f"<{DOCS}|docs.example.com/streaming/answers>" in sources
    )
    assert "<https://www.example.org/guides/tasks?view=full&amp;lang=en|" in sources
    assert fake_slack.stale_messages() == []


def test_a_tool_without_links_has_no_sources_and_hostile_links_never_show(
    make_bot, fake_slack, tmp_path: Path
) -> None:
    model = slow({"tool": "calculator", "input": {"expression": "2+2"}}, "Four.")
    bot = streaming_bot(make_bot, model, PERSONAS_FILE=web_personas_file(tmp_path))
    root = bot.mention("2+2?")
    wait_for_streams(fake_slack, 1)
    settle(bot)
    view = answer_view(fake_slack, root["ts"])
    assert [(c.title, c.status, c.sources) for c in view.tasks] == [("calculator", "complete", ())]
    assert not any("Sources" in line for line in view.context)
    model.add_replies({"tool": "shady_page", "input": {"query": "x"}}, "Careful.")
    again = bot.mention("anything shady?")
    wait_for_streams(fake_slack, 2)
    settle(bot)
    shady = answer_view(fake_slack, again["ts"])
    assert [c.sources for c in shady.tasks] == [((GOOD, "good.example.net/ok"),)]
    [_, sources] = shady.context
    shown = json.dumps([c.params for c in fake_slack.calls()])
    for bad in ("javascript:", "data:text", "hunter2", "ftp://", "long.example.com"):
        assert bad not in sources and bad not in shown, bad
    assert f"<{GOOD}|good.example.net/ok>" in sources


def test_a_replayed_stored_answer_keeps_its_sources_line(
    make_bot, fake_slack, tmp_path: Path
) -> None:
    """Delivery fails after the turn was stored: the retry posts the stored answer, with
    its Sources line from the session history, without calling the model again."""
    fake_slack.fail_next("chat.stopStream", times=3, status=500)  # past slack_sdk's retries
    model = slow({"tool": "web_search", "input": {"query": "replay"}}, "Stored answer.")
    bot = streaming_bot(make_bot, model, PERSONAS_FILE=web_personas_file(tmp_path))
    root = bot.mention("once only")
    fake_slack.wait_for("chat.update", timeout=20)
    settle(bot, timeout=10)
    view = answer_view(fake_slack, root["ts"])
    assert view.text == "Stored answer." and len(model.calls) == 2  # the tool call, the answer
    assert len(fake_slack.calls("chat.startStream")) == 1
    [_, sources] = view.context
    assert f"<{DOCS}|docs.example.com/streaming/answers>" in sources
    assert fake_slack.stale_messages() == []
