"""Fuzz the HTTP endpoint with correctly signed garbage: never a 5xx, never a crash."""

from __future__ import annotations

import json
import urllib.parse

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fakes.signing import _post, sign
from tests.harness import SECRET

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=4),
    max_leaves=12,
)
event_like = st.fixed_dictionaries(
    {"type": st.sampled_from(["event_callback", "url_verification", "block_actions",
                              "message_action", "shortcut", "view_submission", "junk"])},
    optional={
        "event": st.dictionaries(
            st.sampled_from(["type", "text", "user", "channel", "ts", "thread_ts", "subtype",
                             "bot_id", "channel_type", "edited", "team"]),
            json_values, max_size=8),
        "event_id": st.text(max_size=20), "team_id": json_values, "challenge": json_values,
        "payload": json_values,
    },
)

slack_like_event = st.fixed_dictionaries(
    {"type": st.just("event_callback"),
     "event": st.fixed_dictionaries(
         {"type": st.sampled_from(["app_mention", "message"])},
         optional={"text": st.text(max_size=200), "user": st.text(max_size=6),
                   "channel": st.text(max_size=6), "ts": st.text(max_size=12),
                   "thread_ts": st.text(max_size=12), "channel_type": st.sampled_from(["im", "x"]),
                   "subtype": st.sampled_from(["bot_message", "file_share", "me_message"]),
                   "bot_id": st.text(max_size=3)}),
     "team_id": st.text(max_size=4), "event_id": st.text(max_size=10)},
)


def bodies() -> st.SearchStrategy[tuple[str, str]]:
    as_json = (event_like | slack_like_event).map(lambda d: ("application/json", json.dumps(d)))
    as_form = st.dictionaries(
        st.sampled_from(["command", "text", "channel_id", "user_id", "team_id", "payload"]),
        st.text(max_size=60), max_size=6,
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
