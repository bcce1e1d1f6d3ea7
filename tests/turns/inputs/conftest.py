"""Fixtures of the tests/turns/inputs tests: Slack's file host, on a local file server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.file_server import FileServer
from tests.support.files import TOKEN


@pytest.fixture
def files(monkeypatch: pytest.MonkeyPatch) -> Iterator[FileServer]:
    """Slack's file host: the bot token may go only there (SLACK_FILE_HOSTS)."""
    with FileServer(token=TOKEN) as server:
        monkeypatch.setenv("SLACK_FILE_HOSTS", server.url("").rstrip("/"))
        yield server
