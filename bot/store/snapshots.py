"""One snapshot object per persona and thread: restore and save cost O(1) requests.

Each persona's window of the thread (messages, agent state, conversation manager state) is
one object in Strands' snapshot format and key layout, so Strands' own
`SnapshotSessionManager` over `S3Storage` / `LocalFileStorage` reads it too. A turn reads it
once (or not at all, see below) and writes it once, at `commit()`, after the answer:
- the write is conditional (`If-Match` on the ETag read, `If-None-Match: *` for a new one),
  so a worker whose thread lock expired cannot overwrite the turn of the one that took over;
- a crash or a model error before `commit()` writes nothing, so stored history is always a
  sequence of complete turns;
- a process keeps the snapshots it wrote or read, validated by a generation token that every
  writer replaces in the state store (Redis) before writing: a thread this process served
  last restores with no GET at all.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

from cachetools import LRUCache
from strands.hooks.events import AgentInitializedEvent
from strands.hooks.registry import HookRegistry
from strands.session.session_manager import SessionManager
from strands.types._snapshot import Snapshot
from strands.types.content import Message
from strands.types.session import decode_bytes_values, encode_bytes_values

from bot.obs import metrics
from bot.store import legacy
from bot.store.blobs import Blobs, FencingError

log = logging.getLogger(__name__)


def snapshot_key(session_id: str, agent_id: str) -> str:
    """Strands' layout (SnapshotSessionManager under its "session" namespace)."""
    return f"session/{session_id}/scopes/agent/{agent_id}/snapshots/snapshot_latest.json"


def is_complete_exchange_end(message: Message) -> bool:
    """An assistant message that asks for no tool: a turn may end here."""
    return message["role"] == "assistant" and not any("toolUse" in c for c in message["content"])


def last_prompt(messages: list[Message]) -> tuple[list[str], list[Message]]:
    """The Slack ts of the last prompt from Slack (bot.agent.exchange.prompt_for puts them in
    its metadata) and the messages after it; ([], []) if none."""
    for index in range(len(messages) - 1, -1, -1):
        if asked := messages[index].get("metadata", {}).get("custom", {}).get("slack_ts"):
            return asked, messages[index + 1 :]
    return [], []


_Entry = tuple[str, str, bytes]  # generation, etag, the snapshot as stored


