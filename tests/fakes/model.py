"""ScriptedModel: a deterministic strands Model for unit tests (no network)."""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import threading
from collections.abc import AsyncGenerator, Iterable
from typing import Any, TypeVar

from pydantic import BaseModel
from strands.agent.conversation_manager.compression.context_compression import (
    DEFAULT_SUMMARIZATION_PROMPT,
)
from strands.models import Model
from strands.types.content import Messages
from strands.types.streaming import StreamEvent
from strands.types.tools import ToolSpec

T = TypeVar("T", bound=BaseModel)

# A scripted reply: text, an exception to raise, or {"tool": name, "input": {...}}
# (optionally with "text": preamble emitted before the tool call), or
# {"text": ..., "then_raise": exc} (the stream fails after the text).
Scripted = str | BaseException | dict[str, Any] | BaseModel


def last_user_text(messages: Messages) -> str:
    """Text of the last user message that has text (tool-result messages are skipped)."""
    for message in reversed(messages):
        if message.get("role") != "user":
            continue
        texts = [block["text"] for block in message.get("content", []) if "text" in block]
        if texts:
            return "".join(texts)
    return ""


class ScriptedModel(Model):
    """Deterministic model. Every `stream()` call is recorded in `self.calls`.

    Replies come from `replies` (consumed front to back); once exhausted the default
    reply is `"reply to: <last user text> [<len(messages)> msgs]"`.

    Usage reports 1 input token unless `count_input_tokens`: then Strands' own estimate of
    the prompt (`count_tokens`), as a provider reports what it read; with a small
    `context_window_limit=` config that drives Strands' proactive context compression.
    With `script_summaries=False`, Strands' summarization calls (its default summarization
    system prompt) get the default reply and leave the script to the agent's own calls.
    """

    def __init__(
        self,
        replies: Iterable[Scripted] | None = None,
        *,
        delay: float = 0.0,
        block_until: threading.Event | None = None,
        token_chars: int = 0,
        token_delay: float = 0.0,
        count_input_tokens: bool = False,
        script_summaries: bool = True,
        **config: Any,
    ) -> None:
        self.replies: list[Scripted] = list(replies or [])
        self.count_input_tokens = count_input_tokens
        self.script_summaries = script_summaries
        self.delay = delay
        # Stream text the way providers do: many small deltas, `token_delay` apart.
        self.token_chars = token_chars
        self.token_delay = token_delay
        self.block_until = block_until
        self.config: dict[str, Any] = {"model_id": "scripted", **config}
        self.calls: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._tool_ids = itertools.count(1)

    # --- Model API -----------------------------------------------------------
    def update_config(self, **model_config: Any) -> None:
        self.config.update(model_config)

    def get_config(self) -> dict[str, Any]:
        return self.config

    def add_replies(self, *replies: Scripted) -> None:
        with self._lock:
            self.replies.extend(replies)

    def default_reply(self, messages: Messages) -> str:
        return f"reply to: {last_user_text(messages)} [{len(messages)} msgs]"

    def _next(self) -> Scripted | None:
        with self._lock:
            return self.replies.pop(0) if self.replies else None

    async def _wait(self, cancel_signal: threading.Event | None) -> bool:
        """Apply delay / block_until. Returns False if cancelled while waiting."""
        if self.delay > 0:
            await asyncio.sleep(self.delay)
        gate = self.block_until
        while gate is not None and not gate.is_set():
            if cancel_signal is not None and cancel_signal.is_set():
                return False
            await asyncio.sleep(0.01)
        return True

    async def stream(  # type: ignore[override]
        self,
        messages: Messages,
        tool_specs: list[ToolSpec] | None = None,
        system_prompt: str | None = None,
        **kwargs: Any,
    ) -> AsyncGenerator[StreamEvent, None]:
        with self._lock:
            self.calls.append(
                {
                    "messages": copy.deepcopy(messages),
                    "system_prompt": copy.deepcopy(system_prompt),
                    "tool_specs": copy.deepcopy(tool_specs),
                }
            )
        if not await self._wait(kwargs.get("cancel_signal")):
            return
        summary = system_prompt == DEFAULT_SUMMARIZATION_PROMPT
        reply = self._next() if self.script_summaries or not summary else None
        if reply is None:
            reply = self.default_reply(messages)
        if isinstance(reply, BaseException):
            raise reply

        yield {"messageStart": {"role": "assistant"}}
        text = reply if isinstance(reply, str) else None
        if isinstance(reply, dict):
            text = reply.get("text")
        elif isinstance(reply, BaseModel):
            text = reply.model_dump_json()
        if text:
            yield {"contentBlockStart": {"start": {}}}
            size = self.token_chars or len(text)
            for start in range(0, len(text), size):
                if start and self.token_delay:
                    await asyncio.sleep(self.token_delay)
                if kwargs.get("cancel_signal") is not None and kwargs["cancel_signal"].is_set():
                    break
                yield {"contentBlockDelta": {"delta": {"text": text[start : start + size]}}}
            if isinstance(reply, dict) and isinstance(reply.get("then_raise"), BaseException):
                raise reply["then_raise"]  # a provider error mid-stream
            yield {"contentBlockStop": {}}
        stop_reason = "end_turn"
        if isinstance(reply, dict) and "tool" in reply:
            tool_use_id = reply.get("id") or f"tooluse_{next(self._tool_ids)}"
            yield {
                "contentBlockStart": {
                    "start": {"toolUse": {"toolUseId": tool_use_id, "name": reply["tool"]}}
                }
            }
            yield {
                "contentBlockDelta": {
                    "delta": {"toolUse": {"input": json.dumps(reply.get("input", {}))}}
                }
            }
            yield {"contentBlockStop": {}}
            stop_reason = "tool_use"
        yield {"messageStop": {"stopReason": stop_reason}}  # type: ignore[typeddict-item]
        out_tokens = len((text or "").split())
        in_tokens = 1
        if self.count_input_tokens:
            in_tokens = await self.count_tokens(messages, tool_specs, system_prompt)
        yield {
            "metadata": {
                "usage": {
                    "inputTokens": in_tokens,
                    "outputTokens": out_tokens,
                    "totalTokens": out_tokens + in_tokens,
                },
                "metrics": {"latencyMs": 0},
            }
        }

    async def structured_output(  # type: ignore[override]
        self,
        output_model: type[T],
        prompt: Messages,
        system_prompt: str | None = None,
        **kwargs: Any,
    ) -> AsyncGenerator[dict[str, T | Any], None]:
        """Legacy structured-output path: next reply must be an instance, a dict or JSON text."""
        with self._lock:
            self.calls.append(
                {
                    "messages": copy.deepcopy(prompt),
                    "system_prompt": copy.deepcopy(system_prompt),
                    "output_model": output_model,
                }
            )
        await self._wait(kwargs.get("cancel_signal"))
        reply = self._next()
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, output_model):
            yield {"output": reply}
        elif isinstance(reply, dict):
            yield {"output": output_model.model_validate(reply)}
        elif isinstance(reply, str):
            yield {"output": output_model.model_validate_json(reply)}
        else:
            raise ValueError(f"ScriptedModel has no structured reply for {output_model.__name__}")


class PoisonedModel(ScriptedModel):
    """Fails for good on any prompt whose last message contains "poison"."""

    async def stream(self, messages, *args, **kwargs):  # type: ignore[override]
        if "poison" in str(messages[-1]):
            self.calls.append({"messages": messages})
            raise ValueError("the model refuses this input")
        async for event in super().stream(messages, *args, **kwargs):
            yield event
