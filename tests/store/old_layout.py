"""An old worker: Strands' stock message-log session managers, as the bot used before
snapshots (the layout bot/store/legacy.py reads). S3SessionManager builds its own client
from the AWS_* environment the s3_env fixture sets."""

from __future__ import annotations

from strands import Agent
from strands.session.file_session_manager import FileSessionManager
from strands.session.repository_session_manager import RepositorySessionManager
from strands.session.s3_session_manager import S3SessionManager

from bot.store.sessions import SessionStore
from tests.fakes.model import ScriptedModel


def old_manager(store: SessionStore, session_id: str) -> RepositorySessionManager:
    if store.bucket:
        return S3SessionManager(session_id, bucket=store.bucket, prefix=store.blobs.prefix)
    return FileSessionManager(session_id, storage_dir=str(store.blobs.directory))


def old_worker_turns(
    store: SessionStore,
    session_id: str,
    agent_id: str,
    *texts: str,
    model: ScriptedModel | None = None,
) -> Agent:
    """Turns answered by a worker of the old release (each written message by message)."""
    agent = Agent(
        model=model or ScriptedModel(),
        agent_id=agent_id,
        callback_handler=None,
        session_manager=old_manager(store, session_id),
    )
    for text in texts:
        agent(text)
    return agent
