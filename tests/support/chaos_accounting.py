"""Who answered what: the accounting of chaos tests and scripts/soak.py.

`account()`: a message is answered once when exactly one post covers it (the post matched to
the model request that produced it, whose newest user message names the messages it
answers: tests/support/chaos_tokens.py); lost when the bot acked it (2xx) and no post
covers it; unanswered when it was never acked (Slack gave up retrying, and nobody was told)
and no post covers it. `overlapping()`: two turns of one thread at once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.openai_server import Request, default_reply
from tests.fakes.slack_api import Call
from tests.support.chaos_courier import Delivery
from tests.support.chaos_tokens import asked, chat, history_problems, tokens


# --- accounting ------------------------------------------------------------------------
@dataclass
class Accounting:
    sent: int = 0
    acked: int = 0
    answered: int = 0
    doubled: dict[str, int] = field(default_factory=dict)  # token -> posts covering it
    lost: list[str] = field(default_factory=list)  # acked, never answered
    unanswered: list[str] = field(default_factory=list)  # never acked (Slack gave up) nor answered
    unacked_answered: int = 0
    out_of_order: dict[str, list[str]] = field(default_factory=dict)  # thread -> tokens
    other_posts: dict[str, list[str]] = field(default_factory=dict)  # thread -> post texts
    invalid_history: dict[str, list[str]] = field(default_factory=dict)  # thread -> problems
    latencies: list[float] = field(default_factory=list)  # seconds, send -> answer post
    answer_of: dict[str, int] = field(default_factory=dict)  # token -> index of its post
    final_requests: dict[str, dict[str, Any]] = field(default_factory=dict)

    @staticmethod
    def pct(values: list[float], q: float) -> float:
        if not values:
            return float("nan")
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    @property
    def ok(self) -> bool:
        return not (
            self.doubled
            or self.lost
            or self.unanswered
            or self.out_of_order
            or self.invalid_history
        )

    def figures(self) -> str:
        """The one-line verdict: `lost 0  unanswered 0  doubled 0  invalid 0`."""
        return (
            f"lost {len(self.lost)}  unanswered {len(self.unanswered)}  "
            f"doubled {len(self.doubled)}  invalid {len(self.invalid_history)}"
        )

    def summary(self) -> str:
        lat = self.latencies
        return (
            f"sent={self.sent} acked={self.acked} answered={self.answered} "
            f"doubled={len(self.doubled)} lost={len(self.lost)} "
            f"unanswered={len(self.unanswered)} "
            f"out_of_order={len(self.out_of_order)} invalid_history={len(self.invalid_history)}"
            f" p50={self.pct(lat, 0.5):.2f}s p99={self.pct(lat, 0.99):.2f}s"
            + (f"\n doubled: {self.doubled}" if self.doubled else "")
            + (f"\n lost: {self.lost}" if self.lost else "")
            + (f"\n unanswered: {self.unanswered}" if self.unanswered else "")
            + (f"\n out of order: {self.out_of_order}" if self.out_of_order else "")
            + (f"\n invalid history: {self.invalid_history}" if self.invalid_history else "")
        )


def account(
    threads: dict[str, list[Delivery]],
    posts: list[Call],
    requests: list[Request],
    channel: str,
    *,
    excused: Callable[[Delivery], bool] = lambda d: False,
    may_be_in_history: Callable[[Delivery], bool] = lambda d: False,
    no_history: Callable[[Delivery], bool] = lambda d: False,
    count: Callable[[Delivery], bool] = lambda d: True,
) -> Accounting:
    """Who answered what, per thread, from the recorded posts and model requests.

    excused(d): a message allowed to go unanswered (not counted as lost, or as unanswered
    if never acked), e.g. lost with a Redis that keeps nothing on restart.
    may_be_in_history(d): allowed in the history without an answer. no_history(d): must
    not be in the history (e.g. a model failure).
    count(d): whether d counts in the figures (markers need not); every delivery still
    counts for order and history.
    """
    result = Accounting()
    by_reply: dict[str, dict[str, Any]] = {}
    for req in requests:
        by_reply.setdefault(default_reply(req.body), req.body)
    thread_of = {d.text: d.thread for ds in threads.values() for d in ds}
    requests_of: dict[str, list[Request]] = defaultdict(list)
    for req in sorted(requests, key=lambda r: r.started):
        owners = {thread_of.get(t) for t in asked(req.body)} - {None}
        for owner in owners:
            requests_of[owner].append(req)  # type: ignore[index]

    for thread, deliveries in threads.items():
        mine = {d.text: d for d in deliveries}
        thread_posts = [
            c
            for c in posts
            if c.params.get("channel") == channel and c.params.get("thread_ts") == thread
        ]
        covering: dict[str, list[int]] = defaultdict(list)
        sequence: list[str] = []  # tokens in the order their answers were posted
        for index, post in enumerate(thread_posts):
            body = by_reply.get(post.params.get("text", ""))
            covered = [t for t in asked(body) if t in mine] if body else []
            if not covered:
                result.other_posts.setdefault(thread, []).append(post.params.get("text", ""))
            for t in covered:
                covering[t].append(index)
                if len(covering[t]) == 1:
                    sequence.append(t)
                    result.answer_of[t] = index
                    if count(mine[t]):
                        result.latencies.append(post.at - mine[t].sent_at)
        for d in deliveries:
            if not count(d):
                continue
            result.sent += 1
            result.acked += d.acked
            n = len(covering.get(d.text, []))
            if n:
                result.answered += 1
                result.unacked_answered += not d.acked
            if n > 1:
                result.doubled[d.text] = n
            if n == 0 and not excused(d):
                (result.lost if d.acked else result.unanswered).append(d.text)
        expected = [d.text for d in deliveries if d.text in covering]
        if sequence != expected:
            result.out_of_order[thread] = sequence
        # the thread's final model request whose answer was posted carries its memory
        posted_texts = {p.params.get("text", "") for p in thread_posts}
        final = [r for r in requests_of.get(thread, []) if default_reply(r.body) in posted_texts]
        if final:
            body = final[-1].body
            result.final_requests[thread] = body
            must = {t for t in covering if not no_history(mine[t])}
            may = {d.text for d in deliveries if may_be_in_history(d)}
            problems = history_problems(body, [d.text for d in deliveries], must, may - must)
            forbidden = [
                t
                for role, text in chat(body)
                if role == "user"
                for t in tokens(text)
                if t in mine and no_history(mine[t])
            ]
            if forbidden:
                problems.append(f"in the history although it must not be: {forbidden}")
            if problems:
                result.invalid_history[thread] = problems
        elif any(d.acked for d in deliveries):
            result.invalid_history[thread] = ["no posted model answer in this thread"]
    return result


def thread_key(body: dict[str, Any]) -> str:
    """The thread a model request belongs to (token prefix + thread number), for overlaps."""
    found = asked(body) or [t for _, text in chat(body) for t in tokens(text)]
    return found[0][:4] if found else ""


def overlapping(
    requests: list[Request], key: Callable[[dict[str, Any]], str]
) -> list[tuple[Request, Request]]:
    """Like FakeOpenAI.overlaps, in O(n log n): pairs of requests with the same key whose
    [started, finished] intervals overlap (each request paired with the latest-ending one
    before it)."""
    groups: dict[str, list[Request]] = defaultdict(list)
    for req in requests:
        if req.finished:
            groups[key(req.body)].append(req)
    found = []
    for reqs in groups.values():
        reqs.sort(key=lambda r: r.started)
        latest: Request | None = None
        for req in reqs:
            if latest is not None and req.started < latest.finished:
                found.append((latest, req))
            if latest is None or req.finished > latest.finished:
                latest = req
    return found
