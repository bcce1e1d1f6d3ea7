"""Finding 7: GET /slack/install must not write. Its OAuth state is a signed token (nonce and
expiry, HMAC with a key derived from SLACK_CLIENT_SECRET); only a valid callback writes, one
small "used" mark, so a state still works once. Forged, expired and reused states are
refused, and the whole flow still installs."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.slack.oauth_state import FileMarks, SignedStateStore
from tests.fakes.slack_api import FakeSlack
from tests.support.oauth import (
    TEAM_B,
    Storage,
    callback_url,
    get,
    oauth_mode_bot,
    s3_keys,
    start_install,
)

INSTALL_GETS = 200


def written(storage: Storage, env: dict[str, str], session_dir: Path) -> set[str]:
    """Everything the bot has stored: the bucket's keys, or the files under SESSION_DIR."""
    if storage == "s3":
        return s3_keys(env)
    return {str(path) for path in session_dir.rglob("*") if path.is_file()}


def test_install_link_writes_nothing_and_a_state_works_once(
    install_storage: tuple[Storage, dict[str, str]], fake_slack: FakeSlack, session_dir: Path
) -> None:
    storage, extra = install_storage
    with oauth_mode_bot(fake_slack, session_dir, **extra) as bot:
        before = written(storage, extra, session_dir)
        states = {start_install(bot) for _ in range(INSTALL_GETS)}
        assert len(states) == INSTALL_GETS
        assert written(storage, extra, session_dir) == before  # not one write

        # forged (a state of ours, altered) and expired states: refused, nothing written
        state = start_install(bot)
        forged = state[:-2] + ("AA" if not state.endswith("AA") else "BB")
        fake_slack.add_install("code-1", TEAM_B)
        assert get(callback_url(bot, "code-1", forged), forged)[0] == 401
        old = SignedStateStore("client-secret", marks=None, clock=lambda: time.time() - 601)
        expired = old.issue()
        assert get(callback_url(bot, "code-1", expired), expired)[0] == 401
        assert written(storage, extra, session_dir) == before
        assert fake_slack.calls("oauth.v2.access") == []

        # the real flow installs; its state is refused the second time
        status, _, page = get(callback_url(bot, "code-1", state), state)
        assert status == 200 and "slack://app?team=TB0002" in page
        assert get(callback_url(bot, "code-1", state), state)[0] == 401
        assert len(fake_slack.calls("oauth.v2.access")) == 1
        store = bot.runtime.slack.store
        assert store is not None and store.find_bot(enterprise_id=None, team_id="TB0002")


@settings(max_examples=200, deadline=None)
@given(
    at=st.integers(0, 200),
    char=st.characters(codec="ascii"),
    how=st.sampled_from(["replace", "delete", "append"]),
)
def test_any_change_to_a_state_is_refused(at: int, char: str, how: str) -> None:
    with tempfile.TemporaryDirectory() as marks:
        store = SignedStateStore("client-secret", marks=FileMarks(Path(marks), 600))
        state = store.issue()
        at %= len(state)
        if char == state[at]:
            char = "A" if state[at] != "A" else "B"
        changed = {
            "replace": state[:at] + char + state[at + 1 :],
            "delete": state[:at] + state[at + 1 :],
            "append": state + char,
        }[how]
        assert not store.consume(changed)
        assert not list(Path(marks).iterdir())  # refused without a write
        assert store.consume(state) and not store.consume(state)
