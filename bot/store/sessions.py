"""Session storage: the one module that owns S3 and the local file store.

Everything else asks this module for a session manager (built after the thread lock is
held), to delete a session, or whether one exists; the backend can change behind it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError
from strands.session.file_session_manager import FileSessionManager
from strands.session.repository_session_manager import RepositorySessionManager
from strands.session.s3_session_manager import S3SessionManager
from strands.types.exceptions import SessionException
from strands.types.session import SessionAgent, SessionMessage

from bot.store.buffered import BufferedTurnMixin
from bot.store.message_cache import MessageCache

log = logging.getLogger(__name__)


_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,200}$")  # what bot.jobs.session_id produces
_CONDITION_FAILED = ("PreconditionFailed", "412", "ConditionalRequestConflict")


class FencingError(SessionException):
    """A conditional write failed: another worker wrote this session since we read it."""


class BufferedFileSessionManager(BufferedTurnMixin, FileSessionManager):
    def delete_message(self, agent_id: str, message_id: int) -> None:
        path = self._get_message_path(self.session_id, agent_id, message_id)
        Path(path).unlink(missing_ok=True)


class BufferedS3SessionManager(BufferedTurnMixin, S3SessionManager):
    """S3SessionManager on a shared client, with conditional writes as a fence.

    New message objects are written with If-None-Match: * and agent.json with If-Match on
    the ETag we read, so a worker whose lock expired cannot silently overwrite the turn of
    the worker that took the thread over.
    """

    def __init__(self, session_id: str, bucket: str, prefix: str, client: Any,
                 cache: MessageCache) -> None:
        self.bucket, self.prefix, self.client, self.cache = bucket, prefix, client, cache
        self._agent_etags: dict[str, str] = {}
        RepositorySessionManager.__init__(self, session_id=session_id, session_repository=self)

    def _put(self, key: str, data: dict[str, Any], **conditions: str) -> dict[str, Any]:
        body = json.dumps(data, ensure_ascii=False).encode("utf-8")
        try:
            return self.client.put_object(
                Bucket=self.bucket, Key=key, Body=body, ContentType="application/json", **conditions
            )
        except ClientError as e:
            if e.response["Error"]["Code"] in _CONDITION_FAILED:
                raise FencingError(f"conditional write of {key} refused: {conditions}") from e
            raise SessionException(f"Failed to write S3 object {key}: {e}") from e

    def create_message(self, session_id: str, agent_id: str, session_message: SessionMessage,
                       **kwargs: Any) -> None:
        key = self._get_message_path(session_id, agent_id, session_message.message_id)
        data = session_message.to_dict()
        response = self._put(key, data, IfNoneMatch="*")
        self.cache.put(key, response["ETag"], data)

    def list_messages(self, session_id: str, agent_id: str, limit: int | None = None,
                      offset: int = 0, **kwargs: Any) -> list[SessionMessage]:
        """Strands' listing, but fetching only the messages this process has not cached."""
        prefix = f"{self._get_agent_path(session_id, agent_id)}messages/"
        found: list[tuple[int, str, str]] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            for obj in page.get("Contents", []):
                name = obj["Key"].rsplit("/", 1)[-1]
                if name.startswith("message_") and name.endswith(".json"):
                    found.append((int(name[len("message_"):-5]), obj["Key"], obj["ETag"]))
        found.sort()
        found = found[offset:offset + limit] if limit is not None else found[offset:]
        cached = {key: self.cache.get(key, etag) for _, key, etag in found}
        missing = [key for key, data in cached.items() if data is None]
        if missing:
            with ThreadPoolExecutor(max_workers=min(8, len(missing))) as pool:
                cached.update(zip(missing, pool.map(self._fetch, missing), strict=True))
        return [SessionMessage.from_dict(cached[key]) for _, key, _ in found]

    def _fetch(self, key: str) -> dict[str, Any]:
        response = self.client.get_object(Bucket=self.bucket, Key=key)
        data = json.loads(response["Body"].read())
        self.cache.put(key, response["ETag"], data)
        return data

    def read_agent(self, session_id: str, agent_id: str, **kwargs: Any) -> SessionAgent | None:
        key = f"{self._get_agent_path(session_id, agent_id)}agent.json"
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as e:
            if e.response["Error"]["Code"] == "NoSuchKey":
                return None
            raise SessionException(f"S3 error reading {key}: {e}") from e
        self._agent_etags[agent_id] = response["ETag"]
        return SessionAgent.from_dict(json.loads(response["Body"].read()))

    def update_agent(self, session_id: str, session_agent: SessionAgent, **kwargs: Any) -> None:
        agent_id = session_agent.agent_id
        if agent_id not in self._agent_etags and self.read_agent(session_id, agent_id) is None:
            raise SessionException(f"Agent {agent_id} in session {session_id} does not exist")
        key = f"{self._get_agent_path(session_id, agent_id)}agent.json"
        response = self._put(key, session_agent.to_dict(), IfMatch=self._agent_etags[agent_id])
        self._agent_etags[agent_id] = response["ETag"]

    def delete_message(self, agent_id: str, message_id: int) -> None:
        key = self._get_message_path(self.session_id, agent_id, message_id)
        self.client.delete_object(Bucket=self.bucket, Key=key)


