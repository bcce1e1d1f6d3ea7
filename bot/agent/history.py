"""How old messages leave a persona's context: dropped (a sliding window) or summarized."""

from __future__ import annotations

from strands.agent.conversation_manager import (
    ConversationManager,
    SlidingWindowConversationManager,
    SummarizingConversationManager,
)

from bot.agent.personas import Persona


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
