"""MCP: the one module that talks to MCP servers, through Strands' `MCPClient`.

Each persona's servers (bot/agent/mcp_config.py) are connected lazily, once per worker
process, on the first turn that needs them, and shared by every turn of that persona in the
process. Their tools are plain Strands tools to the agent, so the tool budget
(bot/agent/tool_budget.py) bounds each call's time and result size like any other.

A server that does not start, or whose connection broke, leaves its tools out of that turn
(`McpTools.unavailable`: the model and the answer say so) and is tried again on a later turn
after RETRY_SECONDS; a turn never fails or waits long on one. Who asked rides along with every
tool call in the request's `_meta` (`{"slack": {"user", "team", "channel", "thread_ts"}}`)
and, for HTTP servers with `forward_user = true`, as X-Slack-* headers. A server's questions
to that person (MCP elicitation) reach them in the thread (bot/agent/elicitation.py). Clients are
stopped at exit (stdio servers are terminated with them; a killed worker's stdio servers
see their stdin close and exit).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import time
from collections.abc import AsyncGenerator, Generator
from dataclasses import dataclass, field
from typing import Any

import httpx
from mcp import StdioServerParameters
from mcp.client.stdio import get_default_environment, stdio_client
from strands.tools.mcp import MCPAgentTool, MCPClient
from strands.types.events import ToolResultEvent
from strands.types.tools import AgentTool, ToolUse

from bot.agent.elicitation import Asker, Elicitation, InFlight
from bot.agent.mcp_config import McpServerConfig

log = logging.getLogger(__name__)
STARTUP_SECONDS = 10  # a server not ready by then is unavailable for this turn
RETRY_SECONDS = 30.0  # an unavailable server is tried again after this
ASKER = "slack_asker"  # the invocation_state key of who asked (an Asker)
__all__ = ["ASKER", "Asker", "McpServers", "McpTools", "tools_note", "unavailable_note"]
_FORWARDED = (
    ("user", "X-Slack-User-Id"),
    ("team", "X-Slack-Team-Id"),
    ("channel", "X-Slack-Channel-Id"),
)


class ForwardUser(httpx.Auth):
    """Copies who asked from a tools/call request's `_meta` into X-Slack-* headers."""

    requires_request_body = True

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        try:
            body = json.loads(request.content or b"null")
        except ValueError:
            body = None
        params = body.get("params") if isinstance(body, dict) else None
        meta = params.get("_meta") if isinstance(params, dict) else None
        slack = meta.get("slack") if isinstance(meta, dict) else None
        if isinstance(slack, dict):
            for key, header in _FORWARDED:
                if isinstance(slack.get(key), str):
                    request.headers[header] = slack[key]
        yield request


class AskedTool(MCPAgentTool):
    """An MCP tool whose calls carry who asked (see the module)."""

    def __init__(self, tool: MCPAgentTool, server: McpServer) -> None:
        super().__init__(tool.mcp_tool, tool.mcp_client, name_override=tool.tool_name)
        self.server = server

    async def stream(
        self, tool_use: ToolUse, invocation_state: dict[str, Any], **kwargs: Any
    ) -> AsyncGenerator[Any, None]:
        asker = invocation_state.get(ASKER)
        agent = invocation_state.get("agent")
        asker = asker if isinstance(asker, Asker) else None
        with self.server.in_flight.call(asker):
            result = await self.mcp_client.call_tool_async(
                tool_use_id=tool_use["toolUseId"],
                name=self.mcp_tool.name,
                arguments=tool_use["input"],
                read_timeout_seconds=self.timeout,
                meta=asker.meta() if asker else None,
                cancel_signal=getattr(agent, "_cancel_signal", None),
            )
        if result.get("status") == "error":
            self.server.suspect()  # a dead connection is noticed before the next turn
        yield ToolResultEvent(result)


