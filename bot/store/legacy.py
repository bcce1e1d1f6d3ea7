"""The layout stored before snapshots: Strands' S3/File session managers' message log.

    session_<id>/session.json
    session_<id>/agents/agent_<agent>/agent.json
    session_<id>/agents/agent_<agent>/messages/message_<n>.json

Read-only: a persona found only here is restored by Strands' own RepositorySessionManager
(on a read-only repository over our blobs), then saved as a snapshot by its next turn,
after which these objects are deleted. Nothing writes this layout any more.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NoReturn

from strands.session.repository_session_manager import RepositorySessionManager
from strands.session.session_repository import SessionRepository
from strands.types.session import Session, SessionAgent, SessionMessage, SessionType

from bot.store.blobs import Blobs

log = logging.getLogger(__name__)


def session_prefix(session_id: str) -> str:
    return f"session_{session_id}/"


def agent_prefix(session_id: str, agent_id: str) -> str:
    return f"{session_prefix(session_id)}agents/agent_{agent_id}/"


class _ReadOnlyRepository(SessionRepository):
    def __init__(self, blobs: Blobs, agent: SessionAgent) -> None:
        self.blobs, self.agent = blobs, agent
        self.keys: list[str] = []  # every object of this persona, for deletion after migration

    def read_session(self, session_id: str, **kwargs: Any) -> Session:
        return Session(session_id=session_id, session_type=SessionType.AGENT)

    def read_agent(self, session_id: str, agent_id: str, **kwargs: Any) -> SessionAgent:
        return self.agent

    def list_messages(
        self,
        session_id: str,
        agent_id: str,
        limit: int | None = None,
        offset: int = 0,
        **kwargs: Any,
    ) -> list[SessionMessage]:
        self.keys = list(self.blobs.keys(agent_prefix(session_id, agent_id)))
        numbered = sorted(
            (int(key.rsplit("_", 1)[1][:-5]), key)
            for key in self.keys
            if key.rsplit("/", 1)[-1].startswith("message_") and key.endswith(".json")
        )
        wanted = [key for _, key in numbered][offset : offset + limit if limit else None]
        if not wanted:
            return []
        with ThreadPoolExecutor(max_workers=min(8, len(wanted))) as pool:
            found = list(pool.map(self.blobs.get, wanted))
        return [SessionMessage.from_dict(json.loads(got[0])) for got in found if got]

    def _read_only(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise NotImplementedError("the legacy session layout is read-only")

    create_session = create_agent = update_agent = _read_only
    create_message = read_message = update_message = _read_only


def restore(blobs: Blobs, session_id: str, agent: Any) -> list[str] | None:
    """Restore `agent` from the legacy layout; the keys to delete once migrated, or None if
    this persona has no legacy history."""
    got = blobs.get(agent_prefix(session_id, agent.agent_id) + "agent.json")
    if got is None:
        return None
    repository = _ReadOnlyRepository(blobs, SessionAgent.from_dict(json.loads(got[0])))
    RepositorySessionManager(session_id, session_repository=repository).initialize(agent)
    log.info(
        "session %s agent %s: read %d messages of the old layout; migrating",
        session_id,
        agent.agent_id,
        len(agent.messages),
    )
    return repository.keys or [agent_prefix(session_id, agent.agent_id) + "agent.json"]
