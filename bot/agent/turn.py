"""Agent turn: build the persona's agent on its thread session and answer queued messages.

Called with the thread lock held: the session manager (and its restore I/O) is built here,
never before, so two workers cannot interleave writes to one session. A turn is two steps:
`restore` (which tells whether the persona has history here, and whether an interrupted
turn's stored answer is to be posted instead), then `RestoredTurn.answer` given the turn's
inputs (`TurnInputs`, built by the caller: bot/turns/inputs/gather.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from strands import Agent

from bot.agent.exchange import (
    last_answered,
    prompt_for,
    sources_used,
    tools_used,
    with_handled,
)
from bot.agent.history import conversation_manager
from bot.agent.mcp import ASKER, Asker
from bot.agent.personas import Persona, Personas
from bot.agent.prompt import FileInput, answer_note, shrink_for_storage
from bot.agent.tool_budget import ToolBudget
from bot.answer.sources import Source
from bot.jobs import Job
from bot.obs import metrics, telemetry
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
        hooks=[metrics.AgentMetrics(persona.id)],  # model time, tokens, tool calls
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
    persona: Persona
    jobs: list[Job]
    agent: Agent
    manager: Any
    # Committed before a crash, never posted: post this stored answer, no model call.
    stored: TurnResult | None
    unavailable: tuple[str, ...] = ()  # MCP servers whose tools this turn goes without

    @property
    def has_history(self) -> bool:
        """Whether the persona has spoken in this thread before."""
        return bool(self.agent.messages)

    def answer(
        self, inputs: TurnInputs, lease: Lease, message: LiveAnswer | None = None
    ) -> TurnResult:
        """Run the model on the jobs and `inputs`; commit the turn while holding `lease`."""
        agent, manager, jobs = self.agent, self.manager, self.jobs
        if message is not None:
            message.on_stop(
                lambda: agent.cancel(message=f"{message.so_far()}\n\n{STOPPED}".strip())
            )
        preamble = [*inputs.preamble, *unavailable_note(self.unavailable)]
        last = jobs[-1]
        asker = Asker(last.user, last.team, last.channel, last.thread_ts)
        try:
            agent(prompt_for(jobs, preamble, dict(inputs.files)), invocation_state={ASKER: asker})
        except BaseException:
            manager.discard()
            raise
        lease.check()  # never write after losing the thread lock
        if self.store.sent_before_uninstall(jobs[-1].session_id, jobs[-1].ts):
            raise Uninstalled(f"{jobs[-1].session_id}: the app was uninstalled meanwhile")
        shrink_for_storage(agent.messages)  # the stored records are these same objects
        manager.commit(agent, app_data=with_handled(manager.app_data(self.persona.id), jobs))
        text = (last_answered(agent.messages)[1] or "(no answer)") + answer_note(inputs.problems())
        text += tools_note(self.unavailable)
        used, cited = tools_used(agent.messages), sources_used(agent.messages)
        return TurnResult(text, done=tuple(jobs), replayed=False, tools=used, sources=cited)


def restore(
    store: SessionStore,
    personas: Personas,
    persona: Persona,
    jobs: list[Job],
    message: LiveAnswer | None = None,
) -> RestoredTurn:
    """Build `persona`'s agent on the session of `jobs` (restoring it from storage), and
    find whether an interrupted turn already stored their answer."""
    handler = message.on_event if message is not None else None
    mcp = personas.mcp_tools(persona) if persona.mcp else None
    with telemetry.span("session.restore", persona=persona.id) as span:  # on construction
        agent, manager = build_agent(
            store, personas, persona, jobs[0].session_id, handler, mcp.tools if mcp else ()
        )
        span.set_attribute("bot.restored_messages", len(agent.messages))
    answered_ts, answer = last_answered(agent.messages)
    # Exactly the jobs that answer covers, wherever they sit in the batch: a message held
    # during a Redis outage or replayed may have been queued ahead of them meanwhile
    # (bot/intake/outage.py); it is answered by a turn of its own, never consumed by this one.
    done = tuple(job for job in jobs if job.ts in answered_ts)
    stored = None
    if done:
        log.info(
            "session %s: replaying the stored answer of an interrupted turn", done[0].session_id
        )
        used, cited = tools_used(agent.messages), sources_used(agent.messages)
        stored = TurnResult(answer, done=done, replayed=True, tools=used, sources=cited)
    unavailable = mcp.unavailable if mcp else ()
    return RestoredTurn(store, persona, jobs, agent, manager, stored, unavailable)


def unavailable_note(servers: tuple[str, ...]) -> list[str]:
    """Tells the model which tool servers are down for this turn."""
    if not servers:
        return []
    names = ", ".join(servers)
    return [
        f"(Note from the bot, not the user: the tools of {names} are unavailable right now; "
        "if the request needs them, say so rather than guessing.)"
    ]


def tools_note(servers: tuple[str, ...]) -> str:
    """Appended to the answer so the user learns which tools were unavailable."""
    if not servers:
        return ""
    names = ", ".join(f"`{name}`" for name in servers)
    return f"\n\n:warning: The {names} tools were unavailable for this answer."


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
