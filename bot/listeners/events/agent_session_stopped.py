"""Slack's own stop button on a thread's agent session: stop the answer being written.

Slack stops the session's streaming messages itself but leaves the status alone
(docs.slack.dev/reference/events/agent_session_stopped): the running turn is asked to stop
exactly as our Stop button asks it (a shared fact, so it reaches whichever process runs the
turn; the partial answer is kept and marked stopped), and the session leaves `processing`
at once, even when no turn is running any more.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from slack_bolt import BoltContext

from bot.answer.session import AgentSessions
from bot.answer.stop import request_stop
from bot.jobs import Job
from bot.listeners.deps import ListenerDeps
from bot.slack.payloads import installation_id

log = logging.getLogger(__name__)
_TS = re.compile(r"^\d{1,12}\.\d{1,8}$")
_CHANNEL = re.compile(r"^[CDG][A-Z0-9]{1,40}$")


def stopped_job(event: dict, context: BoltContext, deps: ListenerDeps) -> Job | None:
    """The stop, as a job of the session's thread (None: not a thread's session)."""
    channel, thread_ts = event.get("channel"), event.get("thread_ts")
    if not isinstance(channel, str) or not _CHANNEL.match(channel):
        return None
    if not isinstance(thread_ts, str) or not _TS.match(thread_ts):
        return None
    job = Job(
        kind="stop",
        team=installation_id(context),
        channel=channel,
        thread_ts=thread_ts,
        ts=str(event.get("event_ts") or ""),
        user=str(event.get("user") or ""),
    )
    return deps.slack.bind(job, context)


def handler(deps: ListenerDeps) -> tuple[Callable[..., None], Callable[..., None]]:
    """(ack, lazy): the stop request is set before the ack; the status call runs after it."""
    sessions = AgentSessions(deps.slack)

    def request(event: dict, context: BoltContext) -> None:
        job = stopped_job(event, context, deps)
        if job is None:
            log.debug("ignored agent_session_stopped without a thread")
            return
        request_stop(deps.state, job.session_id)  # whatever the thread is answering now
        log.info("stop requested in %s by %s (Slack's stop button)", job.session_id, job.user)

    def leave_processing(event: dict, context: BoltContext) -> None:
        job = stopped_job(event, context, deps)
        if job is not None:
            sessions.set(job, "active")

    return request, leave_processing
