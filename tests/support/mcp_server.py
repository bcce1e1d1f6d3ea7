"""A real MCP server for the tests, built with the `mcp` package's MCPServer (FastMCP).

    python tests/support/mcp_server.py stdio
    python tests/support/mcp_server.py http PORT

Self-contained (a stdio server is started by the bot as a command, without the tests on its
path). Every call is appended as a JSON line to the file named by MCP_CALLS (if set): the
tool, its arguments, the request's `_meta` and its X-Slack-* headers, so tests count calls.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.elicitation import AcceptedElicitation, ElicitationResult
from mcp.server.mcpserver import Context, Elicit, Resolve
from pydantic import BaseModel, Field

server = MCPServer("tickets")


def _record(tool: str, ctx: Context | None, **args: Any) -> None:
    path = os.environ.get("MCP_CALLS")
    if not path:
        return
    meta = ctx.request_context.meta if ctx is not None else None
    headers = dict(ctx.headers or {}) if ctx is not None else {}
    line = {
        "tool": tool,
        "args": args,
        "meta": meta.model_dump(exclude_none=True) if hasattr(meta, "model_dump") else meta,
        "headers": {k.lower(): v for k, v in headers.items() if k.lower().startswith("x-slack-")},
        "authorization": headers.get("authorization", ""),
        "ppid": os.getppid(),  # a stdio server's: the bot process that started it
    }
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(line, default=str) + "\n")


@server.tool()
def search_tickets(query: str, ctx: Context) -> str:
    """Search the ticket tracker.

    Args:
        query: words to look for.
    """
    _record("search_tickets", ctx, query=query)
    return f"2 tickets match {query!r}: T-1 (open), T-2 (closed)"


@server.tool()
def create_ticket(title: str, ctx: Context) -> str:
    """Create a ticket.

    Args:
        title: the ticket's title.
    """
    _record("create_ticket", ctx, title=title)
    return f"created T-42: {title}"


@server.tool()
def delete_everything(ctx: Context) -> str:
    """Delete every ticket."""
    _record("delete_everything", ctx)
    return "deleted everything"


@server.tool()
def slow_report(seconds: float, ctx: Context) -> str:
    """A report that takes a while.

    Args:
        seconds: how long it takes.
    """
    _record("slow_report", ctx, seconds=seconds)
    time.sleep(seconds)
    return "the report, too late"


@server.tool()
def restart_service(name: str, seconds: float, ctx: Context) -> str:
    """Restart a service (it takes a while).

    Args:
        name: the service.
        seconds: how long the restart takes.
    """
    _record("restart_service", ctx, name=name, seconds=seconds)
    time.sleep(seconds)
    return f"restarted {name}"


@server.tool()
def export_all(ctx: Context) -> str:
    """Export every ticket as text (very long)."""
    _record("export_all", ctx)
    return "ticket line\n" * 20_000


class Booking(BaseModel):
    """What `book_table` asks the person (MCP elicitation, the `mcp` package's own way)."""

    day: str = Field(description="Which day (YYYY-MM-DD)", json_schema_extra={"format": "date"})
    seats: int = Field(ge=1, le=8, description="How many seats")
    window: bool = Field(default=False, description="A table by the window")


def _ask_booking(place: str) -> Elicit[Booking]:
    return Elicit(f"Booking {place}: which day, and for how many?", Booking)


@server.tool()
def book_table(
    place: str, booking: Annotated[ElicitationResult[Booking], Resolve(_ask_booking)], ctx: Context
) -> str:
    """Book a table; asks the person which day and for how many.

    Args:
        place: the restaurant.
    """
    answer = booking.data.model_dump() if isinstance(booking, AcceptedElicitation) else None
    _record("book_table", ctx, place=place, action=booking.action, answer=answer)
    if answer is None:
        return f"not booked ({booking.action})"
    return f"booked {place} on {answer['day']} for {answer['seats']}"


def _like_a_server_before_2026() -> None:
    """MCP_LEGACY=1: serve every connection in the handshake era (2025-11-25), as servers
    before MCP 2026-07-28 do: the client's `server/discover` probe is refused, the client
    falls back to `initialize`, and a question is sent on its own (`elicitation/create`),
    not within the call. (The `mcp` package's runner picks the era from the first request;
    here it never sees a 2026 one.)"""
    from mcp.server import runner

    runner._has_modern_envelope = lambda params: False


if os.environ.get("MCP_LEGACY") == "1":
    _like_a_server_before_2026()

if __name__ == "__main__":
    if sys.argv[1] == "stdio":
        server.run("stdio")
    else:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
