"""The bot's own tools, and lookup of tools by name for personas."""

from __future__ import annotations

import fnmatch
import importlib
from datetime import UTC, datetime
from typing import Any

from strands import tool

from bot.agent import arithmetic
from bot.config.settings import ConfigError


@tool
def current_time() -> str:
    """Return the current date and time in UTC (ISO 8601)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@tool
def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression such as '(2 + 3) * 4'.

    Args:
        expression: numbers with + - * / // % ** and parentheses.
    """
    try:
        return str(arithmetic.evaluate(expression))
    except (ArithmeticError, ValueError, TypeError, RecursionError, MemoryError) as exc:
        return f"error: {exc}"


OWN_TOOLS = {"current_time": current_time, "calculator": calculator}


def name_matches(patterns: tuple[str, ...], name: str) -> bool:
    """Whether tool `name` matches any of `patterns` (fnmatch, case-sensitive): an MCP
    server's allowlist, a persona's `approve`."""
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def tool_module(name: str) -> str | None:
    """The module a tool name is imported from (None: one of the bot's own): a dotted name
    is a module path of its own (e.g. "mycompany.tools.search": its @tool functions), any
    other name one of strands-agents-tools."""
    if name in OWN_TOOLS:
        return None
    return name if "." in name else f"strands_tools.{name}"


def resolve_tools(names: list[str]) -> list[Any]:
    """Map tool names to tools: the bot's own first, then a module path (a dotted name),
    then `strands_tools.<name>`."""
    tools = []
    for name in names:
        module = tool_module(name)
        if module is None:
            tools.append(OWN_TOOLS[name])
            continue
        try:
            tools.append(importlib.import_module(module))
        except ImportError:
            raise ConfigError(
                f"PERSONAS_FILE names tool {name!r}, which is neither one of the bot's own "
                f"({', '.join(OWN_TOOLS)}) nor an importable module (a dotted path) nor one "
                "of strands-agents-tools; fix the name or run `uv add strands-agents-tools`."
            ) from None
    return tools
