"""Metrics: GET /metrics (bot/metrics.py) before and after real turns.

In-process bots (tests/harness.py) show the outcome labels; the real gunicorn with two
workers shows that a scrape answered by either worker counts both (multiprocess mode);
Socket Mode and the turns process serve the same on METRICS_PORT.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from wsgiref.util import setup_testing_defaults

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from bot import metrics
from bot.jobs import Job, session_id
from bot.stop import stop_key
from bot.store.memory_state import MemoryState
from bot.store.redis_state import RedisState, connect
from bot.web import WebApp
from tests.fakes.model import ScriptedModel
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.ports import free_port
from tests.fakes.s3_server import FaultyProxy
from tests.fakes.slack_api import FakeSlack
from tests.harness import SECRET, Bot, base_env, mention_event, message_event, now_ts
from tests.listeners.test_events import settle
from tests.processes import ROOT, BotProcess, bot_env
from tests.test_socket_mode import bot_process, in_thread
from tests.test_socket_mode import socket_server as socket_server  # noqa: F401 - fixture
from tests.test_stream import personas_file, slow

TOKEN = "metrics-test-token"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def scrape(url: str, token: str | None = TOKEN) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                    timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def metrics_of(url: str) -> Samples:
    status, text = scrape(url)
    assert status == 200, (status, text)
    return parse(text)


def here() -> Samples:
    """This (test) process's own metrics, as the in-process bots record them."""
    return parse(generate_latest(REGISTRY).decode())


def wait_until(condition, timeout: float, what: str):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := condition():
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


# --- the endpoint ------------------------------------------------------------------------
def call(app, path: str = "/metrics", authorization: str | None = None) -> tuple[str, bytes]:  # noqa: ANN001
    environ: dict = {"PATH_INFO": path, "REQUEST_METHOD": "GET"}
    if authorization is not None:
        environ["HTTP_AUTHORIZATION"] = authorization
    setup_testing_defaults(environ)
    status: list[str] = []
    body = b"".join(app(environ, lambda s, headers, exc_info=None: status.append(s)))
    return status[0], body


def test_metrics_are_off_without_a_token_and_need_the_bearer_token(make_bot) -> None:
    bot = make_bot()
    state = bot.runtime.state
    unset = WebApp(bot.app, bot.runtime.health, SECRET, metrics.Endpoint("", state))
    assert call(unset)[0].startswith("404")  # create_app() with METRICS_TOKEN unset
    assert call(WebApp(bot.app, bot.runtime.health, SECRET))[0].startswith("404")
    on = WebApp(bot.app, bot.runtime.health, SECRET, metrics.Endpoint(TOKEN, state))
    assert call(on)[0].startswith("401")
    assert call(on, authorization="Bearer wrong")[0].startswith("401")
    assert call(on, authorization=TOKEN)[0].startswith("401")  # no scheme
    assert call(on, authorization=f"Basic {TOKEN}")[0].startswith("401")
    status, body = call(on, authorization=f"Bearer {TOKEN}")
    assert status.startswith("200"), status
    samples = parse(body.decode())
    assert value(samples, "tsb_queued_messages") == 0.0
    assert ("tsb_oldest_queued_message_age_seconds", ()) in samples


# --- outcomes, in process ----------------------------------------------------------------
def test_model_errors_answers_tools_tokens_slack_calls_and_dedup_are_counted(
        make_bot, fake_slack: FakeSlack, tmp_path: Path) -> None:
    model = ScriptedModel([RuntimeError("boom"),
                           {"tool": "calculator", "input": {"expression": "2+2"}}, "Four."])
    bot = make_bot(model, PERSONAS_FILE=personas_file(tmp_path))
    before = here()

    def moved(name: str, **labels: str) -> float:
        return value(here(), name, **labels) - value(before, name, **labels)

    bot.mention("fail please", ts=now_ts())
    fake_slack.wait_for("chat.postMessage")  # the apology
    fake_slack.fail_next("chat.postMessage", times=1, status=429, retry_after=0)
    event = mention_event("2+2?", "C1", now_ts())
    assert bot.event(event, event_id="Ev0METRICS1")[0] == 200
    assert bot.event(event, event_id="Ev0METRICS1", retry_num=1)[0] == 200  # a retry
    fake_slack.wait_for("chat.postMessage", count=2, timeout=15)
    settle(bot)
    assert moved("tsb_turns_total", persona="calc", outcome="model_error") == 1
    assert moved("tsb_turns_total", persona="calc", outcome="answered") == 1
    assert moved("tsb_turn_seconds_count", persona="calc") == 2
    assert moved("tsb_lock_wait_seconds_count") == 2
    assert moved("tsb_first_text_seconds_count") == 1  # the answer (not the apology)
    assert moved("tsb_model_call_seconds_count", persona="calc") == 3  # failed, tool, answer
    assert moved("tsb_tool_calls_total", persona="calc", tool="calculator",
                 status="success") == 1
    assert moved("tsb_model_tokens_total", persona="calc", type="output") == 1  # "Four."
    assert moved("tsb_dedup_hits_total", kind="turn") == 1
    assert moved("tsb_slack_api_calls_total", method="chat.postMessage") == 3  # with the 429
    assert moved("tsb_slack_api_errors_total", method="chat.postMessage",
                 error="ratelimited") == 1


