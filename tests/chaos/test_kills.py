"""Chaos by process kills: SIGKILL again and again, SIGTERM mid-turn, a kill at each step
of a turn and between the chunks of a long answer."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

from bot.answer.slack_format import fallback_text, split_parts
from tests.fakes.openai_server import FakeOpenAI, default_reply
from tests.fakes.s3_server import FaultyProxy
from tests.fakes.slack_api import FakeSlack
from tests.support.bot_process import BotProcess
from tests.support.chaos_accounting import thread_key
from tests.support.chaos_checks import (
    CHANNEL,
    accounting,
    answered_first,
    event_for,
    markers_answered,
    no_session_processing,
    requests_asking,
    snapshot_puts,
    thread_posts,
    turn_of,
)
from tests.support.chaos_cluster import MakeCluster
from tests.support.chaos_courier import Courier, Ledger
from tests.support.chaos_tokens import asked, make_token, model_id
from tests.support.chaos_waits import background, run_parallel, wait_answered
from tests.support.harness import message_event, next_ts
from tests.support.wait import wait_until

GRACEFUL_TIMEOUT = 30  # bot/serve/gunicorn_conf.py


# --- 1. SIGKILL chaos ------------------------------------------------------------------
def test_sigkill_chaos_on_three_workers_answers_every_message_once_in_order(
    make_cluster: MakeCluster, fake_slack: FakeSlack, fake_openai: FakeOpenAI, rng: random.Random
) -> None:
    """4 threads x 7 messages spread over 3 processes while a process (or only its gunicorn
    worker) is SIGKILLed again and again, mostly while it runs a turn or just after its
    model answered (commit / post), and brought back."""
    threads, per_thread, min_kills = 4, 7, 5
    cluster = make_cluster(3)
    fake_openai.delay = 0.4
    courier = Courier(cluster, rng, timeout=5.0, give_up_after=60)
    ledger = Ledger()
    roots = [next_ts() for _ in range(threads)]
    users_done = threading.Event()
    kills: list[str] = []

    def user(index: int) -> None:
        for m in range(per_thread):
            text = make_token("k", index, m)
            delivery = courier.deliver(event_for(text, roots[index], m == 0), roots[index], text)
            assert delivery.acked, delivery  # Slack would have given up: a test failure
            ledger.add(delivery)
            time.sleep(rng.uniform(0.2, 1.2))

    def victim() -> tuple[int, str]:
        """A slot to kill: mostly the process running a turn, sometimes any."""
        style = rng.choice(["mid-turn", "mid-turn", "after-model", "random"])
        if style != "random":
            running = [r for r in list(fake_openai.requests) if not r.finished]
            target = cluster.by_model(running[0].body.get("model", "")) if running else None
            if target in cluster.slots:
                if style == "after-model":  # commit / post / finish window
                    wait_until(lambda: running[0].finished, 5, "the model answer")
                    time.sleep(rng.uniform(0, 0.05))
                else:
                    time.sleep(rng.uniform(0, 0.3))
                return cluster.slots.index(target), style
        return rng.randrange(cluster.size), "random"

    def chaos() -> None:
        while not users_done.is_set() or len(kills) < min_kills:
            time.sleep(rng.uniform(0.3, 1.0))
            slot, style = victim()
            mode = rng.choice(["group", "worker"])
            name = cluster.slots[slot].name
            cluster.kill(slot, mode)  # returns when the slot serves again
            kills.append(f"{name}:{mode}:{style}")

    with background(chaos, "chaos"):
        try:
            run_parallel([lambda i=i: user(i) for i in range(threads)], timeout=90)
        finally:
            users_done.set()

    # A last message per thread and one more kill mid-turn, then no traffic at all: what
    # the dead worker held must come back through the sweep alone.
    fake_openai.delay = 1.5
    for index, root in enumerate(roots):
        text = make_token("k", index, per_thread)
        delivery = ledger.add(courier.deliver(event_for(text, root, False), root, text))
        assert delivery.acked, delivery
    last = [d.text for d in ledger.deliveries[-threads:]]
    running = wait_until(
        lambda: [
            r
            for r in list(fake_openai.requests)
            if not r.finished and set(asked(r.body)) & set(last)
        ],
        10,
        "a last message's turn",
    )
    target = cluster.by_model(running[0].body["model"])
    if target in cluster.slots:
        cluster.kill(cluster.slots.index(target), "group")
        kills.append(f"{target.name}:group:final")
    fake_openai.delay = 0.0
    everything = [d.text for d in ledger.deliveries]
    wait_answered(fake_slack, fake_openai, everything, 30, "every message answered")

    # then prove nothing is answered twice
    markers_answered(courier, ledger, "k", fake_slack, fake_openai, 45)
    result = accounting(ledger, fake_slack, fake_openai)
    print("kills:", kills, "\n", result.summary())
    assert result.ok, result.summary()
    assert result.answered == result.sent == threads * (per_thread + 2)
    assert kills[-1].endswith(":final"), "the final kill missed: its turn had ended"
    assert not any(result.other_posts.values()), result.other_posts
    assert fake_openai.overlaps(thread_key) == [], "two turns of one thread overlapped"
    assert len(kills) >= min_kills
    no_session_processing(fake_slack, roots)


# --- 2. SIGTERM mid-turn -----------------------------------------------------------------
def test_sigterm_mid_turn_finishes_the_turn_and_hands_the_queue_to_another_worker(
    make_cluster: MakeCluster, fake_slack: FakeSlack, fake_openai: FakeOpenAI, rng: random.Random
) -> None:
    cluster = make_cluster(2)
    courier = Courier(cluster, rng, give_up_after=20)
    ledger = Ledger()
    root, first = next_ts(), make_token("g", 0, 0)
    fake_openai.delay = 2.5  # a slow model: the SIGTERM lands mid-turn
    ledger.add(courier.deliver(event_for(first, root, True), root, first))
    request, victim = turn_of(cluster, fake_openai, first, 10)
    slot = cluster.slots.index(victim)
    survivor = cluster.slots[1 - slot]

    queued = [make_token("g", 0, i) for i in (1, 2)]  # queued behind the running turn
    for text in queued:
        delivery = courier.deliver(event_for(text, root, False), root, text, first=victim)
        assert delivery.acked and delivery.attempts[0].process == victim.name, delivery
        ledger.add(delivery)
    assert not request.finished, "the turn ended before the SIGTERM: make the model slower"
    sigterm_at = time.monotonic()
    code, took = cluster.terminate(slot, timeout=GRACEFUL_TIMEOUT + 5)
    print(f"{victim.name} exited with {code} {took:.1f}s after SIGTERM")
    assert code == 0, f"exit code {code} after SIGTERM (None = still running)"
    assert took < GRACEFUL_TIMEOUT
    assert request.finished, "exited before its model call returned"
    assert "still running a turn" not in victim.log_text()

    fake_openai.delay = 0.0
    # nothing else is sent: the other worker finds the handed-back thread by its sweep
    wait_answered(fake_slack, fake_openai, queued, 20, "the queued messages answered")
    markers_answered(courier, ledger, "g", fake_slack, fake_openai, 20)
    result = accounting(ledger, fake_slack, fake_openai)
    assert result.ok, result.summary()
    assert result.answered == result.sent == 4
    # the in-flight turn was finished by the stopping worker: one model call, no redo
    assert [r.body["model"] for r in requests_asking(fake_openai, first)] == [model_id(victim.name)]
    # the queued messages were handed back and answered by the other worker
    for text in queued:
        calls = requests_asking(fake_openai, text)
        assert calls and all(r.body["model"] == model_id(survivor.name) for r in calls), text
        assert all(r.started > sigterm_at for r in calls)


# --- 6. kills at each step of a turn's commit and post --------------------------------


def test_kills_at_each_step_of_a_turn_recompute_or_replay_and_answer_once(
    make_cluster: MakeCluster, s3_proxy: FaultyProxy, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    """The process running a turn is SIGKILLed
    1. during the model call, before anything was saved: the turn is recomputed;
    2. while the turn's snapshot PUT is in flight (held by the proxy, it lands after the
       kill): the stored answer is posted, without a model call;
    3. while the answer is being posted (Slack takes it, the worker never hears back, the
       message stays queued): the replay finds it in Slack (message metadata) and neither
       posts it again nor calls the model."""
    cluster = make_cluster(2, s3_endpoint=s3_proxy.url)
    courier = Courier(cluster, give_up_after=20)
    ledger = Ledger()
    root, _ = answered_first(courier, ledger, "c", fake_slack, fake_openai)

    def ask(text: str) -> BotProcess:
        """Send `text`; the process whose model call answers it."""
        ledger.add(
            courier.deliver(message_event(text, CHANNEL, next_ts(), thread_ts=root), root, text)
        )
        return turn_of(cluster, fake_openai, text, 15)[1]

    fake_openai.delay = 1.0
    text = make_token("c", 0, 1)
    cluster.kill(cluster.slots.index(ask(text)), "group")  # mid model call
    wait_answered(fake_slack, fake_openai, [text], 20, "step 1's answer")
    assert len(requests_asking(fake_openai, text)) == 2  # recomputed

    fake_openai.delay = 0.3
    text, written = make_token("c", 0, 2), snapshot_puts(s3_proxy)
    victim = ask(text)
    s3_proxy.set_delay(0.3)  # the commit's PUT, held 0.3 s
    wait_until(lambda: snapshot_puts(s3_proxy) > written, 15, "the snapshot PUT")
    cluster.kill(cluster.slots.index(victim), "group", then=lambda: s3_proxy.set_delay(0))
    wait_answered(fake_slack, fake_openai, [text], 20, "step 2's answer")
    assert len(requests_asking(fake_openai, text)) == 1  # the stored answer, posted

    third, entered, gate = make_token("c", 0, 3), threading.Event(), threading.Event()

    def slow_post(call: Any) -> dict[str, Any]:
        if third in call.params.get("text", "") and not entered.is_set():
            entered.set()
            gate.wait(15)  # Slack takes the post; its answer never reaches the worker
        return fake_slack._default_response(call)

    fake_slack.set_response("chat.postMessage", slow_post)
    victim = ask(third)
    wait_until(entered.is_set, 15, "the answer's chat.postMessage")
    cluster.kill(cluster.slots.index(victim), "group", then=gate.set)
    fake_openai.delay = 0.0

    # answered after the replayed turn
    markers_answered(courier, ledger, "c", fake_slack, fake_openai, 30)
    assert len(requests_asking(fake_openai, third)) == 1  # replayed, not recomputed
    result = accounting(ledger, fake_slack, fake_openai)
    assert result.ok, result.summary()
    assert result.answered == result.sent == 5
    no_session_processing(fake_slack, [root])


# --- 8. a long answer cut by a kill between its chunks ----------------------------------
def test_kill_between_the_chunks_of_a_long_answer_posts_every_chunk_once(
    make_cluster: MakeCluster, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    cluster = make_cluster(2)
    courier = Courier(cluster, give_up_after=20)
    root, _ = answered_first(courier, Ledger(), "l", fake_slack, fake_openai)
    long = make_token("l", 0, 1)

    filler = "\n".join(f"line {i:04d} " + "x" * 60 for i in range(380))  # ~25,000 chars

    def reply(body: dict[str, Any]) -> str:
        text = default_reply(body)
        return f"{text}\n{filler}" if long in asked(body) else text

    fake_openai.reply_fn = reply
    expected = [fallback_text(part) for part in split_parts(f"echo: {long} [3 msgs]\n{filler}")]
    assert len(expected) == 3
    entered, gate = threading.Event(), threading.Event()

    def slow_second_chunk(call: Any) -> dict[str, Any]:
        if call.params.get("text") == expected[1] and not entered.is_set():
            entered.set()
            gate.wait(15)  # Slack takes chunk 2; the worker dies before hearing back
        return fake_slack._default_response(call)

    fake_slack.set_response("chat.postMessage", slow_second_chunk)
    courier.deliver(event_for(long, root, False), root, long)
    wait_until(entered.is_set, 15, "the second chunk's chat.postMessage")
    _, victim = turn_of(cluster, fake_openai, long, 0)
    cluster.kill(cluster.slots.index(victim), "group", then=gate.set)

    marker = make_token("l", 0, 999)  # answered after the replayed turn
    courier.deliver(event_for(marker, root, False), root, marker)
    wait_answered(fake_slack, fake_openai, [marker], 20, "the marker answered")
    posted = thread_posts(fake_slack, root)
    assert posted[1:-1] == expected, [p[:40] for p in posted]
