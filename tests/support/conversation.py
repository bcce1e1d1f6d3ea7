"""A Conversation (bot/turns/conversation.py) driven directly, without the worker or HTTP:
the real Replier and SlackClients against the strict fake Slack, MemoryState, and a file
SessionStore. For tests of what one turn leaves in its thread."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from strands.models import Model

from bot.agent.personas import Persona, Personas
from bot.answer.reply import Replier
from bot.config import settings as config_module
from bot.jobs import Job
from bot.slack.clients import SlackClients, slack_client
from bot.store.memory_state import MemoryState
from bot.store.sessions import SessionStore
from bot.store.thread_lock import Lease
from bot.turns.conversation import Conversation
from tests.fakes.slack_api import FakeSlack

ASSISTANT = Persona(id="assistant", name="Assistant", system_prompt="You help.")


@dataclass
class Thread:
    """One thread of channel C1 in the fake Slack, and the conversation answering it."""

    slack: FakeSlack
    conversation: Conversation
    state: MemoryState
    root: str  # the ts of the user's first message

    def job(self, text: str, ts: str | None = None) -> Job:
        """A turn for a user message in the thread (its root if `ts` is None)."""
        ts = ts or self.root
        return Job("turn", "T1", "C1", self.root, ts, "U1", text=text)

    def reply(self, text: str) -> Job:
        """A user's reply, posted in the fake Slack, as a queued turn."""
        return self.job(text, self.slack.add_message("C1", text, thread_ts=self.root))

    def lease(self) -> Lease:
        lease = self.state.try_lease(self.job("").session_id)
        assert lease is not None
        return lease

    def drain(self, jobs: list[Job], final_attempt: bool = True) -> None:
        """Handle `jobs` as the worker does: turn after turn until none is left."""
        lease = self.lease()
        try:
            while jobs:
                done = self.conversation.handle(jobs, lease, final_attempt=final_attempt)
                assert done, "a turn consumed nothing"
                jobs = [job for job in jobs if job not in done]
        finally:
            lease.release()


def replier(slack: FakeSlack) -> Replier:
    """The bot's Replier, its one installation's client pointed at the fake Slack."""
    config = config_module.load(
        {
            "SLACK_BOT_TOKEN": "xoxb-test-token",
            "SLACK_SIGNING_SECRET": "secret",
            "SLACK_API_URL": slack.base_url,
        }
    )
    clients = SlackClients(config, slack_client(config), lambda token: slack_client(config, token))
    return Replier(clients, show_persona=False)


def thread(
    slack: FakeSlack, sessions: Path, model: Model, streaming: bool = True, text: str = "hello"
) -> Thread:
    """A thread whose first message says `text`, answered by ASSISTANT on `model`."""
    personas = Personas([ASSISTANT], "openai", None)
    personas.use_model(ASSISTANT.id, model)
    state = MemoryState()
    store = SessionStore(bucket=None, prefix="", directory=sessions)
    conversation = Conversation(state, store, personas, replier(slack), streaming=streaming)
    return Thread(slack, conversation, state, slack.add_message("C1", text))
