"""Metrics of the real processes: gunicorn with two workers counted together whichever
answers the scrape (multiprocess mode), and METRICS_PORT in Socket Mode and turns processes."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.ports import free_port
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import event_callback
from tests.support.bot_process import BotProcess, running_web
from tests.support.harness import base_env, mention_event, message_event, now_ts
from tests.support.metrics import TOKEN, Samples, metrics_of, scrape, value
from tests.support.processes import start_turns
from tests.support.socket_mode import bot_process, in_thread
from tests.support.wait import wait_until


def per_process(directory: Path, name: str, **labels: str) -> dict[str, float]:
    """`name` as each process wrote it to the multiprocess directory (pid -> value)."""
    found = {}
    for path in directory.glob("counter_*.db"):
        pid = path.stem.split("_")[-1]
        alone = directory.parent / f"alone-{pid}"
        alone.mkdir(exist_ok=True)
        shutil.copy(path, alone / path.name)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(alone))
        found[pid] = registry.get_sample_value(name, labels) or 0.0
    return found


@pytest.fixture
def web(
    web_env: Callable[..., dict[str, str]], fake_openai: FakeOpenAI, tmp_path: Path
) -> Iterator[tuple[BotProcess, Path]]:
    directory = tmp_path / "prometheus"
    env = web_env(
        WEB_CONCURRENCY="2",
        METRICS_TOKEN=TOKEN,
        PROMETHEUS_MULTIPROC_DIR=str(directory),
        LOG_LEVEL="INFO",
    )
    with running_web("metrics", env, tmp_path) as bot:
        try:
            yield bot, directory
        finally:
            if fake_openai.block_until is not None:
                fake_openai.block_until.set()  # before the stop: a turn waits on it


def test_gunicorn_workers_are_counted_together_whichever_answers_the_scrape(
    web: tuple[BotProcess, Path], fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    bot, directory = web
    url = f"{bot.base}/metrics"
    assert scrape(url, token=None)[0] == 401 and scrape(url, token="wrong")[0] == 401
    before = metrics_of(url)
    fake_openai.block_until = threading.Event()
    root = bot.send(mention_event("first", "C1", now_ts()))["event"]
    wait_until(lambda: fake_openai.requests, 15, "the first model request")
    bot.send(message_event("queued behind it", "C1", now_ts(), thread_ts=root["ts"]))
    time.sleep(0.3)
    busy = metrics_of(url)
    assert value(busy, "tsb_queued_messages") == 2  # the one being answered, and the next
    assert value(busy, "tsb_oldest_queued_message_age_seconds") > 0.2
    fake_openai.block_until.set()
    roots = [bot.send(mention_event(f"more {i}", "C1", now_ts()))["event"] for i in range(4)]
    for thread in [root, *roots]:
        fake_slack.wait_for("chat.postMessage", in_thread(thread["ts"]), timeout=20)
    fake_slack.wait_for("chat.postMessage", in_thread(root["ts"]), count=2, timeout=20)
    time.sleep(0.5)  # the last turns finish (dequeue) after posting

    scrapes = [metrics_of(url) for _ in range(6)]  # each answered by either worker

    def moved(name: str, **labels: str) -> set[float]:
        return {value(s, name, **labels) - value(before, name, **labels) for s in scrapes}

    assert moved("tsb_turns_total", persona="default", outcome="answered") == {6}
    assert moved("tsb_lock_wait_seconds_count") == {6}
    assert moved("tsb_turn_seconds_count", persona="default") == {6}
    assert moved("tsb_messages_accepted_total", kind="turn") == {6}
    assert min(moved("tsb_model_tokens_total", persona="default", type="input")) > 6
    assert min(moved("tsb_model_tokens_total", persona="default", type="output")) > 6
    assert min(moved("tsb_slack_api_calls_total", method="chat.postMessage")) >= 6
    assert min(moved("tsb_s3_requests_total", operation="PutObject", status="200")) >= 12
    assert {value(s, "tsb_queued_messages") for s in scrapes} == {0}
    assert {value(s, "tsb_oldest_queued_message_age_seconds") for s in scrapes} == {0}
    answered = per_process(directory, "tsb_turns_total", persona="default", outcome="answered")
    assert sum(answered.values()) == 6
    assert len([pid for pid, turns in answered.items() if turns]) == 2, answered  # both


def test_socket_mode_serves_metrics_on_its_port(
    tmp_path: Path, fake_slack: FakeSlack, fake_openai: FakeOpenAI, socket_server, monkeypatch
) -> None:  # noqa: ANN001, F811
    port = free_port()
    monkeypatch.setenv("METRICS_TOKEN", TOKEN)
    monkeypatch.setenv("METRICS_PORT", str(port))
    url = f"http://127.0.0.1:{port}/metrics"
    with bot_process(tmp_path, fake_slack, fake_openai, socket_server) as bot:
        mention = mention_event("hello metrics", "C1", now_ts())
        socket_server.wait_ack(socket_server.push_event(event_callback(mention)))
        fake_slack.wait_for("chat.postMessage", in_thread(mention["ts"], "echo: "), timeout=15)
        assert scrape(url, token=None)[0] == 401 and scrape(url, token="wrong")[0] == 401
        samples = wait_until(
            lambda: (
                (s := metrics_of(url))
                and value(s, "tsb_turns_total", persona="default", outcome="answered") == 1
                and value(s, "tsb_queued_messages") == 0  # dropped from the queue after the post
                and s
            ),
            10,
            "the turn counted and its message off the queue",
        )
        assert value(samples, "tsb_slack_api_calls_total", method="apps.connections.open") >= 1
        assert value(samples, "tsb_slack_api_calls_total", method="chat.postMessage") >= 1
        assert "process_cpu_seconds_total" in {name for name, _ in samples}  # one process
        assert bot.terminate() == 0


def test_the_turns_process_serves_metrics_on_its_port(
    redis_url: str, fake_slack: FakeSlack, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **os.environ,
        **base_env(fake_slack.base_url),
        "REDIS_URL": redis_url,
        "SESSION_DIR": str(tmp_path / "sessions"),
        "OPENAI_BASE_URL": fake_openai.base_url,
        "METRICS_TOKEN": TOKEN,
        "METRICS_PORT": str(port),
        "SESSION_BUCKET": "",
        "PERSONAS_FILE": "",
        "SLACK_APP_TOKEN": "",
    }
    proc = start_turns(env, tmp_path)
    log = tmp_path / "turns.log"
    url = f"http://127.0.0.1:{port}/metrics"
    try:

        def served() -> Samples | None:
            assert proc.poll() is None, log.read_text()
            try:
                return metrics_of(url)
            except OSError:
                return None

        samples = wait_until(served, 30, "the turns process's metrics")
        assert value(samples, "tsb_queued_messages") == 0
        assert scrape(url, token=None)[0] == 401
        assert scrape(url.replace("/metrics", "/other"))[0] == 404
    finally:
        proc.terminate()
        proc.wait(15)
