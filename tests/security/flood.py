"""A strands_tools-style module tool (TOOL_SPEC + a function of the same name), as
`PERSONAS_FILE` tools from strands-agents-tools are: it answers with far too much."""

from __future__ import annotations

from typing import Any

TOOL_SPEC = {
    "name": "flood",
    "description": "Return a report.",
    "inputSchema": {"json": {"type": "object", "properties": {"topic": {"type": "string"}}}},
}

ROWS = 20_000


def flood(tool: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """A JSON block of ROWS rows, then a text block."""
    return {
        "toolUseId": tool["toolUseId"],
        "status": "success",
        "content": [
            {"json": {"rows": [{"n": n, "name": f"row {n}"} for n in range(ROWS)]}},
            {"text": "end of report"},
        ],
    }
