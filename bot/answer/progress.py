"""Progress: show the user the bot is working on their message, and that others wait.

Where the thread is an agent session (bot/answer/session.py) its status shows the work. Elsewhere,
while a turn runs, `assistant.threads.setStatus` shows "is thinking…" under the thread (it
works in channel threads with chat:write and clears itself on the reply). Where Slack
refuses it, or there is no thread (a DM's top level), a reaction on the message says the
same and is removed after the answer. A message that arrives while its thread is busy gets
a small reaction too, removed when its turn starts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.jobs import Job
from bot.slack.clients import NotInstalled, SlackClients, best_effort
from bot.store.facts import BUSY, WAITING
from bot.store.state import Facts

log = logging.getLogger(__name__)
THINKING = "is thinking…"
LOADING = ["Thinking…", "Reading the thread…", "Working on it…", "Almost there…"]
WORKING_REACTION = "eyes"
WAITING_REACTION = "hourglass_flowing_sand"


def busy_key(session_id: str) -> str:
    return BUSY.key(session_id)


def waiting_key(job: Job) -> str:
    return WAITING.key(job.session_id, job.ts)


class Progress:
    def __init__(self, clients: SlackClients, state: Facts) -> None:
        self.clients, self.state = clients, state  # each job's installation's client

    def started(self, jobs: list[Job], identity: dict[str, str], shown: bool = False) -> str:
        """Show that `jobs` are being worked on; returns how ("status", "reaction" or "").
        `shown`: the thread's agent session shows it already (bot/answer/session.py): only
        the busy mark is set and the waiting reactions removed ("session")."""
        job = jobs[-1]
        self.state.set_fact(busy_key(job.session_id), job.ts, ttl=BUSY.ttl)
        for waited in jobs:  # no longer waiting: being answered
            if self.state.fact(waiting_key(waited)):
                self._unreact(waited, WAITING_REACTION)
                self.state.set_fact(waiting_key(waited), None)
        if shown:
            return "session"
        if job.reply_thread_ts:
            try:
                self._client(job).assistant_threads_setStatus(
                    channel_id=job.channel,
                    thread_ts=job.reply_thread_ts,
                    status=THINKING,
                    loading_messages=LOADING,
                    **identity,
                )
                return "status"
            except SlackApiError as exc:
                log.debug("setStatus refused (%s): reacting instead", exc.response.get("error"))
        return "reaction" if self._react(job, WORKING_REACTION) else ""

    def finished(self, jobs: list[Job], shown: str, failed: bool = False) -> None:
        """Never raises: it runs after the answer is stored, which must still be posted."""
        last = jobs[-1]
        try:
            self.state.set_fact(busy_key(last.session_id), None)
        except Exception as exc:  # Redis down: the fact expires on its own
            log.warning("could not clear the busy mark of %s: %s", last.session_id, exc)
        thread_ts = last.reply_thread_ts
        if shown == "status" and failed and thread_ts:  # a reply clears it; an error may not
            self._quietly(
                lambda: self._client(last).assistant_threads_setStatus(
                    channel_id=last.channel, thread_ts=thread_ts, status=""
                )
            )
        if shown == "reaction":
            self._unreact(last, WORKING_REACTION)

    def waiting(self, job: Job) -> None:
        """`job` was queued behind a running turn of its thread: say it was received."""
        running = self.state.fact(busy_key(job.session_id))
        if job.kind == "turn" and running and running != job.ts:
            self.state.set_fact(waiting_key(job), "1", ttl=WAITING.ttl)
            self._react(job, WAITING_REACTION)

    def _react(self, job: Job, name: str) -> bool:
        try:
            client = self._client(job)
            client.reactions_add(channel=job.channel, timestamp=job.ts, name=name)
            return True
        except SlackApiError as exc:
            log.debug("could not react to %s: %s", job.ts, exc.response.get("error"))
            return False
        except NotInstalled as exc:
            log.debug("could not react to %s: %s", job.ts, exc)
            return False

    def _unreact(self, job: Job, name: str) -> None:
        self._quietly(
            lambda: self._client(job).reactions_remove(
                channel=job.channel, timestamp=job.ts, name=name
            )
        )

    def _client(self, job: Job) -> WebClient:
        """Progress is best effort: its calls never wait out a rate limit."""
        return best_effort(self.clients.for_job(job))

    @staticmethod
    def _quietly(call: Callable[[], object]) -> None:
        try:
            call()
        except SlackApiError as exc:
            log.debug("progress call failed: %s", exc.response.get("error"))
        except NotInstalled as exc:
            log.debug("progress call skipped: %s", exc)
