"""Waiting in chaos tests and scripts/soak.py: for answers, and for threads of traffic."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

from tests.fakes.openai_server import FakeOpenAI, Request, default_reply
from tests.fakes.slack_api import Call, FakeSlack
from tests.support.chaos_tokens import asked
from tests.support.wait import wait_until


def answered_tokens(posts: list[Call], requests: list[Request]) -> set[str]:
    """Tokens covered by some post (matched to the model request that produced it)."""
    by_reply = {default_reply(r.body): r.body for r in requests}
    return {t for p in posts for t in asked(by_reply.get(p.params.get("text", ""), {}))}


@contextlib.contextmanager
def background(target: Callable[[], None], name: str) -> Any:
    """Run target in a daemon thread; re-raise its exception when the block ends."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target()
        except BaseException as exc:  # surfaced on exit
            errors.append(exc)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        thread.join(timeout=120)
    if errors:
        raise errors[0]


def run_parallel(targets: list[Callable[[], None]], timeout: float) -> None:
    """Run each target in its own thread, wait for all, re-raise the first failure."""
    errors: list[BaseException] = []

    def run(target: Callable[[], None]) -> None:
        try:
            target()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(t,), daemon=True) for t in targets]
    for w in workers:
        w.start()
    deadline = time.monotonic() + timeout
    for w in workers:
        w.join(timeout=max(0.0, deadline - time.monotonic()))
    if errors:
        raise errors[0]
    if any(w.is_alive() for w in workers):
        raise AssertionError(f"still running after {timeout}s")


def wait_answered(
    fake_slack: FakeSlack, fake_openai: FakeOpenAI, texts: list[str], timeout: float, what: str
) -> None:
    def done() -> bool:
        answered = answered_tokens(
            fake_slack.calls("chat.postMessage", False), list(fake_openai.requests)
        )
        return all(t in answered for t in texts)

    wait_until(done, timeout, what, interval=0.1)
