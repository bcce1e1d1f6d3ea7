"""Data lifecycle: the file store's sweep, and the S3 lifecycle rule checked on moto."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from bot.config import settings as config_module
from bot.config.settings import ConfigError
from bot.store import lifecycle
from bot.store.blobs import FileBlobs, S3Blobs
from tests.fakes.model import ScriptedModel
from tests.support.harness import Bot, base_env, now_ts
from tests.support.wait import wait_until

DAY = 86400


def age(directory: Path, prefix: str, days: float) -> int:
    """Make every file under `prefix` look last written `days` ago; how many."""
    files = [
        p
        for p in directory.rglob("*")
        if p.is_file() and p.relative_to(directory).as_posix().startswith(prefix)
    ]
    then = time.time() - days * DAY
    for path in files:
        os.utime(path, (then, then))
    return len(files)


def test_idle_sessions_are_swept_and_forgotten(fake_slack, session_dir) -> None:
    model = ScriptedModel()
    env = base_env(
        fake_slack.base_url,
        SESSION_DIR=str(session_dir),
        SESSION_TTL_DAYS="30",
        THREAD_CONTEXT_MESSAGES="0",
    )  # memory only: the thread is not read back
    with Bot(env, model) as bot:
        old = bot.mention("the old thread's secret", ts=now_ts())
        fresh = bot.mention("the fresh thread's note", ts=now_ts())
        fake_slack.wait_for("chat.postMessage", count=2)
        store = bot.runtime.store
        sids = {k.split("/")[1] for k in store.blobs.keys("session/")}
        old_sid = next(s for s in sids if s.endswith(old["ts"].replace(".", "-")))
        fresh_sid = next(s for s in sids if s.endswith(fresh["ts"].replace(".", "-")))
        assert age(session_dir, f"session/{old_sid}/", days=31) == 1
        assert age(session_dir, f"session/{fresh_sid}/", days=29) == 1

        bot.runtime.keep_lifecycle()  # sweeps at once, then hourly
        wait_until(lambda: not store.exists(old_sid), 10, "the idle thread swept")
        assert store.exists(fresh_sid)
        assert store.blobs.get("layout.json") is not None  # not a session: kept

        bot.reply("what was the secret?", thread_ts=old["ts"], ts=now_ts())
        bot.reply("and the note?", thread_ts=fresh["ts"], ts=now_ts())
        fake_slack.wait_for("chat.postMessage", count=4)
        asked = [str(c["messages"]) for c in model.calls]
        old_calls = [c for c in asked if "what was the secret" in c]
        fresh_calls = [c for c in asked if "and the note" in c]
        # forgotten at once: not even a turn that fencing would have refused saw it (cache)
        assert old_calls and all("the old thread's secret" not in c for c in old_calls)
        assert fresh_calls and all("the fresh thread's note" in c for c in fresh_calls)


def test_sweep_expires_inbox_records_without_a_session_ttl(tmp_path: Path) -> None:
    blobs = FileBlobs(tmp_path / "store")
    for key in (
        "inbox/2026010100/T1_C1_1-1/1.1.json",
        "inbox/2026010100/T1_C1_1-1/1.1.done",
        "inbox/2026120100/T1_C1_2-2/2.2.json",
        "oauth-state/abandoned",
        "installations/A1/none-T1/bot-latest",
        "session/T1_C1_1-1/scopes/agent/default/snapshots/snapshot_latest.json",
        "session_T1_C1_0-1/agents/agent_default/agent.json",
        "layout.json",
    ):
        blobs.put(key, b"{}", None)
    age(blobs.directory, "inbox/2026010100/", days=3)
    age(blobs.directory, "session", days=400)
    age(blobs.directory, "layout.json", days=400)
    age(blobs.directory, "installations/", days=400)  # tokens: never expired
    age(blobs.directory, "oauth-state/", days=1.5)
    assert sorted(lifecycle.sweep(blobs, ttl_days=None)) == [
        "inbox/2026010100/T1_C1_1-1/1.1.done",
        "inbox/2026010100/T1_C1_1-1/1.1.json",
        "oauth-state/abandoned",
    ]
    assert sorted(lifecycle.sweep(blobs, ttl_days=365)) == [
        "session/T1_C1_1-1/scopes/agent/default/snapshots/snapshot_latest.json",
        "session_T1_C1_0-1/agents/agent_default/agent.json",
    ]
    assert sorted(blobs.keys("")) == [
        "inbox/2026120100/T1_C1_2-2/2.2.json",
        "installations/A1/none-T1/bot-latest",
        "layout.json",
    ]
    assert not (blobs.directory / "inbox" / "2026010100").exists()  # emptied dirs go too


def test_s3_bucket_rules_are_checked_against_the_settings(s3_env: dict[str, str]) -> None:
    blobs = S3Blobs(s3_env["SESSION_BUCKET"], "bot/")
    s3 = boto3.client("s3")
    problem = lifecycle.check_bucket(blobs, ttl_days=30)
    assert problem and "durable inbox" in problem and "SESSION_TTL_DAYS=30" in problem
    assert "python -m bot lifecycle" in problem

    # The printed rule is what S3 accepts (moto validates it) and what the check expects.
    s3.put_bucket_lifecycle_configuration(
        Bucket=blobs.bucket, LifecycleConfiguration=lifecycle.configuration("bot/", 30)
    )
    assert lifecycle.check_bucket(blobs, ttl_days=30, oauth=True) is None
    assert "SESSION_TTL_DAYS=7" in (lifecycle.check_bucket(blobs, ttl_days=7) or "")
    assert "SESSION_TTL_DAYS=unset" in (lifecycle.check_bucket(blobs, ttl_days=None) or "")

    s3.put_bucket_lifecycle_configuration(
        Bucket=blobs.bucket, LifecycleConfiguration=lifecycle.configuration("bot/", None)
    )
    assert lifecycle.check_bucket(blobs, ttl_days=None) is None
    s3.delete_bucket_lifecycle(Bucket=blobs.bucket)


def test_lifecycle_command_prints_the_rule_for_the_configuration() -> None:
    env = {**os.environ, "SESSION_PREFIX": "team-bot/", "SESSION_TTL_DAYS": "14"}
    out = subprocess.run(
        [sys.executable, "-m", "bot", "lifecycle"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[2],
    ).stdout
    rules = {r["ID"]: r for r in json.loads(out)["Rules"]}
    assert rules["expire-idle-sessions"]["Filter"] == {"Prefix": "team-bot/session"}
    assert rules["expire-idle-sessions"]["Expiration"] == {"Days": 14}
    assert rules["expire-inbox"]["Filter"] == {"Prefix": "team-bot/inbox/"}
    assert rules["expire-oauth-state"]["Filter"] == {"Prefix": "team-bot/oauth-state/"}
    assert "team-bot/installations/" not in out


@pytest.mark.parametrize(("raw", "expected"), [("", None), ("0", None), ("30", 30)])
def test_session_ttl_days_setting(raw: str, expected: int | None) -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "SESSION_TTL_DAYS": raw}
    assert config_module.load(env).session_ttl_days == expected


def test_session_ttl_days_must_be_whole_days() -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "SESSION_TTL_DAYS": "1.5"}
    with pytest.raises(ConfigError, match="SESSION_TTL_DAYS=.*SESSION_TTL_DAYS=30"):
        config_module.load(env)
