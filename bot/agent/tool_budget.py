"""A time and a size budget for every tool call, whatever the tool (the bot's own, a
strands_tools module): Strands middleware around its tool execution stage.

Time: the tool runs in a task of its own; past `timeout_seconds` the call ends with an error
result the model reads ("tool X took longer than N s") and the turn goes on. A synchronous
tool's thread cannot be killed: it is abandoned to finish on its own, and the event loop gets
a fresh default executor so the end of the invocation (asyncio.run waits for the default
executor's threads) does not wait for it. A tool that holds the GIL cannot be preempted at
all; such tools must bound their own work (bot/agent/arithmetic.py does for the calculator).

A person's time does not count: while a tool waits for the person who asked to answer its
question (MCP elicitation, bot/agent/elicitation.py, inside `person_answering()`), the
call's clock is paused.

Size: a result longer than `max_result_chars` (its text, JSON as text, binary blocks by their
size) is cut to that length and the model is told it was cut.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from strands.middleware import ExecuteToolContext, ExecuteToolStage, MiddlewareNext
from strands.plugins import Plugin
from strands.types.events import ToolResultEvent, TypedEvent
from strands.types.tools import ToolResult, ToolResultContent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ToolLimits:
    """TOOL_TIMEOUT_SECONDS and TOOL_RESULT_MAX_CHARS (bot/config/settings.py)."""

    timeout_seconds: float = 30.0
    max_result_chars: int = 20_000


@dataclass
class CallClock:
    """One tool call's running time, without the time a person took to answer it."""

    started: float = field(default_factory=time.monotonic)
    _paused: float = 0.0
    _since: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def waiting(self) -> bool:
        return self._since is not None

    def used(self) -> float:
        now = time.monotonic()
        with self._lock:
            ongoing = now - self._since if self._since is not None else 0.0
            return now - self.started - self._paused - ongoing

    @contextmanager
    def paused(self) -> Iterator[None]:
        with self._lock:
            self._since = time.monotonic()
        try:
            yield
        finally:
            with self._lock:
                self._paused += time.monotonic() - (self._since or time.monotonic())
                self._since = None


# The clock of the tool call running in this context (the tool's task and, through
# run_coroutine_threadsafe's context copy, an MCP client's call and its callbacks).
_CLOCK: ContextVar[CallClock | None] = ContextVar("tool_call_clock", default=None)


@contextmanager
def person_answering() -> Iterator[None]:
    """The current tool call waits for a person meanwhile: its time budget is paused."""
    clock = _CLOCK.get()
    if clock is None:
        yield
        return
    with clock.paused():
        yield


class ToolBudget(Plugin):
    """Give it to an Agent (`plugins=[ToolBudget(limits)]`): every tool call it makes runs
    within `limits`."""

    name = "tool-budget"

    def __init__(self, limits: ToolLimits) -> None:
        super().__init__()
        self.limits = limits

    def init_agent(self, agent: Any) -> None:
        """Strands calls this once per agent: wrap its tool execution stage."""
        agent.add_middleware(ExecuteToolStage, self._wrap)

    async def _wrap(
        self, context: ExecuteToolContext, next_fn: MiddlewareNext
    ) -> AsyncGenerator[TypedEvent, None]:
        name = context.tool_use["name"]
        seconds = self.limits.timeout_seconds
        async with aclosing(_within(next_fn(context), seconds)) as events:
            async for event in events:
                if event is None:
                    break
                if isinstance(event, ToolResultEvent):
                    event = _cut(event, self.limits.max_result_chars, name)
                yield event
            else:
                return
        # Over time; the tool's task is cancelled now (its thread, if any, runs on abandoned).
        log.warning("tool %s took longer than %s s; its call was abandoned", name, seconds)
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor())
        yield _error(
            context,
            f"tool {name} took longer than {seconds:g} s, so it was stopped "
            "without a result; do not call it again with the same input",
        )


async def _within(
    events: AsyncIterator[TypedEvent], seconds: float
) -> AsyncGenerator[TypedEvent | None, None]:
    """The events of `events`, drained by a task of their own; None (then nothing) once
    `seconds` have passed, not counting a person's time (`person_answering`). Exceptions
    (interrupts included) are raised here."""
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    async def drain() -> None:
        try:
            async for event in events:
                queue.put_nowait(("event", event))
            queue.put_nowait(("done", None))
        except Exception as exc:  # noqa: BLE001 - handed to the consumer
            queue.put_nowait(("error", exc))

    clock = CallClock()
    token = _CLOCK.set(clock)
    task = asyncio.create_task(drain())  # a copy of this context: the clock goes with it
    _CLOCK.reset(token)
    try:
        while True:
            left = 1.0 if clock.waiting else seconds - clock.used()
            if left <= 0:
                yield None
                return
            try:
                kind, item = await asyncio.wait_for(queue.get(), left)
            except TimeoutError:
                continue
            if kind == "error":
                raise item
            if kind == "done":
                return
            yield item
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _error(context: ExecuteToolContext, text: str) -> ToolResultEvent:
    result: ToolResult = {
        "toolUseId": str(context.tool_use.get("toolUseId")),
        "status": "error",
        "content": [{"text": text}],
    }
    return ToolResultEvent(result, exception=TimeoutError(text))


def _cut(event: ToolResultEvent, limit: int, name: str) -> ToolResultEvent:
    result: ToolResult = event.tool_result
    content = result.get("content") or []
    total = sum(_size(block) for block in content)
    if total <= limit:
        return event
    log.warning("tool %s returned %d characters; cut to %d", name, total, limit)
    kept: list[ToolResultContent] = []
    room = limit
    for block in content:
        if room <= 0:
            break
        size = _size(block)
        if size <= room:
            kept.append(block)
            room -= size
        elif "text" in block or "json" in block:
            kept.append({"text": _as_text(block)[:room]})
            room = 0
    kept.append(
        {
            "text": f"\n[tool result cut to {limit} characters of {total}: the tool "
            "returned more than TOOL_RESULT_MAX_CHARS; ask for less]"
        }
    )
    return ToolResultEvent({**result, "content": kept}, exception=event.exception)


def _as_text(block: ToolResultContent) -> str:
    if "text" in block:
        return str(block["text"])
    try:
        return json.dumps(block["json"], ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        return "[JSON that cannot be shown]"


def _size(block: ToolResultContent) -> int:
    """Characters of text or JSON; bytes of an image's or a document's source."""
    if "text" in block or "json" in block:
        return len(_as_text(block))
    media = next(iter(block.values()), None)  # {"image": {"format": …, "source": {"bytes": …}}}
    source = media.get("source", {}) if isinstance(media, dict) else {}
    return sum(len(part) for part in source.values() if isinstance(part, bytes | bytearray | str))
