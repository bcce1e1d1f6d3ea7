"""The process's one boto3 session, shared by S3 (bot/store/blobs.py) and Bedrock
(bot/agent/model.py): each session loads botocore's service and endpoint data again
(~14 MB), so one per process, not one per client or per persona."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import boto3

_session: boto3.session.Session | None = None
_lock = threading.Lock()


def session() -> boto3.session.Session:
    """The process's boto3 session, made on first use. Sessions are not thread-safe: build
    clients at start-up (Personas and the stores do, under their own locks)."""
    global _session
    with _lock:
        if _session is None:
            import boto3  # imported here: only processes that reach AWS pay for it

            _session = boto3.session.Session()
        return _session
