"""Warm-up runs a real turn on a throwaway session and leaves nothing behind."""

from __future__ import annotations

import sys
from pathlib import Path

import boto3

from bot.agent.personas import load_personas
from bot.agent.warmup import warm_up
from bot.config import settings as config_module
from bot.store.blobs import LOCK_FILE
from bot.store.sessions import SessionStore


def test_warm_up_loads_the_provider_and_leaves_no_session(tmp_path: Path, caplog) -> None:
    store = SessionStore(bucket=None, prefix="", directory=tmp_path / "sessions")
    config = config_module.load(
        {
            "SLACK_BOT_TOKEN": "xoxb-1",
            "SLACK_SIGNING_SECRET": "s",
            "MODEL_PROVIDER": "openai",
            "OPENAI_API_KEY": "k",
        }
    )
    seconds = warm_up(load_personas(config), store)
    assert seconds > 0 and "openai.resources" in sys.modules
    left = [p.name for p in (tmp_path / "sessions").iterdir() if p.name != LOCK_FILE]
    assert left == ["layout.json"]  # the throwaway session is gone; the layout mark stays
    assert "warm-up failed" not in caplog.text and "could not delete" not in caplog.text


def test_warm_up_on_s3_deletes_what_it_wrote(s3_env: dict[str, str], caplog) -> None:
    store = SessionStore(bucket=s3_env["SESSION_BUCKET"], prefix="bot/", directory=Path("."))
    config = config_module.load(
        {
            "SLACK_BOT_TOKEN": "xoxb-1",
            "SLACK_SIGNING_SECRET": "s",
            "MODEL_PROVIDER": "openai",
            "OPENAI_API_KEY": "k",
        }
    )
    warm_up(load_personas(config), store)
    listing = boto3.client("s3").list_objects_v2(Bucket=s3_env["SESSION_BUCKET"])
    assert [o["Key"] for o in listing["Contents"]] == ["bot/layout.json"]
    assert "warm-up failed" not in caplog.text and "could not delete" not in caplog.text
