"""MCP elicitation: a tool's question goes to the person who asked, in the thread, and
their answer (or decline) goes back to the server.

Which call a question belongs to: Strands runs an MCP call on its client's thread with a
copy of the calling context, and an MCP 2026-07-28 server asks within the call (it answers
`tools/call` with an `InputRequiredResult`), so the callback sees the call's `Asker`
(`ASKING`). An older server sends `elicitation/create` on its own; then the server's calls
in flight in this process tell who is asked when they all come from one person in one
thread; otherwise nobody can be told apart and the question is declined (logged).

The question is posted through the turn's `Reach` (bot/answer/question_message.py). While
the person answers, the call's time budget is paused (bot/agent/tool_budget.py); after
ELICITATION_TIMEOUT_SECONDS without a reply the question is closed and the server gets
`cancel`. A stopped answer cancels the call, and closes its question too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from mcp.client.session import ClientRequestContext
from mcp.types import ElicitRequestParams, ElicitResult, ErrorData

from bot.agent.tool_budget import person_answering
from bot.obs import metrics, telemetry
from bot.store.questions import Reply

log = logging.getLogger(__name__)
POLL_SECONDS = 0.5  # how often a waiting call looks for the reply
MESSAGE_MAX_CHARS = 3_000  # of what the server says (a modal section's limit)
SCHEMA_MAX_CHARS = 20_000  # a form's schema (shared with every process while it waits)


class Asked(Protocol):
    """A question shown to the person (bot.answer.question_message.QuestionMessage)."""

    def reply(self) -> Reply | None:
        """The reply, if one came yet."""

    def close(self, reply: Reply | None) -> Reply:
        """Settle it (None: nobody replied in time); the reply that counts."""


class Reach(Protocol):
    """How a turn's tools reach the person who asked (bot.answer.message.AnswerMessage)."""

    def ask(self, requester: str, **asked: Any) -> Asked:
        """Show a question (`asked`: server, message, schema, url) in the thread."""


@dataclass(frozen=True)
class Asker:
    """Who asked for a turn, as its tool calls carry it, and how their questions reach them."""

    user: str
    team: str
    channel: str
    thread_ts: str
    reach: Reach | None = field(default=None, compare=False)  # for the tools' questions

    def meta(self) -> dict[str, Any]:
        """The tools/call request's `_meta` (bot/agent/mcp.py)."""
        return {
            "slack": {
                "user": self.user,
                "team": self.team,
                "channel": self.channel,
                "thread_ts": self.thread_ts,
            }
        }


ASKING: ContextVar[Asker | None] = ContextVar("mcp_asking", default=None)


class InFlight:
    """One MCP server's calls running in this process, for servers that ask on their own."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[int, Asker] = {}

    @contextmanager
    def call(self, asker: Asker | None) -> Iterator[None]:
        """Run one call for `asker` (set for the callback; counted while it runs)."""
        token = ASKING.set(asker)
        key = id(token)
        if asker is not None:
            with self._lock:
                self._calls[key] = asker
        try:
            yield
        finally:
            with self._lock:
                self._calls.pop(key, None)
            ASKING.reset(token)

    def only_asker(self) -> Asker | None:
        """The one person (in one thread) all calls in flight come from, if there is one."""
        with self._lock:
            askers = set(self._calls.values())  # equal: same person, same thread
        return next(iter(askers)) if len(askers) == 1 else None


class Elicitation:
    """The `elicitation_callback` of one MCP server's client (see the module)."""

    def __init__(self, server: str, in_flight: InFlight, timeout_seconds: float) -> None:
        self.server, self.in_flight, self.timeout = server, in_flight, timeout_seconds

    async def __call__(
        self, context: ClientRequestContext, params: ElicitRequestParams
    ) -> ElicitResult | ErrorData:
        asker = ASKING.get() or self.in_flight.only_asker()
        url = str(getattr(params, "url", "") or "") if params.mode == "url" else ""
        why = refusal(asker, url, params.mode, _schema(params))
        if why or asker is None or asker.reach is None:
            log.warning("MCP server %s asked a question; declined: %s", self.server, why)
            metrics.question(self.server, "unroutable", 0.0)
            return ElicitResult(action="decline")
        started = time.monotonic()
        with telemetry.span("person_question", mcp_server=self.server, mode=params.mode) as span:
            try:
                with person_answering():
                    reply = await self._ask(asker.reach, asker.user, params, url)
            except Exception as exc:  # Slack or the shared state failed: the server hears "decline"
                log.warning("MCP server %s asked; it could not be shown: %s", self.server, exc)
                reply = Reply("decline", "")
            waited = time.monotonic() - started
            span.set_attributes({"bot.outcome": reply.action, "bot.wait_seconds": waited})
        metrics.question(self.server, reply.action, waited)
        if reply.action == "accept":
            return ElicitResult(action="accept", content=None if url else reply.content or {})
        return ElicitResult(action=reply.action)

    async def _ask(self, reach: Reach, user: str, params: Any, url: str) -> Reply:
        deadline = time.time() + self.timeout
        asked = await asyncio.to_thread(
            reach.ask,
            user,
            server=self.server,
            message=str(params.message or "")[:MESSAGE_MAX_CHARS],
            schema=_schema(params),
            url=url,
        )
        reply: Reply | None = None
        try:
            while reply is None and time.time() < deadline:
                await asyncio.sleep(POLL_SECONDS)
                reply = await asyncio.to_thread(asked.reply)
        finally:  # timed out, replied, or the call was cancelled (a stopped answer)
            reply = await asyncio.shield(asyncio.to_thread(asked.close, reply))
        return reply


def _schema(params: Any) -> dict[str, Any]:
    """The form's requested schema (none for a link question)."""
    schema = getattr(params, "requested_schema", None) or {}
    return schema if isinstance(schema, dict) else dict(schema)


def refusal(
    asker: Asker | None, url: str, mode: str | None, schema: dict[str, Any] | None = None
) -> str:
    """Why a question cannot be asked ("" when it can)."""
    if asker is None:
        return "calls from several people are in flight: the question cannot be told apart"
    if asker.reach is None:
        return "this turn has no thread to ask in"
    link = urlsplit(url)
    if mode == "url" and (link.scheme not in ("http", "https") or "@" in link.netloc):
        return "the link is not an http(s) link without credentials"
    if len(json.dumps(schema or {}, default=str)) > SCHEMA_MAX_CHARS:
        return f"its form is over {SCHEMA_MAX_CHARS} characters of schema"
    return ""
