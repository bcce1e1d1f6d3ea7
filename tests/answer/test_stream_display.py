"""Stream display (bot/answer/stream_display.py): a turn of several tool calls streams as
a plan, titled "Working…" then its outcome, with no card left in progress; one tool call
streams as a timeline. Seen as the user sees the thread (tests/fakes/slack_view.py)."""

from __future__ import annotations

import re
from pathlib import Path

from bot.answer.stop import stop_key
from bot.jobs import session_id
from tests.fakes.model import ScriptedModel
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_view import MessageView
from tests.support.bot import settle, slow, web_personas_file
from tests.support.wait import wait_until
from tests.support.web_tools import DOCS, GOOD, GUIDE

SEARCH = {"tool": "web_search", "input": {"query": "plans"}}
FETCH = {"tool": "fetch_page", "input": {"url": DOCS}}


def the_answer(slack: FakeSlack, thread_ts: str) -> MessageView:
    [view] = [m for m in slack.bot_messages("C1", thread_ts) if m.ts != thread_ts]
    return view


def finished(slack: FakeSlack, count: int = 1) -> None:
    def done() -> bool:
        return sum(not m["streaming"] for m in slack.streams.messages.values()) >= count

    wait_until(done, 15, f"{count} finished stream(s)")


def bot_with(make_bot, model: ScriptedModel, tmp_path: Path):
    return make_bot(model, STREAMING="on", PERSONAS_FILE=web_personas_file(tmp_path))


def test_several_tools_stream_as_a_plan_that_ends_with_how_long_it_worked(
    make_bot, fake_slack, tmp_path: Path
) -> None:
    bot = bot_with(make_bot, slow(SEARCH, FETCH, "Both say the same."), tmp_path)
    root = bot.mention("research plans")
    finished(fake_slack)
    settle(bot)
    [start] = fake_slack.calls("chat.startStream")
    assert start.params["task_display_mode"] == "plan"
    titles = [
        c["title"]
        for call in fake_slack.calls()
        if call.method.startswith("chat.")
        for c in call.params.get("chunks") or []
        if c["type"] == "plan_update"
    ]
    assert titles[0] == "Working…" and re.fullmatch(r"Worked for \d+s", titles[-1])
    view = the_answer(fake_slack, root["ts"])
    assert view.task_display_mode == "plan" and view.plan_title == titles[-1]
    assert [(c.title, c.status) for c in view.tasks] == [
        ("web_search", "complete"),
        ("fetch_page", "complete"),
    ]
    assert [[url for url, _ in c.sources] for c in view.tasks] == [[DOCS, GUIDE], [DOCS, GOOD]]
    [_, sources] = view.context  # the answer's line: the pages of both tools
    assert all(f"<{url}" in sources.replace("&amp;", "&") for url in (DOCS, GUIDE, GOOD))
    assert view.text == "Both say the same." and fake_slack.stale_messages() == []


def test_one_tool_then_text_streams_as_a_timeline(make_bot, fake_slack, tmp_path: Path) -> None:
    bot = bot_with(make_bot, slow(SEARCH, "Found it."), tmp_path)
    root = bot.mention("look once")
    finished(fake_slack)
    settle(bot)
    view = the_answer(fake_slack, root["ts"])
    assert view.task_display_mode == "timeline" and view.plan_title is None
    assert [c.status for c in view.tasks] == ["complete"]


def test_a_stopped_plan_says_so_and_leaves_no_card_in_progress(
    make_bot, fake_slack, tmp_path: Path
) -> None:
    model = slow(SEARCH, FETCH, "word " * 400, chars=5, delay=0.02)
    bot = bot_with(make_bot, model, tmp_path)
    root = bot.mention("ramble after looking")
    wait_until(
        lambda: any(
            c["type"] == "markdown_text"
            for call in fake_slack.calls("chat.appendStream")
            for c in call.params.get("chunks") or []
        ),
        15,
        "the answer's text streaming",
    )
    bot.runtime.state.set_fact(stop_key(session_id("T1", "C1", root["ts"])), root["ts"])
    finished(fake_slack)
    settle(bot)
    view = the_answer(fake_slack, root["ts"])
    assert view.plan_title == "Stopped" and view.text.rstrip().endswith("_(stopped)_")
    assert all(c.status != "in_progress" for c in view.tasks) and len(view.tasks) == 2
    assert fake_slack.stale_messages() == []


def test_a_plan_whose_model_fails_ends_as_an_error_with_its_cards_closed(
    make_bot, fake_slack, tmp_path: Path
) -> None:
    model = slow(SEARCH, FETCH, {"text": "Half", "then_raise": RuntimeError("provider broke")})
    bot = bot_with(make_bot, model, tmp_path)
    root = bot.mention("try to research")
    finished(fake_slack)
    settle(bot)
    view = the_answer(fake_slack, root["ts"])
    assert view.plan_title == "Error" and "Sorry" in view.text
    assert [c.status for c in view.tasks] == ["complete", "complete"]
    assert fake_slack.stale_messages() == []
