"""The turns around an approval (bot/agent/approvals.py), for the conversation.

- A turn whose model calls a tool that needs approval ends with the request as its answer
  (buttons under it, the session `suspended`); the job is done, the thread lock released,
  no worker slot held. The request is noted for the expiry sweep.
- A click queues a `resume` job (bot/listeners/actions/approval.py), on any process. It is
  taken before the messages that wait on the decision: the request message says who
  decided and when, and the agent resumes with the decision (see RestoredTurn.resume).
  A click on a request that was already decided (or expired) changes nothing.
- A message that arrives while its persona waits on a decision waits too, in the queue
  (nothing is lost): its author is told once, in the thread, and it is answered after the
  decision, with the tool's outcome in the history. The worker releases the thread
  meanwhile without counting an attempt (AwaitingDecision) and looks again after 30 s, or
  at once when the decision is queued (it goes ahead of them: worker.decisions_first).
- A reset withdraws the requests still waiting in the thread (`withdraw`): they say so,
  without buttons, and nothing runs.
- The sweep (`expire_due`) queues an `expired` decision for each request older than
  APPROVAL_TIMEOUT_SECONDS: the tool counts as denied, and the message says it expired.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable

from bot.agent.personas import Persona, Personas
from bot.agent.turn import TurnResult, restore
from bot.answer.approval_message import Click, buttons, request_text, show_decision
from bot.answer.reply import Replier
from bot.jobs import Job
from bot.obs import metrics, telemetry
from bot.store import approvals
from bot.store.approvals import Pending, interrupted, parse_decision, waiting_in
from bot.store.facts import APPROVAL_SWEEP, APPROVAL_WAITERS
from bot.store.sessions import SessionStore
from bot.store.state import Facts

log = logging.getLogger(__name__)
WAIT_NOTE = (
    ":hourglass_flowing_sand: <@{user}>, I'm waiting for <@{requester}>'s decision on the "
    "request above; I'll answer this once it is decided (or it expires)."
)


class AwaitingDecision(Exception):
    """The persona's agent in this thread waits for a person: the queued message waits
    too (the worker releases the thread without counting an attempt)."""


@dataclasses.dataclass
class ApprovalTurns:
    store: SessionStore
    personas: Personas
    replier: Replier
    state: Facts

    def check_waiting(self, persona: Persona, batch: list[Job]) -> None:
        """Raise AwaitingDecision (after telling each new message's author, once) if
        `persona` waits on a decision in this thread and `batch` is not what asked it."""
        if not persona.approve:
            return
        snapshot = self.store.manager(batch[0].session_id).load(persona.id)  # cached
        pending = waiting_in(snapshot.app_data, interrupted(snapshot.data)) if snapshot else None
        if pending is None or any(job.ts == pending.for_ts for job in batch):
            return  # nothing waits, or this batch asked: its stored request is posted
        key = APPROVAL_WAITERS.key(batch[0].session_id)
        for job in batch:
            if self.state.add_once(key, job.ts, APPROVAL_WAITERS.ttl):
                note = WAIT_NOTE.format(user=job.user, requester=pending.requester)
                try:
                    self.replier.note(job, note)
                except Exception as exc:  # a courtesy: the message waits all the same
                    log.warning("could not tell %s that it waits: %s", job.ts, exc)
        raise AwaitingDecision(pending.key)

    def decision_applies(self, job: Job) -> Persona | None:
        """The persona whose pending approval resume `job` decides, after showing the
        decision on the request message; None when it was decided already (or expired)."""
        persona = self.personas.get(job.persona)
        if persona is None:
            return None
        restored = restore(self.store, self.personas, persona, [job])
        if restored.stored is not None:  # answered before a crash: posted again, once
            return persona
        pending = restored.pending
        if pending is None or pending.key != job.approval:
            log.info("session %s: approval %s was decided before", job.session_id, job.approval)
            return None
        decision, waited = parse_decision(job.text), time.time() - pending.asked_at
        metrics.approval(persona.id, decision, waited)
        telemetry.note(approval=decision, approval_wait_seconds=waited)
        ts = job.approval_message or self._request_message(job, pending)
        if ts:
            client = self.replier.clients.for_job(job)
            show_decision(client, job.channel, ts, pending, decision, job.decider, time.time())
        with contextlib.suppress(Exception):  # decided: the sweep need not expire it
            approvals.forget_expiry(self.store.blobs, pending, job.session_id)
        return persona

    def withdraw(self, job: Job) -> None:
        """Before reset `job` forgets the thread: each request still waiting there says it
        was withdrawn, without buttons (best effort: the reset goes ahead regardless)."""
        client = self.replier.clients.for_job(job)
        for persona in self.personas.all:
            try:
                snapshot = (
                    self.store.manager(job.session_id).load(persona.id) if persona.approve else None
                )
                pending = (
                    waiting_in(snapshot.app_data, interrupted(snapshot.data)) if snapshot else None
                )
                if pending is None:
                    continue
                ts = self._request_message(job, pending)
                if ts:
                    show_decision(client, job.channel, ts, pending, "reset", job.user, time.time())
                metrics.approval(persona.id, "withdrawn", time.time() - pending.asked_at)
                approvals.forget_expiry(self.store.blobs, pending, job.session_id)
            except Exception as exc:
                log.warning("session %s: could not withdraw an approval: %s", job.session_id, exc)

    def _request_message(self, job: Job, pending: Pending) -> str:
        """The ts of the request's message (its last part), found by its metadata."""
        posted = self.replier.posted(dataclasses.replace(job, ts=pending.for_ts))
        return posted[max(posted)] if posted else ""

    def asked(self, result: TurnResult, job: Job) -> tuple[str, tuple[dict, ...]]:
        """The request's text and buttons for the answer; noted for the expiry sweep."""
        pending = result.approval
        assert pending is not None
        persona = self.personas.get(pending.persona)
        click = Click(
            job.team, job.channel, job.thread_ts, job.reply_in_thread, pending.persona,
            pending.key, pending.requester,
        )  # fmt: skip
        if not result.replayed:
            metrics.approval(pending.persona, "requested", 0.0)
            telemetry.note(approval="requested", approval_tools=[c.tool for c in pending.calls])
            expiry = expiry_job(job, pending)
            try:
                approvals.note_expiry(self.store.blobs, pending, job.session_id, expiry.dumps())
            except Exception as exc:  # the request still stands; only its expiry is late
                log.warning("could not note the expiry of approval %s: %s", pending.key, exc)
        text = f"{result.text}\n\n{request_text(pending)}".strip()
        always = persona is not None and persona.approve_always
        return text, (buttons(pending, click, always),)


def expiry_job(job: Job, pending: Pending) -> Job:
    """The resume job the sweep queues when `pending` expires."""
    return dataclasses.replace(
        job,
        kind="resume",
        ts=f"{pending.expires_at:.6f}",
        user=pending.requester,  # the answer is for them (a channel stream names its recipient)
        text="expired",
        persona=pending.persona,
        files=(),
        replayed=False,
        trace={},
        app_context=None,
        approval=pending.key,
        approval_message="",
    )


def sweep(state: Facts, store: SessionStore, accept: Callable[[Job], bool]) -> None:
    """The worker's sweep: every APPROVAL_SWEEP window, in one process, expire_due."""
    try:
        if state.spend(APPROVAL_SWEEP.key(), 1, APPROVAL_SWEEP.ttl):
            expire_due(store, accept)
    except Exception as exc:  # Redis or S3 down: the next sweep tries again
        log.warning("could not sweep approvals due to expire: %s", exc)


def expire_due(store: SessionStore, accept: Callable[[Job], bool], now: float | None = None) -> int:
    """Queue an `expired` decision for every request past its time; how many were queued."""
    queued = 0
    for key, raw in approvals.expired(store.blobs, time.time() if now is None else now):
        try:
            queued += bool(accept(Job.loads(raw)))
            store.blobs.delete([key])
        except Exception as exc:  # the next sweep tries again
            log.warning("could not expire approval %s: %s", key, exc)
    return queued
