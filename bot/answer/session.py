"""Agent session: the thread as Slack's agent session, with a status that follows the turn.

Slack shows a thread with an agent as a session (docs.slack.dev/ai/agent-sessions):
`processing` while a turn runs (with Slack's own stop button), `active` once its answer is
delivered, `suspended` while it waits on a person, `closed` after a reset. The status is
Slack's, not a process's: whichever process ends a turn (or takes over a crashed one) sets
it, so no session is left `processing`.

Where Slack refuses (the app is not declared an agent, a missing scope, an older workspace)
the session is unavailable for that workspace in this process: the answer falls back to the
status line, reactions and its own Stop button (bot/answer/progress.py, stream.py), the
refusal is logged once per workspace, and a turn never fails over it. Without the
`agent_session_stopped` subscription Slack shows no stop button (setStatus warns
`missing_agent_session_stopped_event_subscription`): the answer keeps its own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import MutableSet
from typing import Literal

from slack_sdk.errors import SlackApiError

from bot.jobs import Job
from bot.slack.clients import NotInstalled, SlackClients, best_effort

log = logging.getLogger(__name__)
SessionStatus = Literal["processing", "active", "suspended", "closed"]
MISSING_STOP_SUBSCRIPTION = "missing_agent_session_stopped_event_subscription"
# Errors meaning this app has no agent sessions in the workspace (the method's reference
# and Slack's generic errors): stop asking there. Anything else (a rate limit, a network
# error) only skips this one status.
UNAVAILABLE = frozenset(
    {
        "not_agent_app",
        "missing_scope",
        "not_allowed",
        "not_allowed_token_type",
        "no_permission",
        "not_authed",
        "invalid_auth",
        "unknown_method",
        "feature_not_enabled",
        "team_not_allowed",
        "not_supported",
        "method_not_supported_for_channel_type",
    }
)


class AgentSessions:
    """The agent sessions of the threads this process answers."""

    def __init__(self, clients: SlackClients) -> None:
        self.clients = clients
        self.unavailable: set[str] = set()  # workspaces where Slack refused sessions
        self.no_stop_button: set[str] = set()  # workspaces whose sessions show no stop
        self._lock = threading.Lock()

    def possible(self, job: Job) -> bool:
        """A session is a thread: none at a DM's top level, none where Slack refused."""
        return job.reply_thread_ts is not None and job.team not in self.unavailable

    def has_stop_button(self, job: Job) -> bool:
        """Whether Slack shows its own stop button on `job`'s session while processing."""
        return self.possible(job) and job.team not in self.no_stop_button

    def set(
        self,
        job: Job,
        status: SessionStatus,
        title: str | None = None,
        identity: dict[str, str] | None = None,
    ) -> bool:
        """Give `job`'s thread's session `status` (created with `title` and the asker as its
        initiator if it has none); whether Slack shows it. Never raises."""
        thread_ts = job.reply_thread_ts
        if thread_ts is None or not self.possible(job):
            return False
        try:
            answer = best_effort(self.clients.for_job(job)).agents_sessions_setStatus(
                channel_id=job.channel,
                thread_ts=thread_ts,
                status=status,
                title=title,
                initiator_user_id=(job.user or None) if title else None,
                **(identity or {}),
            )
        except SlackApiError as exc:
            self._refused(job, str(exc.response.get("error", "")), status)
            return False
        except NotInstalled as exc:
            log.debug("no session status for %s: %s", job.session_id, exc)
            return False
        except Exception as exc:  # the network: the status is a courtesy, the turn goes on
            log.warning("session %s: could not set %s: %r", job.session_id, status, exc)
            return False
        self._check_warnings(job, answer.get("response_metadata") or {})
        return True

    def _refused(self, job: Job, error: str, status: str) -> None:
        if error not in UNAVAILABLE:
            log.info("session %s: Slack refused status %s (%s)", job.session_id, status, error)
            return
        if self._first(self.unavailable, job.team):
            log.warning(
                "workspace %s: Slack refused agent sessions (%s); using the status line, "
                "reactions and the Stop button there. Declare the app an agent (manifest "
                "`features.agent_view`, scope assistant:write) to get them.",
                job.team,
                error,
            )

    def _check_warnings(self, job: Job, metadata: dict) -> None:
        if MISSING_STOP_SUBSCRIPTION not in (metadata.get("warnings") or ()):
            return
        if self._first(self.no_stop_button, job.team):
            log.warning(
                "workspace %s: Slack shows no stop button on agent sessions: subscribe the "
                "bot event agent_session_stopped (manifest.yml); answers keep their own Stop "
                "button meanwhile",
                job.team,
            )

    def _first(self, teams: MutableSet[str], team: str) -> bool:
        """Add `team` to `teams`; whether it is new there (so logged once)."""
        with self._lock:
            first = team not in teams
            teams.add(team)
        return first
