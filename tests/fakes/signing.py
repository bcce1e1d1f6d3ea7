"""Signed requests as Slack sends them (Events API, slash commands, interactivity)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier


def sign(secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    """X-Slack-Request-Timestamp / X-Slack-Signature headers for `body`."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    assert signature is not None
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}


def _post(url: str, body: str, headers: dict[str, str], timeout: float = 10.0) -> tuple[int, str]:
    req = urllib.request.Request(url, data=body.encode("utf-8"), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.read().decode("utf-8", "replace")


def post_event(
    url: str,
    secret: str,
    payload: dict[str, Any],
    retry_num: int | None = None,
    retry_reason: str | None = None,
    timestamp: int | None = None,
    timeout: float = 10.0,
) -> tuple[int, str]:
    """POST an Events API payload as JSON; returns (status, body) without raising on 4xx/5xx."""
    body = json.dumps(payload)
    headers = {"Content-Type": "application/json", **sign(secret, body, timestamp)}
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
    if retry_reason is not None:
        headers["X-Slack-Retry-Reason"] = retry_reason
    return _post(url, body, headers, timeout)


def post_form(
    url: str,
    secret: str,
    form: dict[str, Any],
    timestamp: int | None = None,
    timeout: float = 10.0,
) -> tuple[int, str]:
    """POST a form-encoded body (slash commands); returns (status, body)."""
    body = urlencode(form)
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(secret, body, timestamp)}
    return _post(url, body, headers, timeout)


def post_interactive(
    url: str,
    secret: str,
    payload: dict[str, Any],
    timestamp: int | None = None,
    timeout: float = 10.0,
) -> tuple[int, str]:
    """POST `payload=<json>` form-encoded (shortcuts, block actions, view submissions)."""
    return post_form(url, secret, {"payload": json.dumps(payload)}, timestamp, timeout)