class SessionStore:
    """Builds session managers and answers questions about stored sessions."""

    def __init__(self, *, bucket: str | None, prefix: str, directory: Path) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.directory = directory
        self.client: Any = None
        self.cache = MessageCache()
        if bucket:
            # One client per process: boto3 clients are thread-safe and costly to build.
            self.client = boto3.session.Session().client(
                "s3", config=BotoConfig(
                    user_agent_extra="strands-agents thread-session-bot",
                    retries={"mode": "standard", "max_attempts": 4},
                    max_pool_connections=128,  # up to 64 turns, each restoring in parallel
                ),
            )
        else:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    @property
    def kind(self) -> str:
        return "s3" if self.bucket else "file"

    @staticmethod
    def _checked(session_id: str) -> str:
        if not _SAFE_ID.match(session_id):
            raise ValueError(f"refusing session id {session_id[:80]!r}: not [A-Za-z0-9_-]")
        return session_id

    def manager(self, session_id: str) -> BufferedTurnMixin:
        self._checked(session_id)
        if self.bucket:
            return BufferedS3SessionManager(
                session_id, self.bucket, self.prefix, self.client, self.cache
            )
        return BufferedFileSessionManager(session_id, storage_dir=str(self.directory))

    def _session_prefix(self, session_id: str) -> str:
        probe = BufferedS3SessionManager.__new__(BufferedS3SessionManager)
        probe.prefix = self.prefix
        return probe._get_session_path(self._checked(session_id))

    def _session_dir(self, session_id: str) -> Path:
        probe = BufferedFileSessionManager.__new__(BufferedFileSessionManager)
        probe.storage_dir = str(self.directory)
        path = Path(probe._get_session_path(self._checked(session_id))).resolve()
        if self.directory.resolve() not in path.parents:
            raise ValueError(f"session id {session_id!r} escapes the session directory")
        return path

    def exists(self, session_id: str) -> bool:
        if not self.bucket:
            return (self._session_dir(session_id) / "session.json").exists()
        try:
            key = self._session_prefix(session_id) + "session.json"
            self.client.head_object(Bucket=self.bucket, Key=key)
            return True
        except ClientError as e:
            if e.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def delete(self, session_id: str) -> bool:
        """Delete every persona's history of a session; False if there was none."""
        if not self.bucket:
            path = self._session_dir(session_id)
            if not path.exists():
                return False
            shutil.rmtree(path)
            return True
        prefix = self._session_prefix(session_id)
        deleted = False
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
            if keys:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys})
                deleted = True
        return deleted

    def ping(self) -> None:
        if self.bucket:
            self.client.head_bucket(Bucket=self.bucket)
        elif not os.access(self.directory, os.W_OK):
            raise OSError(f"session directory {self.directory} is not writable")
