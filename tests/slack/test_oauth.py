"""Many workspaces: Bolt's OAuth flow over real HTTP, each installation's own token for every
Web API call (also from the turns worker), separate sessions, and uninstall / revocation."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.jobs import Job, session_id
from tests.fakes.file_server import FileServer
from tests.fakes.model import ScriptedModel
from tests.fakes.signing import post_event
from tests.fakes.slack_api import FakeSlack, Workspace
from tests.fakes.slack_payloads import (
    FILE_SNIPPET,
    event_callback,
    file_share_event,
    mention_event,
    slack_file,
)
from tests.support.bot import model_called, settle
from tests.support.harness import SECRET, Bot, base_env, next_ts, now_ts
from tests.support.oauth import (
    CLIENT_ID,
    SCOPE,
    TEAM_A,
    TEAM_B,
    Storage,
    authorization_of,
    base,
    callback_url,
    get,
    lifecycle_event,
    oauth_mode_bot,
    s3_keys,
    start_install,
)


def install(bot: Bot, slack: FakeSlack, workspace: Workspace) -> str:
    """The whole flow, as a browser goes through it; returns the success page."""
    code = f"code-{workspace.team_id}"
    slack.add_install(code, workspace)
    state = start_install(bot)
    status, _, page = get(callback_url(bot, code, state), state)
    assert status == 200, page
    return page


def send(bot: Bot, workspace: Workspace, event: dict[str, Any]) -> tuple[int, str]:
    """A signed event from `workspace`, in the envelope shape Slack sends it."""
    body = event_callback(event, team_id=workspace.team_id)
    body["authorizations"][0].update(authorization_of(workspace))
    return post_event(bot.url, SECRET, body)


def mention(
    workspace: Workspace, text: str, ts: str, thread_ts: str | None = None
) -> dict[str, Any]:
    event = mention_event(text, "C1", ts, thread_ts, "U1", team=workspace.team_id)
    event["text"] = event["text"].replace("<@UBOT>", f"<@{workspace.bot_user_id}>")
    return event


def posted(slack: FakeSlack, token: str) -> list[str]:
    return [
        c.params.get("text", "") for c in slack.calls("chat.postMessage", False) if c.token == token
    ]


@pytest.fixture
def oauth_bot(fake_slack: FakeSlack, session_dir: Path) -> Iterator[Bot]:
    with oauth_mode_bot(fake_slack, session_dir) as bot:
        yield bot


# --- the install flow ---------------------------------------------------------------
def test_install_flow_over_http_stores_the_installation(
    install_storage: tuple[Storage, dict[str, str]], fake_slack: FakeSlack, session_dir: Path
) -> None:
    storage, extra = install_storage
    with oauth_mode_bot(fake_slack, session_dir, **extra) as bot:
        state = start_install(bot)
        if storage == "s3":  # the state is signed, not stored (bot/slack/oauth_state.py)
            assert not [key for key in s3_keys(extra) if "oauth-state" in key]
        # without the browser's cookie, or with a made-up state, nothing is installed
        fake_slack.add_install("code-1", TEAM_B)
        redirect = f"{base(bot)}/slack/oauth_redirect?code=code-1&state={state}"
        assert get(redirect)[0] == 400
        assert get(redirect.replace(state, "forged"), "forged")[0] == 401
        status, _, page = get(redirect, state)
        assert status == 200 and "slack://app?team=TB0002" in page
        assert get(redirect, state)[0] == 401  # a state is used once
        exchange = fake_slack.calls("oauth.v2.access")
        assert [c.params.get("code") for c in exchange] == ["code-1"]

        store = bot.runtime.slack.store
        assert store is not None
        found = store.find_bot(enterprise_id=None, team_id="TB0002")
        assert found is not None and (found.bot_token, found.bot_user_id) == (
            "xoxb-team-b",
            "UBOTB",
        )
        assert found.bot_id == "BBOTB"  # from auth.test with the new token, as Bolt asks it
        where = f"installations/{CLIENT_ID}/none-TB0002/bot-latest"
        if storage == "s3":
            keys = s3_keys(extra)
            assert f"bot/{where}" in keys and all(key.startswith("bot/") for key in keys)
            # the one write of the flow's state: the mark that it was used
            assert len([key for key in keys if key.startswith("bot/oauth-state/")]) == 1
        else:
            assert (session_dir / where).is_file()
            assert (session_dir / "installations").stat().st_mode & 0o077 == 0


# --- two workspaces -----------------------------------------------------------------
def test_two_workspaces_each_use_their_own_token_and_sessions_then_one_uninstalls(
    oauth_bot: Bot, fake_slack: FakeSlack, session_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot, model = oauth_bot, ScriptedModel()
    bot.runtime.personas.use_model(bot.runtime.personas.ids[0], model)
    for workspace in (TEAM_A, TEAM_B):
        install(bot, fake_slack, workspace)
    # the same channel id and ts in both workspaces: two threads, two sessions
    root = next_ts()
    for workspace, word in ((TEAM_A, "alpha"), (TEAM_B, "beta")):
        assert send(bot, workspace, mention(workspace, f"{word} one", root))[0] == 200
    fake_slack.wait_for("chat.postMessage", count=2)
    for workspace, word in ((TEAM_A, "alpha"), (TEAM_B, "beta")):
        assert send(bot, workspace, mention(workspace, f"{word} two", next_ts(), root))[0] == 200
    fake_slack.wait_for("chat.postMessage", count=4)
    a, b = posted(fake_slack, TEAM_A.token), posted(fake_slack, TEAM_B.token)
    assert a == ["reply to: alpha one [1 msgs]", "reply to: alpha two [3 msgs]"], a
    assert b == ["reply to: beta one [1 msgs]", "reply to: beta two [3 msgs]"], b
    seen = [json.dumps(call["messages"]) for call in model.calls]
    assert not [text for text in seen if "alpha" in text and "beta" in text]  # no crossover

    # a mention mid-thread reads the thread first: with that workspace's token too
    older = next_ts()
    for workspace in (TEAM_A, TEAM_B):
        assert send(bot, workspace, mention(workspace, "what now", next_ts(), older))[0] == 200
    reads = fake_slack.wait_for("conversations.replies", count=2)
    assert sorted(c.token or "" for c in reads) == [TEAM_A.token, TEAM_B.token]
    fake_slack.wait_for("chat.postMessage", count=6)
    # files are downloaded with the bot token of the workspace they were shared in
    with FileServer(token=TEAM_B.token) as files:
        monkeypatch.setenv("SLACK_FILE_HOSTS", files.url("").rstrip("/"))  # Slack's, here
        url = files.add("/files-pri/TB0002-F1/download/notes.txt", b"hug a kitten", "text/plain")
        shared = slack_file("notes.txt", url, "text/plain", "text", 12, source=FILE_SNIPPET)
        event = file_share_event("read this", "C1", next_ts(), [shared], root)
        assert send(bot, TEAM_B, event)[0] == 200
        fake_slack.wait_for("chat.postMessage", count=7)
        assert [r.authorization for r in files.requests] == [f"Bearer {TEAM_B.token}"]
    assert "hug a kitten" in json.dumps(model.calls[-1]["messages"])
    used = {c.token for c in fake_slack.calls() if c.method not in ("oauth.v2.access",)}
    assert used == {TEAM_A.token, TEAM_B.token}, fake_slack.summary()  # never anyone else's

    # A uninstalls: its installation and its sessions go; B goes on as before
    sessions = {w: session_id(w.team_id, "C1", root) for w in (TEAM_A, TEAM_B)}
    assert all(bot.runtime.store.exists(sid) for sid in sessions.values())
    token_file = session_dir / f"installations/{CLIENT_ID}/EA0001-TA0001/bot-latest"
    assert token_file.is_file()
    status, _ = post_event(bot.url, SECRET, lifecycle_event("56_app_uninstalled.json", TEAM_A))
    assert status == 200
    fake_slack.revoke(TEAM_A.token)  # as Slack does
    store = bot.runtime.slack.store
    assert store is not None
    assert store.find_bot(enterprise_id="EA0001", team_id="TA0001") is None
    assert not token_file.exists()
    assert not bot.runtime.store.exists(sessions[TEAM_A])
    assert not list(bot.runtime.store.blobs.keys("session/TA0001_"))
    assert not [k for k in bot.runtime.store.blobs.keys("inbox/") if "/TA0001_" in k]
    assert bot.runtime.store.exists(sessions[TEAM_B])
    # a message still queued for A is dropped, without a Slack call
    before = len(fake_slack.calls())
    queued = bot.runtime.slack.bind(
        Job("turn", "TA0001", "C1", root, next_ts(), "U1", "hi"), _context(TEAM_A)
    )
    assert bot.runtime.worker.conversation.handle([queued], lease=None) == [queued]  # type: ignore[arg-type]
    assert len(fake_slack.calls()) == before
    # A's events are no longer authorized; B's thread remembers everything
    assert send(bot, TEAM_A, mention(TEAM_A, "alpha three", next_ts(), root))[0] == 200
    assert send(bot, TEAM_B, mention(TEAM_B, "beta three", next_ts(), root))[0] == 200
    fake_slack.wait_for("chat.postMessage", lambda c: "beta three" in c.params.get("text", ""))
    assert posted(fake_slack, TEAM_B.token)[-1] == "reply to: beta three [7 msgs]"
    assert not [c for c in fake_slack.calls()[before:] if c.token == TEAM_A.token]


def test_a_workspaces_token_is_checked_with_slack_once_not_per_event(
    oauth_bot: Bot, fake_slack: FakeSlack
) -> None:
    """Bolt authorizes every request from the store; its auth.test result is cached by
    token, so acks do not wait on a Slack call, and an uninstall still takes effect at once
    (the store is read every time)."""
    install(oauth_bot, fake_slack, TEAM_B)
    checks = len([c for c in fake_slack.calls("auth.test") if c.token == TEAM_B.token])
    for n in range(3):
        assert send(oauth_bot, TEAM_B, mention(TEAM_B, f"beta {n}", next_ts()))[0] == 200
    fake_slack.wait_for("chat.postMessage", count=3)
    after = [c for c in fake_slack.calls("auth.test") if c.token == TEAM_B.token]
    assert len(after) == checks + 1, [c.token for c in after]

    status, _ = post_event(
        oauth_bot.url, SECRET, lifecycle_event("56_app_uninstalled.json", TEAM_B)
    )
    assert status == 200
    assert send(oauth_bot, TEAM_B, mention(TEAM_B, "beta after", next_ts()))[0] == 200
    time.sleep(1)
    assert not [
        c for c in fake_slack.calls("chat.postMessage") if "beta after" in c.params.get("text", "")
    ]  # not authorized any more


def test_an_org_wide_install_answers_with_the_orgs_token_and_uninstalls_by_org(
    oauth_bot: Bot, fake_slack: FakeSlack, session_dir: Path
) -> None:
    org = Workspace(
        "TW0003",
        "xoxb-org",
        "UBOTO",
        "BBOTO",
        enterprise_id="EORG1",
        is_enterprise_install=True,
        name="Org",
        scope=SCOPE,
    )
    install(oauth_bot, fake_slack, org)
    token_file = session_dir / f"installations/{CLIENT_ID}/EORG1-none/bot-latest"
    assert token_file.is_file()  # keyed by the org, whichever workspace installed it
    root = next_ts()
    assert send(oauth_bot, org, mention(org, "hello org", root))[0] == 200
    fake_slack.wait_for("chat.postMessage", lambda c: c.token == org.token)
    sid = session_id("EORG1", "C1", root)
    assert oauth_bot.runtime.store.exists(sid)
    body = lifecycle_event("56_app_uninstalled.json", org)
    assert post_event(oauth_bot.url, SECRET, body)[0] == 200
    assert not token_file.exists() and not oauth_bot.runtime.store.exists(sid)


def _context(workspace: Workspace) -> Any:
    from slack_bolt import BoltContext

    return BoltContext(
        enterprise_id=workspace.enterprise_id,
        team_id=workspace.team_id,
        is_enterprise_install=workspace.is_enterprise_install,
    )


def test_tokens_revoked_deletes_the_bot_token_on_s3(
    fake_slack: FakeSlack, session_dir: Path, s3_env: dict[str, str]
) -> None:
    with oauth_mode_bot(fake_slack, session_dir, **s3_env) as bot:
        install(bot, fake_slack, TEAM_B)
        key = f"bot/installations/{CLIENT_ID}/none-TB0002/bot-latest"
        assert key in s3_keys(s3_env)
        assert send(bot, TEAM_B, mention(TEAM_B, "hello", next_ts()))[0] == 200
        fake_slack.wait_for("chat.postMessage", lambda c: c.token == TEAM_B.token)
        revoked = lifecycle_event(
            "57_tokens_revoked.json", TEAM_B, tokens={"oauth": [], "bot": [TEAM_B.bot_user_id]}
        )
        assert post_event(bot.url, SECRET, revoked)[0] == 200
        assert key not in s3_keys(s3_env)
        assert bot.runtime.slack.store.find_bot(enterprise_id=None, team_id="TB0002") is None
        answered = len(posted(fake_slack, TEAM_B.token))
        assert send(bot, TEAM_B, mention(TEAM_B, "still there?", next_ts()))[0] == 200
        time.sleep(0.5)  # nothing to wait for: Bolt refuses the event before any listener
        assert len(posted(fake_slack, TEAM_B.token)) == answered


# --- single-token mode --------------------------------------------------------------
def test_single_token_uninstall_deletes_that_teams_sessions(
    fake_slack: FakeSlack, session_dir: Path
) -> None:
    with Bot(base_env(fake_slack.base_url, SESSION_DIR=str(session_dir)), ScriptedModel()) as bot:
        root = next_ts()
        one = Workspace("T1", "xoxb-test-token")
        other = Workspace("T2", "xoxb-test-token")
        for workspace in (one, other):  # e.g. a Slack Connect org's own installation id
            event = mention_event("hi", "C1", root, team=workspace.team_id)
            assert (
                post_event(bot.url, SECRET, event_callback(event, team_id=workspace.team_id))[0]
                == 200
            )
        fake_slack.wait_for("chat.postMessage", count=2)
        mine, theirs = session_id("T1", "C1", root), session_id("T2", "C1", root)
        assert bot.runtime.store.exists(mine) and bot.runtime.store.exists(theirs)
        status, _ = post_event(bot.url, SECRET, lifecycle_event("56_app_uninstalled.json", one))
        assert status == 200
        assert not bot.runtime.store.exists(mine) and bot.runtime.store.exists(theirs)
        assert bot.runtime.config.bot_token == "xoxb-test-token" and not bot.runtime.slack.oauth


def test_a_turn_running_when_the_app_is_uninstalled_stores_nothing(
    fake_slack: FakeSlack, session_dir: Path
) -> None:
    """The uninstall deletes the team's sessions while its turn waits on the model; that
    turn must not write its session back. Messages sent after it (a reinstall) are kept."""
    gate = threading.Event()
    model = ScriptedModel(block_until=gate)
    with Bot(base_env(fake_slack.base_url, SESSION_DIR=str(session_dir)), model) as bot:
        one = Workspace("T1", "xoxb-test-token")
        root = now_ts()
        event = mention_event("remember my secret", "C1", root, team=one.team_id)
        assert post_event(bot.url, SECRET, event_callback(event, team_id="T1"))[0] == 200
        model_called(model)  # the turn is running
        status, _ = post_event(bot.url, SECRET, lifecycle_event("56_app_uninstalled.json", one))
        assert status == 200
        gate.set()
        settle(bot)
        assert not bot.runtime.store.exists(session_id("T1", "C1", root))
        assert not fake_slack.calls("chat.postMessage")  # and nothing posted for it

        later = mention_event("after reinstalling", "C1", now_ts(), team="T1")
        assert post_event(bot.url, SECRET, event_callback(later, team_id="T1"))[0] == 200
        fake_slack.wait_for("chat.postMessage")
        assert bot.runtime.store.exists(session_id("T1", "C1", later["ts"]))