def test_a_stopped_answer_is_counted_as_stopped(make_bot, fake_slack: FakeSlack) -> None:
    before = here()
    bot = make_bot(slow("word " * 400, chars=5, delay=0.02), STREAMING="on")
    root = bot.mention("ramble", ts=now_ts())
    fake_slack.wait_for("chat.appendStream")
    bot.runtime.state.set_fact(stop_key(session_id("T1", "C1", root["ts"])), root["ts"])
    fake_slack.wait_for("chat.stopStream", timeout=15)
    settle(bot)
    after = here()
    for name, labels in (("tsb_turns_total", {"persona": "default", "outcome": "stopped"}),
                         ("tsb_first_text_seconds_count", {})):  # the streamed text
        assert value(after, name, **labels) == value(before, name, **labels) + 1, name


def test_storage_errors_are_counted_and_s3_requests_by_operation(
        fake_slack: FakeSlack, s3_server, s3_env, session_dir, monkeypatch) -> None:  # noqa: ANN001
    before = here()
    with FaultyProxy(s3_server.endpoint_url) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        model = ScriptedModel(block_until=threading.Event())
        env = base_env(fake_slack.base_url, SESSION_DIR=str(session_dir), **{
            k: v for k, v in s3_env.items() if k.startswith("SESSION")})
        with Bot(env, model) as bot:
            bot.mention("remember this", ts=now_ts())
            wait_until(lambda: model.calls, 10, "the model call")
            proxy.fail_next(6, status=503)  # the commit's PUT (all of botocore's attempts)
            model.block_until.set()
            fake_slack.wait_for("chat.postMessage", timeout=30)
            settle(bot)
    after = here()

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("tsb_turns_total", persona="default", outcome="storage_error") >= 1
    assert moved("tsb_turns_total", persona="default", outcome="answered") == 1
    assert moved("tsb_s3_requests_total", operation="PutObject", status="503") >= 4  # retries
    assert moved("tsb_s3_requests_total", operation="PutObject", status="200") >= 2


def test_queue_stats_count_queued_messages_and_the_oldest_age(redis_url: str) -> None:
    for state in (MemoryState(), RedisState(connect(redis_url))):
        assert state.queue_stats() == (0, 0.0)
        sent = time.time() - 30
        jobs = [Job("turn", "T1", "C1", f"{sent:.6f}", f"{sent + i:.6f}", "U1", text="hi")
                for i in range(3)] + [Job("turn", "T1", "C2", "1.1", f"{time.time():.6f}", "U1")]
        for job in jobs:
            assert state.accept(job, [f"msg:{job.channel}:{job.ts}"])
        count, oldest = state.queue_stats()
        assert count == 4 and 29 < oldest < 40, (type(state).__name__, count, oldest)
        lease = state.try_lease(jobs[0].session_id)
        state.finish(lease, jobs[:3])
        count, oldest = state.queue_stats()
        assert count == 1 and oldest < 5


# --- the real processes ------------------------------------------------------------------
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
def web(redis_url: str, s3_env: dict[str, str], fake_slack: FakeSlack,
        fake_openai: FakeOpenAI, tmp_path: Path) -> Iterator[tuple[BotProcess, Path]]:
    directory = tmp_path / "prometheus"
    env = bot_env(fake_slack.base_url, redis_url, s3_env, fake_openai.base_url,
                  WEB_CONCURRENCY="2", METRICS_TOKEN=TOKEN,
                  PROMETHEUS_MULTIPROC_DIR=str(directory), LOG_LEVEL="INFO")
    bot = BotProcess("metrics", env, tmp_path)
    try:
        yield bot.start().wait_ready(), directory
    finally:
        if fake_openai.block_until is not None:
            fake_openai.block_until.set()
        bot.cleanup()
        print(bot.log_tail())


def test_gunicorn_workers_are_counted_together_whichever_answers_the_scrape(
        web: tuple[BotProcess, Path], fake_slack: FakeSlack, fake_openai: FakeOpenAI) -> None:
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
        tmp_path: Path, fake_slack: FakeSlack, fake_openai: FakeOpenAI,
        socket_server, monkeypatch) -> None:  # noqa: ANN001, F811
    port = free_port()
    monkeypatch.setenv("METRICS_TOKEN", TOKEN)
    monkeypatch.setenv("METRICS_PORT", str(port))
    url = f"http://127.0.0.1:{port}/metrics"
    with bot_process(tmp_path, fake_slack, fake_openai, socket_server) as bot:
        from tests.fakes.slack_payloads import event_callback

        mention = mention_event("hello metrics", "C1", now_ts())
        socket_server.wait_ack(socket_server.push_event(event_callback(mention)))
        fake_slack.wait_for("chat.postMessage", in_thread(mention["ts"], "echo: "), timeout=15)
        assert scrape(url, token=None)[0] == 401 and scrape(url, token="wrong")[0] == 401
        samples = wait_until(lambda: (s := metrics_of(url)) and value(
            s, "tsb_turns_total", persona="default", outcome="answered") == 1 and s,
            10, "the turn counted")
        assert value(samples, "tsb_slack_api_calls_total", method="apps.connections.open") >= 1
        assert value(samples, "tsb_slack_api_calls_total", method="chat.postMessage") >= 1
        assert value(samples, "tsb_queued_messages") == 0
        assert "process_cpu_seconds_total" in {name for name, _ in samples}  # one process
        assert bot.terminate() == 0


def test_the_turns_process_serves_metrics_on_its_port(
        redis_url: str, fake_slack: FakeSlack, fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, **base_env(fake_slack.base_url), "REDIS_URL": redis_url,
           "SESSION_DIR": str(tmp_path / "sessions"), "OPENAI_BASE_URL": fake_openai.base_url,
           "METRICS_TOKEN": TOKEN, "METRICS_PORT": str(port), "SESSION_BUCKET": "",
           "PERSONAS_FILE": "", "SLACK_APP_TOKEN": ""}
    log = tmp_path / "turns.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "bot", "turns"], cwd=ROOT, env=env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
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
