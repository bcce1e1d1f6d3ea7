"""Finding 11 (part): the tool-call metric took its `tool` label from the model, so every
invented tool name created a new Prometheus series (unbounded memory in every process and
in the metrics store). Only the persona's own tools get a label; anything else counts
under "unknown"."""

from __future__ import annotations

from strands import Agent

from bot.agent.tools import calculator
from bot.obs import metrics
from tests.fakes.model import ScriptedModel


def tool_labels() -> set[str]:
    return {
        sample.labels["tool"]
        for family in metrics.TOOL_CALLS.collect()
        for sample in family.samples
    }


def unknown_calls() -> float:
    return sum(
        sample.value
        for family in metrics.TOOL_CALLS.collect()
        for sample in family.samples
        if sample.name.endswith("_total")
        and sample.labels["tool"] == "unknown"
        and sample.labels["persona"] == "labels"
    )


def test_invented_tool_names_do_not_create_series() -> None:
    invented = [f"made_up_tool_{n}" for n in range(5)]
    model = ScriptedModel(
        [
            *({"tool": name, "input": {}} for name in invented),
            {"tool": "calculator", "input": {"expression": "1+1"}},
            "Done.",
        ]
    )
    agent = Agent(
        model=model,
        tools=[calculator],
        callback_handler=None,
        hooks=[metrics.AgentMetrics("labels")],
    )
    before = unknown_calls()
    agent("try some tools")
    labels = tool_labels()
    assert not [label for label in labels if label.startswith("made_up_tool_")], labels
    assert "calculator" in labels
    assert unknown_calls() - before == len(invented)
