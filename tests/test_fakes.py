"""Smoke tests for the test fakes in tests/fakes/."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from botocore.exceptions import ClientError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from strands import Agent, tool
from strands.models.openai import OpenAIModel

from tests.fakes._http import QuietHandler, ServerThread
from tests.fakes.model import ScriptedModel
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.ports import free_port
from tests.fakes.redis_server import RedisServer, redis_url_for_tests
from tests.fakes.s3_server import FaultyProxy, S3Server, s3_client
from tests.fakes.signing import post_event, post_form, post_interactive, sign
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import command_form, event_callback, load, mention_event


def test_free_port() -> None:
    assert 1024 < free_port() < 65536


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def test_fake_slack_records_calls(slack: FakeSlack) -> None:
    client = WebClient(token="xoxb-test", base_url=slack.base_url)
    assert client.auth_test()["user_id"] == "UBOT"
    first = client.chat_postMessage(channel="C1", text="hello", thread_ts="1.0")
    second = client.api_call("chat.postMessage", json={"channel": "C1", "text": "json body"})
    assert first["ts"] < second["ts"]
    assert first["message"]["thread_ts"] == "1.0"
    assert client.chat_postEphemeral(channel="C1", user="U1", text="psst")["message_ts"]
    client.reactions_add(channel="C1", timestamp=first["ts"], name="eyes")

    posts = slack.wait_for("chat.postMessage", count=2)
    assert [c.params["text"] for c in posts] == ["hello", "json body"]
    assert all(c.token == "xoxb-test" for c in slack.calls())
    assert slack.calls("reactions.add")[0].params["name"] == "eyes"

    with pytest.raises(SlackApiError):  # socket_url unset -> ok: false
        client.apps_connections_open(app_token="xapp-1")
    slack.socket_url = "ws://127.0.0.1:1/socket"
    assert client.apps_connections_open(app_token="xapp-1")["url"] == slack.socket_url
    assert slack.calls("apps.connections.open")[-1].token == "xapp-1"

    slack.set_response("users.info", lambda c: {"ok": True, "user": {"id": c.params["user"]}})
    assert client.users_info(user="U9")["user"]["id"] == "U9"

    with pytest.raises(AssertionError, match="chat.delete"):
        slack.wait_for("chat.delete", timeout=0.05)
    slack.reset()
    assert slack.calls() == []


def test_fake_slack_rate_limit_and_errors(slack: FakeSlack) -> None:
    plain = WebClient(token="xoxb-test", base_url=slack.base_url)
    slack.fail_next("chat.postMessage", status=429, retry_after=0)
    with pytest.raises(SlackApiError) as err:
        plain.chat_postMessage(channel="C1", text="x")
    assert err.value.response.status_code == 429
    assert err.value.response["error"] == "ratelimited"

    retrying = WebClient(token="xoxb-test", base_url=slack.base_url)
    retrying.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
    slack.fail_next("chat.postMessage", times=2, status=429, retry_after=0)
    assert retrying.chat_postMessage(channel="C1", text="eventually")["ok"]
    statuses = [c.status for c in slack.calls("chat.postMessage")]
    assert statuses == [429, 429, 429, 200]
    assert len(slack.wait_for("chat.postMessage")) == 1  # faults are ignored by default

    posted = plain.chat_postMessage(channel="C1", text="x")["ts"]
    slack.fail_next("chat.update", status=500)
    with pytest.raises(SlackApiError):
        plain.chat_update(channel="C1", ts=posted, text="y")
    assert plain.chat_update(channel="C1", ts=posted, text="y")["ok"]


def test_fake_slack_concurrent_posts(slack: FakeSlack) -> None:
    client = WebClient(token="xoxb-test", base_url=slack.base_url)
    results: list[str] = []

    def post(i: int) -> None:  # one channel each: Slack allows ~1 post a second per channel
        results.append(client.chat_postMessage(channel=f"C{i}", text=str(i))["ts"])

    threads = [threading.Thread(target=post, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 40
    assert len(slack.wait_for("chat.postMessage", count=40)) == 40


@pytest.fixture
def openai_fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


def _openai_agent(fake: FakeOpenAI, **config: Any) -> Agent:
    model = OpenAIModel(
        client_args={"base_url": fake.base_url, "api_key": "x"}, model_id="fake", **config
    )
    return Agent(model=model, callback_handler=None, system_prompt="be terse")


def test_fake_openai_with_strands_agent(openai_fake: FakeOpenAI) -> None:
    agent = _openai_agent(openai_fake)
    result = agent("hi")
    assert str(result).strip() == "echo: hi [1 msgs]"
    assert result.metrics.accumulated_usage["totalTokens"] > 0
    assert str(agent("again")).strip() == "echo: again [3 msgs]"
    body = openai_fake.requests[0].body
    assert body["stream"] is True and body["messages"][0]["role"] == "system"

    non_streaming = _openai_agent(openai_fake, stream=False)
    assert str(non_streaming("plain")).strip() == "echo: plain [1 msgs]"
    assert openai_fake.requests[-1].body["stream"] is False


def test_fake_openai_tool_call_and_faults(openai_fake: FakeOpenAI) -> None:
    seen: list[int] = []

    @tool
    def double(x: int) -> int:
        """Double a number."""
        seen.append(x)
        return 2 * x

    def reply(body: dict[str, Any]) -> str | dict[str, Any]:
        if body["messages"][-1]["role"] == "tool":
            return "result: " + str(body["messages"][-1]["content"])
        return {"tool": "double", "input": {"x": 21}}

    openai_fake.reply_fn = reply
    model = OpenAIModel(client_args={"base_url": openai_fake.base_url, "api_key": "x"})
    model.update_config(model_id="fake")
    agent = Agent(model=model, tools=[double], callback_handler=None)
    assert "42" in str(agent("double 21"))
    assert seen == [21]

    openai_fake.reply_fn = lambda body: "ok"
    openai_fake.fail_next(1, status=500)  # the openai client retries it (retry-after-ms: 10)
    before = len(openai_fake.requests)
    assert str(agent("x")).strip() == "ok"
    assert [r.status for r in openai_fake.requests[before:]] == [500, 200]


def test_fake_openai_concurrency_tracking(openai_fake: FakeOpenAI) -> None:
    openai_fake.delay = 0.2

    def call(key: str) -> None:
        body = {"model": "m", "messages": [{"role": "user", "content": key}]}
        req = urllib.request.Request(
            openai_fake.base_url + "/chat/completions",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert json.load(resp)["choices"][0]["message"]["content"] == f"echo: {key} [1 msgs]"

    threads = [threading.Thread(target=call, args=(k,)) for k in ("a", "a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert openai_fake.max_concurrent == 3
    deadline = time.monotonic() + 5  # the server marks a request finished after replying
    while sum(1 for r in openai_fake.requests if r.finished) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    pairs = openai_fake.overlaps(lambda b: b["messages"][-1]["content"])
    assert len(pairs) == 1
    assert {p.body["messages"][-1]["content"] for p in pairs[0]} == {"a"}


def test_scripted_model_default_reply_and_tool_use() -> None:
    @tool
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    model = ScriptedModel([{"tool": "add", "input": {"a": 1, "b": 2}}, "the sum is 3"])
    agent = Agent(model=model, tools=[add], callback_handler=None, system_prompt="sys")
    assert str(agent("add 1 and 2")).strip() == "the sum is 3"
    assert len(model.calls) == 2
    assert model.calls[0]["system_prompt"] == "sys"
    tool_results = [
        block["toolResult"]
        for block in model.calls[1]["messages"][-1]["content"]
        if "toolResult" in block
    ]
    assert tool_results[0]["status"] == "success"
    assert tool_results[0]["content"][0]["text"] == "3"

    assert str(agent("next")).strip() == "reply to: next [5 msgs]"


def test_scripted_model_raises_and_blocks() -> None:
    agent = Agent(model=ScriptedModel([RuntimeError("boom")]), callback_handler=None)
    with pytest.raises(RuntimeError, match="boom"):
        agent("hi")

    gate = threading.Event()
    model = ScriptedModel(block_until=gate)
    blocked = Agent(model=model, callback_handler=None)
    out: list[str] = []
    worker = threading.Thread(target=lambda: out.append(str(blocked("wait"))))
    worker.start()
    time.sleep(0.2)
    assert worker.is_alive() and len(model.calls) == 1
    gate.set()
    worker.join(timeout=5)
    assert out and out[0].strip() == "reply to: wait [1 msgs]"


def test_redis_server_start_and_restart(monkeypatch: pytest.MonkeyPatch) -> None:
    with RedisServer() as server:
        client = redis.Redis.from_url(server.url)
        client.set("k", "v")
        assert client.get("k") == b"v"
        server.restart(down_seconds=0.05)
        assert client.get("k") is None  # fresh, non-persistent server on the same port
        assert server.url.endswith(f":{server.port}/0")
        client.set("k", "v")
        server.restart(how="shutdown")  # SHUTDOWN NOSAVE: nothing written, nothing kept
        assert client.get("k") is None
        assert not list(server.dir.glob("*.rdb"))
        with pytest.raises(ValueError):
            server.stop(how="gently")
        client.set("k", "v")
        server.bounce(down_seconds=0.05)  # SHUTDOWN SAVE: refused meanwhile, data kept
        assert client.get("k") == b"v"
        assert not list(server.dir.glob("*.rdb"))  # the dump is gone once loaded
        server.restart()
        assert client.get("k") is None  # so a later restart is empty again
        client.close()

    monkeypatch.delenv("REDIS_URL", raising=False)
    with redis_url_for_tests() as url:
        assert redis.Redis.from_url(url).ping()
    monkeypatch.setenv("REDIS_URL", "redis://example:1/0")
    with redis_url_for_tests() as url:
        assert url == "redis://example:1/0"


def test_s3_server_and_faulty_proxy() -> None:
    with S3Server() as s3, FaultyProxy(s3.endpoint_url) as proxy:
        s3.create_bucket("fakes-bucket")
        script = "import boto3; print([b['Name'] for b in boto3.client('s3').list_buckets()"
        script += "['Buckets']])"
        env = {**os.environ, **s3.env()}
        out = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True
        )
        assert "'fakes-bucket'" in out.stdout, out.stderr  # moto servers share one backend

        client = s3_client(proxy.url, retries=0)
        client.put_object(Bucket="fakes-bucket", Key="a/b.txt", Body=b"payload")
        assert client.get_object(Bucket="fakes-bucket", Key="a/b.txt")["Body"].read() == b"payload"
        assert ("PUT", "/fakes-bucket/a/b.txt") in proxy.requests

        proxy.fail_next(1, status=503)
        with pytest.raises(ClientError) as err:
            client.get_object(Bucket="fakes-bucket", Key="a/b.txt")
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        assert client.head_object(Bucket="fakes-bucket", Key="a/b.txt")["ContentLength"] == 7

        proxy.set_delay(0.2)
        start = time.monotonic()
        client.list_objects_v2(Bucket="fakes-bucket")
        assert time.monotonic() - start >= 0.2


class _VerifyHandler(QuietHandler):
    def do_POST(self) -> None:
        body = self.read_body()
        ok = SignatureVerifier("s3cret").is_valid_request(body, dict(self.headers.items()))
        self.server.owner.append((self.headers.get("Content-Type"), body.decode(), ok))
        self.send_json(200 if ok else 401, {"ok": ok})


def test_signing_helpers() -> None:
    seen: list[tuple[str, str, bool]] = []
    server = ServerThread(_VerifyHandler, seen)
    server.start()
    url = f"http://127.0.0.1:{server.port}/slack/events"
    try:
        envelope = event_callback(mention_event("hi", "C1", "1.2"))
        assert envelope["event_id"] != event_callback(envelope["event"])["event_id"]
        status, _ = post_event(url, "s3cret", envelope, retry_num=1, retry_reason="http_timeout")
        assert status == 200
        assert json.loads(seen[-1][1])["event"]["text"] == "<@UBOT> hi"
        assert post_form(url, "s3cret", command_form("x", command="/ask"))[0] == 200
        shortcut = load("84_shortcut_global_enterprise_null.form.json")
        assert post_interactive(url, "s3cret", shortcut)[0] == 200
        assert seen[-1][1].startswith("payload=")
        assert post_event(url, "wrong", envelope)[0] == 401  # returned, not raised
        assert post_event(url, "s3cret", envelope, timestamp=1)[0] == 401  # stale timestamp
        assert sign("s3cret", "b", 5)["X-Slack-Request-Timestamp"] == "5"
    finally:
        server.stop()