class SnapshotCache:
    """Process-local LRU of snapshots as stored: key -> (generation, etag, bytes), bounded
    by their bytes (`max_bytes`); a snapshot over a quarter of it is not kept. Thread-safe."""

    def __init__(self, max_bytes: int = 32 * 1024 * 1024) -> None:
        self._lock = threading.Lock()
        self.max_bytes = max_bytes

    @property
    def max_bytes(self) -> int:
        return int(self._entries.maxsize)

    @max_bytes.setter
    def max_bytes(self, value: int) -> None:
        """A new bound starts an empty cache (0: nothing is kept, e.g. for a cold bench)."""
        with self._lock:
            self._entries: LRUCache[str, _Entry] = LRUCache(value, getsizeof=_size)

    @property
    def size(self) -> int:
        """The bytes of the snapshots kept."""
        return int(self._entries.currsize)

    def get(self, key: str, generation: str | None) -> tuple[bytes, str] | None:
        """(bytes, etag) if kept under `generation`, the thread's current one."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if generation is None or entry[0] != generation:
                del self._entries[key]  # written since (or unknown): never valid again
                return None
            return entry[2], entry[1]

    def put(self, key: str, generation: str, etag: str, data: bytes) -> None:
        with self._lock:
            self._entries.pop(key, None)
            if len(data) <= self.max_bytes // 4:
                self._entries[key] = (generation, etag, data)  # evicts the least recently used

    def drop_prefix(self, prefix: str) -> None:
        with self._lock:
            for key in [k for k in self._entries if k.startswith(prefix)]:
                del self._entries[key]


def _size(entry: _Entry) -> int:
    return len(entry[2])


Generation = Callable[[str], str | None]  # session id -> the current generation token
SetGeneration = Callable[[str, str | None], None]


class SnapshotSessionManager(SessionManager):
    """Restores on agent initialization; writes only at `commit()` (never per message)."""

    def __init__(
        self,
        session_id: str,
        blobs: Blobs,
        cache: SnapshotCache,
        generation: Generation,
        set_generation: SetGeneration,
        may_have_legacy: Callable[[str], bool] = lambda session_id: True,
    ) -> None:
        self.session_id, self.blobs, self.cache = session_id, blobs, cache
        self._may_have_legacy = may_have_legacy
        self._generation, self._set_generation = generation, set_generation
        self._etags: dict[str, str | None] = {}
        self._app_data: dict[str, dict[str, Any]] = {}
        self._legacy_keys: dict[str, list[str]] = {}
        self.restored_from = ""  # "cache", "storage", "legacy" or "" (new): for tests

    def register_hooks(self, registry: HookRegistry, **kwargs: Any) -> None:
        registry.add_callback(AgentInitializedEvent, lambda event: self.initialize(event.agent))

    def load(self, agent_id: str) -> Snapshot | None:
        """The stored snapshot of a persona: from this process's cache when the generation
        says nobody wrote since, else one GET (kept in the cache for the next turn)."""
        key = snapshot_key(self.session_id, agent_id)
        generation = self._generation(self.session_id)  # read before the GET: see commit()
        found = self.cache.get(key, generation)
        self.restored_from = "cache" if found else ""
        if found is None and (found := self.blobs.get(key)) is not None:
            self.restored_from = "storage"
            if generation is not None:
                self.cache.put(key, generation, found[1], found[0])
        if found is None:
            self._etags[agent_id] = None
            return None
        data, self._etags[agent_id] = found
        snapshot = Snapshot.from_dict(decode_bytes_values(json.loads(data)))
        self._app_data[agent_id] = snapshot.app_data
        return snapshot

    def initialize(self, agent: Any, **kwargs: Any) -> None:
        snapshot = self.load(agent.agent_id)
        if snapshot is not None:
            agent.load_snapshot(snapshot)
        elif self._may_have_legacy(self.session_id):
            self._restore_legacy(agent)

    def _restore_legacy(self, agent: Any) -> None:
        keys = legacy.restore(self.blobs, self.session_id, agent)
        if keys is None:
            return
        self.restored_from = "legacy"
        self._legacy_keys[agent.agent_id] = keys
        keep = len(agent.messages)  # the old layout could hold the start of a crashed turn
        while keep > 0 and not is_complete_exchange_end(agent.messages[keep - 1]):
            keep -= 1
        if keep < len(agent.messages) and (
            keep or not agent.conversation_manager.removed_message_count
        ):
            log.warning(
                "session %s agent %s: dropping %d messages of an interrupted turn",
                self.session_id,
                agent.agent_id,
                len(agent.messages) - keep,
            )
            del agent.messages[keep:]

    def app_data(self, agent_id: str) -> dict[str, Any]:
        """Our own data stored in the snapshot (Strands keeps `app_data` verbatim)."""
        return self._app_data.get(agent_id, {})

    def commit(self, agent: Any, app_data: dict[str, Any] | None = None) -> None:
        """Write the agent as it is now, if nobody else wrote it since it was restored."""
        agent_id = agent.agent_id
        app = self._app_data.get(agent_id, {}) if app_data is None else app_data
        snapshot = agent.take_snapshot(preset="session", app_data=app)
        data = json.dumps(encode_bytes_values(snapshot.to_dict()), ensure_ascii=False).encode(
            "utf-8"
        )
        key = snapshot_key(self.session_id, agent_id)
        generation = uuid.uuid4().hex
        self._set_generation(self.session_id, generation)  # before: no cache outlives this
        try:
            etag = self.blobs.put(key, data, self._etags.get(agent_id))
        except FencingError:
            metrics.fencing_refused()
            self.cache.drop_prefix(key)
            raise
        self._etags[agent_id], self._app_data[agent_id] = etag, app
        self.cache.put(key, generation, etag, data)
        if keys := self._legacy_keys.pop(agent_id, None):
            try:
                self.blobs.delete(keys)
            except Exception as exc:  # left behind: ignored (the snapshot wins), reset drops it
                log.warning("session %s: could not delete the old layout: %s", self.session_id, exc)

    def discard(self) -> None:
        """Nothing was written during the turn, so there is nothing to undo."""

    def append_message(self, message: Message, agent: Any, **kwargs: Any) -> None:
        """Saved by commit()."""

    def sync_agent(self, agent: Any, **kwargs: Any) -> None:
        """Saved by commit()."""

    def redact_latest_message(self, redact_message: Message, agent: Any, **kwargs: Any) -> None:
        """The agent already holds the redacted message; commit() saves it."""
