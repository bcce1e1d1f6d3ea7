"""The end of scripts/soak.py: the figures, what went wrong, and the verdict line."""

from __future__ import annotations

from collections import Counter

from scripts.soak_parts import Chaos
from scripts.soak_redis import RedisChaos
from tests.fakes.slack_view import MessageView
from tests.support.chaos_accounting import Accounting
from tests.support.chaos_courier import Delivery


def _attempts(deliveries: list[Delivery], mentions: dict[str, bool]) -> str:
    """Why Slack gave up on these: their kind and the outcomes of their attempts."""
    how = Counter(
        f"{'mention' if d.text in mentions else 'reply'}: "
        + " ".join(a.outcome for a in d.attempts)
        for d in deliveries
    )
    return ", ".join(f"{n}x {what}" for what, n in how.most_common())


def _stale(message: MessageView) -> str:
    state = ", ".join(
        name
        for name, on in (
            ("streaming", message.streaming),
            ("Stop button", message.has_stop),
            ("empty", not message.text.strip()),
        )
        if on
    )
    return f"{message.ts} in {message.thread_ts} ({state}): {message.text[:80]!r}"


def report(
    result: Accounting,
    chaos: Chaos,
    redis_chaos: RedisChaos,
    wall: float,
    overlaps: int,
    unanswered_markers: list[str],
    deliveries: list[Delivery],
    causes: Counter[str],
    mentions: dict[str, bool],
    stale: list[MessageView],
) -> bool:
    """Print the figures and every failure; whether the run passed."""
    lat = result.latencies
    lines = [
        f"messages sent        {result.sent}"
        + (f" ({again} of them mentions again)" if (again := sum(mentions.values())) else ""),
        f"acked                {result.acked}",
        f"answered             {result.answered}",
        f"answered twice       {len(result.doubled)}",
        f"lost                 {len(result.lost)}"
        + (f" ({'; '.join(f'{why} {n}' for why, n in causes.most_common())})" if causes else ""),
        f"unanswered           {len(result.unanswered)}"
        + (
            f" ({how})"
            if (
                how := _attempts(
                    [d for d in deliveries if d.text in set(result.unanswered)], mentions
                )
            )
            else ""
        ),
        f"stale bot messages   {len(stale)}",
        f"threads w/ invalid history {len(result.invalid_history)}",
        f"answer latency p50   {Accounting.pct(lat, 0.5):.2f} s",
        f"answer latency p99   {Accounting.pct(lat, 0.99):.2f} s",
        f"kills (SIGKILL)      {sum(chaos.kills.values())} "
        f"(process group {chaos.kills['group']}, gunicorn worker only {chaos.kills['worker']})",
        f"SIGTERMs             {len(chaos.sigterms)}"
        + (
            f" (exit codes {[c for _, c, _ in chaos.sigterms]}, slowest "
            f"{max(t for _, _, t in chaos.sigterms):.1f} s)"
            if chaos.sigterms
            else ""
        ),
        redis_chaos.report(),
        f"wall time            {wall:.1f} s",
        f"(also: unacked {result.sent - result.acked}, answered though unacked "
        f"{result.unacked_answered}, threads out of order {len(result.out_of_order)}, "
        f"overlapping turns {overlaps}, markers unanswered {len(unanswered_markers)}, "
        f"chaos errors {len(chaos.errors) + len(redis_chaos.errors)})",
    ]
    print("\n".join(lines), flush=True)
    for title, value in (
        ("answered twice", result.doubled),
        ("lost", result.lost),
        ("unanswered", result.unanswered),
        ("stale bot messages", [_stale(m) for m in stale]),
        ("out of order", result.out_of_order),
        ("invalid history", result.invalid_history),
        ("markers unanswered", unanswered_markers),
        ("chaos errors", chaos.errors + redis_chaos.errors),
    ):
        if value:
            print(f"  {title}: {value}", flush=True)
    return not (
        result.doubled
        or result.lost
        or result.unanswered
        or result.invalid_history
        or result.out_of_order
        or overlaps
        or unanswered_markers
        or redis_chaos.errors
        or stale
    )


def verdict(result: Accounting, stale: list[MessageView]) -> str:
    """The last line: `lost 0  unanswered 0  doubled 0  invalid 0  stale 0`."""
    return f"{result.figures()}  stale {len(stale)}"
