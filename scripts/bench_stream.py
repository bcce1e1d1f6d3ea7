"""Benchmark: how soon a streamed answer becomes visible, and what it costs in Slack calls.

    uv run python scripts/bench_stream.py [--answers 30] [--chars 600]

Runs the real bot in-process (embedded state, file sessions) against the fake Slack Web
API. The scripted model streams `--chars` characters in 6-character deltas, 20 ms apart
(a fast provider). For each answer it prints the lag from the model's first token to the
first text Slack receives (chat.startStream; with STREAMING=off, the chat.postMessage), and
the Slack API calls per answer, with streaming on and off, measured in one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from tempfile import TemporaryDirectory
from typing import Any

import _paths  # noqa: F401 - the repository root on sys.path (scripts/_paths.py)

from tests.fakes.model import ScriptedModel
from tests.fakes.slack_api import FakeSlack
from tests.support.harness import Bot, base_env, mention_event, next_ts

ANSWER_CALLS = (
    "chat.startStream",
    "chat.appendStream",
    "chat.stopStream",
    "chat.update",
    "chat.postMessage",
    "assistant.threads.setStatus",
    "reactions.add",
    "reactions.remove",
)


class TimedModel(ScriptedModel):
    """Records the wall time of each call's first text delta."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.first_tokens: list[float] = []

    async def stream(self, *args: Any, **kwargs: Any):  # type: ignore[override]
        first = True
        async for event in super().stream(*args, **kwargs):
            if first and "contentBlockDelta" in event:
                self.first_tokens.append(time.time())
                first = False
            yield event


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(
    slack: FakeSlack, directory: str, streaming: str, answers: int, chars: int
) -> tuple[list[float], float]:
    text = ("stream " * (chars // 7 + 1))[:chars]
    model = TimedModel(replies=[text] * answers, token_chars=6, token_delay=0.02)
    env = base_env(slack.base_url, SESSION_DIR=directory, LOG_LEVEL="WARNING", STREAMING=streaming)
    first_visible = "chat.startStream" if streaming == "on" else "chat.postMessage"
    lags = []
    with Bot(env, model) as bot:
        for _ in range(answers):  # one at a time: the lag of one answer, not of a queue
            before = len(slack.calls(first_visible))
            bot.event(mention_event("go", "C1", next_ts()))
            done = "chat.stopStream" if streaming == "on" else "chat.postMessage"
            slack.wait_for(done, count=before + 1, timeout=60)
            visible = slack.calls(first_visible)[before].at
            lags.append((visible - model.first_tokens[-1]) * 1000)
    calls = sum(len(slack.calls(m)) for m in ANSWER_CALLS) / answers
    slack.reset()
    return lags, calls


def main() -> None:
    os.environ.setdefault("OPENAI_API_KEY", "bench")  # the scripted model replaces it
    parser = argparse.ArgumentParser()
    parser.add_argument("--answers", type=int, default=30)
    parser.add_argument("--chars", type=int, default=600)
    args = parser.parse_args()
    with FakeSlack(rate_limits=False) as slack, TemporaryDirectory() as tmp:
        print(
            f"== {args.answers} answers of {args.chars} chars, 6-char deltas 20 ms apart "
            f"(model time ~{args.chars / 6 * 0.02:.1f} s each)"
        )
        results = {
            mode: run(slack, f"{tmp}/{mode}", mode, args.answers, args.chars)
            for mode in ("on", "off")
        }
        for mode, (lags, calls) in results.items():
            print(
                f"STREAMING={mode:<3}: first token -> first visible text p50 "
                f"{statistics.median(lags):7.1f} ms  p95 {pct(lags, 0.95):7.1f} ms   "
                f"Slack calls per answer {calls:4.1f}"
            )
        on, off = (statistics.median(results[m][0]) for m in ("on", "off"))
        print(
            f"streaming shows text {off / max(on, 0.1):.1f}x sooner (p50); goal: p50 and "
            f"p95 under 300 ms with streaming on"
        )


if __name__ == "__main__":
    main()
