"""Many workspaces: Bolt's OAuth install flow over real HTTP, and lifecycle events."""

from __future__ import annotations

import http.client
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode, urlsplit

import boto3

from bot.slack.installations import BOT_SCOPES
from tests.fakes.model import ScriptedModel
from tests.fakes.slack_api import FakeSlack, Workspace
from tests.fakes.slack_payloads import load as load_payload
from tests.support.harness import Bot, base_env

CLIENT_ID = "1234567890.0987654321"
COOKIE = "slack-app-oauth-state"
SCOPE = ",".join(BOT_SCOPES)
# A: a workspace of an Enterprise Grid org; B: an ordinary workspace (enterprise null)
TEAM_A = Workspace(
    "TA0001", "xoxb-team-a", "UBOTA", "BBOTA", enterprise_id="EA0001", name="Alpha", scope=SCOPE
)
TEAM_B = Workspace("TB0002", "xoxb-team-b", "UBOTB", "BBOTB", name="Beta", scope=SCOPE)
Storage = Literal["file", "s3"]  # the install_storage fixture (tests/conftest.py)


def oauth_env(slack: FakeSlack, **extra: str) -> dict[str, str]:
    return base_env(
        slack.base_url,
        SLACK_BOT_TOKEN="",
        SLACK_CLIENT_ID=CLIENT_ID,
        SLACK_CLIENT_SECRET="client-secret",
        **extra,
    )


@contextmanager
def oauth_mode_bot(slack: FakeSlack, session_dir: Path, **extra: str) -> Iterator[Bot]:
    """An in-process bot with no bot token of its own: it installs through Bolt's OAuth flow
    and keeps installations under `session_dir`, or in S3 when `extra` names a bucket."""
    with Bot(oauth_env(slack, SESSION_DIR=str(session_dir), **extra), ScriptedModel()) as bot:
        yield bot


def s3_keys(env: dict[str, str]) -> set[str]:
    """Every key in the bucket `env` names (SESSION_BUCKET)."""
    pages = boto3.client("s3").get_paginator("list_objects_v2")
    return {
        obj["Key"]
        for page in pages.paginate(Bucket=env["SESSION_BUCKET"])
        for obj in page.get("Contents", [])
    }


def get(url: str, cookie: str | None = None) -> tuple[int, http.client.HTTPMessage, str]:
    """One GET, redirects not followed (the browser would go on to slack.com)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request("GET", path, headers={"Cookie": f"{COOKIE}={cookie}"} if cookie else {})
        response = connection.getresponse()
        return response.status, response.headers, response.read().decode()
    finally:
        connection.close()


def base(bot: Bot) -> str:
    return bot.url.removesuffix("/slack/events")


def callback_url(bot: Bot, code: str, state: str) -> str:
    """Where Slack sends the browser back after the user approved the install."""
    return f"{base(bot)}/slack/oauth_redirect?{urlencode({'code': code, 'state': state})}"


def start_install(bot: Bot) -> str:
    """GET /slack/install: a state cookie and a redirect to Slack's authorize page."""
    status, headers, _ = get(f"{base(bot)}/slack/install")
    assert status == 302, status
    location = urlsplit(headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == (
        "https://slack.com/oauth/v2/authorize"
    )
    query = parse_qs(location.query)
    assert query["client_id"] == [CLIENT_ID] and query["scope"] == [SCOPE]
    state = query["state"][0]
    assert f"{COOKIE}={state}" in headers["Set-Cookie"]
    return state


def authorization_of(workspace: Workspace) -> dict[str, Any]:
    """An org-wide install is authorized for the org: `team_id` null (payload 16)."""
    org = workspace.is_enterprise_install
    return {
        "enterprise_id": workspace.enterprise_id,
        "user_id": workspace.bot_user_id,
        "team_id": None if org else workspace.team_id,
        "is_enterprise_install": org,
    }


def lifecycle_event(name: str, workspace: Workspace, **event: Any) -> dict[str, Any]:
    """Stored body `name` (app_uninstalled, tokens_revoked) for `workspace`: ids changed."""
    body = load_payload(name)
    body.update(
        team_id=workspace.team_id,
        enterprise_id=workspace.enterprise_id,
        event_time=int(time.time()),
        event_id=f"Ev{time.time_ns()}",
    )
    body["event"].update(event)
    for authorization in body.get("authorizations", []):
        authorization.update(authorization_of(workspace))
    return body
