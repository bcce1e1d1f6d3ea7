"""Turn-atomic persistence on top of Strands' repository session managers.

Strands writes each message the moment it is added, so a model error or a crash leaves a
user message with no answer (or a toolUse with no result) in storage. Here a turn's messages
and agent state are buffered and written only by `commit()`, in order. A crash during commit
leaves at most a partial tail, which `rollback_partial_tail()` deletes before the next turn.
"""

from __future__ import annotations

import logging
from typing import Any

from strands.session.repository_session_manager import RepositorySessionManager
from strands.types.content import Message
from strands.types.session import SessionMessage

log = logging.getLogger(__name__)


def is_complete_exchange_end(message: Message) -> bool:
    """An assistant message that asks for no tool: a turn may end here."""
    return message["role"] == "assistant" and not any("toolUse" in c for c in message["content"])


class BufferedTurnMixin(RepositorySessionManager):
    """Mix in before a RepositorySessionManager subclass (file or S3)."""

    _pending_writes: list[tuple[str, SessionMessage]]

    def append_message(self, message: Message, agent: Any, **kwargs: Any) -> None:
        latest = self._latest_agent_message[agent.agent_id]
        record = SessionMessage.from_message(message, latest.message_id + 1 if latest else 0)
        self._latest_agent_message[agent.agent_id] = record
        self._held_records.setdefault(agent.agent_id, []).append(record)
        self._buffer().append((agent.agent_id, record))

    def redact_latest_message(self, redact_message: Message, agent: Any, **kwargs: Any) -> None:
        latest = self._latest_agent_message[agent.agent_id]
        if latest is not None and any(r is latest for _, r in self._buffer()):
            latest.redact_message = redact_message  # written by commit()
            return
        super().redact_latest_message(redact_message, agent, **kwargs)

    def sync_agent(self, agent: Any, **kwargs: Any) -> None:
        """Deferred: agent state is written by commit(), after the turn's messages."""

    def commit(self, agent: Any) -> None:
        for agent_id, record in self._buffer():
            self.session_repository.create_message(self.session_id, agent_id, record)
        self._pending_writes = []
        super().sync_agent(agent)

    def discard(self) -> None:
        self._pending_writes = []

    def _buffer(self) -> list[tuple[str, SessionMessage]]:
        if not hasattr(self, "_pending_writes"):
            self._pending_writes = []
        return self._pending_writes

    def rollback_partial_tail(self, agent: Any) -> int:
        """Delete stored messages after the last complete exchange (a crash mid-commit)."""
        records = self._held_records.get(agent.agent_id, [])
        keep = len(records)
        while keep > 0 and not is_complete_exchange_end(records[keep - 1].to_message()):
            keep -= 1
        doomed = records[keep:]
        if not doomed or (keep == 0 and agent.conversation_manager.removed_message_count):
            return 0  # nothing to do, or no exchange boundary inside the restored window
        log.warning(
            "session %s agent %s: removing %d messages of an interrupted turn",
            self.session_id, agent.agent_id, len(doomed),
        )
        for record in reversed(doomed):
            self.delete_message(agent.agent_id, record.message_id)
        del agent.messages[len(agent.messages) - len(doomed):]
        self._held_records[agent.agent_id] = records[:keep]
        self._latest_agent_message[agent.agent_id] = records[keep - 1] if keep else None
        return len(doomed)

    def delete_message(self, agent_id: str, message_id: int) -> None:
        raise NotImplementedError
