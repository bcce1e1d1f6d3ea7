"""The two session stores the bot has (file and S3 on moto), for agent tests to run on both."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.store.sessions import SessionStore


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest, session_dir: Path) -> SessionStore:
    if request.param == "file":
        return SessionStore(bucket=None, prefix="", directory=session_dir)
    env = request.getfixturevalue("s3_env")
    return SessionStore(bucket=env["SESSION_BUCKET"], prefix="bot/", directory=session_dir)
