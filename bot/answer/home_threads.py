"""The Home tab's list: each user's latest threads with the bot, kept in the state store.

An entry is written when a turn ends (an answer delivered or an apology posted: `active`) and
when its thread is reset (`closed`: the words of Slack's agent session statuses). Its title
(from the request that started it) and its link (chat.getPermalink, once) are set when the
entry is created and kept after; so opening the Home tab reads nothing from Slack.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, cast
from urllib.parse import urlencode

from slack_sdk import WebClient

from bot.answer.titles import session_title
from bot.jobs import DM_THREAD, Job
from bot.slack.clients import SlackClients
from bot.store.facts import HOME_THREADS
from bot.store.state import Facts

log = logging.getLogger(__name__)
HomeStatus = Literal["active", "closed"]
HOME_THREADS_MAX = 10  # per user; the Home view shows them all


@dataclass(frozen=True)
class HomeThread:
    """One of a user's threads as their Home tab lists it."""

    session_id: str
    channel: str
    thread_ts: str
    title: str
    persona: str
    status: HomeStatus
    link: str
    at: int  # the last activity (unix time)


def threads(state: Facts, team: str, user: str) -> list[HomeThread]:
    """`user`'s latest threads with the bot in `team`, newest first."""
    return [
        HomeThread(
            session_id=member,
            channel=fields.get("channel", ""),
            thread_ts=fields.get("thread_ts", ""),
            title=fields.get("title", ""),
            persona=fields.get("persona", ""),
            status=cast(HomeStatus, fields.get("status", "active")),
            link=fields.get("link", ""),
            at=int(float(fields.get("at") or 0)),
        )
        for member, fields in state.recents(HOME_THREADS.key(team, user))
    ]


def listed(state: Facts, team: str, user: str, session_id: str) -> bool:
    """Is this thread on `user`'s Home tab (so theirs to reset from there)?"""
    return any(member == session_id for member, _ in state.recents(HOME_THREADS.key(team, user)))


def record_turn(state: Facts, clients: SlackClients, batch: list[Job], persona: str) -> None:
    """A turn of `batch` ended (answered or apologised for): its thread is `active` for
    each user who asked. Best effort: the answer is already out, a failure is only logged."""
    for user in _users(batch):
        _record(state, clients, batch[0], user, "active", persona)


def record_reset(state: Facts, clients: SlackClients, job: Job) -> None:
    """`job` reset its thread: `closed` on the resetter's Home tab, if it lists the thread."""
    _record(state, clients, job, job.user, "closed", None)


def _record(
    state: Facts,
    clients: SlackClients,
    job: Job,
    user: str,
    status: HomeStatus,
    persona: str | None,
) -> None:
    try:
        known = listed(state, job.team, user, job.session_id)
        if status == "closed" and not known:
            return  # never listed: nothing to show as closed
        keep = {} if known else _first_fields(clients, job)
        now = time.time()
        fields = {"status": status, "at": f"{now:.0f}", **({"persona": persona} if persona else {})}
        key = HOME_THREADS.key(job.team, user)
        state.upsert_recent(
            key, job.session_id, now, fields, keep, HOME_THREADS_MAX, HOME_THREADS.ttl
        )
    except Exception as exc:  # the Home tab is a courtesy: the turn is done
        log.warning("session %s: could not update %s's Home tab: %s", job.session_id, user, exc)


def _first_fields(clients: SlackClients, job: Job) -> dict[str, str]:
    """What an entry keeps from its creation: where the thread is, its title and link."""
    return {
        "channel": job.channel,
        "thread_ts": job.thread_ts,
        "title": session_title(job.text),
        "link": thread_link(clients.for_job(job), job),
    }


def thread_link(client: WebClient, job: Job) -> str:
    """The thread's permalink (chat.getPermalink), or Slack's redirect to its conversation
    when there is no thread (a DM's top level) or Slack gives none."""
    fallback = "https://slack.com/app_redirect?" + urlencode(
        {"channel": job.channel, "team": job.team}
    )
    if job.thread_ts == DM_THREAD:
        return fallback
    try:
        link = client.chat_getPermalink(channel=job.channel, message_ts=job.thread_ts)
        return str(link.get("permalink") or fallback)
    except Exception as exc:  # best effort: the redirect still opens the conversation
        log.info("no permalink for %s in %s: %s", job.thread_ts, job.channel, exc)
        return fallback


def _users(batch: Iterable[Job]) -> list[str]:
    return list(dict.fromkeys(job.user for job in batch if job.user))
