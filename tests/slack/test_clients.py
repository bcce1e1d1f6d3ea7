"""The Slack client of each job's installation, and the job's JSON."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from slack_sdk import WebClient
from slack_sdk.oauth.installation_store import Bot as InstalledBot
from slack_sdk.oauth.installation_store import FileInstallationStore

from bot.config.settings import load
from bot.jobs import Job
from bot.slack.clients import NotInstalled, SlackClients, slack_client
from tests.support.clock import Clock

CLIENT_ID = "1234567890.0987654321"


def test_jobs_without_an_installation_serialize_as_before() -> None:
    old = (
        '{"kind":"turn","team":"T1","channel":"C1","thread_ts":"1.2","ts":"1.3","user":"U1",'
        '"text":"hi","persona":null,"reply_in_thread":true,"requested_in":null}'
    )
    job = Job.loads(old)
    assert job.dumps() == old and (job.enterprise, job.org_install) == ("", False)
    marked = Job("turn", "E1", "C1", "1.2", "1.3", "U1", enterprise="E1", org_install=True)
    assert Job.loads(marked.dumps()) == marked


def test_clients_are_cached_per_installation_for_a_short_time(tmp_path: Path) -> None:
    config = load(
        {"SLACK_SIGNING_SECRET": "x", "SLACK_CLIENT_ID": CLIENT_ID, "SLACK_CLIENT_SECRET": "s"}
    )
    store = FileInstallationStore(base_dir=str(tmp_path), client_id=CLIENT_ID)
    store.save_bot(
        InstalledBot(
            team_id="T9",
            enterprise_id="E9",
            bot_token="xoxb-nine",
            bot_id="B9",
            bot_user_id="U9",
            installed_at=time.time(),
        )
    )
    job = Job("turn", "T9", "C1", "1.2", "1.3", "U1", enterprise="E9")
    cached = SlackClients(config, slack_client(config), lambda t: slack_client(config, t), store)
    fresh = SlackClients(
        config, slack_client(config), lambda t: slack_client(config, t), store, ttl=0
    )
    assert cached.for_job(job).token == fresh.for_job(job).token == "xoxb-nine"
    assert cached.bot_user_id(job) == "U9"
    with pytest.raises(NotInstalled):  # the installation is keyed by its enterprise too
        fresh.for_job(Job("turn", "T9", "C1", "1.2", "1.3", "U1"))
    store.delete_bot(enterprise_id="E9", team_id="T9")
    assert cached.for_job(job).token == "xoxb-nine"  # until the TTL passes
    assert not fresh.installed(job)
    cached.forget("E9", "T9")
    with pytest.raises(NotInstalled):
        cached.for_job(job)


def bot(token: str, user: str = "U9") -> InstalledBot:
    return InstalledBot(
        team_id="T9",
        enterprise_id="E9",
        bot_token=token,
        bot_id="B9",
        bot_user_id=user,
        installed_at=time.time(),
    )


def test_the_ttl_decides_when_the_store_is_asked_again(tmp_path: Path) -> None:
    config = load(
        {"SLACK_SIGNING_SECRET": "x", "SLACK_CLIENT_ID": CLIENT_ID, "SLACK_CLIENT_SECRET": "s"}
    )
    store = FileInstallationStore(base_dir=str(tmp_path), client_id=CLIENT_ID)
    store.save_bot(bot("xoxb-one"))
    made: list[str] = []

    def make(token: str) -> WebClient:
        made.append(token)
        return slack_client(config, token)

    clock = Clock()
    clients = SlackClients(config, slack_client(config), make, store, ttl=60, timer=clock)
    job = Job("turn", "T9", "C1", "1.2", "1.3", "U1", enterprise="E9")
    first = clients.for_job(job)
    store.save_bot(bot("xoxb-two", user="U10"))  # rotated or reinstalled meanwhile
    clock.advance(59)
    assert clients.for_job(job) is first and clients.bot_user_id(job) == "U9"
    clock.advance(1)  # the TTL has passed: the store is asked again
    assert clients.for_job(job).token == "xoxb-two" and clients.bot_user_id(job) == "U10"
    store.save_bot(bot("xoxb-one"))
    clock.advance(60)
    assert clients.for_job(job) is first  # the same token keeps its client
    assert made == ["xoxb-one", "xoxb-two"]
    store.delete_bot(enterprise_id="E9", team_id="T9")
    assert clients.installed(job)  # until the TTL passes
    clock.advance(60)
    assert not clients.installed(job)
