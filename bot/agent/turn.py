"""Agent turn: build the persona's agent on its thread session and answer queued messages.

Called with the thread lock held: the session manager (and its restore I/O) is built here,
never before, so two workers cannot interleave writes to one session.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from strands import Agent
from strands.agent.conversation_manager import SlidingWindowConversationManager
from strands.types.content import Message

from bot.agent.personas import Persona, Personas
from bot.jobs import Job
from bot.store.buffered import is_complete_exchange_end
from bot.store.sessions import SessionStore
from bot.thread_lock import Lease

log = logging.getLogger(__name__)
WINDOW_SIZE = 40


@dataclass(frozen=True)
class TurnResult:
    text: str
    answered: int  # how many of the queued jobs this answer covers
    replayed: bool  # answered before a crash; the stored answer is posted, no model call


def message_text(message: Message) -> str:
    return "\n".join(block["text"] for block in message["content"] if "text" in block).strip()


def _slack_ts(message: Message) -> list[str]:
    return message.get("metadata", {}).get("custom", {}).get("slack_ts", [])


def last_answered(messages: list[Message]) -> tuple[list[str], str]:
    """The Slack ts of the last answered prompt, and its answer (([], "") if none)."""
    for index in range(len(messages) - 1, -1, -1):
        asked = _slack_ts(messages[index])
        if asked:
            tail = messages[index + 1:]
            if tail and is_complete_exchange_end(tail[-1]):
                return asked, message_text(tail[-1])
            return [], ""
    return [], ""


def prompt_for(jobs: list[Job], file_input: dict[str, Any] | None = None
               ) -> list[dict[str, Any]]:
    """One user message for the queued Slack messages; their ts ride along as metadata.

    Per message: its text, then the blocks of its files from `file_input` (job ts ->
    bot.files.FileInput, from bot.files.read_for_jobs), then a note on unreadable files."""
    from bot.files import prompt_blocks  # local: keeps this change inside prompt_for

    file_input = file_input or {}
    return [{
        "role": "user",
        "content": [block for job in jobs
                    for block in prompt_blocks(job.text, job.files, file_input.get(job.ts))],
        "metadata": {"custom": {"slack_ts": [job.ts for job in jobs]}},
    }]


def build_agent(store: SessionStore, personas: Personas, persona: Persona, session_id: str
                ) -> tuple[Agent, Any]:
    manager = store.manager(session_id)
    agent = Agent(
        model=personas.model(persona),
        system_prompt=persona.system_prompt,
        tools=personas.tools(persona),
        agent_id=persona.id,
        name=persona.name,
        session_manager=manager,
        conversation_manager=SlidingWindowConversationManager(window_size=WINDOW_SIZE),
        callback_handler=None,
    )
    return agent, manager


def run_turn(store: SessionStore, personas: Personas, persona: Persona, jobs: list[Job],
             lease: Lease) -> TurnResult:
    agent, manager = build_agent(store, personas, persona, jobs[0].session_id)
    manager.rollback_partial_tail(agent)
    answered_ts, answer = last_answered(agent.messages)
    done = [job for job in jobs if job.ts in answered_ts]
    if done:  # committed before a crash, never posted: post the stored answer
        log.info("session %s: replaying the stored answer of an interrupted turn", lease.session_id)
        return TurnResult(answer, answered=len(done), replayed=True)
    try:
        result = agent(prompt_for(jobs))
    except BaseException:
        manager.discard()
        raise
    lease.check()  # never write after losing the thread lock
    manager.commit(agent)
    text = message_text(result.message) or "(no answer)"
    return TurnResult(text, answered=len(jobs), replayed=False)
