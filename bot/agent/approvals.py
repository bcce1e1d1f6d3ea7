"""Approval before a risky tool runs: a Strands interrupt on `BeforeToolCallEvent`.

A persona's `approve` patterns (fnmatch over tool names as the model sees them) name the
tools a person must approve. Calling one interrupts the turn (`event.interrupt`): the agent
stops with `stop_reason == "interrupt"`, its interrupt state is saved in the session
snapshot with the rest of the agent, and the turn's answer is the approval request
(bot/turns/approval_turns.py posts it). The decision comes back as the response of that
interrupt when the agent is invoked again, on whichever process handles the click:

- "approve": the tool runs, once: a durable claim (`ran`) is taken first, so a turn retried
  after a crash mid-call does not run it again (the model is told its outcome is unknown);
- "always": as approve, and the tool needs no approval again in this thread (kept in the
  agent's state, in the snapshot), where the persona allows it;
- "deny" / "expired": the tool does not run; the model reads why.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from strands.hooks import BeforeToolCallEvent, HookProvider, HookRegistry

from bot.agent.tools import name_matches
from bot.store.approvals import Call, Decision, parse_decision

ALWAYS_KEY = "approved_always"  # agent state: tools approved for the rest of the thread

REFUSED: dict[str, str] = {
    "deny": "The user denied this tool call; it did not run. Do not retry it unless asked.",
    "expired": "Nobody approved this tool call in time; it did not run (expired).",
}
ALREADY_RAN = (
    "This approved call was started before the bot restarted, so it was not run again; "
    "its outcome is unknown. Tell the user to check."
)


def responses(calls: tuple[Call, ...], decision: Decision) -> list[dict[str, Any]]:
    """The agent's input that resumes an interrupted turn with `decision` for every call."""
    return [
        {"interruptResponse": {"interruptId": c.interrupt_id, "response": decision}} for c in calls
    ]


class ApprovalGate(HookProvider):
    """Give it to an Agent (`hooks=[...]`): calls of `patterns` wait for a decision.
    `ran(tool_use_id)` claims the run of an approved call; False: it was claimed before."""

    def __init__(self, patterns: tuple[str, ...], always_allowed: bool) -> None:
        self.patterns, self.always_allowed = patterns, always_allowed
        self.ran: Callable[[str], bool] = lambda tool_use_id: True  # set for a resume

    def register_hooks(self, registry: HookRegistry, **kwargs: Any) -> None:
        registry.add_callback(BeforeToolCallEvent, self._before_tool)

    def _before_tool(self, event: BeforeToolCallEvent) -> None:
        name = event.tool_use["name"]
        if not name_matches(self.patterns, name):
            return
        state = event.agent.state
        if name in (state.get(ALWAYS_KEY) or []):
            return
        reason = {"tool": name, "input": event.tool_use.get("input")}
        response = event.interrupt(f"approve:{event.tool_use['toolUseId']}", reason=reason)
        decision = parse_decision(response)
        if decision in REFUSED:
            event.cancel_tool = REFUSED[decision]
            return
        if decision == "always" and self.always_allowed:
            state.set(ALWAYS_KEY, [*(state.get(ALWAYS_KEY) or []), name])
        if not self.ran(event.tool_use["toolUseId"]):
            event.cancel_tool = ALREADY_RAN
