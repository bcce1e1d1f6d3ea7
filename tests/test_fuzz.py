"""Fuzz the HTTP endpoint: signed garbage never gets a 5xx; Slack-valid variants of real
bodies (nulls, missing and extra fields) are always accepted."""

from __future__ import annotations

import json
import urllib.parse
from urllib.parse import parse_qsl

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fakes.signing import _post, sign
from tests.fakes.slack_payloads import PAYLOADS, raw_body
from tests.support.harness import SECRET

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
event_like = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            [
                "event_callback",
                "url_verification",
                "block_actions",
                "message_action",
                "shortcut",
                "view_submission",
                "junk",
            ]
        )
    },
    optional={
        "event": st.dictionaries(
            st.sampled_from(
                [
                    "type",
                    "text",
                    "user",
                    "channel",
                    "ts",
                    "thread_ts",
                    "subtype",
                    "bot_id",
                    "channel_type",
                    "edited",
                    "team",
                ]
            ),
            json_values,
            max_size=8,
        ),
        "event_id": st.text(max_size=20),
        "team_id": json_values,
        "challenge": json_values,
        "payload": json_values,
    },
)

slack_like_event = st.fixed_dictionaries(
    {
        "type": st.just("event_callback"),
        "event": st.fixed_dictionaries(
            {"type": st.sampled_from(["app_mention", "message"])},
            optional={
                "text": st.text(max_size=200),
                "user": st.text(max_size=6),
                "channel": st.text(max_size=6),
                "ts": st.text(max_size=12),
                "thread_ts": st.text(max_size=12),
                "channel_type": st.sampled_from(["im", "x"]),
                "subtype": st.sampled_from(["bot_message", "file_share", "me_message"]),
                "bot_id": st.text(max_size=3),
            },
        ),
        "team_id": st.text(max_size=4),
        "event_id": st.text(max_size=10),
    },
)


def bodies() -> st.SearchStrategy[tuple[str, str]]:
    as_json = (event_like | slack_like_event).map(lambda d: ("application/json", json.dumps(d)))
    as_form = st.dictionaries(
        st.sampled_from(["command", "text", "channel_id", "user_id", "team_id", "payload"]),
        st.text(max_size=60),
        max_size=6,
    ).map(lambda d: ("application/x-www-form-urlencoded", urllib.parse.urlencode(d)))
    raw = st.text(max_size=300).map(lambda t: ("application/json", t))
    return as_json | as_form | raw


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=bodies())
def test_signed_garbage_never_gets_a_5xx(make_bot_once, body: tuple[str, str]) -> None:
    content_type, text = body
    headers = {**sign(SECRET, text), "Content-Type": content_type}
    status, response = _post(make_bot_once.url, text, headers)
    assert status < 500, (status, response, text)


# --- Slack-valid variants of the real bodies in tests/payloads/ -----------------------
# Slack may send null for any optional field, leave it out, or add fields we have never
# seen. Only what names the payload's kind is always there.
REQUIRED = {
    ("type",),
    ("event",),
    ("event", "type"),
    ("command",),
    ("challenge",),
    ("callback_id",),
    ("actions",),
    ("view",),
    ("ssl_check",),
}
# Inside objects: every block has a `type`, every block action an `action_id`.
NESTED_REQUIRED = {"type", "action_id"}
STORED = sorted(p.name for p in PAYLOADS.iterdir() if p.name not in ("README.md", "meta.json"))


def _paths(value: object, prefix: tuple = ()) -> list[tuple]:
    """Every object field's path (through list items by index), required ones left out."""
    found: list[tuple] = []
    if isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    elif isinstance(value, dict):
        for key, child in value.items():
            path = (*prefix, key)
            if path not in REQUIRED and not (len(path) > 1 and key in NESTED_REQUIRED):
                found.append(path)
            found += _paths(child, path)
    return found


def _parent(body: object, path: tuple) -> object:
    for key in path[:-1]:
        body = body[key]  # type: ignore[index]
    return body


@st.composite
def slack_valid_variants(draw: st.DrawFn) -> tuple[str, str, str]:
    name = draw(st.sampled_from(STORED))
    content_type, raw = raw_body(name)
    is_form = name.endswith(".txt")
    body = (
        dict(parse_qsl(raw, keep_blank_values=True))
        if is_form
        else json.loads((PAYLOADS / name).read_text())
    )
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(body) if not is_form or len(p) == 1]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = _parent(body, path)
        mutation = draw(
            st.sampled_from(["remove", "extra"] if is_form else ["null", "remove", "extra"])
        )
        if mutation == "null":  # Slack sends [] for an empty list, never null
            if not isinstance(parent[path[-1]], list):
                parent[path[-1]] = None
        elif mutation == "remove":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=12))] = draw(
                st.text(max_size=8) if is_form else json_values
            )
    if is_form:
        return name, content_type, urllib.parse.urlencode(body)
    text = json.dumps(body)
    if name.endswith(".form.json"):
        return name, content_type, "payload=" + urllib.parse.quote(text, safe="")
    return name, content_type, text


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(variant=slack_valid_variants())
def test_slack_valid_variants_of_real_bodies_are_accepted(make_bot_once, variant) -> None:
    name, content_type, text = variant
    headers = {**sign(SECRET, text), "Content-Type": content_type}
    status, response = _post(make_bot_once.url, text, headers)
    assert 200 <= status < 300, (name, status, response, text)
