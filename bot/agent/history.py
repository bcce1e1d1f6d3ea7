"""How old messages leave a persona's context: dropped (a sliding window) or summarized.

The two managers are Strands' own, under their own names: the name is stored with the
session's conversation manager state, and Strands restores only a state of its own name.
"""

from __future__ import annotations

from typing import Any

from strands import Agent
from strands.agent import conversation_manager as strands_managers
from strands.agent.conversation_manager import ConversationManager
from strands.types.content import Message

from bot.agent.personas import Persona


def _adopted(state: dict[str, Any], manager: ConversationManager) -> dict[str, Any]:
    """The state the other history mode stored, as this manager's own: after a persona's
    `history` changed, its threads go on with the messages they had (going back to
    "window", a summary stays the first message until the window drops it)."""
    mine, theirs = type(manager).__name__, state.get("__name__")
    if theirs != mine and theirs in (
        SlidingWindowConversationManager.__name__,
        SummarizingConversationManager.__name__,
    ):
        return {"__name__": mine, "removed_message_count": state["removed_message_count"]}
    return state


class SlidingWindowConversationManager(strands_managers.SlidingWindowConversationManager):
    """Strands' sliding window; it also restores a thread summarized as "summarize"."""

    def restore_from_session(self, state: dict[str, Any]) -> list[Message] | None:
        return super().restore_from_session(_adopted(state, self))


class SummarizingConversationManager(strands_managers.SummarizingConversationManager):
    """Strands' summarizing manager; it also restores a thread kept as "window", and puts
    its count back when a summary could not be made.

    Strands (1.62) adds the messages it is about to summarize to `removed_message_count`
    before it asks the model for the summary. When that call fails (a provider error, a
    reply without text), a proactive summary is only logged and the turn goes on with the
    history unchanged, but the count stays raised. The count is stored with the session and
    is where a restored agent starts reading the stored messages: it would silently skip
    messages that the live agent still has (and sends)."""

    def restore_from_session(self, state: dict[str, Any]) -> list[Message] | None:
        return super().restore_from_session(_adopted(state, self))

    def reduce_context(self, agent: Agent, e: Exception | None = None, **kwargs: Any) -> None:
        removed, before = self.removed_message_count, list(agent.messages)
        try:
            super().reduce_context(agent, e, **kwargs)
        finally:
            if len(agent.messages) == len(before) and all(
                now is then for now, then in zip(agent.messages, before, strict=True)
            ):
                self.removed_message_count = removed  # nothing was summarized


def conversation_manager(persona: Persona, window_size: int) -> ConversationManager:
    """history = "window": keep the last `window_size` messages. "summarize": the persona's
    own model (Strands' default summarizer) summarizes the oldest messages, keeping the
    latest `keep_recent`, as soon as a prompt would fill `summarize_at` of the model's context
    window, and on a context overflow error."""
    if persona.history == "summarize":
        return SummarizingConversationManager(
            preserve_recent_messages=persona.keep_recent,
            proactive_compression={"compression_threshold": persona.summarize_at},
        )
    return SlidingWindowConversationManager(window_size=window_size)
