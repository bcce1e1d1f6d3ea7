"""Real Slack request bodies (tests/payloads/, sources in its README) against the real endpoint.

Every body is sent signed, exactly as stored: with Slack's nulls, missing fields, objects
where one might expect strings, and event types the bot has no listener for.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from typing import Any
from urllib.parse import quote

import pytest
from slack_bolt.request import BoltRequest

from bot.jobs import session_id
from bot.slack.payloads import MalformedPayload, bolt_request, installation_id
from tests.fakes.model import ScriptedModel
from tests.fakes.signing import _post, sign
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import PAYLOADS, raw_body
from tests.support.bot import settle
from tests.support.harness import SECRET, Bot
from tests.support.wait import wait_until

META: dict[str, dict[str, Any]] = json.loads((PAYLOADS / "meta.json").read_text())
BOT_USER = "U0BOT"  # the bot user id the stored bodies mention


def send(bot: Bot, name: str) -> tuple[int, str]:
    content_type, body = raw_body(name)
    return _post(bot.url, body, {**sign(SECRET, body), "Content-Type": content_type})


def place(name: str) -> tuple[str, str | None]:
    """Where a turn's answer belongs: the channel, and the thread (None: DM top level)."""
    event = json.loads((PAYLOADS / name).read_text())["event"]
    if event.get("channel_type") == "im" and not event.get("thread_ts"):
        return event["channel"], None
    return event["channel"], event.get("thread_ts") or event["ts"]


def answers(slack: FakeSlack) -> Counter[tuple[str, str | None]]:
    return Counter(
        (c.params.get("channel"), c.params.get("thread_ts"))
        for c in slack.calls("chat.postMessage", include_failed=False)
    )


def real_slack_bot(make_bot, fake_slack: FakeSlack, model: ScriptedModel) -> Bot:
    fake_slack.set_response(
        "auth.test",
        {
            "ok": True,
            "user_id": BOT_USER,
            "bot_id": "B0BOT",
            "team_id": "T0EXAMPLE",
            "team": "Example",
            "user": "thread-bot",
            "url": "https://example.slack.com/",
        },
    )
    return make_bot(model)


