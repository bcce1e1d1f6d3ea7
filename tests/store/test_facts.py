"""The facts registry (bot/store/facts.py): the keys and TTLs it builds are exactly the ones
the call sites wrote before it existed (stored data and the uninstall SCAN depend on them),
and no call site invents a key of its own any more."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest

from bot.answer import feedback, stop
from bot.jobs import Job
from bot.slack.budget import SlackBudget
from bot.store import facts
from bot.store.facts import FAMILIES, Family
from bot.store.memory_state import MemoryState
from bot.store.state import JOINED_TTL_SECONDS, KEPT_ON_UNINSTALL, team_pattern
from bot.turns import attempts, undelivered

SID = "T1_C1_100-1"  # bot.jobs.session_id("T1", "C1", "100.1")
DAY = 24 * 3600

# family -> (sample parts, the literal key the call site built, its TTL before the registry)
BEFORE: dict[str, tuple[tuple[str, ...], str, float]] = {
    "BUSY": ((SID,), f"busy:{SID}", 15 * 60),  # bot/answer/progress.py
    "WAITING": ((SID, "101.2"), f"waiting:{SID}:101.2", 15 * 60),  # bot/answer/progress.py
    "STOP": ((SID,), f"stop:{SID}", 600),  # bot/answer/stop.py
    "STREAM": ((SID, "101.2"), f"stream:{SID}:101.2", DAY),  # bot/answer/stream_messages.py
    "RESET": ((SID,), f"reset:{SID}", JOINED_TTL_SECONDS),  # bot/turns/conversation.py (default)
    "VOTE": ((SID, "101.2", "U1"), f"vote:{SID}:101.2:U1", JOINED_TTL_SECONDS),  # feedback
    "ATTEMPTS": ((SID,), f"attempts:{SID}", 2 * DAY),  # bot/turns/attempts.py
    "GENERATION": ((SID,), f"gen:{SID}", DAY),  # bot/store/sessions.py
    "UNINSTALLED": (("T1_",), "uninstalled:T1_", DAY),  # bot/store/sessions.py
    "VIEWING": (("T1", "U1"), "viewing:T1:U1", 3_600),  # bot/turns/inputs/app_context.py
    "STOP_SEEN": (("msg:T1:C1:101.2",), "stop-seen:msg:T1:C1:101.2", 3600),  # bot/intake/intake.py
    "CONTEXT_SEEN": ((SID,), f"context-seen:{SID}", 3_600),  # bot/turns/inputs/thread_notes.py
    "VOTERS": ((SID, "101.2"), f"vote:{SID}:101.2", JOINED_TTL_SECONDS),  # bot/answer/feedback.py
    "CONTEXT": ((SID,), f"context:{SID}", JOINED_TTL_SECONDS),  # bot/turns/inputs/thread_notes.py
    "UNDELIVERED": ((SID,), f"undelivered:{SID}", JOINED_TTL_SECONDS),  # bot/turns/undelivered.py
    "UNDELIVERED_THREADS": ((), "undelivered-threads", JOINED_TTL_SECONDS),  # undelivered
    "FEEDBACK": ((), "feedback", math.inf),  # bot/answer/feedback.py (a hash: no expiry)
    "BUDGET": (("T1", "chat.startStream"), "budget:T1:chat.startStream", 20.0),  # slack_budget
    "REFUSALS": ((SID,), f"refusals:{SID}", 60),  # bot/intake/intake.py
    "REPORTER": ((), "undelivered-reporter", 30.0),  # bot/turns/worker.py
    "HOME_THREADS": (("T1", "U1"), "home:T1:U1", JOINED_TTL_SECONDS),  # answer/home_threads.py
    "APPROVAL_WAITERS": ((SID,), f"approval-wait:{SID}", 7 * DAY),  # turns/approval_turns.py
    "APPROVAL_SWEEP": ((), "approval-sweep", 10.0),  # bot/turns/approval_turns.py
    "QUESTION": ((f"{SID}.q1",), f"question:{SID}.q1", 10),  # bot/store/questions.py
    "QUESTION_REPLY": ((f"{SID}.q1",), f"question-reply:{SID}.q1", 3_600),  # questions.py
    "QUESTION_REPLIED": ((f"{SID}.q1",), f"question-replied:{SID}.q1", DAY),  # questions.py
    "QUESTIONS_SHOWN": ((SID,), f"questions:{SID}", DAY),  # bot/store/questions.py
}


def test_every_family_is_registered_once() -> None:
    named = {name: value for name, value in vars(facts).items() if isinstance(value, Family)}
    assert set(named) == set(BEFORE)
    assert sorted(FAMILIES, key=id) == sorted(named.values(), key=id)
    kinds_prefixes = [(family.kind, family.prefix) for family in FAMILIES]
    assert len(kinds_prefixes) == len(set(kinds_prefixes))  # no two write the same keys
    assert all(family.doc for family in FAMILIES)


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_keys_and_ttls_are_the_ones_written_before(name: str) -> None:
    family: Family = getattr(facts, name)
    parts, key, ttl = BEFORE[name]
    assert family.key(*parts) == key
    assert family.ttl == ttl


def test_the_uninstall_scan_still_finds_the_team_keys_and_keeps_its_mark() -> None:
    assert (facts.UNINSTALLED.key(""),) == KEPT_ON_UNINSTALL
    pattern = team_pattern("T1")
    for name, (parts, _, _) in BEFORE.items():
        if any(part.startswith("T1") or ":T1:" in part for part in parts):
            assert pattern.search(getattr(facts, name).key(*parts)), name


class Recording(MemoryState):
    """A MemoryState that notes the key and TTL of each small-fact write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[str, str, Any]] = []

    def set_fact(self, key: str, value: str | None, ttl: float = JOINED_TTL_SECONDS) -> None:
        self.writes.append(("fact", key, ttl if value is not None else None))
        super().set_fact(key, value, ttl)

    def add_once(self, key: str, member: str, ttl: float = JOINED_TTL_SECONDS) -> bool:
        self.writes.append(("set", key, ttl))
        return super().add_once(key, member, ttl)

    def append_note(
        self, key: str, note: str, max_notes: int = 50, ttl: float = JOINED_TTL_SECONDS
    ) -> None:
        self.writes.append(("note", key, ttl))
        super().append_note(key, note, max_notes, ttl)

    def spend(self, key: str, limit: int, window: float) -> bool:
        self.writes.append(("spend", key, window))
        return super().spend(key, limit, window)

    def count(self, key: str, field: str, by: int = 1) -> int:
        self.writes.append(("count", key, field))
        return super().count(key, field, by)


