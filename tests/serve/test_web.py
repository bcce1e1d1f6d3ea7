"""The HTTP endpoint: signatures, health, odd requests."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import time
import urllib.error
import urllib.request

from tests.fakes.model import ScriptedModel
from tests.fakes.signing import post_event, sign
from tests.fakes.slack_payloads import event_callback
from tests.support.harness import SECRET, Bot, base_env, mention_event, next_ts


def raw_post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def test_bad_and_stale_signatures_are_rejected(make_bot, fake_slack) -> None:
    model = ScriptedModel()
    bot = make_bot(model)
    payload = event_callback(mention_event("hi", "C1", next_ts()))
    assert post_event(bot.url, "wrong-secret", payload)[0] == 401
    body = json.dumps(payload)
    stale = sign(SECRET, body, timestamp=int(time.time()) - 600)
    assert raw_post(bot.url, body.encode(), {**stale, "Content-Type": "application/json"})[0] == 401
    assert raw_post(bot.url, body.encode(), {"Content-Type": "application/json"})[0] == 401
    odd = {"X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=00"}
    assert raw_post(bot.url, body.encode(), odd)[0] == 401
    time.sleep(0.5)
    assert model.calls == [] and fake_slack.calls("chat.postMessage") == []


def test_readiness_reports_dependencies_and_liveness_stays_cheap(
    make_bot, fake_slack, session_dir
) -> None:
    bot = make_bot()
    status, body = get(bot.url.replace("/slack/events", "/readyz"))
    assert status == 200 and body == {"ok": True, "checks": {"state": "ok", "storage": "ok"}}
    env = base_env(
        fake_slack.base_url, SESSION_DIR=str(session_dir), REDIS_URL="redis://127.0.0.1:1/0"
    )
    with Bot(env, ScriptedModel()) as down:
        status, body = get(down.url.replace("/slack/events", "/readyz"))
        assert status == 503 and body["checks"]["state"].startswith("error")
        assert get(down.url.replace("/slack/events", "/healthz")) == (200, {"ok": True})


def test_other_paths_methods_and_huge_bodies(make_bot) -> None:
    bot = make_bot()
    assert status_of(bot.url.replace("/slack/events", "/nope")) == 404  # Bolt's adapter says
    assert get(bot.url) == (405, {"error": "POST only"})
    host, port = bot.url.split("//")[1].split("/")[0].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.putrequest("POST", "/slack/events")
    connection.putheader("Content-Length", "2000000")
    connection.putheader("Content-Type", "application/json")
    connection.endheaders(b"{" + b"x" * 1000)
    assert connection.getresponse().status == 413


def test_a_body_that_is_not_utf8_is_refused_unparsed(make_bot, fake_slack) -> None:
    """slack_sdk's verifier decodes the body as UTF-8: such a body once got a 500."""
    model = ScriptedModel()
    bot = make_bot(model)
    body = b'{"type": "event_callback", "event": {"text": "\xff"}}'
    ts = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256)
    headers = {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest.hexdigest()}"}
    status, answer = raw_post(bot.url, body, {**headers, "Content-Type": "application/json"})
    assert status == 401, (status, answer)
    time.sleep(0.5)
    assert model.calls == [] and fake_slack.calls("chat.postMessage") == []
