"""Finding 6: the bot token goes only to Slack's file hosts, over https.

A message's `files` come from the event (anyone who can post, or an app, shapes them): a
`url_private` naming another host must not receive `Authorization: Bearer <bot token>`.
The local file server stands in for Slack's file host through SLACK_FILE_HOSTS.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.config.settings import ConfigError, load
from bot.turns.inputs.files import read_files
from tests.fakes.file_server import FileServer
from tests.fakes.slack_payloads import slack_file

TOKEN = "xoxb-test-token"
SNIPPET = b"the quarterly numbers"


@pytest.fixture
def slack_files(monkeypatch: pytest.MonkeyPatch) -> Iterator[FileServer]:
    """Slack's file host: the one origin SLACK_FILE_HOSTS allows."""
    with FileServer(token=TOKEN) as server:
        monkeypatch.setenv("SLACK_FILE_HOSTS", server.url("").rstrip("/"))
        yield server


@pytest.fixture
def attacker() -> Iterator[FileServer]:
    """Another host that would love the token (it serves the file to anyone)."""
    with FileServer(token="") as server:
        yield server


def text_at(url: str) -> dict:
    return slack_file("notes.txt", url, "text/plain", "text", len(SNIPPET))


def test_a_file_on_another_host_gets_no_token_and_is_not_read(
    slack_files: FileServer, attacker: FileServer
) -> None:
    url = attacker.add("/files-pri/T1-F1/notes.txt", SNIPPET, "text/plain", public=True)
    got = read_files([text_at(url)], TOKEN, "bedrock")
    assert [r.authorization for r in attacker.requests] == []  # not even asked
    assert got.blocks == [] and len(got.problems) == 1
    assert "not a Slack file link" in got.problems[0]  # the user and the model learn why


def test_a_redirect_to_another_host_drops_the_token(
    slack_files: FileServer, attacker: FileServer
) -> None:
    elsewhere = attacker.add("/grab", SNIPPET, "text/plain", public=True)
    start = slack_files.add("/files-pri/T1-F2/notes.txt", redirect=elsewhere)
    got = read_files([text_at(start)], TOKEN, "bedrock")
    assert slack_files.requests[0].authorization == f"Bearer {TOKEN}"
    assert [r.authorization for r in attacker.requests] == [None]
    assert got.problems == []  # a CDN redirect is fine: only the token stays behind


def test_a_slack_file_is_still_read_with_the_token(slack_files: FileServer) -> None:
    url = slack_files.add("/files-pri/T1-F3/notes.txt", SNIPPET, "text/plain")
    got = read_files([text_at(url)], TOKEN, "bedrock")
    assert got.problems == [] and "quarterly numbers" in got.blocks[0]["text"]


@pytest.mark.parametrize(
    "url",
    [
        "http://files.slack.com/files-pri/T1-F4/notes.txt",  # Slack's host, but in clear text
        "https://files.slack.com.evil.example/files-pri/T1-F4/notes.txt",
        "https://evil.example/files.slack.com/notes.txt",
        "https://user@evil.example/notes.txt",
    ],
)
def test_by_default_only_slack_hosts_over_https_get_the_token(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.delenv("SLACK_FILE_HOSTS", raising=False)
    got = read_files(
        [text_at(url)],
        TOKEN,
        "bedrock",
    )
    assert len(got.problems) == 1 and "not a Slack file link" in got.problems[0]


def test_a_bad_slack_file_hosts_value_names_the_variable() -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}
    assert load({**env, "SLACK_FILE_HOSTS": "files.slack-gov.com, http://127.0.0.1:8080"})
    for bad in ("ftp://files.example", "https://", "files.example/path", "*"):
        with pytest.raises(ConfigError, match="SLACK_FILE_HOSTS"):
            load({**env, "SLACK_FILE_HOSTS": bad})