def test_every_real_payload_is_acked_and_handled_as_slack_means_it(
    make_bot, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    model = ScriptedModel()
    bot = real_slack_bot(make_bot, fake_slack, model)
    expected: Counter[tuple[str, str | None]] = Counter()
    turns = 0
    for name in sorted(META):
        expect = META[name]["expect"]
        status, response = send(bot, name)
        assert 200 <= status < 300, (name, status, response)
        if expect == "turn":
            turns += 1
            where = place(name)
            expected[where] += 1
            want = expected[where]
            wait_until(
                lambda where=where, want=want: answers(fake_slack)[where] >= want,
                what=f"{want} answer(s) in {where}",
            )
        elif expect == "reset":
            before = len(fake_slack.calls("chat.postEphemeral"))
            wait_until(
                lambda b=before: len(fake_slack.calls("chat.postEphemeral")) > b,
                what="an ephemeral answer",
            )
            settle(bot)
            expected = answers(fake_slack)  # the reset's note in the thread
        elif expect == "challenge":
            challenge = json.loads((PAYLOADS / name).read_text())["challenge"]
            assert challenge in response, (name, response)
    settle(bot)
    assert answers(fake_slack) == expected
    assert len(model.calls) == turns
    problems = [
        r
        for r in caplog.records
        if r.levelno >= logging.ERROR
        or r.exc_info
        or (
            r.levelno >= logging.WARNING and r.name.startswith(("slack_bolt", "bot.serve.bolt_app"))
        )
    ]
    assert not problems, [f"{r.name}: {r.getMessage()}" for r in problems]


def test_mentions_answer_with_the_bot_mention_removed(make_bot, fake_slack) -> None:
    model = ScriptedModel()
    bot = real_slack_bot(make_bot, fake_slack, model)
    assert send(bot, "11_app_mention_real_enterprise_null.json")[0] == 200
    fake_slack.wait_for("chat.postMessage")
    assert model.calls[0]["messages"][-1]["content"] == [{"text": "test"}]


def test_slackbot_notices_never_start_a_turn(make_bot, fake_slack) -> None:
    model = ScriptedModel()
    bot = real_slack_bot(make_bot, fake_slack, model)
    slackbot = [n for n in META if "slackbot" in n.lower()]
    assert slackbot, "the corpus has Slackbot notices"
    for name in slackbot:
        assert send(bot, name)[0] == 200
    settle(bot)
    assert model.calls == [] and fake_slack.calls("chat.postMessage") == []


def context_of(name: str) -> Any:
    content_type, body = raw_body(name)
    return BoltRequest(body=body, headers={"content-type": [content_type]}).context


@pytest.mark.parametrize(
    ("names", "installation"),
    [
        (
            [
                "11_app_mention_real_enterprise_null.json",
                "22_message_im_real.json",
                "80_message_action_reset_real_enterprise_null.form.json",
            ],
            "T0EXAMPLE",
        ),
        (
            [
                "10_app_mention_grid_authed_users.json",
                "26_message_thread_reply_A.json",
                "70_slash_command_grid_bolt.txt",
                "81_message_action_reset_grid_bolt.form.json",
            ],
            "T0EXAMPLE",
        ),
        (
            [
                "16_app_mention_org_wide_install.json",
                "43_message_org_app_mention_text.json",
                "89_block_actions_org_wide_java.form.json",
                "92_view_submission_org_wide_java.form.json",
            ],
            "E111",
        ),
    ],
    ids=["workspace", "grid_workspace", "grid_org_wide"],
)
def test_installation_is_the_same_for_every_kind_of_request(names, installation) -> None:
    """Events, slash commands and shortcuts of one install key a thread the same way, even
    where Slack sends `team_id: null` (org-wide events) or `"team": null` (org-wide actions)."""
    for name in names:
        assert installation_id(context_of(name)) == installation, name
    assert session_id(installation, "C1", "1.2") == f"{installation}_C1_1-2"


def test_slack_connect_users_of_the_other_org_share_the_thread_session() -> None:
    root = context_of("03_prime_threadX_app_mention_slack_connect.json")
    replies = [n for n, m in META.items() if m.get("channel") == "C0THRX" and m["thread_ts"]]
    assert replies, "the corpus has a Slack Connect thread reply"
    for name in replies:
        assert installation_id(context_of(name)) == installation_id(root) == "T0EXAMPLE"


@pytest.mark.parametrize(
    "body",
    [
        "[]",
        "null",
        "5",
        '"text"',
        '{"team": 5}',
        '{"authorizations": [7]}',
        '{"event": {"user": 5}}',
        "payload=not-json",
        "payload=%5B%5D",
    ],
)
def test_what_slack_never_sends_is_malformed(body: str) -> None:
    content_type = "application/x-www-form-urlencoded" if "=" in body else "application/json"
    with pytest.raises(MalformedPayload):
        bolt_request(body, "", {"content-type": content_type})


def test_signed_non_slack_bodies_get_a_400_and_change_nothing(make_bot, fake_slack) -> None:
    model = ScriptedModel()
    bot = make_bot(model)
    for body in ("[1, 2]", '{"team": 5, "type": "block_actions"}', "\xff garbage"):
        status, response = _post(
            bot.url, body, {**sign(SECRET, body), "Content-Type": "application/json"}
        )
        assert status == 400 and "not a Slack payload" in response, (body, status, response)
    settle(bot)
    assert model.calls == [] and fake_slack.calls("chat.postMessage") == []


def test_org_wide_install_keeps_one_session_across_events_and_shortcuts(
    make_bot, fake_slack
) -> None:
    """Org-wide events carry `team_id: null`, its shortcuts `"team": null`; same thread."""
    model = ScriptedModel()
    bot = real_slack_bot(make_bot, fake_slack, model)
    root = json.loads((PAYLOADS / "16_app_mention_org_wide_install.json").read_text())
    channel, thread_ts = root["event"]["channel"], root["event"]["ts"]
    assert send(bot, "16_app_mention_org_wide_install.json")[0] == 200
    fake_slack.wait_for("chat.postMessage")

    reply = json.loads((PAYLOADS / "47_message_org_wide_thread_reply_new_channel.json").read_text())
    reply["event"].update(channel=channel, thread_ts=thread_ts)
    post = lambda body, kind="application/json": _post(  # noqa: E731
        bot.url, body, {**sign(SECRET, body), "Content-Type": kind}
    )
    assert post(json.dumps(reply))[0] == 200
    fake_slack.wait_for("chat.postMessage", count=2)
    assert len(model.calls[-1]["messages"]) == 3  # the reply continued the mention's session

    # The message shortcut of an org-wide install: Slack sends "team": null there.
    shortcut = json.loads(
        (PAYLOADS / "80_message_action_reset_real_enterprise_null.form.json").read_text()
    )
    shortcut.update(
        team=None, is_enterprise_install=True, enterprise={"id": "E111", "name": "Org Name"}
    )
    shortcut["channel"]["id"] = channel
    shortcut["message"].update(ts=thread_ts)
    form = "payload=" + quote(json.dumps(shortcut), safe="")
    assert post(form, "application/x-www-form-urlencoded")[0] == 200
    fake_slack.wait_for("chat.postEphemeral")
    settle(bot)
    reply["event"].update(ts="1726133799.000100", event_ts="1726133799.000100")
    reply["event_id"] = "Ev0CORP047b"
    assert post(json.dumps(reply))[0] == 200
    wait_until(lambda: len(model.calls) == 3, what="3 model calls")
    assert len(model.calls[-1]["messages"]) == 1  # the shortcut reset that same session
