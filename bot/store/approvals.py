"""Approval records: a tool call waiting for a person, kept in the persona's session
snapshot (`app_data["approval"]`, written with the turn that asked, so the interrupt state
and the request land together), and the durable claims that make an approved call run once
and an expiry be noticed without Redis (`approvals/…` objects in the session store)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, get_args

from bot.store.blobs import Blobs, FencingError

Decision = Literal["approve", "always", "deny", "expired"]
DECISIONS: tuple[Decision, ...] = get_args(Decision)
ARGS_SHOWN = 1500  # characters of a call's arguments shown in the approval message
_EXPIRY = "approvals/expiry/"


def parse_decision(value: Any) -> Decision:
    """A decision (a resume job's text, an interrupt's response); anything else counts as
    denied."""
    return next((d for d in DECISIONS if d == value), "deny")


@dataclass(frozen=True)
class Call:
    """One tool call waiting for a person."""

    interrupt_id: str
    tool: str
    arguments: dict[str, Any] = field(hash=False)

    @classmethod
    def from_interrupt(cls, interrupt: Any) -> Call:
        reason = interrupt.reason if isinstance(interrupt.reason, dict) else {}
        arguments = reason.get("input")
        return cls(
            str(interrupt.id),
            str(reason.get("tool", "")),
            arguments if isinstance(arguments, dict) else {},
        )

    def shown_arguments(self, redact: Callable[[str], str]) -> str:
        """The arguments as readable JSON, redacted, cut to ARGS_SHOWN characters."""
        text = redact(json.dumps(self.arguments, indent=2, ensure_ascii=False, default=str))
        return text if len(text) <= ARGS_SHOWN else text[:ARGS_SHOWN] + "\n… (cut)"


@dataclass(frozen=True)
class Pending:
    """The calls of one interrupted turn, asked of `requester` about message `for_ts`."""

    key: str  # unique in the session: the time it was asked, as a Slack-like ts
    persona: str
    for_ts: str
    requester: str
    asked_at: float
    expires_at: float
    calls: tuple[Call, ...]
    decision: Decision | None = None
    decided_by: str = ""
    decided_at: float = 0.0

    def decided(self, decision: Decision, by: str, at: float) -> Pending:
        return replace(self, decision=decision, decided_by=by, decided_at=at)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["calls"] = [asdict(c) for c in self.calls]
        return data

    @classmethod
    def from_dict(cls, data: Any) -> Pending | None:
        if not isinstance(data, dict):
            return None
        try:
            calls = tuple(Call(**c) for c in data["calls"])
            return cls(**{**data, "calls": calls})
        except (KeyError, TypeError):
            return None


def waiting_in(app_data: dict[str, Any], interrupted: bool) -> Pending | None:
    """The approval a persona's snapshot waits on: its request, kept in the app data, while
    Strands' interrupt state (written with it) is `interrupted`; None if it waits on none."""
    return Pending.from_dict(app_data.get("approval")) if interrupted else None


def interrupted(data: dict[str, Any]) -> bool:
    """Whether a stored agent (a snapshot's `data`) is in a Strands interrupt."""
    return bool((data.get("interrupt_state") or {}).get("activated"))


def claim_run(blobs: Blobs, session_id: str, key: str, tool_use_id: str) -> bool:
    """Claim the one run of an approved call; False if it was claimed before (a retry
    after a crash mid-call must not run it again)."""
    try:
        blobs.put(f"approvals/ran/{session_id}/{key}/{tool_use_id}", b"", None)
        return True
    except FencingError:
        return False


def expiry_key(pending: Pending, session_id: str) -> str:
    """Listed by the expiry sweep; the name says when it expires, so no GET is needed."""
    return f"{_EXPIRY}{int(pending.expires_at):012d}/{session_id}/{pending.persona}/{pending.key}"


def note_expiry(blobs: Blobs, pending: Pending, session_id: str, job: str) -> None:
    """Remember a pending approval (`job`: the resume job that expires it) for the sweep."""
    blobs.put(expiry_key(pending, session_id), job.encode(), None)


def forget_expiry(blobs: Blobs, pending: Pending, session_id: str) -> None:
    blobs.delete([expiry_key(pending, session_id)])


def expired(blobs: Blobs, now: float) -> Iterator[tuple[str, str]]:
    """(key, resume job JSON) of every noted approval whose time is up."""
    for key in blobs.keys(_EXPIRY):
        when = key[len(_EXPIRY) :].split("/", 1)[0]
        if when.isdigit() and int(when) <= now:
            found = blobs.get(key)
            if found is not None:
                yield key, found[0].decode()