def test_call_sites_write_the_same_keys_and_ttls() -> None:
    state = Recording()
    head = Job("turn", "T1", "C1", "100.1", "101.2", "U1")
    stop.request_stop(state, SID)
    attempts.save(state, SID, attempts.Attempts("101.2"))
    feedback.record_vote(state, feedback.Vote(SID, "101.2", "default", "up"), "U1")
    undelivered.record(state, head, 1.0)
    SlackBudget(state).allow("T1", "chat.startStream")
    assert state.writes == [
        ("fact", f"stop:{SID}", 600),
        ("fact", f"attempts:{SID}", 2 * DAY),
        ("set", f"vote:{SID}:101.2", JOINED_TTL_SECONDS),
        ("fact", f"vote:{SID}:101.2:U1", JOINED_TTL_SECONDS),
        ("count", "feedback", "default:up"),
        ("note", f"undelivered:{SID}", JOINED_TTL_SECONDS),
        ("note", "undelivered-threads", JOINED_TTL_SECONDS),
        ("spend", "budget:T1:chat.startStream", 20.0),
    ]


STATE_CALL = re.compile(
    r"(?:state|facts)\.(?:set_fact|fact|add_once|append_note|notes|drop_notes|spend|count|counts)"
    r"[(,]\s*f?[\"']"
)


def test_no_call_site_invents_a_key() -> None:
    """Outside the registry, no f-string key of a registered family, and no State call
    whose key is a string literal (tests of the backends themselves may)."""
    root = Path(__file__).resolve().parents[2] / "bot"
    prefixes = "|".join(sorted({re.escape(family.prefix) for family in FAMILIES}, key=len))
    literal = re.compile(rf"f[\"'](?:{prefixes}):\{{")
    single = [getattr(facts, name).prefix for name, (parts, _, _) in BEFORE.items() if not parts]
    whole = re.compile(rf"[\"'](?:{'|'.join(map(re.escape, single))})[\"']")  # one-key family
    found = []
    for path in sorted(root.rglob("*.py")):
        if path.name == "facts.py" and path.parent.name == "store":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if literal.search(line) or STATE_CALL.search(line) or whole.search(line):
                found.append(f"{path.relative_to(root.parent)}:{number}: {line.strip()}")
    assert found == []
