"""The session stores the bot has, for agent tests to run on each: the file store, S3 (on
moto), and S3 restoring every turn from storage (a cold process each time, as after a
restart or on another worker; the process cache would otherwise serve every restore)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.store.sessions import SessionStore


@pytest.fixture(params=["file", "s3", "s3-no-cache"])
def store(request: pytest.FixtureRequest, session_dir: Path) -> SessionStore:
    if request.param == "file":
        return SessionStore(bucket=None, prefix="", directory=session_dir)
    env = request.getfixturevalue("s3_env")
    cache = 0 if request.param == "s3-no-cache" else 32 * 1024 * 1024
    return SessionStore(
        bucket=env["SESSION_BUCKET"], prefix="bot/", directory=session_dir, cache_bytes=cache
    )
