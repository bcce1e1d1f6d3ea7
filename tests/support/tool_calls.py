"""What the scripted model was sent about tool calls (tests/fakes/model.py ScriptedModel)."""

from __future__ import annotations

from typing import Any

from tests.fakes.model import ScriptedModel


def tool_results(model: ScriptedModel, call: int) -> list[dict[str, Any]]:
    """The tool results the model was sent in its `call`-th request."""
    return [
        block["toolResult"]
        for message in model.calls[call]["messages"]
        for block in message["content"]
        if "toolResult" in block
    ]


def texts(result: dict[str, Any]) -> str:
    """A tool result's text."""
    return "".join(block.get("text", "") for block in result["content"])