class McpServer:
    """One persona's connection to one MCP server, in this process."""

    def __init__(self, config: McpServerConfig, question_seconds: float = 600.0) -> None:
        self.config = config
        self.in_flight = InFlight()  # the calls running now, for its questions
        self._ask = Elicitation(config.name, self.in_flight, question_seconds)
        self._lock = threading.Lock()
        self._client: MCPClient | None = None
        self._tools: list[AgentTool] = []
        self._pid = 0
        self._retry_at = 0.0
        self._suspect = False

    def tools(self) -> list[AgentTool] | None:
        """The server's allowed tools; None while it is unavailable."""
        with self._lock:
            if self._pid != os.getpid():  # a forked child: the parent's threads are not here
                self._client, self._pid = None, os.getpid()
            if self._client is not None and not self._alive():
                self._disconnect()
            if self._client is None:
                if time.monotonic() < self._retry_at:
                    return None
                try:
                    self._connect()
                except Exception as exc:
                    log.warning("MCP server %s is unavailable: %s", self.config.name, exc)
                    self._retry_at = time.monotonic() + RETRY_SECONDS
                    return None
            return self._tools

    def suspect(self) -> None:
        """A call failed: check the connection before the next turn uses it."""
        self._suspect = True

    def stop(self) -> None:
        with self._lock:
            self._disconnect()

    def _alive(self) -> bool:
        client = self._client
        if client is None or not client._is_session_active():
            return False
        if not self._suspect:
            return True
        self._suspect = False
        try:
            client.list_tools_sync()
            return True
        except Exception as exc:
            log.warning("MCP server %s stopped answering (%s); reconnecting", self.config.name, exc)
            return False

    def _connect(self) -> None:
        config = self.config
        if config.command:
            params = StdioServerParameters(
                command=config.command[0], args=list(config.command[1:]), env=_child_env(config)
            )
            # mcp 2.x's stream types are not the ones Strands' signature names (both work)
            transport: Any = lambda: stdio_client(params)  # noqa: E731
            client = MCPClient(
                transport, startup_timeout=STARTUP_SECONDS, elicitation_callback=self._ask
            )
        else:
            client = MCPClient(
                url=config.url,
                headers=dict(config.headers) or None,
                auth_provider=ForwardUser() if config.forward_user else None,
                startup_timeout=STARTUP_SECONDS,
                elicitation_callback=self._ask,
            )
        client.start()
        try:
            listed = client.list_tools_sync(prefix=config.prefix or None)
        except Exception:
            client.stop(None, None, None)
            raise
        self._client = client
        self._tools = [AskedTool(t, self) for t in listed if config.allows(t.mcp_tool.name)]
        log.info(
            "MCP server %s (%s): %d tools: %s",
            config.name,
            config.transport,
            len(self._tools),
            ", ".join(t.tool_name for t in self._tools),
        )

    def _disconnect(self) -> None:
        client, self._client, self._tools = self._client, None, []
        if client is not None:
            try:
                client.stop(None, None, None)
            except Exception as exc:  # already broken: nothing more to release
                log.info("MCP server %s: stop failed: %s", self.config.name, exc)


def _child_env(config: McpServerConfig) -> dict[str, str]:
    """A stdio server's environment: the MCP SDK's safe defaults (PATH, HOME, …) plus its
    own `env`; never the bot's secrets."""
    return {**get_default_environment(), **config.env}


@dataclass
class McpTools:
    """The MCP tools a turn may use, and the servers that were unavailable for it."""

    tools: list[AgentTool] = field(default_factory=list)
    unavailable: tuple[str, ...] = ()


class McpServers:
    """Every persona's MCP servers in this process (see the module)."""

    def __init__(
        self, configs: dict[str, tuple[McpServerConfig, ...]], question_seconds: float = 600.0
    ) -> None:
        self._servers = {
            pid: [McpServer(c, question_seconds) for c in cs] for pid, cs in configs.items() if cs
        }
        if self._servers:
            atexit.register(self.stop)

    def for_persona(self, persona_id: str) -> McpTools:
        """Connect (or reconnect) the persona's servers as needed; their tools now."""
        found = McpTools()
        unavailable = []
        for server in self._servers.get(persona_id, []):
            tools = server.tools()
            if tools is None:
                unavailable.append(server.config.name)
            else:
                found.tools.extend(tools)
        found.unavailable = tuple(unavailable)
        return found

    def stop(self) -> None:
        """Stop every client (stdio servers exit with them)."""
        for servers in self._servers.values():
            for server in servers:
                server.stop()


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
