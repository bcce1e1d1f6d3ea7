"""Message tokens, and what a model request asks and remembers (chaos tests, scripts/soak.py).

Message texts are tokens `<p><thread:03d>m<msg:03d>-<hex6>` (unique; one never occurs inside
another, nor across the boundary of two coalesced texts). The fake model echoes the newest
user message, so a post is matched to the model request that produced it
(`default_reply(body) == post text`); the request's newest user message names the messages
that post answers. `history_problems()`: what is wrong with the history a model request
carries.
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from tests.fakes.openai_server import message_text

TOKEN = re.compile(r"[a-z]\d{3}m\d{3}-[0-9a-f]{6}")
WINDOW_SIZE = 40  # bot.agent.turn.WINDOW_SIZE: longer histories are trimmed from the front


def make_token(prefix: str, thread: int, msg: int) -> str:
    assert len(prefix) == 1 and prefix.isalpha() and prefix.islower()
    return f"{prefix}{thread:03d}m{msg:03d}-{uuid.uuid4().hex[:6]}"


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text or "")


def model_id(process_name: str) -> str:
    return f"model-{process_name}"


# --- model requests --------------------------------------------------------------------
def chat(body: dict[str, Any]) -> list[tuple[str, str]]:
    """(role, text) of the non-system messages of a model request."""
    return [
        (m["role"], message_text(m)) for m in body.get("messages", []) if m.get("role") != "system"
    ]


def last_user_text(body: dict[str, Any]) -> str:
    users = [text for role, text in chat(body) if role == "user"]
    return users[-1] if users else ""


def asked(body: dict[str, Any]) -> list[str]:
    """Tokens of the newest user message: the messages this request answers."""
    return tokens(last_user_text(body))


def asked_ever(body: dict[str, Any]) -> set[str]:
    """Tokens of every user message of a request: the thread's memory and its question."""
    return {t for role, text in chat(body) if role == "user" for t in tokens(text)}


def history_problems(
    body: dict[str, Any], order: list[str], must: set[str], may: Iterable[str] = ()
) -> list[str]:
    """What is wrong with the history of a thread's final model request.

    order: the thread's tokens in acknowledgement order; must: tokens that have to be in the
    history exactly once (answered ones); may: tokens allowed at most once (e.g. lost with a
    Redis restart after being committed). Roles must alternate user/assistant starting and
    ending with a user message, every stored answer must be the echo of the question before
    it, and the tokens must appear in acknowledgement order. A history of WINDOW_SIZE or more
    messages may have lost its oldest turns to the sliding window: then the `must` tokens
    need only form a suffix.
    """
    problems = []
    messages = chat(body)
    roles = [role for role, _ in messages]
    expected = ["user" if i % 2 == 0 else "assistant" for i in range(len(roles))]
    if not roles or roles != expected or roles[-1] != "user":
        problems.append(f"roles do not alternate user/assistant ending with user: {roles}")
    for (r1, question), (r2, answer) in itertools.pairwise(messages):
        if r1 == "user" and r2 == "assistant" and not answer.startswith(f"echo: {question} ["):
            problems.append(f"stored answer {answer[:80]!r} is not the answer to {question!r}")
    seen = [t for role, text in messages if role == "user" for t in tokens(text)]
    allowed = set(must) | set(may)
    counts = defaultdict(int)
    for t in seen:
        counts[t] += 1
    twice = sorted(t for t, n in counts.items() if n > 1)
    if twice:
        problems.append(f"asked twice in the history: {twice}")
    foreign = sorted(t for t in counts if t not in allowed)
    if foreign:
        problems.append(f"in the history but never answered (or not allowed): {foreign}")
    rank = {t: i for i, t in enumerate(order)}
    ranks = [rank.get(t, -1) for t in dict.fromkeys(seen)]
    if ranks != sorted(ranks):
        problems.append(f"history out of order: {list(dict.fromkeys(seen))}")
    needed = [t for t in order if t in must]
    missing = [t for t in needed if t not in counts]
    if missing:
        windowed = len(messages) >= WINDOW_SIZE - 1
        present = [t for t in needed if t in counts]
        is_suffix = present == needed[len(needed) - len(present) :]
        if not (windowed and is_suffix):
            problems.append(f"answered but missing from the history: {missing}")
    return problems
