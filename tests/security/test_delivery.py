"""Finding 5: an answer that was stored is not silently dropped when Slack keeps failing,
and a message that keeps failing workers is given up after MAX_FAILURES attempts counted
across processes, with an apology.

Backoffs are shortened here (the module constants); the outages are not: they last well
past the five attempts (about 15 s in production) after which an answer used to be dropped.
"""

from __future__ import annotations

import threading
import time

import pytest

from bot.jobs import session_id
from bot.turns import undelivered
from bot.turns import worker as worker_module
from tests.fakes.model import ScriptedModel
from tests.fakes.slack_api import FakeSlack
from tests.support.bot import model_called, settle
from tests.support.harness import Bot
from tests.support.wait import wait_until


@pytest.fixture(autouse=True)
def short_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_module, "SWEEP_SECONDS", 0.2)
    for name, seconds in (
        ("BACKOFF_SECONDS", 0.05),
        ("HOLD_SECONDS", 0.2),
        ("DELIVERY_MAX_BACKOFF_SECONDS", 0.4),
    ):
        monkeypatch.setattr(worker_module, name, seconds, raising=False)


def wait(condition, what: str, timeout: float = 30) -> None:
    wait_until(condition, timeout, what, 0.05)


# slack_sdk tries each attempt 3 times on a 5xx (backing off 0.5, 1 s), 4 times on a 429:
# either way, Slack fails more attempts than MAX_FAILURES (5), after which it was dropped.
@pytest.mark.parametrize(("status", "failures"), [(503, 18), (429, 24)])
def test_an_answer_survives_slack_failing_far_longer_than_five_attempts(
    make_bot, fake_slack: FakeSlack, status: int, failures: int
) -> None:
    model = ScriptedModel(["the answer, at last"])
    bot = make_bot(model)
    fake_slack.fail_next("chat.postMessage", times=failures, status=status, retry_after=0)
    root = bot.mention("are you there?")["ts"]
    wait(
        lambda: any(m.text == "the answer, at last" for m in fake_slack.bot_messages("C1", root)),
        "the answer once Slack recovered",
    )
    settle(bot, timeout=15)
    assert len(fake_slack.calls("chat.postMessage", include_failed=True)) > failures
    assert [m.text for m in fake_slack.bot_messages("C1", root)] == ["the answer, at last"]
    assert len(model.calls) == 1  # stored once, delivered from storage on every retry


def test_other_threads_flow_while_one_threads_answer_waits_for_slack(
    make_bot, fake_slack: FakeSlack
) -> None:
    """A thread whose delivery keeps failing does not hold a turn slot while it waits:
    with one slot (TURN_CONCURRENCY=1), another thread is still answered meanwhile."""
    broken = threading.Event()
    broken.set()

    def refuse_c1(call):
        if broken.is_set() and call.params.get("channel") == "C1":
            return {"ok": False, "error": "internal_error"}
        return fake_slack._default_response(call)

    fake_slack.set_response("chat.postMessage", refuse_c1)
    bot = make_bot(ScriptedModel(), TURN_CONCURRENCY="1")
    stuck = bot.mention("first", channel="C1")["ts"]
    wait(lambda: len(fake_slack.calls("chat.postMessage")) >= 3, "deliveries to fail a while")
    other = bot.mention("second", channel="C2")["ts"]
    wait(lambda: fake_slack.bot_messages("C2", other), "the other thread's answer")
    assert fake_slack.bot_messages("C1", stuck) == []
    broken.clear()
    wait(lambda: fake_slack.bot_messages("C1", stuck), "the first answer after recovery")
    settle(bot, timeout=15)
    assert [m.text for m in fake_slack.bot_messages("C1", stuck)] == ["reply to: first [1 msgs]"]


@pytest.mark.parametrize("error", ["internal_error", "not_in_channel"])
def test_an_answer_slack_never_took_is_reported_in_the_thread_when_slack_works_again(
    make_bot, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch, error: str
) -> None:
    """Slack fails past DELIVERY_GIVE_UP_SECONDS (here 1 s), or refuses for good: the
    message is given up, recorded, and the next answer in the thread is followed by a
    note saying an earlier answer could not be shown."""
    monkeypatch.setattr(worker_module, "DELIVERY_GIVE_UP_SECONDS", 1.0, raising=False)
    broken = threading.Event()
    broken.set()

    def refuse(call):
        return (
            {"ok": False, "error": error} if broken.is_set() else fake_slack._default_response(call)
        )

    fake_slack.set_response("chat.postMessage", refuse)
    model = ScriptedModel(["an answer nobody saw", "the second answer"])
    bot = make_bot(model)
    root = bot.mention("first question")["ts"]
    sid = session_id("T1", "C1", root)
    wait(lambda: model.calls and not bot.runtime.state.queued(sid), "the message given up")
    broken.clear()
    bot.reply("did you answer?", thread_ts=root)
    wait(lambda: len(fake_slack.bot_messages("C1", root)) >= 2, "the answer and the note")
    settle(bot, timeout=15)
    shown = [m.text for m in fake_slack.bot_messages("C1", root)]
    assert shown[0] == "the second answer" and len(shown) == 2, shown
    assert "could not be shown" in shown[1] and "<!date^" in shown[1]
    assert len(model.calls) == 2


def test_the_failure_count_of_a_message_survives_a_worker_restart(
    make_bot, fake_slack: FakeSlack
) -> None:
    """Storage fails every turn of one message. Two workers sharing Redis make five
    attempts between them, not five each; the last one apologises in the thread."""
    first = ScriptedModel([OSError("disk went away")] * 10)
    bot = make_bot(first)
    root = bot.mention("this one is cursed")["ts"]
    model_called(first, count=2)
    bot.stop()  # the worker restarts: a deploy, or a crash that took it down
    tried = len(first.calls)
    assert 2 <= tried < worker_module.MAX_FAILURES
    second = ScriptedModel([OSError("disk went away")] * 10)
    other: Bot = make_bot(second)
    wait(lambda: fake_slack.bot_messages("C1", root), "the apology")
    settle(other, timeout=15)
    assert len(second.calls) == worker_module.MAX_FAILURES - tried
    [apology] = fake_slack.bot_messages("C1", root)
    assert "Sorry" in apology.text


def test_an_unshown_answer_is_reported_once_slack_recovers_though_nobody_writes_again(
    make_bot, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slack refuses an answer for good, then takes posts again; nobody writes in the
    thread: the sweep posts the note there, once, and no other process repeats it."""
    monkeypatch.setattr(undelivered, "REPORT_SECONDS", 0.3, raising=False)
    broken = threading.Event()
    broken.set()

    def refuse(call):
        if broken.is_set():
            return {"ok": False, "error": "not_in_channel"}
        return fake_slack._default_response(call)

    fake_slack.set_response("chat.postMessage", refuse)
    model = ScriptedModel(["an answer nobody saw"])
    bot = make_bot(model)
    root = bot.mention("first question")["ts"]
    sid = session_id("T1", "C1", root)
    wait(lambda: model.calls and not bot.runtime.state.queued(sid), "the message given up")
    time.sleep(1.0)  # several report rounds while Slack still refuses: nothing is lost
    assert not fake_slack.bot_messages("C1", root)
    broken.clear()
    wait(lambda: fake_slack.bot_messages("C1", root), "the note, without a new message")
    time.sleep(1.0)  # more rounds: the note is posted once
    [note] = fake_slack.bot_messages("C1", root)
    assert "could not be shown" in note.text and "<!date^" in note.text
    assert len(model.calls) == 1
