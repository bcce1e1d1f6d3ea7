"""A person's approval in the thread before a risky tool runs (bot/turns/approval_turns.py,
bot/agent/approvals.py, bot/listeners/actions/approval.py): the bot's real turn path on the
strict fake Slack, a real Strands Agent whose tool loop the scripted model drives, and
clicks signed as Slack posts them (captured body 87's button click)."""

from __future__ import annotations

import dataclasses
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from strands import tool

from bot.agent.tools import OWN_TOOLS
from bot.store.facts import APPROVAL_SWEEP
from bot.turns import approval_turns
from tests.fakes.model import ScriptedModel
from tests.fakes.slack_api import FakeSlack
from tests.support.approvals import buttons, click_payload, request, text_of
from tests.support.harness import Bot, now_ts
from tests.support.metrics import in_process, moved
from tests.support.tool_calls import texts, tool_results
from tests.support.wait import wait_until

CREATE = {"tool": "create_ticket", "input": {"title": "VPN down"}, "text": "I'll file it."}


@pytest.fixture
def created(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tickets `create_ticket` created (a tool the persona names, as its own)."""
    made: list[str] = []

    @tool
    def create_ticket(title: str) -> str:
        """Create a ticket.

        Args:
            title: the ticket's title.
        """
        made.append(title)
        return f"created T-{len(made)}: {title}"

    monkeypatch.setitem(OWN_TOOLS, "create_ticket", create_ticket)
    return made


def ops_bot(make_bot, tmp_path: Path, model: ScriptedModel, always: bool = False, **env) -> Bot:
    path = tmp_path / "personas.toml"
    path.write_text(
        '[[persona]]\nid = "ops"\nsystem_prompt = "You help."\n'
        'tools = ["create_ticket", "calculator"]\napprove = ["create_*"]\n'
        f"approve_always = {str(always).lower()}\n"
    )
    return make_bot(model, PERSONAS_FILE=str(path), **env)


def asking(
    make_bot, tmp_path: Path, slack: FakeSlack, *replies: Any, always: bool = False, **env: str
) -> tuple[Bot, ScriptedModel, str, dict[str, Any]]:
    """A bot whose model asks to create a ticket (then says `replies`), mentioned in a new
    thread: the bot, its model, the thread and the approval request shown there."""
    model = ScriptedModel([CREATE, *replies])
    bot = ops_bot(make_bot, tmp_path, model, always, **env)
    root = now_ts()
    bot.mention("our VPN is down, file a ticket", ts=root, user="U1")
    return bot, model, root, request(slack, root)


def click(bot: Bot, message: dict[str, Any], action_id: str, user: str = "U1") -> None:
    status, body = bot.interact(click_payload(message, action_id, user))
    assert status == 200, body


def answered(slack: FakeSlack, root: str, text: str) -> None:
    wait_until(lambda: text in slack.thread_text("C1", root), 20, f"{text!r} in the thread")


def test_nothing_runs_before_the_asker_approves_then_it_runs_once(
    make_bot, fake_slack: FakeSlack, tmp_path: Path, created: list[str]
) -> None:
    before = in_process()
    bot, model, root, asked = asking(make_bot, tmp_path, fake_slack, "Filed T-1.")
    assert "`create_ticket`" in text_of(asked) and "VPN down" in text_of(asked)
    assert moved(before, "tsb_approvals_total", persona="ops", outcome="requested") == 1
    assert set(buttons(asked)) == {"approval_approve", "approval_deny"}  # no "always" here
    assert created == [] and len(model.calls) == 1
    statuses = fake_slack.agent_sessions.statuses
    wait_until(lambda: statuses("C1", root)[-1:] == ["suspended"], 10, "the session suspended")

    click(bot, asked, "approval_approve", user="U2")  # someone else: refused, privately
    refused = fake_slack.wait_for("chat.postEphemeral", timeout=10)
    assert refused[0].params["user"] == "U2" and "<@U1>" in refused[0].params["text"]
    assert created == []

    click(bot, asked, "approval_approve", user="U1")
    answered(fake_slack, root, "Filed T-1.")
    assert created == ["VPN down"]
    assert "created T-1: VPN down" in texts(tool_results(model, 1)[-1])
    assert moved(before, "tsb_approvals_total", persona="ops", outcome="approve") == 1
    assert moved(before, "tsb_approval_wait_seconds_count") == 1
    decided = request(fake_slack, root)
    assert "Approved by <@U1>" in text_of(decided) and buttons(decided) == {}
    wait_until(lambda: statuses("C1", root)[-1:] == ["active"], 10, "the session active")

    click(bot, asked, "approval_approve", user="U1")  # a stale second click changes nothing
    bot.reply("thanks", thread_ts=root)
    answered(fake_slack, root, "reply to: thanks")
    assert created == ["VPN down"]
    assert fake_slack.stale_messages("C1", root) == []


def test_a_denied_call_never_runs_and_the_model_answers(
    make_bot, fake_slack: FakeSlack, tmp_path: Path, created: list[str]
) -> None:
    before = in_process()
    bot, model, root, asked = asking(make_bot, tmp_path, fake_slack, "OK, I won't file it.")
    click(bot, asked, "approval_deny")
    answered(fake_slack, root, "OK, I won't file it.")
    assert moved(before, "tsb_approvals_total", persona="ops", outcome="deny") == 1
    assert created == []
    [result] = tool_results(model, 1)
    assert result["status"] == "error" and "denied" in texts(result)


def test_a_message_sent_while_pending_waits_and_is_answered_after(
    make_bot, fake_slack: FakeSlack, tmp_path: Path, created: list[str]
) -> None:
    bot, model, root, asked = asking(make_bot, tmp_path, fake_slack, "Filed T-1.")
    bot.reply("also, what is 6*7?", thread_ts=root, user="U3")
    answered(fake_slack, root, "waiting for <@U1>'s decision")
    time.sleep(3)  # the worker's sweep comes back to the waiting message meanwhile
    assert len(model.calls) == 1  # the message waits: no model call
    click(bot, asked, "approval_approve")
    answered(fake_slack, root, "Filed T-1.")
    answered(fake_slack, root, "reply to: also, what is 6*7?")
    assert created == ["VPN down"]
    assert fake_slack.thread_text("C1", root).count("waiting for") == 1  # told once


def test_always_in_this_thread_skips_the_next_request(
    make_bot, fake_slack: FakeSlack, tmp_path: Path, created: list[str]
) -> None:
    second = {"tool": "create_ticket", "input": {"title": "Printer"}}
    bot, _, root, asked = asking(
        make_bot, tmp_path, fake_slack, "Filed T-1.", second, "Filed T-2.", always=True
    )
    click(bot, asked, "approval_always")
    answered(fake_slack, root, "Filed T-1.")
    bot.reply("and one for the printer", thread_ts=root)
    answered(fake_slack, root, "Filed T-2.")
    assert created == ["VPN down", "Printer"]
    assert fake_slack.thread_text("C1", root).count("Approval needed") == 1


def test_an_approval_nobody_decides_expires_as_denied(
    make_bot,
    fake_slack: FakeSlack,
    tmp_path: Path,
    created: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the sweep's window, 10 s, shortened (a key of its own: no other test's window counts)
    sweep = dataclasses.replace(APPROVAL_SWEEP, prefix=f"approval-sweep-{uuid.uuid4().hex}", ttl=1)
    monkeypatch.setattr(approval_turns, "APPROVAL_SWEEP", sweep)
    before = in_process()
    _, model, root, _ = asking(
        make_bot,
        tmp_path,
        fake_slack,
        "It expired, so nothing was filed.",
        APPROVAL_TIMEOUT_SECONDS="1",
    )
    answered(fake_slack, root, "It expired, so nothing was filed.")
    assert moved(before, "tsb_approvals_total", persona="ops", outcome="expired") == 1
    assert created == []
    assert "expired" in texts(tool_results(model, 1)[-1])
    expired = request(fake_slack, root)
    assert "Expired" in text_of(expired) and buttons(expired) == {}


def test_an_approver_decides_for_the_asker_and_the_answer_is_the_asker_s(
    make_bot, fake_slack: FakeSlack, tmp_path: Path, created: list[str]
) -> None:
    bot, _, root, asked = asking(
        make_bot, tmp_path, fake_slack, "Filed T-1.", APPROVERS="U0APPROVER", STREAMING="on"
    )
    streams_before = len(fake_slack.calls("chat.startStream"))
    click(bot, asked, "approval_approve", user="U0APPROVER")
    answered(fake_slack, root, "Filed T-1.")
    assert created == ["VPN down"]
    assert "Approved by <@U0APPROVER>" in text_of(request(fake_slack, root))
    resumed = fake_slack.calls("chat.startStream")[streams_before:]
    assert resumed and {c.params["recipient_user_id"] for c in resumed} == {"U1"}


def test_a_reset_withdraws_a_waiting_request(
    make_bot, fake_slack: FakeSlack, tmp_path: Path, created: list[str]
) -> None:
    bot, _, root, asked = asking(make_bot, tmp_path, fake_slack)
    status, _ = bot.command(root)  # /reset <the thread's ts>
    assert status == 200
    answered(fake_slack, root, "reset this conversation")
    withdrawn = request(fake_slack, root)
    assert "Withdrawn: <@U1> reset the conversation" in text_of(withdrawn)
    assert buttons(withdrawn) == {}
    click(bot, asked, "approval_approve")  # the old buttons, clicked anyway: nothing runs
    time.sleep(1)
    assert created == []
