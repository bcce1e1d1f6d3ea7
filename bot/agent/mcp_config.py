"""A persona's MCP servers as PERSONAS_FILE declares them (`[[persona.mcp]]`), checked.

Nothing is started here (bot/agent/mcp.py does that, in each worker process). Every mistake
names the persona, the server and the fix; values are never echoed, since they hold tokens.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from bot.agent.tools import name_matches
from bot.config.settings import ConfigError

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
KEYS = frozenset({"name", "command", "url", "env", "headers", "tools", "prefix", "forward_user"})


@dataclass(frozen=True)
class McpServerConfig:
    """One MCP server of a persona: a stdio `command` or a streamable-HTTP `url`."""

    name: str
    command: tuple[str, ...] = ()
    url: str = ""
    env: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    tools: tuple[str, ...] = ()  # fnmatch patterns over the server's tool names; () = all
    prefix: str = ""  # tool names become "<prefix>_<name>"
    forward_user: bool = False  # HTTP: who asked, as X-Slack-* headers on each tool call

    @property
    def transport(self) -> str:
        return "stdio" if self.command else "http"

    def allows(self, tool_name: str) -> bool:
        """Whether the allowlist lets the model see the server's tool `tool_name`."""
        return not self.tools or name_matches(self.tools, tool_name)


def substitute(value: str, where: str, env: Mapping[str, str]) -> str:
    """`value` with each ${VAR} replaced by the environment's VAR."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise ConfigError(
                f"{where} names ${{{name}}}, which is not set: set {name} in the "
                "environment or in .env (its value is never logged)."
            )
        return env[name]

    return _VARIABLE.sub(one, value)


def _strings(raw: Any, what: str, where: str) -> Mapping[str, str]:
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
    ):
        raise ConfigError(
            f'{where}: {what} must be a table of strings, e.g. {what} = {{ A = "b" }}.'
        )
    return raw


def _substituted(table: Mapping[str, str], what: str, where: str, env: Mapping[str, str]) -> dict:
    return {k: substitute(v, f"{where}: {what}.{k}", env) for k, v in table.items()}


def _command(raw: Any, where: str, env: Mapping[str, str]) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw or not all(isinstance(a, str) and a for a in raw):
        raise ConfigError(
            f'{where}: command must be a list of strings, e.g. command = ["uvx", "tickets-mcp"].'
        )
    command = tuple(substitute(a, f"{where}: command", env) for a in raw)
    if shutil.which(command[0]) is None:
        raise ConfigError(
            f"{where}: command {command[0]!r} is not found on PATH; install it or give its "
            "full path."
        )
    return command


def _url(raw: Any, where: str, env: Mapping[str, str]) -> str:
    url = substitute(raw, f"{where}: url", env) if isinstance(raw, str) else ""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(
            f'{where}: url must be an http(s) URL of a streamable-HTTP MCP server, e.g. url = "https://mcp.example.com/mcp".'
        )
    return url


def mcp_server(
    raw: Any, index: int, where: str, env: Mapping[str, str] | None = None
) -> McpServerConfig:
    """One `[[persona.mcp]]` table, checked, its ${VAR}s substituted from `env`."""
    env = os.environ if env is None else env
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: each [[persona.mcp]] must be a table.")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            f"{where}, MCP server #{index + 1}: name must be 1-32 of a-z 0-9 _ - "
            '(e.g. name = "tickets").'
        )
    here = f"{where}, MCP server {name!r}"
    unknown = sorted(set(raw) - KEYS)
    if unknown:
        raise ConfigError(
            f"{here}: unknown key {unknown[0]!r}; the keys are {', '.join(sorted(KEYS))}."
        )
    if ("command" in raw) == ("url" in raw):
        raise ConfigError(f"{here}: set either command (a stdio server) or url (an HTTP one).")
    stdio = "command" in raw
    if stdio and ("headers" in raw or raw.get("forward_user")):
        raise ConfigError(f"{here}: headers and forward_user are for url servers; use env.")
    if not stdio and "env" in raw:
        raise ConfigError(f"{here}: env is for command servers; an HTTP server takes headers.")
    tools = raw.get("tools", [])
    if not isinstance(tools, list) or not all(isinstance(t, str) and t for t in tools):
        raise ConfigError(f'{here}: tools must be a list of name patterns, e.g. ["search_*"].')
    prefix = raw.get("prefix", "")
    if not isinstance(prefix, str) or (prefix and not _NAME.match(prefix)):
        raise ConfigError(f"{here}: prefix must be 1-32 of a-z 0-9 _ - (tools become prefix_name).")
    forward = raw.get("forward_user", False)
    if not isinstance(forward, bool):
        raise ConfigError(f"{here}: forward_user must be true or false.")
    return McpServerConfig(
        name=name,
        command=_command(raw["command"], here, env) if stdio else (),
        url="" if stdio else _url(raw["url"], here, env),
        env=_substituted(_strings(raw.get("env", {}), "env", here), "env", here, env),
        headers=_substituted(
            _strings(raw.get("headers", {}), "headers", here), "headers", here, env
        ),
        tools=tuple(tools),
        prefix=prefix,
        forward_user=forward,
    )


def mcp_servers(
    raw: Any, where: str, env: Mapping[str, str] | None = None
) -> tuple[McpServerConfig, ...]:
    """A persona's `mcp` list, checked: names unique within the persona."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: declare MCP servers as [[persona.mcp]] tables.")
    servers = tuple(mcp_server(item, i, where, env) for i, item in enumerate(raw))
    names = [s.name for s in servers]
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}: MCP server names must be unique within a persona.")
    return servers
