"""Agent turn: build the persona's agent on its thread session and answer queued messages.

Called with the thread lock held: the session manager (and its restore I/O) is built here,
never before, so two workers cannot interleave writes to one session.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from strands import Agent
from strands.types.content import Message

from bot.agent.history import conversation_manager
from bot.agent.personas import Persona, Personas
from bot.agent.prompt import answer_note, prompt_blocks, shrink_for_storage
from bot.agent.tool_budget import ToolBudget
from bot.answer.stream import AnswerStream
from bot.jobs import Job
from bot.obs import metrics, telemetry
from bot.store.sessions import SessionStore, Uninstalled
from bot.store.snapshots import is_complete_exchange_end, last_prompt
from bot.store.thread_lock import Lease
from bot.turns.files import FileLimits, read_for_jobs

log = logging.getLogger(__name__)
WINDOW_SIZE = 40
HANDLED_KEPT = 200  # Slack ts of handled messages kept per persona (bot.store.inbox replays)
STOPPED = "_(stopped)_"


@dataclass(frozen=True)
class TurnResult:
    text: str
    done: tuple[Job, ...]  # exactly the queued jobs this answer covers, in queue order
    replayed: bool  # answered before a crash; the stored answer is posted, no model call
    tools: tuple[str, ...] = ()  # the tools the answer used, in order (shown when posted)

    @property
    def answered(self) -> int:
        """How many of the queued jobs this answer covers."""
        return len(self.done)


def tools_used(messages: list[Message]) -> tuple[str, ...]:
    """Names of the tools called after the last prompt from Slack."""
    _, tail = last_prompt(messages)
    names = [block["toolUse"]["name"] for m in tail for block in m["content"] if "toolUse" in block]
    return tuple(dict.fromkeys(names))


def message_text(message: Message) -> str:
    return "\n".join(block["text"] for block in message["content"] if "text" in block).strip()


def last_answered(messages: list[Message]) -> tuple[list[str], str]:
    """The Slack ts of the last answered prompt, and its answer (([], "") if none): the text
    of every assistant message after it (text before a tool call, then the final answer),
    as the stream showed it."""
    asked, tail = last_prompt(messages)
    if not tail or not is_complete_exchange_end(tail[-1]):
        return [], ""
    said = [message_text(m) for m in tail if m["role"] == "assistant"]
    return asked, "\n\n".join(text for text in said if text)


def with_handled(app_data: dict[str, Any], jobs: list[Job]) -> dict[str, Any]:
    """The snapshot's app data, remembering that `jobs` were handled by this turn."""
    handled = [*app_data.get("handled", ()), *(job.ts for job in jobs)]
    return {**app_data, "handled": handled[-HANDLED_KEPT:]}


def prompt_for(
    jobs: list[Job], preamble: list[str] = (), file_input: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """One user message for the queued Slack messages; their ts ride along as metadata.

    `preamble`: context texts that come first (the thread so far, other apps' posts). Per
    message: its text, then the blocks of its files from `file_input` (job ts ->
    bot.turns.files.FileInput, from bot.turns.files.read_for_jobs), then a note on unreadable
    files."""
    file_input = file_input or {}
    return [
        {
            "role": "user",
            "content": [{"text": text} for text in preamble]
            + [
                block
                for job in jobs
                for block in prompt_blocks(job.text, job.files, file_input.get(job.ts))
            ],
            "metadata": {"custom": {"slack_ts": [job.ts for job in jobs]}},
        }
    ]


def build_agent(
    store: SessionStore,
    personas: Personas,
    persona: Persona,
    session_id: str,
    callback_handler: Any = None,
) -> tuple[Agent, Any]:
    manager = store.manager(session_id)
    agent = Agent(
        model=personas.model(persona),
        system_prompt=persona.system_prompt,
        tools=personas.tools(persona),
        agent_id=persona.id,
        name=persona.name,
        session_manager=manager,
        conversation_manager=conversation_manager(persona, WINDOW_SIZE),
        callback_handler=callback_handler,
        hooks=[metrics.AgentMetrics(persona.id)],  # model time, tokens, tool calls
        plugins=[ToolBudget(personas.tool_limits)],  # every tool call's time and size
    )
    return agent, manager


Context = Callable[[bool], list[str]]  # has the persona history here? -> preamble texts


def run_turn(
    store: SessionStore,
    personas: Personas,
    persona: Persona,
    jobs: list[Job],
    lease: Lease,
    stream: AnswerStream | None = None,
    context: Context | None = None,
    token: str = "",
    file_limits: FileLimits | None = None,
) -> TurnResult:
    handler = stream.on_event if stream is not None else None
    with telemetry.span("session.restore", persona=persona.id) as restore:  # on construction
        agent, manager = build_agent(store, personas, persona, jobs[0].session_id, handler)
        restore.set_attribute("bot.restored_messages", len(agent.messages))
    answered_ts, answer = last_answered(agent.messages)
    # Exactly the jobs that answer covers, wherever they sit in the batch: a message held
    # during a Redis outage or replayed may have been queued ahead of them meanwhile
    # (bot/intake/outage.py); it is answered by a turn of its own, never consumed by this one.
    done = tuple(job for job in jobs if job.ts in answered_ts)
    if done:  # committed before a crash, never posted: post the stored answer
        log.info("session %s: replaying the stored answer of an interrupted turn", lease.session_id)
        return TurnResult(answer, done=done, replayed=True, tools=tools_used(agent.messages))
    if stream is not None:
        stream.on_stop = lambda: agent.cancel(message=f"{stream.so_far()}\n\n{STOPPED}".strip())
        stream.start()
    preamble = context(bool(agent.messages)) if context is not None else []
    provider = persona.provider or personas.default_provider
    file_input = read_for_jobs(jobs, token, provider, file_limits or FileLimits())
    try:
        agent(prompt_for(jobs, preamble, file_input))
    except BaseException:
        manager.discard()
        raise
    lease.check()  # never write after losing the thread lock
    if store.sent_before_uninstall(jobs[-1].session_id, jobs[-1].ts):
        raise Uninstalled(f"{jobs[-1].session_id}: the app was uninstalled meanwhile")
    shrink_for_storage(agent.messages)  # the stored records are these same objects
    manager.commit(agent, app_data=with_handled(manager.app_data(persona.id), jobs))
    problems = [problem for read in file_input.values() for problem in read.problems]
    text = (last_answered(agent.messages)[1] or "(no answer)") + answer_note(problems)
    return TurnResult(text, done=tuple(jobs), replayed=False, tools=tools_used(agent.messages))
