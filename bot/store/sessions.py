"""Session storage: which object holds a thread's memory, and everything done to it.

Everything else asks this module for a session manager (built after the thread lock is
held), to delete a session, or whether one exists. Bytes go through `bot.store.blobs` (S3,
or the local directory in the embedded default); the format is `bot.store.snapshots`.
"""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from strands.types._snapshot import Snapshot
from strands.types.content import Message
from strands.types.session import decode_bytes_values

from bot import jobs
from bot.jobs import reply_thread_of
from bot.store import legacy
from bot.store.blobs import Blobs, FencingError, FileBlobs, S3Blobs
from bot.store.facts import GENERATION, UNINSTALLED
from bot.store.memory_state import MemoryState
from bot.store.snapshots import (
    SnapshotCache,
    SnapshotSessionManager,
    last_prompt,
    snapshot_key,
)

__all__ = ["FencingError", "SessionStore", "Uninstalled"]
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,200}$")  # what bot.jobs.session_id produces
LAYOUT_KEY = "layout.json"  # {"snapshots_since": unix time the first release with snapshots ran}
# Old workers may still start threads in the old layout while a rolling deploy runs.
LEGACY_GRACE_SECONDS = 3600


class Uninstalled(Exception):
    """The app was uninstalled from the workspace after this turn's messages were sent."""


class Facts(Protocol):  # of bot.store.state.Facts, what keeps the generation tokens
    def fact(self, key: str) -> str | None: ...
    def set_fact(self, key: str, value: str | None, ttl: float = ...) -> None: ...


class SessionStore:
    """Builds session managers and answers questions about stored sessions."""

    def __init__(
        self,
        *,
        bucket: str | None,
        prefix: str,
        directory: Path,
        facts: Facts | None = None,
        cache_bytes: int = 32 * 1024 * 1024,
    ) -> None:
        self.bucket = bucket
        self.blobs: Blobs = S3Blobs(bucket, prefix) if bucket else FileBlobs(directory)
        self.cache = SnapshotCache(cache_bytes)
        self.facts: Facts = facts or MemoryState()  # one process: tests, scripts
        self._snapshots_since: float | None = None
        self._since_lock = threading.Lock()

    @property
    def kind(self) -> str:
        return "s3" if self.bucket else "file"

    @staticmethod
    def _checked(session_id: str) -> str:
        if not _SAFE_ID.match(session_id):
            raise ValueError(f"refusing session id {session_id[:80]!r}: not [A-Za-z0-9_-]")
        return session_id

    def manager(self, session_id: str) -> SnapshotSessionManager:
        return SnapshotSessionManager(
            self._checked(session_id),
            self.blobs,
            self.cache,
            self._generation,
            self._set_generation,
            may_have_legacy=self._may_have_legacy,
        )

    def _may_have_legacy(self, session_id: str) -> bool:
        """Could this session be in the old layout? Not a thread started after the first
        snapshot release had run for LEGACY_GRACE_SECONDS: its first turn skips the probe."""
        root = reply_thread_of(session_id)
        return root is None or float(root) < self.snapshots_since() + LEGACY_GRACE_SECONDS

    def snapshots_since(self) -> float:
        """When this bucket (or directory) first saw a release that writes snapshots."""
        with self._since_lock:
            if self._snapshots_since is None:
                found = self.blobs.get(LAYOUT_KEY)
                if found is None:
                    mark = json.dumps({"snapshots_since": time.time()}).encode()
                    try:
                        self.blobs.put(LAYOUT_KEY, mark, None)
                        found = (mark, "")
                    except FencingError:  # another process wrote it first
                        found = self.blobs.get(LAYOUT_KEY)
                assert found is not None
                self._snapshots_since = float(json.loads(found[0])["snapshots_since"])
            return self._snapshots_since

    def _generation(self, session_id: str) -> str | None:
        return self.facts.fact(GENERATION.key(session_id))

    def _set_generation(self, session_id: str, token: str | None) -> None:
        self.facts.set_fact(GENERATION.key(session_id), token, ttl=GENERATION.ttl)

    def _prefixes(self, session_id: str) -> tuple[str, str]:
        self._checked(session_id)
        return f"session/{session_id}/", legacy.session_prefix(session_id)

    def exists(self, session_id: str) -> bool:
        return any(next(self.blobs.keys(prefix), None) for prefix in self._prefixes(session_id))

    def handled(self, session_id: str, ts: str, agent_ids: list[str]) -> bool:
        """Did a committed turn answer this message? Asked only of messages replayed from
        the durable inbox. The session's last prompt counts as not handled: its answer may
        be stored but never posted, and the turn then posts the stored answer (once: it
        checks Slack first)."""
        for agent_id in agent_ids:
            snapshot = self.manager(session_id).load(agent_id)
            if snapshot is None or ts not in snapshot.app_data.get("handled", ()):
                continue
            return ts not in last_prompt(snapshot.data.get("messages", []))[0]
        return False

    def delete(self, session_id: str) -> bool:
        """Delete every persona's history of a session, in every layout; False if none."""
        keys = [key for prefix in self._prefixes(session_id) for key in self.blobs.keys(prefix)]
        self._set_generation(session_id, None)  # before: no process restores a cached copy
        self.cache.drop_prefix(self._prefixes(session_id)[0])
        if keys:
            self.blobs.delete(keys)
        return bool(keys)

    def forget_cached(self, keys: set[str]) -> None:
        """Objects deleted behind the cache's back (bot.store.lifecycle): never served."""
        for key in keys:
            self.cache.drop_prefix(key)

    def delete_team(self, team: str) -> int:
        """Delete every session of one installation (the app was uninstalled there): both
        layouts and its durable inbox records. Session ids start with the team
        (bot.jobs.session_id). Returns how many sessions had objects."""
        head = jobs.session_id(team, "", "").split("_")[0] + "_"  # the id's team part
        # first: a turn already running for this team must not write its session back
        self.facts.set_fact(UNINSTALLED.key(head), f"{time.time():.6f}", ttl=UNINSTALLED.ttl)
        keys = [*self.blobs.keys(f"session/{head}"), *self.blobs.keys(f"session_{head}")]
        sessions = {
            key.split("/")[0].removeprefix("session_")
            if key.startswith("session_")
            else key.split("/")[1]
            for key in keys
        }
        for sid in sessions:
            self._set_generation(sid, None)  # before: no process restores a cached copy
        self.cache.drop_prefix(f"session/{head}")
        keys += [
            key
            for key in self.blobs.keys("inbox/")  # inbox/<hour>/<session>/<ts>.json
            if key.count("/") == 3 and key.split("/")[2].startswith(head)
        ]
        if keys:
            self.blobs.delete(keys)
        return len(sessions)

    def sent_before_uninstall(self, session_id: str, ts: str) -> bool:
        """Was this message sent before the app was uninstalled from its workspace? Its
        turn, running or queued then, must not store anything (`delete_team` deleted it)."""
        mark = self.facts.fact(UNINSTALLED.key(session_id.split("_")[0] + "_"))
        sent = jobs.message_time(ts)
        return mark is not None and sent is not None and sent <= float(mark)

    def messages(self, session_id: str, agent_id: str) -> list[Message]:
        """The stored window of one persona (for tests and tools; a turn uses manager())."""
        found = self.blobs.get(snapshot_key(self._checked(session_id), agent_id))
        if found is None:
            return []
        data: dict[str, Any] = decode_bytes_values(json.loads(found[0]))
        return Snapshot.from_dict(data).data.get("messages", [])

    def ping(self) -> None:
        self.blobs.ping()
