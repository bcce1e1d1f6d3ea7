"""Agent turn: build the persona's agent on its thread session and answer queued messages.

Called with the thread lock held: the session manager (and its restore I/O) is built here,
never before, so two workers cannot interleave writes to one session. A turn is two steps:
`restore` (which tells whether the persona has history here, and whether an interrupted
turn's stored answer is to be posted instead), then `RestoredTurn.answer` given the turn's
inputs (`TurnInputs`, built by the caller: bot/turns/inputs/gather.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from strands import Agent

from bot.agent.approvals import ApprovalGate, responses
from bot.agent.elicitation import Asked
from bot.agent.exchange import (
    last_answered,
    message_text,
    prompt_for,
    sources_used,
    tools_used,
    with_handled,
)
from bot.agent.history import conversation_manager
from bot.agent.mcp import ASKER, Asker, tools_note, unavailable_note
from bot.agent.personas import Persona, Personas
from bot.agent.prompt import FileInput, answer_note, shrink_for_storage
from bot.agent.tool_budget import ToolBudget
from bot.answer.sources import Source
from bot.jobs import Job, message_time
from bot.obs import metrics, telemetry
from bot.store.approvals import Call, Pending, claim_run, parse_decision, waiting_in
from bot.store.sessions import SessionStore, Uninstalled
from bot.store.thread_lock import Lease

log = logging.getLogger(__name__)
WINDOW_SIZE = 40
STOPPED = "_(stopped)_"


@dataclass(frozen=True)
class TurnResult:
    text: str
    done: tuple[Job, ...]  # exactly the queued jobs this answer covers, in queue order
    replayed: bool  # answered before a crash; the stored answer is posted, no model call
    tools: tuple[str, ...] = ()  # the tools the answer used, in order (shown when posted)
    sources: tuple[Source, ...] = ()  # the pages their results cited (linked when posted)
    approval: Pending | None = None  # the answer asks a person to approve these calls

    @property
    def answered(self) -> int:
        """How many of the queued jobs this answer covers."""
        return len(self.done)


def build_agent(
    store: SessionStore,
    personas: Personas,
    persona: Persona,
    session_id: str,
    callback_handler: Any = None,
    extra_tools: Sequence[Any] = (),
    hooks: Sequence[Any] = (),
) -> tuple[Agent, Any]:
    manager = store.manager(session_id)
    agent = Agent(
        model=personas.model(persona),
        system_prompt=persona.system_prompt,
        tools=[*personas.tools(persona), *extra_tools],
        agent_id=persona.id,
        name=persona.name,
        session_manager=manager,
        conversation_manager=conversation_manager(persona, WINDOW_SIZE),
        callback_handler=callback_handler,
        hooks=[metrics.AgentMetrics(persona.id), *hooks],  # model time, tokens, tool calls
        plugins=[ToolBudget(personas.tool_limits)],  # every tool call's time and size
    )
    return agent, manager


class LiveAnswer(Protocol):
    """What a turn needs of the Slack message its answer appears in
    (bot.answer.message.AnswerMessage is one)."""

    def on_event(self, **event: Any) -> None:
        """Strands' callback handler: the model's text and tool calls as they come."""

    def on_stop(self, cancel: Callable[[], None]) -> None:
        """Call `cancel` when the user asks the answer to stop."""

    def so_far(self) -> str:
        """What the model wrote so far."""

    def ask(self, requester: str, **asked: Any) -> Asked:
        """Show a tool's question to `requester` in the answer's thread."""


@dataclass(frozen=True)
class TurnInputs:
    """What the model gets besides the queued messages, built before the model call:
    `preamble`, context texts that come first (the thread so far, other apps' posts), and
    `files`, the files read for each job (its ts -> FileInput)."""

    preamble: tuple[str, ...] = ()
    files: Mapping[str, FileInput] = field(default_factory=dict)

    def problems(self) -> list[str]:
        """Why files could not be sent to the model, one line each."""
        return [problem for read in self.files.values() for problem in read.problems]


@dataclass
class RestoredTurn:
    """The persona's agent restored on the thread session, for one turn of `jobs`."""

    store: SessionStore
    personas: Personas
    persona: Persona
    jobs: list[Job]
    agent: Agent
    manager: Any
    # Committed before a crash, never posted: post this stored answer, no model call.
    stored: TurnResult | None
    unavailable: tuple[str, ...] = ()  # MCP servers whose tools this turn goes without
    pending: Pending | None = None  # the approval the agent waits on (bot/agent/approvals.py)
    gate: ApprovalGate | None = None

    @property
    def has_history(self) -> bool:
        """Whether the persona has spoken in this thread before."""
        return bool(self.agent.messages)

    def answer(
        self, inputs: TurnInputs, lease: Lease, message: LiveAnswer | None = None
    ) -> TurnResult:
        """Run the model on the jobs and `inputs`; commit the turn while holding `lease`."""
        jobs, last = self.jobs, self.jobs[-1]
        preamble = [*inputs.preamble, *unavailable_note(self.unavailable)]
        prompt = prompt_for(jobs, preamble, dict(inputs.files))
        result = self._invoke(prompt, last.user, message)
        return self._commit(result, jobs, last.user, lease, answer_note(inputs.problems()), None)

    def resume(self, job: Job, lease: Lease, message: LiveAnswer | None = None) -> TurnResult:
        """Give the pending approval the decision of resume `job`: approved calls run (once:
        a durable claim each), refused ones do not, the model answers; commit under `lease`."""
        pending, decision = self.pending, parse_decision(job.text)
        assert pending is not None and self.gate is not None
        session, key = job.session_id, pending.key
        self.gate.ran = lambda tool_use_id: claim_run(self.store.blobs, session, key, tool_use_id)
        by = "" if decision == "expired" else job.decider  # an expiry is nobody's decision
        decided = pending.decided(decision, by, message_time(job.ts) or time.time())
        result = self._invoke(responses(pending.calls, decision), pending.requester, message)
        return self._commit(result, [job], pending.requester, lease, "", decided)

    def _invoke(self, prompt: Any, requester: str, message: LiveAnswer | None) -> Any:
        agent, last = self.agent, self.jobs[-1]
        if message is not None:
            message.on_stop(
                lambda: agent.cancel(message=f"{message.so_far()}\n\n{STOPPED}".strip())
            )
        asker = Asker(requester, last.team, last.channel, last.thread_ts, reach=message)
        try:
            return agent(prompt, invocation_state={ASKER: asker})
        except BaseException:
            self.manager.discard()
            raise

    def _commit(
        self,
        result: Any,
        jobs: list[Job],
        requester: str,
        lease: Lease,
        note: str,
        decided: Pending | None,
    ) -> TurnResult:
        """Write the turn (and a new or decided approval) while holding `lease`."""
        agent, manager, last = self.agent, self.manager, jobs[-1]
        lease.check()  # never write after losing the thread lock
        if self.store.sent_before_uninstall(last.session_id, last.ts):
            raise Uninstalled(f"{last.session_id}: the app was uninstalled meanwhile")
        shrink_for_storage(agent.messages)  # the stored records are these same objects
        app = with_handled(manager.app_data(self.persona.id), jobs)
        if result.stop_reason == "interrupt":
            pending = self._asked(result, last, requester)
            manager.commit(agent, app_data={**app, "approval": pending.to_dict()})
            return TurnResult(text_so_far(agent), tuple(jobs), replayed=False, approval=pending)
        if decided is not None:
            app["approval"] = decided.to_dict()
        manager.commit(agent, app_data=app)
        text = (last_answered(agent.messages)[1] or "(no answer)") + note
        text += tools_note(self.unavailable)
        used, cited = tools_used(agent.messages), sources_used(agent.messages)
        return TurnResult(text, done=tuple(jobs), replayed=False, tools=used, sources=cited)

    def _asked(self, result: Any, job: Job, requester: str) -> Pending:
        now = time.time()
        return Pending(
            key=f"{now:.6f}",
            persona=self.persona.id,
            for_ts=job.ts,
            requester=requester,
            asked_at=now,
            expires_at=now + self.personas.approval_timeout,
            calls=tuple(Call.from_interrupt(i) for i in result.interrupts),
        )


def text_so_far(agent: Agent) -> str:
    """What the model wrote before the calls it waits on."""
    last = agent.messages[-1] if agent.messages else None
    return message_text(last) if last is not None and last["role"] == "assistant" else ""


def restore(
    store: SessionStore,
    personas: Personas,
    persona: Persona,
    jobs: list[Job],
    message: LiveAnswer | None = None,
) -> RestoredTurn:
    """Build `persona`'s agent on the session of `jobs` (restoring it from storage), and
    find whether an interrupted turn already stored their answer (or approval request)."""
    handler = message.on_event if message is not None else None
    mcp = personas.mcp_tools(persona) if persona.mcp else None
    gate = ApprovalGate(persona.approve, persona.approve_always) if persona.approve else None
    with telemetry.span("session.restore", persona=persona.id) as span:  # on construction
        agent, manager = build_agent(
            store,
            personas,
            persona,
            jobs[0].session_id,
            handler,
            mcp.tools if mcp else (),
            [gate] if gate else [],
        )
        span.set_attribute("bot.restored_messages", len(agent.messages))
    app_data = manager.app_data(persona.id)
    waiting = waiting_in(app_data, agent._interrupt_state.activated)
    stored = stored_answer(agent, jobs, waiting, Pending.from_dict(app_data.get("approval")))
    unavailable = mcp.unavailable if mcp else ()
    return RestoredTurn(
        store, personas, persona, jobs, agent, manager, stored, unavailable, waiting, gate
    )


def stored_answer(
    agent: Agent, jobs: list[Job], waiting: Pending | None, approval: Pending | None
) -> TurnResult | None:
    """The answer (or approval request) an interrupted attempt stored for `jobs`: exactly
    the jobs it covers, wherever they sit in the batch (a message held during a Redis outage
    or replayed may have been queued ahead of them; it gets a turn of its own)."""
    if waiting is not None:
        done = tuple(job for job in jobs if job.ts == waiting.for_ts)
        text = text_so_far(agent)
        return TurnResult(text, done, replayed=True, approval=waiting) if done else None
    answered_ts, answer = last_answered(agent.messages)
    done = tuple(job for job in jobs if job.ts in answered_ts)
    if not done and approval is not None and approval.decision is not None:
        done = tuple(job for job in jobs if job.kind == "resume" and job.approval == approval.key)
    if not done:
        return None
    log.info("session %s: replaying the stored answer of an interrupted turn", done[0].session_id)
    used, cited = tools_used(agent.messages), sources_used(agent.messages)
    return TurnResult(answer, done=done, replayed=True, tools=used, sources=cited)


def run_turn(
    store: SessionStore,
    personas: Personas,
    persona: Persona,
    jobs: list[Job],
    lease: Lease,
    inputs: TurnInputs = TurnInputs(),
    message: LiveAnswer | None = None,
) -> TurnResult:
    """A whole turn: restore, then the stored answer or a new one (no thread context)."""
    restored = restore(store, personas, persona, jobs, message)
    return restored.stored or restored.answer(inputs, lease, message)
