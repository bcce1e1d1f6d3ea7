"""The worker on its own: a real MemoryState (queues, thread locks, wake-ups) and a small
conversation that records what it is handed; the real dispatcher and pool threads."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from bot.jobs import Job
from bot.store.dedup import dedup_keys
from bot.store.memory_state import MemoryState
from bot.store.thread_lock import Lease
from bot.turns import worker as worker_module
from bot.turns.worker import MAX_FAILURES, Worker
from tests.support.wait import wait_until


def turn(thread_ts: str, ts: str, channel: str = "C1") -> Job:
    return Job(
        kind="turn", team="T1", channel=channel, thread_ts=thread_ts, ts=ts, user="U1", text=ts
    )


class Notes:
    """The replier's `note` (the worker posts the notes of answers never shown)."""

    def note(self, job: Job, text: str) -> None:
        pass


class RecordingConversation:
    """Handles the head job of each call: records it, whether the thread lock was held
    meanwhile, and the attempt's `final_attempt`; `act(job)` runs inside (may raise)."""

    def __init__(self, state: MemoryState, act: Callable[[Job], object] = lambda job: None) -> None:
        self.state = state
        self.act = act
        self.replier = Notes()
        self.handled: list[tuple[str, bool, bool]] = []  # (ts, locked, final_attempt)
        self.given_up: list[tuple[str, int]] = []
        self._lock = threading.Lock()

    def handle(self, jobs: list[Job], lease: Lease, final_attempt: bool = False) -> list[Job]:
        locked = self.state.try_lease(lease.session_id) is None  # nobody else gets it
        with self._lock:
            self.handled.append((jobs[0].ts, locked, final_attempt))
        self.act(jobs[0])
        return jobs[:1]

    def give_up(self, job: Job, attempts: int) -> None:
        with self._lock:
            self.given_up.append((job.ts, attempts))

    def handled_ts(self) -> list[str]:
        with self._lock:
            return [ts for ts, _, _ in self.handled]


@pytest.fixture
def state() -> MemoryState:
    return MemoryState()


@pytest.fixture
def start() -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def make(state: MemoryState, conversation: object, **kw: object) -> Worker:
        worker = Worker(state, conversation, **kw).start()  # type: ignore[arg-type]
        started.append(worker)
        return worker

    yield make
    for worker in started:
        worker.stop(timeout=2)


def queue(state: MemoryState, *jobs: Job) -> None:
    for job in jobs:
        assert state.accept(job, dedup_keys(job, None))


def test_one_threads_messages_are_handled_in_order_holding_its_lock(
    state: MemoryState, start: Callable[..., Worker]
) -> None:
    conversation = RecordingConversation(state)
    jobs = [turn("1.0", f"1.{n}") for n in range(1, 6)]
    queue(state, *jobs)
    start(state, conversation)
    wait_until(lambda: len(conversation.handled) == 5, 5, "five messages handled")
    assert conversation.handled_ts() == [job.ts for job in jobs]
    assert all(locked for _, locked, _ in conversation.handled)
    wait_until(lambda: state.queued(jobs[0].session_id) == [], 2, "the queue emptied")
    wait_until(lambda: state.try_lease(jobs[0].session_id), 2, "the thread lock released")


def test_two_threads_are_handled_at_once(state: MemoryState, start: Callable[..., Worker]) -> None:
    """Thread A's turn waits for thread B's to start: it only can if they run in parallel."""
    b_started = threading.Event()
    a_saw_b: list[bool] = []

    def act(job: Job) -> None:
        if job.thread_ts == "2.0":
            b_started.set()
        else:
            a_saw_b.append(b_started.wait(3))

    conversation = RecordingConversation(state, act)
    start(state, conversation, concurrency=4)
    queue(state, turn("1.0", "1.1"))
    wait_until(lambda: conversation.handled, 2, "thread A's turn to start")
    queue(state, turn("2.0", "2.1"))
    wait_until(lambda: a_saw_b, 5, "thread A's turn to end")
    assert a_saw_b == [True]
    assert sorted(conversation.handled_ts()) == ["1.1", "2.1"]


def test_a_failing_message_is_retried_then_given_up(
    state: MemoryState, start: Callable[..., Worker], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_module, "BACKOFF_SECONDS", 0.01)

    def act(job: Job) -> None:
        if job.ts == "1.1":
            raise RuntimeError("the model broke")

    conversation = RecordingConversation(state, act)
    failing, after = turn("1.0", "1.1"), turn("1.0", "1.2")
    queue(state, failing, after)
    start(state, conversation)
    wait_until(lambda: "1.2" in conversation.handled_ts(), 5, "the next message handled")
    attempts = [entry for entry in conversation.handled if entry[0] == "1.1"]
    assert len(attempts) == MAX_FAILURES
    assert [final for _, _, final in attempts] == [False] * (MAX_FAILURES - 1) + [True]
    assert conversation.given_up == [("1.1", MAX_FAILURES)]
    assert conversation.handled_ts()[-1] == "1.2"  # in order: only after the given-up one


def test_a_message_that_fails_once_is_handled_on_its_retry(
    state: MemoryState, start: Callable[..., Worker], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_module, "BACKOFF_SECONDS", 0.01)
    failures = [RuntimeError("once")]

    def act(job: Job) -> None:
        if failures:
            raise failures.pop()

    conversation = RecordingConversation(state, act)
    job = turn("1.0", "1.1")
    queue(state, job)
    start(state, conversation)
    wait_until(lambda: len(conversation.handled) == 2, 5, "the retry")
    wait_until(lambda: state.queued(job.session_id) == [], 2, "the queue emptied")
    assert conversation.handled_ts() == ["1.1", "1.1"] and conversation.given_up == []


def test_the_sweep_hook_is_called_on_every_sweep(
    state: MemoryState, start: Callable[..., Worker], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_module, "SWEEP_SECONDS", 0.05)
    sweeps: list[float] = []
    start(state, RecordingConversation(state), on_sweep=lambda: sweeps.append(1.0))
    wait_until(lambda: len(sweeps) >= 2, 5, "a second sweep")


def test_the_sweep_finds_a_thread_nobody_woke_the_worker_for(
    state: MemoryState, start: Callable[..., Worker]
) -> None:
    """A queued thread whose wake-up went to a worker that died: the sweep's orphans."""
    conversation = RecordingConversation(state)
    job = turn("1.0", "1.1")
    queue(state, job)
    while state.wait_for_work(timeout=0.01):  # the wake-up is consumed elsewhere
        pass
    start(state, conversation)
    wait_until(lambda: conversation.handled_ts() == ["1.1"], 5, "the orphan handled")


def test_a_decision_goes_ahead_of_the_messages_waiting_for_it() -> None:
    waiting, later = turn("1.0", "2.0"), turn("1.0", "3.0")
    decision = Job("resume", "T1", "C1", "1.0", "4.0", "U1", text="approve", approval="9.1")
    assert worker_module.decisions_first([waiting, later, decision]) == [decision, waiting, later]
    assert worker_module.decisions_first([waiting, later]) == [waiting, later]
    reset = Job("reset", "T1", "C1", "1.0", "reset-1", "U1")
    assert worker_module.decisions_first([reset, decision]) == [reset, decision]  # in order
